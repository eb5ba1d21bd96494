package xmlcodec

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// sentinels are the errors a decoder may wrap in a *DecodeError.
var sentinels = []error{ErrUnsupportedMessage, ErrDoctype, ErrTooDeep, ErrTooLarge, ErrTokenTooLarge, ErrTooManyAttrs,
	ErrTooManyElements, ErrTooManyTransactions, ErrSyntax, ErrMissingElement, ErrInvalidAmount, ErrInvalidValue, ErrEncoding}

// checkTypedErr is the fuzz property: every error is a *DecodeError
// wrapping one of the codec's sentinels.
func checkTypedErr(t *testing.T, err error) {
	t.Helper()
	var de *DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T) is not a *DecodeError", err, err)
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("error %v wraps no codec sentinel", err)
}

// maxSeed is the largest input a fuzz target looks at (STYLE.md: skip
// inputs over 1 MiB).
const maxSeed = 1 << 20

// addSeeds adds the given documents, the samples whose name starts with
// prefix ("" for all of them) and the golden files whose name contains it.
func addSeeds(f *testing.F, prefix string, docs ...string) {
	for _, d := range docs {
		f.Add([]byte(d))
	}
	addSampleSeeds(f, prefix)
	golden, _ := filepath.Glob(filepath.Join("testdata", "*.golden.xml"))
	for _, p := range golden {
		if data, err := os.ReadFile(p); err == nil && strings.Contains(filepath.Base(p), prefix) && len(data) <= maxSeed {
			f.Add(data)
		}
	}
}

// addSampleSeeds adds every file of ../shared/iso20022/samples (relative to
// the repository root) whose name starts with prefix and ends in .xml,
// skipping files over 1 MiB. A missing folder is skipped silently on a
// user's machine and fails in CI, like the sample tests.
func addSampleSeeds(f *testing.F, prefix string) int {
	f.Helper()
	dir := filepath.Join(repoRoot(f), "..", "shared", "iso20022", "samples")
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") != "" {
			f.Fatalf("samples folder %s required in CI: %v", dir, err)
		}
		return 0
	}
	files, err := filepath.Glob(filepath.Join(dir, prefix+"*.xml"))
	if err != nil {
		f.Fatal(err)
	}
	n := 0
	for _, p := range files {
		if st, err := os.Stat(p); err != nil || st.Size() > maxSeed {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		n++
	}
	if n == 0 && os.Getenv("CI") != "" {
		f.Fatalf("no %s*.xml sample in %s", prefix, dir)
	}
	return n
}

// fuzzDecode runs the streaming decoder to the end and checks the
// property; a recoverable error must let decoding continue.
func fuzzDecode(t *testing.T, data []byte) {
	if len(data) > maxSeed {
		t.Skip()
	}
	d := NewDecoder(bytes.NewReader(data), Limits{MaxDepth: 32, MaxElements: 5000})
	for i := 0; ; i++ {
		if i > len(data)+10 {
			t.Fatalf("decoder returned more records than input bytes: not terminating")
		}
		rec, err := d.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			checkTypedErr(t, err)
			if Recoverable(err) {
				continue
			}
			return
		}
		switch r := rec.(type) {
		case *Entry:
			if r.Amount != "" && !validDecimal(r.Amount) {
				t.Fatalf("entry amount %q is not a decimal", r.Amount)
			}
			for _, tx := range r.Transactions {
				if tx.Amount != "" && !validDecimal(tx.Amount) {
					t.Fatalf("transaction amount %q is not a decimal", tx.Amount)
				}
			}
			if r.CreditDebit != "" && r.CreditDebit != "CRDT" && r.CreditDebit != "DBIT" {
				t.Fatalf("credit_debit %q", r.CreditDebit)
			}
		case *Balance:
			if r.Amount != "" && !validDecimal(r.Amount) {
				t.Fatalf("balance amount %q is not a decimal", r.Amount)
			}
		case *Status, *Report:
		default:
			t.Fatalf("unexpected record %T", rec)
		}
	}
}

func FuzzDecodeCamt(f *testing.F) {
	addSeeds(f, "camt05", camtDoc(goodNtry), camtDoc(ntry(`<Amt Ccy="EUR">1e3</Amt>`, "CRDT"), goodNtry),
		camtDoc(`<Ntry><Amt Ccy="EUR">5</Amt><NtryDtls><TxDtls><Amt Ccy="EUR">5</Amt><CdtDbtInd>DBIT</CdtDbtInd></TxDtls></NtryDtls></Ntry>`))
	f.Fuzz(fuzzDecode)
}

func FuzzDecodePain002(f *testing.F) {
	addSeeds(f, "pain002", `<Document><CstmrPmtStsRpt><GrpHdr><MsgId>X</MsgId></GrpHdr><OrgnlGrpInfAndSts><OrgnlMsgId>O</OrgnlMsgId><GrpSts>RJCT</GrpSts></OrgnlGrpInfAndSts></CstmrPmtStsRpt></Document>`)
	f.Fuzz(fuzzDecode)
}

