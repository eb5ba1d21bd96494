package statements

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/workers"
	"github.com/isogate/isogate/workers/archive"
	"github.com/isogate/isogate/xmlcodec"
)

// Cursor is the record of one account and message family in KV "cursors".
type Cursor struct {
	Account string `json:"account"`
	Message string `json:"message"` // camt.052, camt.053 or camt.054
	// LastSeq is the ElctrncSeqNb of the last statement taken in order (0:
	// none yet).
	LastSeq int64 `json:"last_seq"`
	// LastDate is the day (YYYY-MM-DD) of the last camt.053 taken in order.
	LastDate string `json:"last_date,omitempty"`
	// Closing is that statement's closing booked balance.
	Closing   *messages.Balance `json:"closing,omitempty"`
	UpdatedAt time.Time         `json:"updated_at"`

	Revision uint64 `json:"-"`
}

func cursorKey(account, fam string) string {
	return messages.SubjectToken(account) + "." + strings.ReplaceAll(fam, ".", "")
}

// loadCursor reads a cursor; a missing one is the zero cursor (revision 0).
func (h *Handler) loadCursor(ctx context.Context, account, fam string) (*Cursor, error) {
	e, err := h.cursors.Get(ctx, cursorKey(account, fam))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return &Cursor{Account: account, Message: fam}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading cursor %s: %w", cursorKey(account, fam), err)
	}
	var c Cursor
	if err := json.Unmarshal(e.Value(), &c); err != nil {
		return nil, fmt.Errorf("decoding cursor %s: %w", cursorKey(account, fam), err)
	}
	c.Revision = e.Revision()
	return &c, nil
}

// Cursor returns the cursor of an account and family ("camt.053"); the
// zero cursor when there is none yet.
func (h *Handler) Cursor(ctx context.Context, account, family string) (*Cursor, error) {
	return h.loadCursor(ctx, account, family)
}

// storeCursor writes c with a compare-and-set on its revision.
func (h *Handler) storeCursor(ctx context.Context, c *Cursor) error {
	c.UpdatedAt = h.now().UTC()
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	key := cursorKey(c.Account, c.Message)
	var rev uint64
	if c.Revision == 0 {
		rev, err = h.cursors.Create(ctx, key, data)
	} else {
		rev, err = h.cursors.Update(ctx, key, data, c.Revision)
	}
	if err != nil {
		return fmt.Errorf("writing cursor %s: %w", key, err)
	}
	c.Revision = rev
	return nil
}

// stmt is one statement (Stmt, Rpt or Ntfctn) being processed.
type stmt struct {
	acct      Account
	fam       string
	obj       archive.Object
	rpt       *xmlcodec.Report
	seq       int64 // 0: none given
	day       string
	balances  []messages.Balance
	net       big.Rat // Σ signed entry amounts
	published int
	dups      int
	occ       map[string]int // content hash → occurrences so far in this statement (all its pages)
	hold      []string       // why the cursor must not move past this statement
}

// process decodes one document and handles each of its statements.
func (h *Handler) process(ctx context.Context, a Account, data []byte, obj archive.Object, depth int) error {
	// Next, not Message first: a Decoder whose Message was called before
	// Next returns no records (xmlcodec sets up its report tag only when
	// Next starts it).
	d := xmlcodec.NewDecoder(bytes.NewReader(data), h.cfg.Limits)
	var cur *stmt
	var errs []error
	// Occurrence counts of reference-less entries per statement id, shared
	// by the pages of one statement in this document: two identical fees
	// on two pages are two entries, not one.
	occ := map[string]map[string]int{}
	finish := func() {
		if cur != nil {
			if err := h.finish(ctx, cur); err != nil {
				errs = append(errs, err)
			}
			cur = nil
		}
	}
	for {
		rec, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if xmlcodec.Recoverable(err) && cur != nil {
				cur.hold = append(cur.hold, "undecodable record: "+err.Error())
				continue
			}
			// The statement under way is cut short: what was read is
			// published, but it must not move the cursor past entries
			// never read.
			if cur != nil {
				cur.hold = append(cur.hold, "decoding stopped: "+err.Error())
			}
			finish()
			return errors.Join(append(errs, fmt.Errorf("decoding: %w", err))...)
		}
		switch r := rec.(type) {
		case *xmlcodec.Report:
			finish()
			fam := r.Message[:min(len(r.Message), 8)]
			if r.Account != a.IBAN {
				return errors.Join(append(errs, fmt.Errorf("%s %s reports account %s, asked for %s", r.Message, r.ReportID,
					messages.MaskIBAN(r.Account), messages.MaskIBAN(a.IBAN)))...)
			}
			if occ[r.ReportID] == nil {
				occ[r.ReportID] = map[string]int{}
			}
			cur = &stmt{acct: a, fam: fam, obj: obj, rpt: r, occ: occ[r.ReportID]}
			if err := h.begin(ctx, cur, depth); err != nil {
				return errors.Join(append(errs, err)...)
			}
		case *xmlcodec.Balance:
			if cur != nil {
				cur.balances = append(cur.balances, messages.Balance{Type: messages.BalanceType(r.Type), Amount: r.Amount,
					Currency: r.Currency, CreditDebit: messages.CreditDebit(r.CreditDebit), Date: dateOnly(r.Date)})
			}
		case *xmlcodec.Entry:
			if cur != nil {
				if err := h.publishEntry(ctx, cur, r); err != nil {
					return errors.Join(append(errs, err)...)
				}
			}
		}
	}
	finish()
	return errors.Join(errs...)
}

