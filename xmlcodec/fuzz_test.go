package xmlcodec

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
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

// addSeeds adds the samples whose name starts with prefix (when the folder
// is present) and the given documents.
func addSeeds(f *testing.F, prefix string, docs ...string) {
	for _, d := range docs {
		f.Add([]byte(d))
	}
	dir := filepath.Join(repoRoot(f), "..", "shared", "iso20022", "samples")
	files, _ := filepath.Glob(filepath.Join(dir, prefix+"*.xml"))
	for _, p := range files {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	golden, _ := filepath.Glob(filepath.Join("testdata", "*.golden.xml"))
	for _, p := range golden {
		if data, err := os.ReadFile(p); err == nil && strings.Contains(filepath.Base(p), prefix) {
			f.Add(data)
		}
	}
}

// fuzzDecode runs the streaming decoder to the end and checks the
// property; a recoverable error must let decoding continue.
func fuzzDecode(t *testing.T, data []byte) {
	if len(data) > 1<<20 {
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
		if len(data) > 1<<20 {
			t.Skip()
		}
		doc, err := ReadPain001(bytes.NewReader(data), Limits{MaxDepth: 32, MaxElements: 5000})
		if err != nil {
			checkTypedErr(t, err)
			return
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
