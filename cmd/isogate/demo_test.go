package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/isogate/isogate/messages"
)

// TestServeRunsWorkers: `isogate serve` with the default configuration runs
// the workers and an in-process simulated bank; intents published with
// `isogate publish` end in pay.batch.submitted.
func TestServeRunsWorkers(t *testing.T) {
	sp := startServe(t, t.TempDir(), newPorts(t))
	const n = 30
	file := serveWriteIntents(t, n, "SRV")
	code, out, errOut := execIsogate(t, nil, "publish", "--nats-url", sp.natsURL, file)
	if code != 0 {
		t.Fatalf("publish: exit %d, %q\n%s", code, out, errOut)
	}

	nc, err := nats.Connect(sp.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := js.OrderedConsumer(t.Context(), messages.StreamPayments, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{messages.SubjectBatchesEncoded, messages.SubjectBatchesSubmitted},
	})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu        sync.Mutex
		batchOf   = map[string]string{}
		submitted = map[string]bool{}
	)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case strings.HasPrefix(m.Subject(), "pay.batch.encoded."):
			var ev messages.BatchEncoded
			if json.Unmarshal(m.Data(), &ev) == nil {
				for _, id := range ev.IntentIDs {
					batchOf[id] = ev.BatchID
				}
			}
		default:
			var ev messages.BatchSubmitted
			if json.Unmarshal(m.Data(), &ev) == nil {
				submitted[ev.BatchID] = true
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Stop()
	missing := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for i := range n {
			id := fmt.Sprintf("SRV-%06d", i)
			if b := batchOf[id]; b == "" || !submitted[b] {
				out = append(out, id)
			}
		}
		return out
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(missing()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("intents without pay.batch.submitted after 30s: %v", missing())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, took := sp.stop(t); code != 0 || took > 10*time.Second {
		t.Errorf("SIGTERM: exit %d after %s, want 0 within 10s\n%s", code, took, sp.log)
	}
	// The log is read once the process has exited (its writer is done).
	if log := sp.log.String(); !strings.Contains(log, "simulated bank started") || !strings.Contains(log, "banksim-tls") {
		t.Errorf("serve did not log the simulated bank's URL and TLS folder:\n%s", log)
	}
}

// TestServeWorkersSubset: --workers runs only the named workers, and an
// unknown name is a usage error.
func TestServeWorkersSubset(t *testing.T) {
	var stdout, stderr bytes.Buffer
	env := &cliEnv{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
	if code := run(t.Context(), env, []string{"serve", "--print-config", "--workers", "encoder,submitter"}); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "workers:\n  - encoder\n  - submitter\n") {
		t.Errorf("--print-config with --workers:\n%s", stdout.String())
	}
	stderr.Reset()
	if code := run(t.Context(), env, []string{"serve", "--print-config", "--workers", "encoder,mailer"}); code != 2 || !strings.Contains(stderr.String(), `workers: "mailer"`) {
		t.Errorf("--workers mailer: exit %d, %s", code, stderr.String())
	}
}

func TestDemoUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"demo", "--scenario", "chaos"},
		{"demo", "--intents", "0"},
		{"demo", "extra"},
	} {
		var stdout, stderr bytes.Buffer
		env := &cliEnv{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
		if code := run(t.Context(), env, args); code != 2 || stdout.Len() != 0 {
			t.Errorf("isogate %v: exit %d, stdout %q, stderr %q", args, code, stdout.String(), stderr.String())
		}
	}
}

// TestDemo is the must-show 1 at a test's size: a mixed run exits
// 0 with its one JSON line, nothing pending, lost or doubled, and every
// accepted intent settled.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end demo run")
	}
	var stdout, stderr bytes.Buffer
	env := &cliEnv{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
	start := time.Now()
	code := run(t.Context(), env, []string{"demo", "--intents", "200", "--scenario", "mixed", "--seed", "7", "--json", "--timeout", "3m"})
	t.Logf("demo took %s", time.Since(start).Round(time.Millisecond))
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("stdout has %d lines, want the JSON line only:\n%s\nstderr:\n%s", len(lines), stdout.String(), stderr.String())
	}
	var res demoResult
	dec := json.NewDecoder(strings.NewReader(lines[0]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("JSON line %q: %v", lines[0], err)
	}
	t.Logf("%s", lines[0])
	if code != 0 {
		t.Errorf("exit %d, want 0\nstderr:\n%s", code, stderr.String())
	}
	if res.Intents != 200 || res.Pending != 0 || res.Lost != 0 || res.DuplicatesAtBank != 0 ||
		res.Rejected+res.Accepted+res.Failed != res.Intents || res.Settled != res.Accepted {
		t.Errorf("result %+v: want 200 intents, nothing pending, lost or doubled, settled = accepted", res)
	}
	// mixed: some invalid intents and some bank rejections, most accepted.
	if res.Rejected < 10 || res.Accepted < 100 {
		t.Errorf("result %+v: want mixed's rejections and a majority accepted", res)
	}
}
