package statuspoller

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/isogate/isogate/bank/filedrop"
	"github.com/isogate/isogate/internal/natstest"
	"github.com/isogate/isogate/internal/provision"
	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/workers"
	"github.com/isogate/isogate/workers/archive"
	"github.com/isogate/isogate/workers/state"
)

// TestPublishStatus drives publishStatus through an intent's changes on a
// real JetStream, inside the duplicate window: a repeat publishes nothing,
// an older report nothing, a status code that comes back after another is
// published under its own id, and nothing follows a final status.
func TestPublishStatus(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	_, js := srv.Connect()
	ctx := t.Context()
	if _, err := provision.Apply(ctx, js, provision.Options{Replicas: 1, DuplicateWindow: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	batches, _, err := state.New(ctx, js, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	arch, err := archive.Open(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := filedrop.New(filedrop.Config{Outbox: t.TempDir(), Inbox: t.TempDir(), Archive: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{}, Deps{JS: js, Publisher: workers.NewPublisher(js, 0), Batches: batches,
		Archive: arch, Channel: ch})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	ev := func(st messages.TxStatus, sec int) messages.PaymentStatus {
		return messages.PaymentStatus{IntentID: "I1", BatchID: "B1", Status: st, Final: st.Final(),
			ReceivedAt: at.Add(time.Duration(sec) * time.Second), ArchiveSHA256: strings.Repeat("a", 64)}
	}
	for _, step := range []struct {
		ev   messages.PaymentStatus
		kept messages.TxStatus // "": nil (a later status stands)
	}{
		{ev(messages.TxStatusACSP, 1), messages.TxStatusACSP},
		{ev(messages.TxStatusACSP, 1), messages.TxStatusACSP}, // again: found, not published
		{ev(messages.TxStatusPDNG, 2), messages.TxStatusPDNG},
		{ev(messages.TxStatusACSP, 3), messages.TxStatusACSP}, // back: its own id
		{ev(messages.TxStatusACTC, 0), ""},                    // older report
		{ev(messages.TxStatusRJCT, 4), messages.TxStatusRJCT},
		{ev(messages.TxStatusACSC, 5), messages.TxStatusRJCT}, // after a final: never
	} {
		kept, _, err := h.publishStatus(ctx, step.ev, nil)
		if err != nil {
			t.Fatalf("publishStatus(%s) = %v", step.ev.Status, err)
		}
		var got messages.TxStatus
		if kept != nil {
			got = kept.Status
		}
		if got != step.kept {
			t.Errorf("publishStatus(%s at +%s) kept %q, want %q", step.ev.Status, step.ev.ReceivedAt.Sub(at), got, step.kept)
		}
	}
	s, err := js.Stream(ctx, messages.StreamPayments)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{messages.StatusSubject("I1")}})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := c.Fetch(10, jetstream.FetchMaxWait(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for m := range batch.Messages() {
		var ev messages.PaymentStatus
		if err := json.Unmarshal(m.Data(), &ev); err != nil {
			t.Fatal(err)
		}
		meta, err := m.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s@%d=%s", ev.Status, meta.Sequence.Stream, m.Headers().Get(jetstream.MsgIDHeader)))
	}
	want := []string{"ACSP@1=status:I1:ACSP", "PDNG@2=status:I1:PDNG", "ACSP@3=status:I1:ACSP:2", "RJCT@4=status:I1:RJCT"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events on %s:\n got %v\nwant %v", messages.StatusSubject("I1"), got, want)
	}
}
