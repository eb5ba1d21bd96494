package banksim

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"
	"github.com/isogate/isogate/xmlcodec"
)

// ErrBadRequest wraps every reason a camt.060 is refused.
var ErrBadRequest = errors.New("banksim: bad report request")

// A reportReq is one RptgReq of a camt.060.
type reportReq struct {
	family   string // camt.052, camt.053, camt.054
	iban     string
	from, to time.Time // days, inclusive
}

const maxReportDays = 400

// parseCamt060 reads a camt.060 (any version) under the decoder's limits:
// its requests and its GrpHdr/MsgId.
func parseCamt060(data []byte) ([]reportReq, string, error) {
	d := xmlcodec.NewDecoder(bytes.NewReader(data), xmlcodec.Limits{MaxBytes: 1 << 20})
	info, err := d.Message()
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if info.Family != "camt.060" {
		return nil, "", fmt.Errorf("%w: %s is not a camt.060", ErrBadRequest, info.Message)
	}
	doc := etree.NewDocument()
	doc.ReadSettings.Permissive = false
	if err := doc.ReadFromBytes(data); err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	msg := doc.Root().SelectElement("AcctRptgReq")
	if msg == nil {
		return nil, "", fmt.Errorf("%w: no AcctRptgReq", ErrBadRequest)
	}
	reqID := text(msg, "GrpHdr", "MsgId")
	if !max35.MatchString(reqID) {
		reqID = ""
	}
	var out []reportReq
	var errs []error
	for i, rq := range msg.SelectElements("RptgReq") {
		bad := func(format string, a ...any) {
			errs = append(errs, fmt.Errorf("%w: RptgReq[%d]: %s", ErrBadRequest, i+1, fmt.Sprintf(format, a...)))
		}
		var r reportReq
		name := text(rq, "ReqdMsgNmId")
		switch {
		case len(name) >= 8 && (name[:8] == "camt.052" || name[:8] == "camt.053" || name[:8] == "camt.054"):
			r.family = name[:8]
		default:
			bad("ReqdMsgNmId %q: want camt.052, camt.053 or camt.054", name)
		}
		if r.iban = text(rq, "Acct", "Id", "IBAN"); r.iban == "" {
			r.iban = text(rq, "Acct", "Id", "Othr", "Id")
		}
		if r.iban == "" {
			bad("Acct/Id: missing")
		}
		fd := text(rq, "RptgPrd", "FrToDt", "FrDt")
		td := first(text(rq, "RptgPrd", "FrToDt", "ToDt"), fd)
		var e1, e2 error
		r.from, e1 = time.Parse("2006-01-02", fd)
		r.to, e2 = time.Parse("2006-01-02", td)
		switch {
		case e1 != nil || e2 != nil:
			bad("RptgPrd/FrToDt: want FrDt (and ToDt) as YYYY-MM-DD")
		case r.to.Before(r.from):
			bad("RptgPrd: ToDt before FrDt")
		case r.to.Sub(r.from) > maxReportDays*24*time.Hour:
			bad("RptgPrd: more than %d days", maxReportDays)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		errs = append(errs, fmt.Errorf("%w: no RptgReq", ErrBadRequest))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, "", err
	}
	for _, r := range out[1:] {
		if r.family != out[0].family {
			return nil, "", fmt.Errorf("%w: one report family per camt.060 (asked for %s and %s)", ErrBadRequest, out[0].family, r.family)
		}
	}
	return out, reqID, nil
}

func text(e *etree.Element, path ...string) string {
	for _, p := range path {
		if e == nil {
			return ""
		}
		e = e.SelectElement(p)
	}
	if e == nil {
		return ""
	}
	return strings.TrimSpace(e.Text())
}

// report answers a camt.060: the document (in the profile's version of the
// family asked for), or nil when there is nothing to report.
func (b *Bank) report(data []byte) ([]byte, error) {
	reqs, reqID, err := parseCamt060(data)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.cfg.Now()
	b.generate(now)
	for _, r := range reqs {
		if b.accounts[r.iban] == nil {
			return nil, fmt.Errorf("%w: account %s is not held at this bank", ErrBadRequest, r.iban)
		}
	}
	fam := reqs[0].family
	version := map[string]string{"camt.052": b.prof.Messages.Camt052, "camt.053": b.prof.Messages.Camt053, "camt.054": b.prof.Messages.Camt054}[fam]
	w := &camtWriter{b: b, v2: strings.HasSuffix(version, ".001.02"), now: now}
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	root := doc.CreateElement("Document")
	root.CreateAttr("xmlns", isoNS+version)
	msg := root.CreateElement(map[string]string{"camt.052": "BkToCstmrAcctRpt", "camt.053": "BkToCstmrStmt", "camt.054": "BkToCstmrDbtCdtNtfctn"}[fam])
	gh := msg.CreateElement("GrpHdr")
	n := 0
	today := dayStart(now)
	for _, r := range reqs {
		a := b.accounts[r.iban]
		switch fam {
		case "camt.053":
			for d := r.from; !d.After(r.to); d = d.Add(24 * time.Hour) {
				if d.Before(b.opened) || d.Add(24*time.Hour).After(now) {
					continue // before the books opened, or not closed yet
				}
				w.statement(msg, a, d)
				n++
			}
		case "camt.052":
			for d := r.from; !d.After(r.to); d = d.Add(24 * time.Hour) {
				if d.Before(b.opened) || d.After(today) {
					continue
				}
				w.intraday(msg, a, d)
				n++
			}
		case "camt.054":
			from, to := r.from, r.to.Add(24*time.Hour)
			if to.After(now) {
				to = now.Add(time.Nanosecond) // what is booked by now
			}
			if es := a.entriesIn(from, to); len(es) > 0 {
				w.notification(msg, a, from, to, es)
				n++
			}
		}
	}
	if w.err != nil {
		return nil, w.err
	}
	if n == 0 {
		return nil, nil
	}
	b.docSeq++
	addText(gh, "MsgId", fmt.Sprintf("BSIM%s-%s-%06d", fam[5:], now.UTC().Format("20060102150405"), b.docSeq))
	addText(gh, "CreDtTm", isoDateTime(now))
	if !w.v2 && reqID != "" {
		// .08: GrpHdr/OrgnlBizQry names the camt.060 answered (.02 has no
		// such element).
		addText(gh.CreateElement("OrgnlBizQry"), "MsgId", reqID)
	}
	return write(doc), nil
}

type camtWriter struct {
	b   *Bank
	v2  bool // camt.05x.001.02
	now time.Time
	err error // the first entry whose texts could not be read back
}

func shortAcct(iban string) string { return iban[max(0, len(iban)-25):] } // "S" + date + "-" + this ≤ 35

// statement writes the camt.053 Stmt of account a for day d (closed):
// opening + Σ entries = closing, ElctrncSeqNb = day number since the books
// opened (1, 2, 3…).
func (w *camtWriter) statement(msg *etree.Element, a *account, d time.Time) {
	end := d.Add(24 * time.Hour)
	st := msg.CreateElement("Stmt")
	addText(st, "Id", "S"+d.Format("20060102")+"-"+shortAcct(a.iban))
	addText(st, "ElctrncSeqNb", strconv.Itoa(w.b.day(d)+1))
	addText(st, "CreDtTm", isoDateTime(end))
	w.period(st, d, end.Add(-time.Second))
	w.account(st, a)
	opening := a.balanceBefore(d)
	es := a.entriesIn(d, end)
	w.balance(st, a, "OPBD", opening, d)
	w.balance(st, a, "CLBD", opening+netSum(es), d)
	w.summary(st, a, es)
	for _, e := range es {
		w.entry(st, a, e)
	}
}

// intraday writes a camt.052 Rpt of day d: entries booked so far.
func (w *camtWriter) intraday(msg *etree.Element, a *account, d time.Time) {
	end := d.Add(24 * time.Hour)
	closed := !end.After(w.now)
	to := end
	if !closed {
		to = w.now.Add(time.Nanosecond)
	}
	w.b.seq052[a.iban]++
	seq := w.b.seq052[a.iban]
	rp := msg.CreateElement("Rpt")
	addText(rp, "Id", fmt.Sprintf("R%s-%06d-%s", d.Format("20060102"), seq, a.iban[max(0, len(a.iban)-12):]))
	addText(rp, "ElctrncSeqNb", strconv.Itoa(seq))
	addText(rp, "CreDtTm", isoDateTime(w.now))
	w.period(rp, d, minTime(to, end.Add(-time.Second)))
	w.account(rp, a)
	opening := a.balanceBefore(d)
	es := a.entriesIn(d, to)
	w.balance(rp, a, "OPBD", opening, d)
	if closed {
		w.balance(rp, a, "CLBD", opening+netSum(es), d)
	} else {
		w.balance(rp, a, "ITBD", opening+netSum(es), d)
	}
	w.summary(rp, a, es)
	for _, e := range es {
		w.entry(rp, a, e)
	}
}

// notification writes a camt.054 Ntfctn of the entries es.
func (w *camtWriter) notification(msg *etree.Element, a *account, from, to time.Time, es []*entry) {
	w.b.seq054[a.iban]++
	seq := w.b.seq054[a.iban]
	nt := msg.CreateElement("Ntfctn")
	addText(nt, "Id", fmt.Sprintf("N%s-%06d-%s", from.Format("20060102"), seq, a.iban[max(0, len(a.iban)-12):]))
	addText(nt, "ElctrncSeqNb", strconv.Itoa(seq))
	addText(nt, "CreDtTm", isoDateTime(w.now))
	w.period(nt, from, to.Add(-time.Nanosecond).Truncate(time.Second))
	w.account(nt, a)
	w.summary(nt, a, es)
	for _, e := range es {
		w.entry(nt, a, e)
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func netSum(es []*entry) int64 {
	var v int64
	for _, e := range es {
		v += e.signed()
	}
	return v
}

func (w *camtWriter) period(parent *etree.Element, from, to time.Time) {
	p := parent.CreateElement("FrToDt")
	addText(p, "FrDtTm", from.UTC().Format("2006-01-02T15:04:05Z"))
	addText(p, "ToDtTm", to.UTC().Format("2006-01-02T15:04:05Z"))
}

func (w *camtWriter) account(parent *etree.Element, a *account) {
	ac := parent.CreateElement("Acct")
	addText(ac.CreateElement("Id"), "IBAN", a.iban)
	addText(ac, "Ccy", a.ccy)
	w.b.agent(ac.CreateElement("Svcr"))
}

func (w *camtWriter) amount(parent *etree.Element, tag string, a *account, v int64) {
	e := parent.CreateElement(tag)
	e.CreateAttr("Ccy", a.ccy)
	e.SetText(formatMinor(v, a.exp))
}

func cdtDbt(negative bool) string {
	if negative {
		return "DBIT"
	}
	return "CRDT"
}

func (w *camtWriter) balance(parent *etree.Element, a *account, code string, v int64, d time.Time) {
	bl := parent.CreateElement("Bal")
	addText(bl.CreateElement("Tp").CreateElement("CdOrPrtry"), "Cd", code)
	m, neg := abs(v)
	w.amount(bl, "Amt", a, m)
	addText(bl, "CdtDbtInd", cdtDbt(neg))
	addText(bl.CreateElement("Dt"), "Dt", d.Format("2006-01-02"))
}

func (w *camtWriter) summary(parent *etree.Element, a *account, es []*entry) {
	var nc, nd int
	var cr, db int64
	for _, e := range es {
		if e.credit {
			nc++
			cr += e.amount
		} else {
			nd++
			db += e.amount
		}
	}
	s := parent.CreateElement("TxsSummry")
	t := s.CreateElement("TtlNtries")
	addText(t, "NbOfNtries", strconv.Itoa(nc+nd))
	addText(t, "Sum", formatMinor(cr+db, a.exp))
	netv, neg := abs(cr - db)
	if w.v2 {
		addText(t, "TtlNetNtryAmt", formatMinor(netv, a.exp))
		addText(t, "CdtDbtInd", cdtDbt(neg))
	} else {
		tn := t.CreateElement("TtlNetNtry")
		addText(tn, "Amt", formatMinor(netv, a.exp))
		addText(tn, "CdtDbtInd", cdtDbt(neg))
	}
	c := s.CreateElement("TtlCdtNtries")
	addText(c, "NbOfNtries", strconv.Itoa(nc))
	addText(c, "Sum", formatMinor(cr, a.exp))
	d := s.CreateElement("TtlDbtNtries")
	addText(d, "NbOfNtries", strconv.Itoa(nd))
	addText(d, "Sum", formatMinor(db, a.exp))
}

// Bank transaction codes (ISO 20022 external code list).
var bankTxCodes = [...][3]string{
	kindPayment:  {"PMNT", "ICDT", "ESCT"}, // issued credit transfer
	kindIncoming: {"PMNT", "RCDT", "ESCT"}, // received credit transfer
	kindCharge:   {"ACMT", "MDOP", "CHRG"}, // account management: charges
}

func (w *camtWriter) entry(parent *etree.Element, a *account, e *entry) {
	n := parent.CreateElement("Ntry")
	w.amount(n, "Amt", a, e.amount)
	addText(n, "CdtDbtInd", cdtDbt(!e.credit))
	if w.v2 {
		addText(n, "Sts", "BOOK")
	} else {
		addText(n.CreateElement("Sts"), "Cd", "BOOK")
	}
	addText(n.CreateElement("BookgDt"), "DtTm", e.at.UTC().Format("2006-01-02T15:04:05Z"))
	addText(n.CreateElement("ValDt"), "Dt", e.at.UTC().Format("2006-01-02"))
	ref := e.ref()
	t, err := w.b.text(e)
	if err != nil && w.err == nil {
		w.err = err
	}
	addText(n, "AcctSvcrRef", ref)
	code := bankTxCodes[e.kind]
	dom := n.CreateElement("BkTxCd").CreateElement("Domn")
	addText(dom, "Cd", code[0])
	fm := dom.CreateElement("Fmly")
	addText(fm, "Cd", code[1])
	addText(fm, "SubFmlyCd", code[2])

	td := n.CreateElement("NtryDtls").CreateElement("TxDtls")
	refs := td.CreateElement("Refs")
	addText(refs, "MsgId", t.msgID)
	addText(refs, "AcctSvcrRef", ref)
	addText(refs, "PmtInfId", t.pmtInfID)
	addText(refs, "EndToEndId", t.e2e)
	if e.kind == kindCharge {
		addText(n, "AddtlNtryInf", truncRunes(t.info, 500))
		return
	}
	if !w.v2 {
		w.amount(td, "Amt", a, e.amount)
		addText(td, "CdtDbtInd", cdtDbt(!e.credit))
	}
	ad := td.CreateElement("AmtDtls")
	w.amount(ad.CreateElement("InstdAmt"), "Amt", a, e.amount)
	w.amount(ad.CreateElement("TxAmt"), "Amt", a, e.amount)
	rp := td.CreateElement("RltdPties")
	party, acct := "Cdtr", "CdtrAcct"
	if e.credit {
		party, acct = "Dbtr", "DbtrAcct"
	}
	p := rp.CreateElement(party)
	if !w.v2 {
		p = p.CreateElement("Pty")
	}
	addText(p, "Nm", truncRunes(first(t.cpName, "NOTPROVIDED"), 140))
	addText(rp.CreateElement(acct).CreateElement("Id"), "IBAN", t.cpIBAN)
	if t.cpBIC != "" {
		ag := td.CreateElement("RltdAgts")
		fi := ag.CreateElement(party + "Agt").CreateElement("FinInstnId")
		if w.v2 {
			addText(fi, "BIC", t.cpBIC)
		} else {
			addText(fi, "BICFI", t.cpBIC)
		}
	}
	if t.remittance != "" {
		addText(td.CreateElement("RmtInf"), "Ustrd", truncRunes(t.remittance, 140))
	}
}
