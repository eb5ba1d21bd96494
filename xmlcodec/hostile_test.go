package xmlcodec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
)

const camtHead = `<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>
<GrpHdr><MsgId>M1</MsgId><CreDtTm>2026-11-21T10:00:00</CreDtTm></GrpHdr>
<Stmt><Id>S1</Id><CreDtTm>2026-11-21T10:00:00</CreDtTm><Acct><Id><IBAN>LV84TREL2190456001000</IBAN></Id></Acct>
`
const camtTail = "</Stmt></BkToCstmrStmt></Document>\n"

func ntry(amt, cdtDbt string) string {
	s := "<Ntry>" + amt
	if cdtDbt != "" {
		s += "<CdtDbtInd>" + cdtDbt + "</CdtDbtInd>"
	}
	return s + "<Sts>BOOK</Sts><BookgDt><Dt>2026-11-21</Dt></BookgDt></Ntry>\n"
}

func camtDoc(entries ...string) string { return camtHead + strings.Join(entries, "") + camtTail }

var goodNtry = ntry(`<Amt Ccy="EUR">10.00</Amt>`, "CRDT")

// TestHostile is must-show 5: each hostile or broken input returns its
// documented error (or, for a left-out element, its documented warning),
// and none panics.
func TestHostile(t *testing.T) {
	deep := strings.Repeat("<a>", 100000) + strings.Repeat("</a>", 100000)
	tests := []struct {
		name    string
		in      string
		lim     Limits
		wantErr error  // nil: decodes
		warning string // with wantErr nil: an entry carries this warning
	}{
		{"doctype", `<?xml version="1.0"?><!DOCTYPE Document><Document/>`, Limits{}, ErrDoctype, ""},
		{"entity bomb (billion laughs)", `<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><GrpHdr><MsgId>&lol3;</MsgId></GrpHdr></BkToCstmrStmt></Document>`, Limits{}, ErrDoctype, ""},
		{"external entity (XXE)", `<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><Document>&x;</Document>`, Limits{}, ErrDoctype, ""},
		{"doctype after root start", camtHead + `<!DOCTYPE x>` + camtTail, Limits{}, ErrDoctype, ""},
		{"100k-deep nesting", `<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><Stmt>` + deep + `</Stmt></BkToCstmrStmt></Document>`, Limits{}, ErrTooDeep, ""},
		{"deep inside an entry", camtDoc("<Ntry>" + strings.Repeat("<x>", 70) + strings.Repeat("</x>", 70) + "</Ntry>"), Limits{}, ErrTooDeep, ""},
		{"truncated file", camtDoc(goodNtry, goodNtry)[:len(camtDoc(goodNtry, goodNtry))-60], Limits{}, ErrSyntax, ""},
		{"empty input", "", Limits{}, ErrSyntax, ""},
		{"not XML", `{"kind":"entry"}`, Limits{}, ErrSyntax, ""},
		{"mismatched end tag", camtHead + "<Ntry><Amt Ccy=\"EUR\">1</Ntry></Amt>" + camtTail, Limits{}, ErrSyntax, ""},
		{"undefined entity", camtDoc(`<Ntry><Amt Ccy="EUR">1&bogus;</Amt></Ntry>`), Limits{}, ErrSyntax, ""},
		{"invalid UTF-8", camtDoc("<Ntry><AddtlNtryInf>\xff\xfe</AddtlNtryInf></Ntry>"), Limits{}, ErrSyntax, ""},
		{"unsupported encoding", `<?xml version="1.0" encoding="EBCDIC-CP-US"?><Document/>`, Limits{}, ErrEncoding, ""},
		{"second root element", camtDoc(goodNtry) + "<Document/>", Limits{}, ErrSyntax, ""},
		{"wrong namespace", strings.Replace(camtDoc(goodNtry), "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02", "urn:example:evil", 1), Limits{}, ErrUnsupportedMessage, ""},
		{"namespace and root disagree", strings.Replace(camtDoc(goodNtry), "camt.053.001.02", "pain.002.001.03", 1), Limits{}, ErrUnsupportedMessage, ""},
		{"root not Document", `<BkToCstmrStmt/>`, Limits{}, ErrUnsupportedMessage, ""},
		{"unknown business element", `<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><Foo/></Document>`, Limits{}, ErrUnsupportedMessage, ""},
		{"pain.001 to the decoder", `<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"><CstmrCdtTrfInitn/></Document>`, Limits{}, ErrUnsupportedMessage, ""},
		{"amount 1e3", camtDoc(ntry(`<Amt Ccy="EUR">1e3</Amt>`, "CRDT")), Limits{}, ErrInvalidAmount, ""},
		{"negative amount", camtDoc(ntry(`<Amt Ccy="EUR">-5.00</Amt>`, "DBIT")), Limits{}, ErrInvalidAmount, ""},
		{"amount with comma", camtDoc(ntry(`<Amt Ccy="EUR">1,00</Amt>`, "DBIT")), Limits{}, ErrInvalidAmount, ""},
		{"amount NaN", camtDoc(ntry(`<Amt Ccy="EUR">NaN</Amt>`, "DBIT")), Limits{}, ErrInvalidAmount, ""},
		{"empty amount", camtDoc(ntry(`<Amt Ccy="EUR"></Amt>`, "DBIT")), Limits{}, ErrInvalidAmount, ""},
		{"missing currency", camtDoc(ntry(`<Amt>5.00</Amt>`, "DBIT")), Limits{}, ErrMissingElement, ""},
		{"invalid CdtDbtInd", camtDoc(ntry(`<Amt Ccy="EUR">5.00</Amt>`, "CRED")), Limits{}, ErrInvalidValue, ""},
		{"bad amount in TxDtls", camtDoc(`<Ntry><Amt Ccy="EUR">5</Amt><CdtDbtInd>CRDT</CdtDbtInd><NtryDtls><TxDtls><Amt Ccy="EUR">5.0.0</Amt></TxDtls></NtryDtls></Ntry>`), Limits{}, ErrInvalidAmount, ""},
		{"missing CdtDbtInd (kept, warned)", camtDoc(ntry(`<Amt Ccy="EUR">5.00</Amt>`, "")), Limits{}, nil, "CdtDbtInd: missing"},
		{"missing Amt (kept, warned)", camtDoc(ntry(``, "CRDT")), Limits{}, nil, "Amt: missing"},
		{"missing Sts (kept, warned)", camtDoc(`<Ntry><Amt Ccy="EUR">5</Amt><CdtDbtInd>CRDT</CdtDbtInd></Ntry>`), Limits{}, nil, "Sts: missing"},
		{"input over MaxBytes", camtDoc(strings.Repeat(goodNtry, 100)), Limits{MaxBytes: 4096}, ErrTooLarge, ""},
		{"64 MB-class attribute", camtHead + `<Ntry x="` + strings.Repeat("A", 3<<20) + `"/>` + camtTail, Limits{}, ErrTokenTooLarge, ""},
		{"huge text node", camtHead + `<Ntry><AddtlNtryInf>` + strings.Repeat("B", 3<<20) + `</AddtlNtryInf></Ntry>` + camtTail, Limits{}, ErrTokenTooLarge, ""},
		{"a million attributes", camtHead + `<Ntry ` + attrs(1000) + `/>` + camtTail, Limits{}, ErrTooManyAttrs, ""},
		{"too many elements in one entry", camtDoc("<Ntry>" + strings.Repeat("<AddtlNtryInf>x</AddtlNtryInf>", 500) + "</Ntry>"), Limits{MaxElements: 100}, ErrTooManyElements, ""},
		{"batch entry over MaxTxPerEntry", camtDoc("<Ntry><Amt Ccy=\"EUR\">2</Amt><CdtDbtInd>CRDT</CdtDbtInd><NtryDtls>" +
			strings.Repeat("<TxDtls><Amt Ccy=\"EUR\">1</Amt></TxDtls>", 3) + "</NtryDtls></Ntry>"), Limits{MaxTxPerEntry: 2}, ErrTooManyTransactions, ""},
		{"batch entry within limits", camtDoc("<Ntry><Amt Ccy=\"EUR\">2</Amt><CdtDbtInd>CRDT</CdtDbtInd><NtryDtls><Btch><NbOfTxs>3</NbOfTxs></Btch>" +
			strings.Repeat("<TxDtls><Refs><EndToEndId>E</EndToEndId></Refs><Amt Ccy=\"EUR\">1</Amt></TxDtls>", 3) + "</NtryDtls></Ntry>"), Limits{MaxElements: 10}, nil, ""},
		{"comments and PIs are harmless", camtDoc("<!-- c --><?pi x?>" + goodNtry), Limits{}, nil, ""},
		{"UTF-8 byte-order mark", "\ufeff" + camtDoc(goodNtry), Limits{}, nil, ""},
		{"BOM then garbage", "\ufeff\ufeff" + camtDoc(goodNtry), Limits{}, ErrSyntax, ""},
		{"prefixed namespace", regexp.MustCompile(`<(/?)([A-Z])`).ReplaceAllString(strings.Replace(camtDoc(goodNtry), "xmlns=", "xmlns:s=", 1), "<${1}s:$2"), Limits{}, nil, ""},
		{"business element outside the namespace", strings.NewReplacer("<Document xmlns=", "<s:Document xmlns:s=", "</Document>", "</s:Document>").Replace(camtDoc(goodNtry)), Limits{}, ErrUnsupportedMessage, ""},
		{"CDATA amount", camtDoc(ntry(`<Amt Ccy="EUR"><![CDATA[7.25]]></Amt>`, "CRDT")), Limits{}, nil, ""},
	}
	if len(tests) < 20 {
		t.Fatalf("only %d hostile inputs", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, recs, err := DecodeAll(strings.NewReader(tt.in), tt.lim)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("DecodeAll(%s) = %v, want success", tt.name, err)
				}
				if tt.warning != "" && !hasWarning(recs, tt.warning) {
					t.Errorf("DecodeAll(%s): no entry warns %q", tt.name, tt.warning)
				}
				return
			}
			var de *DecodeError
			if !errors.Is(err, tt.wantErr) || !errors.As(err, &de) {
				t.Fatalf("DecodeAll(%s) = %v, want *DecodeError wrapping %v", tt.name, err, tt.wantErr)
			}
			if de.Path == "" {
				t.Errorf("DecodeAll(%s): error %v does not say where", tt.name, err)
			}
		})
	}
}

