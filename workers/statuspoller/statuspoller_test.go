package statuspoller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

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
	"github.com/isogate/isogate/workers/state"
	"github.com/isogate/isogate/workers/statuspoller"
	"github.com/isogate/isogate/xmlcodec"
)

// env is a real embedded JetStream with the gateway's streams and a
// banksim over HTTPS with client certificates, whose clock the test
// advances to play the statuses out (ACTC at once, ACSP after 1s, ACSC
// after 2s more).
type env struct {
	nats    *natstest.Server
	js      jetstream.JetStream
	pub     *workers.Publisher
	batches *state.Batches
	intents *state.Intents
	arch    *archive.Archive
	bank    *banksim.Server
	clock   *channeltest.Clock
	ch      *h2h.Client
	channel bank.Channel // what the poller uses: ch unless a test wraps it
	reg     *prometheus.Registry
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := natstest.Start(t)
	_, js := srv.Connect()
	ctx := t.Context()
	if _, err := provision.Apply(ctx, js, provision.Options{Replicas: 1, DuplicateWindow: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	batches, intents, err := state.New(ctx, js, state.Options{Worker: "test"})
	if err != nil {
		t.Fatal(err)
	}
	arch, err := archive.Open(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	clock := channeltest.NewClock(time.Now().UTC())
	bsrv, err := banksim.Start(banksim.Config{Profile: "ekase", Seed: 1, Now: clock.Now}, "127.0.0.1:0", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := bsrv.Close(); err != nil {
			t.Errorf("closing banksim: %v", err)
		}
	})
	src := channeltest.ClientSource(t, bsrv.TLS)
	pool, err := certstore.LoadCAPool(bsrv.TLS.CA)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := h2h.New(h2h.Config{BaseURL: bsrv.URL, TLS: src.ClientConfig(pool), Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Close() })
	return &env{nats: srv, js: js, pub: workers.NewPublisher(js, 5*time.Second), batches: batches, intents: intents,
		arch: arch, bank: bsrv, clock: clock, ch: ch, channel: ch, reg: prometheus.NewRegistry()}
}

func testLogger() *slog.Logger {
	if os.Getenv("STATUSPOLLER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newHandler returns a poller with short timings: a fresh one stands for a
// restarted process.
func (e *env) newHandler(t *testing.T, crash func(string)) *statuspoller.Handler {
	t.Helper()
	h, err := statuspoller.New(statuspoller.Config{
		Schedule:     statuspoller.Schedule{FirstDelay: time.Millisecond, Interval: 30 * time.Millisecond, MaxInterval: 150 * time.Millisecond, Multiplier: 2},
		ListInterval: 300 * time.Millisecond,
		AckWait:      2 * time.Second,
		Backoff:      []time.Duration{100 * time.Millisecond},
		Crash:        crash,
	}, statuspoller.Deps{JS: e.js, Publisher: e.pub, Batches: e.batches, Archive: e.arch,
		Channel: e.channel, Logger: testLogger(), Registerer: e.reg})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// start runs h's consumer in a router and its poll loop until stop (or the
// test's end).
func (e *env) start(t *testing.T, h *statuspoller.Handler) (stop func()) {
	t.Helper()
	r, err := workers.NewRouter(workers.RouterConfig{JS: e.js, Workers: []workers.Worker{h.Worker()}, Logger: testLogger(),
		DrainTimeout: 200 * time.Millisecond, PollWait: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	routed := make(chan error, 1)
	looped := make(chan error, 1)
	go func() { routed <- r.Run(ctx) }()
	go func() { looped <- h.Run(ctx) }()
	<-r.Running()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			_ = r.Close()
			<-routed
			if err := <-looped; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

type testBatch struct {
	ID        string
	IntentIDs []string
}

// submit does what the encoder and submitter do for intents: encode,
// archive, record the batch, claim the intents, upload to banksim, move the
// batch to submitted and publish pay.batch.submitted.
func (e *env) submit(t *testing.T, id string, intents []messages.PaymentIntent) testBatch {
	t.Helper()
	ctx := t.Context()
	pays := make([]xmlcodec.Payment, len(intents))
	for i, in := range intents {
		pays[i] = xmlcodec.Payment{ID: in.ID, Amount: in.Amount, Currency: in.Currency, ExecutionDate: in.ExecutionDate,
			Remittance: in.Remittance, Purpose: in.Purpose, BudgetCode: in.BudgetCode,
			Debtor:   xmlcodec.Account{Name: in.Debtor.Name, IBAN: in.Debtor.IBAN, BIC: in.Debtor.BIC},
			Creditor: xmlcodec.Account{Name: in.Creditor.Name, IBAN: in.Creditor.IBAN, BIC: in.Creditor.BIC}}
	}
	res, err := e.bank.Bank.Profile().EncodePain001(xmlcodec.Pain001Request{MsgID: id, Payments: pays})
	if err != nil {
		t.Fatal(err)
	}
	f := res.Files[0]
	obj, err := e.arch.Put(ctx, f.Data, map[string]string{archive.MetaKind: "pain.001", archive.MetaBatchID: id, archive.MetaMsgID: id})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.batches.Create(ctx, state.Batch{ID: id, State: state.Encoded, Profile: "ekase", Message: "pain.001.001.03",
		DebtorIBAN: intents[0].Debtor.IBAN, Currency: "EUR", IntentIDs: f.PaymentIDs, NbOfTxs: f.NbOfTxs, CtrlSum: f.CtrlSum,
		Archive: &state.Object{Name: obj.Name, SHA256: obj.SHA256, Size: obj.Size}}); err != nil {
		t.Fatal(err)
	}
	for _, in := range f.PaymentIDs {
		if _, ok, err := e.intents.Claim(ctx, in, id); err != nil || !ok {
			t.Fatalf("Claim(%s) = %v, %v", in, ok, err)
		}
	}
	if _, err := e.batches.Transition(ctx, id, state.Submitting, "uploading", nil); err != nil {
		t.Fatal(err)
	}
	rcpt, err := e.ch.Submit(ctx, bankFile(id, f.Data))
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.batches.Transition(ctx, id, state.Submitted, "uploaded", nil)
	if err != nil {
		t.Fatal(err)
	}
	ev := messages.BatchSubmitted{BatchID: id, SubmittedAt: rcpt.ReceivedAt, Channel: "h2h", Attempt: b.Attempts, ArchiveSHA256: obj.SHA256}
	if _, err := e.pub.PublishEvent(ctx, ev, "submitted:"+id); err != nil {
		t.Fatal(err)
	}
	return testBatch{ID: id, IntentIDs: f.PaymentIDs}
}

// gen returns n valid intents of one debtor; change, when set, edits each.
func gen(prefix string, n int, change func(i int, in *messages.PaymentIntent)) []messages.PaymentIntent {
	ins := intentgen.Intents(n, intentgen.Options{Prefix: prefix, Debtors: 1, Seed: uint64(len(prefix) + n)})
	for i := range ins {
		ins[i].Remittance = fmt.Sprintf("Rēķins %d", i) // SIMRJCT-free unless changed
		if change != nil {
			change(i, &ins[i])
		}
	}
	return ins
}

// waitFor polls cond until it returns "" (done) or within has passed.
func waitFor(t *testing.T, within time.Duration, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, %s: %s", within, what, msg)
		}
		<-tick.C
	}
}

// waitIntents waits until each intent's last pay.status is want.
func (e *env) waitIntents(t *testing.T, want messages.TxStatus, ids ...string) {
	t.Helper()
	s, err := e.js.Stream(t.Context(), messages.StreamPayments)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "intents not "+string(want), func() string {
		var notYet []string
		for _, id := range ids {
			ev, _, err := workers.LastStatus(t.Context(), s, id)
			switch {
			case err != nil:
				notYet = append(notYet, id+": "+err.Error())
			case ev == nil:
				notYet = append(notYet, id+": none")
			case ev.Status != want || ev.Final != want.Final():
				notYet = append(notYet, fmt.Sprintf("%s=%s", id, ev.Status))
			}
		}
		return strings.Join(notYet, ", ")
	})
}

func (e *env) waitBatch(t *testing.T, want state.State, ids ...string) {
	t.Helper()
	waitFor(t, 10*time.Second, "batches not "+string(want), func() string {
		var notYet []string
		for _, id := range ids {
			b, err := e.batches.Get(t.Context(), id)
			if err != nil {
				notYet = append(notYet, id+": "+err.Error())
			} else if b.State != want {
				notYet = append(notYet, id+"="+string(b.State))
			}
		}
		return strings.Join(notYet, ", ")
	})
}

// events returns every pay.status event in the stream, per intent, in
// stream order.
func (e *env) events(t *testing.T) map[string][]messages.PaymentStatus {
	t.Helper()
	ctx := t.Context()
	s, err := e.js.Stream(ctx, messages.StreamPayments)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(messages.SubjectStatuses))
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, n := range info.State.Subjects {
		total += int(n)
	}
	out := map[string][]messages.PaymentStatus{}
	if total == 0 {
		return out
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{messages.SubjectStatuses}})
	if err != nil {
		t.Fatal(err)
	}
	for got := 0; got < total; {
		batch, err := c.Fetch(total-got, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			var ev messages.PaymentStatus
			if err := json.Unmarshal(m.Data(), &ev); err != nil {
				t.Fatal(err)
			}
			out[ev.IntentID] = append(out[ev.IntentID], ev)
			n++
		}
		if n == 0 {
			t.Fatalf("read %d of %d status events", got, total)
		}
		got += n
	}
	return out
}

// wantEvents checks an intent's events: the statuses in order, each once,
// the last final, the first reason code of the last, and that every
// event's pain.002 is in the archive.
func (e *env) wantEvents(t *testing.T, evs map[string][]messages.PaymentStatus, b testBatch, intent, reason string, want ...messages.TxStatus) {
	t.Helper()
	got := evs[intent]
	var codes []messages.TxStatus
	for _, ev := range got {
		codes = append(codes, ev.Status)
		if ev.BatchID != b.ID || ev.Final != ev.Status.Final() || ev.PmtInfID == "" {
			t.Errorf("%s: event %+v: want batch %s, final = status.Final(), a pmt_inf_id", intent, ev, b.ID)
		}
		if _, err := e.arch.Get(t.Context(), "sha256/"+ev.ArchiveSHA256); err != nil {
			t.Errorf("%s: %s event's pain.002: %v", intent, ev.Status, err)
		}
	}
	if fmt.Sprint(codes) != fmt.Sprint(want) {
		t.Errorf("%s: status events %v, want %v", intent, codes, want)
		return
	}
	last := got[len(got)-1]
	gotReason := ""
	if len(last.Reasons) > 0 {
		gotReason = last.Reasons[0].Code
	}
	if gotReason != reason || !last.Final {
		t.Errorf("%s: last event %s (final %v) reason %q, want a final status with reason %q", intent, last.Status, last.Final, gotReason, reason)
	}
}

// waitIdle waits until h tracks no batch and the consumer has nothing
// pending: no poll can publish anything more.
func (e *env) waitIdle(t *testing.T, h *statuspoller.Handler) {
	t.Helper()
	waitFor(t, 10*time.Second, "still busy", func() string {
		if ids := h.Tracked(); len(ids) > 0 {
			return fmt.Sprintf("tracking %v", ids)
		}
		c, err := e.js.Consumer(t.Context(), messages.StreamPayments, statuspoller.Name)
		if err != nil {
			return err.Error()
		}
		info, err := c.Info(t.Context())
		if err != nil {
			return err.Error()
		}
		if info.NumPending != 0 || info.NumAckPending != 0 {
			return fmt.Sprintf("consumer: %d pending, %d unacknowledged", info.NumPending, info.NumAckPending)
		}
		return ""
	})
}

func allIntents(bs ...testBatch) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.IntentIDs...)
	}
	return out
}

