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
// than NtryDtls (the block's root e). at names the entry in errors.
func (d *Decoder) readEntryHeader(b *block, e int32, at func() string) (*Entry, error) {
	en := &Entry{Kind: "entry", Message: d.info.Message, MsgID: d.grp.msgID, ReportID: d.rpt.ReportID, Account: d.rpt.Account,
		Transactions: []Transaction{}}
	// Tolerant: a missing amount or indicator is a warning on a kept
	// entry; a present but invalid one is an error.
	var err error
	if amt := b.child(e, "Amt"); amt >= 0 {
		if en.Amount, en.Currency, err = b.money(amt, at, "/Amt"); err != nil {
			return nil, err
		}
	} else {
		en.Warnings = append(en.Warnings, "Amt: missing")
	}
	if en.CreditDebit, err = b.creditDebit(e, at); err != nil {
		return nil, err
	}
	if en.CreditDebit == "" {
		en.Warnings = append(en.Warnings, "CdtDbtInd: missing")
	}
	rv := b.text(e, "RvslInd")
	en.Reversal = rv == "true" || rv == "1"
	// Entry status: v02 <Sts>BOOK</Sts>, v08 <Sts><Cd>BOOK</Cd></Sts> or Prtry.
	if sts := b.child(e, "Sts"); sts >= 0 {
		if en.Status = b.ownText(sts); en.Status == "" {
			if en.Status = b.text(sts, "Cd"); en.Status == "" {
				en.Status = b.text(sts, "Prtry")
			}
		}
	}
	if en.Status == "" {
		en.Warnings = append(en.Warnings, "Sts: missing")
	}
	en.BookingDate = b.dateOf(b.child(e, "BookgDt"))
	if en.BookingDate == "" && en.Status == "BOOK" {
		en.Warnings = append(en.Warnings, "BookgDt: missing on a booked entry")
	}
	en.ValueDate = b.dateOf(b.child(e, "ValDt"))
	en.EntryRef = b.text(e, "NtryRef")
	en.AcctSvcrRef = b.text(e, "AcctSvcrRef")
	en.BankTxCode, en.BankTxCodeProprietary = b.bankTxCode(b.child(e, "BkTxCd"))
	en.AdditionalInfo = b.text(e, "AddtlNtryInf")
	if en.Charges, err = b.charges(e, at); err != nil {
		return nil, err
	}
	return en, nil
}

// An entryReader holds the blocks a Decoder reuses from entry to entry.
type entryReader struct {
	hdr, tx block
}

// readEntry reads one Ntry whose start tag was just read. Its children are
// read into a small reused block, except NtryDtls, whose Btch and TxDtls
// are read one at a time: a batch entry of thousands of transactions never
// becomes one large tree. It returns a per-entry (recoverable) error in
// recErr, after consuming the whole entry, and a final error in err. at
// names the entry in errors; it is called only when one is reported.
func (d *Decoder) readEntry(start xml.StartElement, at func() string) (en *Entry, recErr, err error) {
	hb, tb := &d.entries.hdr, &d.entries.tx
	hb.reset()
	hdr := hb.add(-1, start)
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
				if _, err := d.readBlock(hb, hdr, t, &budget); err != nil {
					return nil, nil, err
				}
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
					tb.reset()
					txBudget := d.lim.MaxElements
					c, err := d.readBlock(tb, -1, t, &txBudget)
					if err != nil {
						return nil, nil, err
					}
					switch t.Name.Local {
					case "Btch":
						if batch == nil {
							batch = atoiPtr(tb.text(c, "NbOfTxs"))
						}
					case "TxDtls":
						txIdx++
						nd, ti := ndIdx, txIdx
						txAt := func() string { return fmt.Sprintf("%s/NtryDtls[%d]/TxDtls[%d]", at(), nd, ti) }
						if len(txs) >= d.lim.MaxTxPerEntry {
							if recErr == nil {
								recErr = &DecodeError{Path: txAt(), Err: fmt.Errorf("%w: more than %d", ErrTooManyTransactions, d.lim.MaxTxPerEntry)}
							}
							continue
						}
						if txs == nil {
							txs = make([]Transaction, 0, 4)
						}
						txs = append(txs, Transaction{})
						if err := tb.readTx(c, &txs[len(txs)-1], txAt); err != nil && recErr == nil {
							recErr = err
						}
					}
				}
			}
		case xml.EndElement: // </Ntry>
			if recErr != nil {
				return nil, recErr, nil
			}
			en, err := d.readEntryHeader(hb, hdr, at)
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

