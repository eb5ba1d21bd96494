// Package config holds isogate's configuration tree: documented defaults, a
// YAML file over them, ISOGATE_* environment variables over the file, and
// command-line flags over everything (applied by the command).
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts every environment variable the configuration reads. The
// variable for a setting is the prefix plus its YAML path in upper case,
// joined by underscores: nats.embedded.port → ISOGATE_NATS_EMBEDDED_PORT.
const EnvPrefix = "ISOGATE_"

// Config is the whole configuration. The zero value is not useful; start from
// Default or Load.
type Config struct {
	// DataDir holds the embedded server's JetStream files. Default: ./data.
	DataDir string `yaml:"data_dir"`
	// ProfilesDir holds bank profiles as NAME.yaml files that override and
	// extend the built-in ones (a file may start with "base: ekase").
	// Default: none, the built-in profiles only.
	ProfilesDir string `yaml:"profiles_dir"`
	// ShutdownTimeout bounds the drain after SIGINT/SIGTERM. Default: 8s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	Log             Log           `yaml:"log"`
	NATS            NATS          `yaml:"nats"`
	Ops             Ops           `yaml:"ops"`
	Publish         Publish       `yaml:"publish"`
	// Workers are the workers `isogate serve` runs: any of encoder,
	// submitter, statuspoller, statements and reconciler. Default: all
	// five. Run a subset per process to scale out on a NATS cluster
	// (serve --workers submitter); JetStream consumers spread the work.
	// In the environment: a comma-separated list (ISOGATE_WORKERS).
	Workers      []string     `yaml:"workers"`
	Bank         Bank         `yaml:"bank"`
	Encoder      Encoder      `yaml:"encoder"`
	Submitter    Submitter    `yaml:"submitter"`
	StatusPoller StatusPoller `yaml:"statuspoller"`
	Statements   Statements   `yaml:"statements"`
	// CrashAt arms a crash hook for fault-injection runs (the chaos
	// harness, docs/RELIABILITY.md): "WORKER:POINT" or "WORKER:POINT:N"
	// makes the process kill itself with SIGKILL the N-th time (default 1)
	// the worker reaches the named crash point. WORKER is encoder or
	// submitter; the points are the workers' Crash* constants. Only
	// binaries built with -tags chaos honour it: others refuse to start
	// with it set. Default: none.
	CrashAt string `yaml:"crash_at"`
}

// Worker names, in pipeline order.
const (
	WorkerEncoder      = "encoder"
	WorkerSubmitter    = "submitter"
	WorkerStatusPoller = "statuspoller"
	WorkerStatements   = "statements"
	WorkerReconciler   = "reconciler"
)

// AllWorkers lists every worker in pipeline order: the default of Workers.
var AllWorkers = []string{WorkerEncoder, WorkerSubmitter, WorkerStatusPoller, WorkerStatements, WorkerReconciler}

// Bank channels.
const (
	ChannelBanksim  = "banksim"
	ChannelH2H      = "h2h"
	ChannelFiledrop = "filedrop"
)

// Bank says how the gateway reaches the bank.
type Bank struct {
	// Channel is banksim (the default: an in-process simulated bank over
	// HTTPS with client certificates, reached through the h2h adapter),
	// h2h (a real bank's host-to-host HTTPS interface) or filedrop (files
	// exchanged through outbox/inbox folders).
	Channel  string   `yaml:"channel"`
	Banksim  Banksim  `yaml:"banksim"`
	H2H      H2H      `yaml:"h2h"`
	Filedrop Filedrop `yaml:"filedrop"`
}

// Banksim configures the in-process simulated bank of channel banksim.
type Banksim struct {
	// Addr the simulated bank listens on. Default: 127.0.0.1:0 (any free
	// port; the URL is logged at start).
	Addr string `yaml:"addr"`
	// TLSDir holds the bank's CA, server and client certificates, created
	// on first start and reused. Default: <data_dir>/banksim-tls.
	TLSDir string `yaml:"tls_dir"`
	// Profile is the bank's profile: ekase (default) or iso2019.
	Profile string `yaml:"profile"`
	// Seed makes incoming credits and charges reproducible. Default: 1.
	Seed int64 `yaml:"seed"`
	// Accept, Process and Settle are the status play-out: ACTC after
	// Accept, ACSP/PART/RJCT a further Process later, ACSC (and the
	// booking) a further Settle later. Defaults: 0s, 1s, 2s.
	Accept  time.Duration `yaml:"accept"`
	Process time.Duration `yaml:"process"`
	Settle  time.Duration `yaml:"settle"`
}

