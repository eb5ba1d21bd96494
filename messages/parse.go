package messages

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxIntentSize is the largest payment intent, in bytes, that [ParseIntent]
// reads. A real intent is well under 4 KiB.
const MaxIntentSize = 64 << 10

// maxIntentDepth is the deepest nesting of objects and arrays the intent
// shape has: intent → ultimate_creditor → address → lines.
const maxIntentDepth = 4

// maxReported bounds the number of problems one ParseIntent call reports, so
// that 64 KiB of unknown fields cannot produce megabytes of error text.
const maxReported = 100

// ParseIntent decodes one payment intent from JSON and validates it. It
// reports every problem at once:
//
//   - a [*JSONError] when data is not one JSON object: malformed, truncated,
//     not valid UTF-8, larger than [MaxIntentSize], nested deeper than the
//     intent shape, followed by trailing data, or an array, string, number
//     or null instead of an object;
//   - otherwise a [ValidationErrors] with one entry per problem: unknown
//     fields (at any level), duplicate keys, values of the wrong JSON type,
//     and every rule of [PaymentIntent.Validate].
//
// A JSON null is treated as an absent field. Keys match exactly (case
// sensitive), unlike encoding/json. On error the returned intent holds what
// could be read and must not be used to pay.
func ParseIntent(data []byte) (PaymentIntent, error) {
	var p PaymentIntent
	if len(data) > MaxIntentSize {
		return p, &JSONError{Reason: fmt.Sprintf("input of %d bytes is larger than the %d bytes allowed", len(data), MaxIntentSize), Offset: -1}
	}
	if !utf8.Valid(data) {
		return p, &JSONError{Reason: "input is not valid UTF-8", Offset: -1}
	}
	// The value tree lives in a pooled arena until the intent is read
	// from it: nothing of it is kept (the intent's strings are slices of
	// the input's copy), so its values go back, cleared of their pointers.
	arena := arenas.Get().(*[]jsonValue)
	used := 0
	defer func() {
		clear((*arena)[:used])
		arenas.Put(arena)
	}()
	root, jerr := readJSON(data, *arena, &used)
	if jerr != nil {
		return p, jerr
	}
	if root.kind != kindObject {
		return p, &JSONError{Reason: "the intent must be a JSON object, not " + root.kind.String(), Offset: 0}
	}
	var d shapeDecoder
	d.intent(root, &p)
	errs := d.errs
	if err := p.Validate(); err != nil {
		var ve ValidationErrors
		errors.As(err, &ve)
		for _, fe := range ve {
			if !d.covers(fe.Field) {
				errs = append(errs, fe)
			}
		}
	}
	if len(errs) == 0 {
		return p, nil
	}
	if len(errs) > maxReported {
		n := len(errs) - maxReported
		errs = append(errs[:maxReported:maxReported], FieldError{Reason: fmt.Sprintf("and %d more problems", n)})
	}
	return p, errs
}

// jsonKind is the JSON type of a value.
type jsonKind uint8

const (
	kindNull jsonKind = iota
	kindBool
	kindNumber
	kindString
	kindObject
	kindArray
)

// String names the kind for error messages ("must be …, not a number").
func (k jsonKind) String() string {
	switch k {
	case kindBool:
		return "a boolean"
	case kindNumber:
		return "a number"
	case kindString:
		return "a string"
	case kindObject:
		return "an object"
	case kindArray:
		return "an array"
	default:
		return "null"
	}
}

// jsonValue is one decoded JSON value. Objects keep their keys in input
// order, duplicates included, so that the shape check can report them.
type jsonValue struct {
	kind  jsonKind
	text  string // string value, or the literal of a number
	keys  []string
	vals  []*jsonValue // object values, parallel to keys
	items []*jsonValue // array items
}

// readJSON reads exactly one JSON value from data with bounded depth: with
// the fast reader (its first values in arena, *used of them) when it takes
// the input, else with the token walk, which also words every error.
func readJSON(data []byte, arena []jsonValue, used *int) (*jsonValue, *JSONError) {
	v, ok, n := readJSONFastIn(data, arena)
	*used = n
	if ok {
		return v, nil
	}
	return readJSONTokens(data)
}

// readJSONTokens reads exactly one JSON value from data with bounded depth,
// token by token with encoding/json.
func readJSONTokens(data []byte) (*jsonValue, *JSONError) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := readValue(dec, "", 0)
	if err != nil {
		return nil, err
	}
	off := dec.InputOffset()
	if _, terr := dec.Token(); terr != io.EOF {
		return nil, &JSONError{Reason: "trailing data after the object", Offset: off}
	}
	return v, nil
}

