package workers_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/workers"
)

func TestDecode(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, body string
		wantErr    string // "" for success
	}{
		{"valid", `{"type":"pay.batch.encoded","version":1,"batch_id":"B1","nb_of_txs":2}`, ""},
		{"no type or version", `{"batch_id":"B1"}`, ""},
		{"unknown field", `{"batch_id":"B1","later":true}`, ""},
		{"empty", "  \n", "empty body"},
		{"malformed", `{"batch_id":`, "unexpected EOF"},
		{"wrong JSON type", `{"nb_of_txs":"2"}`, "nb_of_txs"},
		{"trailing data", `{"batch_id":"B1"} {}`, "data after the JSON value"},
		{"array", `[1]`, "cannot unmarshal array"},
		{"other event", `{"type":"pay.status"}`, `type is "pay.status", want "pay.batch.encoded"`},
		{"future version", `{"type":"pay.batch.encoded","version":2}`, "version 2 is not supported"},
	} {
		msg := message.NewMessage("x", []byte(tt.body))
		msg.Metadata.Set(workers.MetaSubject, "pay.batch.encoded.B1")
		ev, err := workers.Decode[messages.BatchEncoded](msg)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: Decode = %v, want success", tt.name, err)
		case tt.wantErr == "" && tt.name == "valid" && (ev.BatchID != "B1" || ev.NbOfTxs != 2):
			t.Errorf("%s: Decode = %+v", tt.name, ev)
		case tt.wantErr != "" && (err == nil || !workers.IsPermanent(err) || !contains(err.Error(), tt.wantErr) ||
			!contains(err.Error(), "decoding messages.BatchEncoded from pay.batch.encoded.B1")):
			t.Errorf("%s: Decode error = %v, want a permanent error naming the type, subject and %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestPermanent(t *testing.T) {
	t.Parallel()
	base := errors.New("certificate expired")
	err := fmt.Errorf("uploading B1: %w", workers.Permanent(base))
	if !workers.IsPermanent(err) || !errors.Is(err, base) || err.Error() != "uploading B1: permanent failure: certificate expired" {
		t.Errorf("Permanent: %v (permanent %v)", err, workers.IsPermanent(err))
	}
	if workers.Permanent(nil) != nil || workers.IsPermanent(base) {
		t.Error("Permanent(nil) or IsPermanent of a plain error")
	}
	if p := workers.Permanent(workers.Permanent(base)); p.Error() != "permanent failure: certificate expired" {
		t.Errorf("Permanent twice = %q", p)
	}
}

func TestConsumerSpec(t *testing.T) {
	t.Parallel()
	bad := workers.ConsumerSpec{MaxDeliver: -1, Concurrency: 5, MaxAckPending: 2, Backoff: []time.Duration{0}}
	err := bad.Validate()
	for _, want := range []string{"name is required", "stream is required", "filter subject", "max deliver", "exceeds max ack pending", "backoff[0]"} {
		if err == nil || !contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to say %q", err, want)
		}
	}
	s := workers.ConsumerSpec{Backoff: []time.Duration{time.Second, 3 * time.Second}}
	for n, want := range map[int]time.Duration{0: time.Second, 1: time.Second, 2: 3 * time.Second, 9: 3 * time.Second} {
		if got := s.RetryDelay(n); got != want {
			t.Errorf("RetryDelay(%d) = %s, want %s", n, got, want)
		}
	}

	// Creating the same consumer twice, then with a new setting, works.
	e := newEnv(t)
	for _, ackWait := range []time.Duration{0, 0, 45 * time.Second} {
		cs := spec("idem")
		cs.AckWait = ackWait
		sub, err := workers.NewSubscriber(e.js, workers.SubscriberConfig{Consumer: cs})
		if err != nil {
			t.Fatal(err)
		}
		if err := sub.SubscribeInitialize("idem"); err != nil {
			t.Fatalf("SubscribeInitialize: %v", err)
		}
		if err := sub.SubscribeInitialize("other"); err == nil {
			t.Error("SubscribeInitialize of another topic succeeded")
		}
	}
	info := e.consumer(t, "idem")
	if info.Config.AckWait != 45*time.Second || info.Config.MaxDeliver != -1 || info.Config.FilterSubject != "pay.test.idem.>" {
		t.Errorf("consumer config = %+v", info.Config)
	}
}

