package bank

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/isogate/isogate/internal/samples"
	"github.com/isogate/isogate/xmlcodec"
)

// familySets are the family lists CheckDocument is called with.
var familySets = [][]string{
	{"pain.002"},
	{"camt.052", "camt.053", "camt.054"},
	{"pain.002", "camt.052", "camt.053", "camt.054"},
	{"camt.060"},
	{"pain.001"},
}

// addDocSeeds adds the samples of ../shared/iso20022/samples (files over
// 1 MiB skipped; the folder's absence is silent locally, fatal in CI) and
// xmlcodec's golden files.
func addDocSeeds(f *testing.F, add func([]byte)) {
	f.Helper()
	samples.Seeds(f, "", true, func(_ string, data []byte) { add(data) })
}

// wellFormed reads data to the end with encoding/xml (ISO-8859-1 mapped
// to UTF-8, as xmlcodec does).
func wellFormed(data []byte) error {
	xd := xml.NewDecoder(bytes.NewReader(data))
	xd.CharsetReader = func(label string, in io.Reader) (io.Reader, error) {
		b, err := io.ReadAll(in)
		if err != nil {
			return nil, err
		}
		if strings.EqualFold(label, "utf-8") || strings.EqualFold(label, "us-ascii") {
			return bytes.NewReader(b), nil
		}
		rs := make([]rune, len(b))
		for i, c := range b {
			rs[i] = rune(c)
		}
		return strings.NewReader(string(rs)), nil
	}
	for {
		if _, err := xd.Token(); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// FuzzCheckDocument: a document is refused with an error matching
// ErrMalformed, or it is of a family asked for, well-formed to its end, and
// a pain.002 names the OrgnlMsgId it answers. The header readers and
// Reasons never panic, return trimmed text, and Reasons stays short and
// valid UTF-8.
func FuzzCheckDocument(f *testing.F) {
	addDocSeeds(f, func(b []byte) {
		which := uint8(2) // pain.002 or camt
		switch info, _ := xmlcodec.NewDecoder(bytes.NewReader(b), xmlcodec.Limits{}).Message(); info.Family {
		case "pain.001":
			which = 4
		case "camt.060":
			which = 3
		}
		f.Add(b, which)
	})
	f.Add([]byte(`<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"><CstmrPmtStsRpt><GrpHdr><MsgId>S</MsgId></GrpHdr><OrgnlGrpInfAndSts><OrgnlMsgId>M-1</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.03</OrgnlMsgNmId><GrpSts>RJCT</GrpSts><StsRsnInf><Rsn><Cd>DUPL</Cd></Rsn><AddtlInf>ā</AddtlInf></StsRsnInf></OrgnlGrpInfAndSts></CstmrPmtStsRpt></Document>`), uint8(0))
	f.Add([]byte("text answer\nsecond line"), uint8(2))
	f.Add([]byte(`<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"><CstmrPmtStsRpt><GrpHdr><MsgId>S</MsgId></GrpHdr><OrgnlGrpInfAndSts><OrgnlMsgId>M-1</OrgnlMsgId><GrpSts>RJCT</GrpSts><StsRsnInf><Rsn><Cd>FF01</Cd></Rsn><AddtlInf>`+strings.Repeat("ā", 200)+`</AddtlInf></StsRsnInf></OrgnlGrpInfAndSts></CstmrPmtStsRpt></Document>`), uint8(0))
	f.Add([]byte("Kļūda: "+strings.Repeat("ž", 300)), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		if len(data) > 1<<20 {
			t.Skip()
		}
		families := familySets[int(which)%len(familySets)]
		info, orig, err := CheckDocument(data, families...)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("CheckDocument error %v does not match ErrMalformed", err)
			}
		} else {
			if !strings.Contains(strings.Join(families, " "), info.Family) || info.Family == "" {
				t.Fatalf("CheckDocument(%v) accepted a %q", families, info.Family)
			}
			if (info.Family == "pain.002") != (orig != "") {
				t.Fatalf("CheckDocument: family %s, OrgnlMsgId %q", info.Family, orig)
			}
			if err := wellFormed(data); err != nil {
				t.Fatalf("CheckDocument accepted a document that is not well-formed: %v", err)
			}
		}
		for _, s := range []string{RequestMsgID(data), OriginalQueryMsgID(data)} {
			if s != strings.TrimSpace(s) {
				t.Fatalf("header text %q is not trimmed", s)
			}
		}
		why := Reasons(data)
		if len(why) > 300+len("…") {
			t.Fatalf("Reasons is %d bytes long", len(why))
		}
		if utf8.Valid(data) && !utf8.ValidString(why) {
			t.Fatalf("Reasons(%q) = %q: invalid UTF-8", data, why)
		}
	})
}
