package xmlcodec

import (
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/beevik/etree"
)

// A Record is one item a [Decoder] returns: [*Report], [*Balance],
// [*Entry] or [*Status].
type Record interface{ isRecord() }

func (*Report) isRecord()  {}
func (*Balance) isRecord() {}
func (*Entry) isRecord()   {}
func (*Status) isRecord()  {}

// Pagination is GrpHdr/MsgPgntn.
type Pagination struct {
	Page string `json:"page"`
	Last bool   `json:"last"`
}

// A Report is the header of one camt.053 Stmt, camt.052 Rpt or camt.054
// Ntfctn. The decoder returns it before that report's balances and entries.
type Report struct {
	Kind            string      `json:"kind"` // "report"
	Message         string      `json:"message"`
	MsgID           string      `json:"msg_id"`
	ReportID        string      `json:"report_id"`
	ElectronicSeqNb string      `json:"electronic_seq_nb,omitempty"`
	LegalSeqNb      string      `json:"legal_seq_nb,omitempty"`
	CreatedAt       string      `json:"created_at,omitempty"`
	From            string      `json:"from,omitempty"`
	To              string      `json:"to,omitempty"`
	CopyDuplicate   string      `json:"copy_duplicate,omitempty"`
	Account         string      `json:"account"`
	AccountCurrency string      `json:"account_currency,omitempty"`
	AccountOwner    string      `json:"account_owner,omitempty"`
	AccountServicer string      `json:"account_servicer,omitempty"`
	Pagination      *Pagination `json:"pagination,omitempty"`
	// Summary is TxsSummry as declared by the bank (nil when absent); check
	// the entries against it with a [SummaryCheck].
	Summary *Summary `json:"summary,omitempty"`
}

// Summary is a report's TxsSummry: numbers of entries and sums, as
// written ("" when not given).
type Summary struct {
	Entries       string `json:"entries,omitempty"`
	Sum           string `json:"sum,omitempty"`
	CreditEntries string `json:"credit_entries,omitempty"`
	CreditSum     string `json:"credit_sum,omitempty"`
	DebitEntries  string `json:"debit_entries,omitempty"`
	DebitSum      string `json:"debit_sum,omitempty"`
}

// A SummaryCheck adds up a report's entries to compare them with its
// TxsSummry. The zero value is ready to use.
type SummaryCheck struct {
	n, nc, nd   int
	all, cr, db decimalSum
}

// Add counts one entry of the report.
func (c *SummaryCheck) Add(e *Entry) {
	if !validDecimal(e.Amount) {
		return
	}
	c.n++
	c.all.Add(e.Amount)
	switch e.CreditDebit {
	case "CRDT":
		c.nc++
		c.cr.Add(e.Amount)
	case "DBIT":
		c.nd++
		c.db.Add(e.Amount)
	}
}

// Check compares the entries added with s, exactly, and returns every
// difference (nil when they agree or s is nil).
func (c *SummaryCheck) Check(s *Summary) error {
	if s == nil {
		return nil
	}
	var errs []error
	cmp := func(what, declared string, n int, sum *decimalSum, declaredSum string) {
		if declared != "" && declared != strconv.Itoa(n) {
			errs = append(errs, fmt.Errorf("TxsSummry/%s/NbOfNtries = %s, report has %d", what, declared, n))
		}
		if declaredSum != "" && !sameDecimal(declaredSum, sum.String(0)) {
			errs = append(errs, fmt.Errorf("TxsSummry/%s/Sum = %s, entries sum to %s", what, declaredSum, sum.String(0)))
		}
	}
	cmp("TtlNtries", s.Entries, c.n, &c.all, s.Sum)
	cmp("TtlCdtNtries", s.CreditEntries, c.nc, &c.cr, s.CreditSum)
	cmp("TtlDbtNtries", s.DebitEntries, c.nd, &c.db, s.DebitSum)
	return errors.Join(errs...)
}

