package reconciler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"os"
	"sync"
	"testing"
	"time"

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
	"github.com/isogate/isogate/workers/reconciler"
	"github.com/isogate/isogate/workers/state"
	"github.com/isogate/isogate/workers/statements"
	"github.com/isogate/isogate/xmlcodec"
)

// env is a real embedded JetStream with the gateway's streams and state,
// and banksim over HTTPS (h2h, client certificate through certstore) on a
// clock the test advances.
type env struct {
	js      jetstream.JetStream
	pub     *workers.Publisher
	batches *state.Batches
	intents *state.Intents
	arch    *archive.Archive
	clock   *channeltest.Clock
	bank    *banksim.Server
	ch      *h2h.Client
	acct    string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := natstest.Start(t)
	_, js := srv.Connect()
	ctx := t.Context()
	if _, err := provision.Apply(ctx, js, provision.Options{Replicas: 1, DuplicateWindow: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	clock := channeltest.NewClock(channeltest.StartTime())
	batches, intents, err := state.New(ctx, js, state.Options{Worker: "test", Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	arch, err := archive.Open(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	bsrv, err := banksim.Start(banksim.Config{Profile: "ekase", Now: clock.Now, Seed: 1, Accounts: channeltest.Accounts()}, "127.0.0.1:0", t.TempDir())
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
	return &env{js: js, pub: workers.NewPublisher(js, 5*time.Second), batches: batches, intents: intents, arch: arch,
		clock: clock, bank: bsrv, ch: ch, acct: channeltest.Accounts()[0].IBAN}
}

func testLogger() *slog.Logger {
	if os.Getenv("RECONCILER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// batch publishes n intents, claims them for batch id, encodes and
// archives the pain.001 and records the batch as the encoder does; with
// submit, uploads it to banksim and moves the batch to submitted as the
// submitter does. rejectIdx ≥ 0 gives that intent a creditor banksim
// rejects (AC01).
func (e *env) batch(t *testing.T, id string, n, rejectIdx int, submit bool) []messages.PaymentIntent {
	t.Helper()
	ctx := t.Context()
	ins := intentgen.Intents(n, intentgen.Options{Prefix: id, Debtors: 1, Seed: uint64(n)})
	pays := make([]xmlcodec.Payment, len(ins))
	for i := range ins {
		in := &ins[i]
		in.ExecutionDate = e.clock.Now().Format(time.DateOnly)
		if i == rejectIdx {
			in.Creditor.IBAN = messages.ComposeIBAN("LV", "HABA0000000009999")
		}
		if _, err := e.pub.PublishEvent(ctx, *in, in.ID); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := e.intents.Claim(ctx, in.ID, id); err != nil || !ok {
			t.Fatalf("claiming %s: %v %v", in.ID, ok, err)
		}
		pays[i] = xmlcodec.Payment{ID: in.ID, Amount: in.Amount, Currency: in.Currency, ExecutionDate: in.ExecutionDate,
			Remittance: in.Remittance, Debtor: xmlcodec.Account{Name: in.Debtor.Name, IBAN: in.Debtor.IBAN, BIC: in.Debtor.BIC},
			Creditor: xmlcodec.Account{Name: in.Creditor.Name, IBAN: in.Creditor.IBAN, BIC: in.Creditor.BIC}}
	}
	res, err := e.bank.Bank.Profile().EncodePain001(xmlcodec.Pain001Request{MsgID: id, Now: e.clock.Now, Payments: pays})
	if err != nil {
		t.Fatal(err)
	}
	f := res.Files[0]
	obj, err := e.arch.Put(ctx, f.Data, map[string]string{archive.MetaKind: "pain.001", archive.MetaBatchID: id})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.batches.Create(ctx, state.Batch{ID: id, State: state.Encoded, Profile: "ekase", Message: "pain.001.001.03",
		DebtorIBAN: ins[0].Debtor.IBAN, Currency: "EUR", IntentIDs: f.PaymentIDs, NbOfTxs: f.NbOfTxs, CtrlSum: f.CtrlSum,
		Archive: &state.Object{Name: obj.Name, SHA256: obj.SHA256, Size: obj.Size}}); err != nil {
		t.Fatal(err)
	}
	if !submit {
		return ins
	}
	e.move(t, id, state.Submitting)
	if _, err := e.ch.Submit(ctx, bank.File{MsgID: id, Data: f.Data}); err != nil {
		t.Fatal(err)
	}
	e.move(t, id, state.Submitted)
	return ins
}

func (e *env) move(t *testing.T, id string, to state.State) {
	t.Helper()
	if _, err := e.batches.Transition(t.Context(), id, to, "test", nil); err != nil {
		t.Fatal(err)
	}
}

// status publishes an intent's pay.status as the status poller does.
func (e *env) status(t *testing.T, intentID, batchID string, st messages.TxStatus) {
	t.Helper()
	ev := messages.PaymentStatus{IntentID: intentID, BatchID: batchID, Status: st, Final: st.Final(), ReceivedAt: e.clock.Now()}
	if _, err := e.pub.PublishEvent(t.Context(), ev, "status:"+intentID+":"+string(st)); err != nil {
		t.Fatal(err)
	}
}

func (e *env) start(t *testing.T) {
	t.Helper()
	h, err := reconciler.New(reconciler.Config{AckWait: 2 * time.Second, MaxDeliver: 200,
		Backoff: []time.Duration{50 * time.Millisecond, 100 * time.Millisecond}},
		reconciler.Deps{JS: e.js, Publisher: e.pub, Batches: e.batches, Intents: e.intents, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	r, err := workers.NewRouter(workers.RouterConfig{JS: e.js, Workers: []workers.Worker{h.Worker()}, Logger: testLogger(),
		DrainTimeout: 200 * time.Millisecond, PollWait: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background()) }()
	<-r.Running()
	var once sync.Once
	t.Cleanup(func() {
		once.Do(func() {
			_ = r.Close()
			<-done
		})
	})
}

// events returns the messages of a stream on subjects matching filter, by
// subject.
func events(t *testing.T, js jetstream.JetStream, stream, filter string) map[string][][]byte {
	t.Helper()
	c, err := js.OrderedConsumer(t.Context(), stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(t.Context(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(t.Context(), jetstream.WithSubjectFilter(filter))
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, k := range info.State.Subjects {
		n += k
	}
	out := map[string][][]byte{}
	for range n {
		m, err := c.Next(jetstream.FetchMaxWait(2 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		out[m.Subject()] = append(out[m.Subject()], m.Data())
	}
	return out
}

func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// Payments submitted to banksim and settled there: every accepted intent
// gets exactly one pay.settled with the booking date and reference, the
// batches become settled, and banksim's incoming credits and charges become
// stmt.unmatched with the right reason.
func TestSettlesEveryIntentOnceAndUnmatchesTheRest(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	day0 := e.clock.Now().Format(time.DateOnly)
	b1 := e.batch(t, "RB1", 5, -1, true)
	b2 := e.batch(t, "RB2", 4, 2, true) // RB2-000002 rejected AC01
	e.clock.Advance(10 * time.Second)   // past ACSC: booked
	// What the status poller does with the final pain.002s.
	e.move(t, "RB1", state.Accepted)
	e.status(t, b2[2].ID, "RB2", messages.TxStatusRJCT)
	// RB2 stays submitted for now: the statement comes before its final status.

	st, err := statements.New(statements.Config{Accounts: []statements.Account{{IBAN: e.acct, Currency: "EUR", StartDate: day0}}},
		statements.Deps{JS: e.js, Publisher: e.pub, Archive: e.arch, Channel: e.ch, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PollAccount(ctx, e.acct, statements.Camt052); err != nil {
		t.Fatal(err)
	}
	e.start(t)
	e.clock.Advance(24 * time.Hour) // close the day: the camt.053 repeats the camt.052's entries
	if err := st.PollAccount(ctx, e.acct, statements.Camt053); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "RB1 settled", 10*time.Second, func() bool {
		b, err := e.batches.Get(ctx, "RB1")
		return err == nil && b.State == state.Settled
	})
	if b, _ := e.batches.Get(ctx, "RB2"); b.State != state.Submitted {
		t.Fatalf("RB2 is %s, want submitted until its final status", b.State)
	}
	e.move(t, "RB2", state.PartiallyAccepted)
	waitFor(t, "RB2 settled", 10*time.Second, func() bool {
		b, err := e.batches.Get(ctx, "RB2")
		return err == nil && b.State == state.Settled
	})

	settled := events(t, e.js, messages.StreamPayments, messages.SubjectSettled)
	want := map[string]bool{}
	for _, in := range append(b1, b2...) {
		want[in.ID] = in.ID != b2[2].ID
	}
	for id, ok := range want {
		msgs := settled[messages.SettledSubject(id)]
		if !ok {
			if len(msgs) != 0 {
				t.Errorf("rejected %s settled", id)
			}
			continue
		}
		if len(msgs) != 1 {
			t.Errorf("%s: %d pay.settled, want 1", id, len(msgs))
			continue
		}
		var s messages.PaymentSettled
		if err := json.Unmarshal(msgs[0], &s); err != nil {
			t.Fatal(err)
		}
		if s.BookingDate != day0 || len(s.AcctSvcrRef) < 5 || s.AcctSvcrRef[:4] != "BSIM" || s.Account != e.acct || s.StatementMsgID == "" {
			t.Errorf("%s: pay.settled %+v, want booked on %s with a BSIM reference", id, s, day0)
		}
		// The status stays the status poller's: no pay.status published here.
		if st := events(t, e.js, messages.StreamPayments, messages.StatusSubject(id)); len(st) != 0 {
			t.Errorf("intent %s: %d pay.status subjects, want none: the status is the status poller's", id, len(st))
		}
	}

	// Every entry that is not one of our payments is unmatched, with its reason.
	entries := events(t, e.js, messages.StreamStatements, messages.StatementEntriesOf(e.acct))
	unmatched := events(t, e.js, messages.StreamStatements, messages.SubjectStatementUnmatched)
	var credits, charges int
	for _, msgs := range entries {
		var ev messages.StatementEntry
		if err := json.Unmarshal(msgs[0], &ev); err != nil {
			t.Fatal(err)
		}
		var reason string
		switch {
		case ev.CreditDebit == messages.Credit:
			reason = messages.UnmatchedIncomingCredit
			credits++
		case ev.BankTxCode == "ACMT-MDOP-CHRG":
			reason = messages.UnmatchedCharge
			charges++
		default:
			continue
		}
		um := unmatched[messages.StatementUnmatchedSubject(e.acct, ev.EntryKey, ev.TxIndex)]
		if len(um) != 1 {
			t.Errorf("entry %s (%s %s): %d stmt.unmatched, want 1", ev.EntryKey, ev.CreditDebit, ev.BankTxCode, len(um))
			continue
		}
		var u messages.StatementUnmatched
		if err := json.Unmarshal(um[0], &u); err != nil {
			t.Fatal(err)
		}
		if u.Reason != reason || u.Amount != ev.Amount {
			t.Errorf("entry %s: unmatched %s %s, want %s %s", ev.EntryKey, u.Reason, u.Amount, reason, ev.Amount)
		}
	}
	t.Logf("%d entries: %d incoming credits, %d charges, %d pay.settled", len(entries), credits, charges, len(settled))
	if charges != 2 || credits == 0 {
		t.Errorf("%d charges and %d incoming credits on the statement, want 2 and some", charges, credits)
	}
	if got, want := len(unmatched), credits+charges; got != want {
		t.Errorf("%d stmt.unmatched, want %d", got, want)
	}
	if l := e.bank.Bank.Ledger(); l.EndToEndIDsBookedTwice != 0 {
		t.Errorf("banksim booked %d EndToEndIds twice", l.EndToEndIDsBookedTwice)
	}
}

// publishEntry publishes a statement entry as the statements worker does.
func (e *env) publishEntry(t *testing.T, ev messages.StatementEntry) {
	t.Helper()
	ev.Account, ev.Message, ev.MsgID, ev.Status = e.acct, "camt.053.001.02", "TEST-STMT", messages.EntryBooked
	ev.CreditDebit, ev.Currency, ev.BookingDate = messages.Debit, "EUR", e.clock.Now().Format(time.DateOnly)
	if _, err := e.pub.PublishEvent(t.Context(), ev, "stmt:"+ev.EntryKey); err != nil {
		t.Fatal(err)
	}
}

func (e *env) unmatchedOf(t *testing.T, key string) *messages.StatementUnmatched {
	t.Helper()
	st, err := e.js.Stream(t.Context(), messages.StreamStatements)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetLastMsgForSubject(t.Context(), messages.StatementUnmatchedSubject(e.acct, key, 1))
	if err != nil {
		return nil
	}
	var u messages.StatementUnmatched
	if err := json.Unmarshal(m.Data, &u); err != nil {
		t.Fatal(err)
	}
	return &u
}

// Amount and currency mismatches, unknown references and a second entry
// for a settled intent are unmatched with their reason; a batch booking
// (one entry for the whole batch, MsgId only) settles every intent.
func TestMismatchesAndBatchBooking(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	ins := e.batch(t, "MB1", 2, -1, false)
	bb := e.batch(t, "MB2", 3, -1, false)
	for _, id := range []string{"MB1", "MB2"} {
		for _, s := range []state.State{state.Submitting, state.Submitted, state.Accepted} {
			if id == "MB2" && s == state.Accepted {
				continue // MB2's final status comes after its booking, below
			}
			e.move(t, id, s)
		}
	}
	e.start(t)
	one := func(key string, tx messages.EntryTransaction, amount string) {
		e.publishEntry(t, messages.StatementEntry{EntryKey: key, TxIndex: 1, TxCount: 1, Amount: amount, AcctSvcrRef: key,
			BankTxCode: "PMNT-ICDT-ESCT", Transactions: []messages.EntryTransaction{tx}})
	}
	plus := func(a string) string {
		var w, f int
		fmt.Sscanf(a, "%d.%d", &w, &f)
		return fmt.Sprintf("%d.%02d", w, f+1)
	}
	// Amount mismatch.
	one("K-AMT", messages.EntryTransaction{EndToEndID: ins[0].ID, MsgID: "MB1", Amount: plus(ins[0].Amount), Currency: "EUR"}, plus(ins[0].Amount))
	// Currency mismatch.
	one("K-CCY", messages.EntryTransaction{EndToEndID: ins[1].ID, Amount: ins[1].Amount, Currency: "USD"}, ins[1].Amount)
	// Not ours.
	one("K-UNK", messages.EntryTransaction{EndToEndID: "SOMEONE-ELSE", Amount: "10.00", Currency: "EUR"}, "10.00")
	// An intent the encoder rejected: recorded, never sent.
	if _, _, err := e.intents.Reject(ctx, "REJECTED-1"); err != nil {
		t.Fatal(err)
	}
	one("K-REJ", messages.EntryTransaction{EndToEndID: "REJECTED-1", Amount: "10.00", Currency: "EUR"}, "10.00")
	cases := map[string]string{"K-AMT": messages.UnmatchedAmountMismatch, "K-CCY": messages.UnmatchedCurrencyMismatch,
		"K-UNK": messages.UnmatchedUnknownReference, "K-REJ": messages.UnmatchedUnknownReference}
	for key, reason := range cases {
		waitFor(t, "stmt.unmatched "+key, 10*time.Second, func() bool { return e.unmatchedOf(t, key) != nil })
		if u := e.unmatchedOf(t, key); u.Reason != reason {
			t.Errorf("%s: reason %s (%s), want %s", key, u.Reason, u.Detail, reason)
		}
	}
	if u := e.unmatchedOf(t, "K-AMT"); u.IntentID != ins[0].ID || u.Expected != ins[0].Amount+" EUR" {
		t.Errorf("amount mismatch: intent %q expected %q, want %s and %s EUR", u.IntentID, u.Expected, ins[0].ID, ins[0].Amount)
	}

	// The right amount settles; the same intent on another entry does not settle it again.
	one("K-OK", messages.EntryTransaction{EndToEndID: ins[0].ID, Amount: ins[0].Amount, Currency: "EUR"}, ins[0].Amount)
	// Handled concurrently, either entry could settle it: wait for the
	// settlement so the second entry is the one refused.
	payments, err := e.js.Stream(t.Context(), messages.StreamPayments)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pay.settled "+ins[0].ID, 10*time.Second, func() bool {
		_, err := payments.GetLastMsgForSubject(t.Context(), messages.SettledSubject(ins[0].ID))
		return err == nil
	})
	one("K-AGAIN", messages.EntryTransaction{EndToEndID: ins[0].ID, Amount: ins[0].Amount, Currency: "EUR"}, ins[0].Amount)
	waitFor(t, "stmt.unmatched K-AGAIN", 10*time.Second, func() bool { return e.unmatchedOf(t, "K-AGAIN") != nil })
	if u := e.unmatchedOf(t, "K-AGAIN"); u.Reason != messages.UnmatchedAlreadySettled {
		t.Errorf("second entry for %s: %s, want %s", ins[0].ID, u.Reason, messages.UnmatchedAlreadySettled)
	}

	// One entry for the whole of MB2: MsgId and PmtInfId, no EndToEndId.
	// The bank rejects MB2's third payment and books the other two as one
	// entry, before its final pain.002 has reached the gateway.
	booked := new(big.Rat)
	for _, in := range bb[:2] {
		v, _ := new(big.Rat).SetString(in.Amount)
		booked.Add(booked, v)
	}
	amt := booked.FloatString(2)
	one("K-BATCH", messages.EntryTransaction{MsgID: "MB2", PmtInfID: "MB2-1", Amount: amt, Currency: "EUR"}, amt)
	// It is retried, not judged against intents whose outcome is still
	// open (which would call it an amount mismatch, for good).
	cons, err := e.js.Consumer(ctx, messages.StreamStatements, "reconciler")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the batch booking retried", 10*time.Second, func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.NumRedelivered > 0
	})
	if u := e.unmatchedOf(t, "K-BATCH"); u != nil {
		t.Fatalf("batch booking before the final status: stmt.unmatched %s (%s)", u.Reason, u.Detail)
	}
	for i, in := range bb {
		st := messages.TxStatusACSC
		if i == 2 {
			st = messages.TxStatusRJCT
		}
		e.status(t, in.ID, "MB2", st)
	}
	e.move(t, "MB2", state.PartiallyAccepted)
	waitFor(t, "MB2 settled", 10*time.Second, func() bool {
		b, err := e.batches.Get(ctx, "MB2")
		return err == nil && b.State == state.Settled
	})
	settled := events(t, e.js, messages.StreamPayments, messages.SubjectSettled)
	for _, in := range []messages.PaymentIntent{bb[0], bb[1], ins[0]} {
		if n := len(settled[messages.SettledSubject(in.ID)]); n != 1 {
			t.Errorf("%s: %d pay.settled, want 1", in.ID, n)
		}
	}
	if n := len(settled[messages.SettledSubject(bb[2].ID)]); n != 0 {
		t.Errorf("%s (rejected by the bank): %d pay.settled, want 0", bb[2].ID, n)
	}
	if n := len(settled[messages.SettledSubject(ins[1].ID)]); n != 0 {
		t.Errorf("%s (currency mismatch): %d pay.settled, want 0", ins[1].ID, n)
	}
	if b, _ := e.batches.Get(ctx, "MB1"); b.State != state.Accepted {
		t.Errorf("MB1 is %s, want accepted (one intent unsettled)", b.State)
	}
}
