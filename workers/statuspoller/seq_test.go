package statuspoller_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/isogate/isogate/internal/natstest"
	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/workers/archive"
	"github.com/isogate/isogate/workers/state"
	"github.com/isogate/isogate/workers/statuspoller"
)

// newCountingHandler is newHandler with the poller's reads of status
// subjects counted (the test's own reads are not).
func (e *env) newCountingHandler(t *testing.T, crash func(string)) (*statuspoller.Handler, *atomic.Int64) {
	t.Helper()
	return e.newCountingHandlerAtomic(t, crash, false)
}

// newCountingHandlerAtomic is newCountingHandler with
// Config.AtomicStatuses set to atomicStatuses.
func (e *env) newCountingHandlerAtomic(t *testing.T, crash func(string), atomicStatuses bool) (*statuspoller.Handler, *atomic.Int64) {
	t.Helper()
	n := &atomic.Int64{}
	h, err := statuspoller.New(statuspoller.Config{
		Schedule:       statuspoller.Schedule{FirstDelay: time.Millisecond, Interval: 30 * time.Millisecond, MaxInterval: 150 * time.Millisecond, Multiplier: 2},
		ListInterval:   300 * time.Millisecond,
		AckWait:        2 * time.Second,
		Backoff:        []time.Duration{100 * time.Millisecond},
		Crash:          crash,
		AtomicStatuses: atomicStatuses,
	}, statuspoller.Deps{JS: natstest.CountLastReads(e.js, n), Publisher: e.pub, Batches: e.batches, Archive: e.arch,
		Channel: e.channel, Logger: testLogger(), Registerer: e.reg})
	if err != nil {
		t.Fatal(err)
	}
	return h, n
}

// wantClaimsOnly checks that bucket intents holds nothing but the claims
// the test made: the poller never writes it.
func (e *env) wantClaimsOnly(t *testing.T, claims int) {
	t.Helper()
	s, err := e.js.Stream(t.Context(), "KV_"+messages.BucketIntents)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.LastSeq != uint64(claims) {
		t.Errorf("bucket intents has %d writes, want the %d claims only", info.State.LastSeq, claims)
	}
}

// TestStatusesWithoutReads: a batch plays out ACTC → ACSP → ACSC without
// the poller reading a status subject or an intent record: an intent's
// first status is published expecting an empty subject, each next one
// expecting the sequence of the event the poller stored before — one
// publish per intent, or, with AtomicStatuses, each report's statuses as
// one atomic batch (three here). Every status is published once, and
// bucket intents keeps the claims only.
func TestStatusesWithoutReads(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		atomic  bool
		batches string // isogate_statuspoller_atomic_batches_total
	}{{false, ""}, {true, "stored=3"}} {
		t.Run(fmt.Sprintf("atomic=%v", tt.atomic), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			h, n := e.newCountingHandlerAtomic(t, nil, tt.atomic)
			e.start(t, h)
			b := e.submit(t, "RECORDS-1", gen("RECORDS-1", 4, nil))
			e.playOut(t, h, b)
			if got := n.Load(); got != 0 {
				t.Errorf("the poller read status subjects %d times, want 0", got)
			}
			if got := e.metric(t, "isogate_statuspoller_atomic_batches_total"); got != tt.batches {
				t.Errorf("atomic batches: %q, want %q", got, tt.batches)
			}
			e.wantClaimsOnly(t, len(b.IntentIDs))
		})
	}
}

// playOut advances the bank's clock through ACTC, ACSP and ACSC of batch
// b, waits until h is done with it, and checks that each intent has those
// three events, once each.
func (e *env) playOut(t *testing.T, h *statuspoller.Handler, b testBatch) {
	t.Helper()
	e.waitIntents(t, messages.TxStatusACTC, b.IntentIDs...)
	e.clock.Advance(time.Second)
	e.waitIntents(t, messages.TxStatusACSP, b.IntentIDs...)
	e.clock.Advance(2 * time.Second)
	e.waitIntents(t, messages.TxStatusACSC, b.IntentIDs...)
	e.waitBatch(t, state.Accepted, b.ID)
	e.waitIdle(t, h)
	evs := e.events(t)
	for _, id := range b.IntentIDs {
		e.wantEvents(t, evs, b, id, "", messages.TxStatusACTC, messages.TxStatusACSP, messages.TxStatusACSC)
	}
}

