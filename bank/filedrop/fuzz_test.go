package filedrop

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/isogate/isogate/bank"
	"github.com/isogate/isogate/internal/samples"
	"github.com/isogate/isogate/xmlcodec"
)

// FuzzFileName: every MsgId (ISO Max35Text: any characters) becomes a
// file name of its own — non-empty, one path element, not hidden, never
// taken for a temporary file once ".xml" is added — that msgIDOf turns
// back into the MsgId.
func FuzzFileName(f *testing.F) {
	for _, s := range []string{"B-20261121-0001", ".hidden", "a/b", `..\x`, "%41", "a%", "50%2", "x.tmp", "~", "ā Ž", "\x00\xff", "A.B.", "-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msgID string) {
		name := fileName(msgID)
		if got := msgIDOf(name); got != msgID {
			t.Fatalf("msgIDOf(fileName(%q)) = %q (file name %q)", msgID, got, name)
		}
		if msgID == "" {
			return
		}
		if name == "" || name == "." || name == ".." || strings.HasPrefix(name, ".") || filepath.Base(name) != name ||
			strings.ContainsAny(name, `/\:*?"<>|`+"\x00") {
			t.Fatalf("fileName(%q) = %q is not a safe file name", msgID, name)
		}
		if isTemp(name + ".xml") {
			t.Fatalf("fileName(%q) = %q looks like a temporary file", msgID, name)
		}
	})
}

// FuzzInboxFile: whatever an inbox file is called and holds, the request
// it is filed under is the one its OrgnlBizQry names, one whose outbox
// file begins its name, or the claim; and a pain.002 is taken for a
// duplicate refusal only when it rejects the group.
func FuzzInboxFile(f *testing.F) {
	f.Add("REQ-1.xml.camt.053.xml", []byte(`<Document><BkToCstmrStmt><GrpHdr><MsgId>S</MsgId><OrgnlBizQry><MsgId> REQ-2 </MsgId></OrgnlBizQry></GrpHdr></BkToCstmrStmt></Document>`), "CLAIM")
	f.Add("CLAIM.xml.camt.053.xml", []byte(`<Document/>`), "CLAIM")
	f.Add("M-1.RJCT.pain.002.xml", []byte(`<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"><CstmrPmtStsRpt><GrpHdr><MsgId>S</MsgId></GrpHdr><OrgnlGrpInfAndSts><OrgnlMsgId>M-1</OrgnlMsgId><GrpSts>RJCT</GrpSts><StsRsnInf><Rsn><Cd>DUPL</Cd></Rsn></StsRsnInf></OrgnlGrpInfAndSts></CstmrPmtStsRpt></Document>`), "")
	samples.Seeds(f, "", false, func(name string, data []byte) { f.Add(name, data, "") })
	f.Fuzz(func(t *testing.T, name string, data []byte, claim string) {
		if len(data) > 1<<20 {
			t.Skip()
		}
		sent := []string{fileName("REQ-1") + ".xml", fileName("REQ.1") + ".xml", fileName(" odd/id ") + ".xml"}
		got := answers(name, data, sent, claim)
		ok := got == claim || got == bank.OriginalQueryMsgID(data)
		for _, s := range sent {
			ok = ok || got == msgIDOf(strings.TrimSuffix(s, ".xml")) && strings.HasPrefix(name, s+".")
		}
		if !ok {
			t.Fatalf("answers(%q, %q, claim %q) = %q", name, data, claim, got)
		}
		group, dupl := summary(data)
		if dupl && group != xmlcodec.StatusRJCT {
			t.Fatalf("summary(%q) = %q, duplicate", data, group)
		}
		if _, known := statusRank[group]; group != "" && !known && dupl {
			t.Fatalf("summary(%q) = unknown group status %q", data, group)
		}
	})
}
