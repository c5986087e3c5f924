package read

import "errors"

// DownstreamError marks an error as the store's or the user's, not the
// reader's: the store was unreachable, refused, or answered something
// unusable. The data source reports these as downstream errors to Grafana
// (at its boundary, so this package needs no Grafana import).
type DownstreamError struct{ Err error }

func (e *DownstreamError) Error() string { return e.Err.Error() }
func (e *DownstreamError) Unwrap() error { return e.Err }

// Downstream wraps err as a DownstreamError; nil stays nil.
func Downstream(err error) error {
	if err == nil {
		return nil
	}
	return &DownstreamError{Err: err}
}

// IsDownstream reports whether err, or an error it wraps, is downstream.
func IsDownstream(err error) bool {
	var d *DownstreamError
	return errors.As(err, &d)
}
