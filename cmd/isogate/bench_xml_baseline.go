package main

import (
	"bufio"
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/isogate/isogate/xmlcodec"
)

// baselineDecode is the yardstick of `isogate bench xml`: what one would
// write with encoding/xml alone — a Token() loop keeping the open element
// names, collecting text and assigning it by path — extracting the fields
// xmlcodec's decoder extracts from camt.052/053/054 entries into the same
// structs. It checks nothing (no limits, no amount syntax, no errors per
// entry) and reads only entries, so it is the cheapest honest way to get
// the same data.
func baselineDecode(r io.Reader) (decodeStats, error) {
	dec := xml.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	var (
		st    decodeStats
		sum   = newChecksum()
		stack []string
		text  []byte
		b     baselineState
	)
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return st, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			stack = append(stack, t.Name.Local)
			text = text[:0]
			b.start(stack, t)
		case xml.CharData:
			text = append(text, t...)
		case xml.EndElement:
			if b.en != nil {
				if done := b.end(stack, text); done != nil {
					st.entries++
					st.txs += len(done.Transactions)
					sum.entry(done)
				}
			}
			stack = stack[:len(stack)-1]
			text = text[:0]
		}
	}
	st.sum = sum.h.Sum64()
	return st, nil
}

// baselinePartyIDs are the identifiers a party may carry, in the order
// the decoder prefers them.
type baselineParty struct {
	p                                 *xmlcodec.PartyInfo
	orgOthr, prvtOthr, bicOrBEI, anyB string
}

type baselineState struct {
	en         *xmlcodec.Entry
	tx         *xmlcodec.Transaction
	ccy        string // Ccy of the Amt being read
	bookDt     [2]string
	valDt      [2]string
	domn       [3]string
	hasDomn    bool
	prtry      [2]string // Cd, Issr
	charge     *xmlcodec.Charge
	chargeType [2]string // Cd, Prtry/Id
	chrgRcrd   bool      // the Chrgs being read has Rcrd children
	party      baselineParty
	strdRef    string
	strdCtgy   string
	rtrInfo    []string
	ustrd      []string
}

func suffix(stack []string, names ...string) bool {
	if len(stack) < len(names) {
		return false
	}
	for i, n := range names {
		if stack[len(stack)-len(names)+i] != n {
			return false
		}
	}
	return true
}

func (b *baselineState) start(stack []string, t xml.StartElement) {
	name := t.Name.Local
	switch name {
	case "Ntry":
		b.en = &xmlcodec.Entry{Transactions: []xmlcodec.Transaction{}}
		b.bookDt, b.valDt = [2]string{}, [2]string{}
		return
	}
	if b.en == nil {
		return
	}
	switch name {
	case "TxDtls":
		b.en.Transactions = append(b.en.Transactions, xmlcodec.Transaction{})
		b.tx = &b.en.Transactions[len(b.en.Transactions)-1]
		b.ustrd, b.rtrInfo, b.strdRef, b.strdCtgy = b.ustrd[:0], nil, "", ""
	case "Amt":
		b.ccy = ""
		for _, a := range t.Attr {
			if a.Name.Local == "Ccy" && a.Name.Space == "" {
				b.ccy = a.Value
			}
		}
	case "BkTxCd":
		b.domn, b.hasDomn, b.prtry = [3]string{}, false, [2]string{}
	case "Domn":
		b.hasDomn = true
	case "Chrgs":
		b.charge, b.chargeType, b.chrgRcrd = &xmlcodec.Charge{}, [2]string{}, false
	case "Rcrd":
		if suffix(stack, "Chrgs", "Rcrd") {
			b.charge, b.chargeType, b.chrgRcrd = &xmlcodec.Charge{}, [2]string{}, true
		}
	case "Dbtr", "Cdtr", "UltmtDbtr", "UltmtCdtr":
		if suffix(stack, "RltdPties", name) {
			b.party = baselineParty{p: &xmlcodec.PartyInfo{}}
		}
	case "DbtrAcct", "DbtrAgt":
		if b.tx != nil && b.tx.Debtor == nil {
			b.tx.Debtor = &xmlcodec.PartyInfo{}
		}
	case "CdtrAcct", "CdtrAgt":
		if b.tx != nil && b.tx.Creditor == nil {
			b.tx.Creditor = &xmlcodec.PartyInfo{}
		}
	}
}