func (r *Report) addHeader(name string, e *etree.Element) {
	switch name {
	case "Id":
		r.ReportID = e.Text()
	case "ElctrncSeqNb":
		r.ElectronicSeqNb = e.Text()
	case "LglSeqNb":
		r.LegalSeqNb = e.Text()
	case "CreDtTm":
		r.CreatedAt = e.Text()
	case "FrToDt":
		r.From, r.To = text(e, "FrDtTm"), text(e, "ToDtTm")
	case "CpyDplctInd":
		r.CopyDuplicate = e.Text()
	case "StmtPgntn", "RptPgntn", "NtfctnPgntn":
		r.Pagination = &Pagination{Page: text(e, "PgNb"), Last: text(e, "LastPgInd") == "true" || text(e, "LastPgInd") == "1"}
	case "TxsSummry":
		r.Summary = &Summary{
			Entries: text(e, "TtlNtries", "NbOfNtries"), Sum: text(e, "TtlNtries", "Sum"),
			CreditEntries: text(e, "TtlCdtNtries", "NbOfNtries"), CreditSum: text(e, "TtlCdtNtries", "Sum"),
			DebitEntries: text(e, "TtlDbtNtries", "NbOfNtries"), DebitSum: text(e, "TtlDbtNtries", "Sum"),
		}
	case "Acct":
		r.Account = accountID(child(e, "Id"))
		r.AccountCurrency = text(e, "Ccy")
		r.AccountOwner = text(e, "Ownr", "Nm")
		r.AccountServicer = bic(child(e, "Svcr", "FinInstnId"))
	}
}

// accountID reads AccountIdentification4Choice: IBAN or Othr/Id.
func accountID(id *etree.Element) string {
	if s := text(id, "IBAN"); s != "" {
		return s
	}
	return text(id, "Othr", "Id")
}

func bic(fi *etree.Element) string {
	if s := text(fi, "BIC"); s != "" {
		return s
	}
	return text(fi, "BICFI")
}

// A Balance is one Bal of a report.
type Balance struct {
	Kind        string `json:"kind"` // "balance"
	Message     string `json:"message"`
	MsgID       string `json:"msg_id"`
	ReportID    string `json:"report_id"`
	Account     string `json:"account"`
	Type        string `json:"type"`                  // Tp/CdOrPrtry/Cd (OPBD, CLBD, …) or the proprietary value
	Proprietary bool   `json:"proprietary,omitempty"` // Type came from Prtry
	SubType     string `json:"sub_type,omitempty"`
	Amount      string `json:"amount"`
	Currency    string `json:"currency"`
	CreditDebit string `json:"credit_debit"`
	Date        string `json:"date"`
	// Warnings name elements the bank left out ("CdtDbtInd: missing").
	Warnings []string `json:"warnings,omitempty"`
}

func (d *Decoder) readBalance(e *etree.Element, path string) (*Balance, error) {
	b := &Balance{Kind: "balance", Message: d.info.Message, MsgID: d.grp.msgID, ReportID: d.rpt.ReportID, Account: d.rpt.Account}
	tp := child(e, "Tp", "CdOrPrtry")
	if b.Type = text(tp, "Cd"); b.Type == "" {
		b.Type = text(tp, "Prtry")
		b.Proprietary = b.Type != ""
	}
	b.SubType = text(e, "Tp", "SubTp", "Cd")
	var err error
	if amt := child(e, "Amt"); amt != nil {
		m, err := money(amt, path+"/Amt")
		if err != nil {
			return nil, err
		}
		b.Amount, b.Currency = m.Amount, m.Currency
	} else {
		b.Warnings = append(b.Warnings, "Amt: missing")
	}
	if b.CreditDebit, err = creditDebit(e, path, false); err != nil {
		return nil, err
	}
	if b.CreditDebit == "" {
		b.Warnings = append(b.Warnings, "CdtDbtInd: missing")
	}
	b.Date = dateOf(child(e, "Dt"))
	return b, nil
}

