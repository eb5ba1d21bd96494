package messages

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// addIntentSeeds adds the example intents of the repository: every line of
// testdata/*.jsonl and every JSON block of README.md. The intents intentgen
// makes are checked in as testdata/fuzz/FuzzParseIntent/intentgen-* (kept
// up to date by internal/intentgen's TestFuzzSeeds).
func addIntentSeeds(f *testing.F) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("..", "testdata", "*.jsonl"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no example intents in ../testdata: %v", err)
	}
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
				f.Add(bytes.Clone(line))
			}
		}
	}
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		f.Fatal(err)
	}
	blocks := strings.Split(string(readme), "```json\n")
	for _, b := range blocks[1:] {
		if block, _, ok := strings.Cut(b, "```"); ok {
			f.Add([]byte(block))
		}
	}
}

// FuzzEventRoundTrip decodes any JSON as each event type, the way a worker
// reads an event, and checks that what decodes round-trips: Marshal writes
// JSON that decodes to an event Marshal writes identically, with the
// event's type and version.
func FuzzEventRoundTrip(f *testing.F) {
	for i, se := range schemaEvents {
		b, err := Marshal(fill(reflect.TypeOf(se.event)).Interface().(Event))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), b)
		z, err := Marshal(se.event)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), z)
	}
	f.Add(uint8(1), []byte(`{"intent_id":"X","intent":{"a":1},"errors":null,"rejected_at":"2026-11-21T09:30:00+02:00"}`))
	f.Add(uint8(12), []byte(`{"worker":"encoder","headers":{"Nats-Msg-Id":["a","b"]},"data":"AAE=","failed_at":"2026-11-21T06:30:00.123456789Z"}`))
	f.Add(uint8(0), []byte(exampleIntent))
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		if len(data) > 1<<16 {
			t.Skip()
		}
		typ := reflect.TypeOf(schemaEvents[int(which)%len(schemaEvents)].event)
		v := reflect.New(typ)
		if err := json.Unmarshal(data, v.Interface()); err != nil {
			return
		}
		ev := v.Elem().Interface().(Event)
		b1, err := Marshal(ev)
		if err != nil {
			if s := v.Elem().FieldByName("Type").String(); s != "" && s != ev.EventType() {
				return // refused: a type field naming another event
			}
			if n := v.Elem().FieldByName("Version").Int(); n != 0 && n != Version1 {
				return // refused: a version this build does not write
			}
			t.Fatalf("Marshal(%+v) = %v", ev, err)
		}
		w := reflect.New(typ)
		if err := json.Unmarshal(b1, w.Interface()); err != nil {
			t.Fatalf("Marshal wrote %s, which does not decode: %v", b1, err)
		}
		if got := w.Elem().FieldByName("Type").String(); got != ev.EventType() || w.Elem().FieldByName("Version").Int() != Version1 {
			t.Fatalf("Marshal wrote type %q version %d", got, w.Elem().FieldByName("Version").Int())
		}
		b2, err := Marshal(w.Elem().Interface().(Event))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b1, b2) {
			t.Fatalf("%s does not round-trip:\n%s\n%s", ev.EventType(), b1, b2)
		}
	})
}