// end handles the end of the innermost element of stack, whose text is
// text; it returns the entry when it is the end of one.
func (b *baselineState) end(stack []string, text []byte) *xmlcodec.Entry {
	name := stack[len(stack)-1]
	parent := ""
	if len(stack) > 1 {
		parent = stack[len(stack)-2]
	}
	val := func() string { return strings.TrimSpace(string(text)) }
	en, tx := b.en, b.tx
	switch {
	case name == "Ntry":
		en.BookingDate = first(b.bookDt[0], b.bookDt[1])
		en.ValueDate = first(b.valDt[0], b.valDt[1])
		for i := range en.Transactions {
			baselineFinishTx(&en.Transactions[i], en)
		}
		b.en, b.tx = nil, nil
		return en
	case name == "TxDtls":
		tx.Remittance = strings.Join(b.ustrd, " ")
		tx.ReturnInfo = strings.Join(b.rtrInfo, " ")
		if b.strdCtgy != "" && tx.BudgetCode == "" {
			tx.BudgetCode = b.strdCtgy
		}
		tx.CreditorReference = b.strdRef
		if tx.AmountDetails != nil && tx.Amount == "" {
			if m := first2(tx.AmountDetails.Transaction, tx.AmountDetails.Instructed); m != nil {
				tx.Amount, tx.Currency = m.Amount, m.Currency
			}
		}
		b.tx = nil
		return nil
	case b.charge != nil && (name == "Chrgs" || (name == "Rcrd" && parent == "Chrgs")):
		if (name == "Rcrd" || !b.chrgRcrd) && b.charge.Amount != "" {
			b.charge.Type = first(b.chargeType[0], b.chargeType[1])
			if tx != nil {
				tx.Charges = append(tx.Charges, *b.charge)
			} else {
				en.Charges = append(en.Charges, *b.charge)
			}
		}
		if name == "Chrgs" {
			b.charge = nil
		} else {
			b.charge = &xmlcodec.Charge{}
			b.chargeType = [2]string{}
		}
		return nil
	case b.charge != nil:
		switch {
		case name == "Amt" && (parent == "Chrgs" || parent == "Rcrd"):
			b.charge.Amount, b.charge.Currency = val(), b.ccy
		case name == "CdtDbtInd" && (parent == "Chrgs" || parent == "Rcrd"):
			b.charge.CreditDebit = val()
		case name == "Br":
			b.charge.Bearer = val()
		case suffix(stack, "Tp", "Cd"):
			b.chargeType[0] = val()
		case suffix(stack, "Tp", "Prtry", "Id"):
			b.chargeType[1] = val()
		}
		return nil
	case name == "BkTxCd":
		code := ""
		if b.hasDomn {
			if code = b.domn[0] + "-" + b.domn[1] + "-" + b.domn[2]; code == "--" {
				code = ""
			}
		}
		prtry := b.prtry[0]
		if b.prtry[1] != "" && prtry != "" {
			prtry = b.prtry[1] + "/" + prtry
		}
		if tx != nil {
			tx.BankTxCode = code
		} else {
			en.BankTxCode, en.BankTxCodeProprietary = code, prtry
		}
		return nil
	case parent == "Domn" && name == "Cd":
		b.domn[0] = val()
		return nil
	case parent == "Fmly" && name == "Cd":
		b.domn[1] = val()
		return nil
	case name == "SubFmlyCd":
		b.domn[2] = val()
		return nil
	case suffix(stack, "BkTxCd", "Prtry", "Cd"):
		b.prtry[0] = val()
		return nil
	case suffix(stack, "BkTxCd", "Prtry", "Issr"):
		b.prtry[1] = val()
		return nil
	}
	if tx == nil {
		b.endEntryField(stack, name, parent, val)
		return nil
	}
	b.endTxField(stack, name, parent, val)
	return nil
}