// money reads an amount element with its Ccy attribute; at()+sub names it
// in errors.
func (b *block) money(n int32, at func() string, sub string) (amount, ccy string, err error) {
	amt := b.ownText(n)
	if !validDecimal(amt) {
		return "", "", &DecodeError{Path: at() + sub, Err: fmt.Errorf("%w: %q", ErrInvalidAmount, amt)}
	}
	ccy = b.attr(n, "Ccy")
	if ccy == "" {
		return "", "", &DecodeError{Path: at() + sub + "/@Ccy", Err: ErrMissingElement}
	}
	return amt, ccy, nil
}

// optMoney reads an optional amount at the chain of names: nil when absent.
func (b *block) optMoney(n int32, at func() string, names ...string) (*Money, error) {
	c := b.child(n, names...)
	if c < 0 {
		return nil, nil
	}
	amt, ccy, err := b.money(c, at, "/"+strings.Join(names, "/"))
	if err != nil {
		return nil, err
	}
	return &Money{Amount: amt, Currency: ccy}, nil
}

// creditDebit reads n's optional CdtDbtInd.
func (b *block) creditDebit(n int32, at func() string) (string, error) {
	v := b.text(n, "CdtDbtInd")
	switch v {
	case "CRDT", "DBIT", "":
		return v, nil
	}
	return "", &DecodeError{Path: at() + "/CdtDbtInd", Err: fmt.Errorf("%w: %q (want CRDT or DBIT)", ErrInvalidValue, v)}
}

// dateOf reads a DateAndDateTimeChoice (Dt or DtTm).
func (b *block) dateOf(n int32) string {
	if n < 0 {
		return ""
	}
	if s := b.text(n, "Dt"); s != "" {
		return s
	}
	return b.text(n, "DtTm")
}

// bankTxCode reads BkTxCd: "DOMAIN-FAMILY-SUBFAMILY" and the proprietary
// code (Issr/Cd when an issuer is given).
func (b *block) bankTxCode(n int32) (code, prtry string) {
	if n < 0 {
		return "", ""
	}
	if dom := b.child(n, "Domn"); dom >= 0 {
		code = b.text(dom, "Cd") + "-" + b.text(dom, "Fmly", "Cd") + "-" + b.text(dom, "Fmly", "SubFmlyCd")
		if code == "--" {
			code = ""
		}
	}
	if p := b.child(n, "Prtry"); p >= 0 {
		prtry = b.text(p, "Cd")
		if issr := b.text(p, "Issr"); issr != "" && prtry != "" {
			prtry = issr + "/" + prtry
		}
	}
	return code, prtry
}

