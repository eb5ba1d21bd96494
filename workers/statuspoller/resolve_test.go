package statuspoller

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/isogate/isogate/bank"
	"github.com/isogate/isogate/xmlcodec"
)

// Hand-written pain.002.001.03 documents: a group status with a reason,
// payment-information blocks, transaction lines.
type (
	ptx struct{ e2e, sts, rsn string }
	pmt struct {
		id, sts, rsn string
		txs          []ptx
	}
)

func reason(code string) string {
	if code == "" {
		return ""
	}
	return "<StsRsnInf><Rsn><Cd>" + code + "</Cd></Rsn><AddtlInf>info " + code + "</AddtlInf></StsRsnInf>"
}

func opt(tag, v string) string {
	if v == "" {
		return ""
	}
	return "<" + tag + ">" + v + "</" + tag + ">"
}

func pain002(grp, grpRsn string, pmts ...pmt) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"><CstmrPmtStsRpt>
<GrpHdr><MsgId>STS-1</MsgId><CreDtTm>2026-11-21T09:00:00Z</CreDtTm></GrpHdr>
<OrgnlGrpInfAndSts><OrgnlMsgId>MSG1</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.03</OrgnlMsgNmId>`)
	b.WriteString(opt("GrpSts", grp) + reason(grpRsn) + "</OrgnlGrpInfAndSts>\n")
	for _, p := range pmts {
		b.WriteString("<OrgnlPmtInfAndSts><OrgnlPmtInfId>" + p.id + "</OrgnlPmtInfId>" + opt("PmtInfSts", p.sts) + reason(p.rsn))
		for _, tx := range p.txs {
			b.WriteString("<TxInfAndSts><OrgnlEndToEndId>" + tx.e2e + "</OrgnlEndToEndId>" + opt("TxSts", tx.sts) + reason(tx.rsn) + "</TxInfAndSts>")
		}
		b.WriteString("</OrgnlPmtInfAndSts>\n")
	}
	b.WriteString("</CstmrPmtStsRpt></Document>\n")
	return []byte(b.String())
}

// validateXSD checks doc against the official schema with xmllint; skipped
// without xmllint outside CI.
func validateXSD(t *testing.T, doc []byte) {
	t.Helper()
	bin, err := exec.LookPath("xmllint")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("xmllint required in CI")
		}
		t.Skip("xmllint not installed")
	}
	xsd := filepath.Join("..", "..", "xmlcodec", "xsd", "pain.002.001.03.xsd")
	cmd := exec.CommandContext(t.Context(), bin, "--noout", "--nonet", "--schema", xsd, "-")
	cmd.Stdin = bytes.NewReader(doc)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("xmllint: %v\n%s\n%s", err, out, doc)
	}
}

// The batch: A1, A2 in block P1; B1, B2 in block P2.
var batchTxs = []txRef{{"A1", "P1"}, {"A2", "P1"}, {"B1", "P2"}, {"B2", "P2"}}

// TestResolve table-tests the fan-out rules of the package documentation,
// including the rule for transactions a report does not mention. want is
// "status/level/reasons" per intent; an intent absent from want keeps its
// status (no event).
func TestResolve(t *testing.T) {
	t.Parallel()
	noPmtInf := []txRef{{"A1", ""}, {"A2", ""}, {"B1", ""}, {"B2", ""}}
	for _, tt := range []struct {
		name string
		doc  []byte
		txs  []txRef
		want map[string]string
	}{
		{"group-only ACTC fans out to every intent", pain002("ACTC", ""), batchTxs,
			map[string]string{"A1": "ACTC/group/", "A2": "ACTC/group/", "B1": "ACTC/group/", "B2": "ACTC/group/"}},
		{"group-only RJCT fans out with the group's reasons", pain002("RJCT", "FF01"), batchTxs,
			map[string]string{"A1": "RJCT/group/FF01 info FF01", "A2": "RJCT/group/FF01 info FF01", "B1": "RJCT/group/FF01 info FF01", "B2": "RJCT/group/FF01 info FF01"}},
		{"PART with every transaction listed: each its own", pain002("PART", "",
			pmt{id: "P1", sts: "PART", txs: []ptx{{"A1", "RJCT", "AC01"}, {"A2", "ACSP", ""}}},
			pmt{id: "P2", sts: "ACSP", txs: []ptx{{"B1", "ACSP", ""}, {"B2", "ACSP", ""}}}), batchTxs,
			map[string]string{"A1": "RJCT/tx/AC01 info AC01", "A2": "ACSP/tx/", "B1": "ACSP/tx/", "B2": "ACSP/tx/"}},
		{"unmentioned in a PART block stays; unmentioned in an ACSC block inherits it", pain002("PART", "",
			pmt{id: "P1", sts: "PART", txs: []ptx{{"A1", "RJCT", "AC01"}}},
			pmt{id: "P2", sts: "ACSC"}), batchTxs,
			map[string]string{"A1": "RJCT/tx/AC01 info AC01", "B1": "ACSC/pmtinf/", "B2": "ACSC/pmtinf/"}},
		{"unmentioned in a block without status takes a covering group status", pain002("ACSC", "",
			pmt{id: "P1", txs: []ptx{{"A1", "ACSC", ""}}}), batchTxs,
			map[string]string{"A1": "ACSC/tx/", "A2": "ACSC/group/", "B1": "ACSC/group/", "B2": "ACSC/group/"}},
		{"a rejected block fans out; an unlisted block under PART stays", pain002("PART", "",
			pmt{id: "P1", sts: "RJCT", rsn: "AM04"}), batchTxs,
			map[string]string{"A1": "RJCT/pmtinf/AM04 info AM04", "A2": "RJCT/pmtinf/AM04 info AM04"}},
		{"a line without TxSts inherits PmtInfSts and its reasons", pain002("ACSP", "",
			pmt{id: "P1", sts: "ACSP", rsn: "NARR", txs: []ptx{{"A1", "", ""}}}), batchTxs,
			map[string]string{"A1": "ACSP/tx/NARR info NARR", "A2": "ACSP/pmtinf/NARR info NARR", "B1": "ACSP/group/", "B2": "ACSP/group/"}},
		{"a final line beats a later non-final one; unknown ids are ignored", pain002("PART", "",
			pmt{id: "P1", sts: "PART", txs: []ptx{{"A1", "RJCT", "AC04"}, {"A1", "ACSP", ""}, {"ZZ9", "ACSC", ""}}}), batchTxs,
			map[string]string{"A1": "RJCT/tx/AC04 info AC04"}},
		{"PART group, nothing listed: every intent stays", pain002("PART", ""), batchTxs,
			map[string]string{}},
		{"PmtInfIds unknown (pain.001 unreadable): block statuses do not fan out", pain002("PART", "",
			pmt{id: "P1", sts: "PART", txs: []ptx{{"A1", "RJCT", "AC01"}}},
			pmt{id: "P2", sts: "ACSC"}), noPmtInf,
			map[string]string{"A1": "RJCT/tx/AC01 info AC01"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			validateXSD(t, tt.doc)
			rep, err := readReport(tt.doc)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for id, r := range resolve(rep, tt.txs) {
				got[id] = fmt.Sprintf("%s/%s/%s", r.Status, r.Level, reasonSummary(r.Reasons))
			}
			if !maps.Equal(got, tt.want) {
				keys := slices.Sorted(maps.Keys(got))
				t.Errorf("resolve(%s) = %v (intents %v), want %v", tt.name, got, keys, tt.want)
			}
		})
	}
}

func TestReadReportRefusesIncomplete(t *testing.T) {
	t.Parallel()
	doc := pain002("ACSC", "", pmt{id: "P1", txs: []ptx{{"A1", "ACSC", ""}}})
	if _, err := readReport(doc[:len(doc)-40]); err == nil {
		t.Error("readReport(truncated) = nil error, want one")
	}
}

// TestReportFromChannelRecords: the report built from the records a
// channel hands on (bank.CheckStatusDocument) is the one decoded from the
// bytes, and building it leaves the records as they were, long reason
// codes (which cleanReasons moves) included.
func TestReportFromChannelRecords(t *testing.T) {
	t.Parallel()
	long := pain002("PART", "", pmt{id: "P1", sts: "PART", txs: []ptx{{"A1", "RJCT", "TOOLONGCODE"}, {"A2", "ACSC", ""}}},
		pmt{id: "P2", sts: "RJCT", rsn: "AC04"})
	docs := [][]byte{long, pain002("ACTC", ""), pain002("RJCT", "FF01", pmt{id: "P1", txs: []ptx{{"A1", "", ""}}})}
	for i, doc := range docs {
		_, _, records, err := bank.CheckStatusDocument(doc)
		if err != nil || records == nil {
			t.Fatalf("doc %d: %v, %d records", i, err, len(records))
		}
		before := fmt.Sprintf("%+v", deref(records))
		fromBytes, err := readReport(doc)
		if err != nil {
			t.Fatal(err)
		}
		fromRecords, err := reportOf(bank.Document{Data: []byte("not read"), Statuses: records})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fromBytes, fromRecords) {
			t.Errorf("doc %d: from records %+v, from bytes %+v", i, fromRecords, fromBytes)
		}
		if after := fmt.Sprintf("%+v", deref(records)); after != before {
			t.Errorf("doc %d: the channel's records changed:\nbefore %s\nafter  %s", i, before, after)
		}
	}
}

func deref(rs []*xmlcodec.Status) []xmlcodec.Status {
	out := make([]xmlcodec.Status, len(rs))
	for i, r := range rs {
		out[i] = *r
	}
	return out
}
