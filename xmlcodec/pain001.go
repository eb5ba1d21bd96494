package xmlcodec

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
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
	// PmtInfs are the document's PmtInf blocks in document order: block i
	// holds the next PmtInfs[i].Count of PaymentIDs, so the counts sum to
	// NbOfTxs. A pain.002 may answer per block (OrgnlPmtInfAndSts), and
	// this says which payments a block's status covers without reading
	// Data again.
	PmtInfs []PmtInfRef
	Data    []byte
}

// A PmtInfRef is one PmtInf block of a [Pain001File]: its PmtInfId and how
// many transactions (CdtTrfTxInf) it holds.
type PmtInfRef struct {
	ID    string `json:"id"`
	Count int    `json:"count"`
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
	return p.encodePain001(req, p.encodeFile)
}

// A fileEncoder writes one pain.001 document: [Profile.encodeFile] (the
// byte writer) or, in tests, the etree reference it must match byte for
// byte.
// sums holds each block's sum of amounts, as encodePain001 computed them
// for its checks.
type fileEncoder func(msgID string, t time.Time, init Party, blocks []pmtBlock, sums []string) (Pain001File, error)

func (p *Profile) encodePain001(req Pain001Request, encodeFile fileEncoder) (*Pain001Result, error) {
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
		for i := range pays {
			h.Write([]byte(pays[i].ID))
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
	sums := make([][]string, len(files))
	for n, blocks := range files {
		var fileSum amountSum
		sums[n] = make([]string, len(blocks))
		for i, b := range blocks {
			var s amountSum
			for _, x := range b {
				s.add(x.Amount)
			}
			sum := s.String()
			sums[n][i] = sum
			if digits(sum) > 18 {
				v.fail("amount", "PmtInf of %s sums to %s: more than 18 digits", b[0].Debtor.IBAN, sum)
			}
			fileSum.add(sum)
		}
		if digits(fileSum.String()) > 18 {
			v.fail("amount", "file %d sums to %s: CtrlSum would have more than 18 digits", n+1, fileSum.String())
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
		f, err := encodeFile(id, t, init, blocks, sums[n])
		if err != nil {
			return nil, err
		}
		res.Files = append(res.Files, f)
	}
	return res, nil
}

// A pmtBlock is the payments of one PmtInf (pointers into the validated
// batch: a Payment is too large to copy around per transaction).
type pmtBlock []*Payment

// appendGroupKey appends the PmtInf key of x to b: each field followed by
// a NUL, which validated text never holds, so equal keys mean equal fields.
func (p *Profile) appendGroupKey(b []byte, x *Payment) []byte {
	for _, s := range [...]string{x.Debtor.Name, x.Debtor.IBAN, x.Debtor.BIC, x.ExecutionDate, x.Currency} {
		b = append(b, s...)
		b = append(b, 0)
	}
	if a := x.Debtor.Address; a != nil {
		b = append(b, 1)
		for _, s := range [...]string{a.Street, a.Building, a.Postcode, a.Town, a.Country} {
			b = append(b, s...)
			b = append(b, 0)
		}
		b = strconv.AppendInt(b, int64(len(a.Lines)), 10)
		for _, l := range a.Lines {
			b = append(b, 0)
			b = append(b, l...)
		}
	}
	b = append(b, 0)
	for _, g := range p.GroupBy {
		switch g {
		case "budget_code":
			b = append(b, x.BudgetCode...)
		case "purpose":
			b = append(b, x.Purpose...)
		}
		b = append(b, 0)
	}
	return b
}

// group keeps the order in which keys first appear (deterministic, no map
// iteration).
func (p *Profile) group(pays []Payment) []pmtBlock {
	idx := map[string]int{}
	var groups []pmtBlock
	var key []byte
	// The groups of the last few payments: batches cycle through a few
	// debtors and dates, so most payments are matched by comparing fields
	// (sameGroup, equal exactly when the keys are) without the map.
	var recent [4]int
	nRecent, next := 0, 0
	for j := range pays {
		x := &pays[j]
		i := -1
		for _, g := range recent[:nRecent] {
			if p.sameGroup(groups[g][0], x) {
				i = g
				break
			}
		}
		if i < 0 {
			key = p.appendGroupKey(key[:0], x)
			var ok bool
			if i, ok = idx[string(key)]; !ok {
				i = len(groups)
				idx[string(key)] = i
				groups = append(groups, nil)
			}
			recent[next] = i
			next = (next + 1) % len(recent)
			nRecent = min(nRecent+1, len(recent))
		}
		groups[i] = append(groups[i], x)
	}
	return groups
}

// sameGroup reports whether a and b have the same group key
// (appendGroupKey), field by field.
func (p *Profile) sameGroup(a, b *Payment) bool {
	if a.Debtor.Name != b.Debtor.Name || a.Debtor.IBAN != b.Debtor.IBAN || a.Debtor.BIC != b.Debtor.BIC ||
		a.ExecutionDate != b.ExecutionDate || a.Currency != b.Currency || !sameAddress(a.Debtor.Address, b.Debtor.Address) {
		return false
	}
	for _, g := range p.GroupBy {
		switch g {
		case "budget_code":
			if a.BudgetCode != b.BudgetCode {
				return false
			}
		case "purpose":
			if a.Purpose != b.Purpose {
				return false
			}
		}
	}
	return true
}

func sameAddress(a, b *Address) bool {
	if a == b {
		return true
	}
	if a == nil || b == nil {
		return false
	}
	return a.Street == b.Street && a.Building == b.Building && a.Postcode == b.Postcode && a.Town == b.Town &&
		a.Country == b.Country && slices.Equal(a.Lines, b.Lines)
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

// pain.001 element tags, written out once.
var (
	tAddtlRmtInf      = newTag("AddtlRmtInf")
	tAdrLine          = newTag("AdrLine")
	tAmt              = newTag("Amt")
	tBIC              = newTag("BIC")
	tBICFI            = newTag("BICFI")
	tBldgNb           = newTag("BldgNb")
	tCd               = newTag("Cd")
	tCdOrPrtry        = newTag("CdOrPrtry")
	tCdtTrfTxInf      = newTag("CdtTrfTxInf")
	tCdtr             = newTag("Cdtr")
	tCdtrAcct         = newTag("CdtrAcct")
	tCdtrAgt          = newTag("CdtrAgt")
	tCdtrRefInf       = newTag("CdtrRefInf")
	tChrgBr           = newTag("ChrgBr")
	tCreDtTm          = newTag("CreDtTm")
	tCstmrCdtTrfInitn = newTag("CstmrCdtTrfInitn")
	tCtgy             = newTag("Ctgy")
	tCtrlSum          = newTag("CtrlSum")
	tCtry             = newTag("Ctry")
	tDbtr             = newTag("Dbtr")
	tDbtrAcct         = newTag("DbtrAcct")
	tDbtrAgt          = newTag("DbtrAgt")
	tDocument         = newTag("Document")
	tDt               = newTag("Dt")
	tEndToEndId       = newTag("EndToEndId")
	tFinInstnId       = newTag("FinInstnId")
	tGrpHdr           = newTag("GrpHdr")
	tIBAN             = newTag("IBAN")
	tId               = newTag("Id")
	tInitgPty         = newTag("InitgPty")
	tInstdAmt         = newTag("InstdAmt")
	tMsgId            = newTag("MsgId")
	tNbOfTxs          = newTag("NbOfTxs")
	tNm               = newTag("Nm")
	tOrgId            = newTag("OrgId")
	tOthr             = newTag("Othr")
	tPmtId            = newTag("PmtId")
	tPmtInf           = newTag("PmtInf")
	tPmtInfId         = newTag("PmtInfId")
	tPmtMtd           = newTag("PmtMtd")
	tPmtTpInf         = newTag("PmtTpInf")
	tPrtry            = newTag("Prtry")
	tPstCd            = newTag("PstCd")
	tPstlAdr          = newTag("PstlAdr")
	tPurp             = newTag("Purp")
	tRcrd             = newTag("Rcrd")
	tRef              = newTag("Ref")
	tReqdExctnDt      = newTag("ReqdExctnDt")
	tRmtInf           = newTag("RmtInf")
	tStrd             = newTag("Strd")
	tStrtNm           = newTag("StrtNm")
	tSvcLvl           = newTag("SvcLvl")
	tTax              = newTag("Tax")
	tTp               = newTag("Tp")
	tTwnNm            = newTag("TwnNm")
	tUltmtCdtr        = newTag("UltmtCdtr")
	tUltmtDbtr        = newTag("UltmtDbtr")
	tUstrd            = newTag("Ustrd")
)

// The head of a CdtTrfTxInf (Document/CstmrCdtTrfInitn/PmtInf/CdtTrfTxInf,
// depth 3) written out once: up to the EndToEndId text, from there to the
// InstdAmt currency, and after the amount.
const txDepth = 3

// txHeads holds them indented (index 0) and flat (1).
var txHeads = [2]struct{ head, amt, amtEnd string }{
	{
		head:   tCdtTrfTxInf.ind[txDepth] + tPmtId.ind[txDepth+1] + tEndToEndId.ind[txDepth+2],
		amt:    tEndToEndId.close + tPmtId.indClose[txDepth+1] + tAmt.ind[txDepth+1] + strings.TrimSuffix(tInstdAmt.ind[txDepth+2], ">") + ` Ccy="`,
		amtEnd: tInstdAmt.close + tAmt.indClose[txDepth+1],
	},
	{
		head:   tCdtTrfTxInf.open + tPmtId.open + tEndToEndId.open,
		amt:    tEndToEndId.close + tPmtId.close + tAmt.open + strings.TrimSuffix(tInstdAmt.open, ">") + ` Ccy="`,
		amtEnd: tInstdAmt.close + tAmt.close,
	},
}

// encodeFile writes one pain.001 document with the byte writer
// (xmlwriter.go), flat or indented as the profile says: no tree, no
// reflection, one allocation for the document unless it outgrows its
// estimate. Its output is byte for byte the etree encoder's
// (pain001_dom_test.go). It expects validated payments: IBANs, BICs,
// amounts, currencies, dates and codes are written without escaping
// because validation allows nothing in them to escape.
func (p *Profile) encodeFile(msgID string, t time.Time, init Party, blocks []pmtBlock, sums []string) (Pain001File, error) {
	v09 := p.Messages.Pain001 == Pain001V09
	f := Pain001File{MsgID: msgID}
	n := 0
	for _, b := range blocks {
		n += len(b)
	}
	f.PaymentIDs = make([]string, 0, n)
	f.PmtInfs = make([]PmtInfRef, len(blocks))
	var total amountSum
	for i, b := range blocks {
		for _, x := range b {
			f.PaymentIDs = append(f.PaymentIDs, x.ID)
		}
		total.add(sums[i])
		f.PmtInfs[i] = PmtInfRef{ID: pmtInfID(msgID, i), Count: len(b)}
	}
	f.NbOfTxs = n
	f.CtrlSum = total.String()

	// The file is written straight into the buffer it keeps, sized on
	// the files written before it (fileSizer). A pooled buffer copied out
	// cost a copy of every file, and the collector emptied the pool
	// between large files anyway.
	sizer := sizerFor(p.Indent)
	w := xmlWriter{b: make([]byte, 0, sizer.capacity(n)), flat: !p.Indent}
	w.header()
	w.start(tDocument)
	w.attr("xmlns", "urn:iso:std:iso:20022:tech:xsd:"+p.Messages.Pain001)
	w.attr("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance")
	w.start(tCstmrCdtTrfInitn)
	w.start(tGrpHdr)
	w.leaf(tMsgId, msgID)
	w.leafASCII(tCreDtTm, t.Format("2006-01-02T15:04:05Z07:00"))
	w.leafASCII(tNbOfTxs, strconv.Itoa(f.NbOfTxs))
	w.leafASCII(tCtrlSum, f.CtrlSum)
	p.writeParty(&w, tInitgPty, &init)
	w.end(tGrpHdr)

	for i, b := range blocks {
		w.start(tPmtInf)
		w.leaf(tPmtInfId, f.PmtInfs[i].ID)
		w.leafASCII(tPmtMtd, "TRF")
		w.leafASCII(tNbOfTxs, strconv.Itoa(len(b)))
		w.leafASCII(tCtrlSum, sums[i])
		if p.ServiceLevel != "" {
			w.start(tPmtTpInf)
			w.start(tSvcLvl)
			w.leafASCII(tCd, p.ServiceLevel)
			w.end(tSvcLvl)
			w.end(tPmtTpInf)
		}
		first := b[0]
		if v09 {
			w.start(tReqdExctnDt)
			w.leafASCII(tDt, first.ExecutionDate)
			w.end(tReqdExctnDt)
		} else {
			w.leafASCII(tReqdExctnDt, first.ExecutionDate)
		}
		p.writeParty(&w, tDbtr, &Party{Name: first.Debtor.Name, Address: first.Debtor.Address})
		writeAccount(&w, cDbtrAcct, first.Debtor.IBAN)
		writeAgent(&w, tDbtrAgt, first.Debtor.BIC, v09, true)
		w.leafASCII(tChrgBr, p.ChargeBearer)
		for _, x := range b {
			p.writeTx(&w, x, v09)
		}
		w.end(tPmtInf)
	}
	w.end(tCstmrCdtTrfInitn)
	w.end(tDocument)
	w.finish()
	f.Data = w.b
	sizer.learn(len(f.Data), n)
	return f, nil
}

// A fileSizer sizes the buffer a pain.001 of one layout is written into.
// A buffer as large as a file is memory new to the process each time:
// the runtime zeroes all its capacity, and the kernel faults its pages in
// as that happens, so capacity the file never uses costs about what
// writing it would (with a fixed 640 bytes a transaction, a 4.4 MB file of
// 10,000 transactions got 6.4 MB, and clearing it was 12% of the
// encoder's CPU samples; 5.7% sized on the file before). It sizes a
// file on the bytes per transaction of the last file of at least
// learnMinTx transactions, 1/16 more; until one is written it assumes
// 640 bytes a transaction flat and 1 KiB indented (transactions run
// 400-650 and 700-1,000 bytes). A file larger than its estimate grows its
// buffer as any append does.
type fileSizer struct {
	perTx    atomic.Int64 // bytes per transaction of the last file learned from; 0 before
	firstTry int
}

// fileSizers are the sizers of indented and of flat files (indexed like
// txHeads), shared by all profiles: the bytes a transaction takes depend
// on the payments more than on the profile.
var fileSizers = [2]fileSizer{{firstTry: 1024}, {firstTry: 640}}

// sizerFor returns the sizer of indented or of flat files.
func sizerFor(indent bool) *fileSizer {
	if indent {
		return &fileSizers[0]
	}
	return &fileSizers[1]
}

const learnMinTx = 64

func (s *fileSizer) capacity(n int) int {
	per := int(s.perTx.Load())
	if per == 0 {
		per = s.firstTry
	}
	return 4096 + n*per + n*per/16
}

func (s *fileSizer) learn(size, n int) {
	if n >= learnMinTx {
		s.perTx.Store(int64((size + n - 1) / n))
	}
}

// pmtInfID is the PmtInfId of block i (from 0) of file msgID: the MsgId,
// cut to leave room, and "-" + i+1, at most 35 characters (Max35Text).
func pmtInfID(msgID string, i int) string {
	suffix := "-" + strconv.Itoa(i+1)
	return msgID[:min(len(msgID), 35-len(suffix))] + suffix
}

// writeTx writes one CdtTrfTxInf (CreditTransferTransaction34/26).
func (p *Profile) writeTx(w *xmlWriter, x *Payment, v09 bool) {
	if w.depth == txDepth && x.ID != "" {
		// The fixed head of every transaction, in three appends.
		h := &txHeads[0]
		if w.flat {
			h = &txHeads[1]
		}
		w.closeStart()
		w.b = append(w.b, h.head...)
		w.b = appendEscaped(w.b, x.ID)
		w.b = append(w.b, h.amt...)
		// Validated: three capitals, and a decimal number.
		w.b = append(w.b, x.Currency...)
		w.b = append(w.b, '"', '>')
		w.b = append(w.b, x.Amount...)
		w.b = append(w.b, h.amtEnd...)
		w.depth = txDepth + 1
	} else {
		w.start(tCdtTrfTxInf)
		w.start(tPmtId)
		w.leaf(tEndToEndId, x.ID)
		w.end(tPmtId)
		w.start(tAmt)
		w.start(tInstdAmt)
		w.attr("Ccy", x.Currency)
		w.text(tInstdAmt, x.Amount)
		w.end(tAmt)
	}
	if x.UltimateDebtor != nil {
		p.writeParty(w, tUltmtDbtr, x.UltimateDebtor)
	}
	if x.Creditor.BIC != "" {
		writeAgent(w, tCdtrAgt, x.Creditor.BIC, v09, false)
	}
	p.writeParty(w, tCdtr, &Party{Name: x.Creditor.Name, Address: x.Creditor.Address})
	writeAccount(w, cCdtrAcct, x.Creditor.IBAN)
	if x.UltimateCreditor != nil {
		p.writeParty(w, tUltmtCdtr, x.UltimateCreditor)
	}
	budget := p.BudgetCode.Placement
	// pain.001 Purp: Purpose2Choice, ExternalPurpose1Code or Max35Text.
	switch {
	case x.BudgetCode != "" && budget == "purpose_proprietary":
		w.chain(cPurpPrtry, x.BudgetCode, false)
	case x.Purpose != "" && isPurposeCode(x.Purpose):
		w.chain(cPurpCd, x.Purpose, true) // four capitals
	case x.Purpose != "":
		w.chain(cPurpPrtry, x.Purpose, false)
	}
	if x.BudgetCode != "" && budget == "tax_category" {
		w.chain(cTaxCtgy, x.BudgetCode, false)
	}
	addlRmt := x.BudgetCode != "" && budget == "additional_remittance"
	if x.Remittance == "" && x.CreditorReference == "" && !addlRmt {
		w.end(tCdtTrfTxInf)
		return
	}
	w.start(tRmtInf)
	w.leaf(tUstrd, x.Remittance)
	if x.CreditorReference != "" || addlRmt {
		w.start(tStrd)
		if x.CreditorReference != "" {
			w.start(tCdtrRefInf)
			if strings.HasPrefix(x.CreditorReference, "RF") {
				// ISO 11649 structured creditor reference.
				w.chain(cSCOR, "SCOR", true)
			}
			w.leaf(tRef, x.CreditorReference)
			w.end(tCdtrRefInf)
		}
		if addlRmt {
			w.leaf(tAddtlRmtInf, x.BudgetCode)
		}
		w.end(tStrd)
	}
	w.end(tRmtInf)
	w.end(tCdtTrfTxInf)
}

// Element chains written in one piece (xmlChain).
var (
	cPurpCd       = newChain(tPurp, tCd)
	cPurpPrtry    = newChain(tPurp, tPrtry)
	cTaxCtgy      = newChain(tTax, tRcrd, tCtgy)
	cSCOR         = newChain(tTp, tCdOrPrtry, tCd)
	cOrgID        = newChain(tId, tOrgId, tOthr, tId)
	cDbtrAcct     = newChain(tDbtrAcct, tId, tIBAN)
	cCdtrAcct     = newChain(tCdtrAcct, tId, tIBAN)
	cNotProvided  = newChain(tFinInstnId, tOthr, tId)
	cDbtrAgtBIC   = newChain(tDbtrAgt, tFinInstnId, tBIC)
	cDbtrAgtBICFI = newChain(tDbtrAgt, tFinInstnId, tBICFI)
	cCdtrAgtBIC   = newChain(tCdtrAgt, tFinInstnId, tBIC)
	cCdtrAgtBICFI = newChain(tCdtrAgt, tFinInstnId, tBICFI)
)

// writeAccount writes a CashAccount16/38 with an IBAN (checkIBAN: A-Z and
// 0-9 only, nothing to escape).
func writeAccount(w *xmlWriter, c *xmlChain, iban string) {
	w.chain(c, iban, true)
}

// writeParty writes a PartyIdentification32 (.03) / 135 (.09).
func (p *Profile) writeParty(w *xmlWriter, tag *xmlTag, party *Party) {
	w.start(tag)
	w.leaf(tNm, party.Name)
	if a := party.Address; a != nil {
		w.start(tPstlAdr)
		w.leaf(tStrtNm, a.Street)
		w.leaf(tBldgNb, a.Building)
		w.leaf(tPstCd, a.Postcode)
		w.leaf(tTwnNm, a.Town)
		w.leafASCII(tCtry, a.Country)
		for _, l := range a.Lines {
			w.leaf(tAdrLine, l)
		}
		w.end(tPstlAdr)
	}
	if party.ID != "" {
		w.chain(cOrgID, party.ID, false)
	}
	w.end(tag)
}

// writeAgent writes a BranchAndFinancialInstitutionIdentification4 (.03) /
// 6 (.09). Without a BIC a required agent is "NOTPROVIDED" (EPC usage).
func writeAgent(w *xmlWriter, tag *xmlTag, bic string, v09, required bool) {
	if bic == "" && !required {
		return
	}
	if bic == "" {
		w.start(tag)
		w.chain(cNotProvided, "NOTPROVIDED", true)
		w.end(tag)
		return
	}
	// The BIC is validated (ISO 9362: A-Z and 0-9): nothing to escape.
	var c *xmlChain
	switch {
	case tag == tDbtrAgt && v09:
		c = cDbtrAgtBICFI
	case tag == tDbtrAgt:
		c = cDbtrAgtBIC
	case tag == tCdtrAgt && v09:
		c = cCdtrAgtBICFI
	case tag == tCdtrAgt:
		c = cCdtrAgtBIC
	default:
		bicTag := tBIC
		if v09 {
			bicTag = tBICFI
		}
		w.start(tag)
		w.start(tFinInstnId)
		w.leafASCII(bicTag, bic)
		w.end(tFinInstnId)
		w.end(tag)
		return
	}
	w.chain(c, bic, true)
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