func (b *baselineState) endEntryField(stack []string, name, parent string, val func() string) {
	en := b.en
	switch {
	case parent == "Ntry":
		switch name {
		case "NtryRef":
			en.EntryRef = val()
		case "Amt":
			en.Amount, en.Currency = val(), b.ccy
		case "CdtDbtInd":
			en.CreditDebit = val()
		case "RvslInd":
			v := val()
			en.Reversal = v == "true" || v == "1"
		case "Sts":
			if v := val(); v != "" {
				en.Status = v
			}
		case "AcctSvcrRef":
			en.AcctSvcrRef = val()
		case "AddtlNtryInf":
			en.AdditionalInfo = val()
		}
	case parent == "Sts" && (name == "Cd" || name == "Prtry"):
		if en.Status == "" {
			en.Status = val()
		}
	case parent == "BookgDt" || parent == "ValDt":
		d := &b.bookDt
		if parent == "ValDt" {
			d = &b.valDt
		}
		switch name {
		case "Dt":
			d[0] = val()
		case "DtTm":
			d[1] = val()
		}
	case suffix(stack, "Btch", "NbOfTxs"):
		if en.BatchCount == nil {
			if n, err := strconv.Atoi(val()); err == nil {
				en.BatchCount = &n
			}
		}
	}
}