func tokenError(dec *json.Decoder, err error) *JSONError {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &JSONError{Reason: "unexpected end of input", Offset: dec.InputOffset()}
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &JSONError{Reason: se.Error(), Offset: se.Offset}
	}
	return &JSONError{Reason: err.Error(), Offset: dec.InputOffset()}
}

func readValue(dec *json.Decoder, path string, depth int) (*jsonValue, *JSONError) {
	tok, err := dec.Token()
	if err != nil {
		return nil, tokenError(dec, err)
	}
	switch t := tok.(type) {
	case nil:
		return &jsonValue{kind: kindNull}, nil
	case bool:
		return &jsonValue{kind: kindBool, text: strconv.FormatBool(t)}, nil
	case json.Number:
		return &jsonValue{kind: kindNumber, text: string(t)}, nil
	case string:
		return &jsonValue{kind: kindString, text: t}, nil
	case json.Delim:
		if depth == 0 && t == '[' {
			return nil, &JSONError{Reason: "the intent must be a JSON object, not an array", Offset: 0}
		}
		if depth >= maxIntentDepth {
			where := path
			if where == "" {
				where = "the top level"
			}
			return nil, &JSONError{
				Reason: fmt.Sprintf("nesting deeper than the intent allows (%d levels) at %s", maxIntentDepth, where),
				Offset: dec.InputOffset(),
			}
		}
		if t == '[' {
			v := &jsonValue{kind: kindArray}
			for dec.More() {
				item, jerr := readValue(dec, fmt.Sprintf("%s[%d]", path, len(v.items)), depth+1)
				if jerr != nil {
					return nil, jerr
				}
				v.items = append(v.items, item)
			}
			if _, err := dec.Token(); err != nil { // ']'
				return nil, tokenError(dec, err)
			}
			return v, nil
		}
		v := &jsonValue{kind: kindObject}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, tokenError(dec, err)
			}
			key, _ := kt.(string) // the decoder only yields strings as keys
			val, jerr := readValue(dec, fieldPath(path, key), depth+1)
			if jerr != nil {
				return nil, jerr
			}
			v.keys = append(v.keys, key)
			v.vals = append(v.vals, val)
		}
		if _, err := dec.Token(); err != nil { // '}'
			return nil, tokenError(dec, err)
		}
		return v, nil
	}
	return nil, &JSONError{Reason: fmt.Sprintf("unexpected token %v", tok), Offset: dec.InputOffset()}
}