func FuzzReadPain001(f *testing.F) {
	addSeeds(f, "pain001")
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxSeed {
			t.Skip()
		}
		doc, err := ReadPain001(bytes.NewReader(data), Limits{MaxDepth: 32, MaxElements: 5000})
		// The block reader of CdtTrfTxInf reads what the etree reference does.
		blk, dom, be, de := readBoth(data, Limits{MaxDepth: 32, MaxElements: 5000})
		if errText(be) != errText(de) || !reflect.DeepEqual(blk, dom) {
			t.Fatalf("block and etree readers differ:\nblock %+v, %v\netree %+v, %v", blk, be, dom, de)
		}
		if err != nil {
			checkTypedErr(t, err)
			return
		}
		if doc.Info.Family != "pain.001" {
			t.Fatalf("ReadPain001 accepted a %q document", doc.Info.Family)
		}
		_ = doc.Check()
		for _, p := range doc.Payments {
			if !validDecimal(p.Amount) {
				t.Fatalf("amount %q is not a decimal", p.Amount)
			}
		}
	})
}

// FuzzEncodePain001 checks the encoder side: whatever the payment fields,
// either validation refuses them with field errors, or the output reads
// back with the same ids and amounts and an exact CtrlSum.
func FuzzEncodePain001(f *testing.F) {
	p := variedPayments(1)[0]
	f.Add(p.ID, p.Creditor.Name, p.Creditor.IBAN, p.Amount, "Rēķins 1", "RF18INV1", "SUPP", "2231", false)
	f.Add("id<&>", "Name & Co \"quoted\"", "DE89370400440532013000", "0.01", "]]>", "", "Proprietary purpose", "", true)
	profiles := map[bool]*Profile{false: mustProfile(f, "ekase"), true: mustProfile(f, "iso2019")}
	f.Fuzz(func(t *testing.T, id, name, iban, amount, rmt, ref, purpose, budget string, iso bool) {
		pay := variedPayments(1)[0]
		pay.ID, pay.Creditor.Name, pay.Creditor.IBAN, pay.Amount = id, name, iban, amount
		pay.Remittance, pay.CreditorReference, pay.Purpose, pay.BudgetCode = rmt, ref, purpose, budget
		second := variedPayments(2)[1]
		res, err := profiles[iso].EncodePain001(Pain001Request{MsgID: "FUZZ", Now: fixedClock, Payments: []Payment{pay, second}})
		if err != nil {
			var ve ValidationErrors
			if !errors.As(err, &ve) || len(ve) == 0 {
				t.Fatalf("encode error %v is not ValidationErrors", err)
			}
			return
		}
		doc, err := ReadPain001(bytes.NewReader(res.Files[0].Data), Limits{})
		if err != nil {
			t.Fatalf("encoder output does not read back: %v\n%s", err, res.Files[0].Data)
		}
		if err := doc.Check(); err != nil {
			t.Fatal(err)
		}
		if len(doc.Payments) != 2 || doc.Payments[0].ID != id || !sameDecimal(doc.Payments[0].Amount, amount) ||
			doc.Payments[0].Creditor.Name != strings.TrimSpace(name) && doc.Payments[0].Creditor.Name != name {
			t.Fatalf("read back %+v, want id %q amount %q name %q", doc.Payments[0], id, amount, name)
		}
	})
}

// familyRE is what MessageInfo.Message may be: a family, or a family with
// its version as the namespace names it.
var familyRE = regexp.MustCompile(`^(pain\.00[12]|camt\.05[234]|camt\.060)(\.\d{3}\.\d{2})?$`)

// FuzzMessage: Message identifies any document or refuses it with a
// *DecodeError; it is idempotent; what it reports agrees with the root
// element; and Next refuses the families it does not decode (pain.001,
// camt.060) with ErrUnsupportedMessage.
func FuzzMessage(f *testing.F) {
	addSeeds(f, "", camtDoc(goodNtry),
		`<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.060.001.05"><AcctRptgReq><GrpHdr><MsgId>R</MsgId></GrpHdr></AcctRptgReq></Document>`,
		`<p:Document xmlns:p="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"><p:CstmrPmtStsRpt/></p:Document>`,
		`<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><CstmrPmtStsRpt/></Document>`)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxSeed {
			t.Skip()
		}
		d := NewDecoder(bytes.NewReader(data), Limits{MaxDepth: 32, MaxElements: 5000})
		info, err := d.Message()
		info2, err2 := d.Message()
		if info != info2 || err != err2 {
			t.Fatalf("Message() = %+v, %v; then %+v, %v", info, err, info2, err2)
		}
		if err != nil {
			checkTypedErr(t, err)
			if _, err := d.Next(); err == nil {
				t.Fatal("Next succeeded after Message failed")
			}
			return
		}
		if !familyRE.MatchString(info.Message) || !strings.HasPrefix(info.Message, info.Family) || rootFamily[info.Root] != info.Family {
			t.Fatalf("Message() = %+v: inconsistent", info)
		}
		if info.Family == "pain.001" || info.Family == "camt.060" {
			_, err := d.Next()
			checkTypedErr(t, err)
			if !errors.Is(err, ErrUnsupportedMessage) {
				t.Fatalf("Next on a %s = %v, want ErrUnsupportedMessage", info.Family, err)
			}
		}
	})
}