// TestPlayOut: batches play out at the bank ACTC → ACSP → ACSC; every
// intent gets each status once, final ACSC, KV final, the batch accepted.
func TestPlayOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := e.newHandler(t, nil)
	e.start(t, h)
	var bs []testBatch
	for i := range 3 {
		id := fmt.Sprintf("PLAY-%d", i)
		bs = append(bs, e.submit(t, id, gen(id, 4, nil)))
	}
	ids := allIntents(bs...)
	e.waitIntents(t, messages.TxStatusACTC, ids...)
	e.clock.Advance(time.Second)
	e.waitIntents(t, messages.TxStatusACSP, ids...)
	e.clock.Advance(2 * time.Second)
	e.waitIntents(t, messages.TxStatusACSC, ids...)
	e.waitBatch(t, state.Accepted, bs[0].ID, bs[1].ID, bs[2].ID)
	e.waitIdle(t, h)
	evs := e.events(t)
	for _, b := range bs {
		for _, id := range b.IntentIDs {
			e.wantEvents(t, evs, b, id, "", messages.TxStatusACTC, messages.TxStatusACSP, messages.TxStatusACSC)
		}
		rec, err := e.batches.Get(t.Context(), b.ID)
		if err != nil {
			t.Fatal(err)
		}
		if rec.GroupStatus != messages.TxStatusACSC {
			t.Errorf("batch %s: group status %q, want ACSC", b.ID, rec.GroupStatus)
		}
	}
	if len(evs) != len(ids) {
		t.Errorf("status events for %d intents, want %d", len(evs), len(ids))
	}
	got := e.metric(t, "isogate_statuspoller_status_events_total") + "; " + e.metric(t, "isogate_statuspoller_batches_finished_total")
	if want := "ACSC=12 ACSP=12 ACTC=12; accepted=3"; got != want {
		t.Errorf("metrics %s, want %s", got, want)
	}
}

