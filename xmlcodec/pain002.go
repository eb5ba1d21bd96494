package xmlcodec

import (
	"encoding/xml"
	"fmt"
	"strings"

	"github.com/beevik/etree"
)

// StatusCode is an ISO 20022 payment status (ExternalPaymentGroupStatus1Code,
// ExternalPaymentTransactionStatus1Code). Codes not listed here are kept as
// they are ("RVNM", national codes).
type StatusCode = string

// Payment status codes.
const (
	StatusACTC StatusCode = "ACTC" // accepted technical validation
	StatusACCP StatusCode = "ACCP" // accepted customer profile
	StatusACSP StatusCode = "ACSP" // accepted settlement in process
	StatusACSC StatusCode = "ACSC" // accepted settlement completed (debtor)
	StatusACCC StatusCode = "ACCC" // accepted settlement completed (creditor)
	StatusACWC StatusCode = "ACWC" // accepted with change
	StatusPART StatusCode = "PART" // partially accepted
	StatusPDNG StatusCode = "PDNG" // pending
	StatusRCVD StatusCode = "RCVD" // received
	StatusRJCT StatusCode = "RJCT" // rejected
)

// A Reason is one StsRsnInf: a code (Rsn/Cd) or a proprietary reason
// (Rsn/Prtry), with the AddtlInf lines joined by spaces.
type Reason struct {
	Code        string `json:"code"`
	Proprietary string `json:"proprietary"`
	Info        string `json:"info"`
}

// A Status is one transaction status of a pain.002, or — for a group or
// payment-information status that lists no transactions — one line with an
// empty EndToEndID.
type Status struct {
	Kind              string   `json:"kind"` // "status"
	Message           string   `json:"message"`
	MsgID             string   `json:"msg_id"` // the pain.002's own MsgId
	OriginalMsgID     string   `json:"original_msg_id"`
	OriginalMsgName   string   `json:"original_msg_name,omitempty"`
	GroupStatus       string   `json:"group_status"`
	GroupReasons      []Reason `json:"group_reasons,omitempty"`
	PaymentInfoID     string   `json:"payment_info_id"`
	PaymentInfoStatus string   `json:"payment_info_status"`
	// PaymentInfoReasons are the PmtInf level's reasons on a transaction
	// line (on a payment-information line they are Reasons).
	PaymentInfoReasons []Reason `json:"payment_info_reasons,omitempty"`
	EndToEndID         string   `json:"end_to_end_id"`
	TxID               string   `json:"tx_id"`
	InstrID            string   `json:"instr_id,omitempty"`
	UETR               string   `json:"uetr,omitempty"`
	StatusID           string   `json:"status_id,omitempty"`
	// Status is the most specific status given: TxSts, else PmtInfSts,
	// else GrpSts.
	Status      string   `json:"status"`
	Reasons     []Reason `json:"reasons"` // of the line's own level
	Amount      string   `json:"amount,omitempty"`
	Currency    string   `json:"currency,omitempty"`
	AcctSvcrRef string   `json:"acct_svcr_ref,omitempty"`
}

type painState struct {
	origMsgID, origMsgName, grpSts string
	grpReasons                     []Reason
	idx                            map[string]int
	// the OrgnlPmtInfAndSts being streamed
	inPmt      bool
	pmt        Status
	pmtReasons []Reason
	txIdx      int
}

func reasons(e *etree.Element) []Reason {
	out := []Reason{}
	for r := range e.SelectElementsSeq("StsRsnInf") {
		var infos []string
		for a := range r.SelectElementsSeq("AddtlInf") {
			infos = append(infos, a.Text())
		}
		out = append(out, Reason{Code: text(r, "Rsn", "Cd"), Proprietary: text(r, "Rsn", "Prtry"), Info: strings.Join(infos, " ")})
	}
	return out
}