// H2H configures channel h2h: a bank's host-to-host HTTPS interface with a
// client certificate from the certificate store. The key passphrase is read
// from ISOGATE_KEY_PASSPHRASE (or the file named by
// ISOGATE_KEY_PASSPHRASE_FILE), never from this file.
type H2H struct {
	// BaseURL is the bank's https:// URL. Required with channel h2h.
	BaseURL string `yaml:"base_url"`
	// ServerCAFile is a PEM file of the CA(s) the bank's server certificate
	// must chain to (pinned: the system roots are not used). Required.
	ServerCAFile string `yaml:"server_ca_file"`
	// CertStore is the certificate store directory. Default: data/certs
	// (as `isogate cert`).
	CertStore string `yaml:"cert_store"`
	// Org, Env and Purpose name the client certificate in the store
	// (`isogate cert ... --org --env --purpose`). Required; Env is test or
	// production.
	Org     string `yaml:"org"`
	Env     string `yaml:"env"`
	Purpose string `yaml:"purpose"`
	// Sign is none (default) or xmldsig (an enveloped XML signature made
	// with the client certificate's key on every pain.001).
	Sign string `yaml:"sign"`
	// Timeout bounds one request to the bank. Default: 30s.
	Timeout time.Duration `yaml:"timeout"`
	// TLSResumption is on (default) or off: whether a new connection to
	// the bank resumes a TLS session made with the client certificate
	// served now instead of a full handshake (h2h.Config).
	TLSResumption string `yaml:"tls_resumption"`
}

// Filedrop configures channel filedrop: pain.001 files dropped in Outbox,
// the bank's pain.002 and camt files read from Inbox, both kept in Archive.
type Filedrop struct {
	// Outbox, Inbox and Archive are directories. Required with channel
	// filedrop.
	Outbox  string `yaml:"outbox"`
	Inbox   string `yaml:"inbox"`
	Archive string `yaml:"archive"`
}

// Statements configures the statements worker: which accounts' statements
// it asks the bank for (camt.060 → camt.052/053/054), and how often.
type Statements struct {
	// Accounts whose statements are fetched (YAML only). Default: none —
	// except with bank.channel banksim, where an empty list means every
	// account of the simulated bank.
	Accounts []StatementAccount `yaml:"accounts"`
	// Tick is how often the worker looks for accounts that are due.
	// Default: 30s.
	Tick time.Duration `yaml:"tick"`
	// Intraday is the interval of camt.052 (and camt.054) requests for
	// today. Default: 15m. Negative: never.
	Intraday time.Duration `yaml:"intraday"`
	// EndOfDayDelay is how long after midnight (UTC) the closed day's
	// camt.053 is first asked for. Default: 0.
	EndOfDayDelay time.Duration `yaml:"end_of_day_delay"`
	// Retry is the delay after a failed request. Default: 1m.
	Retry time.Duration `yaml:"retry"`
	// RequestTimeout bounds one statement request. Default: 60s.
	RequestTimeout time.Duration `yaml:"request_timeout"`
}

// StatementAccount is one account whose statements are fetched.
type StatementAccount struct {
	// IBAN of the account (or the bank's account id). Required.
	IBAN string `yaml:"iban"`
	// Currency of the account (camt.060 Acct/Ccy). Optional.
	Currency string `yaml:"currency"`
	// Profile is the account's bank profile. Default: encoder.default_profile.
	Profile string `yaml:"profile"`
	// OwnerName and ServicerBIC go into the camt.060. Optional.
	OwnerName   string `yaml:"owner_name"`
	ServicerBIC string `yaml:"servicer_bic"`
	// StartDate (YYYY-MM-DD) is the first day whose camt.053 is wanted
	// when the account has no cursor yet. Default: the day of the first
	// request.
	StartDate string `yaml:"start_date"`
}

