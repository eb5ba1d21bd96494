package statuspoller_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/isogate/isogate/internal/natstest"
	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/workers/state"
	"github.com/isogate/isogate/workers/statuspoller"
)

// reads counts what a poller read: the last message of a status subject,
// and intent records in KV.
type reads struct{ last, records atomic.Int64 }

type countingKV struct {
	jetstream.KeyValue
	n *reads
}

func (k countingKV) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	k.n.records.Add(1)
	return k.KeyValue.Get(ctx, key)
}

// newCountingHandler is newHandler with the poller's reads of status
// subjects and intent records counted (the test's own reads are not).
func (e *env) newCountingHandler(t *testing.T, crash func(string)) (*statuspoller.Handler, *reads) {
	t.Helper()
	n := &reads{}
	kv, err := e.js.KeyValue(t.Context(), messages.BucketIntents)
	if err != nil {
		t.Fatal(err)
	}
	h, err := statuspoller.New(statuspoller.Config{
		Schedule:     statuspoller.Schedule{FirstDelay: time.Millisecond, Interval: 30 * time.Millisecond, MaxInterval: 150 * time.Millisecond, Multiplier: 2},
		ListInterval: 300 * time.Millisecond,
		AckWait:      2 * time.Second,
		Backoff:      []time.Duration{100 * time.Millisecond},
		Crash:        crash,
	}, statuspoller.Deps{JS: natstest.CountLastReads(e.js, &n.last), Publisher: e.pub, Batches: e.batches,
		Intents: state.NewIntents(countingKV{KeyValue: kv, n: n}, state.Options{Worker: "test"}), Archive: e.arch,
		Channel: e.channel, Logger: testLogger(), Registerer: e.reg})
	if err != nil {
		t.Fatal(err)
	}
	return h, n
}

// wantSeqs checks that each intent's record holds the stream sequence of
// its last pay.status event.
func (e *env) wantSeqs(t *testing.T, ids ...string) {
	t.Helper()
	s, err := e.js.Stream(t.Context(), messages.StreamPayments)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		raw, err := s.GetLastMsgForSubject(t.Context(), messages.StatusSubject(id))
		if err != nil {
			t.Fatalf("last status of %s: %v", id, err)
		}
		rec, err := e.intents.Get(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.StatusSeq != raw.Sequence {
			t.Errorf("%s: record %s at sequence %d, last event at %d", id, rec.Status, rec.StatusSeq, raw.Sequence)
		}
	}
}

// TestStatusesFromRecords: a batch plays out ACTC → ACSP → ACSC without
// the poller reading a status subject — each publish expects the event
// sequence the intent's record holds — and with one KV read per intent:
// after the first status, the poller decides from the records it wrote.
// Every status is published once, and each record ends holding its last
// event's sequence.
func TestStatusesFromRecords(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h, n := e.newCountingHandler(t, nil)
	e.start(t, h)
	b := e.submit(t, "RECORDS-1", gen("RECORDS-1", 4, nil))
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
	e.wantSeqs(t, b.IntentIDs...)
	if got := n.last.Load(); got != 0 {
		t.Errorf("the poller read status subjects %d times, want 0", got)
	}
	if got, want := n.records.Load(), int64(len(b.IntentIDs)); got != want {
		t.Errorf("the poller read intent records %d times, want %d (once each)", got, want)
	}
}

// TestCrashAfterPublishFromRecord: a poller stops right after publishing
// an intent's ACSP, before its KV write, so the record still holds the
// ACTC event's sequence. A fresh poller's publish expecting it is
// refused, it reads the subject, finds ACSP and only records it: one
// event per status. From then on every record holds its event's
// sequence, and ACSC needs no subject read.
func TestCrashAfterPublishFromRecord(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reached := make(chan struct{})
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	var armed, crashed atomic.Bool
	crash := func(p string) {
		if p == statuspoller.CrashAfterPublish && armed.Load() && crashed.CompareAndSwap(false, true) {
			close(reached)
			<-release // the process is gone
		}
	}
	h1 := e.newHandler(t, crash)
	stop := e.start(t, h1)
	b := e.submit(t, "SEQCRASH-1", gen("SEQCRASH-1", 3, nil))
	e.waitIntents(t, messages.TxStatusACTC, b.IntentIDs...)
	armed.Store(true)
	e.clock.Advance(time.Second)
	select {
	case <-reached:
	case <-time.After(10 * time.Second):
		t.Fatal("crash point not reached")
	}
	stop()
	behind := 0
	for _, id := range b.IntentIDs {
		if rec, err := e.intents.Get(t.Context(), id); err != nil {
			t.Fatal(err)
		} else if rec.Status == messages.TxStatusACTC {
			behind++
		}
	}
	if behind == 0 {
		t.Fatal("no record left behind its ACSP event")
	}

	h2, n := e.newCountingHandler(t, nil)
	e.start(t, h2)
	e.waitIntents(t, messages.TxStatusACSP, b.IntentIDs...)
	e.wantSeqs(t, b.IntentIDs...)
	repaired := n.last.Load()
	if repaired < 1 || repaired > int64(behind) {
		t.Errorf("the fresh poller read status subjects %d times for %d records left behind, want 1 to %d", repaired, behind, behind)
	}
	e.clock.Advance(2 * time.Second)
	e.waitIntents(t, messages.TxStatusACSC, b.IntentIDs...)
	e.waitBatch(t, state.Accepted, b.ID)
	e.waitIdle(t, h2)
	if got := n.last.Load() - repaired; got != 0 {
		t.Errorf("ACSC read status subjects %d times, want 0", got)
	}
	evs := e.events(t)
	for _, id := range b.IntentIDs {
		e.wantEvents(t, evs, b, id, "", messages.TxStatusACTC, messages.TxStatusACSP, messages.TxStatusACSC)
	}
	e.wantSeqs(t, b.IntentIDs...)
}

// TestTwoPollersFromRecords: two pollers hold the same record of an
// intent (ACTC at its event's sequence) and are lined up right before
// publishing ACSP, each expecting that sequence: one publish is stored,
// the other refused, and the loser reads the subject and publishes
// nothing. Every status is published once.
func TestTwoPollersFromRecords(t *testing.T) {
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
	before := n1.last.Load() + n2.last.Load()
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
	if got := n1.last.Load() + n2.last.Load() - before; got < 1 {
		t.Errorf("the pollers read status subjects %d times after ACTC, want at least 1 (the refused publish)", got)
	}
	evs := e.events(t)
	e.wantEvents(t, evs, b, b.IntentIDs[0], "", messages.TxStatusACTC, messages.TxStatusACSP, messages.TxStatusACSC)
	e.wantSeqs(t, b.IntentIDs...)
}
