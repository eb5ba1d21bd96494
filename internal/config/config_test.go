package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "isogate.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func envMap(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaultsAreValid(t *testing.T) {
	cfg, err := Load("", envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if cfg.DataDir != "./data" || cfg.NATS.Embedded.Port != 4222 || cfg.NATS.Embedded.MonitorPort != 8222 ||
		cfg.Ops.Listen != "127.0.0.1:8080" || !cfg.NATS.Embedded.SyncAlways() || cfg.NATS.Embedded.Host != "127.0.0.1" {
		t.Errorf("defaults = %+v, want the documented ones", cfg)
	}
	if !cfg.Embedded() || cfg.ClientURL() != "nats://127.0.0.1:4222" {
		t.Errorf("ClientURL() = %q, embedded %v", cfg.ClientURL(), cfg.Embedded())
	}
}

func TestPrecedenceFileThenEnv(t *testing.T) {
	path := writeFile(t, `
data_dir: /var/lib/isogate
nats:
  embedded:
    port: 5222
  streams:
    replicas: 3
    duplicate_window: 5m
    max_age:
      OPS: 720h
ops:
  listen: 127.0.0.1:9090
`)
	cfg, err := Load(path, envMap(map[string]string{
		"ISOGATE_NATS_EMBEDDED_PORT": "6222",
		"ISOGATE_LOG_LEVEL":          "debug",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "/var/lib/isogate" {
		t.Errorf("data_dir = %q, want the file's", cfg.DataDir)
	}
	if cfg.NATS.Embedded.Port != 6222 {
		t.Errorf("port = %d, want 6222 from the environment over the file's 5222", cfg.NATS.Embedded.Port)
	}
	if cfg.NATS.Streams.Replicas != 3 || cfg.NATS.Streams.DuplicateWindow != 5*time.Minute {
		t.Errorf("streams = %+v", cfg.NATS.Streams)
	}
	if cfg.NATS.Streams.MaxAge["OPS"] != 720*time.Hour {
		t.Errorf("max_age = %v", cfg.NATS.Streams.MaxAge)
	}
	if cfg.Log.Level != "debug" || cfg.Log.Format != "json" {
		t.Errorf("log = %+v, want level from env and format from defaults", cfg.Log)
	}
	if cfg.Ops.Listen != "127.0.0.1:9090" {
		t.Errorf("ops.listen = %q", cfg.Ops.Listen)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		env        map[string]string
		want       string
	}{
		{"unknown key", "nats:\n  ulr: nats://x\n", nil, "field ulr not found"},
		{"wrong type", "nats:\n  embedded:\n    port: many\n", nil, "line 3"},
		{"bad env int", "", map[string]string{"ISOGATE_NATS_EMBEDDED_PORT": "4x"}, "ISOGATE_NATS_EMBEDDED_PORT"},
		{"bad env duration", "", map[string]string{"ISOGATE_SHUTDOWN_TIMEOUT": "10"}, "not a duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.yaml != "" {
				path = writeFile(t, tt.yaml)
			}
			_, err := Load(path, envMap(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load() error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestEmptyFileIsDefaults(t *testing.T) {
	cfg, err := Load(writeFile(t, ""), envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Ops.Listen != Default().Ops.Listen {
		t.Errorf("empty file changed ops.listen to %q", cfg.Ops.Listen)
	}
}

func TestValidateNamesEverySetting(t *testing.T) {
	cfg := Default()
	cfg.Log.Level = "loud"
	cfg.NATS.Embedded.Port = 70000
	cfg.NATS.Embedded.SyncInterval = "sometimes"
	cfg.NATS.Streams.Replicas = 0
	cfg.NATS.Streams.MaxAge = map[string]time.Duration{"PAYMENT": time.Hour}
	cfg.Ops.Listen = "8080"
	cfg.Publish.InFlight = 0
	cfg.Submitter.UploadTimeout = -time.Second
	cfg.Submitter.Concurrency = 0
	cfg.NATS.AtomicBatches = "sometimes"
	cfg.StatusPoller.FirstDelay = 0
	cfg.StatusPoller.MaxInterval = time.Second
	cfg.StatusPoller.Interval = time.Minute
	cfg.CrashAt = "encoder"
	err := cfg.Validate()
	if err == nil {
		t.Fatal("Validate() = nil, want errors")
	}
	for _, setting := range []string{"log.level", "nats.embedded.port", "nats.embedded.sync_interval",
		"nats.streams.replicas", "nats.streams.max_age.PAYMENT", "ops.listen", "publish.in_flight",
		"nats.atomic_batches", "submitter.upload_timeout", "submitter.concurrency", "statuspoller.first_delay", "statuspoller.max_interval", "crash_at"} {
		if !strings.Contains(err.Error(), "config: "+setting+":") {
			t.Errorf("Validate() error does not name %s:\n%v", setting, err)
		}
	}
}

// TestAtomicBatchesOn: auto means on with the embedded server at
// sync_interval always only; on and off are taken as said.
func TestAtomicBatchesOn(t *testing.T) {
	for _, tt := range []struct {
		setting, url, sync string
		want               bool
	}{
		{"auto", "", "always", true},
		{"auto", "", "2m", false},
		{"auto", "nats://a:4222", "always", false},
		{"on", "nats://a:4222", "always", true},
		{"off", "", "always", false},
	} {
		cfg := Default()
		cfg.NATS.AtomicBatches, cfg.NATS.URL, cfg.NATS.Embedded.SyncInterval = tt.setting, tt.url, tt.sync
		if got := cfg.AtomicBatchesOn(); got != tt.want {
			t.Errorf("atomic_batches %s, url %q, sync %s: AtomicBatchesOn() = %v, want %v", tt.setting, tt.url, tt.sync, got, tt.want)
		}
	}
}

func TestExternalURLValidation(t *testing.T) {
	cfg := Default()
	cfg.NATS.URL = "nats://a:4222, nats://b:4222"
	if err := cfg.Validate(); err != nil {
		t.Errorf("two seeds: %v", err)
	}
	cfg.NATS.URL = "a b"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "nats.url") {
		t.Errorf("bad url: %v", err)
	}
	cfg.NATS.URL = "nats://u:secret@a:4222"
	if cfg.ClientURL() != cfg.NATS.URL || cfg.Embedded() {
		t.Errorf("external URL not used")
	}
}

func TestMaskedHidesSecrets(t *testing.T) {
	cfg := Default()
	cfg.NATS.URL = "nats://alice:s3cret@n1:4222,nats://tok3n@n2:4222"
	cfg.NATS.Password = "s3cret"
	cfg.NATS.Token = "tok3n"
	out, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"s3cret", "tok3n"} {
		if strings.Contains(string(out), secret) {
			t.Errorf("YAML() shows secret %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(string(out), "alice") || !strings.Contains(string(out), "password: '****'") {
		t.Errorf("YAML() should keep the user name and show that a password is set:\n%s", out)
	}
	if cfg.NATS.Password != "s3cret" {
		t.Error("Masked modified the original")
	}
	// The printed configuration loads back.
	back, err := Load(writeFile(t, string(out)), envMap(nil))
	if err != nil {
		t.Fatalf("printed config does not load: %v", err)
	}
	if back.Ops.Listen != cfg.Ops.Listen {
		t.Errorf("round trip changed ops.listen")
	}
}

func TestUnknownEnv(t *testing.T) {
	got := UnknownEnv([]string{"ISOGATE_NATS_URL=x", "ISOGATE_NATS_ULR=x", "HOME=/root", "ISOGATE_KEY_PASSPHRASE=p"}, "ISOGATE_KEY_PASSPHRASE")
	if len(got) != 1 || got[0] != "ISOGATE_NATS_ULR" {
		t.Errorf("UnknownEnv() = %v, want [ISOGATE_NATS_ULR]", got)
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"512MB": 512 << 20, "10GB": 10 << 30, "1024": 1024, "2 kb": 2048} {
		got, err := ParseBytes(in)
		if err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v, want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1GB", "lots", "1.5GB"} {
		if _, err := ParseBytes(in); err == nil {
			t.Errorf("ParseBytes(%q) = nil error", in)
		}
	}
}

func TestWorkersAndBank(t *testing.T) {
	cfg := Default()
	if strings.Join(cfg.Workers, ",") != "encoder,submitter,statuspoller,statements,reconciler" ||
		cfg.Bank.Channel != "banksim" || cfg.Encoder.Wait != 2*time.Second || cfg.Encoder.DefaultProfile != "ekase" {
		t.Errorf("defaults: workers %v, bank %+v, encoder %+v", cfg.Workers, cfg.Bank, cfg.Encoder)
	}
	if got := cfg.BanksimTLSDir(); got != filepath.Join("data", "banksim-tls") {
		t.Errorf("BanksimTLSDir() = %q", got)
	}
	// A list in YAML replaces the default; the environment takes a
	// comma-separated list.
	path := writeFile(t, "workers: [encoder]\nbank:\n  channel: filedrop\n  filedrop: {outbox: /o, inbox: /i, archive: /a}\n")
	cfg, err := Load(path, envMap(nil))
	if err != nil || strings.Join(cfg.Workers, ",") != "encoder" || cfg.Validate() != nil {
		t.Errorf("workers from YAML = %v, %v, %v", cfg.Workers, err, cfg.Validate())
	}
	cfg, err = Load(path, envMap(map[string]string{"ISOGATE_WORKERS": "submitter, statuspoller", "ISOGATE_BANK_BANKSIM_SEED": "7"}))
	if err != nil || strings.Join(cfg.Workers, ",") != "submitter,statuspoller" || cfg.Bank.Banksim.Seed != 7 {
		t.Errorf("workers from env = %v, seed %d, %v", cfg.Workers, cfg.Bank.Banksim.Seed, err)
	}

	cfg = Default()
	cfg.Workers = []string{"encoder", "mailer", "encoder"}
	cfg.Bank.Channel = "h2h"
	cfg.Bank.H2H = H2H{BaseURL: "http://bank", Sign: "pgp"}
	cfg.Encoder.Wait = 0
	cfg.Encoder.MaxHold = -time.Second
	err = cfg.Validate()
	for _, want := range []string{`workers: "mailer"`, `workers: "encoder" is listed twice`, "bank.h2h.base_url", "bank.h2h.server_ca_file",
		"bank.h2h.cert_store", "bank.h2h.org", "bank.h2h.env", "bank.h2h.purpose", "bank.h2h.sign", "bank.h2h.timeout", "bank.h2h.tls_resumption", "encoder.wait", "encoder.max_hold"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to name %q", err, want)
		}
	}
	cfg = Default()
	cfg.Bank.Channel = "carrier-pigeon"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "bank.channel") {
		t.Errorf("Validate() with an unknown channel = %v", err)
	}
	cfg = Default()
	cfg.Bank.Channel = "filedrop"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "bank.filedrop.outbox") || !strings.Contains(err.Error(), "bank.filedrop.archive") {
		t.Errorf("Validate() of filedrop without folders = %v", err)
	}
}

func TestStatementsConfig(t *testing.T) {
	path := writeFile(t, `
statements:
  tick: 5s
  accounts:
    - iban: LV55TREL9190000000001
      start_date: 2026-11-01
    - iban: LV55TREL9190000000001
      start_date: yesterday
`)
	cfg, err := Load(path, envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Statements.Tick != 5*time.Second || cfg.Statements.Intraday != 15*time.Minute || len(cfg.Statements.Accounts) != 2 {
		t.Errorf("statements = %+v", cfg.Statements)
	}
	err = cfg.Validate()
	for _, want := range []string{"statements.accounts[1].iban: account listed twice", "statements.accounts[1].start_date"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want %q", err, want)
		}
	}
	for _, n := range EnvNames() {
		if n == "ISOGATE_STATEMENTS_ACCOUNTS" {
			t.Error("a list of records is YAML only, not an environment variable")
		}
	}
}

func TestParseCrashAt(t *testing.T) {
	tests := []struct {
		in            string
		worker, point string
		n             int
		wantErr       string
	}{
		{in: "encoder:claimed", worker: "encoder", point: "claimed", n: 1},
		{in: "submitter:after-upload:3", worker: "submitter", point: "after-upload", n: 3},
		{in: "statuspoller:after-publish:2", worker: "statuspoller", point: "after-publish", n: 2},
		{in: "encoder", wantErr: "not WORKER:POINT"},
		{in: "encoder:", wantErr: "not WORKER:POINT"},
		{in: "reconciler:x", wantErr: "has no crash points"},
		{in: "encoder:claimed:0", wantErr: "positive integer"},
		{in: "encoder:claimed:x", wantErr: "positive integer"},
		{in: "encoder:claimed:1:2", wantErr: "not WORKER:POINT"},
	}
	for _, tt := range tests {
		w, p, n, err := ParseCrashAt(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseCrashAt(%q) error = %v, want it to contain %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || w != tt.worker || p != tt.point || n != tt.n {
			t.Errorf("ParseCrashAt(%q) = %q, %q, %d, %v; want %q, %q, %d", tt.in, w, p, n, err, tt.worker, tt.point, tt.n)
		}
	}
}
