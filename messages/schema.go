package messages

//go:generate go run ./internal/schemagen -dir schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// SchemaDir is the folder, inside the messages package, holding the
// generated JSON Schemas.
const SchemaDir = "schema"

// A SchemaFile is one generated JSON Schema: its file name in [SchemaDir]
// and its contents.
type SchemaFile struct {
	Name string // such as "pay.intent.v1.schema.json"
	Data []byte // pretty-printed, newline-terminated
}

// SchemaFileName returns the file name of an event type's schema:
// "<type>.v1.schema.json".
func SchemaFileName(eventType string) string { return eventType + ".v1.schema.json" }

// SchemaID returns the $id of an event type's schema:
// "https://isogate.dev/schema/<type>.v1.json".
func SchemaID(eventType string) string {
	return "https://isogate.dev/schema/" + eventType + ".v1.json"
}

// schemaEvents lists every event with the description its schema carries.
var schemaEvents = []struct {
	event Event
	desc  string
}{
	{PaymentIntent{}, "A payment an upstream service asks the gateway to make. The id is the idempotency key: a second intent with a known id is acknowledged and ignored. Published on pay.intent.<id>."},
	{IntentRejected{}, "An intent that will not be paid because it is invalid, with every problem found. Terminal for the intent."},
	{BatchEncoded{}, "A batch of intents encoded into one pain.001 file and archived."},
	{BatchSubmitted{}, "A batch file whose upload the bank accepted."},
	{BatchFailed{}, "A batch that could not be delivered or was refused as a whole; permanent means no retry follows."},
	{BatchInDoubt{}, "A batch upload whose outcome is unknown; nothing is re-sent until a status query settles it."},
	{PaymentStatus{}, "The bank's status of one intent, from a pain.002; final marks the terminal status."},
	{PaymentSettled{}, "A statement entry matched to an intent: the money moved."},
	{StatementEntry{}, "One transaction of an entry of a camt.052/053/054 statement (or the entry, when it has no transaction details), published once per entry key, ever."},
	{StatementReport{}, "Summary of one camt.052/053/054 statement after its entries were published."},
	{StatementGap{}, "Statements of an account are missing: what was received is not what was expected."},
	{StatementUnmatched{}, "A booked statement entry (or one transaction of it) not matched to a payment of this gateway, with the reason."},
	{DeadLetter{}, "A message a worker gave up on, with the error, the attempts and the original payload."},
	{CertExpiring{}, "A client certificate expires within the warning threshold."},
	{CertRenewed{}, "A client certificate was renewed."},
	{CertRenewalFailed{}, "A certificate renewal attempt failed."},
}

// Schemas generates the JSON Schema (draft 2020-12) of every event type from
// its Go type, sorted by file name. Field constraints come from the fields'
// `schema` struct tags, field descriptions from their `doc` tags; fields
// without omitempty/omitzero are required. The output is deterministic:
// `go generate ./messages` writes it to [SchemaDir], and a test fails when
// the checked-in files differ.
func Schemas() ([]SchemaFile, error) {
	files := make([]SchemaFile, 0, len(schemaEvents))
	for _, ev := range schemaEvents {
		t := reflect.TypeOf(ev.event)
		body, err := structSchema(t, ev.event.EventType())
		if err != nil {
			return nil, fmt.Errorf("generating schema of %s: %w", t.Name(), err)
		}
		doc := object{
			{"$schema", "https://json-schema.org/draft/2020-12/schema"},
			{"$id", SchemaID(ev.event.EventType())},
			{"title", t.Name()},
			{"description", ev.desc},
		}
		doc = append(doc, body...)
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(doc); err != nil {
			return nil, fmt.Errorf("encoding schema of %s: %w", t.Name(), err)
		}
		files = append(files, SchemaFile{Name: SchemaFileName(ev.event.EventType()), Data: buf.Bytes()})
	}
	for i := 1; i < len(files); i++ { // insertion sort: a handful of files
		for j := i; j > 0 && files[j].Name < files[j-1].Name; j-- {
			files[j], files[j-1] = files[j-1], files[j]
		}
	}
	return files, nil
}

// object is a JSON object that keeps its keys in order.
type object []member

type member struct {
	key   string
	value any
}