// metric returns the values of a counter vector as "label=value ...".
func (e *env) metric(t *testing.T, name string) string {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			parts = append(parts, fmt.Sprintf("%s=%g", m.GetLabel()[0].GetValue(), m.GetCounter().GetValue()))
		}
	}
	return strings.Join(parts, " ")
}

// TestMixedAndRejected: a file with one creditor IBAN ending 9999 is PART:
// that intent RJCT AC01, the others ACSC, the batch partially_accepted. A
// file whose every payment is refused (SIMRJCT:AG01) is rejected, every
// intent RJCT AG01.
func TestMixedAndRejected(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := e.newHandler(t, nil)
	e.start(t, h)
	mixed := e.submit(t, "MIXED-1", gen("MIXED-1", 4, func(i int, in *messages.PaymentIntent) {
		if i == 1 {
			in.Creditor.IBAN = intentgen.IBAN("LV", "HABA0000000009999")
		}
	}))
	rejected := e.submit(t, "REJECTED-1", gen("REJECTED-1", 3, func(_ int, in *messages.PaymentIntent) {
		in.Remittance = "SIMRJCT:AG01 refused by the test"
	}))
	bad := mixed.IntentIDs[1]
	var good []string
	for i, id := range mixed.IntentIDs {
		if i != 1 {
			good = append(good, id)
		}
	}
	e.waitIntents(t, messages.TxStatusACTC, allIntents(mixed, rejected)...)
	e.clock.Advance(time.Second)
	e.waitIntents(t, messages.TxStatusRJCT, append([]string{bad}, rejected.IntentIDs...)...)
	e.waitBatch(t, state.Rejected, rejected.ID)
	e.waitIntents(t, messages.TxStatusACSP, good...)
	e.clock.Advance(2 * time.Second)
	e.waitIntents(t, messages.TxStatusACSC, good...)
	e.waitBatch(t, state.PartiallyAccepted, mixed.ID)
	e.waitIdle(t, h)

	evs := e.events(t)
	e.wantEvents(t, evs, mixed, bad, "AC01", messages.TxStatusACTC, messages.TxStatusRJCT)
	for _, id := range good {
		e.wantEvents(t, evs, mixed, id, "", messages.TxStatusACTC, messages.TxStatusACSP, messages.TxStatusACSC)
	}
	for _, id := range rejected.IntentIDs {
		e.wantEvents(t, evs, rejected, id, "AG01", messages.TxStatusACTC, messages.TxStatusRJCT)
	}
	for id, want := range map[string]messages.TxStatus{mixed.ID: messages.TxStatusPART, rejected.ID: messages.TxStatusRJCT} {
		rec, err := e.batches.Get(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.GroupStatus != want {
			t.Errorf("batch %s: group status %q, want %s", id, rec.GroupStatus, want)
		}
	}
}

// crashOnce stops the first poll that reaches its point once armed, for
// good, as a kill there would: the poll blocks until the test ends.
type crashOnce struct {
	point            string
	armed, crashed   atomic.Bool
	reached, release chan struct{}
}

func newCrashOnce(t *testing.T, point string) *crashOnce {
	c := &crashOnce{point: point, reached: make(chan struct{}), release: make(chan struct{})}
	t.Cleanup(func() { close(c.release) })
	return c
}

// hook is the poller's Config.Crash.
func (c *crashOnce) hook(p string) {
	if p == c.point && c.armed.Load() && c.crashed.CompareAndSwap(false, true) {
		close(c.reached)
		<-c.release // the process is gone
	}
}

func (c *crashOnce) arm() { c.armed.Store(true) }

// wait waits until a poll has stopped at the point.
func (c *crashOnce) wait(t *testing.T) {
	t.Helper()
	select {
	case <-c.reached:
	case <-time.After(10 * time.Second):
		t.Fatal("crash point not reached")
	}
}

// TestRestart stops the poller in the middle of applying ACSP — one
// intent's event stored, not yet noted by the poller — restarts the NATS
// server, and starts a fresh poller (a restarted process), which gets no
// pay.batch.submitted (those were acked) and must find the batches by
// listing KV. No status event is published twice; the batches finish.
func TestRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := newCrashOnce(t, statuspoller.CrashAfterPublish)
	h1 := e.newHandler(t, c.hook)
	stop := e.start(t, h1)
	bs := []testBatch{e.submit(t, "RESTART-1", gen("RESTART-1", 3, nil)), e.submit(t, "RESTART-2", gen("RESTART-2", 3, nil))}
	ids := allIntents(bs...)
	e.waitIntents(t, messages.TxStatusACTC, ids...)
	c.arm()
	e.clock.Advance(time.Second)
	c.wait(t)
	stop()
	e.nats.Restart()

	h2 := e.newHandler(t, nil)
	e.start(t, h2)
	e.waitIntents(t, messages.TxStatusACSP, ids...)
	e.clock.Advance(2 * time.Second)
	e.waitIntents(t, messages.TxStatusACSC, ids...)
	e.waitBatch(t, state.Accepted, bs[0].ID, bs[1].ID)
	e.waitIdle(t, h2)
	evs := e.events(t)
	for _, b := range bs {
		for _, id := range b.IntentIDs {
			e.wantEvents(t, evs, b, id, "", messages.TxStatusACTC, messages.TxStatusACSP, messages.TxStatusACSC)
		}
	}
}