// Encoder tunes the encoder worker.
type Encoder struct {
	// DefaultProfile is the bank profile of an intent that names none.
	// Default: ekase.
	DefaultProfile string `yaml:"default_profile"`
	// Wait closes a batch this long after its first intent when it has not
	// reached its profile's file size limit before. Default: 2s.
	Wait time.Duration `yaml:"wait"`
	// MaxHold is the longest a batch keeps collecting, from its first
	// intent, past Wait while the submitter has encoded batches it has not
	// taken yet: under a backlog the encoder makes fewer, larger files
	// instead of queueing small ones. Set it to Wait to close every batch
	// at Wait. Default: 0, which is 10×Wait.
	MaxHold time.Duration `yaml:"max_hold"`
}

// Submitter tunes the submitter worker.
type Submitter struct {
	// UploadTimeout bounds one upload, and is the lease other submitters
	// wait out (plus 5s for clock skew) before they treat a batch left in
	// submitting — its submitter died mid-upload — as in doubt. Keep it
	// above bank.h2h.timeout. Default: 60s.
	UploadTimeout time.Duration `yaml:"upload_timeout"`
	// Concurrency is how many batches one process uploads at once: the
	// submitter's throughput is about Concurrency ÷ the time one batch
	// takes (an upload and a few round trips). Mind what the bank allows.
	// Default: 4.
	Concurrency int `yaml:"concurrency"`
}

// StatusPoller tunes how often the bank is asked for the status of a
// submitted batch: FirstDelay after the upload, then Interval, doubling up
// to MaxInterval until the status is final.
type StatusPoller struct {
	// FirstDelay defaults to 2s, Interval to 2s, MaxInterval to 5m.
	FirstDelay  time.Duration `yaml:"first_delay"`
	Interval    time.Duration `yaml:"interval"`
	MaxInterval time.Duration `yaml:"max_interval"`
}

// Log configures the gateway's structured log on stderr.
type Log struct {
	// Level is debug, info, warn or error. Default: info.
	Level string `yaml:"level"`
	// Format is json or text. Default: json.
	Format string `yaml:"format"`
}

// NATS says where JetStream is and how the gateway's streams are shaped.
type NATS struct {
	// URL of an external NATS server or cluster (comma-separated seeds). Empty
	// (the default) starts an embedded server with the Embedded settings.
	URL string `yaml:"url"`
	// User and Password authenticate to an external server.
	User     string `yaml:"user"`
	Password string `yaml:"password" secret:"true"`
	// Token authenticates to an external server.
	Token string `yaml:"token" secret:"true"`
	// CredsFile is a NATS .creds file (JWT + seed) for an external server.
	CredsFile string `yaml:"creds_file"`
	// ConnectTimeout bounds one connection attempt. Default: 5s.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// AtomicBatches is whether writes made together are sent as one
	// atomic batch publish (NATS 2.12 and later): the encoder's claims of
	// one batch (KV intents), the status poller's pay.status events of one
	// pain.002. The server stores such a batch whole or not at all, under
	// one fsync where it fsyncs every write; but it stages the batch
	// first, which costs more CPU than it saves where it does not. "on",
	// "off", or "auto" (the default): on with the embedded server at
	// sync_interval always, off otherwise.
	AtomicBatches string   `yaml:"atomic_batches"`
	Embedded      Embedded `yaml:"embedded"`
	Streams       Streams  `yaml:"streams"`
}

// AtomicBatchesOn reports whether writes made together go as one atomic
// batch publish ([NATS.AtomicBatches]).
func (c *Config) AtomicBatchesOn() bool {
	switch c.NATS.AtomicBatches {
	case "on":
		return true
	case "off":
		return false
	}
	return c.NATS.URL == "" && c.NATS.Embedded.SyncAlways()
}

// Embedded configures the in-process NATS server used when NATS.URL is empty.
type Embedded struct {
	// Host the client and monitoring ports listen on. Default: 127.0.0.1.
	Host string `yaml:"host"`
	// Port for NATS clients. Default: 4222; -1 picks a free port.
	Port int `yaml:"port"`
	// MonitorPort serves /varz, /jsz and friends. Default: 8222; 0 disables
	// it; -1 picks a free port.
	MonitorPort int `yaml:"monitor_port"`
	// SyncInterval is "always" (the default: fsync every write, so an
	// acknowledged payment survives power loss) or a duration such as "2m"
	// (faster, and may lose acknowledged writes on power failure).
	SyncInterval string `yaml:"sync_interval"`
	// MaxStore caps JetStream file storage, e.g. "10GB". Default: no cap
	// beyond the server's own (75% of free disk).
	MaxStore string `yaml:"max_store"`
}

