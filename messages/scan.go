package messages

import (
	"sync"
)

// This file holds the fast paths of ParseIntent: a JSON reader for the
// plain, well-formed input nearly every intent is, and byte loops in place of
// the regular expressions of the field rules. Each has a reference it is
// tested against: readJSONTokens (the encoding/json Token walk, which also
// reads everything the fast reader declines and words every JSON error) and
// the regular expressions in patterns_test.go.

// jsonArenaChunk is how many values the fast reader allocates at once; an
// intent has about 30.
const jsonArenaChunk = 32

// maxJSONArena is the size of the pooled arena: the values of an intent
// that fit before the reader allocates chunks.
const maxJSONArena = 256

// fastReader reads one JSON value from well-formed input without escapes.
// It declines (ok false) anything else — a backslash or control character
// in a string, a malformed or truncated value, nesting deeper than the
// intent allows, trailing data, a value that is not an object at the top —
// and readJSON then reads the input with readJSONTokens, which reports the
// problem exactly as before. Whatever it accepts, encoding/json accepts and
// reads to the same values: TestFastReaderMatchesTokens and FuzzFastReader
// compare the two. The strings it returns share one copy of the input (at
// most MaxIntentSize bytes), which an intent kept in memory keeps alive.
type fastReader struct {
	s         string // the input, converted once: strings are slices of it
	i         int
	arena     []jsonValue
	allocated int // values handed out
}

// readJSONFastIn reads data, which must be valid UTF-8, with a fastReader
// taking its first values from arena (its capacity; chunks follow when it
// is full). The tree it returns lives in
// arena until the caller reuses it (strings are slices of one copy of
// data, never of the arena); used is how many of arena's values it wrote,
// the ones a caller recycling arena must clear.
func readJSONFastIn(data []byte, arena []jsonValue) (v *jsonValue, ok bool, used int) {
	r := fastReader{s: string(data), arena: arena[:0]}
	defer func() { used = min(r.allocated, cap(arena)) }()
	r.space()
	if r.i >= len(r.s) || r.s[r.i] != '{' {
		return nil, false, 0 // errors and non-objects: the token walk words them
	}
	if v, ok = r.value(0); !ok {
		return nil, false, 0
	}
	r.space()
	if r.i != len(r.s) {
		return nil, false, 0
	}
	return v, true, 0
}

func (r *fastReader) alloc() *jsonValue {
	r.allocated++
	if len(r.arena) == cap(r.arena) {
		r.arena = make([]jsonValue, 0, jsonArenaChunk)
	}
	r.arena = r.arena[:len(r.arena)+1]
	return &r.arena[len(r.arena)-1]
}

