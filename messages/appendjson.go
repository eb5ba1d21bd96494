package messages

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// The events written once per intent are encoded here without reflection:
// Marshal of a pay.status cost about 2 µs and four allocations, one event
// per intent per status change, and its writer is the status poller's
// hottest code after the publish itself. The output is byte for byte what
// marshalReflect (encoding/json) writes for the same event
// (TestMarshalFastMatchesReflect, FuzzMarshalFast); whatever the fast path
// does not cover — a type or version Marshal refuses, a time encoding/json
// refuses — takes marshalReflect, errors included.

// marshalFast encodes the events it knows; ok is false for any other
// event and for a value it leaves to marshalReflect.
func marshalFast(e Event) (b []byte, ok bool) {
	switch ev := e.(type) {
	case PaymentStatus:
		return ev.appendJSON(make([]byte, 0, 256))
	case *PaymentStatus:
		if ev != nil {
			return ev.appendJSON(make([]byte, 0, 256))
		}
	}
	return nil, false
}

// appendJSON appends e as Marshal writes it (fields in declaration order,
// omitempty honoured, type and version filled in), or reports false.
func (e *PaymentStatus) appendJSON(b []byte) ([]byte, bool) {
	if e.Type != "" && e.Type != TypePaymentStatus || e.Version != 0 && e.Version != Version1 {
		return nil, false
	}
	b = append(b, `{"type":"`+TypePaymentStatus+`","version":`...)
	b = strconv.AppendInt(b, Version1, 10)
	b = append(b, `,"intent_id":`...)
	b = AppendJSONString(b, e.IntentID)
	b = append(b, `,"batch_id":`...)
	b = AppendJSONString(b, e.BatchID)
	if e.PmtInfID != "" {
		b = append(b, `,"pmt_inf_id":`...)
		b = AppendJSONString(b, e.PmtInfID)
	}
	if e.TxID != "" {
		b = append(b, `,"tx_id":`...)
		b = AppendJSONString(b, e.TxID)
	}
	b = append(b, `,"status":`...)
	b = AppendJSONString(b, string(e.Status))
	b = append(b, `,"final":`...)
	b = strconv.AppendBool(b, e.Final)
	if e.GroupStatus != "" {
		b = append(b, `,"group_status":`...)
		b = AppendJSONString(b, string(e.GroupStatus))
	}
	if len(e.Reasons) > 0 {
		b = append(b, `,"reasons":[`...)
		for i := range e.Reasons {
			if i > 0 {
				b = append(b, ',')
			}
			b = e.Reasons[i].appendJSON(b)
		}
		b = append(b, ']')
	}
	b = append(b, `,"received_at":`...)
	b, ok := AppendJSONTime(b, e.ReceivedAt)
	if !ok {
		return nil, false
	}
	b = append(b, `,"archive_sha256":`...)
	b = AppendJSONString(b, e.ArchiveSHA256)
	return append(b, '}'), true
}

func (r *StatusReason) appendJSON(b []byte) []byte {
	b = append(b, '{')
	open := len(b) // a member after the first one is preceded by a comma
	if r.Code != "" {
		b = append(b, `"code":`...)
		b = AppendJSONString(b, r.Code)
	}
	if r.Proprietary != "" {
		if len(b) > open {
			b = append(b, ',')
		}
		b = append(b, `"proprietary":`...)
		b = AppendJSONString(b, r.Proprietary)
	}
	if len(r.Info) > 0 {
		if len(b) > open {
			b = append(b, ',')
		}
		b = append(b, `"info":[`...)
		for i, s := range r.Info {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendJSONString(b, s)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// AppendJSONString appends s as a JSON string exactly as encoding/json
// writes it: ", \ and control characters escaped (\b \f \n \r \t, else
// \u00XX), < > & as \u003c \u003e \u0026, U+2028 and U+2029 as \u2028
// and \u2029, and each byte that is not UTF-8 as \ufffd.
func AppendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// jsonSafe marks the ASCII bytes AppendJSONString copies as they are.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = true
	}
	t['"'], t['\\'], t['<'], t['>'], t['&'] = false, false, false, false, false
	return t
}()

// AppendJSONTime appends t as time.Time's MarshalJSON writes it (RFC 3339
// with nanoseconds, quoted). It returns b unchanged and false for a time
// MarshalJSON refuses: a year outside 0-9999, or a zone offset of 24 hours
// or more.
func AppendJSONTime(b []byte, t time.Time) ([]byte, bool) {
	if y := t.Year(); y < 0 || y > 9999 {
		return b, false
	}
	if _, off := t.Zone(); off <= -24*3600 || off >= 24*3600 {
		return b, false
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), true
}
