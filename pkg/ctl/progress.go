package ctl

import (
	"fmt"
	"io"
	"time"
)

// progress reports events read and the rate on stderr, at most once a
// second, and a final line.
type progress struct {
	w       io.Writer
	what    string
	n, out  int
	start   time.Time
	last    time.Time
	enabled bool
}

func newProgress(w io.Writer, what string, enabled bool) *progress {
	now := time.Now()
	return &progress{w: w, what: what, start: now, last: now, enabled: enabled}
}

func (p *progress) read() {
	p.n++
	if !p.enabled {
		return
	}
	if now := time.Now(); now.Sub(p.last) >= time.Second {
		p.last = now
		fmt.Fprintf(p.w, "%s: %d events read, %d written, %.0f events/s\n", p.what, p.n, p.out, float64(p.n)/now.Sub(p.start).Seconds())
	}
}

func (p *progress) done() {
	if !p.enabled {
		return
	}
	el := time.Since(p.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(p.n) / el
	}
	fmt.Fprintf(p.w, "%s: done, %d events read, %d written, %.0f events/s\n", p.what, p.n, p.out, rate)
}
