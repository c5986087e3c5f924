package spool

import (
	"os"

	"golang.org/x/sys/unix"
)

// datasync flushes f's data, and its metadata only where needed to read the
// data back (fdatasync(2)).
func datasync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }
