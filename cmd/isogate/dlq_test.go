package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/isogate/isogate/internal/natstest"
	"github.com/isogate/isogate/internal/provision"
	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/workers"
)

// dlqRun runs `isogate dlq ARGS --nats-url URL` in process.
func dlqRun(t *testing.T, url string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := &cliEnv{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
	code = run(t.Context(), env, append(append([]string{"dlq"}, args...), "--nats-url", url))
	return code, out.String(), errOut.String()
}

// TestDLQCommands dead-letters two malformed intents through a real worker
// runtime, then lists, shows, replays (one with a corrected body) and
// purges them with the dlq commands.
func TestDLQCommands(t *testing.T) {
	srv := natstest.Start(t)
	_, js := srv.Connect()
	ctx := t.Context()
	if _, err := provision.Apply(ctx, js, provision.Options{Replicas: 1, DuplicateWindow: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	url := srv.ClientURL()

	// A worker that needs an amount: without one the intent is permanently
	// bad. It is idempotent on the intent id.
	var mu sync.Mutex
	done := map[string]int{}
	type intent struct {
		ID     string `json:"id"`
		Amount string `json:"amount"`
	}
	r, err := workers.NewRouter(workers.RouterConfig{
		JS:           js,
		DrainTimeout: 5 * time.Second,
		PollWait:     time.Second,
		Workers: []workers.Worker{{Name: "enc", Consumer: workers.ConsumerSpec{
			Stream: messages.StreamPayments, FilterSubjects: []string{messages.SubjectIntents},
		}, Handler: func(msg *message.Message) error {
			in, err := workers.Decode[intent](msg)
			if err != nil {
				return err
			}
			if in.Amount == "" {
				return workers.Permanent(fmt.Errorf("intent %s: amount: required", in.ID))
			}
			mu.Lock()
			done[in.ID]++
			mu.Unlock()
			return nil
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- r.Run(context.Background()) }()
	t.Cleanup(func() { _ = r.Close(); <-runDone })
	<-r.Running()

	// Published as `isogate publish` does: Nats-Msg-Id = id and the
	// expected-last-sequence guard on pay.intent.<id>.
	publishIntent := func(id, body string) {
		msg := &nats.Msg{Subject: messages.IntentSubject(id), Data: []byte(body), Header: nats.Header{}}
		msg.Header.Set(messages.HeaderMsgID, id)
		msg.Header.Set(messages.HeaderExpectedLastSubjectSeq, "0")
		msg.Header.Set("X-Source", "erp")
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	bad1 := `{"id":"INV-1"}`
	publishIntent("INV-1", bad1)
	publishIntent("INV-2", `{"id":"INV-2"}`)
	publishIntent("INV-3", `{"id":"INV-3","amount":"10.00"}`)
	dlq, err := js.Stream(ctx, messages.StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	waitDLQ := func(want uint64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			info, err := dlq.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if info.State.Msgs == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("DLQ holds %d messages, want %d", info.State.Msgs, want)
			}
			select {
			case <-time.After(20 * time.Millisecond):
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			}
		}
	}
	waitDLQ(2)

	// list --json
	code, out, errOut := dlqRun(t, url, "", "list", "--json")
	if code != 0 {
		t.Fatalf("dlq list --json: exit %d\n%s", code, errOut)
	}
	var entries []dlqListEntry
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatalf("dlq list --json: %v\n%s", err, out)
	}
	if len(entries) != 2 {
		t.Fatalf("dlq list --json: %d entries, want 2\n%s", len(entries), out)
	}
	byIntent := map[string]dlqListEntry{}
	for _, e := range entries {
		byIntent[e.IntentID] = e
		if e.Worker != "enc" || e.Attempts != 1 || !strings.Contains(e.Error, "amount: required") || e.Stream != messages.StreamPayments {
			t.Errorf("dlq list entry = %+v", e)
		}
	}
	seq1, seq2 := byIntent["INV-1"].Seq, byIntent["INV-2"].Seq
	if seq1 == 0 || seq2 == 0 || byIntent["INV-1"].Subject != "pay.intent.INV-1" {
		t.Fatalf("dlq list entries by intent = %+v", byIntent)
	}

	// list (text), and --worker of another worker
	code, out, _ = dlqRun(t, url, "", "list")
	for _, want := range []string{"SEQ", "WORKER", fmt.Sprintf("%d  ", seq1), "pay.intent.INV-2", "INV-1", "permanent failure: intent INV-1: amount: required"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("dlq list: exit %d, output lacks %q:\n%s", code, want, out)
		}
	}
	if code, out, _ = dlqRun(t, url, "", "list", "--worker", "submitter"); code != 0 || strings.TrimSpace(out) != "no dead letters" {
		t.Errorf("dlq list --worker submitter: exit %d, %q", code, out)
	}

	// show, and show --data-only
	code, out, errOut = dlqRun(t, url, "", "show", fmt.Sprint(seq1))
	if code != 0 {
		t.Fatalf("dlq show: exit %d\n%s", code, errOut)
	}
	var shown dlqShown
	if err := json.Unmarshal([]byte(out), &shown); err != nil {
		t.Fatalf("dlq show: %v\n%s", err, out)
	}
	var compact bytes.Buffer
	_ = json.Compact(&compact, shown.Data)
	if shown.Seq != seq1 || shown.DataEncoding != "json" || compact.String() != bad1 || shown.Headers["X-Source"][0] != "erp" ||
		shown.Headers[messages.HeaderMsgID][0] != "INV-1" || !strings.Contains(out, "\n  \"data\": {\n    \"id\": \"INV-1\"\n  }") {
		t.Errorf("dlq show =\n%s", out)
	}
	if code, out, _ = dlqRun(t, url, "", "show", fmt.Sprint(seq1), "--data-only"); code != 0 || out != bad1 {
		t.Errorf("dlq show --data-only: exit %d, %q, want %q", code, out, bad1)
	}

	// replay with a corrected body: published to the original subject
	// without the guard (the original is stored there), then deleted.
	fixed := filepath.Join(t.TempDir(), "fixed.json")
	if err := os.WriteFile(fixed, []byte(`{"id":"INV-1","amount":"12.50"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = dlqRun(t, url, "", "replay", fmt.Sprint(seq1), "--data", fixed)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("replayed dead letter %d (worker enc) to pay.intent.INV-1", seq1)) {
		t.Fatalf("dlq replay --data: exit %d\n%s%s", code, out, errOut)
	}
	payments, err := js.Stream(ctx, messages.StreamPayments)
	if err != nil {
		t.Fatal(err)
	}
	last, err := payments.GetLastMsgForSubject(ctx, "pay.intent.INV-1")
	if err != nil {
		t.Fatal(err)
	}
	if string(last.Data) != `{"id":"INV-1","amount":"12.50"}` || last.Header.Get(messages.HeaderMsgID) != fmt.Sprintf("replay:%d", seq1) ||
		last.Header.Get(workers.HeaderReplayOf) != fmt.Sprint(seq1) || last.Header.Get(messages.HeaderExpectedLastSubjectSeq) != "" ||
		last.Header.Get("X-Source") != "erp" {
		t.Errorf("replayed message: data %s, headers %v", last.Data, last.Header)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			select {
			case <-time.After(20 * time.Millisecond):
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			}
		}
	}
	waitFor("the worker to process the replayed intent", func() bool { mu.Lock(); defer mu.Unlock(); return done["INV-1"] == 1 })
	if _, err := dlq.GetMsg(ctx, seq1); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Errorf("dead letter %d after replay: %v, want it deleted", seq1, err)
	}

	// A second replay of the same SEQ publishes nothing.
	before, err := payments.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut = dlqRun(t, url, "", "replay", fmt.Sprint(seq1))
	if code != 1 || !strings.Contains(errOut, fmt.Sprintf("dead letter %d not found: already replayed or purged; nothing published", seq1)) || out != "" {
		t.Errorf("second dlq replay: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	after, err := payments.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.State.LastSeq != before.State.LastSeq {
		t.Errorf("second replay published: PAYMENTS last seq %d → %d", before.State.LastSeq, after.State.LastSeq)
	}
	if code, _, errOut = dlqRun(t, url, "", "show", fmt.Sprint(seq1)); code != 1 || !strings.Contains(errOut, "not found") {
		t.Errorf("dlq show of a replayed SEQ: exit %d, %q", code, errOut)
	}

	// purge: nothing without --yes, nothing newer than the cutoff, then all.
	if code, _, errOut = dlqRun(t, url, "", "purge", "--worker", "enc"); code != 2 || !strings.Contains(errOut, "would delete 1 dead letters of worker enc") {
		t.Errorf("dlq purge without --yes: exit %d, %q", code, errOut)
	}
	if code, out, _ = dlqRun(t, url, "", "purge", "--worker", "enc", "--older-than", "1d", "--yes"); code != 0 || !strings.Contains(out, "deleted 0 dead letters") {
		t.Errorf("dlq purge --older-than 1d: exit %d, %q", code, out)
	}
	waitDLQ(1)
	if code, out, _ = dlqRun(t, url, "", "purge", "--worker", "enc", "--yes"); code != 0 || !strings.Contains(out, "deleted 1 dead letters of worker enc") {
		t.Errorf("dlq purge --yes: exit %d, %q", code, out)
	}
	waitDLQ(0)
	if code, out, _ = dlqRun(t, url, "", "replay", "--all"); code != 0 || strings.TrimSpace(out) != "no dead letters to replay" {
		t.Errorf("dlq replay --all on an empty DLQ: exit %d, %q", code, out)
	}
	mu.Lock()
	defer mu.Unlock()
	if done["INV-3"] != 1 || done["INV-2"] != 0 {
		t.Errorf("processed = %v", done)
	}
}

// TestDLQReplayAll dead-letters messages of two workers and replays one
// worker's with --all: they come back to the worker, which now accepts them.
func TestDLQReplayAll(t *testing.T) {
	srv := natstest.Start(t)
	_, js := srv.Connect()
	ctx := t.Context()
	if _, err := provision.Apply(ctx, js, provision.Options{Replicas: 1, DuplicateWindow: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	url := srv.ClientURL()
	// Dead letters as the runtime writes them.
	pub := workers.NewPublisher(js, 5*time.Second)
	for i, w := range []string{"a", "a", "b"} {
		dl := messages.DeadLetter{
			Worker:  w,
			Subject: fmt.Sprintf("pay.test.%s.%d", w, i),
			Data:    []byte(fmt.Sprintf(`{"n":%d}`, i)),
			Headers: map[string][]string{"Nats-Msg-Id": {fmt.Sprint(i)}, "Nats-Rollup": {"sub"}, "X-N": {fmt.Sprint(i)}},
			Error:   "boom", Attempts: 3, FirstFailedAt: time.Now(), FailedAt: time.Now(),
			Stream: "PAYMENTS", StreamSeq: uint64(i + 1),
		}
		if _, err := pub.PublishEvent(ctx, dl, workers.DeadLetterMsgID("PAYMENTS", uint64(i+1), w)); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errOut := dlqRun(t, url, "", "replay", "--all", "--worker", "a")
	if code != 0 || !strings.Contains(out, "2 replayed") {
		t.Fatalf("dlq replay --all --worker a: exit %d\n%s%s", code, out, errOut)
	}
	payments, err := js.Stream(ctx, messages.StreamPayments)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 1} {
		m, err := payments.GetLastMsgForSubject(ctx, fmt.Sprintf("pay.test.a.%d", i))
		if err != nil {
			t.Fatalf("replayed message %d: %v", i, err)
		}
		if string(m.Data) != fmt.Sprintf(`{"n":%d}`, i) || m.Header.Get("X-N") != fmt.Sprint(i) || m.Header.Get("Nats-Rollup") != "" ||
			!strings.HasPrefix(m.Header.Get("Nats-Msg-Id"), "replay:") {
			t.Errorf("replayed message %d: %s %v", i, m.Data, m.Header)
		}
	}
	code, out, _ = dlqRun(t, url, "", "list", "--json")
	var left []dlqListEntry
	if err := json.Unmarshal([]byte(out), &left); code != 0 || err != nil || len(left) != 1 || left[0].Worker != "b" {
		t.Errorf("after replaying worker a: exit %d, %v, %s", code, err, out)
	}
}

// TestDLQReplayInterrupted: a replay that published and then failed to
// delete is finished by the next replay without a second message; a
// Nats-Msg-Id taken by a different message keeps the dead letter.
func TestDLQReplayInterrupted(t *testing.T) {
	srv := natstest.Start(t)
	_, js := srv.Connect()
	ctx := t.Context()
	if _, err := provision.Apply(ctx, js, provision.Options{Replicas: 1, DuplicateWindow: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	url := srv.ClientURL()
	pub := workers.NewPublisher(js, 5*time.Second)
	for i := range 2 {
		dl := messages.DeadLetter{Worker: "w", Subject: fmt.Sprintf("pay.test.w.%d", i), Data: []byte(`{}`),
			Error: "boom", Attempts: 1, FirstFailedAt: time.Now(), FailedAt: time.Now()}
		if _, err := pub.PublishEvent(ctx, dl, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	// DLQ seq 1: its replay was published before; seq 2: its id is taken by
	// another message.
	// In order: the expected output names PAYMENTS 1 for dead letter 1.
	for _, r := range []struct {
		seq  int
		data string
	}{{1, `{}`}, {2, `{"other":true}`}} {
		seq, data := r.seq, r.data
		m := &nats.Msg{Subject: fmt.Sprintf("pay.test.w.%d", seq-1), Data: []byte(data), Header: nats.Header{}}
		m.Header.Set(messages.HeaderMsgID, fmt.Sprintf("replay:%d", seq))
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	payments, err := js.Stream(ctx, messages.StreamPayments)
	if err != nil {
		t.Fatal(err)
	}
	before, err := payments.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := dlqRun(t, url, "", "replay", "1", "2")
	if code != 1 || !strings.Contains(out, "replayed dead letter 1 (worker w) to pay.test.w.0 as PAYMENTS 1 (already published by an earlier replay that did not finish)") ||
		!strings.Contains(errOut, "dead letter 2") || !strings.Contains(errOut, "differs") || !strings.Contains(out, "1 replayed") {
		t.Errorf("dlq replay 1 2: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	after, err := payments.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.State.Msgs != before.State.Msgs {
		t.Errorf("PAYMENTS holds %d messages, was %d: the replay stored a second copy", after.State.Msgs, before.State.Msgs)
	}
	code, out, _ = dlqRun(t, url, "", "list", "--json")
	var left []dlqListEntry
	if err := json.Unmarshal([]byte(out), &left); code != 0 || err != nil || len(left) != 1 || left[0].Seq != 2 {
		t.Errorf("left after the replay: exit %d, %v, %s", code, err, out)
	}
}

func TestDLQUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"dlq"}, "usage: isogate dlq"},
		{[]string{"dlq", "frob"}, `unknown subcommand "frob"`},
		{[]string{"dlq", "show"}, "name one SEQ"},
		{[]string{"dlq", "show", "x1"}, "not a dead-letter sequence"},
		{[]string{"dlq", "replay"}, "name at least one SEQ, or --all"},
		{[]string{"dlq", "replay", "1", "--all"}, "not both"},
		{[]string{"dlq", "replay", "1", "2", "--data", "f"}, "exactly one SEQ"},
		{[]string{"dlq", "replay", "1", "--worker", "a"}, "--worker selects with --all"},
		{[]string{"dlq", "purge", "--older-than", "soon"}, "--older-than"},
		{[]string{"dlq", "list", "extra"}, "unexpected argument"},
	} {
		var stdout, stderr bytes.Buffer
		env := &cliEnv{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
		if code := run(t.Context(), env, tt.args); code != 2 || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("isogate %v: exit %d, stderr %q; want exit 2 and %q", tt.args, code, stderr.String(), tt.want)
		}
	}
	for in, want := range map[string]time.Duration{"7d": 7 * 24 * time.Hour, "36h": 36 * time.Hour, "90m": 90 * time.Minute} {
		if got, err := dlqParseAge(in); err != nil || got != want {
			t.Errorf("dlqParseAge(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

// TestDLQReplayDataFromStream: a dead letter stored without its data (the
// message was too large to copy into it) is replayed with the original's
// data and headers, read from its stream, not as an empty body.
func TestDLQReplayDataFromStream(t *testing.T) {
	srv := natstest.Start(t)
	_, js := srv.Connect()
	ctx := t.Context()
	if _, err := provision.Apply(ctx, js, provision.Options{Replicas: 1, DuplicateWindow: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	orig := &nats.Msg{Subject: "pay.test.big", Data: []byte(`{"big":true}`), Header: nats.Header{}}
	orig.Header.Set("Isogate-Note", "kept")
	ack, err := js.PublishMsg(ctx, orig)
	if err != nil {
		t.Fatal(err)
	}
	dl := messages.DeadLetter{Worker: "w", Subject: orig.Subject, Error: "too large (read it from stream PAYMENTS)",
		Attempts: 1, FirstFailedAt: time.Now(), FailedAt: time.Now(), Stream: messages.StreamPayments, StreamSeq: ack.Sequence}
	if _, err := workers.NewPublisher(js, 5*time.Second).PublishEvent(ctx, dl, "big"); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := dlqRun(t, srv.ClientURL(), "", "replay", "1")
	if code != 0 {
		t.Fatalf("dlq replay 1: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	payments, err := js.Stream(ctx, messages.StreamPayments)
	if err != nil {
		t.Fatal(err)
	}
	m, err := payments.GetLastMsgForSubject(ctx, orig.Subject)
	if err != nil {
		t.Fatal(err)
	}
	if m.Sequence == ack.Sequence || string(m.Data) != string(orig.Data) || m.Header.Get("Isogate-Note") != "kept" {
		t.Errorf("replayed message: seq %d (original %d), data %q, header %q; want a new copy of the original",
			m.Sequence, ack.Sequence, m.Data, m.Header.Get("Isogate-Note"))
	}
}
