package messages

import (
	"errors"
	"strings"
)

// A FieldError is one problem with one field of a message. Field is the
// field's JSON path ("creditor.iban", "creditor.address.lines[1]"); Reason
// says, in a short lower-case phrase, what is wrong and what is allowed.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason" schema:"minLength=1"`
}

// Error returns "field: reason", or the reason alone when Field is empty.
func (e FieldError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

// ValidationErrors lists every problem found in one message, in the order
// they were found. ParseIntent and [PaymentIntent.Validate] return it (never
// empty) as their error; use errors.As to get the list.
type ValidationErrors []FieldError

// Error joins the problems as "field: reason" separated by "; ".
func (v ValidationErrors) Error() string {
	var b strings.Builder
	for i, e := range v {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// A JSONError reports input that is not one JSON object of acceptable size
// and depth: malformed or truncated JSON, trailing data, an array or a
// string instead of an object, or input over [MaxIntentSize]. No field of the
// input was checked. Its Error starts with "json: ".
type JSONError struct {
	// Reason says what is wrong, without the "json: " prefix.
	Reason string
	// Offset is the byte offset in the input at which the problem was
	// found, or -1 when it concerns the input as a whole.
	Offset int64
}

// Error returns "json: " followed by the reason.
func (e *JSONError) Error() string { return "json: " + e.Reason }

// RejectionErrors turns an error from [ParseIntent] or
// [PaymentIntent.Validate] into the list an [IntentRejected] event carries:
// the field errors of a [ValidationErrors], or one entry without a field
// for a [*JSONError] or any other error. It returns nil for a nil error.
func RejectionErrors(err error) []FieldError {
	if err == nil {
		return nil
	}
	var ve ValidationErrors
	if errors.As(err, &ve) {
		return append([]FieldError(nil), ve...)
	}
	return []FieldError{{Reason: err.Error()}}
}