// Streams shapes the streams, buckets and object store the gateway
// provisions at every start.
type Streams struct {
	// Replicas for every stream, bucket and object store: 1 for one server,
	// 3 for a three-node cluster. Default: 1.
	Replicas int `yaml:"replicas"`
	// DuplicateWindow is JetStream's Nats-Msg-Id de-duplication window for the
	// PAYMENTS stream. It is not the idempotency registry (the per-intent
	// subject is). Default: 2m.
	DuplicateWindow time.Duration `yaml:"duplicate_window"`
	// MaxAge keeps messages of the named stream (PAYMENTS, STATEMENTS, DLQ,
	// OPS) at most this long. Default: forever. An intent id older than the
	// PAYMENTS max age can no longer be recognised as a duplicate by publish.
	MaxAge map[string]time.Duration `yaml:"max_age"`
}

// Ops is the operator HTTP server: /healthz, /readyz, /metrics.
type Ops struct {
	// Listen address. Default: 127.0.0.1:8080. Empty disables the server.
	Listen string `yaml:"listen"`
}

// Publish tunes `isogate publish`.
type Publish struct {
	// InFlight is how many intents may await their JetStream acknowledgement
	// at once. Default: 256.
	InFlight int `yaml:"in_flight"`
	// AckTimeout bounds the wait for one acknowledgement. Default: 10s.
	AckTimeout time.Duration `yaml:"ack_timeout"`
}

// Default returns the documented defaults.
func Default() Config {
	return Config{
		DataDir:         "./data",
		ShutdownTimeout: 8 * time.Second,
		Log:             Log{Level: "info", Format: "json"},
		NATS: NATS{
			ConnectTimeout: 5 * time.Second,
			AtomicBatches:  "auto",
			Embedded: Embedded{
				Host:         "127.0.0.1",
				Port:         4222,
				MonitorPort:  8222,
				SyncInterval: "always",
			},
			Streams: Streams{Replicas: 1, DuplicateWindow: 2 * time.Minute},
		},
		Ops:     Ops{Listen: "127.0.0.1:8080"},
		Publish: Publish{InFlight: 256, AckTimeout: 10 * time.Second},
		Workers: append([]string(nil), AllWorkers...),
		Bank: Bank{
			Channel: ChannelBanksim,
			Banksim: Banksim{Addr: "127.0.0.1:0", Profile: "ekase", Seed: 1, Process: time.Second, Settle: 2 * time.Second},
			H2H:     H2H{CertStore: "data/certs", Sign: "none", Timeout: 30 * time.Second, TLSResumption: "on"},
		},
		Encoder:      Encoder{DefaultProfile: "ekase", Wait: 2 * time.Second},
		Submitter:    Submitter{UploadTimeout: time.Minute, Concurrency: 4},
		StatusPoller: StatusPoller{FirstDelay: 2 * time.Second, Interval: 2 * time.Second, MaxInterval: 5 * time.Minute},
		Statements:   Statements{Tick: 30 * time.Second, Intraday: 15 * time.Minute, Retry: time.Minute, RequestTimeout: time.Minute},
	}
}

// BanksimTLSDir is where the in-process simulated bank keeps its TLS files:
// bank.banksim.tls_dir, or <data_dir>/banksim-tls.
func (c *Config) BanksimTLSDir() string {
	if c.Bank.Banksim.TLSDir != "" {
		return c.Bank.Banksim.TLSDir
	}
	return filepath.Join(c.DataDir, "banksim-tls")
}

// RunsWorker reports whether name is among the configured workers.
func (c *Config) RunsWorker(name string) bool { return slices.Contains(c.Workers, name) }

