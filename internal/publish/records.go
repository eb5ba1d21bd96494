package publish

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"regexp"
	"strconv"
	"strings"

	"github.com/isogate/isogate/messages"
)

// Format is the layout of an input file.
type Format string

// The input formats.
const (
	JSONLines Format = "jsonl" // one intent JSON object per line
	CSV       Format = "csv"   // a header row of field paths, one intent per row
)

// maxLine bounds one input line; an intent is at most 64 KiB of JSON.
const maxLine = 64 << 10

// A Record is one intent as read from a file: its JSON, or why it could not
// be read. Line is the 1-based line on which it starts.
type Record struct {
	Line int
	JSON []byte
	// Err is set when the line could not be turned into JSON (an overlong
	// line, a CSV row with the wrong number of cells).
	Err *LineError
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// DetectFormat guesses the format from the first bytes: JSON lines start with
// '{', anything else is taken as a CSV header.
func DetectFormat(peek []byte) Format {
	b := bytes.TrimLeft(bytes.TrimPrefix(peek, utf8BOM), " \t\r\n")
	if len(b) > 0 && (b[0] == '{' || b[0] == '[') {
		return JSONLines
	}
	return CSV
}

// Records reads r in format f. A fatal error (an unreadable file, a CSV
// header that names no field) ends the sequence with a non-nil error.
func Records(r io.Reader, f Format) iter.Seq2[Record, error] {
	switch f {
	case JSONLines:
		return jsonLines(r)
	case CSV:
		return csvRows(r)
	}
	return func(yield func(Record, error) bool) {
		yield(Record{}, fmt.Errorf("unknown format %q (jsonl or csv)", f))
	}
}

func jsonLines(r io.Reader) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		br := bufio.NewReaderSize(r, 64<<10)
		line := 0
		var buf []byte
		for {
			buf = buf[:0]
			tooLong := false
			var err error
			for {
				var chunk []byte
				chunk, err = br.ReadSlice('\n')
				if !tooLong {
					if len(buf)+len(chunk) > maxLine+2 { // +2: room for "\r\n"
						tooLong, buf = true, buf[:0]
					} else {
						buf = append(buf, chunk...)
					}
				}
				if !errors.Is(err, bufio.ErrBufferFull) {
					break
				}
			}
			if err != nil && !errors.Is(err, io.EOF) {
				yield(Record{}, fmt.Errorf("reading line %d: %w", line+1, err))
				return
			}
			eof := errors.Is(err, io.EOF)
			if eof && len(buf) == 0 && !tooLong {
				return
			}
			line++
			if line == 1 {
				buf = bytes.TrimPrefix(buf, utf8BOM)
			}
			var rec Record
			switch {
			case tooLong:
				rec = Record{Line: line, Err: &LineError{Line: line, Field: "json", Reason: fmt.Sprintf("line longer than %d bytes", maxLine)}}
			case len(bytes.TrimSpace(buf)) == 0:
				if eof {
					return
				}
				continue // blank lines are allowed and not counted
			default:
				rec = Record{Line: line, JSON: bytes.Clone(bytes.TrimRight(buf, "\r\n"))}
			}
			if !yield(rec, nil) || eof {
				return
			}
		}
	}
}

// columnPath is a CSV header cell: dotted field names with optional indexes,
// e.g. creditor.address.lines[0].
var columnPath = regexp.MustCompile(`^[a-z_]+(\[[0-9]\])?(\.[a-z_]+(\[[0-9]\])?)*$`)