// TestCrashAfterPublish: a poller stops right after publishing an intent's
// ACSP, before noting it. A fresh poller knows no intent's last event: its
// ACSP publishes expecting an empty subject are refused (or are
// duplicates, for the ACSP already stored), and it reads each subject
// once: the ACSP stored before the crash is found and not published again.
// From then on it knows each intent's last event, and ACSC needs no read.
func TestCrashAfterPublish(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := newCrashOnce(t, statuspoller.CrashAfterPublish)
	h1 := e.newHandler(t, c.hook)
	stop := e.start(t, h1)
	b := e.submit(t, "SEQCRASH-1", gen("SEQCRASH-1", 3, nil))
	e.waitIntents(t, messages.TxStatusACTC, b.IntentIDs...)
	c.arm()
	e.clock.Advance(time.Second)
	c.wait(t)
	stop()
	stored := 0
	for _, evs := range e.events(t) {
		stored += len(evs)
	}
	if stored < len(b.IntentIDs)+1 {
		t.Fatalf("%d status events before the fresh poller, want every ACTC and at least one ACSP", stored)
	}

	h2, n := e.newCountingHandler(t, nil)
	e.start(t, h2)
	waitFor(t, 10*time.Second, "the fresh poller reading every subject", func() string {
		if got := n.Load(); got < int64(len(b.IntentIDs)) {
			return fmt.Sprintf("%d reads", got)
		}
		return ""
	})
	e.waitIntents(t, messages.TxStatusACSP, b.IntentIDs...)
	repaired := n.Load()
	if repaired != int64(len(b.IntentIDs)) {
		t.Errorf("the fresh poller read status subjects %d times, want %d (once per intent)", repaired, len(b.IntentIDs))
	}
	e.clock.Advance(2 * time.Second)
	e.waitIntents(t, messages.TxStatusACSC, b.IntentIDs...)
	e.waitBatch(t, state.Accepted, b.ID)
	e.waitIdle(t, h2)
	if got := n.Load() - repaired; got != 0 {
		t.Errorf("ACSC read status subjects %d times, want 0", got)
	}
	evs := e.events(t)
	for _, id := range b.IntentIDs {
		e.wantEvents(t, evs, b, id, "", messages.TxStatusACTC, messages.TxStatusACSP, messages.TxStatusACSC)
	}
	e.wantClaimsOnly(t, len(b.IntentIDs))
}

// TestTwoPollersLinedUp: two pollers know the same last event of an intent (ACTC:
// one stored it, the other read it) and are lined up right before
// publishing ACSP, each expecting that event's sequence: one publish is
// stored, the other refused, and the loser reads the subject and
// publishes nothing. Every status is published once.
func TestTwoPollersLinedUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	gate := make(chan struct{})
	var armed atomic.Bool
	var arrived atomic.Int32
	lineUp := func() func(string) {
		var lined atomic.Bool
		return func(p string) {
			if p != statuspoller.CrashBeforePublish || !armed.Load() || !lined.CompareAndSwap(false, true) {
				return
			}
			if arrived.Add(1) == 2 {
				close(gate)
			}
			select {
			case <-gate:
			case <-time.After(5 * time.Second):
			}
		}
	}
	h1, n1 := e.newCountingHandler(t, lineUp())
	h2, n2 := e.newCountingHandler(t, lineUp())
	b := e.submit(t, "TWOREC-1", gen("TWOREC-1", 1, nil))
	e.start(t, h1)
	e.start(t, h2)
	e.waitIntents(t, messages.TxStatusACTC, b.IntentIDs...)
	before := n1.Load() + n2.Load()
	armed.Store(true)
	e.clock.Advance(time.Second)
	e.waitIntents(t, messages.TxStatusACSP, b.IntentIDs...)
	if arrived.Load() != 2 {
		t.Errorf("%d pollers lined up before publishing ACSP, want 2", arrived.Load())
	}
	e.clock.Advance(2 * time.Second)
	e.waitIntents(t, messages.TxStatusACSC, b.IntentIDs...)
	e.waitBatch(t, state.Accepted, b.ID)
	e.waitIdle(t, h1)
	e.waitIdle(t, h2)
	if got := n1.Load() + n2.Load() - before; got < 1 {
		t.Errorf("the pollers read status subjects %d times after ACTC, want at least 1 (the refused publish)", got)
	}
	evs := e.events(t)
	e.wantEvents(t, evs, b, b.IntentIDs[0], "", messages.TxStatusACTC, messages.TxStatusACSP, messages.TxStatusACSC)
	e.wantClaimsOnly(t, len(b.IntentIDs))
}

// TestStatusesAtomicRefused: one intent's subject already holds its ACTC
// (published by another poller) when the poller first applies ACTC
// expecting empty subjects: the atomic batch is refused whole, and the
// statuses are published one by one — the ACTC already there found, not
// published again. The next reports go as atomic batches again.
func TestStatusesAtomicRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.submit(t, "ATOMIC-2", gen("ATOMIC-2", 3, nil))
	first := b.IntentIDs[1]
	// What another poller archived and published.
	obj, err := e.arch.Put(t.Context(), []byte("<Document/>"), map[string]string{archive.MetaKind: "pain.002", archive.MetaBatchID: b.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.pub.PublishEvent(t.Context(), messages.PaymentStatus{IntentID: first, BatchID: b.ID, PmtInfID: b.ID + "-1",
		Status: messages.TxStatusACTC, GroupStatus: messages.TxStatusACTC, ReceivedAt: e.clock.Now(),
		ArchiveSHA256: obj.SHA256}, "status:"+first+":ACTC"); err != nil {
		t.Fatal(err)
	}
	h, n := e.newCountingHandlerAtomic(t, nil, true)
	e.start(t, h)
	e.playOut(t, h, b)
	if got := n.Load(); got < 1 {
		t.Errorf("the poller read status subjects %d times, want at least 1 (the ACTC it did not publish)", got)
	}
	if got := e.metric(t, "isogate_statuspoller_atomic_batches_total"); got != "refused=1 stored=2" {
		t.Errorf("atomic batches: %s, want refused=1 stored=2", got)
	}
}