// An Entry is one Ntry, with its transaction details.
type Entry struct {
	Kind                  string        `json:"kind"` // "entry"
	Message               string        `json:"message"`
	MsgID                 string        `json:"msg_id"`
	ReportID              string        `json:"report_id"`
	Account               string        `json:"account"`
	EntryRef              string        `json:"entry_ref"`
	AcctSvcrRef           string        `json:"acct_svcr_ref"`
	Amount                string        `json:"amount"`
	Currency              string        `json:"currency"`
	CreditDebit           string        `json:"credit_debit"`
	Status                string        `json:"status"`
	BookingDate           string        `json:"booking_date"`
	ValueDate             string        `json:"value_date"`
	Reversal              bool          `json:"reversal"`
	BankTxCode            string        `json:"bank_tx_code"`
	BankTxCodeProprietary string        `json:"bank_tx_code_proprietary,omitempty"`
	BatchCount            *int          `json:"batch_count"`
	AdditionalInfo        string        `json:"additional_info,omitempty"`
	Charges               []Charge      `json:"charges,omitempty"`
	Transactions          []Transaction `json:"transactions"`
	Warnings              []string      `json:"warnings,omitempty"`
}

// A Charge is one charge record (Chrgs).
type Charge struct {
	Amount      string `json:"amount"`
	Currency    string `json:"currency"`
	CreditDebit string `json:"credit_debit,omitempty"`
	Type        string `json:"type,omitempty"`
	Bearer      string `json:"bearer,omitempty"`
}

// A Transaction is one TxDtls of an entry.
type Transaction struct {
	EndToEndID        string         `json:"end_to_end_id"`
	TxID              string         `json:"tx_id"`
	MsgID             string         `json:"msg_id"`
	PmtInfID          string         `json:"pmt_inf_id"`
	InstrID           string         `json:"instr_id,omitempty"`
	AcctSvcrRef       string         `json:"acct_svcr_ref"`
	MandateID         string         `json:"mandate_id,omitempty"`
	UETR              string         `json:"uetr,omitempty"`
	ProprietaryRef    string         `json:"proprietary_ref,omitempty"`
	Amount            string         `json:"amount"`
	Currency          string         `json:"currency"`
	CreditDebit       string         `json:"credit_debit"`
	AmountDetails     *AmountDetails `json:"amount_details,omitempty"`
	Counterparty      *PartyInfo     `json:"counterparty"`
	Debtor            *PartyInfo     `json:"debtor,omitempty"`
	UltimateDebtor    *PartyInfo     `json:"ultimate_debtor,omitempty"`
	Creditor          *PartyInfo     `json:"creditor,omitempty"`
	UltimateCreditor  *PartyInfo     `json:"ultimate_creditor,omitempty"`
	Remittance        string         `json:"remittance"`
	CreditorReference string         `json:"creditor_reference"`
	Purpose           string         `json:"purpose,omitempty"`
	BudgetCode        string         `json:"budget_code"`
	BankTxCode        string         `json:"bank_tx_code,omitempty"`
	ReturnReason      string         `json:"return_reason,omitempty"`
	ReturnInfo        string         `json:"return_info,omitempty"`
	Charges           []Charge       `json:"charges,omitempty"`
	AdditionalInfo    string         `json:"additional_info,omitempty"`
}

// finishTx completes a transaction once its entry is known: it inherits
// the entry's CdtDbtInd when it has none, and its counterparty is the
// other side — the debtor of a credit, the creditor of a debit (swapped for
// a reversal entry).
func finishTx(tx *Transaction, en *Entry) {
	if tx.CreditDebit == "" {
		tx.CreditDebit = en.CreditDebit
	}
	credit := tx.CreditDebit == "CRDT"
	if en.Reversal {
		credit = !credit
	}
	if credit {
		tx.Counterparty = tx.Debtor
	} else {
		tx.Counterparty = tx.Creditor
	}
}

// AmountDetails is TxDtls/AmtDtls.
type AmountDetails struct {
	Instructed       *Money `json:"instructed,omitempty"`
	Transaction      *Money `json:"transaction,omitempty"`
	CounterValue     *Money `json:"counter_value,omitempty"`
	AnnouncedPosting *Money `json:"announced_posting,omitempty"`
}

// PartyInfo is a related party with its account and agent.
type PartyInfo struct {
	Name    string `json:"name,omitempty"`
	IBAN    string `json:"iban,omitempty"`
	Account string `json:"account,omitempty"` // non-IBAN account id
	BIC     string `json:"bic,omitempty"`
	ID      string `json:"id,omitempty"`
}