// Load returns the defaults, overlaid by the YAML file at path (when path is
// not empty) and then by ISOGATE_* variables read through getenv. Unknown
// YAML keys are errors. Load does not validate: apply flags, then call
// Validate.
func Load(path string, getenv func(string) string) (Config, error) {
	cfg := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("config: reading %s: %w", path, err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) { // io.EOF: an empty file
			return cfg, fmt.Errorf("config: %s: %w", path, err)
		}
	}
	if err := applyEnv(reflect.ValueOf(&cfg).Elem(), EnvPrefix, getenv); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// EnvNames lists every environment variable Load reads, in tree order.
func EnvNames() []string {
	var names []string
	walkLeaves(reflect.TypeOf(Config{}), EnvPrefix, func(name string, _ reflect.Type) {
		names = append(names, name)
	})
	return names
}

func walkLeaves(t reflect.Type, prefix string, fn func(name string, t reflect.Type)) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := yamlName(f)
		if tag == "" {
			continue
		}
		name := prefix + strings.ToUpper(tag)
		if f.Type.Kind() == reflect.Struct {
			walkLeaves(f.Type, name+"_", fn)
			continue
		}
		if f.Type.Kind() == reflect.Map || (f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() != reflect.String) {
			continue // maps and lists of records are set in YAML only
		}
		fn(name, f.Type)
	}
}

func yamlName(f reflect.StructField) string {
	tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if tag == "-" {
		return ""
	}
	return tag
}

var durationType = reflect.TypeOf(time.Duration(0))

func applyEnv(v reflect.Value, prefix string, getenv func(string) string) error {
	t := v.Type()
	var errs []error
	for i := range t.NumField() {
		f := t.Field(i)
		tag := yamlName(f)
		if tag == "" {
			continue
		}
		name := prefix + strings.ToUpper(tag)
		fv := v.Field(i)
		if f.Type.Kind() == reflect.Struct {
			if err := applyEnv(fv, name+"_", getenv); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		raw := getenv(name)
		if raw == "" {
			continue
		}
		if err := setScalar(fv, raw); err != nil {
			errs = append(errs, fmt.Errorf("config: %s=%q: %w", name, raw, err))
		}
	}
	return errors.Join(errs...)
}

// setScalar parses raw into a string, int, bool or duration field.
func setScalar(fv reflect.Value, raw string) error {
	switch {
	case fv.Type() == durationType:
		d, err := time.ParseDuration(raw)
		if err != nil {
			return errors.New("not a duration (e.g. 30s, 2m, 1h)")
		}
		fv.SetInt(int64(d))
	case fv.Kind() == reflect.String:
		fv.SetString(raw)
	case fv.Kind() == reflect.Int:
		n, err := strconv.Atoi(raw)
		if err != nil {
			return errors.New("not a whole number")
		}
		fv.SetInt(int64(n))
	case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.String:
		var list []string
		for _, item := range strings.Split(raw, ",") {
			if item = strings.TrimSpace(item); item != "" {
				list = append(list, item)
			}
		}
		fv.Set(reflect.ValueOf(list).Convert(fv.Type()))
	case fv.Kind() == reflect.Int64:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return errors.New("not a whole number")
		}
		fv.SetInt(n)
	case fv.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return errors.New("not true or false")
		}
		fv.SetBool(b)
	default:
		return fmt.Errorf("cannot be set from the environment (%s)", fv.Type())
	}
	return nil
}

// UnknownEnv returns the ISOGATE_* variables of environ that no setting
// reads, except those in also (variables other parts of isogate read, such
// as ISOGATE_KEY_PASSPHRASE). A typo in a variable name is otherwise silent.
func UnknownEnv(environ []string, also ...string) []string {
	known := map[string]bool{}
	for _, n := range EnvNames() {
		known[n] = true
	}
	for _, n := range also {
		known[n] = true
	}
	var unknown []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, EnvPrefix) && !known[name] {
			unknown = append(unknown, name)
		}
	}
	return unknown
}

// Embedded reports whether the gateway starts its own NATS server.
func (c *Config) Embedded() bool { return c.NATS.URL == "" }

// SyncAlways reports whether the embedded server fsyncs every write.
func (e Embedded) SyncAlways() bool { return e.SyncInterval == "always" }

// ClientURL is where clients reach NATS: the configured URL, or the embedded
// server's client port.
func (c *Config) ClientURL() string {
	if c.NATS.URL != "" {
		return c.NATS.URL
	}
	host := c.NATS.Embedded.Host
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "nats://" + net.JoinHostPort(host, strconv.Itoa(c.NATS.Embedded.Port))
}

