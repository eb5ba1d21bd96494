package xmlcodec

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// The etree encoder below is the reference the byte writer of
// [Profile.encodeFile] must match byte for byte (TestPain001FastMatchesDOM):
// it is the pain.001 encoder as it was before the byte writer, kept as the
// document model of record.

// It sums the amounts itself (decimalSum), so the sums the byte writer is
// given are checked too.
func (p *Profile) encodeFileDOM(msgID string, t time.Time, init Party, blocks []pmtBlock, _ []string) (Pain001File, error) {
	v09 := p.Messages.Pain001 == Pain001V09
	f := Pain001File{MsgID: msgID}
	var total decimalSum
	for _, b := range blocks {
		for _, x := range b {
			total.Add(x.Amount)
			f.NbOfTxs++
			f.PaymentIDs = append(f.PaymentIDs, x.ID)
		}
	}
	f.CtrlSum = total.String(0)

	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	root := doc.CreateElement("Document")
	root.CreateAttr("xmlns", "urn:iso:std:iso:20022:tech:xsd:"+p.Messages.Pain001)
	root.CreateAttr("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance")
	msg := root.CreateElement("CstmrCdtTrfInitn")
	gh := msg.CreateElement("GrpHdr")
	addText(gh, "MsgId", msgID)
	addText(gh, "CreDtTm", t.Format("2006-01-02T15:04:05Z07:00"))
	addText(gh, "NbOfTxs", strconv.Itoa(f.NbOfTxs))
	addText(gh, "CtrlSum", f.CtrlSum)
	p.addParty(gh, "InitgPty", &init, v09)

	for i, b := range blocks {
		pi := msg.CreateElement("PmtInf")
		suffix := "-" + strconv.Itoa(i+1)
		addText(pi, "PmtInfId", msgID[:min(len(msgID), 35-len(suffix))]+suffix)
		addText(pi, "PmtMtd", "TRF")
		var sum decimalSum
		for _, x := range b {
			sum.Add(x.Amount)
		}
		addText(pi, "NbOfTxs", strconv.Itoa(len(b)))
		addText(pi, "CtrlSum", sum.String(0))
		if p.ServiceLevel != "" {
			addText(pi.CreateElement("PmtTpInf").CreateElement("SvcLvl"), "Cd", p.ServiceLevel)
		}
		first := b[0]
		if v09 {
			addText(pi.CreateElement("ReqdExctnDt"), "Dt", first.ExecutionDate)
		} else {
			addText(pi, "ReqdExctnDt", first.ExecutionDate)
		}
		p.addParty(pi, "Dbtr", &Party{Name: first.Debtor.Name, Address: first.Debtor.Address}, v09)
		addText(pi.CreateElement("DbtrAcct").CreateElement("Id"), "IBAN", first.Debtor.IBAN)
		addAgent(pi, "DbtrAgt", first.Debtor.BIC, v09, true)
		addText(pi, "ChrgBr", p.ChargeBearer)
		for _, x := range b {
			p.addTx(pi, x, v09)
		}
	}
	if p.Indent {
		doc.Indent(2)
	}
	var buf bytes.Buffer
	if _, err := doc.WriteTo(&buf); err != nil {
		return f, fmt.Errorf("writing pain.001: %w", err)
	}
	f.Data = buf.Bytes()
	return f, nil
}

func (p *Profile) addTx(pi *etree.Element, x *Payment, v09 bool) {
	tx := pi.CreateElement("CdtTrfTxInf")
	addText(tx.CreateElement("PmtId"), "EndToEndId", x.ID)
	amt := tx.CreateElement("Amt").CreateElement("InstdAmt")
	amt.CreateAttr("Ccy", x.Currency)
	amt.SetText(x.Amount)
	if x.UltimateDebtor != nil {
		p.addParty(tx, "UltmtDbtr", x.UltimateDebtor, v09)
	}
	if x.Creditor.BIC != "" {
		addAgent(tx, "CdtrAgt", x.Creditor.BIC, v09, false)
	}
	p.addParty(tx, "Cdtr", &Party{Name: x.Creditor.Name, Address: x.Creditor.Address}, v09)
	addText(tx.CreateElement("CdtrAcct").CreateElement("Id"), "IBAN", x.Creditor.IBAN)
	if x.UltimateCreditor != nil {
		p.addParty(tx, "UltmtCdtr", x.UltimateCreditor, v09)
	}
	budget := p.BudgetCode.Placement
	// pain.001 Purp: Purpose2Choice, ExternalPurpose1Code or Max35Text.
	switch {
	case x.BudgetCode != "" && budget == "purpose_proprietary":
		addText(tx.CreateElement("Purp"), "Prtry", x.BudgetCode)
	case x.Purpose != "" && purposeRE.MatchString(x.Purpose):
		addText(tx.CreateElement("Purp"), "Cd", x.Purpose)
	case x.Purpose != "":
		addText(tx.CreateElement("Purp"), "Prtry", x.Purpose)
	}
	if x.BudgetCode != "" && budget == "tax_category" {
		addText(tx.CreateElement("Tax").CreateElement("Rcrd"), "Ctgy", x.BudgetCode)
	}
	addlRmt := x.BudgetCode != "" && budget == "additional_remittance"
	if x.Remittance == "" && x.CreditorReference == "" && !addlRmt {
		return
	}
	rmt := tx.CreateElement("RmtInf")
	addText(rmt, "Ustrd", x.Remittance)
	if x.CreditorReference == "" && !addlRmt {
		return
	}
	strd := rmt.CreateElement("Strd")
	if x.CreditorReference != "" {
		ref := strd.CreateElement("CdtrRefInf")
		if strings.HasPrefix(x.CreditorReference, "RF") {
			// ISO 11649 structured creditor reference.
			addText(ref.CreateElement("Tp").CreateElement("CdOrPrtry"), "Cd", "SCOR")
		}
		addText(ref, "Ref", x.CreditorReference)
	}
	if addlRmt {
		addText(strd, "AddtlRmtInf", x.BudgetCode)
	}
}

// addParty writes a PartyIdentification32 (.03) / 135 (.09).
func (p *Profile) addParty(parent *etree.Element, tag string, party *Party, v09 bool) {
	e := parent.CreateElement(tag)
	addText(e, "Nm", party.Name)
	if a := party.Address; a != nil {
		pa := e.CreateElement("PstlAdr")
		addText(pa, "StrtNm", a.Street)
		addText(pa, "BldgNb", a.Building)
		addText(pa, "PstCd", a.Postcode)
		addText(pa, "TwnNm", a.Town)
		addText(pa, "Ctry", a.Country)
		for _, l := range a.Lines {
			addText(pa, "AdrLine", l)
		}
	}
	if party.ID != "" {
		addText(e.CreateElement("Id").CreateElement("OrgId").CreateElement("Othr"), "Id", party.ID)
	}
}

// addAgent writes a BranchAndFinancialInstitutionIdentification4 (.03) /
// 6 (.09). Without a BIC a required agent is "NOTPROVIDED" (EPC usage).
func addAgent(parent *etree.Element, tag, bic string, v09, required bool) {
	if bic == "" && !required {
		return
	}
	fi := parent.CreateElement(tag).CreateElement("FinInstnId")
	switch {
	case bic == "":
		addText(fi.CreateElement("Othr"), "Id", "NOTPROVIDED")
	case v09:
		addText(fi, "BICFI", bic)
	default:
		addText(fi, "BIC", bic)
	}
}
