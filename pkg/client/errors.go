package client

import (
	"strconv"
	"strings"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

// RejectedError is events feedbackd refused for good (400, 401, 403, 413,
// ...). Details are feedbackd's field errors, their Index the event's position
// in the request that carried it.
type RejectedError struct {
	Status  int
	Message string
	Details []feedback.FieldError
	Events  []feedback.Event
}

func (e *RejectedError) Error() string {
	why := e.Message
	if len(e.Details) > 0 {
		// feedbackd's message repeats the first detail; the details say it all.
		parts := make([]string, len(e.Details))
		for i, d := range e.Details {
			parts[i] = d.Error()
		}
		why = strings.Join(parts, "; ")
	}
	return "feedbackd refused " + strconv.Itoa(len(e.Events)) + " event(s) with HTTP " + strconv.Itoa(e.Status) + ": " + why
}

// UndeliveredError is events not delivered because retries ran out or
// Close's context ended. Status is the last HTTP status seen (0: a network
// error).
type UndeliveredError struct {
	Events []feedback.Event
	Reason string
	Status int
}

func (e *UndeliveredError) Error() string {
	return strconv.Itoa(len(e.Events)) + " event(s) not delivered: " + e.Reason
}

// DeliveryError is what Flush and Close return: one *RejectedError or
// *UndeliveredError per failure since the previous Flush or Close, oldest
// first. errors.As finds them.
type DeliveryError struct{ Errors []error }

func (e *DeliveryError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, err := range e.Errors {
		parts[i] = err.Error()
	}
	return strings.Join(parts, "; ")
}

// Unwrap gives errors.Is and errors.As the failures.
func (e *DeliveryError) Unwrap() []error { return e.Errors }