// StoreDir is the embedded server's store directory: the data directory
// itself, under which nats-server keeps JetStream in a "jetstream" folder.
func (c *Config) StoreDir() string { return c.DataDir }

var logLevels = map[string]bool{"debug": true, "info": true, "warn": true, "error": true}

// Validate reports every problem with the configuration at once, each naming
// its setting.
func (c *Config) Validate() error {
	var errs []error
	bad := func(setting, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config: %s: %s", setting, fmt.Sprintf(format, args...)))
	}
	if !logLevels[c.Log.Level] {
		bad("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	if c.Log.Format != "json" && c.Log.Format != "text" {
		bad("log.format", "%q is not json or text", c.Log.Format)
	}
	if c.ShutdownTimeout <= 0 {
		bad("shutdown_timeout", "must be positive")
	}
	if c.NATS.ConnectTimeout <= 0 {
		bad("nats.connect_timeout", "must be positive")
	}
	if c.Embedded() {
		e := c.NATS.Embedded
		if c.DataDir == "" {
			bad("data_dir", "required for the embedded NATS server")
		}
		if e.Port != -1 && (e.Port < 1 || e.Port > 65535) {
			bad("nats.embedded.port", "%d is not a port (1-65535, or -1 for any free port)", e.Port)
		}
		if e.MonitorPort < -1 || e.MonitorPort > 65535 {
			bad("nats.embedded.monitor_port", "%d is not a port (1-65535, 0 to disable, -1 for any free port)", e.MonitorPort)
		}
		if e.Port > 0 && e.Port == e.MonitorPort {
			bad("nats.embedded.monitor_port", "same as nats.embedded.port (%d)", e.Port)
		}
		if e.Host == "" {
			bad("nats.embedded.host", "required")
		}
		if !e.SyncAlways() {
			if d, err := time.ParseDuration(e.SyncInterval); err != nil || d <= 0 {
				bad("nats.embedded.sync_interval", "%q is not \"always\" or a positive duration", e.SyncInterval)
			}
		}
		if e.MaxStore != "" {
			if _, err := ParseBytes(e.MaxStore); err != nil {
				bad("nats.embedded.max_store", "%v", err)
			}
		}
	} else {
		for _, u := range strings.Split(c.NATS.URL, ",") {
			pu, err := url.Parse(strings.TrimSpace(u))
			if err != nil || pu.Host == "" {
				bad("nats.url", "%q is not a URL like nats://host:4222", MaskURL(strings.TrimSpace(u)))
			}
		}
	}
	s := c.NATS.Streams
	if s.Replicas < 1 || s.Replicas > 5 {
		bad("nats.streams.replicas", "%d is not between 1 and 5", s.Replicas)
	}
	if s.DuplicateWindow <= 0 {
		bad("nats.streams.duplicate_window", "must be positive")
	}
	for name, age := range s.MaxAge {
		if !knownStream[name] {
			bad("nats.streams.max_age."+name, "no such stream (PAYMENTS, STATEMENTS, DLQ, OPS)")
		} else if age < 0 {
			bad("nats.streams.max_age."+name, "must not be negative")
		}
	}
	if c.Ops.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Ops.Listen); err != nil {
			bad("ops.listen", "%q is not host:port", c.Ops.Listen)
		}
	}
	if c.Publish.InFlight < 1 || c.Publish.InFlight > 65536 {
		bad("publish.in_flight", "%d is not between 1 and 65536", c.Publish.InFlight)
	}
	if c.Publish.AckTimeout <= 0 {
		bad("publish.ack_timeout", "must be positive")
	}
	c.validateWorkers(bad)
	c.validateBank(bad)
	if c.Encoder.DefaultProfile == "" {
		bad("encoder.default_profile", "required")
	}
	if c.Encoder.Wait <= 0 {
		bad("encoder.wait", "must be positive")
	}
	if h := c.Encoder.MaxHold; h < 0 || (h > 0 && h < c.Encoder.Wait) {
		bad("encoder.max_hold", "%s is neither 0 (10×encoder.wait) nor at least encoder.wait (%s)", h, c.Encoder.Wait)
	}
	if a := c.NATS.AtomicBatches; a != "auto" && a != "on" && a != "off" {
		bad("nats.atomic_batches", "want auto, on or off, got %q", a)
	}
	if c.Submitter.UploadTimeout <= 0 {
		bad("submitter.upload_timeout", "must be positive")
	}
	if c.Submitter.Concurrency < 1 || c.Submitter.Concurrency > 256 {
		bad("submitter.concurrency", "want 1 to 256 batches at once, got %d", c.Submitter.Concurrency)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"first_delay", c.StatusPoller.FirstDelay}, {"interval", c.StatusPoller.Interval}, {"max_interval", c.StatusPoller.MaxInterval}} {
		if d.v <= 0 {
			bad("statuspoller."+d.name, "must be positive")
		}
	}
	if c.StatusPoller.MaxInterval > 0 && c.StatusPoller.MaxInterval < c.StatusPoller.Interval {
		bad("statuspoller.max_interval", "%s is below statuspoller.interval %s", c.StatusPoller.MaxInterval, c.StatusPoller.Interval)
	}
	c.validateStatements(bad)
	if c.CrashAt != "" {
		if _, _, _, err := ParseCrashAt(c.CrashAt); err != nil {
			bad("crash_at", "%v", err)
		}
	}
	return errors.Join(errs...)
}

