package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/isogate/isogate/internal/config"
	"github.com/isogate/isogate/messages"
)

func testConfig(t *testing.T) *config.Config {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.NATS.Embedded.Port = -1
	cfg.NATS.Embedded.MonitorPort = 0
	cfg.Ops.Listen = "127.0.0.1:0"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return &cfg
}

func readyz(t *testing.T, g *Gateway) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + g.Ops.Addr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestReadyzFollowsTheStreams(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(t.Context())
	g, err := Start(ctx, testConfig(t), log)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()

	if code, body := readyz(t, g); code != http.StatusOK {
		t.Fatalf("/readyz = %d %q, want 200", code, body)
	}
	if err := g.JS.DeleteStream(t.Context(), "STATEMENTS"); err != nil {
		t.Fatal(err)
	}
	if code, body := readyz(t, g); code != http.StatusServiceUnavailable || !strings.Contains(body, "STATEMENTS") {
		t.Errorf("/readyz without STATEMENTS = %d %q, want 503 naming it", code, body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run() = %v after cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of cancel")
	}
	// Closed means closed: the ops port no longer answers.
	if _, err := http.Get("http://" + g.Ops.Addr() + "/healthz"); err == nil {
		t.Error("ops server still answers after shutdown")
	}
}

func TestStartFailsCleanlyOnBusyPort(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	first, err := Start(t.Context(), testConfig(t), log)
	if err != nil {
		t.Fatal(err)
	}
	defer first.shutdown(context.Background())
	cfg := testConfig(t)
	cfg.Ops.Listen = first.Ops.Addr()
	_, err = Start(t.Context(), cfg, log)
	if err == nil || !strings.Contains(err.Error(), "ops: listening on") {
		t.Fatalf("Start on a busy ops port: %v", err)
	}
	// Everything the failed start opened was closed: its data dir is free.
	cfg.Ops.Listen = "127.0.0.1:0"
	again, err := Start(t.Context(), cfg, log)
	if err != nil {
		t.Fatalf("Start after a failed start on the same data dir: %v", err)
	}
	again.shutdown(context.Background())
}

func TestStartRefusesBrokenProfiles(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := testConfig(t)
	cfg.ProfilesDir = t.TempDir()
	if err := os.WriteFile(filepath.Join(cfg.ProfilesDir, "ekase.yaml"), []byte("base: ekase\nlimits: {max_tx_per_fiel: 5}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Start(t.Context(), cfg, log)
	if err == nil || !strings.Contains(err.Error(), "profiles_dir") || !strings.Contains(err.Error(), "ekase.yaml") {
		t.Fatalf("Start with a broken profile: %v", err)
	}
	if err := os.WriteFile(filepath.Join(cfg.ProfilesDir, "ekase.yaml"), []byte("base: ekase\nlimits: {max_tx_per_file: 5}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g, err := Start(t.Context(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer g.shutdown(context.Background())
	p, err := g.Profiles.Lookup("ekase")
	if err != nil || p.Limits.MaxTxPerFile != 5 {
		t.Errorf("ekase from profiles_dir = %+v, %v", p, err)
	}
}

func TestGatewayRunsWorkersAndBanksim(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := testConfig(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	g, err := Start(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	if got := strings.Join(g.WorkerNames, ","); got != "encoder,submitter,statuspoller,statements,reconciler" {
		t.Errorf("workers = %s, want all five", got)
	}
	if g.Banksim == nil || g.Channel == nil || !strings.HasPrefix(g.Banksim.URL, "https://127.0.0.1:") {
		t.Fatalf("banksim %+v, channel %v", g.Banksim, g.Channel)
	}
	if g.Banksim.TLS.Dir != filepath.Join(cfg.DataDir, "banksim-tls") {
		t.Errorf("banksim TLS dir = %s, want under data_dir", g.Banksim.TLS.Dir)
	}
	if code, body := readyz(t, g); code != http.StatusOK {
		t.Errorf("/readyz = %d %q", code, body)
	}
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run() = %v after cancel, want nil", err)
		}
	case <-time.After(cfg.ShutdownTimeout + 2*time.Second):
		t.Fatal("Run did not return within the shutdown timeout")
	}
	t.Logf("shutdown took %s", time.Since(start).Round(time.Millisecond))
	if !g.NC.IsClosed() {
		t.Error("NATS connection still open after shutdown")
	}
	if _, err := http.Get(g.Banksim.URL + "/v1/health"); err == nil {
		t.Error("the simulated bank still answers after shutdown")
	}
}

func TestGatewayWorkerSubset(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := testConfig(t)
	cfg.Workers = []string{"encoder"}
	g, err := Start(t.Context(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer g.shutdown(context.Background())
	if strings.Join(g.WorkerNames, ",") != "encoder" || g.Banksim != nil || g.Channel != nil {
		t.Errorf("encoder only: workers %v, banksim %v, channel %v; want no bank", g.WorkerNames, g.Banksim, g.Channel)
	}
}

func TestStartH2HNeedsItsFiles(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := testConfig(t)
	cfg.Bank.Channel = "h2h"
	cfg.Bank.H2H.BaseURL = "https://bank.example"
	cfg.Bank.H2H.ServerCAFile = filepath.Join(t.TempDir(), "missing-ca.pem")
	cfg.Bank.H2H.CertStore = t.TempDir()
	cfg.Bank.H2H.Org, cfg.Bank.H2H.Env, cfg.Bank.H2H.Purpose = "acme", "test", "ekase"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	_, err := StartWith(t.Context(), cfg, log, Options{KeyPassphrase: []byte("pass")})
	if err == nil || !strings.Contains(err.Error(), "bank.h2h") {
		t.Fatalf("Start with h2h and no certificate: %v", err)
	}
	// Everything it had started is stopped: the data dir is free again.
	cfg.Bank.Channel = "banksim"
	g, err := Start(t.Context(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	g.shutdown(context.Background())
}

// TestPipelineMetrics checks the scrape-time gauges: batches per state and
// the age of the oldest intent the encoder has not acknowledged.
func TestPipelineMetrics(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := testConfig(t)
	cfg.Workers = []string{"submitter"} // no encoder: intents wait
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	g, err := Start(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	defer func() { cancel(); <-done }()

	gauge := func(name, label string) (float64, bool) {
		mfs, err := g.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.GetMetric() {
				if label == "" || (len(m.GetLabel()) > 0 && m.GetLabel()[0].GetValue() == label) {
					return m.GetGauge().GetValue(), true
				}
			}
		}
		return 0, false
	}
	if v, ok := gauge("isogate_batches", "in_doubt"); !ok || v != 0 {
		t.Errorf("isogate_batches{state=in_doubt} = %v, %v; want 0", v, ok)
	}
	if _, ok := gauge("isogate_oldest_pending_intent_seconds", ""); ok {
		t.Error("oldest pending intent reported without an encoder consumer")
	}
	// An encoder consumer that has taken nothing yet, and an intent older
	// than a second: the gauge reports its age.
	if _, err := g.JS.CreateOrUpdateConsumer(ctx, "PAYMENTS", jetstream.ConsumerConfig{
		Durable: "encoder", FilterSubject: messages.SubjectIntents, AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.JS.Publish(ctx, messages.IntentSubject("AGE-1"), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, ok := gauge("isogate_oldest_pending_intent_seconds", "")
		if ok && v >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("oldest pending intent = %v, %v after 10s; want ≥ 1s", v, ok)
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
}
