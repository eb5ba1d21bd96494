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
	d := xmlcodec.NewDecoder(bytes.NewReader(data), xmlcodec.Limits{})
	info, err := d.Message()
	if err != nil {
		return info, "", fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if !slices.Contains(families, info.Family) {
		return info, "", fmt.Errorf("%w: got %s, want %s", ErrMalformed, info.Family, strings.Join(families, " or "))
	}
	if info.Family == "pain.001" || info.Family == "camt.060" {
		// Not decoded by xmlcodec: check well-formedness only.
		xd := xml.NewDecoder(bytes.NewReader(data))
		for {
			_, err := xd.Token()
			if err == io.EOF {
				return info, "", nil
			}
			if err != nil {
				return info, "", fmt.Errorf("%w: %w", ErrMalformed, err)
			}
		}
	}
	var orig string
	for {
		rec, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if xmlcodec.Recoverable(err) {
				continue
			}
			return info, "", fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		if s, ok := rec.(*xmlcodec.Status); ok && orig == "" {
			orig = s.OriginalMsgID
		}
	}
	if info.Family == "pain.002" && orig == "" {
		return info, "", fmt.Errorf("%w: pain.002 without OrgnlMsgId", ErrMalformed)
	}
	return info, orig, nil
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