// readEntryHeader reads an entry's own fields from its children other
// than NtryDtls.
func (d *Decoder) readEntryHeader(e *etree.Element, path string) (*Entry, error) {
	en := &Entry{Kind: "entry", Message: d.info.Message, MsgID: d.grp.msgID, ReportID: d.rpt.ReportID, Account: d.rpt.Account,
		Transactions: []Transaction{}}
	// Tolerant: a missing amount or indicator is a warning on a kept
	// entry; a present but invalid one is an error.
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
	// Entry status: v02 <Sts>BOOK</Sts>, v08 <Sts><Cd>BOOK</Cd></Sts> or Prtry.
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
	en.BankTxCode, en.BankTxCodeProprietary = bankTxCode(child(e, "BkTxCd"))
	en.AdditionalInfo = text(e, "AddtlNtryInf")
	if en.Charges, err = charges(child(e, "Chrgs"), path+"/Chrgs"); err != nil {
		return nil, err
	}
	return en, nil
}

// readEntry reads one Ntry whose start tag was just read. Its children are
// read as small etree subtrees, except NtryDtls, whose Btch and TxDtls are
// read one at a time: a batch entry of thousands of transactions never
// becomes one large tree. It returns a per-entry (recoverable) error in
// recErr, after consuming the whole entry, and a final error in err.
func (d *Decoder) readEntry(start xml.StartElement, path string) (en *Entry, recErr, err error) {
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
						tx, err := readTx(c, txPath)
						if err != nil && recErr == nil {
							recErr = err
						}
						txs = append(txs, tx)
					}
				}
			}
		case xml.EndElement: // </Ntry>
			if recErr != nil {
				return nil, recErr, nil
			}
			en, err := d.readEntryHeader(hdr, path)
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

// bankTxCode reads BkTxCd: "DOMAIN-FAMILY-SUBFAMILY" and the proprietary
// code (Issr/Cd when an issuer is given).
func bankTxCode(e *etree.Element) (code, prtry string) {
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

// charges reads Chrgs: v02 a list of ChargesInformation, v08 one
// Charges with TtlChrgsAndTaxAmt and Rcrd*.
func charges(e *etree.Element, path string) ([]Charge, error) {
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

func party(pty *etree.Element) *PartyInfo {
	if pty == nil {
		return nil
	}
	// v08 wraps the party: Dbtr/Pty or Dbtr/Agt.
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

func readTx(td *etree.Element, path string) (Transaction, error) {
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
	if ad.Instructed, err = optMoney(td, path, "AmtDtls", "InstdAmt", "Amt"); err != nil {
		return tx, err
	}
	if ad.Transaction, err = optMoney(td, path, "AmtDtls", "TxAmt", "Amt"); err != nil {
		return tx, err
	}
	if ad.CounterValue, err = optMoney(td, path, "AmtDtls", "CntrValAmt", "Amt"); err != nil {
		return tx, err
	}
	if ad.AnnouncedPosting, err = optMoney(td, path, "AmtDtls", "AnncdPstngAmt", "Amt"); err != nil {
		return tx, err
	}
	if *ad != (AmountDetails{}) {
		tx.AmountDetails = ad
	}
	// v04+ carry TxDtls/Amt and CdtDbtInd; v02 only AmtDtls.
	amt, err := optMoney(td, path, "Amt")
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
	tx.BankTxCode, _ = bankTxCode(child(td, "BkTxCd"))

	rp := child(td, "RltdPties")
	ra := child(td, "RltdAgts")
	tx.Debtor = party(child(rp, "Dbtr"))
	tx.Creditor = party(child(rp, "Cdtr"))
	tx.UltimateDebtor = party(child(rp, "UltmtDbtr"))
	tx.UltimateCreditor = party(child(rp, "UltmtCdtr"))
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
	if tx.Charges, err = charges(child(td, "Chrgs"), path+"/Chrgs"); err != nil {
		return tx, err
	}
	tx.AdditionalInfo = text(td, "AddtlTxInf")
	return tx, nil
}
