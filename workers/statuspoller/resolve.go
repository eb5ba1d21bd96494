package statuspoller

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/isogate/isogate/bank"
	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/xmlcodec"
)

// txRef is one transaction of a batch as the pain.001 holds it: the intent
// (EndToEndId) and the PmtInfId of its block ("" when unknown).
type txRef struct {
	IntentID string
	PmtInfID string
}

// A resolution is the status one pain.002 gives one intent.
type resolution struct {
	Status   messages.TxStatus
	Reasons  []xmlcodec.Reason
	PmtInfID string
	TxID     string
	// Level says where the status came from: "tx" (its own TxInfAndSts,
	// or a value the decoder inherited into it), "pmtinf" or "group".
	Level string
}

// pmtInfo is the status of one OrgnlPmtInfAndSts.
type pmtInfo struct {
	Status  string
	Reasons []xmlcodec.Reason
}

// report is a decoded pain.002, by level.
type report struct {
	MsgID        string // the pain.002's own GrpHdr/MsgId
	OrgnlMsgID   string
	GroupStatus  string
	GroupReasons []xmlcodec.Reason
	pmtInf       map[string]pmtInfo
	tx           map[string]xmlcodec.Status // OrgnlEndToEndId → its line
}

// readReport decodes a pain.002. A document the decoder cannot read in
// full — even one skipped transaction line — is refused: an unreadable
// line would otherwise count as "not mentioned" and inherit a status.
func readReport(data []byte) (*report, error) {
	d := xmlcodec.NewDecoder(bytes.NewReader(data), xmlcodec.Limits{})
	info, err := d.Message()
	if err != nil {
		return nil, fmt.Errorf("statuspoller: reading pain.002: %w", err)
	}
	if info.Family != "pain.002" {
		return nil, fmt.Errorf("statuspoller: reading pain.002: got %s", info.Message)
	}
	var records []*xmlcodec.Status
	for {
		rec, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("statuspoller: reading pain.002: %w", err)
		}
		if s, ok := rec.(*xmlcodec.Status); ok {
			records = append(records, s)
		}
	}
	return reportFrom(records)
}

// reportOf is the report of doc: built from the records the channel read
// when it hands them on ([bank.Document.Statuses]: every record of the
// document was read), else decoded from its bytes.
func reportOf(doc bank.Document) (*report, error) {
	if doc.Statuses != nil {
		return reportFrom(doc.Statuses)
	}
	return readReport(doc.Data)
}

// reportFrom builds the report of a pain.002's status records, all of
// them, in document order. It does not modify them.
func reportFrom(records []*xmlcodec.Status) (*report, error) {
	rep := &report{pmtInf: map[string]pmtInfo{}, tx: map[string]xmlcodec.Status{}}
	for _, rec := range records {
		s := *rec
		s.GroupReasons = cleanReasons(slices.Clone(s.GroupReasons))
		s.PaymentInfoReasons = cleanReasons(slices.Clone(s.PaymentInfoReasons))
		s.Reasons = cleanReasons(slices.Clone(s.Reasons))
		rep.MsgID, rep.OrgnlMsgID = s.MsgID, s.OriginalMsgID
		rep.GroupStatus, rep.GroupReasons = s.GroupStatus, s.GroupReasons
		switch {
		case s.EndToEndID != "":
			if s.PaymentInfoID != "" {
				if _, seen := rep.pmtInf[s.PaymentInfoID]; !seen {
					rep.pmtInf[s.PaymentInfoID] = pmtInfo{Status: s.PaymentInfoStatus, Reasons: s.PaymentInfoReasons}
				}
			}
			// The same transaction twice: a final status is kept over a
			// non-final one; otherwise the later line wins.
			if prev, seen := rep.tx[s.EndToEndID]; seen && messages.TxStatus(prev.Status).Final() && !messages.TxStatus(s.Status).Final() {
				continue
			}
			rep.tx[s.EndToEndID] = s
		case s.PaymentInfoID != "":
			rep.pmtInf[s.PaymentInfoID] = pmtInfo{Status: s.PaymentInfoStatus, Reasons: s.Reasons}
		}
	}
	if rep.OrgnlMsgID == "" {
		return nil, errors.New("statuspoller: reading pain.002: no OrgnlMsgId")
	}
	if !validCode(rep.GroupStatus) {
		// Not a status code: none (it would break pay.status group_status,
		// ^[A-Z]{4}$, and the batch record).
		rep.GroupStatus = ""
	}
	return rep, nil
}

