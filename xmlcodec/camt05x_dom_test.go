package xmlcodec

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// The etree entry reader below is the decoder's entry reading as it was
// before the reused blocks of block.go: the reference the block reader
// must match record for record (TestEntryBlockMatchesDOM).

func (d *Decoder) readEntryHeaderDOM(e *etree.Element, path string) (*Entry, error) {
	en := &Entry{Kind: "entry", Message: d.info.Message, MsgID: d.grp.msgID, ReportID: d.rpt.ReportID, Account: d.rpt.Account,
		Transactions: []Transaction{}}
	var err error
	if amt := child(e, "Amt"); amt != nil {
		m, err := money(amt, path+"/Amt")
		if err != nil {
			return nil, err
		}
		en.Amount, en.Currency = m.Amount, m.Currency
	} else {
		en.Warnings = append(en.Warnings, "Amt: missing")
	}
	if en.CreditDebit, err = creditDebit(e, path, false); err != nil {
		return nil, err
	}
	if en.CreditDebit == "" {
		en.Warnings = append(en.Warnings, "CdtDbtInd: missing")
	}
	rv := text(e, "RvslInd")
	en.Reversal = rv == "true" || rv == "1"
	if sts := child(e, "Sts"); sts != nil {
		if en.Status = sts.Text(); en.Status == "" {
			if en.Status = text(sts, "Cd"); en.Status == "" {
				en.Status = text(sts, "Prtry")
			}
		}
	}
	if en.Status == "" {
		en.Warnings = append(en.Warnings, "Sts: missing")
	}
	en.BookingDate = dateOf(child(e, "BookgDt"))
	if en.BookingDate == "" && en.Status == "BOOK" {
		en.Warnings = append(en.Warnings, "BookgDt: missing on a booked entry")
	}
	en.ValueDate = dateOf(child(e, "ValDt"))
	en.EntryRef = text(e, "NtryRef")
	en.AcctSvcrRef = text(e, "AcctSvcrRef")
	en.BankTxCode, en.BankTxCodeProprietary = bankTxCodeDOM(child(e, "BkTxCd"))
	en.AdditionalInfo = text(e, "AddtlNtryInf")
	if en.Charges, err = chargesDOM(child(e, "Chrgs"), path+"/Chrgs"); err != nil {
		return nil, err
	}
	return en, nil
}

func (d *Decoder) readEntryDOM(start xml.StartElement, at func() string) (en *Entry, recErr, err error) {
	path := at()
	hdr := newElem(start)
	budget := d.lim.MaxElements
	var txs []Transaction
	var batch *int
	ndIdx := 0
	for {
		tok, err := d.token()
		if err != nil {
			return nil, nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local != "NtryDtls" {
				c, err := d.subtreeBudget(t, &budget)
				if err != nil {
					return nil, nil, err
				}
				hdr.AddChild(c)
				continue
			}
			ndIdx++
			txIdx := 0
			for done := false; !done; {
				tok, err := d.token()
				if err != nil {
					return nil, nil, err
				}
				switch t := tok.(type) {
				case xml.EndElement:
					done = true
				case xml.StartElement:
					c, err := d.subtree(t)
					if err != nil {
						return nil, nil, err
					}
					switch t.Name.Local {
					case "Btch":
						if batch == nil {
							batch = atoiPtr(text(c, "NbOfTxs"))
						}
					case "TxDtls":
						txIdx++
						txPath := fmt.Sprintf("%s/NtryDtls[%d]/TxDtls[%d]", path, ndIdx, txIdx)
						if len(txs) >= d.lim.MaxTxPerEntry {
							if recErr == nil {
								recErr = &DecodeError{Path: txPath, Err: fmt.Errorf("%w: more than %d", ErrTooManyTransactions, d.lim.MaxTxPerEntry)}
							}
							continue
						}
						tx, err := readTxDOM(c, txPath)
						if err != nil && recErr == nil {
							recErr = err
						}
						txs = append(txs, tx)
					}
				}
			}
		case xml.EndElement:
			if recErr != nil {
				return nil, recErr, nil
			}
			en, err := d.readEntryHeaderDOM(hdr, path)
			if err != nil {
				return nil, err, nil
			}
			en.BatchCount = batch
			for i := range txs {
				finishTx(&txs[i], en)
			}
			if txs != nil {
				en.Transactions = txs
			}
			return en, nil, nil
		}
	}
}

func bankTxCodeDOM(e *etree.Element) (code, prtry string) {
	if e == nil {
		return "", ""
	}
	if dom := child(e, "Domn"); dom != nil {
		code = strings.Join([]string{text(dom, "Cd"), text(dom, "Fmly", "Cd"), text(dom, "Fmly", "SubFmlyCd")}, "-")
		if code == "--" {
			code = ""
		}
	}
	if p := child(e, "Prtry"); p != nil {
		prtry = text(p, "Cd")
		if issr := text(p, "Issr"); issr != "" && prtry != "" {
			prtry = issr + "/" + prtry
		}
	}
	return code, prtry
}