func dateOnly(s string) string {
	if len(s) >= 10 {
		return s[:10]
	}
	return s
}

// begin checks a statement's place in the sequence, reporting and
// re-requesting what is missing before it.
func (h *Handler) begin(ctx context.Context, s *stmt, depth int) error {
	r := s.rpt
	if n, err := strconv.ParseInt(strings.TrimSpace(r.ElectronicSeqNb), 10, 64); err == nil && n > 0 {
		s.seq = n
	}
	s.day = dateOnly(r.From)
	c, err := h.loadCursor(ctx, s.acct.IBAN, s.fam)
	if err != nil {
		return err
	}
	expected, got, ok := h.inOrder(s, c)
	if ok {
		return nil
	}
	if s.fam != Camt053 {
		// Intraday numbers count requests at most banks: a number skipped
		// cannot be asked for again. The closed day's camt.053 carries the
		// entries; the cursor takes the new number.
		return h.gap(ctx, s, expected, got, fmt.Sprintf("%s %s: intraday report numbers skipped; the camt.053 of %s covers its entries",
			r.Message, r.ReportID, s.day))
	}
	from := h.nextDay(s.acct, c, dayStart(h.now()))
	day, _ := time.Parse(time.DateOnly, s.day)
	to := day.Add(-24 * time.Hour)
	detail := fmt.Sprintf("%s %s: re-requesting %s..%s", r.Message, r.ReportID, from.Format(time.DateOnly), to.Format(time.DateOnly))
	if depth > 0 {
		detail = fmt.Sprintf("%s %s: still missing after a re-request", r.Message, r.ReportID)
	}
	if err := h.gap(ctx, s, expected, got, detail); err != nil {
		return err
	}
	if depth > 0 || from.IsZero() || to.Before(from) {
		return nil
	}
	// Fill the hole before this statement's entries, so the cursor can
	// move in order. A failure is reported; this statement then holds the
	// cursor, and the next poll asks again.
	if err := h.fetch(ctx, s.acct, s.fam, from, to, depth+1); err != nil {
		h.log.WarnContext(ctx, "re-request after a gap failed", "account", messages.MaskIBAN(s.acct.IBAN), "error", err)
	}
	return nil
}

// inOrder reports whether s is the statement the cursor expects next (or
// an old one received again), and if not, what was expected and got.
func (h *Handler) inOrder(s *stmt, c *Cursor) (expected, got string, ok bool) {
	switch {
	case s.seq > 0 && c.LastSeq > 0:
		if s.seq <= c.LastSeq+1 {
			return "", "", true
		}
		return strconv.FormatInt(c.LastSeq+1, 10), strconv.FormatInt(s.seq, 10), false
	case s.fam == Camt053 && s.day != "":
		want := h.nextDay(s.acct, c, dayStart(h.now())).Format(time.DateOnly)
		if s.day <= want {
			return "", "", true
		}
		return want, s.day, false
	}
	return "", "", true
}

// gap publishes a stmt.gap.
func (h *Handler) gap(ctx context.Context, s *stmt, expected, got, detail string) error {
	ev := messages.StatementGap{Account: s.acct.IBAN, Message: s.rpt.Message, Expected: expected, Got: got,
		DetectedAt: h.now().UTC(), Detail: detail}
	id := fmt.Sprintf("gap:%s:%s:%s:%s:%s", s.acct.IBAN, s.fam, expected, got, s.obj.SHA256[:16])
	if _, err := h.pub.PublishEvent(ctx, ev, id); err != nil {
		return fmt.Errorf("publishing stmt.gap: %w", err)
	}
	h.log.WarnContext(ctx, "statement gap", "account", messages.MaskIBAN(s.acct.IBAN), "message", s.rpt.Message,
		"expected", expected, "got", got, "detail", detail)
	return nil
}

