package xmlcodec

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/beevik/etree"
)

// A Pain001Document is a pain.001 read back (for `isogate xml validate`
// and tests): the declared header figures and every transaction.
type Pain001Document struct {
	Info     MessageInfo
	MsgID    string
	NbOfTxs  string // as declared in GrpHdr
	CtrlSum  string // as declared in GrpHdr
	PmtInfs  []PmtInfSummary
	Payments []Payment
}

// PmtInfSummary is one PmtInf block's declared and counted figures.
type PmtInfSummary struct {
	ID      string
	NbOfTxs string // declared
	CtrlSum string // declared
	Count   int
	Sum     string // computed exactly from InstdAmt
}

// ReadPain001 reads a pain.001 document (any version) under the same
// limits and refusals as [NewDecoder], one CdtTrfTxInf at a time.
func ReadPain001(r io.Reader, lim Limits) (*Pain001Document, error) {
	return readPain001(NewDecoder(r, lim))
}

func readPain001(d *Decoder) (*Pain001Document, error) {
	info, err := d.Message()
	if err != nil {
		return nil, err
	}
	if info.Family != "pain.001" {
		return nil, d.fail(info.Root, fmt.Errorf("%w: %s is not a pain.001", ErrUnsupportedMessage, info.Message))
	}
	doc := &Pain001Document{Info: info}
	var pi *PmtInfSummary
	var sum decimalSum
	var debtor Account
	var date string
	piIdx, txIdx := 0, 0
	for {
		tok, err := d.token()
		if errors.Is(err, io.EOF) {
			return doc, nil
		}
		if err != nil {
			return nil, d.fail(info.Root, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch {
			case d.depth == 3 && t.Name.Local == "PmtInf":
				piIdx++
				txIdx = 0
				doc.PmtInfs = append(doc.PmtInfs, PmtInfSummary{})
				pi = &doc.PmtInfs[len(doc.PmtInfs)-1]
				sum = decimalSum{}
				debtor, date = Account{}, ""
			case d.depth == 3:
				path := info.Root + "/" + t.Name.Local
				e, err := d.subtree(t)
				if err != nil {
					return nil, d.fail(path, err)
				}
				if t.Name.Local == "GrpHdr" {
					doc.MsgID, doc.NbOfTxs, doc.CtrlSum = text(e, "MsgId"), text(e, "NbOfTxs"), text(e, "CtrlSum")
				}
			case d.depth == 4 && pi != nil && t.Name.Local == "CdtTrfTxInf":
				txIdx++
				pIdx, tIdx := piIdx, txIdx
				at := func() string { return fmt.Sprintf("%s/PmtInf[%d]/CdtTrfTxInf[%d]", info.Root, pIdx, tIdx) }
				p, err := d.readPainTx(t, at)
				if err != nil {
					return nil, d.fail(at(), err)
				}
				p.Debtor, p.ExecutionDate = debtor, date
				pi.Count++
				sum.Add(p.Amount)
				pi.Sum = sum.String(0)
				doc.Payments = append(doc.Payments, p)
			case d.depth == 4 && pi != nil:
				path := fmt.Sprintf("%s/PmtInf[%d]/%s", info.Root, piIdx, t.Name.Local)
				e, err := d.subtree(t)
				if err != nil {
					return nil, d.fail(path, err)
				}
				switch t.Name.Local {
				case "PmtInfId":
					pi.ID = e.Text()
				case "NbOfTxs":
					pi.NbOfTxs = e.Text()
				case "CtrlSum":
					pi.CtrlSum = e.Text()
				case "ReqdExctnDt":
					date = dateOf(e)
					if date == "" {
						date = e.Text()
					}
				case "Dbtr":
					debtor.Name = text(e, "Nm")
					debtor.Address = readAddress(child(e, "PstlAdr"))
				case "DbtrAcct":
					debtor.IBAN = text(e, "Id", "IBAN")
				case "DbtrAgt":
					debtor.BIC = bic(child(e, "FinInstnId"))
				}
			default:
				if err := d.skip(); err != nil {
					return nil, d.fail(info.Root, err)
				}
			}
		case xml.EndElement:
			if d.depth == 2 && t.Name.Local == "PmtInf" {
				pi = nil
			}
		}
	}
}

func readAddress(e *etree.Element) *Address {
	if e == nil {
		return nil
	}
	a := &Address{Street: text(e, "StrtNm"), Building: text(e, "BldgNb"), Postcode: text(e, "PstCd"), Town: text(e, "TwnNm"), Country: text(e, "Ctry")}
	for l := range e.SelectElementsSeq("AdrLine") {
		a.Lines = append(a.Lines, l.Text())
	}
	return a
}

// readPainTx reads one CdtTrfTxInf whose start tag t was just read, into
// the block reused from transaction to transaction (tests may set
// refPainTx, the etree reference, instead).
func (d *Decoder) readPainTx(t xml.StartElement, at func() string) (Payment, error) {
	if d.refPainTx != nil {
		e, err := d.subtree(t)
		if err != nil {
			return Payment{}, err
		}
		return d.refPainTx(e, at())
	}
	b := &d.entries.tx
	b.reset()
	budget := d.lim.MaxElements
	n, err := d.readBlock(b, -1, t, &budget)
	if err != nil {
		return Payment{}, err
	}
	return b.cdtTrfTxInf(n, at)
}

// cdtTrfTxInf reads the payment of CdtTrfTxInf n (debtor and date are the
// PmtInf's, set by the caller).
func (b *block) cdtTrfTxInf(e int32, at func() string) (Payment, error) {
	p := Payment{ID: b.text(e, "PmtId", "EndToEndId")}
	amt := b.child(e, "Amt", "InstdAmt")
	if amt < 0 {
		return p, &DecodeError{Path: at() + "/Amt/InstdAmt", Err: ErrMissingElement}
	}
	if p.Amount = b.ownText(amt); !validDecimal(p.Amount) {
		return p, &DecodeError{Path: at() + "/Amt/InstdAmt", Err: fmt.Errorf("%w: %q", ErrInvalidAmount, p.Amount)}
	}
	if p.Currency = b.attr(amt, "Ccy"); p.Currency == "" {
		return p, &DecodeError{Path: at() + "/Amt/InstdAmt/@Ccy", Err: ErrMissingElement}
	}
	p.Creditor = Account{Name: b.text(e, "Cdtr", "Nm"), IBAN: b.text(e, "CdtrAcct", "Id", "IBAN"),
		BIC: b.bic(b.child(e, "CdtrAgt", "FinInstnId")), Address: b.address(b.child(e, "Cdtr", "PstlAdr"))}
	p.UltimateDebtor = b.painParty(b.child(e, "UltmtDbtr"))
	p.UltimateCreditor = b.painParty(b.child(e, "UltmtCdtr"))
	if p.Purpose = b.text(e, "Purp", "Cd"); p.Purpose == "" {
		p.Purpose = b.text(e, "Purp", "Prtry")
	}
	p.BudgetCode = b.text(e, "Tax", "Rcrd", "Ctgy")
	rmt := b.child(e, "RmtInf")
	first := true
	b.each(rmt, "Ustrd", func(c int32) {
		if first {
			first = false
			p.Remittance = b.ownText(c)
			return
		}
		p.Remittance += " " + b.ownText(c)
	})
	p.CreditorReference = b.text(rmt, "Strd", "CdtrRefInf", "Ref")
	return p, nil
}

func (b *block) address(n int32) *Address {
	if n < 0 {
		return nil
	}
	a := &Address{Street: b.text(n, "StrtNm"), Building: b.text(n, "BldgNb"), Postcode: b.text(n, "PstCd"), Town: b.text(n, "TwnNm"), Country: b.text(n, "Ctry")}
	b.each(n, "AdrLine", func(c int32) { a.Lines = append(a.Lines, b.ownText(c)) })
	return a
}

// painParty reads a pain.001 UltmtDbtr or UltmtCdtr.
func (b *block) painParty(n int32) *Party {
	if n < 0 {
		return nil
	}
	return &Party{Name: b.text(n, "Nm"), ID: b.text(n, "Id", "OrgId", "Othr", "Id"), Address: b.address(b.child(n, "PstlAdr"))}
}

// Check verifies the document's own arithmetic: NbOfTxs and CtrlSum of the
// group header and of each PmtInf against the transactions, exactly.
func (doc *Pain001Document) Check() error {
	var errs []error
	var total decimalSum
	for _, p := range doc.Payments {
		total.Add(p.Amount)
	}
	if doc.NbOfTxs != strconv.Itoa(len(doc.Payments)) {
		errs = append(errs, fmt.Errorf("GrpHdr/NbOfTxs = %q, document has %d transactions", doc.NbOfTxs, len(doc.Payments)))
	}
	if doc.CtrlSum != "" && !sameDecimal(doc.CtrlSum, total.String(0)) {
		errs = append(errs, fmt.Errorf("GrpHdr/CtrlSum = %s, transactions sum to %s", doc.CtrlSum, total.String(0)))
	}
	for i, pi := range doc.PmtInfs {
		if pi.NbOfTxs != "" && pi.NbOfTxs != strconv.Itoa(pi.Count) {
			errs = append(errs, fmt.Errorf("PmtInf[%d] %s: NbOfTxs = %q, block has %d", i+1, pi.ID, pi.NbOfTxs, pi.Count))
		}
		if pi.CtrlSum != "" && !sameDecimal(pi.CtrlSum, pi.Sum) {
			errs = append(errs, fmt.Errorf("PmtInf[%d] %s: CtrlSum = %s, block sums to %s", i+1, pi.ID, pi.CtrlSum, pi.Sum))
		}
	}
	return errors.Join(errs...)
}

// sameDecimal compares two decimal strings by value.
func sameDecimal(a, b string) bool {
	if !validDecimal(a) || !validDecimal(b) {
		return false
	}
	var x, y decimalSum
	x.Add(a)
	y.Add(b)
	s := max(x.scale, y.scale)
	return x.String(s) == y.String(s)
}
