package provision

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/isogate/isogate/internal/natstest"
	"github.com/isogate/isogate/messages"
)

var defaults = Options{Replicas: 1, DuplicateWindow: 2 * time.Minute}

func actions(changes []Change) map[string]Action {
	m := map[string]Action{}
	for _, c := range changes {
		m[c.Kind+" "+c.Name] = c.Action
	}
	return m
}

var allResources = []string{
	"stream PAYMENTS", "stream STATEMENTS", "stream DLQ", "stream OPS",
	"kv batches", "kv intents", "kv cursors", "object store archive",
}

func TestApplyIsIdempotentAcrossRestarts(t *testing.T) {
	srv := natstest.Start(t)
	_, js := srv.Connect()
	ctx := t.Context()

	first, err := Apply(ctx, js, defaults)
	if err != nil {
		t.Fatalf("first Apply: %v", err)
	}
	got := actions(first)
	for _, r := range allResources {
		if got[r] != Created {
			t.Errorf("first Apply: %s = %q, want created", r, got[r])
		}
	}
	if len(first) != len(allResources) {
		t.Errorf("first Apply reported %d resources, want %d: %v", len(first), len(allResources), first)
	}

	// Data written before the restart must survive it, and provisioning
	// again must not touch it.
	if _, err := js.Publish(ctx, messages.IntentSubject("INV-1"), []byte(`{"id":"INV-1"}`)); err != nil {
		t.Fatal(err)
	}
	srv.Restart()
	_, js = srv.Connect()

	for round := range 2 {
		again, err := Apply(ctx, js, defaults)
		if err != nil {
			t.Fatalf("Apply after restart (round %d): %v", round, err)
		}
		for _, c := range again {
			if c.Action != Unchanged {
				t.Errorf("Apply after restart: %s, want unchanged", c)
			}
		}
	}
	s, err := js.Stream(ctx, "PAYMENTS")
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(ctx, messages.IntentSubject("INV-1"))
	if err != nil {
		t.Fatalf("message published before the restart is gone: %v", err)
	}
	if string(m.Data) != `{"id":"INV-1"}` {
		t.Errorf("stored message = %s", m.Data)
	}
	if err := Check(ctx, js); err != nil {
		t.Errorf("Check() = %v", err)
	}
}

func TestApplyUpdatesChangedSettings(t *testing.T) {
	srv := natstest.Start(t)
	_, js := srv.Connect()
	ctx := t.Context()
	if _, err := Apply(ctx, js, defaults); err != nil {
		t.Fatal(err)
	}
	changed := Options{Replicas: 1, DuplicateWindow: 5 * time.Minute, MaxAge: map[string]time.Duration{"OPS": 720 * time.Hour}}
	res, err := Apply(ctx, js, changed)
	if err != nil {
		t.Fatalf("Apply with changed settings: %v", err)
	}
	byName := map[string]Change{}
	for _, c := range res {
		byName[c.Kind+" "+c.Name] = c
	}
	if c := byName["stream PAYMENTS"]; c.Action != Updated || c.Detail != "duplicate_window 2m0s → 5m0s" {
		t.Errorf("PAYMENTS: %s, want updated: duplicate_window 2m0s → 5m0s", c)
	}
	if c := byName["stream OPS"]; c.Action != Updated || c.Detail != "max_age forever → 720h0m0s" {
		t.Errorf("OPS: %s, want updated: max_age forever → 720h0m0s", c)
	}
	if c := byName["stream DLQ"]; c.Action != Unchanged {
		t.Errorf("DLQ: %s, want unchanged", c)
	}
	s, err := js.Stream(ctx, "PAYMENTS")
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := s.Info(ctx); info.Config.Duplicates != 5*time.Minute {
		t.Errorf("PAYMENTS duplicate window = %s after update", info.Config.Duplicates)
	}
}

