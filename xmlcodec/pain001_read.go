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
	d := NewDecoder(r, lim)
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
			case d.depth == 4 && pi != nil:
				path := fmt.Sprintf("%s/PmtInf[%d]/%s", info.Root, piIdx, t.Name.Local)
				if t.Name.Local == "CdtTrfTxInf" {
					txIdx++
					path = fmt.Sprintf("%s/PmtInf[%d]/CdtTrfTxInf[%d]", info.Root, piIdx, txIdx)
				}
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
				case "CdtTrfTxInf":
					p, err := readCdtTrfTxInf(e, path)
					if err != nil {
						return nil, d.fail(path, err)
					}
					p.Debtor, p.ExecutionDate = debtor, date
					pi.Count++
					sum.Add(p.Amount)
					pi.Sum = sum.String(0)
					doc.Payments = append(doc.Payments, p)
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