func chargesDOM(e *etree.Element, path string) ([]Charge, error) {
	if e == nil {
		return nil, nil
	}
	parent := e.Parent()
	var out []Charge
	add := func(c *etree.Element, p string) error {
		amt := child(c, "Amt")
		if amt == nil {
			return nil
		}
		m, err := money(amt, p+"/Amt")
		if err != nil {
			return err
		}
		ch := Charge{Amount: m.Amount, Currency: m.Currency, CreditDebit: text(c, "CdtDbtInd"), Bearer: text(c, "Br")}
		if ch.Type = text(c, "Tp", "Cd"); ch.Type == "" {
			ch.Type = text(c, "Tp", "Prtry", "Id")
		}
		out = append(out, ch)
		return nil
	}
	i := 0
	for c := range parent.SelectElementsSeq("Chrgs") {
		i++
		p := fmt.Sprintf("%s[%d]", path, i)
		if rs := c.SelectElements("Rcrd"); len(rs) > 0 {
			for j, r := range rs {
				if err := add(r, fmt.Sprintf("%s/Rcrd[%d]", p, j+1)); err != nil {
					return nil, err
				}
			}
			continue
		}
		if err := add(c, p); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func partyDOM(pty *etree.Element) *PartyInfo {
	if pty == nil {
		return nil
	}
	if p := child(pty, "Pty"); p != nil {
		pty = p
	}
	pi := &PartyInfo{Name: text(pty, "Nm")}
	if id := child(pty, "Id"); id != nil {
		if pi.ID = text(id, "OrgId", "Othr", "Id"); pi.ID == "" {
			if pi.ID = text(id, "PrvtId", "Othr", "Id"); pi.ID == "" {
				if pi.ID = text(id, "OrgId", "BICOrBEI"); pi.ID == "" {
					pi.ID = text(id, "OrgId", "AnyBIC")
				}
			}
		}
	}
	return pi
}

func optMoneyDOM(e *etree.Element, path string, names ...string) (*Money, error) {
	c := child(e, names...)
	if c == nil {
		return nil, nil
	}
	return money(c, path+"/"+strings.Join(names, "/"))
}

func readTxDOM(td *etree.Element, path string) (Transaction, error) {
	var tx Transaction
	refs := child(td, "Refs")
	tx.MsgID = text(refs, "MsgId")
	tx.AcctSvcrRef = text(refs, "AcctSvcrRef")
	tx.PmtInfID = text(refs, "PmtInfId")
	tx.InstrID = text(refs, "InstrId")
	tx.EndToEndID = text(refs, "EndToEndId")
	tx.TxID = text(refs, "TxId")
	tx.MandateID = text(refs, "MndtId")
	tx.UETR = text(refs, "UETR")
	tx.ProprietaryRef = text(refs, "Prtry", "Ref")

	var err error
	ad := &AmountDetails{}
	if ad.Instructed, err = optMoneyDOM(td, path, "AmtDtls", "InstdAmt", "Amt"); err != nil {
		return tx, err
	}
	if ad.Transaction, err = optMoneyDOM(td, path, "AmtDtls", "TxAmt", "Amt"); err != nil {
		return tx, err
	}
	if ad.CounterValue, err = optMoneyDOM(td, path, "AmtDtls", "CntrValAmt", "Amt"); err != nil {
		return tx, err
	}
	if ad.AnnouncedPosting, err = optMoneyDOM(td, path, "AmtDtls", "AnncdPstngAmt", "Amt"); err != nil {
		return tx, err
	}
	if *ad != (AmountDetails{}) {
		tx.AmountDetails = ad
	}
	amt, err := optMoneyDOM(td, path, "Amt")
	if err != nil {
		return tx, err
	}
	switch {
	case amt != nil:
	case ad.Transaction != nil:
		amt = ad.Transaction
	case ad.Instructed != nil:
		amt = ad.Instructed
	}
	if amt != nil {
		tx.Amount, tx.Currency = amt.Amount, amt.Currency
	}
	if tx.CreditDebit, err = creditDebit(td, path, false); err != nil {
		return tx, err
	}
	tx.BankTxCode, _ = bankTxCodeDOM(child(td, "BkTxCd"))

	rp := child(td, "RltdPties")
	ra := child(td, "RltdAgts")
	tx.Debtor = partyDOM(child(rp, "Dbtr"))
	tx.Creditor = partyDOM(child(rp, "Cdtr"))
	tx.UltimateDebtor = partyDOM(child(rp, "UltmtDbtr"))
	tx.UltimateCreditor = partyDOM(child(rp, "UltmtCdtr"))
	attach := func(p **PartyInfo, acct, agent *etree.Element) {
		if acct == nil && agent == nil {
			return
		}
		if *p == nil {
			*p = &PartyInfo{}
		}
		if id := child(acct, "Id"); id != nil {
			if (*p).IBAN = text(id, "IBAN"); (*p).IBAN == "" {
				(*p).Account = text(id, "Othr", "Id")
			}
		}
		(*p).BIC = bic(child(agent, "FinInstnId"))
	}
	attach(&tx.Debtor, child(rp, "DbtrAcct"), child(ra, "DbtrAgt"))
	attach(&tx.Creditor, child(rp, "CdtrAcct"), child(ra, "CdtrAgt"))

	rmt := child(td, "RmtInf")
	var ustrd []string
	for u := range rmt.NotNil().SelectElementsSeq("Ustrd") {
		if s := u.Text(); s != "" {
			ustrd = append(ustrd, s)
		}
	}
	tx.Remittance = strings.Join(ustrd, " ")
	for s := range rmt.NotNil().SelectElementsSeq("Strd") {
		if tx.CreditorReference == "" {
			tx.CreditorReference = text(s, "CdtrRefInf", "Ref")
		}
		if tx.BudgetCode == "" {
			tx.BudgetCode = text(s, "TaxRmt", "Rcrd", "Ctgy")
		}
	}
	if c := text(td, "Tax", "Rcrd", "Ctgy"); c != "" {
		tx.BudgetCode = c
	}
	if tx.Purpose = text(td, "Purp", "Cd"); tx.Purpose == "" {
		tx.Purpose = text(td, "Purp", "Prtry")
	}
	if rtr := child(td, "RtrInf"); rtr != nil {
		if tx.ReturnReason = text(rtr, "Rsn", "Cd"); tx.ReturnReason == "" {
			tx.ReturnReason = text(rtr, "Rsn", "Prtry")
		}
		var infos []string
		for a := range rtr.SelectElementsSeq("AddtlInf") {
			infos = append(infos, a.Text())
		}
		tx.ReturnInfo = strings.Join(infos, " ")
	}
	if tx.Charges, err = chargesDOM(child(td, "Chrgs"), path+"/Chrgs"); err != nil {
		return tx, err
	}
	tx.AdditionalInfo = text(td, "AddtlTxInf")
	return tx, nil
}

// decodeBoth decodes data with the block reader and with the etree
// reference, going on after recoverable errors, and returns both results
// as printable lines.
func decodeBoth(data string, lim Limits) (got, want []string) {
	run := func(ref bool) []string {
		d := NewDecoder(strings.NewReader(data), lim)
		if ref {
			d.refReadEntry = d.readEntryDOM
		}
		var out []string
		for {
			rec, err := d.Next()
			if errors.Is(err, io.EOF) {
				return out
			}
			if err != nil {
				out = append(out, "error: "+err.Error())
				if !Recoverable(err) {
					return out
				}
				continue
			}
			b, err := json.Marshal(rec)
			if err != nil {
				panic(err)
			}
			out = append(out, fmt.Sprintf("%T %s", rec, b))
		}
	}
	return run(false), run(true)
}

// TestEntryBlockMatchesDOM decodes every sample, the hostile documents'
// entries and generated statements with the block reader and with the
// etree reference, and wants the same records and errors.
func TestEntryBlockMatchesDOM(t *testing.T) {
	docs := map[string]string{}
	if files, _ := filepath.Glob(filepath.Join(samplesDir(t), "camt*.xml")); len(files) > 0 {
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			docs[filepath.Base(f)] = string(b)
		}
	} else {
		t.Fatal("no camt samples")
	}
	gen, err := io.ReadAll(newCamtGen(300 << 10))
	if err != nil {
		t.Fatal(err)
	}
	docs["generated"] = string(gen)
	// Edge cases: whitespace and entities in text, CDATA, mixed content,
	// missing and invalid amounts, v08 charges records, several Chrgs,
	// Ustrd lists, duplicate attributes, too many TxDtls.
	docs["edge"] = camtDoc(
		ntry("<Amt Ccy=\"EUR\">  12.50\n </Amt>", "CRDT"),
		`<Ntry><Amt Ccy="EUR">1.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BookgDt><DtTm>2026-01-01T10:00:00</DtTm></BookgDt>
		  <BkTxCd><Domn><Cd>PMNT</Cd></Domn><Prtry><Cd>X</Cd><Issr>I</Issr></Prtry></BkTxCd>
		  <Chrgs><TtlChrgsAndTaxAmt Ccy="EUR">3</TtlChrgsAndTaxAmt><Rcrd><Amt Ccy="EUR">1</Amt><Tp><Prtry><Id>P</Id></Prtry></Tp></Rcrd><Rcrd><Amt Ccy="EUR">2</Amt><CdtDbtInd>DBIT</CdtDbtInd></Rcrd></Chrgs>
		  <NtryDtls><Btch><NbOfTxs>x</NbOfTxs></Btch><Btch><NbOfTxs>2</NbOfTxs></Btch>
		    <TxDtls><Refs><EndToEndId> a &amp; b </EndToEndId><Prtry><Tp>t</Tp><Ref>R1</Ref></Prtry></Refs>
		      <Amt Ccy="EUR">0.50</Amt><CdtDbtInd>CRDT</CdtDbtInd>
		      <RltdPties><Dbtr><Pty><Nm><![CDATA[Name <x>]]></Nm><Id><OrgId><AnyBIC>AAAALV22</AnyBIC></OrgId></Id></Pty></Dbtr><CdtrAcct><Id><Othr><Id>O-1</Id></Othr></Id></CdtrAcct></RltdPties>
		      <RltdAgts><CdtrAgt><FinInstnId><BICFI>BBBBLV22</BICFI></FinInstnId></CdtrAgt></RltdAgts>
		      <RmtInf><Ustrd>one</Ustrd><Ustrd></Ustrd><Ustrd> two </Ustrd><Strd><TaxRmt><Rcrd><Ctgy>C1</Ctgy></Rcrd></TaxRmt></Strd><Strd><CdtrRefInf><Ref>R</Ref></CdtrRefInf></Strd></RmtInf>
		      <Purp><Prtry>PP</Prtry></Purp><RtrInf><Rsn><Prtry>RR</Prtry></Rsn><AddtlInf>a</AddtlInf><AddtlInf></AddtlInf><AddtlInf>c</AddtlInf></RtrInf>
		      <Chrgs><Amt Ccy="EUR">0.1</Amt></Chrgs><Chrgs><Amt Ccy="USD">0.2</Amt><Br>CRED</Br></Chrgs><AddtlTxInf>mixed <b>x</b> text</AddtlTxInf></TxDtls>
		    <TxDtls><AmtDtls><InstdAmt><Amt Ccy="EUR">1</Amt></InstdAmt><CntrValAmt><Amt Ccy="USD">2</Amt></CntrValAmt><AnncdPstngAmt><Amt Ccy="X">3</Amt></AnncdPstngAmt></AmtDtls></TxDtls>
		  </NtryDtls><AddtlNtryInf>info</AddtlNtryInf></Ntry>`,
		`<Ntry><CdtDbtInd>CRDT</CdtDbtInd></Ntry>`,
		ntry("<Amt Ccy=\"EUR\">1e3</Amt>", "CRDT"),
		ntry("<Amt Ccy=\"EUR\">5.00</Amt>", "XXXX"),
		`<Ntry><Amt>5.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts></Ntry>`,
		`<Ntry><Amt Ccy="EUR" Ccy="USD">5.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts></Ntry>`,
		`<Ntry><Amt Ccy="EUR">5.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><NtryDtls><TxDtls><Amt Ccy="EUR">bad</Amt></TxDtls></NtryDtls></Ntry>`,
		`<Ntry><Amt Ccy="EUR">5.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><NtryDtls><TxDtls><CdtDbtInd>NO</CdtDbtInd></TxDtls></NtryDtls></Ntry>`,
		`<Ntry><Amt Ccy="EUR">5.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Chrgs><Amt Ccy="EUR">x</Amt></Chrgs></Ntry>`,
		`<Ntry><Amt Ccy="EUR">5.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><NtryDtls><TxDtls><Chrgs><Rcrd><Amt>1</Amt></Rcrd></Chrgs></TxDtls></NtryDtls></Ntry>`,
		`<Ntry><Amt Ccy="EUR">5.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><NtryDtls><TxDtls/><TxDtls/><TxDtls/></NtryDtls><NtryDtls><TxDtls/></NtryDtls></Ntry>`,
		ntry("<Amt Ccy=\"EUR\">7.00</Amt>", "DBIT"),
	)
	if got, _ := decodeBoth(docs["edge"], Limits{}); len(got) < 14 || !strings.Contains(strings.Join(got, "\n"), `"I/X"`) {
		t.Errorf("edge document decoded to only %d records:\n%s", len(got), strings.Join(got, "\n"))
	}
	for name, doc := range docs {
		for _, lim := range []Limits{{}, {MaxTxPerEntry: 2}, {MaxElements: 30}} {
			got, want := decodeBoth(doc, lim)
			if !reflect.DeepEqual(got, want) {
				for i := range max(len(got), len(want)) {
					g, w := "", ""
					if i < len(got) {
						g = got[i]
					}
					if i < len(want) {
						w = want[i]
					}
					if g != w {
						t.Errorf("%s (limits %+v): record %d differs:\nblock: %s\netree: %s", name, lim, i, g, w)
						break
					}
				}
			}
		}
	}
}
