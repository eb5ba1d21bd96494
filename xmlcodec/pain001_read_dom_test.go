package xmlcodec

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// The etree reader of CdtTrfTxInf that readPainTx replaced: the reference
// TestPainTxBlockMatchesDOM and FuzzReadPain001 compare the block reader with.

func refPainTxDOM(e *etree.Element, path string) (Payment, error) { return readCdtTrfTxInf(e, path) }

func readParty(e *etree.Element) *Party {
	if e == nil {
		return nil
	}
	return &Party{Name: text(e, "Nm"), ID: text(e, "Id", "OrgId", "Othr", "Id"), Address: readAddress(child(e, "PstlAdr"))}
}

func readCdtTrfTxInf(e *etree.Element, path string) (Payment, error) {
	p := Payment{ID: text(e, "PmtId", "EndToEndId")}
	amt := child(e, "Amt", "InstdAmt")
	if amt == nil {
		return p, &DecodeError{Path: path + "/Amt/InstdAmt", Err: ErrMissingElement}
	}
	m, err := money(amt, path+"/Amt/InstdAmt")
	if err != nil {
		return p, err
	}
	p.Amount, p.Currency = m.Amount, m.Currency
	p.Creditor = Account{Name: text(e, "Cdtr", "Nm"), IBAN: text(e, "CdtrAcct", "Id", "IBAN"),
		BIC: bic(child(e, "CdtrAgt", "FinInstnId")), Address: readAddress(child(e, "Cdtr", "PstlAdr"))}
	p.UltimateDebtor = readParty(child(e, "UltmtDbtr"))
	p.UltimateCreditor = readParty(child(e, "UltmtCdtr"))
	if p.Purpose = text(e, "Purp", "Cd"); p.Purpose == "" {
		p.Purpose = text(e, "Purp", "Prtry")
	}
	p.BudgetCode = text(e, "Tax", "Rcrd", "Ctgy")
	var ustrd []string
	rmt := child(e, "RmtInf")
	for u := range rmt.NotNil().SelectElementsSeq("Ustrd") {
		ustrd = append(ustrd, u.Text())
	}
	if len(ustrd) > 0 {
		p.Remittance = ustrd[0]
		for _, u := range ustrd[1:] {
			p.Remittance += " " + u
		}
	}
	p.CreditorReference = text(rmt, "Strd", "CdtrRefInf", "Ref")
	return p, nil
}

// readBoth reads data with the block reader and with the etree reference.
func readBoth(data []byte, lim Limits) (blk, dom *Pain001Document, blkErr, domErr error) {
	blk, blkErr = readPain001(NewDecoder(bytes.NewReader(data), lim))
	d := NewDecoder(bytes.NewReader(data), lim)
	d.refPainTx = refPainTxDOM
	dom, domErr = readPain001(d)
	return blk, dom, blkErr, domErr
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestPainTxBlockMatchesDOM reads the pain.001 samples, the golden files,
// generated files of both profiles and hand-made edge cases with the block
// reader and the etree reference, and wants the same documents and errors.
func TestPainTxBlockMatchesDOM(t *testing.T) {
	docs := map[string][]byte{}
	files, _ := filepath.Glob(filepath.Join(samplesDir(t), "pain001*.xml"))
	golden, _ := filepath.Glob(filepath.Join("testdata", "pain001*.golden.xml"))
	if len(files) == 0 || len(golden) == 0 {
		t.Fatal("no pain.001 samples or golden files")
	}
	for _, f := range append(files, golden...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs[filepath.Base(f)] = b
	}
	gold := string(docs[filepath.Base(golden[0])])
	edit := func(name, old, new string) {
		if !strings.Contains(gold, old) {
			t.Fatalf("%s: %q not in the golden file", name, old)
		}
		docs[name] = []byte(strings.Replace(gold, old, new, 1))
	}
	edit("no InstdAmt", "<InstdAmt", "<Other")
	edit("no Ccy", `Ccy="EUR"`, `Cxy="EUR"`)
	edit("bad amount", `Ccy="EUR">`, `Ccy="EUR">1e3</InstdAmt><Junk>`)
	edit("prefixed Ccy", `Ccy="EUR"`, `xmlns:x="urn:x" x:Ccy="EUR"`)
	edit("remittance lines", "<Ustrd>", "<Ustrd></Ustrd><Ustrd>  two  </Ustrd><Ustrd>")
	edit("nested text", "<EndToEndId>", "<EndToEndId><Inner>x</Inner>")
	edit("ultimate parties", "<RmtInf>", "<UltmtDbtr><Nm>U D</Nm><Id><OrgId><Othr><Id>40003</Id></Othr></OrgId></Id></UltmtDbtr><UltmtCdtr><Nm>U C</Nm><PstlAdr><Ctry>LV</Ctry><AdrLine>a</AdrLine><AdrLine>b</AdrLine></PstlAdr></UltmtCdtr><RmtInf>")
	edit("truncated", "</CdtTrfTxInf>", "")
	for name, data := range docs {
		for _, lim := range []Limits{{}, {MaxElements: 12}} {
			blk, dom, be, de := readBoth(data, lim)
			if errText(be) != errText(de) {
				t.Errorf("%s %+v: errors differ:\nblock %v\netree %v", name, lim, be, de)
				continue
			}
			if !reflect.DeepEqual(blk, dom) {
				t.Errorf("%s %+v: documents differ:\nblock %+v\netree %+v", name, lim, blk, dom)
			}
			if lim.MaxElements == 0 && be == nil && strings.HasPrefix(name, "pain001") && len(blk.Payments) == 0 {
				t.Errorf("%s: no payments read", name)
			}
		}
	}
}
