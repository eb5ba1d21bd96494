package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/isogate/isogate/internal/app"
	"github.com/isogate/isogate/internal/intentgen"
	"github.com/isogate/isogate/messages"
)

// TestDLQReplayCompletesPayment is the dead-letter acceptance run
// on the whole gateway: a malformed intent lands in dlq.encoder with its
// error; `isogate dlq replay --data` of the corrected body carries the
// payment through the bank to settlement; replaying again does nothing
// more.
func TestDLQReplayCompletesPayment(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run through every worker and the simulated bank")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cfg := demoConfig(t.TempDir(), 3)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	g, err := app.StartWith(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), demoOptions(false))
	if err != nil {
		t.Fatal(err)
	}
	gctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- g.Run(gctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("gateway shutdown: %v", err)
		}
	})
	url := g.NC.ConnectedUrl()
	cli := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		env := &cliEnv{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
		code := run(ctx, env, append(args, "--nats-url", url))
		return code, stdout.String(), stderr.String()
	}

	// A valid intent, then a copy of it broken mid-way: not JSON at all.
	good := intentgen.Intents(1, intentgen.Options{Prefix: "DLQ", Seed: 11})[0]
	fixed, err := json.Marshal(good)
	if err != nil {
		t.Fatal(err)
	}
	broken := fixed[:len(fixed)/2]
	subject := messages.IntentSubject(good.ID)
	if _, err := g.JS.Publish(ctx, subject, broken, jetstream.WithMsgID(good.ID)); err != nil {
		t.Fatal(err)
	}

	// It lands in dlq.encoder, with its error.
	var letters []struct {
		Seq      uint64 `json:"seq"`
		Worker   string `json:"worker"`
		Subject  string `json:"subject"`
		Error    string `json:"error"`
		Attempts int    `json:"attempts"`
	}
	waitFor(t, ctx, "the dead letter", func() bool {
		code, out, _ := cli("dlq", "list", "--json")
		if code != 0 {
			return false
		}
		if err := json.Unmarshal([]byte(out), &letters); err != nil {
			t.Fatalf("dlq list --json: %v\n%s", err, out)
		}
		return len(letters) == 1
	})
	dl := letters[0]
	if dl.Worker != "encoder" || dl.Subject != subject || dl.Error == "" || dl.Attempts != 1 {
		t.Fatalf("dead letter = %+v, want encoder, %s, an error, 1 attempt", dl, subject)
	}

	// Replay with the corrected body: the payment goes all the way.
	fix := filepath.Join(t.TempDir(), "fix.json")
	if err := os.WriteFile(fix, fixed, 0o600); err != nil {
		t.Fatal(err)
	}
	seq := fmt.Sprint(dl.Seq)
	if code, out, errOut := cli("dlq", "replay", seq, "--data", fix); code != 0 {
		t.Fatalf("dlq replay: exit %d\n%s%s", code, out, errOut)
	}
	payments, err := g.JS.Stream(ctx, "PAYMENTS")
	if err != nil {
		t.Fatal(err)
	}
	settled := messages.SettledSubject(good.ID)
	waitFor(t, ctx, "pay.settled for the replayed intent", func() bool {
		_, err := payments.GetLastMsgForSubject(ctx, settled)
		return err == nil
	})

	// Replaying the same dead letter again publishes nothing.
	if code, _, errOut := cli("dlq", "replay", seq, "--data", fix); code == 0 {
		t.Errorf("second replay exited 0\n%s", errOut)
	}
	count := func(subj string) uint64 {
		info, err := payments.Info(ctx, jetstream.WithSubjectFilter(subj))
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Subjects[subj]
	}
	if n := count(subject); n != 2 {
		t.Errorf("%s holds %d messages, want 2 (the broken one and the replay)", subject, n)
	}
	if n := count(settled); n != 1 {
		t.Errorf("%s holds %d messages, want 1", settled, n)
	}
	if l := g.Banksim.Bank.Ledger(); l.EndToEndIDsBookedTwice != 0 || l.TransactionsBooked != 1 {
		t.Errorf("bank ledger = %+v, want one transaction booked once", l)
	}
	if code, out, _ := cli("dlq", "list", "--json"); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("dlq list after replay = %d %q, want an empty list", code, out)
	}
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-tick.C:
		}
	}
}