// publishEntry publishes one event per transaction of e (one for an entry
// without TxDtls), each once ever.
func (h *Handler) publishEntry(ctx context.Context, s *stmt, e *xmlcodec.Entry) error {
	if amt, ok := new(big.Rat).SetString(e.Amount); ok {
		if e.CreditDebit == string(messages.Debit) {
			amt.Neg(amt)
		}
		if e.Status == string(messages.EntryBooked) {
			s.net.Add(&s.net, amt)
		}
	}
	n := len(e.Transactions)
	txs := e.Transactions
	if n == 0 {
		txs = []xmlcodec.Transaction{{}}
	}
	for i := range txs {
		idx := i + 1
		var tx *xmlcodec.Transaction
		if n == 0 {
			idx = 0
		} else {
			tx = &txs[i]
		}
		key := s.key(e, tx, idx, n)
		ev := messages.StatementEntry{
			EntryKey: key, TxIndex: idx, TxCount: n, Message: s.rpt.Message, MsgID: s.rpt.MsgID, ReportID: s.rpt.ReportID,
			Account: s.acct.IBAN, EntryRef: e.EntryRef, AcctSvcrRef: e.AcctSvcrRef, Amount: e.Amount, Currency: e.Currency,
			CreditDebit: messages.CreditDebit(e.CreditDebit), Status: messages.EntryStatus(e.Status),
			BookingDate: dateOnly(e.BookingDate), ValueDate: dateOnly(e.ValueDate), Reversal: e.Reversal,
			BankTxCode: firstNonEmpty(e.BankTxCode, e.BankTxCodeProprietary), AdditionalInfo: e.AdditionalInfo,
			ArchiveSHA256: s.obj.SHA256,
		}
		if e.BatchCount != nil {
			ev.BatchCount = *e.BatchCount
		}
		if tx != nil {
			et := messages.EntryTransaction{EndToEndID: tx.EndToEndID, TxID: tx.TxID, MsgID: tx.MsgID, PmtInfID: tx.PmtInfID,
				AcctSvcrRef: tx.AcctSvcrRef, Amount: tx.Amount, Currency: tx.Currency, Remittance: tx.Remittance,
				CreditorReference: tx.CreditorReference, BudgetCode: tx.BudgetCode}
			if p := tx.Counterparty; p != nil {
				et.Counterparty = &messages.Counterparty{Name: p.Name, IBAN: p.IBAN, BIC: p.BIC}
			}
			ev.Transactions = []messages.EntryTransaction{et}
		}
		subject := ev.EventSubject()
		if h.stored(subject) {
			// An intraday report repeats the day so far: skip what this
			// process saw stored (the stream would refuse it anyway).
			s.dups++
			continue
		}
		m, err := workers.NewEventMessage(ev, "stmt:"+s.acct.IBAN+":"+key)
		if err != nil {
			return err
		}
		m.Metadata.Set(workers.MetaExpectedLastSubjectSeq, "0")
		ack, err := h.pub.PublishMessage(ctx, subject, m)
		if err == nil || workers.IsWrongLastSequence(err) {
			h.markStored(subject)
		}
		switch {
		case workers.IsWrongLastSequence(err):
			s.dups++
		case err != nil:
			return fmt.Errorf("publishing stmt.entry %s: %w", key, err)
		case ack.Duplicate:
			s.dups++
		default:
			s.published++
		}
	}
	return nil
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// key is the de-duplication key of transaction tx (nil: the entry has
// none) at position idx of n: see the package documentation.
func (s *stmt) key(e *xmlcodec.Entry, tx *xmlcodec.Transaction, idx, n int) string {
	var k string
	var ref, e2e, txID string
	if tx != nil {
		ref, e2e, txID = tx.AcctSvcrRef, tx.EndToEndID, tx.TxID
	}
	if ref == "" {
		ref = e.AcctSvcrRef
	}
	if strings.EqualFold(e2e, "NOTPROVIDED") {
		e2e = ""
	}
	day := dateOnly(e.BookingDate)
	switch {
	case ref != "" && n > 1:
		k = "ref/" + ref + "/" + strconv.Itoa(idx)
	case ref != "":
		k = "ref/" + ref
	case day != "" && e2e != "":
		k = "e2e/" + day + "/" + e.CreditDebit + "/" + e2e
	case day != "" && txID != "":
		k = "tx/" + day + "/" + e.CreditDebit + "/" + txID
	default:
		h := sha256.New()
		for _, f := range []string{e.Status, e.CreditDebit, e.Amount, e.Currency, strconv.FormatBool(e.Reversal), e.BookingDate,
			e.ValueDate, e.BankTxCode, e.BankTxCodeProprietary, e.EntryRef, e.AdditionalInfo, strconv.Itoa(idx)} {
			h.Write([]byte(f))
			h.Write([]byte{0})
		}
		if tx != nil {
			for _, f := range []string{tx.EndToEndID, tx.TxID, tx.MsgID, tx.PmtInfID, tx.InstrID, tx.Amount, tx.Currency,
				tx.Remittance, tx.CreditorReference, tx.AdditionalInfo} {
				h.Write([]byte(f))
				h.Write([]byte{0})
			}
			if p := tx.Counterparty; p != nil {
				h.Write([]byte(p.Name + "\x00" + p.IBAN + "\x00" + p.Account))
			}
		}
		sum := hex.EncodeToString(h.Sum(nil))
		s.occ[sum]++
		k = "hash/" + sum + "/" + strconv.Itoa(s.occ[sum])
	}
	if e.Status != string(messages.EntryBooked) {
		k = firstNonEmpty(e.Status, "NOSTS") + "/" + k
	}
	return k
}

// finish checks the balances, publishes the stmt.report and moves the
// cursor when the statement is next in order.
func (h *Handler) finish(ctx context.Context, s *stmt) error {
	r := s.rpt
	var opening, closing *messages.Balance
	for i := range s.balances {
		switch b := &s.balances[i]; b.Type {
		case messages.BalanceOpeningBooked:
			opening = b
		case messages.BalanceClosingBooked:
			closing = b
		}
	}
	if s.day == "" && closing != nil { // no FrToDt: the day of the closing balance
		s.day = closing.Date
	}
	c, err := h.loadCursor(ctx, s.acct.IBAN, s.fam)
	if err != nil {
		return err
	}
	// A statement split over pages (MsgPgntn/StmtPgntn) has its balances
	// on some pages and its entries on all: check the sum only when whole,
	// and move the cursor only with the last page.
	whole := r.Pagination == nil || r.Pagination.Last && strings.TrimLeft(r.Pagination.Page, "0") == "1"
	if r.Pagination != nil && !r.Pagination.Last {
		s.hold = append(s.hold, "")
	}
	if s.fam == Camt053 && opening != nil && closing != nil {
		o, ok1 := signed(opening)
		cl, ok2 := signed(closing)
		if whole && ok1 && ok2 && new(big.Rat).Add(o, &s.net).Cmp(cl) != 0 {
			want := new(big.Rat).Add(o, &s.net)
			if err := h.gap(ctx, s, "closing balance "+want.FloatString(2), "closing balance "+cl.FloatString(2),
				fmt.Sprintf("%s %s: opening balance plus booked entries does not equal the closing balance", r.Message, r.ReportID)); err != nil {
				return err
			}
		}
		if prev := c.Closing; prev != nil && s.seq > 0 && s.seq == c.LastSeq+1 {
			p, ok3 := signed(prev)
			if ok1 && ok3 && p.Cmp(o) != 0 {
				if err := h.gap(ctx, s, "opening balance "+p.FloatString(2), "opening balance "+o.FloatString(2),
					fmt.Sprintf("%s %s: opening balance differs from the closing balance of statement %d", r.Message, r.ReportID, c.LastSeq)); err != nil {
					return err
				}
			}
		}
	}
	if bad := slices.DeleteFunc(slices.Clone(s.hold), func(h string) bool { return h == "" }); len(bad) > 0 {
		if err := h.gap(ctx, s, "a complete statement", "undecodable entries", strings.Join(bad, "; ")); err != nil {
			return err
		}
	}
	ev := messages.StatementReport{Message: r.Message, MsgID: r.MsgID, ReportID: r.ReportID, Account: s.acct.IBAN,
		CreatedAt: parseTime(r.CreatedAt), From: parseTime(r.From), To: parseTime(r.To), Balances: s.balances,
		ElectronicSeqNb: r.ElectronicSeqNb, Entries: s.published, Duplicates: s.dups, ArchiveSHA256: s.obj.SHA256}
	if _, err := h.pub.PublishEvent(ctx, ev, "report:"+s.obj.SHA256+":"+r.ReportID); err != nil {
		return fmt.Errorf("publishing stmt.report %s: %w", r.ReportID, err)
	}
	// The cursor is the acknowledgement: moved only now.
	if len(s.hold) > 0 {
		return nil
	}
	switch {
	case s.fam == Camt053:
		next := h.nextDay(s.acct, c, dayStart(h.now())).Format(time.DateOnly)
		inSeq := s.seq > 0 && (c.LastSeq == 0 && s.day == next || s.seq == c.LastSeq+1)
		byDate := s.seq == 0 && s.day == next
		if !inSeq && !byDate {
			return nil
		}
		c.LastSeq, c.LastDate, c.Closing = s.seq, s.day, closing
	case s.seq > c.LastSeq:
		c.LastSeq = s.seq
	default:
		return nil
	}
	return h.storeCursor(ctx, c)
}

func signed(b *messages.Balance) (*big.Rat, bool) {
	v, ok := new(big.Rat).SetString(b.Amount)
	if !ok {
		return nil, false
	}
	if b.CreditDebit == messages.Debit {
		v.Neg(v)
	}
	return v, true
}

func parseTime(s string) time.Time {
	for _, l := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", time.DateOnly} {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}