// painStart handles pain.002 start tags. OrgnlPmtInfAndSts is streamed:
// its header children come first in every version, then one TxInfAndSts
// at a time, so a 100,000-transaction report stays small in memory.
func (d *Decoder) painStart(t xml.StartElement) error {
	name := t.Name.Local
	if d.pain.idx == nil {
		d.pain.idx = map[string]int{}
	}
	switch {
	case d.depth == 3 && name == "OrgnlPmtInfAndSts":
		d.pain.idx[name]++
		d.pain.txIdx = 0
		d.pain.pmt = d.newStatus()
		d.pain.pmtReasons = nil
		d.pain.inPmt = true
		return nil
	case d.depth == 3:
		d.pain.idx[name]++
		path := fmt.Sprintf("%s/%s[%d]", d.info.Root, name, d.pain.idx[name])
		e, err := d.subtree(t)
		if err != nil {
			return d.fail(path, err)
		}
		switch name {
		case "GrpHdr":
			d.grp = readGrpHdr(e)
		case "OrgnlGrpInfAndSts":
			d.pain.origMsgID = text(e, "OrgnlMsgId")
			d.pain.origMsgName = text(e, "OrgnlMsgNmId")
			d.pain.grpSts = text(e, "GrpSts")
			d.pain.grpReasons = reasons(e)
		case "TxInfAndSts": // pain.002.001.02 and older: transactions at top level
			s := d.newStatus()
			d.readTxStatus(&s, e)
			d.emitStatus(&s)
		}
		return nil
	case d.depth == 4 && d.pain.inPmt:
		path := fmt.Sprintf("%s/OrgnlPmtInfAndSts[%d]/%s", d.info.Root, d.pain.idx["OrgnlPmtInfAndSts"], name)
		if name == "TxInfAndSts" {
			d.pain.txIdx++
			path = fmt.Sprintf("%s[%d]", path, d.pain.txIdx)
		}
		e, err := d.subtree(t)
		if err != nil {
			return d.fail(path, err)
		}
		p := &d.pain.pmt
		switch name {
		case "OrgnlPmtInfId":
			p.PaymentInfoID = e.Text()
		case "PmtInfSts":
			p.PaymentInfoStatus = e.Text()
		case "StsRsnInf":
			wrap := etree.NewElement("x")
			wrap.AddChild(e)
			d.pain.pmtReasons = append(d.pain.pmtReasons, reasons(wrap)...)
		case "TxInfAndSts":
			s := *p
			if len(d.pain.pmtReasons) > 0 {
				s.PaymentInfoReasons = d.pain.pmtReasons
			}
			d.readTxStatus(&s, e)
			d.emitStatus(&s)
		}
		return nil
	}
	if err := d.skip(); err != nil {
		return d.fail(d.info.Root, err)
	}
	return nil
}

func (d *Decoder) newStatus() Status {
	return Status{Kind: "status", Message: d.info.Message, MsgID: d.grp.msgID, OriginalMsgID: d.pain.origMsgID,
		OriginalMsgName: d.pain.origMsgName, GroupStatus: d.pain.grpSts, GroupReasons: d.pain.grpReasons, Reasons: []Reason{}}
}

func (d *Decoder) readTxStatus(s *Status, tx *etree.Element) {
	s.StatusID = text(tx, "StsId")
	s.InstrID = text(tx, "OrgnlInstrId")
	s.EndToEndID = text(tx, "OrgnlEndToEndId")
	s.TxID = text(tx, "OrgnlTxId")
	s.UETR = text(tx, "OrgnlUETR")
	s.Status = first(text(tx, "TxSts"), s.PaymentInfoStatus, s.GroupStatus)
	s.Reasons = reasons(tx)
	s.AcctSvcrRef = text(tx, "AcctSvcrRef")
	ref := child(tx, "OrgnlTxRef", "Amt")
	for _, n := range []string{"InstdAmt", "EqvtAmt/Amt"} {
		if a := child(ref, strings.Split(n, "/")...); a != nil && validDecimal(a.Text()) {
			s.Amount, s.Currency = a.Text(), a.SelectAttrValue("Ccy", "")
			break
		}
	}
}

func (d *Decoder) emitStatus(s *Status) {
	d.statusCnt++
	d.queue = append(d.queue, s)
}

func (d *Decoder) painEnd(t xml.EndElement) {
	if d.depth == 2 && t.Name.Local == "OrgnlPmtInfAndSts" && d.pain.inPmt {
		d.pain.inPmt = false
		if d.pain.txIdx == 0 {
			s := d.pain.pmt
			s.Status = first(s.PaymentInfoStatus, s.GroupStatus)
			s.Reasons = d.pain.pmtReasons
			if s.Reasons == nil {
				s.Reasons = []Reason{}
			}
			d.emitStatus(&s)
		}
		return
	}
	if d.depth == 1 && t.Name.Local == d.info.Root && d.statusCnt == 0 {
		s := d.newStatus()
		s.Status = s.GroupStatus
		s.Reasons = s.GroupReasons
		if s.Reasons == nil {
			s.Reasons = []Reason{}
		}
		d.emitStatus(&s)
	}
}

func first(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
