package read

import (
	"testing"
	"time"
)

func TestStep(t *testing.T) {
	from := time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)
	cases := []struct {
		rng, interval, want time.Duration
	}{
		{6 * time.Hour, time.Hour, time.Hour},
		{6 * time.Hour, time.Millisecond, 1964 * time.Millisecond}, // 1963.6 ms rounded up
		{6 * time.Hour, 0, 1964 * time.Millisecond},                // alert rules may send no interval
		{11 * time.Second, time.Nanosecond, time.Millisecond},      // never below 1 ms
		{30 * 24 * time.Hour, 15 * time.Second, 235637 * time.Millisecond},
		{10 * time.Second, 1500 * time.Microsecond, 2 * time.Millisecond}, // whole ms, rounded up
		{time.Hour, time.Millisecond, 328 * time.Millisecond},
	}
	for _, c := range cases {
		q := Query{From: from, To: from.Add(c.rng), Interval: c.interval}
		got := q.Step()
		if got != c.want {
			t.Errorf("range %v interval %v: step %v, want %v", c.rng, c.interval, got, c.want)
		}
		if points := float64(c.rng) / float64(got); points > MaxPoints {
			t.Errorf("range %v: step %v gives %.1f points > %d", c.rng, got, points, MaxPoints)
		}
	}
}