// ParseCrashAt splits a crash_at setting "WORKER:POINT[:N]" into its parts;
// n is 1 when not given. It checks the shape and the worker, not the point
// (the worker knows its points).
func ParseCrashAt(s string) (worker, point string, n int, err error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return "", "", 0, fmt.Errorf("%q is not WORKER:POINT or WORKER:POINT:N", s)
	}
	worker, point, n = parts[0], parts[1], 1
	if worker != WorkerEncoder && worker != WorkerSubmitter && worker != WorkerStatusPoller {
		return "", "", 0, fmt.Errorf("%q: worker %q has no crash points (encoder, submitter or statuspoller)", s, worker)
	}
	if len(parts) == 3 {
		if n, err = strconv.Atoi(parts[2]); err != nil || n < 1 {
			return "", "", 0, fmt.Errorf("%q: N must be a positive integer", s)
		}
	}
	return worker, point, n, nil
}

func (c *Config) validateWorkers(bad func(setting, format string, args ...any)) {
	if len(c.Workers) == 0 {
		bad("workers", "name at least one of %s", strings.Join(AllWorkers, ", "))
	}
	seen := map[string]bool{}
	for _, w := range c.Workers {
		switch {
		case !slices.Contains(AllWorkers, w):
			bad("workers", "%q is not one of %s", w, strings.Join(AllWorkers, ", "))
		case seen[w]:
			bad("workers", "%q is listed twice", w)
		}
		seen[w] = true
	}
}

func (c *Config) validateBank(bad func(setting, format string, args ...any)) {
	b := c.Bank
	switch b.Channel {
	case ChannelBanksim:
		s := b.Banksim
		if _, _, err := net.SplitHostPort(s.Addr); err != nil {
			bad("bank.banksim.addr", "%q is not host:port", s.Addr)
		}
		if s.Profile != "ekase" && s.Profile != "iso2019" {
			bad("bank.banksim.profile", "%q is not ekase or iso2019", s.Profile)
		}
		if s.TLSDir == "" && c.DataDir == "" {
			bad("bank.banksim.tls_dir", "required when data_dir is empty")
		}
		if s.Accept < 0 || s.Process < 0 || s.Settle < 0 {
			bad("bank.banksim", "accept, process and settle must not be negative")
		}
	case ChannelH2H:
		h := b.H2H
		if u, err := url.Parse(h.BaseURL); h.BaseURL == "" || err != nil || u.Scheme != "https" || u.Host == "" {
			bad("bank.h2h.base_url", "%q is not an https:// URL", MaskURL(h.BaseURL))
		}
		if h.ServerCAFile == "" {
			bad("bank.h2h.server_ca_file", "required: the bank's server CA is pinned")
		}
		if h.CertStore == "" {
			bad("bank.h2h.cert_store", "required")
		}
		if h.Org == "" {
			bad("bank.h2h.org", "required: the client certificate's organisation in the store")
		}
		if h.Env != "test" && h.Env != "production" {
			bad("bank.h2h.env", "%q is not test or production", h.Env)
		}
		if h.Purpose == "" {
			bad("bank.h2h.purpose", "required: the client certificate's purpose in the store")
		}
		if h.Sign != "none" && h.Sign != "xmldsig" {
			bad("bank.h2h.sign", "%q is not none or xmldsig", h.Sign)
		}
		if h.TLSResumption != "on" && h.TLSResumption != "off" {
			bad("bank.h2h.tls_resumption", "want on or off, got %q", h.TLSResumption)
		}
		if h.Timeout <= 0 {
			bad("bank.h2h.timeout", "must be positive")
		}
	case ChannelFiledrop:
		f := b.Filedrop
		for _, d := range []struct{ name, dir string }{{"outbox", f.Outbox}, {"inbox", f.Inbox}, {"archive", f.Archive}} {
			if d.dir == "" {
				bad("bank.filedrop."+d.name, "required with channel filedrop")
			}
		}
	default:
		bad("bank.channel", "%q is not banksim, h2h or filedrop", b.Channel)
	}
}