func TestPublisher(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	m := message.NewMessage("u", []byte(`{}`))
	if err := e.pub.Publish("pay.test.pub.1", m); err == nil || !contains(err.Error(), "no Nats-Msg-Id") {
		t.Errorf("Publish without an id = %v, want an error", err)
	}

	ev := messages.BatchSubmitted{BatchID: "B-7", SubmittedAt: time.Now(), Channel: "h2h", Attempt: 1, ArchiveSHA256: "00"}
	first, err := e.pub.PublishEvent(ctx, ev, "B-7:submitted")
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.pub.PublishEvent(ctx, ev, "B-7:submitted")
	if err != nil || !again.Duplicate || again.Sequence != first.Sequence {
		t.Errorf("second publish = %+v, %v; want a duplicate of seq %d", again, err, first.Sequence)
	}
	got := e.stored(t, messages.StreamPayments, ev.EventSubject())
	if len(got) != 1 || got[0].Header.Get(workers.HeaderBatchID) != "B-7" || got[0].Header.Get(workers.MetaMsgID) != "B-7:submitted" {
		t.Fatalf("stored = %+v", got)
	}

	// The expected-last-sequence guard refuses a second message on a subject.
	for i, want := range []bool{false, true} {
		g := message.NewMessage("", []byte(`{}`))
		g.Metadata.Set(workers.MetaMsgID, fmt.Sprintf("guard-%d", i))
		g.Metadata.Set(workers.MetaExpectedLastSubjectSeq, "0")
		g.Metadata.Set(workers.MetaStreamSeq, "99") // describes a received message: not a header
		_, err := e.pub.PublishMessage(ctx, "pay.test.pub.guard", g)
		if workers.IsWrongLastSequence(err) != want || (err != nil) != want {
			t.Errorf("guarded publish %d: %v, want refused %v", i, err, want)
		}
	}
	if got := e.stored(t, messages.StreamPayments, "pay.test.pub.guard"); len(got) != 1 || got[0].Header.Get(workers.MetaStreamSeq) != "" {
		t.Errorf("guarded subject holds %d messages (headers %v), want 1 without jetstream.* headers", len(got), got[0].Header)
	}
	if err := e.pub.Publish("nowhere.subject", m); err == nil {
		t.Error("publishing to a subject no stream holds succeeded")
	}
}

// TestLastAttemptCrashed: the worker stops during the last allowed
// delivery; the next delivery dead-letters the message without running the
// handler again, instead of JetStream dropping it.
func TestLastAttemptCrashed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cs := spec("last")
	cs.MaxDeliver = 1
	cs.AckWait = time.Second
	started := make(chan struct{})
	stop := e.start(t, workers.Worker{Name: "last", Consumer: cs, Handler: func(msg *message.Message) error {
		close(started)
		<-msg.Context().Done()
		return msg.Context().Err()
	}}, 100*time.Millisecond)
	seq := e.publish(t, "pay.test.last.1", []byte(`{}`), map[string]string{workers.MetaMsgID: "in-1"})
	<-started
	_ = stop()
	if dls, _ := e.deadLetters(t, "last"); len(dls) != 0 {
		t.Fatalf("dead-lettered at shutdown: %+v", dls)
	}

	var ran atomic.Int32
	e.start(t, workers.Worker{Name: "last", Consumer: cs, Handler: func(*message.Message) error { ran.Add(1); return nil }}, time.Second)
	waitFor(t, 10*time.Second, "the message to be dead-lettered", func() bool { return e.settled(t, "last", seq) })
	dls, _ := e.deadLetters(t, "last")
	if len(dls) != 1 || dls[0].Attempts != 2 || !contains(dls[0].Error, "delivery 2 exceeds max deliver 1") {
		t.Fatalf("dead letters = %+v", dls)
	}
	if ran.Load() != 0 {
		t.Errorf("handler ran %d times after the crash, want 0", ran.Load())
	}
}

// TestNewEventMessageIDs: the correlation headers NewEventMessage sets are
// the event JSON's top-level intent_id and batch_id, for events passed by
// value or pointer, with both, one or neither.
func TestNewEventMessageIDs(t *testing.T) {
	at := time.Date(2026, 11, 21, 6, 30, 0, 0, time.UTC)
	events := []messages.Event{
		messages.PaymentStatus{IntentID: "INV-1", BatchID: "B-1", Status: messages.TxStatusACSC, ReceivedAt: at},
		&messages.PaymentStatus{IntentID: "INV-2", BatchID: "B-2", Status: messages.TxStatusACSC, ReceivedAt: at},
		messages.BatchSubmitted{BatchID: "B-3", SubmittedAt: at, Channel: "h2h", Attempt: 1},
		messages.IntentRejected{IntentID: "INV-4", RejectedAt: at, Source: messages.SourceEncoder},
		messages.DeadLetter{Worker: "encoder", IntentID: "INV-5", BatchID: "B-5", Subject: "pay.intent.INV-5", FailedAt: at},
		messages.StatementGap{Account: "LV80BANK0000435195001", Message: "camt.053.001.02", DetectedAt: at},
		messages.StatementEntry{EntryKey: "k", Account: "LV80BANK0000435195001", Transactions: []messages.EntryTransaction{{EndToEndID: "INV-6", MsgID: "B-6"}}},
	}
	for _, ev := range events {
		m, err := workers.NewEventMessage(ev, "id")
		if err != nil {
			t.Fatal(err)
		}
		var want struct {
			IntentID string `json:"intent_id"`
			BatchID  string `json:"batch_id"`
		}
		if err := json.Unmarshal(m.Payload, &want); err != nil {
			t.Fatal(err)
		}
		if got := m.Metadata.Get(workers.HeaderIntentID); got != want.IntentID {
			t.Errorf("%T: %s = %q, want %q", ev, workers.HeaderIntentID, got, want.IntentID)
		}
		if got := m.Metadata.Get(workers.HeaderBatchID); got != want.BatchID {
			t.Errorf("%T: %s = %q, want %q", ev, workers.HeaderBatchID, got, want.BatchID)
		}
	}
}