// cleanReasons keeps reasons within the event schema (pay.status reasons:
// code ≤ 4, proprietary ≤ 35 characters; ExternalStatusReason1Code is
// Max4Text): a longer code or proprietary reason from the bank moves, whole,
// to the front of the reason's additional information.
func cleanReasons(rs []xmlcodec.Reason) []xmlcodec.Reason {
	for i := range rs {
		r := &rs[i]
		var moved []string
		if utf8.RuneCountInString(r.Code) > 4 {
			moved = append(moved, "reason code "+r.Code)
			r.Code = ""
		}
		if utf8.RuneCountInString(r.Proprietary) > 35 {
			moved = append(moved, "proprietary reason "+r.Proprietary)
			r.Proprietary = ""
		}
		if len(moved) > 0 {
			r.Info = strings.TrimSpace(strings.Join(moved, "; ") + "; " + r.Info)
			r.Info = strings.TrimSuffix(r.Info, ";")
		}
	}
	return rs
}

// fansOut reports whether a group or payment-information status code says
// something about every transaction under it. PART and PATC say "some":
// which ones only the transaction lines tell.
func fansOut(code string) bool {
	switch code {
	case "", xmlcodec.StatusPART, "PATC":
		return false
	}
	return validCode(code)
}

// validCode reports whether code has the form of an ISO 20022 status code:
// four upper-case letters. Anything else is no status.
func validCode(code string) bool {
	if len(code) != 4 {
		return false
	}
	for _, c := range code {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

// resolve applies the fan-out rules (see the package documentation) to
// each transaction of the batch. An intent missing from the result gets
// nothing from this report: it keeps the status it had.
func resolve(rep *report, txs []txRef) map[string]resolution {
	out := make(map[string]resolution, len(txs))
	for _, tx := range txs {
		line, mentioned := rep.tx[tx.IntentID]
		if mentioned && line.PaymentInfoID != "" {
			tx.PmtInfID = line.PaymentInfoID
		}
		// 1. Its own transaction line, with a transaction status.
		if mentioned && fansOut(line.Status) {
			r := resolution{Status: messages.TxStatus(line.Status), PmtInfID: tx.PmtInfID, TxID: line.TxID, Level: "tx"}
			switch {
			case len(line.Reasons) > 0:
				r.Reasons = line.Reasons
			case line.Status == line.PaymentInfoStatus:
				r.Reasons = line.PaymentInfoReasons
			case line.Status == line.GroupStatus:
				r.Reasons = line.GroupReasons
			}
			out[tx.IntentID] = r
			continue
		}
		// 2. Its payment-information block's status.
		if p, ok := rep.pmtInf[tx.PmtInfID]; ok && tx.PmtInfID != "" && fansOut(p.Status) {
			out[tx.IntentID] = resolution{Status: messages.TxStatus(p.Status), Reasons: p.Reasons, PmtInfID: tx.PmtInfID, Level: "pmtinf"}
			continue
		}
		// 3. The group status, unless the block it belongs to says PART.
		if p, ok := rep.pmtInf[tx.PmtInfID]; ok && tx.PmtInfID != "" && p.Status != "" {
			continue // PART (or PATC) for its block: which transactions, the lines say
		}
		if fansOut(rep.GroupStatus) {
			out[tx.IntentID] = resolution{Status: messages.TxStatus(rep.GroupStatus), Reasons: rep.GroupReasons, PmtInfID: tx.PmtInfID, Level: "group"}
		}
		// 4. Otherwise nothing: the intent stays as it was.
	}
	return out
}

func first(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// eventReasons converts decoder reasons to event reasons.
func eventReasons(rs []xmlcodec.Reason) []messages.StatusReason {
	var out []messages.StatusReason
	for _, r := range rs {
		sr := messages.StatusReason{Code: r.Code, Proprietary: r.Proprietary}
		// The decoder joins the AddtlInf lines (Max105Text each) with
		// spaces; the event keeps lines of at most 105 characters.
		for info := []rune(r.Info); len(info) > 0; {
			n := min(len(info), 105)
			sr.Info = append(sr.Info, string(info[:n]))
			info = info[n:]
		}
		out = append(out, sr)
	}
	return out
}

// reasonSummary is the one-line summary of a status's reasons, "AC01
// info; PRTRY …", by which a report's status is compared with the one
// applied.
func reasonSummary(rs []xmlcodec.Reason) string {
	parts := make([]string, 0, len(rs))
	for _, r := range rs {
		s := first(r.Code, r.Proprietary)
		if r.Info != "" {
			s = strings.TrimSpace(s + " " + r.Info)
		}
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, "; ")
}