func TestApplyRefusesStorageChangeClearly(t *testing.T) {
	srv := natstest.Start(t)
	_, js := srv.Connect()
	ctx := t.Context()
	// An operator created DLQ by hand in memory.
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "DLQ", Subjects: []string{"dlq.>"}, Storage: jetstream.MemoryStorage}); err != nil {
		t.Fatal(err)
	}
	_, err := Apply(ctx, js, defaults)
	if err == nil {
		t.Fatal("Apply over a memory-stored DLQ succeeded")
	}
	for _, want := range []string{"stream DLQ", "memory", "file", "nats stream rm DLQ"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestApplyNamesSubjectOverlap(t *testing.T) {
	srv := natstest.Start(t)
	_, js := srv.Connect()
	ctx := t.Context()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "LEGACY", Subjects: []string{"pay.intent.>"}}); err != nil {
		t.Fatal(err)
	}
	_, err := Apply(ctx, js, defaults)
	if err == nil || !strings.Contains(err.Error(), "creating stream PAYMENTS") || !strings.Contains(err.Error(), "another stream already captures") {
		t.Errorf("Apply with an overlapping stream: %v", err)
	}
}

func TestCheckNamesMissingResource(t *testing.T) {
	srv := natstest.Start(t)
	_, js := srv.Connect()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := Apply(ctx, js, defaults); err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteKeyValue(ctx, messages.BucketCursors); err != nil {
		t.Fatal(err)
	}
	err := Check(ctx, js)
	if err == nil || !strings.Contains(err.Error(), "KV_cursors") {
		t.Errorf("Check() = %v, want it to name KV_cursors", err)
	}
}

// TestRetryReportKeepsInDoubtActions plays the report of a retried Apply
// whose first attempt timed out while creating DLQ and whose second found
// DLQ as the first asked for: the joined report says created, as it would
// without the timeout. A refusal that is not transient leaves nothing in
// doubt.
func TestRetryReportKeepsInDoubtActions(t *testing.T) {
	stream := func(name string, a Action, detail string) Change {
		return Change{Kind: "stream", Name: name, Action: a, Detail: detail}
	}
	timeout := func(c Change) error {
		return &applyError{c, fmt.Errorf("provision: creating stream %s: %w", c.Name, context.DeadlineExceeded)}
	}
	r := retryReport{done: map[string]Change{}, inDoubt: map[string]Change{}}

	first := []Change{stream("PAYMENTS", Created, ""), stream("STATEMENTS", Updated, "replicas 1 → 3")}
	r.merge(first, timeout(stream("DLQ", Created, "")))
	second := []Change{
		stream("PAYMENTS", Unchanged, ""), stream("STATEMENTS", Unchanged, ""),
		stream("DLQ", Unchanged, ""), stream("OPS", Updated, "replicas 1 → 3"),
	}
	r.merge(second, timeout(stream("KV_batches", Updated, "replicas 1 → 3")))
	third := []Change{
		stream("PAYMENTS", Unchanged, ""), stream("STATEMENTS", Unchanged, ""), stream("DLQ", Unchanged, ""),
		stream("OPS", Unchanged, ""), stream("KV_batches", Unchanged, ""), stream("KV_cursors", Unchanged, ""),
	}
	r.merge(third, nil)
	want := []Change{
		stream("PAYMENTS", Created, ""), stream("STATEMENTS", Updated, "replicas 1 → 3"), stream("DLQ", Created, ""),
		stream("OPS", Updated, "replicas 1 → 3"), stream("KV_batches", Updated, "replicas 1 → 3"), stream("KV_cursors", Unchanged, ""),
	}
	if !slices.Equal(third, want) {
		t.Errorf("joined report:\n got %v\nwant %v", third, want)
	}

	refused := &applyError{stream("AUDIT", Created, ""), &jetstream.APIError{ErrorCode: errReplicasNotSupported}}
	r.merge(nil, refused)
	after := []Change{stream("AUDIT", Unchanged, "")}
	r.merge(after, nil)
	if after[0].Action != Unchanged {
		t.Errorf("after a refusal that is not transient: %v, want unchanged", after[0])
	}
}
