package statuspoller

import (
	"strings"
	"testing"
)

// TestReadReportKeepsTheEventSchema: a group status that is not a code,
// and reason codes and proprietary reasons longer than their ISO types,
// must not reach pay.status (status and group_status ^[A-Z]{4}$, reason
// code ≤ 4, proprietary ≤ 35 characters). Nothing the bank said is lost:
// an over-long reason moves to the reason's additional information.
func TestReadReportKeepsTheEventSchema(t *testing.T) {
	long := strings.Repeat("P", 40)
	doc := pain002("zz9", "NOTACODE1", pmt{id: "P1", txs: []ptx{{e2e: "A1", sts: "ZZZZ"}}})
	doc = []byte(strings.Replace(string(doc), "<TxSts>ZZZZ</TxSts>",
		"<TxSts>ZZZZ</TxSts><StsRsnInf><Rsn><Prtry>"+long+"</Prtry></Rsn><AddtlInf>kept</AddtlInf></StsRsnInf>", 1))
	rep, err := readReport(doc)
	if err != nil {
		t.Fatal(err)
	}
	if rep.GroupStatus != "" {
		t.Errorf("group status = %q, want none for a malformed code", rep.GroupStatus)
	}
	if len(rep.GroupReasons) != 1 || rep.GroupReasons[0].Code != "" || !strings.HasPrefix(rep.GroupReasons[0].Info, "reason code NOTACODE1; info NOTACODE1") {
		t.Errorf("group reasons = %+v, want the over-long code moved to the info", rep.GroupReasons)
	}
	res := resolve(rep, []txRef{{"A1", "P1"}})
	r, ok := res["A1"]
	if !ok || r.Status != "ZZZZ" {
		t.Fatalf("A1 resolves to %+v, %v; want ZZZZ", r, ok)
	}
	ev := eventReasons(r.Reasons)
	if len(ev) != 1 || ev[0].Proprietary != "" || !strings.Contains(strings.Join(ev[0].Info, ""), "proprietary reason "+long+"; kept") {
		t.Errorf("event reasons = %+v, want the over-long proprietary reason moved to the info", ev)
	}
}
