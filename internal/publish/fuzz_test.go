package publish

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzRecords reads any file as JSON lines and as CSV. JSON lines: each
// record is one physical line (numbered from 1, BOM and line end removed),
// as JSON or as an overlong-line error, never both. CSV: after the header,
// each record is a JSON object or a line error, numbered from line 2 on,
// in order; a fatal error ends the sequence.
func FuzzRecords(f *testing.F) {
	for _, name := range []string{"intents.jsonl", "intents-bad.jsonl", "intents.csv"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, filepath.Ext(name) == ".csv")
	}
	f.Add([]byte("\xef\xbb\xbf{\"id\":\"a\"}\r\n\n  \n{\"id\":\"b\"}"), false)
	f.Add(append(append([]byte(`{"id":"`), bytes.Repeat([]byte("x"), maxLine)...), "\"}\n{}\n"...), false)
	f.Add([]byte("id,amount,creditor.address.lines[0],creditor.address.lines[1],version\nA,1.00,\"x\ny\",z,1\nB,2\n\"bad\"quote,1,2,3,4\n"), true)
	f.Add([]byte("\xef\xbb\xbfid,creditor.name,creditor\nA,B,C\n"), true)
	f.Add([]byte("id,amount\n\"x"), true)
	f.Fuzz(func(t *testing.T, data []byte, csv bool) {
		if len(data) > 1<<20 {
			t.Skip()
		}
		if csv {
			checkCSV(t, data)
			return
		}
		lines := bytes.SplitAfter(data, []byte("\n"))
		prev := 0
		for rec, err := range Records(bytes.NewReader(data), JSONLines) {
			if err != nil {
				t.Fatalf("JSON lines: fatal error %v reading from memory", err)
			}
			if rec.Line <= prev || rec.Line > len(lines) || (rec.Err == nil) == (rec.JSON == nil) {
				t.Fatalf("JSON lines: record %+v after line %d", rec, prev)
			}
			prev = rec.Line
			if rec.Err != nil {
				if rec.Err.Line != rec.Line || rec.Err.Field != "json" || len(lines[rec.Line-1]) <= maxLine {
					t.Fatalf("JSON lines: line %d (%d bytes): %+v", rec.Line, len(lines[rec.Line-1]), rec.Err)
				}
				continue
			}
			want := bytes.TrimRight(lines[rec.Line-1], "\r\n")
			if rec.Line == 1 {
				want = bytes.TrimPrefix(want, utf8BOM)
			}
			if !bytes.Equal(rec.JSON, want) {
				t.Fatalf("JSON lines: line %d is %q, read %q", rec.Line, want, rec.JSON)
			}
		}
	})
}

func checkCSV(t *testing.T, data []byte) {
	prev, fatal := 1, false
	for rec, err := range Records(bytes.NewReader(data), CSV) {
		if fatal {
			t.Fatal("CSV: a record after a fatal error")
		}
		if err != nil {
			fatal = true
			continue
		}
		if rec.Line < 2 || rec.Line < prev || (rec.Err == nil) == (rec.JSON == nil) {
			t.Fatalf("CSV: record %+v after line %d", rec, prev)
		}
		prev = rec.Line
		if rec.Err != nil {
			if rec.Err.Line != rec.Line || rec.Err.Field != "csv" || rec.Err.Reason == "" {
				t.Fatalf("CSV: line error %+v", rec.Err)
			}
			continue
		}
		var obj map[string]any
		if err := json.Unmarshal(rec.JSON, &obj); err != nil {
			t.Fatalf("CSV: line %d gives %s, not a JSON object: %v", rec.Line, rec.JSON, err)
		}
	}
}
