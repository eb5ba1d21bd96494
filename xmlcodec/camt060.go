package xmlcodec

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// A Camt060Request asks the bank for account reports (camt.060
// AccountReportingRequest).
type Camt060Request struct {
	MsgID    string           // Max35Text; required
	Now      func() time.Time // CreDtTm; default time.Now
	Requests []ReportRequest
}

// A ReportRequest asks for one report type for one account and period.
type ReportRequest struct {
	ID string // optional request id (Max35Text)
	// Message is the report wanted: a family ("camt.053", the profile's
	// version is used) or a full message id ("camt.053.001.08").
	Message         string
	Account         string // IBAN, or another account id when not an IBAN
	AccountCurrency string
	OwnerName       string // AcctOwnr/Pty/Nm
	ServicerBIC     string // AcctSvcr/FinInstnId/BICFI
	FromDate        string // YYYY-MM-DD; required
	ToDate          string // YYYY-MM-DD; optional
	FromTime        string // HH:MM:SS; .03 requires a time period: default 00:00:00
	ToTime          string
	QueryType       string // ALLL (default), CHNG or MODF
}

var (
	reportMsgRE = regexp.MustCompile(`^camt\.05[234](\.001\.\d{2})?$`)
	timeRE      = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](Z|[+-][0-9]{2}:[0-9]{2})?$`)
)

// EncodeCamt060 validates the request (every problem at once) and encodes
// it in the profile's camt.060 version.
func (p *Profile) EncodeCamt060(req Camt060Request) ([]byte, error) {
	v := &validator{p: p}
	v.ident("msg_id", req.MsgID, 35)
	if len(req.Requests) == 0 {
		v.fail("requests", "at least one report request is required")
	}
	for i, r := range req.Requests {
		v.index, v.id = i, r.ID
		if r.ID != "" {
			v.ident("id", r.ID, 35)
		}
		if !reportMsgRE.MatchString(r.Message) {
			v.fail("message", "want camt.052, camt.053 or camt.054 (optionally with version, e.g. camt.053.001.02)")
		}
		if r.Account == "" {
			v.fail("account", "required")
		} else if v.ident("account", r.Account, 34); len(r.Account) > 2 && r.Account[:2] >= "AA" && r.Account[:2] <= "ZZ" && r.Account[2] >= '0' && r.Account[2] <= '9' {
			if why := checkIBAN(r.Account); why != "" {
				v.fail("account", "%s", why)
			}
		}
		if r.AccountCurrency != "" && !currencyRE.MatchString(r.AccountCurrency) {
			v.fail("account_currency", "not an ISO 4217 code")
		}
		v.text("owner_name", r.OwnerName, 140)
		if r.ServicerBIC != "" && checkBIC(r.ServicerBIC) != "" {
			v.fail("servicer_bic", "not a BIC")
		}
		for _, d := range []struct{ f, s string }{{"from_date", r.FromDate}, {"to_date", r.ToDate}} {
			if d.s == "" && d.f == "to_date" {
				continue
			}
			if _, err := time.Parse("2006-01-02", d.s); err != nil || !dateRE.MatchString(d.s) {
				v.fail(d.f, "not a date (YYYY-MM-DD)")
			}
		}
		if r.ToDate != "" && r.ToDate < r.FromDate {
			v.fail("to_date", "before from_date")
		}
		for _, tm := range []struct{ f, s string }{{"from_time", r.FromTime}, {"to_time", r.ToTime}} {
			if tm.s != "" && !timeRE.MatchString(tm.s) {
				v.fail(tm.f, "not a time (HH:MM:SS)")
			}
		}
		switch r.QueryType {
		case "", "ALLL", "CHNG", "MODF":
		default:
			v.fail("query_type", "want ALLL, CHNG or MODF")
		}
	}
	if len(v.errs) > 0 {
		return nil, v.errs
	}
	now := time.Now
	if req.Now != nil {
		now = req.Now
	}
	v05 := p.Messages.Camt060 == Camt060V05
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	root := doc.CreateElement("Document")
	root.CreateAttr("xmlns", "urn:iso:std:iso:20022:tech:xsd:"+p.Messages.Camt060)
	msg := root.CreateElement("AcctRptgReq")
	gh := msg.CreateElement("GrpHdr")
	addText(gh, "MsgId", req.MsgID)
	addText(gh, "CreDtTm", now().Format("2006-01-02T15:04:05Z07:00"))
	for _, r := range req.Requests {
		rq := msg.CreateElement("RptgReq")
		addText(rq, "Id", r.ID)
		addText(rq, "ReqdMsgNmId", p.reportVersion(r.Message))
		acct := rq.CreateElement("Acct")
		id := acct.CreateElement("Id")
		if checkIBAN(r.Account) == "" {
			addText(id, "IBAN", r.Account)
		} else {
			addText(id.CreateElement("Othr"), "Id", r.Account)
		}
		addText(acct, "Ccy", r.AccountCurrency)
		pty := rq.CreateElement("AcctOwnr").CreateElement("Pty")
		addText(pty, "Nm", r.OwnerName)
		if r.ServicerBIC != "" {
			addText(rq.CreateElement("AcctSvcr").CreateElement("FinInstnId"), "BICFI", r.ServicerBIC)
		}
		prd := rq.CreateElement("RptgPrd")
		fd := prd.CreateElement("FrToDt")
		addText(fd, "FrDt", r.FromDate)
		addText(fd, "ToDt", r.ToDate)
		// .03: FrToTm is mandatory; .05: optional.
		if r.FromTime != "" || r.ToTime != "" || !v05 {
			ft := prd.CreateElement("FrToTm")
			addText(ft, "FrTm", first(r.FromTime, "00:00:00"))
			addText(ft, "ToTm", r.ToTime)
		}
		addText(prd, "Tp", first(r.QueryType, "ALLL"))
	}
	doc.Indent(2)
	var buf bytes.Buffer
	if _, err := doc.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("writing camt.060: %w", err)
	}
	return buf.Bytes(), nil
}

// reportVersion maps "camt.053" to the profile's version of it.
func (p *Profile) reportVersion(m string) string {
	if strings.Count(m, ".") > 1 {
		return m
	}
	switch m {
	case "camt.052":
		return first(p.Messages.Camt052, m)
	case "camt.053":
		return first(p.Messages.Camt053, m)
	}
	return first(p.Messages.Camt054, m)
}
