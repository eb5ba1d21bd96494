package xmlcodec

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestPain002Streaming(t *testing.T) {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"><CstmrPmtStsRpt>
<GrpHdr><MsgId>STS1</MsgId><CreDtTm>2026-11-21T10:00:00</CreDtTm></GrpHdr>
<OrgnlGrpInfAndSts><OrgnlMsgId>ISOG1</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.03</OrgnlMsgNmId><GrpSts>PART</GrpSts></OrgnlGrpInfAndSts>
<OrgnlPmtInfAndSts><OrgnlPmtInfId>P1</OrgnlPmtInfId><PmtInfSts>RJCT</PmtInfSts>
<StsRsnInf><Rsn><Cd>AC04</Cd></Rsn><AddtlInf>closed</AddtlInf><AddtlInf>account</AddtlInf></StsRsnInf></OrgnlPmtInfAndSts>
<OrgnlPmtInfAndSts><OrgnlPmtInfId>P2</OrgnlPmtInfId><PmtInfSts>PART</PmtInfSts><StsRsnInf><Rsn><Prtry>TRE17</Prtry></Rsn></StsRsnInf>
`)
	for i := range 1000 {
		sts := "ACCP"
		rsn := ""
		if i%100 == 0 {
			sts, rsn = "RJCT", `<StsRsnInf><Rsn><Cd>AM04</Cd></Rsn></StsRsnInf>`
		}
		if i%250 == 1 {
			sts = ""
		}
		fmt.Fprintf(&b, `<TxInfAndSts><StsId>S%d</StsId><OrgnlEndToEndId>E%d</OrgnlEndToEndId>`, i, i)
		if sts != "" {
			fmt.Fprintf(&b, `<TxSts>%s</TxSts>`, sts)
		}
		fmt.Fprintf(&b, `%s<OrgnlTxRef><Amt><InstdAmt Ccy="EUR">%d.05</InstdAmt></Amt></OrgnlTxRef></TxInfAndSts>`+"\n", rsn, i+1)
	}
	b.WriteString(`</OrgnlPmtInfAndSts></CstmrPmtStsRpt></Document>`)
	info, recs, err := DecodeAll(strings.NewReader(b.String()), Limits{MaxElements: 50})
	if err != nil {
		t.Fatal(err)
	}
	if info.Message != "pain.002.001.03" || len(recs) != 1001 {
		t.Fatalf("%s: %d records, want 1001", info.Message, len(recs))
	}
	p1 := recs[0].(*Status)
	if p1.PaymentInfoID != "P1" || p1.EndToEndID != "" || p1.Status != "RJCT" || len(p1.Reasons) != 1 ||
		p1.Reasons[0] != (Reason{Code: "AC04", Info: "closed account"}) || p1.GroupStatus != "PART" || p1.OriginalMsgID != "ISOG1" {
		t.Errorf("payment-information line = %+v", p1)
	}
	var rjct, inherited int
	for _, r := range recs[1:] {
		s := r.(*Status)
		if s.PaymentInfoID != "P2" || len(s.PaymentInfoReasons) != 1 || s.PaymentInfoReasons[0].Proprietary != "TRE17" {
			t.Fatalf("tx line = %+v", s)
		}
		if s.Status == "RJCT" {
			rjct++
			if len(s.Reasons) != 1 || s.Reasons[0].Code != "AM04" {
				t.Errorf("rejected line reasons = %+v", s.Reasons)
			}
		}
		if s.Status == "PART" {
			inherited++
		}
	}
	if rjct != 10 || inherited != 4 {
		t.Errorf("RJCT %d (want 10), inherited PmtInfSts %d (want 4)", rjct, inherited)
	}
	if s := recs[5].(*Status); s.Amount != "5.05" || s.Currency != "EUR" || s.StatusID != "S4" {
		t.Errorf("line 5 = %+v", s)
	}
}

// TestMessageThenNext: looking at a document with Message before decoding
// it must not change what Next returns.
func TestMessageThenNext(t *testing.T) {
	doc := []byte(`<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><GrpHdr><MsgId>M1</MsgId><CreDtTm>2026-11-21T10:00:00</CreDtTm></GrpHdr>
<Stmt><Id>S1</Id><CreDtTm>2026-11-21T10:00:00</CreDtTm><Acct><Id><IBAN>LV84TREL2190456001000</IBAN></Id></Acct>
<Ntry><Amt Ccy="EUR">5.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2026-11-21</Dt></BookgDt><ValDt><Dt>2026-11-21</Dt></ValDt></Ntry>
</Stmt></BkToCstmrStmt></Document>`)
	count := func(peek bool) int {
		d := NewDecoder(bytes.NewReader(doc), Limits{})
		if peek {
			info, err := d.Message()
			if err != nil || info.Message != "camt.053.001.02" {
				t.Fatalf("Message() = %+v, %v", info, err)
			}
		}
		n := 0
		for {
			_, err := d.Next()
			if err == io.EOF {
				return n
			}
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			n++
		}
	}
	if a, b := count(false), count(true); a != b || a == 0 {
		t.Errorf("records without Message first = %d, with = %d; want the same, non-zero", a, b)
	}
}