func (b *baselineState) endTxField(stack []string, name, parent string, val func() string) {
	tx := b.tx
	switch parent {
	case "Refs":
		switch name {
		case "MsgId":
			tx.MsgID = val()
		case "AcctSvcrRef":
			tx.AcctSvcrRef = val()
		case "PmtInfId":
			tx.PmtInfID = val()
		case "InstrId":
			tx.InstrID = val()
		case "EndToEndId":
			tx.EndToEndID = val()
		case "TxId":
			tx.TxID = val()
		case "MndtId":
			tx.MandateID = val()
		case "UETR":
			tx.UETR = val()
		}
		return
	case "TxDtls":
		switch name {
		case "Amt":
			tx.Amount, tx.Currency = val(), b.ccy
		case "CdtDbtInd":
			tx.CreditDebit = val()
		case "AddtlTxInf":
			tx.AdditionalInfo = val()
		}
		return
	case "RmtInf":
		if name == "Ustrd" {
			if v := val(); v != "" {
				b.ustrd = append(b.ustrd, v)
			}
		}
		return
	case "RtrInf":
		if name == "AddtlInf" {
			b.rtrInfo = append(b.rtrInfo, val())
		}
		return
	case "Purp":
		switch name {
		case "Cd":
			tx.Purpose = val()
		case "Prtry":
			if tx.Purpose == "" {
				tx.Purpose = val()
			}
		}
		return
	}
	switch {
	case name == "Amt" && len(stack) >= 3 && stack[len(stack)-3] == "AmtDtls":
		m := &xmlcodec.Money{Amount: val(), Currency: b.ccy}
		if tx.AmountDetails == nil {
			tx.AmountDetails = &xmlcodec.AmountDetails{}
		}
		switch parent {
		case "InstdAmt":
			tx.AmountDetails.Instructed = m
		case "TxAmt":
			tx.AmountDetails.Transaction = m
		case "CntrValAmt":
			tx.AmountDetails.CounterValue = m
		case "AnncdPstngAmt":
			tx.AmountDetails.AnnouncedPosting = m
		}
	case suffix(stack, "Prtry", "Ref") && len(stack) >= 3 && stack[len(stack)-3] == "Refs":
		tx.ProprietaryRef = val()
	case suffix(stack, "RltdPties", "Dbtr"), suffix(stack, "RltdPties", "Cdtr"),
		suffix(stack, "RltdPties", "UltmtDbtr"), suffix(stack, "RltdPties", "UltmtCdtr"):
		p := b.party
		p.p.ID = first(p.orgOthr, first(p.prvtOthr, first(p.bicOrBEI, p.anyB)))
		switch name {
		case "Dbtr":
			if tx.Debtor != nil { // DbtrAcct came first (not in schema order)
				p.p.IBAN, p.p.Account, p.p.BIC = tx.Debtor.IBAN, tx.Debtor.Account, tx.Debtor.BIC
			}
			tx.Debtor = p.p
		case "Cdtr":
			if tx.Creditor != nil {
				p.p.IBAN, p.p.Account, p.p.BIC = tx.Creditor.IBAN, tx.Creditor.Account, tx.Creditor.BIC
			}
			tx.Creditor = p.p
		case "UltmtDbtr":
			tx.UltimateDebtor = p.p
		case "UltmtCdtr":
			tx.UltimateCreditor = p.p
		}
	case name == "Nm" && b.party.p != nil && b.party.p.Name == "" && inParty(stack):
		b.party.p.Name = val()
	case name == "Id" && parent == "Othr" && len(stack) >= 4 && inParty(stack):
		switch stack[len(stack)-3] {
		case "OrgId":
			b.party.orgOthr = first(b.party.orgOthr, val())
		case "PrvtId":
			b.party.prvtOthr = first(b.party.prvtOthr, val())
		}
	case name == "BICOrBEI" && parent == "OrgId" && inParty(stack):
		b.party.bicOrBEI = val()
	case name == "AnyBIC" && parent == "OrgId" && inParty(stack):
		b.party.anyB = val()
	case suffix(stack, "DbtrAcct", "Id", "IBAN"):
		tx.Debtor.IBAN = val()
	case suffix(stack, "DbtrAcct", "Id", "Othr", "Id"):
		if tx.Debtor.IBAN == "" {
			tx.Debtor.Account = val()
		}
	case suffix(stack, "CdtrAcct", "Id", "IBAN"):
		tx.Creditor.IBAN = val()
	case suffix(stack, "CdtrAcct", "Id", "Othr", "Id"):
		if tx.Creditor.IBAN == "" {
			tx.Creditor.Account = val()
		}
	case suffix(stack, "DbtrAgt", "FinInstnId", "BIC"), suffix(stack, "DbtrAgt", "FinInstnId", "BICFI"):
		if tx.Debtor.BIC == "" {
			tx.Debtor.BIC = val()
		}
	case suffix(stack, "CdtrAgt", "FinInstnId", "BIC"), suffix(stack, "CdtrAgt", "FinInstnId", "BICFI"):
		if tx.Creditor.BIC == "" {
			tx.Creditor.BIC = val()
		}
	case suffix(stack, "Strd", "CdtrRefInf", "Ref"):
		if b.strdRef == "" {
			b.strdRef = val()
		}
	case suffix(stack, "Strd", "TaxRmt", "Rcrd", "Ctgy"):
		if b.strdCtgy == "" {
			b.strdCtgy = val()
		}
	case suffix(stack, "TxDtls", "Tax", "Rcrd", "Ctgy"):
		tx.BudgetCode = val()
	case suffix(stack, "RtrInf", "Rsn", "Cd"):
		tx.ReturnReason = val()
	case suffix(stack, "RtrInf", "Rsn", "Prtry"):
		if tx.ReturnReason == "" {
			tx.ReturnReason = val()
		}
	}
}

// inParty reports whether the innermost element is inside
// RltdPties/{Dbtr,Cdtr,UltmtDbtr,UltmtCdtr}.
func inParty(stack []string) bool {
	for i := len(stack) - 2; i > 0; i-- {
		if stack[i-1] == "RltdPties" {
			switch stack[i] {
			case "Dbtr", "Cdtr", "UltmtDbtr", "UltmtCdtr":
				return true
			}
			return false
		}
	}
	return false
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func first2(ms ...*xmlcodec.Money) *xmlcodec.Money {
	for _, m := range ms {
		if m != nil {
			return m
		}
	}
	return nil
}

// baselineFinishTx is the decoder's rule for the counterparty: the debtor
// of a credit, the creditor of a debit, swapped for a reversal.
func baselineFinishTx(tx *xmlcodec.Transaction, en *xmlcodec.Entry) {
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