// MarshalJSON writes the members in order.
func (o object) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, err := marshalPlain(m.key)
		if err != nil {
			return nil, err
		}
		buf.Write(k)
		buf.WriteByte(':')
		v, err := marshalPlain(m.value)
		if err != nil {
			return nil, err
		}
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// marshalPlain marshals v without escaping <, > and &.
func marshalPlain(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

var (
	timeType       = reflect.TypeFor[time.Time]()
	rawMessageType = reflect.TypeFor[json.RawMessage]()
)

// structSchema returns the members of an object schema for struct type t.
// eventType, when not empty, makes the "type" and "version" fields consts.
func structSchema(t reflect.Type, eventType string) (object, error) {
	props := object{}
	var required []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		var s object
		switch {
		case eventType != "" && name == "type":
			s = object{{"const", eventType}}
		case eventType != "" && name == "version":
			s = object{{"const", Version1}}
		default:
			var err error
			s, err = typeSchema(f.Type)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", f.Name, err)
			}
			s, err = applyTags(s, f.Tag.Get("schema"))
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", f.Name, err)
			}
		}
		if d := f.Tag.Get("doc"); d != "" {
			s = append(object{{"description", d}}, s...)
		}
		props = append(props, member{name, s})
		optional := false
		for _, o := range strings.Split(opts, ",") {
			optional = optional || o == "omitempty" || o == "omitzero"
		}
		if !optional {
			required = append(required, name)
		}
	}
	out := object{{"type", "object"}, {"properties", props}}
	if len(required) > 0 {
		out = append(out, member{"required", required})
	}
	return append(out, member{"additionalProperties", false}), nil
}

// typeSchema returns the schema of a Go type, without field constraints.
func typeSchema(t reflect.Type) (object, error) {
	switch t {
	case timeType:
		return object{{"type", "string"}, {"format", "date-time"}}, nil
	case rawMessageType:
		return object{}, nil // any JSON value
	}
	switch t.Kind() {
	case reflect.Pointer:
		return typeSchema(t.Elem())
	case reflect.String:
		return object{{"type", "string"}}, nil
	case reflect.Bool:
		return object{{"type", "boolean"}}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return object{{"type", "integer"}}, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return object{{"type", "integer"}, {"minimum", 0}}, nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return object{{"type", "string"}, {"contentEncoding", "base64"}}, nil
		}
		items, err := typeSchema(t.Elem())
		if err != nil {
			return nil, err
		}
		return object{{"type", "array"}, {"items", items}}, nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return nil, fmt.Errorf("map key %s is not a string", t.Key())
		}
		vals, err := typeSchema(t.Elem())
		if err != nil {
			return nil, err
		}
		return object{{"type", "object"}, {"additionalProperties", vals}}, nil
	case reflect.Struct:
		return structSchema(t, "")
	}
	return nil, fmt.Errorf("no JSON Schema for Go type %s", t)
}

// schemaKeys lists the keywords a `schema` tag may set, in output order.
// Integer keywords are written as numbers.
var schemaKeys = []struct {
	name    string
	integer bool
}{
	{"format", false},
	{"enum", false},
	{"minLength", true},
	{"maxLength", true},
	{"pattern", false},
	{"minimum", true},
	{"maximum", true},
	{"minItems", true},
	{"maxItems", true},
}

// applyTags adds the constraints of a `schema` struct tag to s. The tag is
// a comma-separated list of keyword=value; enum values are separated by
// "|". A pattern takes the rest of the tag, commas included, so it must
// come last; "items." before a keyword applies it to array items.
func applyTags(s object, tag string) (object, error) {
	own, items := map[string]string{}, map[string]string{}
	for tag != "" {
		key, rest, ok := strings.Cut(tag, "=")
		if !ok {
			return nil, fmt.Errorf("schema tag %q: want keyword=value", tag)
		}
		var val string
		if key == "pattern" || key == "items.pattern" {
			val, tag = rest, ""
		} else {
			val, tag, _ = strings.Cut(rest, ",")
		}
		dst := own
		if k, ok := strings.CutPrefix(key, "items."); ok {
			dst, key = items, k
		}
		if _, dup := dst[key]; dup {
			return nil, fmt.Errorf("schema tag: %s given twice", key)
		}
		dst[key] = val
	}
	s, err := addKeywords(s, own)
	if err != nil {
		return nil, err
	}
	if len(items) > 0 {
		for i, m := range s {
			if m.key == "items" {
				is, err := addKeywords(m.value.(object), items)
				if err != nil {
					return nil, err
				}
				s[i].value = is
				return s, nil
			}
		}
		return nil, fmt.Errorf("schema tag: items keywords on a type that is not an array")
	}
	return s, nil
}

func addKeywords(s object, kw map[string]string) (object, error) {
	out := append(object(nil), s...)
	for _, k := range schemaKeys {
		v, ok := kw[k.name]
		if !ok {
			continue
		}
		delete(kw, k.name)
		var m member
		switch {
		case k.name == "enum":
			m = member{"enum", strings.Split(v, "|")}
		case k.integer:
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("schema tag: %s=%q is not an integer", k.name, v)
			}
			m = member{k.name, n}
		default:
			m = member{k.name, v}
		}
		out = setMember(out, m)
	}
	for k := range kw {
		return nil, fmt.Errorf("schema tag: unknown keyword %q", k)
	}
	return out, nil
}

// setMember replaces the member with m's key, or appends m.
func setMember(o object, m member) object {
	for i := range o {
		if o[i].key == m.key {
			o[i] = m
			return o
		}
	}
	return append(o, m)
}