// FuzzDecodeAll: DecodeAll returns what a streaming Decoder returns up to
// the first error, with the same error and MessageInfo, and succeeds only
// on a document it identified.
func FuzzDecodeAll(f *testing.F) {
	addSeeds(f, "camt05", camtDoc(goodNtry, ntry(`<Amt Ccy="EUR">x</Amt>`, "CRDT"), goodNtry))
	addSeeds(f, "pain002")
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxSeed {
			t.Skip()
		}
		lim := Limits{MaxDepth: 32, MaxElements: 5000}
		info, recs, err := DecodeAll(bytes.NewReader(data), lim)
		d := NewDecoder(bytes.NewReader(data), lim)
		var n int
		var serr error
		for {
			_, e := d.Next()
			if errors.Is(e, io.EOF) {
				break
			}
			if e != nil {
				serr = e
				break
			}
			n++
		}
		sinfo, _ := d.Message()
		if n != len(recs) || (err == nil) != (serr == nil) || err != nil && err.Error() != serr.Error() || info != sinfo {
			t.Fatalf("DecodeAll = %+v, %d records, %v; streaming = %+v, %d records, %v", info, len(recs), err, sinfo, n, serr)
		}
		if err != nil {
			checkTypedErr(t, err)
		} else if info.Family == "" {
			t.Fatalf("DecodeAll succeeded on a document it did not identify: %+v", info)
		}
	})
}

// FuzzParseProfile: a profile file is refused with an error, or it
// validates and encodes valid payments into a pain.001 that reads back
// with an exact CtrlSum (or refuses them with ValidationErrors) and a
// camt.060 the decoder recognises.
func FuzzParseProfile(f *testing.F) {
	for _, name := range ProfileNames() {
		data, err := profileFS.ReadFile("profiles/" + name + ".yaml")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		f.Add([]byte("base: " + name + "\nname: custom\nlimits: {max_tx_per_file: 1, max_tx_per_pmtinf: 1}\n"))
	}
	f.Add([]byte("base: ekase\nname: x\naddress_mode: lines\ncharset: {allowed: sepa, on_invalid: transliterate}\ngroup_by: [purpose, budget_code]\ncurrencies: [EUR]\n"))
	f.Add([]byte("base: iso2019\nname: y\nbudget_code: {placement: purpose_proprietary, pattern: '^[0-9]{4}$'}\ndebtor: {iban_pattern: '^LV', bic: TRELLV22}\nrequired: [remittance]\n"))
	f.Add([]byte("a: &a [*a]\n"))
	pays := variedPayments(3)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			t.Skip()
		}
		p, err := ParseProfile(data)
		if err != nil {
			if !strings.Contains(err.Error(), "profile") {
				t.Fatalf("ParseProfile error %q does not name the profile", err)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("ParseProfile accepted a profile that does not validate: %v", err)
		}
		res, err := p.EncodePain001(Pain001Request{MsgID: "FUZZ", Now: fixedClock, Payments: pays})
		if err != nil {
			var ve ValidationErrors
			if !errors.As(err, &ve) || len(ve) == 0 {
				t.Fatalf("EncodePain001 error %v is not ValidationErrors", err)
			}
		} else {
			total := 0
			for _, file := range res.Files {
				doc, err := ReadPain001(bytes.NewReader(file.Data), Limits{})
				if err != nil {
					t.Fatalf("pain.001 of profile %q does not read back: %v", data, err)
				}
				if err := doc.Check(); err != nil {
					t.Fatalf("pain.001 of profile %q: %v", data, err)
				}
				total += len(doc.Payments)
			}
			if total != len(pays) {
				t.Fatalf("%d payments encoded as %d", len(pays), total)
			}
		}
		out, err := p.EncodeCamt060(Camt060Request{MsgID: "REQ-1", Now: fixedClock,
			Requests: []ReportRequest{{Message: "camt.053", Account: "LV55TREL9190000000001", FromDate: "2026-11-20"}}})
		if err != nil {
			t.Fatalf("EncodeCamt060: %v", err)
		}
		if info, err := NewDecoder(bytes.NewReader(out), Limits{}).Message(); err != nil || info.Family != "camt.060" {
			t.Fatalf("camt.060 of profile %q reads as %+v, %v", data, info, err)
		}
	})
}