func csvRows(r io.Reader) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		br := bufio.NewReader(r)
		if peek, _ := br.Peek(3); bytes.Equal(peek, utf8BOM) {
			_, _ = br.Discard(3)
		}
		cr := csv.NewReader(br)
		cr.FieldsPerRecord = -1 // checked per row, to report the line and go on
		cr.ReuseRecord = true
		header, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			yield(Record{}, fmt.Errorf("line 1: csv header: %w", err))
			return
		}
		cols := make([]string, len(header))
		for i, h := range header {
			cols[i] = strings.TrimSpace(h)
		}
		if err := checkHeader(cols); err != nil {
			yield(Record{}, err)
			return
		}
		for {
			row, err := cr.Read()
			if errors.Is(err, io.EOF) {
				return
			}
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				if !yield(Record{Line: pe.StartLine, Err: &LineError{Line: pe.StartLine, Field: "csv", Reason: pe.Err.Error()}}, nil) {
					return
				}
				continue
			}
			if err != nil {
				yield(Record{}, fmt.Errorf("reading csv: %w", err))
				return
			}
			// FieldPos only after a row was read: it panics after a ParseError.
			line, _ := cr.FieldPos(0)
			if len(row) != len(cols) {
				rec := Record{Line: line, Err: &LineError{Line: line, Field: "csv",
					Reason: fmt.Sprintf("row has %d cells, the header has %d", len(row), len(cols))}}
				if !yield(rec, nil) {
					return
				}
				continue
			}
			data, err := rowJSON(cols, row)
			rec := Record{Line: line, JSON: data}
			if err != nil {
				rec = Record{Line: line, Err: &LineError{Line: line, Field: "csv", Reason: err.Error()}}
			}
			if !yield(rec, nil) {
				return
			}
		}
	}
}

// checkHeader refuses column names that are not field paths, repeated
// columns, and columns the intent does not have, so a typo in the header is
// one clear error instead of one per row.
func checkHeader(cols []string) error {
	seen := map[string]bool{}
	probe := make([]string, len(cols))
	for i, c := range cols {
		if !columnPath.MatchString(c) {
			return fmt.Errorf("line 1: column %d %q: not a field path (use names like id, amount, creditor.iban, creditor.address.lines[0])", i+1, c)
		}
		if seen[c] {
			return fmt.Errorf("line 1: column %q appears twice", c)
		}
		seen[c] = true
		probe[i] = "x"
		if c == "version" {
			probe[i] = "1"
		}
	}
	data, err := rowJSON(cols, probe)
	if err != nil {
		return fmt.Errorf("line 1: %w", err)
	}
	_, err = messages.ParseIntent(data)
	var verrs messages.ValidationErrors
	if errors.As(err, &verrs) {
		var bad []string
		for _, fe := range verrs {
			if strings.Contains(fe.Reason, "unknown field") || strings.Contains(fe.Reason, "must be") && strings.Contains(fe.Reason, "object") {
				bad = append(bad, fmt.Sprintf("column %q: %s", fe.Field, fe.Reason))
			}
		}
		if len(bad) > 0 {
			return fmt.Errorf("line 1: %s", strings.Join(bad, "; "))
		}
	}
	return nil
}

// rowJSON turns a CSV row into the intent's JSON object. Empty cells are
// left out; every value is a string except version, a number.
func rowJSON(cols, row []string) ([]byte, error) {
	root := map[string]any{}
	for i, c := range cols {
		v := row[i]
		if v == "" {
			continue
		}
		var val any = v
		if c == "version" {
			if n, err := strconv.Atoi(v); err == nil {
				val = n
			}
		}
		if err := setPath(root, c, val); err != nil {
			return nil, err
		}
	}
	return json.Marshal(root)
}

// setPath stores val at a path like creditor.address.lines[1].
func setPath(root map[string]any, path string, val any) error {
	parts := strings.Split(path, ".")
	m := root
	for i, p := range parts {
		name, idx := p, -1
		if j := strings.IndexByte(p, '['); j >= 0 {
			name = p[:j]
			idx, _ = strconv.Atoi(p[j+1 : len(p)-1])
		}
		last := i == len(parts)-1
		if idx >= 0 {
			list, _ := m[name].([]any)
			for len(list) <= idx {
				list = append(list, "")
			}
			if !last {
				return fmt.Errorf("column %q: only the last name of a path may have an index", path)
			}
			list[idx] = val
			m[name] = list
			continue
		}
		if last {
			if _, isObj := m[name].(map[string]any); isObj {
				return fmt.Errorf("column %q: is an object; name its fields (%s.…)", path, path)
			}
			m[name] = val
			continue
		}
		next, ok := m[name].(map[string]any)
		if !ok {
			if _, taken := m[name]; taken {
				return fmt.Errorf("column %q: %s is a value, not an object", path, name)
			}
			next = map[string]any{}
			m[name] = next
		}
		m = next
	}
	return nil
}