func (c *Config) validateStatements(bad func(setting, format string, args ...any)) {
	st := c.Statements
	if st.Tick <= 0 {
		bad("statements.tick", "must be positive")
	}
	if st.Intraday == 0 {
		bad("statements.intraday", "must not be 0 (negative: never)")
	}
	if st.EndOfDayDelay < 0 || st.EndOfDayDelay >= 24*time.Hour {
		bad("statements.end_of_day_delay", "must be in [0, 24h)")
	}
	if st.Retry <= 0 {
		bad("statements.retry", "must be positive")
	}
	if st.RequestTimeout <= 0 {
		bad("statements.request_timeout", "must be positive")
	}
	seen := map[string]bool{}
	for i, a := range st.Accounts {
		name := fmt.Sprintf("statements.accounts[%d]", i)
		switch {
		case a.IBAN == "":
			bad(name+".iban", "required")
		case seen[a.IBAN]:
			bad(name+".iban", "account listed twice")
		}
		seen[a.IBAN] = true
		if a.StartDate != "" {
			if _, err := time.Parse(time.DateOnly, a.StartDate); err != nil {
				bad(name+".start_date", "%q is not YYYY-MM-DD", a.StartDate)
			}
		}
	}
}

var knownStream = map[string]bool{"PAYMENTS": true, "STATEMENTS": true, "DLQ": true, "OPS": true}

// ParseBytes reads a size such as 512MB, 10GB or 1048576.
func ParseBytes(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"TB", 1 << 40}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64/mult { // n*mult must not overflow
		return 0, fmt.Errorf("%q is not a size like 512MB or 10GB", s)
	}
	return n * mult, nil
}

// MaskURL hides the password in a URL's user info.
func MaskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "****")
	} else if u.User.Username() != "" {
		// nats://TOKEN@host carries a token as the user name.
		u.User = url.User("****")
	}
	return u.String()
}

// Masked returns a copy with every secret (a field tagged secret:"true", and
// passwords in URLs) replaced by "****", fit to print or log. Unset secrets
// stay empty, so the output still tells whether one is set.
func (c Config) Masked() Config {
	m := c
	maskSecrets(reflect.ValueOf(&m).Elem())
	m.NATS.URL = maskURLs(c.NATS.URL)
	return m
}

func maskSecrets(v reflect.Value) {
	t := v.Type()
	for i := range t.NumField() {
		f, fv := t.Field(i), v.Field(i)
		switch {
		case f.Type.Kind() == reflect.Struct:
			maskSecrets(fv)
		case f.Tag.Get("secret") == "true" && fv.Kind() == reflect.String && fv.String() != "":
			fv.SetString("****")
		}
	}
}

func maskURLs(list string) string {
	if list == "" {
		return ""
	}
	parts := strings.Split(list, ",")
	for i, p := range parts {
		parts[i] = MaskURL(strings.TrimSpace(p))
	}
	return strings.Join(parts, ",")
}

// YAML renders the configuration as YAML, secrets masked.
func (c Config) YAML() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c.Masked()); err != nil {
		return nil, err
	}
	return buf.Bytes(), enc.Close()
}