// charges reads the Chrgs children of parent: v02 a list of
// ChargesInformation, v08 one Charges with TtlChrgsAndTaxAmt and Rcrd*.
func (b *block) charges(parent int32, at func() string) ([]Charge, error) {
	var out []Charge
	var err error
	add := func(c int32, sub func() string) {
		amt := b.child(c, "Amt")
		if amt < 0 || err != nil {
			return
		}
		var ch Charge
		if ch.Amount, ch.Currency, err = b.money(amt, sub, "/Amt"); err != nil {
			return
		}
		ch.CreditDebit, ch.Bearer = b.text(c, "CdtDbtInd"), b.text(c, "Br")
		if ch.Type = b.text(c, "Tp", "Cd"); ch.Type == "" {
			ch.Type = b.text(c, "Tp", "Prtry", "Id")
		}
		out = append(out, ch)
	}
	i := 0
	b.each(parent, "Chrgs", func(c int32) {
		i++
		ci := i
		p := func() string { return fmt.Sprintf("%s/Chrgs[%d]", at(), ci) }
		if b.child(c, "Rcrd") < 0 {
			add(c, p)
			return
		}
		j := 0
		b.each(c, "Rcrd", func(r int32) {
			j++
			rj := j
			add(r, func() string { return fmt.Sprintf("%s/Rcrd[%d]", p(), rj) })
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (b *block) party(pty int32) *PartyInfo {
	if pty < 0 {
		return nil
	}
	// v08 wraps the party: Dbtr/Pty or Dbtr/Agt.
	if p := b.child(pty, "Pty"); p >= 0 {
		pty = p
	}
	pi := &PartyInfo{Name: b.text(pty, "Nm")}
	if id := b.child(pty, "Id"); id >= 0 {
		if pi.ID = b.text(id, "OrgId", "Othr", "Id"); pi.ID == "" {
			if pi.ID = b.text(id, "PrvtId", "Othr", "Id"); pi.ID == "" {
				if pi.ID = b.text(id, "OrgId", "BICOrBEI"); pi.ID == "" {
					pi.ID = b.text(id, "OrgId", "AnyBIC")
				}
			}
		}
	}
	return pi
}

// bic reads FinInstnId's BIC (v02) or BICFI (v08).
func (b *block) bic(fi int32) string {
	if s := b.text(fi, "BIC"); s != "" {
		return s
	}
	return b.text(fi, "BICFI")
}

// readTx reads the TxDtls td into tx; at names it in errors.
func (b *block) readTx(td int32, tx *Transaction, at func() string) error {
	refs := b.child(td, "Refs")
	tx.MsgID = b.text(refs, "MsgId")
	tx.AcctSvcrRef = b.text(refs, "AcctSvcrRef")
	tx.PmtInfID = b.text(refs, "PmtInfId")
	tx.InstrID = b.text(refs, "InstrId")
	tx.EndToEndID = b.text(refs, "EndToEndId")
	tx.TxID = b.text(refs, "TxId")
	tx.MandateID = b.text(refs, "MndtId")
	tx.UETR = b.text(refs, "UETR")
	tx.ProprietaryRef = b.text(refs, "Prtry", "Ref")

	var err error
	var ad AmountDetails
	if ad.Instructed, err = b.optMoney(td, at, "AmtDtls", "InstdAmt", "Amt"); err != nil {
		return err
	}
	if ad.Transaction, err = b.optMoney(td, at, "AmtDtls", "TxAmt", "Amt"); err != nil {
		return err
	}
	if ad.CounterValue, err = b.optMoney(td, at, "AmtDtls", "CntrValAmt", "Amt"); err != nil {
		return err
	}
	if ad.AnnouncedPosting, err = b.optMoney(td, at, "AmtDtls", "AnncdPstngAmt", "Amt"); err != nil {
		return err
	}
	if ad != (AmountDetails{}) {
		tx.AmountDetails = &ad
	}
	// v04+ carry TxDtls/Amt and CdtDbtInd; v02 only AmtDtls.
	amt, err := b.optMoney(td, at, "Amt")
	if err != nil {
		return err
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
	if tx.CreditDebit, err = b.creditDebit(td, at); err != nil {
		return err
	}
	tx.BankTxCode, _ = b.bankTxCode(b.child(td, "BkTxCd"))

	rp := b.child(td, "RltdPties")
	ra := b.child(td, "RltdAgts")
	tx.Debtor = b.party(b.child(rp, "Dbtr"))
	tx.Creditor = b.party(b.child(rp, "Cdtr"))
	tx.UltimateDebtor = b.party(b.child(rp, "UltmtDbtr"))
	tx.UltimateCreditor = b.party(b.child(rp, "UltmtCdtr"))
	attach := func(p **PartyInfo, acct, agent int32) {
		if acct < 0 && agent < 0 {
			return
		}
		if *p == nil {
			*p = &PartyInfo{}
		}
		if id := b.child(acct, "Id"); id >= 0 {
			if (*p).IBAN = b.text(id, "IBAN"); (*p).IBAN == "" {
				(*p).Account = b.text(id, "Othr", "Id")
			}
		}
		(*p).BIC = b.bic(b.child(agent, "FinInstnId"))
	}
	attach(&tx.Debtor, b.child(rp, "DbtrAcct"), b.child(ra, "DbtrAgt"))
	attach(&tx.Creditor, b.child(rp, "CdtrAcct"), b.child(ra, "CdtrAgt"))

	rmt := b.child(td, "RmtInf")
	b.each(rmt, "Ustrd", func(u int32) {
		if s := b.ownText(u); s != "" {
			if tx.Remittance == "" {
				tx.Remittance = s
			} else {
				tx.Remittance += " " + s
			}
		}
	})
	b.each(rmt, "Strd", func(s int32) {
		if tx.CreditorReference == "" {
			tx.CreditorReference = b.text(s, "CdtrRefInf", "Ref")
		}
		if tx.BudgetCode == "" {
			tx.BudgetCode = b.text(s, "TaxRmt", "Rcrd", "Ctgy")
		}
	})
	if c := b.text(td, "Tax", "Rcrd", "Ctgy"); c != "" {
		tx.BudgetCode = c
	}
	if tx.Purpose = b.text(td, "Purp", "Cd"); tx.Purpose == "" {
		tx.Purpose = b.text(td, "Purp", "Prtry")
	}
	if rtr := b.child(td, "RtrInf"); rtr >= 0 {
		if tx.ReturnReason = b.text(rtr, "Rsn", "Cd"); tx.ReturnReason == "" {
			tx.ReturnReason = b.text(rtr, "Rsn", "Prtry")
		}
		first := true
		b.each(rtr, "AddtlInf", func(a int32) {
			if !first {
				tx.ReturnInfo += " "
			}
			first = false
			tx.ReturnInfo += b.ownText(a)
		})
	}
	if tx.Charges, err = b.charges(td, at); err != nil {
		return err
	}
	tx.AdditionalInfo = b.text(td, "AddtlTxInf")
	return nil
}