func attrs(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `a%d="1" `, i)
	}
	return b.String()
}

func hasWarning(recs []Record, w string) bool {
	for _, r := range recs {
		if e, ok := r.(*Entry); ok {
			for _, x := range e.Warnings {
				if x == w {
					return true
				}
			}
		}
	}
	return false
}

// TestRecoverable: a bad entry is reported and skipped; the next one still
// decodes; a structural error ends decoding.
func TestRecoverable(t *testing.T) {
	doc := camtDoc(goodNtry, ntry(`<Amt Ccy="EUR">1e3</Amt>`, "CRDT"), ntry(`<Amt Ccy="EUR">3.00</Amt>`, "DBIT"))
	d := NewDecoder(strings.NewReader(doc), Limits{})
	var entries, errs int
	for {
		r, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if !Recoverable(err) {
				t.Fatalf("Next = %v, want recoverable", err)
			}
			if want := "BkToCstmrStmt/Stmt[1]/Ntry[2]/Amt"; !strings.Contains(err.Error(), want) {
				t.Errorf("error %v does not name %s", err, want)
			}
			errs++
			continue
		}
		if _, ok := r.(*Entry); ok {
			entries++
		}
	}
	if entries != 2 || errs != 1 {
		t.Errorf("entries %d, errors %d; want 2 and 1", entries, errs)
	}
	d = NewDecoder(strings.NewReader(`<Document`), Limits{})
	_, err := d.Next()
	if Recoverable(err) || err == nil {
		t.Errorf("syntax error %v reported as recoverable", err)
	}
	if _, err2 := d.Next(); err2 != err {
		t.Errorf("second Next after a final error = %v, want the same %v", err2, err)
	}
}

