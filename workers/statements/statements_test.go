package statements

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/isogate/isogate/bank"
	"github.com/isogate/isogate/bank/channeltest"
	"github.com/isogate/isogate/bank/h2h"
	"github.com/isogate/isogate/banksim"
	"github.com/isogate/isogate/certstore"
	"github.com/isogate/isogate/internal/intentgen"
	"github.com/isogate/isogate/internal/natstest"
	"github.com/isogate/isogate/internal/provision"
	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/workers"
	"github.com/isogate/isogate/workers/archive"
	"github.com/isogate/isogate/xmlcodec"
)

// env is a real embedded JetStream with the gateway's streams and banksim
// over HTTPS with client certificates (through certstore and h2h), on a
// clock the test advances.
type env struct {
	js    jetstream.JetStream
	pub   *workers.Publisher
	arch  *archive.Archive
	clock *channeltest.Clock
	bank  *banksim.Server
	ch    *h2h.Client
	acct  string
	day0  time.Time
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := natstest.Start(t)
	_, js := srv.Connect()
	ctx := t.Context()
	if _, err := provision.Apply(ctx, js, provision.Options{Replicas: 1, DuplicateWindow: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	arch, err := archive.Open(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	clock := channeltest.NewClock(channeltest.StartTime())
	bsrv, err := banksim.Start(banksim.Config{Profile: "ekase", Now: clock.Now, Seed: 3, Accounts: channeltest.Accounts()}, "127.0.0.1:0", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bsrv.Close() })
	src := channeltest.ClientSource(t, bsrv.TLS)
	pool, err := certstore.LoadCAPool(bsrv.TLS.CA)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := h2h.New(h2h.Config{BaseURL: bsrv.URL, TLS: src.ClientConfig(pool), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Close() })
	return &env{js: js, pub: workers.NewPublisher(js, 5*time.Second), arch: arch, clock: clock, bank: bsrv, ch: ch,
		acct: channeltest.Accounts()[0].IBAN, day0: dayStart(clock.Now())}
}

// pay submits a pain.001 of n payments from the test account and plays
// banksim's clock past its settlement, so they are booked.
func (e *env) pay(t *testing.T, prefix string, n int) {
	t.Helper()
	prof, err := xmlcodec.LookupProfile("ekase")
	if err != nil {
		t.Fatal(err)
	}
	var ps []xmlcodec.Payment
	for _, in := range intentgen.Intents(n, intentgen.Options{Prefix: prefix, Debtors: 1, Seed: 9}) {
		ps = append(ps, xmlcodec.Payment{ID: in.ID, Debtor: xmlcodec.Account{Name: in.Debtor.Name, IBAN: in.Debtor.IBAN, BIC: in.Debtor.BIC},
			Creditor: xmlcodec.Account{Name: in.Creditor.Name, IBAN: in.Creditor.IBAN, BIC: in.Creditor.BIC},
			Amount:   in.Amount, Currency: in.Currency, Remittance: in.Remittance, ExecutionDate: e.clock.Now().Format(time.DateOnly)})
	}
	res, err := prof.EncodePain001(xmlcodec.Pain001Request{MsgID: prefix + "-B", Now: e.clock.Now, Payments: ps})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Files {
		if _, err := e.ch.Submit(t.Context(), bank.File{MsgID: f.MsgID, Data: f.Data}); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Advance(10 * time.Second)
}

func (e *env) handler(t *testing.T, ch bank.Channel) *Handler {
	t.Helper()
	h, err := New(Config{Accounts: []Account{{IBAN: e.acct, Currency: "EUR", StartDate: e.day0.Format(time.DateOnly)}}},
		Deps{JS: e.js, Publisher: e.pub, Archive: e.arch, Channel: ch, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// entrySubjects returns the stmt.entry subjects of the account with their
// message counts.
func (e *env) entrySubjects(t *testing.T) map[string]uint64 {
	t.Helper()
	st, err := e.js.Stream(t.Context(), messages.StreamStatements)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(t.Context(), jetstream.WithSubjectFilter(messages.StatementEntriesOf(e.acct)))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects
}

func lastEvent[T any](t *testing.T, js jetstream.JetStream, subject string) T {
	t.Helper()
	st, err := js.Stream(t.Context(), messages.StreamStatements)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetLastMsgForSubject(t.Context(), subject)
	if err != nil {
		t.Fatalf("last message on %s: %v", subject, err)
	}
	var v T
	if err := json.Unmarshal(m.Data, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func checkOnce(t *testing.T, subjects map[string]uint64) {
	t.Helper()
	for s, n := range subjects {
		if n != 1 {
			t.Errorf("%s holds %d messages, want 1", s, n)
		}
	}
}

// Must-show 4: two overlapping intraday camt.052 and the same camt.053
// asked for twice emit no entry twice.
func TestOverlappingStatementsEmitNoEntryTwice(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	h := e.handler(t, e.ch)
	e.pay(t, "OVL", 3)
	if err := h.PollAccount(ctx, e.acct, Camt052); err != nil {
		t.Fatal(err)
	}
	first := len(e.entrySubjects(t))
	if first < 4 { // 3 payments and their charge at least
		t.Fatalf("first camt.052: %d entries, want at least 4", first)
	}
	e.pay(t, "OVM", 2)
	if err := h.PollAccount(ctx, e.acct, Camt052, Camt054); err != nil { // overlaps the first
		t.Fatal(err)
	}
	rep := lastEvent[messages.StatementReport](t, e.js, messages.StatementReportSubject(e.acct))
	if rep.Duplicates < first {
		t.Errorf("second intraday report: %d duplicates, want at least %d", rep.Duplicates, first)
	}
	checkOnce(t, e.entrySubjects(t))

	// Close the day: its camt.053 repeats every intraday entry.
	e.clock.Advance(dayStart(e.clock.Now()).Add(24*time.Hour + time.Minute).Sub(e.clock.Now()))
	if err := h.PollAccount(ctx, e.acct, Camt053); err != nil {
		t.Fatal(err)
	}
	rep = lastEvent[messages.StatementReport](t, e.js, messages.StatementReportSubject(e.acct))
	subjects := e.entrySubjects(t)
	checkOnce(t, subjects)
	if got, want := len(subjects), rep.Entries+rep.Duplicates; got != want {
		t.Errorf("%d entry subjects, camt.053 has %d transactions", got, want)
	}
	if rep.Duplicates < first+3 {
		t.Errorf("camt.053: %d duplicates, want at least %d", rep.Duplicates, first+3)
	}
	// The same camt.053 again, asked for explicitly by a new process (no
	// cache of what was stored): the stream refuses every entry.
	// Past the duplicate window too: shrink it and let it run out (wall
	// time: the window is the server's clock), so only the subject's
	// expected last sequence can refuse the entries.
	st, err := e.js.Stream(ctx, messages.StreamStatements)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	cfg.Duplicates = 100 * time.Millisecond
	if _, err := e.js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	<-time.After(300 * time.Millisecond)
	h2 := e.handler(t, e.ch)
	if err := h2.fetch(ctx, h2.cfg.Accounts[0], Camt053, e.day0, e.day0, 0); err != nil {
		t.Fatal(err)
	}
	again := lastEvent[messages.StatementReport](t, e.js, messages.StatementReportSubject(e.acct))
	if again.Entries != 0 || again.Duplicates != rep.Entries+rep.Duplicates {
		t.Errorf("camt.053 again: %d new, %d duplicates; want 0 new, %d duplicates", again.Entries, again.Duplicates, rep.Entries+rep.Duplicates)
	}
	if got := e.entrySubjects(t); len(got) != len(subjects) {
		t.Errorf("after the repeat: %d entry subjects, want %d", len(got), len(subjects))
	}
	checkOnce(t, e.entrySubjects(t))
	c, err := h.Cursor(ctx, e.acct, Camt053)
	if err != nil {
		t.Fatal(err)
	}
	if c.LastSeq != 1 || c.LastDate != e.day0.Format(time.DateOnly) || c.Closing == nil {
		t.Errorf("cursor = %+v, want seq 1 on %s with a closing balance", c, e.day0.Format(time.DateOnly))
	}
}

// dropping is a bank.Channel that removes one camt.053 statement (by
// ElctrncSeqNb) from the first document holding it, and records the
// periods asked for.
type dropping struct {
	bank.Channel
	mu      sync.Mutex
	drop    string
	dropped bool
	periods []string
}

var frDt = regexp.MustCompile(`<FrDt>([0-9-]+)</FrDt>\s*<ToDt>([0-9-]+)</ToDt>`)

func (d *dropping) Reports(ctx context.Context, req []byte) ([]bank.Document, error) {
	if m := frDt.FindSubmatch(req); m != nil {
		d.mu.Lock()
		d.periods = append(d.periods, string(m[1])+".."+string(m[2]))
		d.mu.Unlock()
	}
	docs, err := d.Channel.Reports(ctx, req)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, doc := range docs {
		if d.dropped || !strings.HasPrefix(doc.Message, "camt.053") {
			continue
		}
		x := etree.NewDocument()
		if err := x.ReadFromBytes(doc.Data); err != nil {
			return nil, err
		}
		msg := x.Root().SelectElement("BkToCstmrStmt")
		for _, st := range msg.SelectElements("Stmt") {
			if st.SelectElement("ElctrncSeqNb").Text() == d.drop {
				msg.RemoveChild(st)
				d.dropped = true
			}
		}
		if docs[i].Data, err = x.WriteToBytes(); err != nil {
			return nil, err
		}
	}
	return docs, nil
}

// Must-show 4: a camt.053 sequence with a hole publishes stmt.gap and
// re-requests the missing day, which fills it; the cursor then moves on.
func TestSkippedSequenceNumberGapAndRerequest(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	ch := &dropping{Channel: e.ch, drop: "2"}
	h := e.handler(t, ch)
	e.pay(t, "GAP", 2)
	e.clock.Advance(24 * time.Hour)
	e.pay(t, "GAQ", 2) // day 1: the day dropped
	e.clock.Advance(2 * 24 * time.Hour)
	if err := h.PollAccount(ctx, e.acct, Camt053); err != nil {
		t.Fatal(err)
	}
	if !ch.dropped {
		t.Fatal("the channel did not drop statement 2")
	}
	g := lastEvent[messages.StatementGap](t, e.js, messages.StatementGapSubject(e.acct))
	if g.Expected != "2" || g.Got != "3" {
		t.Errorf("stmt.gap expected %q got %q, want 2 and 3 (%s)", g.Expected, g.Got, g.Detail)
	}
	day := func(n int) string { return e.day0.Add(time.Duration(n) * 24 * time.Hour).Format(time.DateOnly) }
	want := []string{day(0) + ".." + day(2), day(1) + ".." + day(1)}
	if fmt.Sprint(ch.periods) != fmt.Sprint(want) {
		t.Errorf("camt.060 periods = %v, want %v", ch.periods, want)
	}
	c, err := h.Cursor(ctx, e.acct, Camt053)
	if err != nil {
		t.Fatal(err)
	}
	if c.LastSeq != 3 || c.LastDate != day(2) {
		t.Errorf("cursor = seq %d on %s, want 3 on %s", c.LastSeq, c.LastDate, day(2))
	}
	// The payments of the dropped day arrived through the re-request.
	subjects := e.entrySubjects(t)
	checkOnce(t, subjects)
	st, err := e.js.Stream(ctx, messages.StreamStatements)
	if err != nil {
		t.Fatal(err)
	}
	if n := count(t, st, messages.SubjectStatementGaps); n != 1 {
		t.Errorf("%d stmt.gap events, want 1 (balances continuous)", n)
	}
	found := 0
	for s := range subjects {
		m, err := st.GetLastMsgForSubject(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		var ev messages.StatementEntry
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Fatal(err)
		}
		if len(ev.Transactions) == 1 && strings.HasPrefix(ev.Transactions[0].EndToEndID, "GAQ-") {
			found++
			if ev.BookingDate != day(1) {
				t.Errorf("%s booked %s, want %s", ev.Transactions[0].EndToEndID, ev.BookingDate, day(1))
			}
		}
	}
	if found != 2 {
		t.Errorf("%d entries of the dropped day's payments, want 2", found)
	}
	// A later poll finds nothing missing.
	if err := h.PollAccount(ctx, e.acct, Camt053); err != nil {
		t.Fatal(err)
	}
	if n := count(t, st, messages.SubjectStatementGaps); n != 1 {
		t.Errorf("after another poll: %d stmt.gap events, want 1", n)
	}
}

// count returns the number of messages on subjects matching filter.
func count(t *testing.T, st jetstream.Stream, filter string) uint64 {
	t.Helper()
	info, err := st.Info(t.Context(), jetstream.WithSubjectFilter(filter))
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n
}

// An entry key follows the documented order.
func TestEntryKeyOrder(t *testing.T) {
	s := &stmt{occ: map[string]int{}}
	tests := []struct {
		name string
		e    xmlcodec.Entry
		tx   *xmlcodec.Transaction
		idx  int
		n    int
		want string
	}{
		{"entry ref", xmlcodec.Entry{Status: "BOOK", AcctSvcrRef: "R1", BookingDate: "2026-11-30"}, &xmlcodec.Transaction{EndToEndID: "E"}, 1, 1, "ref/R1"},
		{"tx ref first", xmlcodec.Entry{Status: "BOOK", AcctSvcrRef: "R1"}, &xmlcodec.Transaction{AcctSvcrRef: "T1"}, 1, 1, "ref/T1"},
		{"batch ref", xmlcodec.Entry{Status: "BOOK", AcctSvcrRef: "R1"}, &xmlcodec.Transaction{}, 2, 3, "ref/R1/2"},
		{"e2e", xmlcodec.Entry{Status: "BOOK", CreditDebit: "DBIT", BookingDate: "2026-11-30T10:00:00Z"}, &xmlcodec.Transaction{EndToEndID: "INV-1"}, 1, 1, "e2e/2026-11-30/DBIT/INV-1"},
		{"txid", xmlcodec.Entry{Status: "BOOK", CreditDebit: "CRDT", BookingDate: "2026-11-30"}, &xmlcodec.Transaction{EndToEndID: "NOTPROVIDED", TxID: "T9"}, 1, 1, "tx/2026-11-30/CRDT/T9"},
		{"pending", xmlcodec.Entry{Status: "PDNG", AcctSvcrRef: "R1"}, nil, 0, 0, "PDNG/ref/R1"},
	}
	for _, tt := range tests {
		if got := s.key(&tt.e, tt.tx, tt.idx, tt.n); got != tt.want {
			t.Errorf("key(%s) = %q, want %q", tt.name, got, tt.want)
		}
	}
	e := xmlcodec.Entry{Status: "BOOK", Amount: "1.00", CreditDebit: "DBIT"}
	k1, k2 := s.key(&e, nil, 0, 0), s.key(&e, nil, 0, 0)
	if !strings.HasPrefix(k1, "hash/") || !strings.HasSuffix(k1, "/1") || !strings.HasSuffix(k2, "/2") || k1[:len(k1)-1] != k2[:len(k2)-1] {
		t.Errorf("identical entries: keys %q and %q, want hash/<sum>/1 and /2", k1, k2)
	}
}

// Run polls each account on its schedule: camt.052 at start and every
// Intraday, camt.053 once a day has closed; it returns when ctx ends.
func TestRunPollsOnSchedule(t *testing.T) {
	e := newEnv(t)
	ch := &dropping{Channel: e.ch}
	h, err := New(Config{Tick: 10 * time.Millisecond, Accounts: []Account{{IBAN: e.acct, Schedule: Schedule{Intraday: time.Hour}}}},
		Deps{JS: e.js, Publisher: e.pub, Archive: e.arch, Channel: ch, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	requests := func() int {
		ch.mu.Lock()
		defer ch.mu.Unlock()
		return len(ch.periods)
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			<-tick.C
		}
	}
	wait("the first camt.052 and camt.054", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return requests() == 2 && !h.due[e.acct].intraday.IsZero()
	})
	e.clock.Advance(30 * time.Minute) // not due yet
	for range 5 {
		h.pollDue(ctx) // what Run's next ticks do
	}
	if n := requests(); n != 2 {
		t.Errorf("%d requests before the next intraday poll is due, want 2", n)
	}
	e.clock.Advance(24 * time.Hour) // the day closed, intraday due
	wait("the closed day's camt.053", func() bool {
		c, err := h.Cursor(ctx, e.acct, Camt053)
		return err == nil && c.LastSeq == 1
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

// truncating cuts the first camt.053 it returns right after its first
// entry, as a connection cut mid-body would.
type truncating struct {
	bank.Channel
	mu  sync.Mutex
	cut bool
}

func (c *truncating) Reports(ctx context.Context, req []byte) ([]bank.Document, error) {
	docs, err := c.Channel.Reports(ctx, req)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, doc := range docs {
		if c.cut || !strings.HasPrefix(doc.Message, "camt.053") {
			continue
		}
		if at := bytes.Index(doc.Data, []byte("</Ntry>")); at >= 0 {
			docs[i].Data = doc.Data[:at+len("</Ntry>")]
			c.cut = true
		}
	}
	return docs, nil
}

// TestTruncatedStatementHoldsTheCursor: a statement whose decoding stops
// part way must not move the cursor past the entries never read; the next
// poll reads the whole statement.
func TestTruncatedStatementHoldsTheCursor(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	ch := &truncating{Channel: e.ch}
	h := e.handler(t, ch)
	e.pay(t, "TRC", 3)
	e.clock.Advance(24 * time.Hour)
	if err := h.PollAccount(ctx, e.acct, Camt053); err == nil {
		t.Error("PollAccount of a truncated statement returned nil")
	}
	if !ch.cut {
		t.Fatal("the channel did not cut the statement")
	}
	c, err := h.Cursor(ctx, e.acct, Camt053)
	if err != nil {
		t.Fatal(err)
	}
	if c.LastSeq != 0 {
		t.Fatalf("cursor moved to seq %d past a statement read only in part", c.LastSeq)
	}
	if err := h.PollAccount(ctx, e.acct, Camt053); err != nil {
		t.Fatal(err)
	}
	if c, err = h.Cursor(ctx, e.acct, Camt053); err != nil || c.LastSeq != 1 {
		t.Fatalf("cursor after the full statement = %+v, %v; want seq 1", c, err)
	}
	subjects := e.entrySubjects(t)
	checkOnce(t, subjects)
	found := 0
	st, err := e.js.Stream(ctx, messages.StreamStatements)
	if err != nil {
		t.Fatal(err)
	}
	for s := range subjects {
		m, err := st.GetLastMsgForSubject(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		var ev messages.StatementEntry
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Fatal(err)
		}
		if len(ev.Transactions) == 1 && strings.HasPrefix(ev.Transactions[0].EndToEndID, "TRC-") {
			found++
		}
	}
	if found != 3 {
		t.Errorf("%d entries of the 3 payments, want 3", found)
	}
}