// space skips JSON whitespace (RFC 8259: space, tab, line feed, carriage return).
func (r *fastReader) space() {
	for r.i < len(r.s) {
		switch r.s[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// str reads a string whose opening quote is at r.i, declining escapes and
// control characters. The input is valid UTF-8 (ParseIntent checked), so
// the bytes between the quotes are the string's value.
func (r *fastReader) str() (string, bool) {
	start := r.i + 1
	for j := start; j < len(r.s); j++ {
		c := r.s[j]
		switch {
		case c == '"':
			r.i = j + 1
			return r.s[start:j], true
		case c == '\\' || c < 0x20:
			return "", false
		}
	}
	return "", false
}

// value reads the value at r.i (whitespace skipped) at the given depth:
// the top-level object is at depth 0, as in readValue.
func (r *fastReader) value(depth int) (*jsonValue, bool) {
	if r.i >= len(r.s) {
		return nil, false
	}
	switch c := r.s[r.i]; {
	case c == '{' || c == '[':
		if depth >= maxIntentDepth {
			return nil, false
		}
		r.i++
		if c == '[' {
			return r.array(depth)
		}
		return r.object(depth)
	case c == '"':
		s, ok := r.str()
		if !ok {
			return nil, false
		}
		v := r.alloc()
		v.kind, v.text = kindString, s
		return v, true
	case c == '-' || '0' <= c && c <= '9':
		n, ok := r.number()
		if !ok {
			return nil, false
		}
		v := r.alloc()
		v.kind, v.text = kindNumber, n
		return v, true
	default:
		for _, lit := range [...]struct {
			text string
			kind jsonKind
		}{{"true", kindBool}, {"false", kindBool}, {"null", kindNull}} {
			if len(r.s)-r.i >= len(lit.text) && r.s[r.i:r.i+len(lit.text)] == lit.text {
				r.i += len(lit.text)
				v := r.alloc()
				v.kind = lit.kind
				if lit.kind == kindBool {
					v.text = lit.text
				}
				return v, true
			}
		}
		return nil, false
	}
}

// number reads a number literal with the RFC 8259 grammar
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? and returns it as written
// (as json.Number does). What follows it is checked by the caller: only a
// delimiter or whitespace is accepted there.
func (r *fastReader) number() (string, bool) {
	s, start := r.s, r.i
	i := start
	digits := func() int {
		n := 0
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case digits() == 0:
		return "", false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return "", false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return "", false
		}
	}
	r.i = i
	return s[start:i], true
}

// after checks what follows a member or item: a comma (another follows)
// or the closing delimiter.
func (r *fastReader) after(closing byte) (more, ok bool) {
	r.space()
	if r.i >= len(r.s) {
		return false, false
	}
	switch r.s[r.i] {
	case ',':
		r.i++
		return true, true
	case closing:
		r.i++
		return false, true
	}
	return false, false
}

func (r *fastReader) object(depth int) (*jsonValue, bool) {
	v := r.alloc()
	v.kind = kindObject
	r.space()
	if r.i < len(r.s) && r.s[r.i] == '}' {
		r.i++
		return v, true
	}
	for {
		r.space()
		if r.i >= len(r.s) || r.s[r.i] != '"' {
			return nil, false // also a trailing comma
		}
		key, ok := r.str()
		if !ok {
			return nil, false
		}
		r.space()
		if r.i >= len(r.s) || r.s[r.i] != ':' {
			return nil, false
		}
		r.i++
		r.space()
		val, ok := r.value(depth + 1)
		if !ok {
			return nil, false
		}
		v.keys = append(v.keys, key)
		v.vals = append(v.vals, val)
		more, ok := r.after('}')
		if !ok {
			return nil, false
		}
		if !more {
			return v, true
		}
	}
}

func (r *fastReader) array(depth int) (*jsonValue, bool) {
	v := r.alloc()
	v.kind = kindArray
	r.space()
	if r.i < len(r.s) && r.s[r.i] == ']' {
		r.i++
		return v, true
	}
	for {
		r.space()
		item, ok := r.value(depth + 1)
		if !ok {
			return nil, false
		}
		v.items = append(v.items, item)
		more, ok := r.after(']')
		if !ok {
			return nil, false
		}
		if !more {
			return v, true
		}
	}
}

// The byte loops below replace regular expressions of the field rules; each
// comment gives the expression, and TestPatternsMatchRegexps holds the loop
// to its language.

func isDigit(c byte) bool      { return '0' <= c && c <= '9' }
func isUpper(c byte) bool      { return 'A' <= c && c <= 'Z' }
func isLower(c byte) bool      { return 'a' <= c && c <= 'z' }
func isUpperDigit(c byte) bool { return isUpper(c) || isDigit(c) }

// all reports whether every byte of s satisfies f (true for "").
func all(s string, f func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !f(s[i]) {
			return false
		}
	}
	return true
}

// isPlainKey: ^[A-Za-z0-9_]+$
func isPlainKey(s string) bool {
	return s != "" && all(s, func(c byte) bool { return isUpper(c) || isLower(c) || isDigit(c) || c == '_' })
}

// isIntegerLiteral: ^-?[0-9]+$
func isIntegerLiteral(s string) bool {
	if s != "" && s[0] == '-' {
		s = s[1:]
	}
	return s != "" && all(s, isDigit)
}

// isAmount: ^[0-9]+(\.[0-9]+)?$
func isAmount(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return i > 0 && all(s[:i], isDigit) && i+1 < len(s) && all(s[i+1:], isDigit)
		}
	}
	return s != "" && all(s, isDigit)
}

// isCurrencyCode: ^[A-Z]{3}$
func isCurrencyCode(s string) bool { return len(s) == 3 && all(s, isUpper) }

// isIBANShape: ^[A-Z]{2}[0-9]{2}[A-Z0-9]+$
func isIBANShape(s string) bool {
	return len(s) >= 5 && all(s[:2], isUpper) && all(s[2:4], isDigit) && all(s[4:], isUpperDigit)
}

// isBICShape: ^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$
func isBICShape(s string) bool {
	return (len(s) == 8 || len(s) == 11) && all(s[:6], isUpper) && all(s[6:], isUpperDigit)
}

// isDateShape: ^[0-9]{4}-[0-9]{2}-[0-9]{2}$
func isDateShape(s string) bool {
	return len(s) == 10 && all(s[:4], isDigit) && s[4] == '-' && all(s[5:7], isDigit) && s[7] == '-' && all(s[8:], isDigit)
}

// isRFShape: ^RF[0-9]{2}[A-Z0-9]{1,21}$
func isRFShape(s string) bool {
	return len(s) >= 5 && len(s) <= 25 && s[:2] == "RF" && all(s[2:4], isDigit) && all(s[4:], isUpperDigit)
}

// isPurposeCode: ^[A-Z0-9]{1,4}$
func isPurposeCode(s string) bool { return len(s) >= 1 && len(s) <= 4 && all(s, isUpperDigit) }

// isBudgetCode: ^[A-Za-z0-9.-]{1,35}$
func isBudgetCode(s string) bool {
	return len(s) >= 1 && len(s) <= 35 && all(s, func(c byte) bool { return isUpper(c) || isLower(c) || isDigit(c) || c == '.' || c == '-' })
}

// isProfileName: ^[a-z0-9_-]{1,32}$
func isProfileName(s string) bool {
	return len(s) >= 1 && len(s) <= 32 && all(s, func(c byte) bool { return isLower(c) || isDigit(c) || c == '_' || c == '-' })
}

// isCountryShape: ^[A-Z]{2}$
func isCountryShape(s string) bool { return len(s) == 2 && all(s, isUpper) }

// arenas recycles the fast reader's first allocation between intents: a
// value tree is garbage once ParseIntent has read it into the intent.
var arenas = sync.Pool{New: func() any {
	a := make([]jsonValue, 0, maxJSONArena)
	return &a
}}
