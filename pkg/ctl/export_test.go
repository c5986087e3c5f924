package ctl

// SetPageSize lowers the events asked per read, so a test can page many
// times over a generated answer; it returns the restore function.
func SetPageSize(n int) func() {
	old := pageSize
	pageSize = n
	return func() { pageSize = old }
}
