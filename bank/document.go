package bank

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/isogate/isogate/xmlcodec"
)

// ErrMalformed reports a document that is not a complete, well-formed
// message of the family expected. Channels wrap it in an [*Error].
var ErrMalformed = errors.New("bank: malformed document")

// CheckDocument reads data to the end as one of families ("pain.002",
// "camt.053", …) with xmlcodec's decoder, so a truncated or malformed
// document is refused (errors matching [ErrMalformed]). A record the
// decoder skips as invalid (one bad entry) does not refuse the document:
// that is the reader's business. For a pain.002 it also returns the
// OrgnlMsgId it answers.
func CheckDocument(data []byte, families ...string) (xmlcodec.MessageInfo, string, error) {
	info, orig, _, err := checkDocument(data, false, families)
	return info, orig, err
}

// CheckStatusDocument is [CheckDocument] for a pain.002 that also returns
// the status records it read, when it read every one (nil when the decoder
// skipped a record as invalid: a reader that needs them all reads data
// itself and learns why). A channel puts them in [Document.Statuses] so
// the status poller need not decode the document a second time.
func CheckStatusDocument(data []byte) (xmlcodec.MessageInfo, string, []*xmlcodec.Status, error) {
	return checkDocument(data, true, []string{"pain.002"})
}

func checkDocument(data []byte, keep bool, families []string) (info xmlcodec.MessageInfo, orig string, statuses []*xmlcodec.Status, err error) {
	d := xmlcodec.NewDecoder(bytes.NewReader(data), xmlcodec.Limits{})
	info, err = d.Message()
	if err != nil {
		return info, "", nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if !slices.Contains(families, info.Family) {
		return info, "", nil, fmt.Errorf("%w: got %s, want %s", ErrMalformed, info.Family, strings.Join(families, " or "))
	}
	if info.Family == "pain.001" || info.Family == "camt.060" {
		// Not decoded by xmlcodec: check well-formedness only.
		xd := xml.NewDecoder(bytes.NewReader(data))
		for {
			_, err := xd.Token()
			if err == io.EOF {
				return info, "", nil, nil
			}
			if err != nil {
				return info, "", nil, fmt.Errorf("%w: %w", ErrMalformed, err)
			}
		}
	}
	complete := true
	for {
		rec, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if xmlcodec.Recoverable(err) {
				complete = false
				continue
			}
			return info, "", nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		if s, ok := rec.(*xmlcodec.Status); ok {
			if orig == "" {
				orig = s.OriginalMsgID
			}
			if keep {
				statuses = append(statuses, s)
			}
		}
	}
	if info.Family == "pain.002" && orig == "" {
		return info, "", nil, fmt.Errorf("%w: pain.002 without OrgnlMsgId", ErrMalformed)
	}
	if !complete {
		statuses = nil
	}
	return info, orig, statuses, nil
}

// RequestMsgID returns GrpHdr/MsgId of an ISO 20022 document (a camt.060,
// a pain.001), "" when it has none or is not XML.
func RequestMsgID(data []byte) string {
	return headerText(data, "GrpHdr", "MsgId")
}

// OriginalQueryMsgID returns GrpHdr/OrgnlBizQry/MsgId of a camt.052/053/054:
// the camt.060 it answers, "" for a report sent unasked.
func OriginalQueryMsgID(data []byte) string {
	return headerText(data, "GrpHdr", "OrgnlBizQry", "MsgId")
}

// headerText returns the text of Document/<business root>/path…, reading
// only up to the end of path[0].
func headerText(data []byte, path ...string) string {
	xd := xml.NewDecoder(bytes.NewReader(data))
	var stack []string
	for {
		tok, err := xd.Token()
		if err != nil {
			return ""
		}
		switch t := tok.(type) {
		case xml.StartElement:
			stack = append(stack, t.Name.Local)
			if len(stack) == 2+len(path) && slices.Equal(stack[2:], path) {
				var s string
				if err := xd.DecodeElement(&s, &t); err != nil {
					return ""
				}
				return strings.TrimSpace(s)
			}
		case xml.EndElement:
			if len(stack) == 3 && stack[2] == path[0] {
				return ""
			}
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		}
	}
}

// Reasons summarises a bank's answer for an error message: the group
// status and reasons of a pain.002 ("RJCT DS0B: signature does not
// verify"), else the first line of a short text answer, else "".
func Reasons(body []byte) string {
	d := xmlcodec.NewDecoder(bytes.NewReader(body), xmlcodec.Limits{MaxBytes: 1 << 20})
	if info, err := d.Message(); err == nil && info.Family == "pain.002" {
		rec, err := d.Next()
		if s, ok := rec.(*xmlcodec.Status); ok && err == nil {
			out := s.GroupStatus
			rs := s.GroupReasons
			if len(rs) == 0 {
				rs = s.Reasons
			}
			for _, r := range rs {
				out += " " + strings.TrimSpace(r.Code+r.Proprietary+": "+r.Info)
			}
			return trimTo(out, 300)
		}
		return ""
	}
	if bytes.HasPrefix(bytes.TrimSpace(body), []byte("<")) {
		return ""
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
	return trimTo(line, 300)
}

func trimTo(s string, n int) string {
	if len(s) > n {
		for n > 0 && !utf8.RuneStart(s[n]) {
			n-- // never cut a character in two
		}
		return s[:n] + "…"
	}
	return s
}
