package workers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/isogate/isogate/messages"
)

// ErrPermanent marks failures no retry can fix: a body that cannot be
// decoded, a file the bank refused as a whole, an expired certificate. A
// handler error that wraps it sends the message to the dead-letter queue at
// once instead of being redelivered.
var ErrPermanent = errors.New("permanent failure")

// Permanent wraps err so that [IsPermanent] reports true for it; its message
// is "permanent failure: " followed by err's. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	if IsPermanent(err) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrPermanent, err)
}

// IsPermanent reports whether err wraps [ErrPermanent].
func IsPermanent(err error) bool { return errors.Is(err, ErrPermanent) }

// Decode reads the JSON body of msg into a T. Every problem is a
// [Permanent] error naming the Go type, the subject and what is wrong: an
// empty body, malformed JSON, a field of the wrong JSON type, data after the
// value, or — when T is a [messages.Event] — a "type" field that names
// another event or a "version" this build does not read. Unknown fields are
// accepted, so a producer may add fields within version 1. Payment intents
// from outside are read with [messages.ParseIntent], which is stricter.
func Decode[T any](msg *message.Message) (T, error) {
	var v T
	what := fmt.Sprintf("%T", v)
	if s := msg.Metadata.Get(MetaSubject); s != "" {
		what += " from " + s
	}
	fail := func(format string, args ...any) (T, error) {
		var zero T
		return zero, Permanent(fmt.Errorf("workers: decoding %s: %s", what, fmt.Sprintf(format, args...)))
	}
	body := bytes.TrimSpace(msg.Payload)
	if len(body) == 0 {
		return fail("empty body")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&v); err != nil {
		return fail("%v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fail("data after the JSON value at byte %d", dec.InputOffset())
	}
	if ev, ok := any(&v).(messages.Event); ok {
		var head struct {
			Type    *string `json:"type"`
			Version *int    `json:"version"`
		}
		if err := json.Unmarshal(body, &head); err != nil {
			return fail("%v", err)
		}
		if head.Type != nil && *head.Type != ev.EventType() {
			return fail("type is %q, want %q", *head.Type, ev.EventType())
		}
		if head.Version != nil && *head.Version != messages.Version1 {
			return fail("version %d is not supported (want %d)", *head.Version, messages.Version1)
		}
	}
	return v, nil
}