func bankFile(id string, data []byte) bank.File { return bank.File{MsgID: id, Data: data} }

// countingChannel counts the status queries made through the real
// channel and the errors they returned.
type countingChannel struct {
	bank.Channel
	calls, failures atomic.Int64
}

func (c *countingChannel) Status(ctx context.Context, msgID string) (bank.Document, error) {
	c.calls.Add(1)
	doc, err := c.Channel.Status(ctx, msgID)
	if err != nil {
		c.failures.Add(1)
	}
	return doc, err
}

// TestBankFailures: status queries that fail (503, a truncated pain.002,
// a reset) are retried by the poll loop on its schedule, not by
// redelivery: the pay.batch.submitted message is acked, nothing is
// dead-lettered, and the batch plays out with each status once.
func TestBankFailures(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cc := &countingChannel{Channel: e.ch}
	e.channel = cc
	b := e.submit(t, "FAULTS-1", gen("FAULTS-1", 3, nil))
	e.bank.Bank.FailNext(banksim.FaultError, 2)
	e.bank.Bank.FailNext(banksim.FaultMalformed, 2)
	e.bank.Bank.FailNext(banksim.FaultReset, 2)
	h := e.newHandler(t, nil)
	e.start(t, h)
	e.waitIntents(t, messages.TxStatusACTC, b.IntentIDs...)
	if f := cc.failures.Load(); f != 6 {
		t.Errorf("%d failed status queries, want 6", f)
	}
	e.clock.Advance(3 * time.Second)
	e.waitIntents(t, messages.TxStatusACSC, b.IntentIDs...)
	e.waitBatch(t, state.Accepted, b.ID)
	e.waitIdle(t, h)
	evs := e.events(t)
	for _, id := range b.IntentIDs {
		// No ACSP: the bank's clock jumped past it.
		e.wantEvents(t, evs, b, id, "", messages.TxStatusACTC, messages.TxStatusACSC)
	}
	s, err := e.js.Stream(t.Context(), messages.StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := s.Info(t.Context()); err != nil || info.State.Msgs != 0 {
		t.Errorf("DLQ: %v messages (%v), want none", info.State.Msgs, err)
	}
	t.Logf("status queries: %d, failed: %d", cc.calls.Load(), cc.failures.Load())
}

// TestTwoPollers: two processes poll the same batches at once (each lists
// every submitted batch). First both are lined up right before publishing
// the same intent's ACTC — each has read the subject empty — so their
// publishes race; then they run freely. Every status is published once.
func TestTwoPollers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	gate := make(chan struct{})
	var arrived atomic.Int32
	lineUp := func() func(string) {
		var once sync.Once
		return func(p string) {
			if p != statuspoller.CrashBeforePublish {
				return
			}
			once.Do(func() {
				if arrived.Add(1) == 2 {
					close(gate)
				}
				select {
				case <-gate:
				case <-time.After(5 * time.Second):
				}
			})
		}
	}
	h1, h2 := e.newHandler(t, lineUp()), e.newHandler(t, lineUp())
	one := e.submit(t, "TWO-1", gen("TWO-1", 1, nil))
	e.start(t, h1)
	e.start(t, h2)
	e.waitIntents(t, messages.TxStatusACTC, one.IntentIDs...)
	if arrived.Load() != 2 {
		t.Errorf("%d pollers lined up before the publish, want 2", arrived.Load())
	}
	bs := []testBatch{one, e.submit(t, "TWO-2", gen("TWO-2", 5, nil))}
	ids := allIntents(bs...)
	e.waitIntents(t, messages.TxStatusACTC, ids...)
	e.clock.Advance(time.Second)
	e.waitIntents(t, messages.TxStatusACSP, ids...)
	e.clock.Advance(2 * time.Second)
	e.waitIntents(t, messages.TxStatusACSC, ids...)
	e.waitBatch(t, state.Accepted, bs[0].ID, bs[1].ID)
	e.waitIdle(t, h1)
	e.waitIdle(t, h2)
	evs := e.events(t)
	for _, b := range bs {
		for _, id := range b.IntentIDs {
			e.wantEvents(t, evs, b, id, "", messages.TxStatusACTC, messages.TxStatusACSP, messages.TxStatusACSC)
		}
	}
}