// fieldPath appends a key to a JSON path: "creditor" + "iban" is
// "creditor.iban"; a key that is not a plain word is quoted, as in
// `creditor["a b"]`, so the path stays unambiguous.
func fieldPath(path, key string) string {
	if !isPlainKey(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// shapeDecoder maps a jsonValue tree onto the intent types, recording a
// FieldError for each unknown field, duplicate key and wrongly typed value.
type shapeDecoder struct {
	errs ValidationErrors
	bad  []string // paths with a shape error: field rules below them are not reported again
}

func (d *shapeDecoder) fail(path, reason string) {
	d.errs = append(d.errs, FieldError{Field: path, Reason: reason})
	d.bad = append(d.bad, path)
}

// covers reports whether field is at or below a path with a shape error.
func (d *shapeDecoder) covers(field string) bool {
	for _, b := range d.bad {
		if field == b || strings.HasPrefix(field, b+".") || strings.HasPrefix(field, b+"[") {
			return true
		}
	}
	return false
}

// fieldSet handles one member of an object: key, the object's path (the
// member's is fieldPath(parent, key), built only for an error) and its
// value, nil for a JSON null (an absent field: nothing to do). It reports
// whether the key is a field of the object.
type fieldSet func(key, parent string, v *jsonValue) bool

// object applies field to the members of v, which the caller has checked
// is not null. It reports a non-object, unknown fields and duplicate keys;
// null members are skipped as absent.
func (d *shapeDecoder) object(path string, v *jsonValue, field fieldSet) bool {
	if v.kind != kindObject {
		d.fail(path, "must be an object, not "+v.kind.String())
		return false
	}
	var seen map[string]bool // only for objects too large to scan
	if len(v.keys) > 32 {
		seen = make(map[string]bool, len(v.keys))
	}
	for i, key := range v.keys {
		dup := false
		if seen != nil {
			dup = seen[key]
			seen[key] = true
		} else {
			dup = slices.Contains(v.keys[:i], key)
		}
		if dup {
			d.fail(fieldPath(path, key), "duplicate field: a key may appear only once")
			continue
		}
		val := v.vals[i]
		if val.kind == kindNull {
			val = nil
		}
		if !field(key, path, val) {
			d.fail(fieldPath(path, key), "unknown field")
		}
	}
	return true
}

// str stores a string member; v nil (null) leaves dst as it is.
func (d *shapeDecoder) str(dst *string, key, parent string, v *jsonValue) {
	if v == nil {
		return
	}
	if v.kind != kindString {
		d.fail(fieldPath(parent, key), "must be a JSON string, not "+v.kind.String())
		return
	}
	*dst = v.text
}

func (d *shapeDecoder) intent(v *jsonValue, p *PaymentIntent) {
	d.object("", v, func(key, parent string, v *jsonValue) bool {
		switch key {
		case "type":
			d.str(&p.Type, key, parent, v)
			if v != nil && v.kind == kindString && v.text == "" {
				d.fail(fieldPath(parent, key), fmt.Sprintf("must be %q when present", TypePaymentIntent))
			}
		case "version":
			if v == nil {
				break
			}
			path := fieldPath(parent, key)
			switch {
			case v.kind != kindNumber:
				d.fail(path, "must be a JSON number, not "+v.kind.String())
			case !isIntegerLiteral(v.text):
				d.fail(path, fmt.Sprintf("must be the integer %d", Version1))
			case len(v.text) > 20:
				d.fail(path, fmt.Sprintf("unsupported version %s…, this gateway reads version %d", v.text[:20], Version1))
			case v.text != "1":
				// Reported here, not by Validate: 0 and out-of-range
				// numbers cannot be told apart from an absent version
				// once in an int.
				d.fail(path, fmt.Sprintf("unsupported version %s, this gateway reads version %d", v.text, Version1))
			default:
				p.Version = Version1
			}
		case "id":
			d.str(&p.ID, key, parent, v)
		case "debtor":
			d.account(fieldPath(parent, key), v, &p.Debtor)
		case "creditor":
			d.account(fieldPath(parent, key), v, &p.Creditor)
		case "amount":
			d.str(&p.Amount, key, parent, v)
		case "currency":
			d.str(&p.Currency, key, parent, v)
		case "execution_date":
			d.str(&p.ExecutionDate, key, parent, v)
		case "remittance":
			d.str(&p.Remittance, key, parent, v)
		case "creditor_reference":
			d.str(&p.CreditorReference, key, parent, v)
		case "purpose":
			d.str(&p.Purpose, key, parent, v)
		case "ultimate_debtor":
			if v != nil {
				p.UltimateDebtor = d.party(fieldPath(parent, key), v)
			}
		case "ultimate_creditor":
			if v != nil {
				p.UltimateCreditor = d.party(fieldPath(parent, key), v)
			}
		case "budget_code":
			d.str(&p.BudgetCode, key, parent, v)
		case "profile":
			d.str(&p.Profile, key, parent, v)
		default:
			return false
		}
		return true
	})
}

func (d *shapeDecoder) account(path string, v *jsonValue, a *Account) {
	if v == nil {
		return
	}
	d.object(path, v, func(key, parent string, v *jsonValue) bool {
		switch key {
		case "name":
			d.str(&a.Name, key, parent, v)
		case "iban":
			d.str(&a.IBAN, key, parent, v)
		case "bic":
			d.str(&a.BIC, key, parent, v)
		case "address":
			if v != nil {
				a.Address = d.address(fieldPath(parent, key), v)
			}
		default:
			return false
		}
		return true
	})
}

func (d *shapeDecoder) party(path string, v *jsonValue) *Party {
	var p Party
	ok := d.object(path, v, func(key, parent string, v *jsonValue) bool {
		switch key {
		case "name":
			d.str(&p.Name, key, parent, v)
		case "id":
			d.str(&p.ID, key, parent, v)
		case "address":
			if v != nil {
				p.Address = d.address(fieldPath(parent, key), v)
			}
		default:
			return false
		}
		return true
	})
	if !ok {
		return nil
	}
	return &p
}

func (d *shapeDecoder) address(path string, v *jsonValue) *Address {
	var a Address
	ok := d.object(path, v, func(key, parent string, v *jsonValue) bool {
		switch key {
		case "street":
			d.str(&a.Street, key, parent, v)
		case "building":
			d.str(&a.Building, key, parent, v)
		case "postcode":
			d.str(&a.Postcode, key, parent, v)
		case "town":
			d.str(&a.Town, key, parent, v)
		case "country":
			d.str(&a.Country, key, parent, v)
		case "lines":
			if v == nil {
				break
			}
			path := fieldPath(parent, key)
			if v.kind != kindArray {
				d.fail(path, "must be an array of strings, not "+v.kind.String())
				break
			}
			for i, item := range v.items {
				var s string
				if item.kind == kindString {
					s = item.text
				} else {
					// A null item too: an array of strings has none.
					d.fail(fmt.Sprintf("%s[%d]", path, i), "must be a JSON string, not "+item.kind.String())
				}
				a.Lines = append(a.Lines, s)
			}
		default:
			return false
		}
		return true
	})
	if !ok {
		return nil
	}
	return &a
}
