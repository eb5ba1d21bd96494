package xmlcodec

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// A Pain001Request is one batch of payments to encode.
type Pain001Request struct {
	// MsgID is the pain.001 MsgId (≤ 35 characters). When the profile's
	// file limit splits the batch, file n gets MsgID + "-" + n, so MsgID
	// must then leave room (≤ 30). Empty: "ISOG" + the clock's UTC time +
	// "-" + 8 hex digits of the SHA-256 of the payment IDs.
	MsgID string
	// InitiatingParty is GrpHdr/InitgPty. Empty name: the first payment's
	// debtor name.
	InitiatingParty Party
	// Now is the clock (CreDtTm, default execution date). Default time.Now.
	Now      func() time.Time
	Payments []Payment
}

// A Pain001File is one encoded pain.001 document.
type Pain001File struct {
	MsgID      string
	NbOfTxs    int
	CtrlSum    string   // exact sum of InstdAmt
	PaymentIDs []string // EndToEndIds in document order
	Data       []byte
}

// A Pain001Result is the outcome of [Profile.EncodePain001].
type Pain001Result struct {
	Files   []Pain001File
	Changes []Change // transliterations made (profile charset policy "transliterate")
}

// ErrEmptyBatch is returned when there is nothing to encode.
var ErrEmptyBatch = errors.New("xmlcodec: no payments to encode")

// EncodePain001 validates the batch (every problem at once, as
// [ValidationErrors]) and encodes it in the profile's pain.001 version: one
// PmtInf per debtor + debtor account + execution date + currency (+ the
// profile's group_by keys), in order of first appearance, split into files of
// at most Limits.MaxTxPerFile transactions. Same payments and same clock give
// the same bytes.
func (p *Profile) EncodePain001(req Pain001Request) (*Pain001Result, error) {
	if len(req.Payments) == 0 {
		return nil, ErrEmptyBatch
	}
	pays, changes, err := p.ValidatePayments(req.Payments)
	if err != nil {
		return &Pain001Result{Changes: changes}, err
	}
	now := time.Now
	if req.Now != nil {
		now = req.Now
	}
	t := now()
	init := req.InitiatingParty
	if init.Name == "" {
		init.Name = pays[0].Debtor.Name
	}
	v := &validator{p: p, index: -1}
	init.Name = v.text("initiating_party.name", init.Name, p.Limits.NameMax)
	if init.ID != "" {
		init.ID = v.text("initiating_party.id", init.ID, 35)
	}
	for i := range pays {
		if pays[i].ExecutionDate == "" {
			pays[i].ExecutionDate = t.Format("2006-01-02")
		}
	}
	groups := p.group(pays)
	files := split(groups, p.Limits.MaxTxPerFile, p.Limits.MaxTxPerPmtInf)

	msgID := req.MsgID
	if msgID == "" {
		h := sha256.New()
		for _, x := range pays {
			h.Write([]byte(x.ID))
			h.Write([]byte{0})
		}
		msgID = "ISOG" + t.UTC().Format("20060102150405") + "-" + hex.EncodeToString(h.Sum(nil))[:8]
	}
	max := 35
	if len(files) > 1 {
		max = 35 - 1 - len(strconv.Itoa(len(files)))
	}
	v.ident("msg_id", msgID, max)
	// CtrlSum is a DecimalNumber of at most 18 digits, per file and per
	// PmtInf: a batch worth more must be split by the caller.
	for n, blocks := range files {
		var fileSum decimalSum
		for _, b := range blocks {
			var s decimalSum
			for _, x := range b {
				s.Add(x.Amount)
				fileSum.Add(x.Amount)
			}
			if digits(s.String(0)) > 18 {
				v.fail("amount", "PmtInf of %s sums to %s: more than 18 digits", b[0].Debtor.IBAN, s.String(0))
			}
		}
		if digits(fileSum.String(0)) > 18 {
			v.fail("amount", "file %d sums to %s: CtrlSum would have more than 18 digits", n+1, fileSum.String(0))
		}
	}
	if len(v.errs) > 0 {
		return &Pain001Result{Changes: changes}, v.errs
	}
	res := &Pain001Result{Changes: changes}
	for n, blocks := range files {
		id := msgID
		if len(files) > 1 {
			id = msgID + "-" + strconv.Itoa(n+1)
		}
		f, err := p.encodeFile(id, t, init, blocks)
		if err != nil {
			return nil, err
		}
		res.Files = append(res.Files, f)
	}
	return res, nil
}

// A pmtBlock is the payments of one PmtInf.
type pmtBlock []Payment

func (p *Profile) groupKey(x Payment) string {
	var b strings.Builder
	addr := func(a *Address) {
		if a != nil {
			fmt.Fprintf(&b, "%q", *a)
		}
		b.WriteByte(0)
	}
	for _, s := range []string{x.Debtor.Name, x.Debtor.IBAN, x.Debtor.BIC, x.ExecutionDate, x.Currency} {
		b.WriteString(s)
		b.WriteByte(0)
	}
	addr(x.Debtor.Address)
	for _, g := range p.GroupBy {
		switch g {
		case "budget_code":
			b.WriteString(x.BudgetCode)
		case "purpose":
			b.WriteString(x.Purpose)
		}
		b.WriteByte(0)
	}
	return b.String()
}

// group keeps the order in which keys first appear (deterministic, no map
// iteration).
func (p *Profile) group(pays []Payment) []pmtBlock {
	idx := map[string]int{}
	var groups []pmtBlock
	for _, x := range pays {
		k := p.groupKey(x)
		i, ok := idx[k]
		if !ok {
			i = len(groups)
			idx[k] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], x)
	}
	return groups
}

// split packs groups into files of at most perFile transactions, cutting a
// group into PmtInf blocks of at most perPmtInf (0 = unlimited).
func split(groups []pmtBlock, perFile, perPmtInf int) [][]pmtBlock {
	var files [][]pmtBlock
	var cur []pmtBlock
	room := perFile
	for _, g := range groups {
		for len(g) > 0 {
			if room == 0 {
				files = append(files, cur)
				cur, room = nil, perFile
			}
			n := min(len(g), room)
			if perPmtInf > 0 {
				n = min(n, perPmtInf)
			}
			cur = append(cur, g[:n])
			g = g[n:]
			room -= n
		}
	}
	return append(files, cur)
}

func (p *Profile) encodeFile(msgID string, t time.Time, init Party, blocks []pmtBlock) (Pain001File, error) {
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
	doc.Indent(2)
	var buf bytes.Buffer
	if _, err := doc.WriteTo(&buf); err != nil {
		return f, fmt.Errorf("writing pain.001: %w", err)
	}
	f.Data = buf.Bytes()
	return f, nil
}

func (p *Profile) addTx(pi *etree.Element, x Payment, v09 bool) {
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

// addText adds <tag>text</tag> unless text is empty.
func addText(parent *etree.Element, tag, text string) {
	if text != "" {
		parent.CreateElement(tag).SetText(text)
	}
}

// digits counts the digits of a decimal string, leading zeros excluded.
func digits(s string) int {
	ip, frac, _ := strings.Cut(s, ".")
	ip = strings.TrimLeft(ip, "0")
	if ip == "" {
		return len(strings.TrimLeft(frac, "0"))
	}
	return len(ip) + len(frac)
}