func TestLatin1AndNoNamespace(t *testing.T) {
	doc := []byte(`<?xml version="1.0" encoding="ISO-8859-1"?><Document><CstmrPmtStsRpt><GrpHdr><MsgId>X</MsgId></GrpHdr>` +
		`<OrgnlGrpInfAndSts><OrgnlMsgId>O1</OrgnlMsgId><GrpSts>RJCT</GrpSts><StsRsnInf><Rsn><Prtry>NAT1</Prtry></Rsn><AddtlInf>M` + "\xfc" + `ller</AddtlInf></StsRsnInf></OrgnlGrpInfAndSts></CstmrPmtStsRpt></Document>`)
	info, recs, err := DecodeAll(bytes.NewReader(doc), Limits{})
	if err != nil || len(recs) != 1 {
		t.Fatalf("DecodeAll = %v, %d records", err, len(recs))
	}
	s := recs[0].(*Status)
	if info.Family != "pain.002" || s.Status != "RJCT" || s.Reasons[0].Proprietary != "NAT1" || s.Reasons[0].Info != "Müller" {
		t.Errorf("got %+v %+v", info, s)
	}
}

func TestSwissNamespace(t *testing.T) {
	doc := `<Document xmlns="http://www.six-interbank-clearing.com/de/pain.002.001.03.ch.02.xsd"><CstmrPmtStsRpt>
<GrpHdr><MsgId>CH1</MsgId></GrpHdr><OrgnlGrpInfAndSts><OrgnlMsgId>M</OrgnlMsgId><OrgnlMsgNmId>pain.001</OrgnlMsgNmId></OrgnlGrpInfAndSts>
<OrgnlPmtInfAndSts><OrgnlPmtInfId>P1</OrgnlPmtInfId><TxInfAndSts><OrgnlEndToEndId>E1</OrgnlEndToEndId><TxSts>ACCP</TxSts></TxInfAndSts>
<TxInfAndSts><OrgnlEndToEndId>E2</OrgnlEndToEndId><TxSts>XYZQ</TxSts><StsRsnInf><Rsn><Cd>NARR</Cd></Rsn></StsRsnInf></TxInfAndSts></OrgnlPmtInfAndSts>
</CstmrPmtStsRpt></Document>`
	info, recs, err := DecodeAll(strings.NewReader(doc), Limits{})
	if err != nil || len(recs) != 2 {
		t.Fatalf("DecodeAll = %v, %d records", err, len(recs))
	}
	if info.Message != "pain.002.001.03" || recs[1].(*Status).Status != "XYZQ" || recs[1].(*Status).PaymentInfoID != "P1" {
		t.Errorf("got %+v %+v", info, recs[1])
	}
}

func TestMaxBytesExact(t *testing.T) {
	doc := camtDoc(goodNtry)
	if _, _, err := DecodeAll(strings.NewReader(doc), Limits{MaxBytes: int64(len(doc))}); err != nil {
		t.Errorf("input of exactly MaxBytes: %v", err)
	}
	if _, _, err := DecodeAll(strings.NewReader(doc+" "), Limits{MaxBytes: int64(len(doc))}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("input of MaxBytes+1: %v, want ErrTooLarge", err)
	}
}
