package app

// The bank half of the bad-input catalogue (issue 7): a whole gateway
// (embedded JetStream on disk, every worker) talks over HTTPS + mTLS
// (bank.channel h2h, the client certificate in a certstore) to a hostile
// proxy in front of a real banksim. By default the proxy forwards; per rule
// it replaces one answer — the upload of a batch, the n-th status query of
// a batch, the next report request of an account — with a hostile one. Each
// case asserts its documented outcome on the streams and in the workers'
// logs; at the end every batch is terminal, every accepted intent settled,
// nothing booked twice, and new intents still go through.

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/isogate/isogate/bank"
	"github.com/isogate/isogate/bank/h2h"
	"github.com/isogate/isogate/banksim"
	"github.com/isogate/isogate/certstore"
	"github.com/isogate/isogate/internal/config"
	"github.com/isogate/isogate/internal/intentgen"
	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/workers/reconciler"
	"github.com/isogate/isogate/workers/state"
	"github.com/isogate/isogate/workers/statements"
	"github.com/isogate/isogate/workers/statuspoller"
	"github.com/isogate/isogate/workers/submitter"
)

// Timings of the catalogue gateway: short, so a hostile answer costs
// seconds, not minutes.
const (
	bankCatTimeout    = 5 * time.Second  // bank.h2h.timeout: one request, dial to last byte
	bankCatStatusCap  = 8 << 20          // h2h.Config.MaxStatusBytes here (default 32 MiB), set through Options.H2H
	bankCatWait       = 60 * time.Second // every case's outcome, then the final checks
	bankCatPain002NS  = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"
	bankCatCamt052NS  = "urn:iso:std:iso:20022:tech:xsd:camt.052.001.02"
	bankCatCamt053NS  = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"
	bankCatPassphrase = "catalogue passphrase"
	bankCatHundredMB  = 100 << 20
	bankCatGzipPlain  = 16 << 30 // the gzip bomb inflates to 16 GiB (about 16 MB on the wire)
)

// TestCatalogueBankHostileAnswers is the bank half of the bad-input
// catalogue: see bankCatCases for every case and its documented outcome.
func TestCatalogueBankHostileAnswers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole gateway and a hostile bank")
	}
	start := time.Now()
	x := bankCatStart(t, bankCatCases())
	x.publishCases()

	// Every case's documented outcome.
	deadline := time.Now().Add(bankCatWait)
	pending := slices.Clone(x.cases)
	var lastErr map[string]error
	for len(pending) > 0 {
		lastErr = map[string]error{}
		pending = slices.DeleteFunc(pending, func(c *bankCatCase) bool {
			err := c.check(x, c)
			lastErr[c.name] = err
			return err == nil
		})
		if len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, c := range pending {
				t.Errorf("case %q (want: %s): %v", c.name, c.outcome, lastErr[c.name])
			}
			x.dumpLog()
			t.FailNow()
		}
		x.pause(100 * time.Millisecond)
	}
	t.Logf("%d cases hold after %s", len(x.cases), time.Since(start).Round(100*time.Millisecond))

	// The hostile answers are one-shot and all spent: every batch reaches
	// its terminal state, every accepted intent is settled, nothing is
	// booked twice, and the workers still take new intents.
	x.finalChecks()
	t.Logf("catalogue done in %s", time.Since(start).Round(100*time.Millisecond))
}

// bankCatCase is one hostile answer (or a few for one batch) and what the
// gateway must make of it.
type bankCatCase struct {
	name    string
	outcome string // the documented outcome, as in docs/RELIABILITY.md
	intents int    // intents of its own batch (0: a report or TLS case)
	account string // report cases: the account whose next request is answered
	start   string // report cases: statements start_date ("" none)
	rules   []*bankCatRule
	// failed: the batch must end failed (pay.batch.failed), not accepted.
	failed bool
	// check returns nil once the documented outcome is visible.
	check func(x *bankCatEnv, c *bankCatCase) error

	ids []string // its intent ids (set by bankCatStart)
}

// bankCatRule replaces one answer of the bank.
type bankCatRule struct {
	op string // "upload", "status", "reports"
	n  int    // upload/status: the n-th request for the case's batch (1-based); 0: the next one
	// polled: a status rule answers only the status poller, whose queries
	// come after pay.batch.submitted (the submitter's in-doubt queries come
	// before it).
	polled  bool
	family  string // reports: camt.052, camt.053 or camt.054 (the account is the case's)
	real    bool   // ask the bank first (upload: forward the file) and pass its answer
	answer  func(w http.ResponseWriter, r *http.Request, h *bankCatHit)
	caseRef *bankCatCase

	// guarded by bankCatProxy.mu
	fired    bool
	firedAt  time.Time
	msgID    string        // the batch MsgId (upload, status) or camt.060 MsgId (reports)
	written  int64         // body bytes the hostile answer got out (or decompressed bytes for gzip)
	held     time.Duration // how long the answer kept the connection before the client gave up
	encoding string        // the request's Accept-Encoding
	body     []byte        // the hostile body as served (small answers only)
}

// bankCatHit is what an answer gets to work with.
type bankCatHit struct {
	p     *bankCatProxy
	rule  *bankCatRule
	msgID string
	real  *bankCatResp // the bank's own answer when rule.real
}

type bankCatResp struct {
	code  int
	ctype string
	body  []byte
}

// serve writes a complete answer and records its body.
func (h *bankCatHit) serve(w http.ResponseWriter, code int, ctype string, body []byte) {
	h.p.mu.Lock()
	h.rule.body = body
	h.p.mu.Unlock()
	if ctype != "" {
		w.Header().Set("Content-Type", ctype)
	}
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// bankCatProxy is the hostile bank: an HTTPS server with client
// certificate auth in front of banksim.
type bankCatProxy struct {
	t       *testing.T
	bankURL string
	fwd     *http.Client
	srv     *http.Server
	url     string
	done    chan struct{}
	other   string // the redirect target
	// submitted reports whether pay.batch.submitted of a MsgId is stored.
	submitted func(msgID string) bool
	good      *tls.Certificate
	rogue     *tls.Certificate

	mu          sync.Mutex
	intentCase  map[string]*bankCatCase // intent id → case
	batchCase   map[string]*bankCatCase // MsgId → case
	caseBatch   map[*bankCatCase]string // case → MsgId
	rules       []*bankCatRule
	uploads     map[string][]string // MsgId → SHA-256 of each upload that reached the proxy
	bankUploads map[string][]int    // MsgId → the bank's status code for each upload forwarded
	statusN     map[string]int      // MsgId → status queries
	rogueLeft   int
	rogueConns  map[string]bool // remote addresses served the rogue certificate
	onRogue     int             // requests that arrived over such a connection (must stay 0)
	tlsErrors   []string        // the server's TLS handshake errors
	otherHits   int             // requests that reached the redirect target (must stay 0)
}

// bankCatEnv is the running catalogue.
type bankCatEnv struct {
	t      *testing.T
	ctx    context.Context
	g      *Gateway
	bank   *banksim.Server
	p      *bankCatProxy
	log    *bankCatLog
	ev     *bankCatEvents
	cases  []*bankCatCase
	other  string // URL of the redirect target
	secret string // the content of the file the XXE case points at
}

// pause waits d for the gateway to make progress (a bounded poll step).
func (x *bankCatEnv) pause(d time.Duration) {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-x.ctx.Done():
	}
}

func bankCatStart(t *testing.T, cases []*bankCatCase) *bankCatEnv {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	x := &bankCatEnv{t: t, ctx: ctx, cases: cases, log: &bankCatLog{}, ev: &bankCatEvents{}}

	// Accounts: the demo's eight debtors carry the payments; every report
	// case has an account of its own.
	accounts := banksim.DefaultAccounts()
	payers := accounts[:8]
	for i, c := range cases {
		if c.intents == 0 && c.rules != nil && c.rules[0].op == "reports" {
			c.account = messages.ComposeIBAN("LV", fmt.Sprintf("TREL%013d", 2190456002000+i))
			accounts = append(accounts, banksim.Account{IBAN: c.account, Currency: "EUR", Balance: "1000000.00"})
		}
		for _, r := range c.rules {
			r.caseRef = c
		}
	}
	logger := slog.New(slog.NewJSONHandler(x.log, &slog.HandlerOptions{Level: slog.LevelInfo}))

	// The real bank.
	bankDir := filepath.Join(dir, "banksim-tls")
	bs, err := banksim.Start(banksim.Config{Accounts: accounts, Seed: 7, Log: logger.With("component", "banksim"),
		Delays: banksim.Delays{Process: 100 * time.Millisecond, Settle: 200 * time.Millisecond}}, "127.0.0.1:0", bankDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bs.Close() })
	x.bank = bs

	// The host a redirect points at: it must never be asked.
	otherSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		x.p.mu.Lock()
		x.p.otherHits++
		x.p.mu.Unlock()
		_, _ = io.WriteString(w, "{}")
	}), ReadHeaderTimeout: 5 * time.Second}
	oln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = otherSrv.Serve(oln) }()
	t.Cleanup(func() { _ = otherSrv.Close() })
	x.other = "http://" + oln.Addr().String()

	// The hostile proxy, serving banksim's server certificate.
	x.p = bankCatNewProxy(t, bs)
	x.p.other = x.other
	x.p.submitted = func(id string) bool { return len(x.ev.list(messages.BatchSubmittedSubject(id))) > 0 }
	for _, c := range cases {
		x.p.rules = append(x.p.rules, c.rules...)
	}
	// The first TLS handshakes of the gateway get a certificate from
	// another CA (case "tls: server certificate from another CA").
	x.p.rogueLeft = 2

	// The XXE case's target.
	x.secret = "bankcat-secret-" + hex.EncodeToString(bankCatRandom(8))
	secretFile := filepath.Join(dir, "secret.txt")
	if err := os.WriteFile(secretFile, []byte(x.secret), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if strings.Contains(c.name, "XXE") {
			c.rules[0].answer = bankCatXXE(secretFile)
		}
	}

	// The client certificate, imported into a certstore as an operator
	// would (`isogate cert import`).
	certDir := filepath.Join(dir, "certs")
	store, err := certstore.Open(certstore.Options{Dir: certDir, Passphrase: []byte(bankCatPassphrase), KDFIterations: 1000})
	if err != nil {
		t.Fatal(err)
	}
	pemData := slices.Concat(bankCatRead(t, bs.TLS.ClientCert), bankCatRead(t, bs.TLS.ClientKey))
	pair, err := certstore.ParsePEM(pemData, nil)
	if err != nil {
		t.Fatal(err)
	}
	ref := certstore.Ref{Org: "bankcat", Env: certstore.EnvTest, Purpose: "ekase"}
	if err := store.Import(ref, pair); err != nil {
		t.Fatal(err)
	}

	cfg := config.Default()
	cfg.DataDir = dir
	cfg.NATS.Embedded.Port = -1
	cfg.NATS.Embedded.MonitorPort = 0
	cfg.NATS.Embedded.SyncInterval = "1s"
	cfg.Ops.Listen = ""
	cfg.Log.Level = "info"
	cfg.Encoder.Wait = 300 * time.Millisecond
	cfg.Bank.Channel = config.ChannelH2H
	cfg.Bank.H2H.BaseURL = x.p.url
	cfg.Bank.H2H.ServerCAFile = bs.TLS.CA
	cfg.Bank.H2H.CertStore = certDir
	cfg.Bank.H2H.Org, cfg.Bank.H2H.Env, cfg.Bank.H2H.Purpose = ref.Org, ref.Env, ref.Purpose
	cfg.Bank.H2H.Timeout = bankCatTimeout
	cfg.Statements.Tick = 200 * time.Millisecond
	cfg.Statements.Intraday = time.Second
	cfg.Statements.Retry = time.Second
	cfg.Statements.RequestTimeout = 3 * time.Second
	yesterday := time.Now().UTC().Add(-24 * time.Hour).Format(time.DateOnly)
	for _, a := range payers {
		cfg.Statements.Accounts = append(cfg.Statements.Accounts, config.StatementAccount{IBAN: a.IBAN, Currency: "EUR"})
	}
	for _, c := range cases {
		if c.account != "" {
			sa := config.StatementAccount{IBAN: c.account, Currency: "EUR"}
			if c.start == "yesterday" {
				sa.StartDate = yesterday
			}
			cfg.Statements.Accounts = append(cfg.Statements.Accounts, sa)
		}
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	opts := Options{
		KeyPassphrase: []byte(bankCatPassphrase),
		// A smaller answer cap than the default 32 MiB keeps the size-limit
		// cases fast under -race on a loaded machine; it is the same code path.
		H2H: func(c *h2h.Config) { c.MaxStatusBytes = bankCatStatusCap },
		Submitter: func(c *submitter.Config) {
			c.UploadTimeout = 6 * time.Second
			c.ClockSkew = 500 * time.Millisecond
			c.StatusTimeout = 3 * time.Second
			c.Backoff = []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond}
			c.Concurrency = 8
		},
		StatusPoller: func(c *statuspoller.Config) {
			c.Schedule = statuspoller.Schedule{FirstDelay: 200 * time.Millisecond, Interval: 250 * time.Millisecond,
				MaxInterval: time.Second, Multiplier: 2}
			c.ListInterval = 2 * time.Second
			c.StatusTimeout = 3 * time.Second
			c.Concurrency = 8
		},
		Statements: func(c *statements.Config) {
			for i := range c.Accounts {
				c.Accounts[i].Schedule = statements.Schedule{Intraday: time.Second, Retry: time.Second}
			}
		},
		Reconciler: func(c *reconciler.Config) {
			c.Backoff = []time.Duration{200 * time.Millisecond, 500 * time.Millisecond, time.Second}
			c.MaxDeliver = 200
		},
	}
	gctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	g, err := StartWith(gctx, &cfg, logger, opts)
	if err != nil {
		stop()
		t.Fatal(err)
	}
	x.g = g
	runDone := make(chan error, 1)
	go func() { runDone <- g.Run(gctx) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-runDone:
			if err != nil {
				t.Errorf("gateway shutdown: %v", err)
			}
		case <-time.After(cfg.ShutdownTimeout + 5*time.Second):
			t.Error("gateway did not stop within its shutdown timeout")
		}
	})

	// Follow every stream from its first message.
	for _, stream := range []string{messages.StreamPayments, messages.StreamStatements, messages.StreamDLQ} {
		cons, err := g.JS.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		cc, err := cons.Consume(func(m jetstream.Msg) { x.ev.add(m.Subject(), m.Data()) })
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cc.Stop)
	}

	// Intents: each case's batch is its own (debtor, execution date) group.
	x.p.mu.Lock()
	for i, c := range cases {
		for j := range c.intents {
			id := fmt.Sprintf("BCAT-%02d-%d", i, j)
			c.ids = append(c.ids, id)
			x.p.intentCase[id] = c
		}
	}
	x.p.mu.Unlock()
	return x
}

// bankCatIntent is intent id of case slot i: debtor i%8 of the demo's,
// execution date 2026-12-01 + i/8 days, so it is alone in its batch.
func (x *bankCatEnv) intent(id string, slot, n int) messages.PaymentIntent {
	p := intentgen.Intents(1, intentgen.Options{Prefix: "BCATGEN", Seed: uint64(slot*10 + n + 1)})[0]
	p.ID = id
	p.Debtor.IBAN = banksim.DefaultAccounts()[slot%8].IBAN
	p.Debtor.BIC = "TRELLV22"
	p.ExecutionDate = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, slot/8).Format(time.DateOnly)
	p.Creditor.IBAN = messages.ComposeIBAN("LV", fmt.Sprintf("HABA%013d", 5000000000000+slot*10+n))
	p.Remittance = "Bad-input catalogue " + id
	p.CreditorReference = ""
	p.Amount = fmt.Sprintf("%d.%02d", 10+slot, n)
	return p
}

func (x *bankCatEnv) publish(ps ...messages.PaymentIntent) {
	x.t.Helper()
	for _, p := range ps {
		data, err := messages.Marshal(p)
		if err != nil {
			x.t.Fatal(err)
		}
		m := nats.NewMsg(messages.IntentSubject(p.ID))
		m.Data = data
		m.Header.Set(messages.HeaderMsgID, p.ID)
		m.Header.Set(messages.HeaderExpectedLastSubjectSeq, "0")
		if _, err := x.g.JS.PublishMsg(x.ctx, m); err != nil {
			x.t.Fatalf("publishing intent %s: %v", p.ID, err)
		}
	}
}

func (x *bankCatEnv) publishCases() {
	var ps []messages.PaymentIntent
	for i, c := range x.cases {
		for j, id := range c.ids {
			ps = append(ps, x.intent(id, i, j))
		}
	}
	x.publish(ps...)
}

// finalChecks: terminal batches, settled intents, the bank's ledger, and
// the workers still at work.
func (x *bankCatEnv) finalChecks() {
	t := x.t
	deadline := time.Now().Add(bankCatWait)
	check := func() error {
		var errs []error
		for _, c := range x.cases {
			if len(c.ids) == 0 {
				continue
			}
			var err error
			if c.failed {
				err = x.batchFailed(c)
			} else {
				err = x.acceptedAndSettled(c.ids...)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("case %q: %w", c.name, err))
			}
		}
		return errors.Join(errs...)
	}
	x.waitFor(deadline, "every case's batch terminal and its intents settled", check)
	// In KV too: every batch settled, but the redirected one failed.
	x.waitFor(deadline, "every batch settled or failed in KV", func() error {
		open, err := x.g.Batches.List(x.ctx, state.Open, state.Encoded, state.Submitting, state.InDoubt, state.Submitted,
			state.Accepted, state.PartiallyAccepted, state.Rejected)
		if err != nil {
			return err
		}
		if len(open) > 0 {
			return fmt.Errorf("batch %s is %s", open[0].ID, open[0].State)
		}
		failed, err := x.g.Batches.List(x.ctx, state.Failed)
		if err != nil {
			return err
		}
		if len(failed) != 1 {
			return fmt.Errorf("%d failed batches, want 1 (the redirected upload)", len(failed))
		}
		return nil
	})

	// Exactly one terminal pay.status per intent, never a conflicting one.
	for _, c := range x.cases {
		for _, id := range c.ids {
			finals := 0
			for _, e := range x.ev.list("pay.status." + id) {
				var s messages.PaymentStatus
				if json.Unmarshal(e.data, &s) == nil && s.Final {
					finals++
				}
			}
			if c.failed && finals != 0 || !c.failed && finals != 1 {
				t.Errorf("case %q: intent %s has %d final pay.status events", c.name, id, finals)
			}
		}
	}

	// The bank: nothing booked twice; every MsgId accepted (202) at most
	// once; the only second upload of a MsgId is the one the lying 404
	// provoked, refused 409 DUPL.
	l := x.bank.Bank.Ledger()
	if l.EndToEndIDsBookedTwice != 0 {
		t.Errorf("ledger: %d EndToEndIds booked twice, want 0", l.EndToEndIDsBookedTwice)
	}
	x.p.mu.Lock()
	dupl := 0
	for id, codes := range x.p.bankUploads {
		accepted := 0
		for _, code := range codes {
			if code == http.StatusAccepted {
				accepted++
			}
			if code == http.StatusConflict {
				dupl++
			}
		}
		name := "late intents"
		if c := x.p.batchCase[id]; c != nil {
			name = c.name
		}
		if accepted > 1 || len(codes) > 1 && name != "status 404 for an uploaded MsgId (in-doubt resolution)" {
			t.Errorf("MsgId %s (case %q) reached the bank %d times (codes %v)", id, name, len(codes), codes)
		}
	}
	for id, sums := range x.p.uploads {
		for _, s := range sums[1:] {
			if s != sums[0] {
				t.Errorf("MsgId %s re-sent with other bytes", id)
			}
		}
	}
	if x.p.otherHits != 0 || x.p.onRogue != 0 {
		t.Errorf("the redirect target got %d requests, %d requests came over a rogue-certificate connection; want 0, 0", x.p.otherHits, x.p.onRogue)
	}
	for _, c := range x.cases {
		for _, r := range c.rules {
			if !r.fired {
				t.Errorf("case %q: a hostile answer was never served", c.name)
			}
			if r.written > 0 || r.held > 0 {
				t.Logf("case %q: the proxy got %d (plain) bytes out, the client held on %s", c.name, r.written, r.held.Round(10*time.Millisecond))
			}
		}
	}
	x.p.mu.Unlock()
	if l.DuplicateUploads != dupl || dupl != 1 {
		t.Errorf("ledger: %d duplicate uploads, proxy saw %d 409s; want 1 (the lying 404 case)", l.DuplicateUploads, dupl)
	}

	// No DLQ entry besides the redirected upload's.
	for _, e := range x.ev.list("dlq.") {
		var d messages.DeadLetter
		_ = json.Unmarshal(e.data, &d)
		if !strings.Contains(d.Error, "HTTP 302") {
			t.Errorf("unexpected dead letter on %s: %s", e.subject, d.Error)
		}
	}
	// The XXE target never left its file.
	if x.log.has(x.secret) || x.ev.contains(x.secret) {
		t.Error("the XXE target's content appears in a log or an event")
	}

	// The workers keep running: new intents, published now, settle.
	if !x.g.Router.IsRunning() {
		t.Fatal("the workers' router stopped")
	}
	select {
	case <-x.g.failed:
		t.Fatalf("a worker loop failed: %v", x.g.runErr)
	default:
	}
	var late []string
	var ps []messages.PaymentIntent
	for i := range 3 {
		id := fmt.Sprintf("BCAT-LATE-%d", i)
		late = append(late, id)
		ps = append(ps, x.intent(id, 80+i, 0))
	}
	x.publish(ps...)
	x.waitFor(time.Now().Add(30*time.Second), "the late intents settled", func() error { return x.acceptedAndSettled(late...) })
}

func (x *bankCatEnv) waitFor(deadline time.Time, what string, cond func() error) {
	x.t.Helper()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			x.dumpLog()
			x.t.Fatalf("%s: %v", what, err)
		}
		x.pause(100 * time.Millisecond)
	}
}

func (x *bankCatEnv) dumpLog() {
	lines := x.log.lines()
	from := max(0, len(lines)-150)
	x.t.Logf("last %d of %d gateway log lines:\n%s", len(lines)-from, len(lines), strings.Join(lines[from:], ""))
}

// --- what the streams say -------------------------------------------------

type bankCatEvent struct {
	subject string
	data    []byte
	at      time.Time
}

type bankCatEvents struct {
	mu  sync.Mutex
	all []bankCatEvent
}

func (e *bankCatEvents) add(subject string, data []byte) {
	e.mu.Lock()
	e.all = append(e.all, bankCatEvent{subject, slices.Clone(data), time.Now()})
	e.mu.Unlock()
}

// list returns the events whose subject starts with prefix, in stream order.
func (e *bankCatEvents) list(prefix string) []bankCatEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []bankCatEvent
	for _, ev := range e.all {
		if strings.HasPrefix(ev.subject, prefix) {
			out = append(out, ev)
		}
	}
	return out
}

func (e *bankCatEvents) contains(s string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range e.all {
		if bytes.Contains(ev.data, []byte(s)) {
			return true
		}
	}
	return false
}

// acceptedAndSettled: each intent has a final ACSC pay.status and a
// pay.settled.
func (x *bankCatEnv) acceptedAndSettled(ids ...string) error {
	for _, id := range ids {
		st := x.ev.list("pay.status." + id)
		final := false
		for _, e := range st {
			var s messages.PaymentStatus
			if json.Unmarshal(e.data, &s) == nil && s.Final {
				if s.Status != messages.TxStatusACSC {
					return fmt.Errorf("intent %s: final status %s, want ACSC", id, s.Status)
				}
				final = true
			}
		}
		if !final {
			return fmt.Errorf("intent %s: no final pay.status yet (%d status events)", id, len(st))
		}
		if len(x.ev.list("pay.settled."+id)) != 1 {
			return fmt.Errorf("intent %s: not settled yet", id)
		}
	}
	return nil
}

func (x *bankCatEnv) batchFailed(c *bankCatCase) error {
	id := x.p.batchOf(c)
	if id == "" {
		return errors.New("no upload seen yet")
	}
	fs := x.ev.list(messages.BatchFailedSubject(id))
	if len(fs) != 1 {
		return fmt.Errorf("batch %s: %d pay.batch.failed events", id, len(fs))
	}
	var f messages.BatchFailed
	if err := json.Unmarshal(fs[0].data, &f); err != nil {
		return err
	}
	if !f.Permanent || !slices.Equal(f.IntentIDs, c.ids) {
		return fmt.Errorf("pay.batch.failed %+v: want permanent, intents %v", f, c.ids)
	}
	for _, id := range c.ids {
		if n := len(x.ev.list("pay.settled." + id)); n != 0 {
			return fmt.Errorf("intent %s of a failed batch settled", id)
		}
	}
	return nil
}

// inDoubt returns the reasons of the batch's pay.batch.in_doubt events.
func (x *bankCatEnv) inDoubt(batch string) []string {
	var out []string
	for _, e := range x.ev.list(messages.BatchInDoubtSubject(batch)) {
		var d messages.BatchInDoubt
		if json.Unmarshal(e.data, &d) == nil {
			out = append(out, d.Reason)
		}
	}
	return out
}

// gaps returns the stmt.gap events of an account.
func (x *bankCatEnv) gaps(account string) []messages.StatementGap {
	var out []messages.StatementGap
	for _, e := range x.ev.list(messages.StatementGapSubject(account)) {
		var g messages.StatementGap
		if json.Unmarshal(e.data, &g) == nil {
			out = append(out, g)
		}
	}
	return out
}

// entries returns the stmt.entry events of an account.
func (x *bankCatEnv) entries(account string) []messages.StatementEntry {
	var out []messages.StatementEntry
	for _, e := range x.ev.list("stmt.entry." + messages.SubjectToken(account) + ".") {
		var s messages.StatementEntry
		if json.Unmarshal(e.data, &s) == nil {
			out = append(out, s)
		}
	}
	return out
}

// reportAfter reports whether the account had a stmt.report from the bank's
// own data (MsgId BSIM…) after t: the statements worker still works for it.
func (x *bankCatEnv) reportAfter(account string, t time.Time) bool {
	for _, e := range x.ev.list(messages.StatementReportSubject(account)) {
		var r messages.StatementReport
		if json.Unmarshal(e.data, &r) == nil && strings.HasPrefix(r.MsgID, "BSIM") && e.at.After(t) {
			return true
		}
	}
	return false
}

// --- what the logs say ----------------------------------------------------

type bankCatLog struct {
	mu  sync.Mutex
	buf []string
}

func (l *bankCatLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.buf = append(l.buf, string(p))
	l.mu.Unlock()
	return len(p), nil
}

func (l *bankCatLog) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.buf)
}

// has reports whether one log line contains every s.
func (l *bankCatLog) has(s ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.buf {
		ok := true
		for _, w := range s {
			if !strings.Contains(line, w) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// --- the hostile proxy ----------------------------------------------------

func bankCatNewProxy(t *testing.T, bs *banksim.Server) *bankCatProxy {
	caPEM := bankCatRead(t, bs.TLS.CA)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("banksim CA: no certificate")
	}
	good, err := tls.LoadX509KeyPair(bs.TLS.ServerCert, bs.TLS.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	client, err := tls.LoadX509KeyPair(bs.TLS.ClientCert, bs.TLS.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	p := &bankCatProxy{t: t, bankURL: bs.URL, done: make(chan struct{}), good: &good, rogue: bankCatRogueCert(t),
		intentCase: map[string]*bankCatCase{}, batchCase: map[string]*bankCatCase{}, caseBatch: map[*bankCatCase]string{},
		uploads: map[string][]string{}, bankUploads: map[string][]int{}, statusN: map[string]int{}, rogueConns: map[string]bool{}}
	p.fwd = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, Certificates: []tls.Certificate{client}},
		MaxIdleConnsPerHost: 16, ForceAttemptHTTP2: false, DisableCompression: true,
	}}
	tcfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.rogueLeft > 0 {
				p.rogueLeft--
				p.rogueConns[hello.Conn.RemoteAddr().String()] = true
				return p.rogue, nil
			}
			return p.good, nil
		},
		ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs:  pool,
		NextProtos: []string{"http/1.1"},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.url = "https://" + ln.Addr().String()
	p.srv = &http.Server{
		Handler:           p,
		TLSConfig:         tcfg,
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(bankCatWriter(func(s string) { p.mu.Lock(); p.tlsErrors = append(p.tlsErrors, s); p.mu.Unlock() }), "", 0),
	}
	go func() { _ = p.srv.Serve(tls.NewListener(ln, tcfg)) }()
	t.Cleanup(func() {
		close(p.done)
		_ = p.srv.Close()
		p.fwd.CloseIdleConnections()
	})
	return p
}

type bankCatWriter func(string)

func (f bankCatWriter) Write(p []byte) (int, error) { f(string(p)); return len(p), nil }

func (p *bankCatProxy) batchOf(c *bankCatCase) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.caseBatch[c]
}

// fired returns the case's rule i once it has fired (nil before).
func (p *bankCatProxy) fired(c *bankCatCase, i int) *bankCatRule {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r := c.rules[i]; r.fired {
		return r
	}
	return nil
}

var (
	bankCatE2ERE  = regexp.MustCompile(`<EndToEndId>([^<]+)</EndToEndId>`)
	bankCatIBANRE = regexp.MustCompile(`<IBAN>([^<]+)</IBAN>`)
	bankCatFamRE  = regexp.MustCompile(`<ReqdMsgNmId>(camt\.05[234])`)
	bankCatCodeRE = regexp.MustCompile(`^[A-Z]{4}$`)
)

func (p *bankCatProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	if p.rogueConns[r.RemoteAddr] {
		p.onRogue++
	}
	p.mu.Unlock()
	var body []byte
	if r.Body != nil {
		var err error
		if body, err = io.ReadAll(io.LimitReader(r.Body, 64<<20)); err != nil {
			return
		}
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/payments":
		p.upload(w, r, body)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/payments/") && strings.HasSuffix(r.URL.Path, "/status"):
		id, _ := url.PathUnescape(strings.TrimSuffix(strings.TrimPrefix(r.URL.EscapedPath(), "/v1/payments/"), "/status"))
		p.status(w, r, id)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/reports":
		p.reports(w, r, body)
	default:
		p.copy(w, p.forward(r, body))
	}
}

func (p *bankCatProxy) upload(w http.ResponseWriter, r *http.Request, body []byte) {
	msgID := bank.RequestMsgID(body)
	sum := sha256.Sum256(body)
	p.mu.Lock()
	p.uploads[msgID] = append(p.uploads[msgID], hex.EncodeToString(sum[:]))
	n := len(p.uploads[msgID])
	c := p.batchCase[msgID]
	if c == nil {
		for _, m := range bankCatE2ERE.FindAllSubmatch(body, -1) {
			if c = p.intentCase[string(m[1])]; c != nil {
				p.batchCase[msgID], p.caseBatch[c] = c, msgID
				break
			}
		}
	}
	rule := p.take(c, "upload", n, "", "", msgID)
	p.mu.Unlock()
	if rule == nil {
		p.copy(w, p.forwardUpload(r, msgID, body))
		return
	}
	h := &bankCatHit{p: p, rule: rule, msgID: msgID}
	if rule.real {
		h.real = p.forwardUpload(r, msgID, body)
	}
	rule.answer(w, r, h)
}

func (p *bankCatProxy) forwardUpload(r *http.Request, msgID string, body []byte) *bankCatResp {
	resp := p.forward(r, body)
	p.mu.Lock()
	p.bankUploads[msgID] = append(p.bankUploads[msgID], resp.code)
	p.mu.Unlock()
	return resp
}

func (p *bankCatProxy) status(w http.ResponseWriter, r *http.Request, msgID string) {
	p.mu.Lock()
	p.statusN[msgID]++
	rule := p.take(p.batchCase[msgID], "status", p.statusN[msgID], "", "", msgID)
	p.mu.Unlock()
	if rule == nil {
		p.copy(w, p.forward(r, nil))
		return
	}
	h := &bankCatHit{p: p, rule: rule, msgID: msgID}
	if rule.real {
		h.real = p.forward(r, nil)
	}
	rule.answer(w, r, h)
}

func (p *bankCatProxy) reports(w http.ResponseWriter, r *http.Request, body []byte) {
	var iban, fam string
	if m := bankCatIBANRE.FindSubmatch(body); m != nil {
		iban = string(m[1])
	}
	if m := bankCatFamRE.FindSubmatch(body); m != nil {
		fam = string(m[1])
	}
	msgID := bank.RequestMsgID(body)
	p.mu.Lock()
	rule := p.take(nil, "reports", 0, iban, fam, msgID)
	p.mu.Unlock()
	if rule == nil {
		p.copy(w, p.forward(r, body))
		return
	}
	h := &bankCatHit{p: p, rule: rule, msgID: msgID}
	if rule.real {
		h.real = p.forward(r, body)
	}
	rule.answer(w, r, h)
}

// take returns the rule that answers this request and marks it fired;
// p.mu is held.
func (p *bankCatProxy) take(c *bankCatCase, op string, n int, account, fam, msgID string) *bankCatRule {
	for _, r := range p.rules {
		if r.fired || r.op != op {
			continue
		}
		switch op {
		case "reports":
			if r.caseRef.account != account || r.family != fam {
				continue
			}
		default:
			if r.caseRef != c || r.n != 0 && r.n != n || r.polled && !p.submitted(msgID) {
				continue
			}
		}
		r.fired, r.firedAt, r.msgID = true, time.Now(), msgID
		return r
	}
	return nil
}

// forward asks banksim the same question.
func (p *bankCatProxy) forward(r *http.Request, body []byte) *bankCatResp {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, p.bankURL+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return &bankCatResp{code: http.StatusBadGateway, ctype: "text/plain", body: []byte(err.Error())}
	}
	if body == nil {
		req.Body = nil
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := p.fwd.Do(req)
	if err != nil {
		return &bankCatResp{code: http.StatusBadGateway, ctype: "text/plain", body: []byte(err.Error())}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return &bankCatResp{code: http.StatusBadGateway, ctype: "text/plain", body: []byte(err.Error())}
	}
	return &bankCatResp{code: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), body: data}
}

func (p *bankCatProxy) copy(w http.ResponseWriter, resp *bankCatResp) {
	if resp.ctype != "" {
		w.Header().Set("Content-Type", resp.ctype)
	}
	w.WriteHeader(resp.code)
	_, _ = w.Write(resp.body)
}

// --- hostile answers ------------------------------------------------------

// bankCatFixed answers code, content type and body.
func bankCatFixed(code int, ctype, body string) func(http.ResponseWriter, *http.Request, *bankCatHit) {
	return func(w http.ResponseWriter, r *http.Request, h *bankCatHit) { h.serve(w, code, ctype, []byte(body)) }
}

// bankCatMutate answers the bank's own answer, changed by f.
func bankCatMutate(f func(h *bankCatHit, body []byte) []byte) func(http.ResponseWriter, *http.Request, *bankCatHit) {
	return func(w http.ResponseWriter, r *http.Request, h *bankCatHit) {
		h.serve(w, h.real.code, h.real.ctype, f(h, slices.Clone(h.real.body)))
	}
}

// bankCatStream answers 200 and writes chunk after chunk until total
// bytes, the client hangs up, or the proxy stops; it records what got out.
func bankCatStream(prefix string, chunk byte, total int64) func(http.ResponseWriter, *http.Request, *bankCatHit) {
	return func(w http.ResponseWriter, r *http.Request, h *bankCatHit) {
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("Content-Length", fmt.Sprint(total))
		w.WriteHeader(http.StatusOK)
		out := w
		buf := bytes.Repeat([]byte{chunk}, 64<<10)
		written := int64(0)
		if n, err := io.WriteString(out, prefix); err == nil {
			written += int64(n)
			for written < total && r.Context().Err() == nil {
				n, err := out.Write(buf[:min(int64(len(buf)), total-written)])
				written += int64(n)
				if err != nil {
					break
				}
			}
		}
		h.p.mu.Lock()
		h.rule.written = written
		h.p.mu.Unlock()
		if written < total {
			panic(http.ErrAbortHandler) // the client hung up: never end the body
		}
	}
}

// bankCatGzipBomb answers 200 with Content-Encoding gzip: the start of a
// pain.002, then the same compressed member (1 MiB of spaces in about 1 KB)
// again and again — a multistream gzip that inflates to plain bytes — until
// the client hangs up; it records how many plain bytes it sent.
func bankCatGzipBomb(prefix string, plain int64) func(http.ResponseWriter, *http.Request, *bankCatHit) {
	member := func(data []byte) []byte {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		_, _ = zw.Write(data)
		_ = zw.Close()
		return b.Bytes()
	}
	head, spaces := member([]byte(prefix)), member(bytes.Repeat([]byte{' '}, 1<<20))
	return func(w http.ResponseWriter, r *http.Request, h *bankCatHit) {
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("Content-Encoding", "gzip")
		w.WriteHeader(http.StatusOK)
		h.p.mu.Lock()
		h.rule.encoding = r.Header.Get("Accept-Encoding")
		h.p.mu.Unlock()
		rc := http.NewResponseController(w)
		written := int64(0)
		_, err := w.Write(head)
		if err == nil {
			err = rc.Flush() // the status line and headers go out now
		}
		for err == nil && written < plain && r.Context().Err() == nil {
			if _, err = w.Write(spaces); err == nil {
				written += 1 << 20
			}
		}
		h.p.mu.Lock()
		h.rule.written = written
		h.p.mu.Unlock()
		panic(http.ErrAbortHandler) // never a complete answer
	}
}

// bankCatSlow sends the status line and headers (and the start of an
// answer), then one byte per interval — or, with interval 0, nothing more —
// until the client gives up; it records how long that took.
func bankCatSlow(code int, head string, interval time.Duration) func(http.ResponseWriter, *http.Request, *bankCatHit) {
	return func(w http.ResponseWriter, r *http.Request, h *bankCatHit) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, head)
		rc := http.NewResponseController(w)
		_ = rc.Flush()
		began := time.Now()
		var tick <-chan time.Time
		if interval > 0 {
			tk := time.NewTicker(interval)
			defer tk.Stop()
			tick = tk.C
		}
	loop:
		for {
			select {
			case <-r.Context().Done():
				break loop
			case <-h.p.done:
				break loop
			case <-tick:
				if _, err := w.Write([]byte(" ")); err != nil {
					break loop
				}
				if err := rc.Flush(); err != nil {
					break loop
				}
			}
		}
		h.p.mu.Lock()
		h.rule.held = time.Since(began)
		h.p.mu.Unlock()
		// The answer never completes: drop the connection, do not end the body.
		panic(http.ErrAbortHandler)
	}
}

// bankCatDrop closes the connection without an answer.
func bankCatDrop(w http.ResponseWriter, r *http.Request, h *bankCatHit) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

func bankCatXXE(file string) func(http.ResponseWriter, *http.Request, *bankCatHit) {
	return func(w http.ResponseWriter, r *http.Request, h *bankCatHit) {
		body := `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE Document [<!ENTITY xxe SYSTEM "file://` + file + `">]>
<Document xmlns="` + bankCatCamt052NS + `"><BkToCstmrAcctRpt><GrpHdr><MsgId>&xxe;</MsgId></GrpHdr></BkToCstmrAcctRpt></Document>`
		h.serve(w, http.StatusOK, "application/xml", []byte(body))
	}
}

// bankCatPain002 is a pain.002.001.03 for orig with a group status and
// transaction lines {EndToEndId, TxSts}.
func bankCatPain002(orig, grp string, txs ...[2]string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<Document xmlns="` + bankCatPain002NS + `"><CstmrPmtStsRpt><GrpHdr><MsgId>HOSTILE-` + orig[:min(len(orig), 20)] +
		`</MsgId><CreDtTm>2026-11-21T10:00:00.000Z</CreDtTm></GrpHdr><OrgnlGrpInfAndSts><OrgnlMsgId>` + orig +
		`</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.03</OrgnlMsgNmId><GrpSts>` + grp + `</GrpSts>`)
	if grp == "RJCT" {
		b.WriteString(`<StsRsnInf><Rsn><Cd>AC01</Cd></Rsn><AddtlInf>hostile rejection</AddtlInf></StsRsnInf>`)
	}
	b.WriteString(`</OrgnlGrpInfAndSts>`)
	if len(txs) > 0 {
		b.WriteString(`<OrgnlPmtInfAndSts><OrgnlPmtInfId>HOSTILE-PMT</OrgnlPmtInfId>`)
		for _, tx := range txs {
			b.WriteString(`<TxInfAndSts><OrgnlEndToEndId>` + tx[0] + `</OrgnlEndToEndId><TxSts>` + tx[1] + `</TxSts>`)
			switch tx[1] {
			case "RJCT":
				b.WriteString(`<StsRsnInf><Rsn><Cd>AC01</Cd></Rsn></StsRsnInf>`)
			case "ZZZZ": // reasons too long for their ISO types
				b.WriteString(`<StsRsnInf><Rsn><Cd>NOTACODE1</Cd></Rsn></StsRsnInf><StsRsnInf><Rsn><Prtry>` +
					strings.Repeat("P", 40) + `</Prtry></Rsn><AddtlInf>kept</AddtlInf></StsRsnInf>`)
			}
			b.WriteString(`</TxInfAndSts>`)
		}
		b.WriteString(`</OrgnlPmtInfAndSts>`)
	}
	b.WriteString(`</CstmrPmtStsRpt></Document>`)
	return b.String()
}

// bankCatEntry is one camt.05x.001.02 Ntry.
type bankCatEntry struct {
	amount, cd, ref, e2e string
}

// bankCatCamt is a camt.052 (Rpt) or camt.053 (Stmt) .001.02 for iban and
// day, with balances {code, amount} and entries.
func bankCatCamt(fam, id, iban, day string, seq int, bals [][2]string, es ...bankCatEntry) string {
	ns, root, tag := bankCatCamt052NS, "BkToCstmrAcctRpt", "Rpt"
	if fam == "camt.053" {
		ns, root, tag = bankCatCamt053NS, "BkToCstmrStmt", "Stmt"
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<Document xmlns=\"" + ns + `"><` + root + `><GrpHdr><MsgId>` + id +
		`</MsgId><CreDtTm>` + day + `T23:59:59Z</CreDtTm></GrpHdr><` + tag + `><Id>` + id + `</Id>`)
	if seq > 0 {
		fmt.Fprintf(&b, "<ElctrncSeqNb>%d</ElctrncSeqNb>", seq)
	}
	b.WriteString(`<CreDtTm>` + day + `T23:59:59Z</CreDtTm><FrToDt><FrDtTm>` + day + `T00:00:00Z</FrDtTm><ToDtTm>` + day +
		`T23:59:59Z</ToDtTm></FrToDt><Acct><Id><IBAN>` + iban + `</IBAN></Id><Ccy>EUR</Ccy></Acct>`)
	for _, bal := range bals {
		b.WriteString(`<Bal><Tp><CdOrPrtry><Cd>` + bal[0] + `</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">` + bal[1] +
			`</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>` + day + `</Dt></Dt></Bal>`)
	}
	for _, e := range es {
		b.WriteString(`<Ntry><Amt Ccy="EUR">` + e.amount + `</Amt><CdtDbtInd>` + e.cd + `</CdtDbtInd><Sts>BOOK</Sts><BookgDt><DtTm>` + day +
			`T12:00:00Z</DtTm></BookgDt><ValDt><Dt>` + day + `</Dt></ValDt><AcctSvcrRef>` + e.ref +
			`</AcctSvcrRef><BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>ICDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>`)
		if e.e2e != "" {
			b.WriteString(`<NtryDtls><TxDtls><Refs><AcctSvcrRef>` + e.ref + `</AcctSvcrRef><EndToEndId>` + e.e2e +
				`</EndToEndId></Refs></TxDtls></NtryDtls>`)
		}
		b.WriteString(`</Ntry>`)
	}
	b.WriteString(`</` + tag + `></` + root + `></Document>`)
	return b.String()
}

// --- the cases ------------------------------------------------------------

// bankCatStatusCase is a case whose batch is uploaded normally and whose
// first status query (the status poller's) gets a hostile answer: the poll
// fails (logged "status poll failed" with want in the error), nothing is
// applied, the next poll gets the bank's answer and the batch settles.
func bankCatStatusCase(name, outcome, want string, real bool, answer func(http.ResponseWriter, *http.Request, *bankCatHit)) *bankCatCase {
	return &bankCatCase{name: name, outcome: outcome, intents: 1,
		rules: []*bankCatRule{{op: "status", polled: true, real: real, answer: answer}},
		check: func(x *bankCatEnv, c *bankCatCase) error {
			r := x.p.fired(c, 0)
			if r == nil {
				return errors.New("hostile answer not served yet")
			}
			if want != "" && !x.log.has("status poll failed", r.msgID, want) {
				return fmt.Errorf("no \"status poll failed\" log for %s with %q", r.msgID, want)
			}
			return x.acceptedAndSettled(c.ids...)
		}}
}

// bankCatReportCase is a case whose account's next request of family gets
// a hostile answer: the statements poll fails (logged "polling statements
// failed" naming the camt.060 MsgId, with want), nothing of it is
// published, and the account's next poll gets the bank's report.
func bankCatReportCase(name, outcome, fam, want string, real bool, answer func(http.ResponseWriter, *http.Request, *bankCatHit)) *bankCatCase {
	return &bankCatCase{name: name, outcome: outcome,
		rules: []*bankCatRule{{op: "reports", family: fam, real: real, answer: answer}},
		check: func(x *bankCatEnv, c *bankCatCase) error {
			r := x.p.fired(c, 0)
			if r == nil {
				return errors.New("hostile answer not served yet")
			}
			if !x.log.has("polling statements failed", r.msgID, want) {
				return fmt.Errorf("no \"polling statements failed\" log for camt.060 %s with %q", r.msgID, want)
			}
			if !x.reportAfter(c.account, r.firedAt) {
				return errors.New("no stmt.report from the bank's own answer after the hostile one")
			}
			return nil
		}}
}

// uploadsOf returns the uploads of the case's batch that reached the proxy
// and those forwarded to the bank (their status codes).
func (x *bankCatEnv) uploadsOf(c *bankCatCase) (proxy int, bank []int) {
	x.p.mu.Lock()
	defer x.p.mu.Unlock()
	id := x.p.caseBatch[c]
	return len(x.p.uploads[id]), slices.Clone(x.p.bankUploads[id])
}

// bankCatInDoubtThenSettled checks an upload case whose outcome was unknown: a
// pay.batch.in_doubt whose reason has want, then found (or re-sent), and
// the intents accepted and settled; the proxy saw proxyUploads uploads and
// the bank accepted exactly one.
func bankCatInDoubtThenSettled(want string, proxyUploads int) func(x *bankCatEnv, c *bankCatCase) error {
	return func(x *bankCatEnv, c *bankCatCase) error {
		id := x.p.batchOf(c)
		if id == "" || x.p.fired(c, 0) == nil {
			return errors.New("hostile answer not served yet")
		}
		reasons := x.inDoubt(id)
		if !slices.ContainsFunc(reasons, func(s string) bool { return strings.Contains(s, want) }) {
			return fmt.Errorf("batch %s: in_doubt reasons %q, want one with %q", id, reasons, want)
		}
		if err := x.acceptedAndSettled(c.ids...); err != nil {
			return err
		}
		n, codes := x.uploadsOf(c)
		if n != proxyUploads || slices.Index(codes, http.StatusAccepted) < 0 {
			return fmt.Errorf("batch %s: %d uploads, bank answered %v; want %d, one 202", id, n, codes, proxyUploads)
		}
		return nil
	}
}

func bankCatCases() []*bankCatCase {
	billionLaughs := `<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<Document xmlns="` + bankCatPain002NS + `"><CstmrPmtStsRpt><GrpHdr><MsgId>&lol9;</MsgId></GrpHdr></CstmrPmtStsRpt></Document>`
	deep := `<?xml version="1.0"?><Document xmlns="` + bankCatPain002NS + `"><CstmrPmtStsRpt>` +
		strings.Repeat("<a>", 100000) + strings.Repeat("</a>", 100000) + `</CstmrPmtStsRpt></Document>`
	hugeAttr := `<?xml version="1.0"?><Document xmlns="` + bankCatPain002NS + `"><CstmrPmtStsRpt><GrpHdr x="` +
		strings.Repeat("A", 2<<20) + `"/></CstmrPmtStsRpt></Document>`
	manyAttrs := `<?xml version="1.0"?><Document xmlns="` + bankCatPain002NS + `"><CstmrPmtStsRpt><GrpHdr` +
		strings.Repeat(` a=""`, 1_000_000) + `/></CstmrPmtStsRpt></Document>`
	html := "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body><h1>Service temporarily unavailable</h1><br></body></html>\n"
	pain002Head := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<Document xmlns="` + bankCatPain002NS + `"><CstmrPmtStsRpt><GrpHdr><MsgId>`
	today := time.Now().UTC().Format(time.DateOnly)
	yesterday := time.Now().UTC().Add(-24 * time.Hour).Format(time.DateOnly)

	var failedUpload, foreignTx *bankCatCase
	cases := []*bankCatCase{
		// --- pain.002 answers to the status poller ---
		bankCatStatusCase("DOCTYPE with internal entities (billion laughs)",
			"status query error, transient (DOCTYPE not allowed; entities never expanded); retried, batch settles",
			"DOCTYPE not allowed", false, bankCatFixed(200, "application/xml", billionLaughs)),
		bankCatStatusCase("100 MB body, streamed",
			"read stops at the client's cap (h2h MaxStatusBytes: 32 MiB by default, 8 MiB here): transient \"answer larger than\"; retried, batch settles",
			fmt.Sprintf("answer larger than %d bytes", bankCatStatusCap), false,
			bankCatStream(pain002Head, 'A', bankCatHundredMB)),
		bankCatStatusCase("10^5-deep nesting",
			"transient (nesting too deep, limit 64); retried, batch settles", "nesting too deep", false,
			bankCatFixed(200, "application/xml", deep)),
		bankCatStatusCase("truncated XML",
			"transient (malformed XML: unexpected end of input); retried, batch settles", "truncated?", true,
			bankCatMutate(func(h *bankCatHit, b []byte) []byte { return b[:len(b)*2/3] })),
		bankCatStatusCase("empty 200 body",
			"transient (malformed: unexpected end of input); retried, batch settles", "unexpected end of input", false,
			bankCatFixed(200, "application/xml", "")),
		bankCatStatusCase("wrong namespace",
			"transient (unsupported message: namespace); retried, batch settles", "unsupported message", true,
			bankCatMutate(func(h *bankCatHit, b []byte) []byte {
				return bytes.ReplaceAll(b, []byte(bankCatPain002NS), []byte("urn:example:not-iso:pain.002"))
			})),
		bankCatStatusCase("camt.052 where a pain.002 is expected",
			"transient (got camt.052, want pain.002); retried, batch settles", "got camt.052, want pain.002", false,
			func(w http.ResponseWriter, r *http.Request, h *bankCatHit) {
				h.serve(w, 200, "application/xml", []byte(bankCatCamt("camt.052", "HOSTILE-CAMT", "LV00TREL0000000000001", today, 1, nil)))
			}),
		bankCatStatusCase("pain.002 for another batch (OrgnlMsgId of another MsgId)",
			"permanent status error (pain.002 answers OrgnlMsgId …): never applied to either batch; polled again, batch settles",
			"pain.002 answers OrgnlMsgId", false, func(w http.ResponseWriter, r *http.Request, h *bankCatHit) {
				h.p.mu.Lock()
				other := "ISG-NO-SUCH-BATCH"
				for id := range h.p.batchCase {
					if id != h.msgID {
						other = id
						break
					}
				}
				h.p.mu.Unlock()
				h.serve(w, 200, "application/xml", []byte(bankCatPain002(other, "RJCT")))
			}),
		{
			name:    "pain.002 with unknown status codes",
			outcome: "a code of the right form (ZZZZ) is published as a non-final pay.status, never final; a malformed group status (zz9) counts as none; over-long reason codes move to the reason's info (schema kept); the bank's ACSC later makes it final",
			intents: 1,
			rules: []*bankCatRule{{op: "status", polled: true, answer: func(w http.ResponseWriter, r *http.Request, h *bankCatHit) {
				h.p.mu.Lock()
				id := h.rule.caseRef.ids[0]
				h.p.mu.Unlock()
				h.serve(w, 200, "application/xml", []byte(bankCatPain002(h.msgID, "zz9", [2]string{id, "ZZZZ"})))
			}}},
			check: func(x *bankCatEnv, c *bankCatCase) error {
				if x.p.fired(c, 0) == nil {
					return errors.New("hostile answer not served yet")
				}
				var got []string
				for _, e := range x.ev.list("pay.status." + c.ids[0]) {
					var s messages.PaymentStatus
					_ = json.Unmarshal(e.data, &s)
					got = append(got, fmt.Sprintf("%s/%v", s.Status, s.Final))
					// The event keeps its schema: status and group_status
					// are ^[A-Z]{4}$ (group_status may be absent).
					if !bankCatCodeRE.MatchString(string(s.Status)) || s.GroupStatus != "" && !bankCatCodeRE.MatchString(string(s.GroupStatus)) {
						return fmt.Errorf("pay.status %+v breaks its schema (status/group_status ^[A-Z]{4}$)", s)
					}
					for _, r := range s.Reasons {
						if len([]rune(r.Code)) > 4 || len([]rune(r.Proprietary)) > 35 || slices.ContainsFunc(r.Info, func(i string) bool { return len([]rune(i)) > 105 }) {
							return fmt.Errorf("pay.status reason %+v breaks its schema (code ≤ 4, proprietary ≤ 35, info ≤ 105)", r)
						}
					}
					if s.Status == "ZZZZ" && !slices.ContainsFunc(s.Reasons, func(r messages.StatusReason) bool {
						return strings.Contains(strings.Join(r.Info, ""), "reason code NOTACODE1")
					}) {
						return fmt.Errorf("pay.status reasons %+v lost the over-long reason code", s.Reasons)
					}
				}
				if !slices.Contains(got, "ZZZZ/false") {
					return fmt.Errorf("pay.status events %v, want ZZZZ non-final among them", got)
				}
				return x.acceptedAndSettled(c.ids...)
			},
		},
	}
	foreignTx = &bankCatCase{
		name:    "pain.002 with a transaction for an EndToEndId not in the batch",
		outcome: "the foreign line is ignored (no pay.status for that EndToEndId, which is another batch's intent); PART fans out to nobody; batch settles on the bank's answer",
		intents: 1,
	}
	cases = append(cases, foreignTx)
	cases = append(cases,
		bankCatStatusCase("non-UTF-8 bytes",
			"transient (malformed XML: invalid UTF-8); retried, batch settles", "invalid UTF-8", true,
			bankCatMutate(func(h *bankCatHit, b []byte) []byte {
				return bytes.Replace(b, []byte("<MsgId>BSIM-"), []byte("<MsgId>BSIM\xff\xfe-"), 1)
			})),
		bankCatStatusCase("declared encoding other than UTF-8 (windows-1257)",
			"transient (unsupported character encoding); retried, batch settles", "unsupported character encoding", true,
			bankCatMutate(func(h *bankCatHit, b []byte) []byte {
				return bytes.Replace(b, []byte(`encoding="UTF-8"`), []byte(`encoding="windows-1257"`), 1)
			})),
		bankCatStatusCase("huge attribute (2 MiB)",
			"transient (token too large, limit 1 MiB); retried, batch settles", "token too large", false,
			bankCatFixed(200, "application/xml", hugeAttr)),
		bankCatStatusCase("a million attributes",
			"transient (token too large: the start tag passes 1 MiB before the attribute count limit of 64); retried, batch settles",
			"token too large", false, bankCatFixed(200, "application/xml", manyAttrs)),
		bankCatStatusCase("HTML error page with 200",
			"transient (malformed: not XML / not a pain.002); retried, batch settles", "malformed", false,
			bankCatFixed(200, "text/html", html)),
		bankCatStatusCase("JSON where XML is expected",
			"transient (malformed XML); retried, batch settles", "malformed", false,
			bankCatFixed(200, "application/json", `{"status":"ACSC","msg_id":"x"}`)),
		bankCatStatusCase("5xx with a pain.002 (RJCT) body",
			"transient (HTTP 503): the RJCT in the body is never applied (no RJCT pay.status); retried, batch settles", "HTTP 503", false,
			func(w http.ResponseWriter, r *http.Request, h *bankCatHit) {
				h.serve(w, http.StatusServiceUnavailable, "application/xml", []byte(bankCatPain002(h.msgID, "RJCT")))
			}),
		bankCatStatusCase("429 with Retry-After",
			"transient (HTTP 429); the poller's own backoff applies (Retry-After is not read); batch settles", "HTTP 429", false,
			func(w http.ResponseWriter, r *http.Request, h *bankCatHit) {
				w.Header().Set("Retry-After", "3600")
				h.serve(w, http.StatusTooManyRequests, "text/plain", []byte("slow down\n"))
			}),
		bankCatStatusCase("slowloris (headers, then one byte per second)",
			"bounded by the request deadline (status poller status_timeout, 3 s here; bank.h2h.timeout, 5 s, bounds every request): transient \"context deadline exceeded\"; retried, batch settles",
			"deadline exceeded", false, bankCatSlow(200, pain002Head, time.Second)),
		bankCatStatusCase("a response that never ends (headers, then silence)",
			"bounded by the request deadline (status poller status_timeout, 3 s here; bank.h2h.timeout, 5 s, bounds every request): transient \"context deadline exceeded\"; retried, batch settles",
			"deadline exceeded", false, bankCatSlow(200, "", 0)),
		bankCatStatusCase("gzip bomb (the client sends Accept-Encoding: gzip)",
			"decompressed transparently, capped by MaxStatusBytes: transient \"answer larger than\"; retried, batch settles",
			fmt.Sprintf("answer larger than %d bytes", bankCatStatusCap), false,
			bankCatGzipBomb(pain002Head, bankCatGzipPlain)),
		bankCatStatusCase("wrong Content-Type (text/html on a valid pain.002)",
			"accepted: answers are judged by content, not Content-Type; applied as usual", "", true,
			bankCatMutate(func(h *bankCatHit, b []byte) []byte { return b })),
		bankCatStatusCase("status 404 for a MsgId that was uploaded (status poller)",
			"unknown to bank: logged, polled again, never re-sent by the poller; batch settles", "unknown to bank", false,
			bankCatFixed(404, "text/plain", "no such payment\n")),
		bankCatStatusCase("redirect to another host (status)",
			"permanent (HTTP 302): never followed (the other host gets no request); polled again, batch settles", "HTTP 302", false,
			nil),
		bankCatStatusCase("plain text 200 (\"OK\")",
			"transient (malformed XML); retried, batch settles", "malformed", false,
			bankCatFixed(200, "text/plain", "OK\n")),
	)

	// --- answers to uploads ---
	cases = append(cases,
		&bankCatCase{name: "upload answered 202 with garbage JSON (file kept)", intents: 1,
			outcome: "outcome unknown → pay.batch.in_doubt (decoding the receipt) → status query finds it → submitted; uploaded once, booked once",
			rules:   []*bankCatRule{{op: "upload", n: 1, real: true, answer: bankCatFixed(202, "application/json", `{"msg_id": [1,2,`)}},
			check:   bankCatInDoubtThenSettled("decoding the receipt", 1)},
		&bankCatCase{name: "upload answered 200 with an HTML body (file not kept)", intents: 1,
			outcome: "outcome unknown → in_doubt → status 404 → the same bytes re-sent once → accepted; booked once",
			rules:   []*bankCatRule{{op: "upload", n: 1, answer: bankCatFixed(200, "text/html", html)}},
			check:   bankCatInDoubtThenSettled("decoding the receipt", 2)},
		&bankCatCase{name: "upload answered 500 with a pain.002 (RJCT) body", intents: 1,
			outcome: "after the body was sent: outcome unknown (never failed on a 5xx's body) → in_doubt → status 404 → re-sent → accepted",
			rules: []*bankCatRule{{op: "upload", n: 1, answer: func(w http.ResponseWriter, r *http.Request, h *bankCatHit) {
				h.serve(w, 500, "application/xml", []byte(bankCatPain002(h.msgID, "RJCT")))
			}}},
			check: bankCatInDoubtThenSettled("HTTP 500", 2)},
		&bankCatCase{name: "upload answered 429 with Retry-After", intents: 1,
			outcome: "transient: stays submitting, redelivered after the backoff → in_doubt → status 404 → re-sent → accepted",
			rules: []*bankCatRule{{op: "upload", n: 1, answer: func(w http.ResponseWriter, r *http.Request, h *bankCatHit) {
				w.Header().Set("Retry-After", "3600")
				h.serve(w, http.StatusTooManyRequests, "text/plain", []byte("slow down\n"))
			}}},
			check: bankCatInDoubtThenSettled("", 2)},
		&bankCatCase{name: "upload answered 202 slowloris (file kept)", intents: 1,
			outcome: "bounded by bank.h2h.timeout (5 s here): outcome unknown (reading the receipt: deadline) → in_doubt → found → submitted",
			rules:   []*bankCatRule{{op: "upload", n: 1, real: true, answer: bankCatSlow(202, `{"msg_id":`, time.Second)}},
			check:   bankCatInDoubtThenSettled("deadline exceeded", 1)},
		&bankCatCase{name: "upload answered 202 with an empty body (file kept)", intents: 1,
			outcome: "outcome unknown (decoding the receipt: unexpected end of JSON input) → in_doubt → found → submitted",
			rules:   []*bankCatRule{{op: "upload", n: 1, real: true, answer: bankCatFixed(202, "application/json", "")}},
			check:   bankCatInDoubtThenSettled("unexpected end of JSON input", 1)},
		&bankCatCase{name: "upload answered 202 with a receipt for another MsgId (file kept)", intents: 1,
			outcome: "outcome unknown (receipt for MsgId …) → in_doubt → found → submitted",
			rules: []*bankCatRule{{op: "upload", n: 1, real: true, answer: func(w http.ResponseWriter, r *http.Request, h *bankCatHit) {
				h.serve(w, 202, "application/json", []byte(`{"msg_id":"SOMEONE-ELSE","received_at":"2026-11-21T10:00:00Z"}`))
			}}},
			check: bankCatInDoubtThenSettled("receipt for MsgId", 1)},
		&bankCatCase{name: "status 404 for an uploaded MsgId (in-doubt resolution)", intents: 1,
			outcome: "upload answer lost → in_doubt → the bank's lying 404 → the same bytes re-sent → 409 DUPL → in_doubt (duplicate) → status → submitted; booked once",
			rules: []*bankCatRule{
				{op: "upload", n: 1, real: true, answer: bankCatDrop},
				{op: "status", n: 1, answer: bankCatFixed(404, "text/plain", "never heard of it\n")},
			},
			check: func(x *bankCatEnv, c *bankCatCase) error {
				if err := bankCatInDoubtThenSettled("duplicate", 2)(x, c); err != nil {
					return err
				}
				if _, codes := x.uploadsOf(c); !slices.Equal(codes, []int{202, 409}) {
					return fmt.Errorf("bank answered %v, want [202 409]", codes)
				}
				return nil
			}},
	)
	failedUpload = &bankCatCase{name: "upload answered 302 to another host", intents: 1, failed: true,
		outcome: "permanent (HTTP 302, never followed): batch failed, pay.batch.failed with its intents, dlq.submitter entry; the bank has nothing"}
	cases = append(cases, failedUpload)

	// --- answers to report requests (statements worker) ---
	cases = append(cases,
		bankCatReportCase("external entity (XXE file://) in a camt.052",
			"transient (DOCTYPE not allowed): the file is never read (its content appears in no event or log); asked again, reports follow",
			"camt.052", "DOCTYPE not allowed", false, nil),
		bankCatReportCase("pain.002 where a camt is expected",
			"transient (got pain.002, want camt.052 or …); asked again, reports follow", "camt.052", "got pain.002", false,
			bankCatFixed(200, "application/xml", bankCatPain002("ISG-WHATEVER", "ACSC"))),
		bankCatReportCase("JSON where a camt is expected",
			"transient (malformed XML); asked again, reports follow", "camt.052", "malformed", false,
			bankCatFixed(200, "application/json", `{"entries":[]}`)),
		bankCatReportCase("truncated camt.052",
			"transient (malformed XML: unexpected EOF); asked again, reports follow", "camt.052", "malformed XML", true,
			bankCatMutate(func(h *bankCatHit, b []byte) []byte { return b[:len(b)/2] })),
		bankCatReportCase("camt.052 declaring encoding UTF-16",
			"transient (unsupported character encoding); asked again, reports follow", "camt.052", "unsupported character encoding", true,
			bankCatMutate(func(h *bankCatHit, b []byte) []byte {
				return bytes.Replace(b, []byte(`encoding="UTF-8"`), []byte(`encoding="UTF-16"`), 1)
			})),
		&bankCatCase{name: "camt.052 for a non-matching account",
			outcome: "\"reports account …, asked for …\": nothing of it published (no stmt.entry), logged; asked again, reports follow",
			rules:   []*bankCatRule{{op: "reports", family: "camt.052"}},
			check: func(x *bankCatEnv, c *bankCatCase) error {
				r := x.p.fired(c, 0)
				if r == nil {
					return errors.New("hostile answer not served yet")
				}
				if !x.log.has("polling statements failed", "HOSTILE-WRONG-ACCT reports account") {
					return errors.New("no \"polling statements failed\" log with \"HOSTILE-WRONG-ACCT reports account\"")
				}
				if x.ev.contains("HOSTILE-WRONG-ACCT") {
					return errors.New("an entry of the other account's report was published")
				}
				if !x.reportAfter(c.account, r.firedAt) {
					return errors.New("no stmt.report from the bank's own answer after the hostile one")
				}
				return nil
			}},
		&bankCatCase{name: "camt.053 whose balances do not add up (OPBD + Σ entries ≠ CLBD)", start: "yesterday",
			outcome: "stmt.gap \"opening balance plus booked entries does not equal the closing balance\" (expected/got closing balance); its entries and stmt.report still published",
			rules:   []*bankCatRule{{op: "reports", family: "camt.053"}},
			check: func(x *bankCatEnv, c *bankCatCase) error {
				if x.p.fired(c, 0) == nil {
					return errors.New("hostile answer not served yet")
				}
				if !slices.ContainsFunc(x.gaps(c.account), func(g messages.StatementGap) bool {
					return strings.Contains(g.Detail, "does not equal the closing balance") &&
						g.Expected == "closing balance 1100.00" && g.Got == "closing balance 1500.00"
				}) {
					return fmt.Errorf("stmt.gap events %+v, want the balance mismatch 1100.00 vs 1500.00", x.gaps(c.account))
				}
				if !slices.ContainsFunc(x.entries(c.account), func(e messages.StatementEntry) bool { return e.AcctSvcrRef == "HOSTILE-BAL-1" }) {
					return errors.New("the statement's entry was not published")
				}
				if len(x.ev.list(messages.StatementReportSubject(c.account))) == 0 {
					return errors.New("no stmt.report")
				}
				return nil
			}},
		&bankCatCase{name: "camt.052 with amounts \"1e3\", negative and too many decimals",
			outcome: "\"1e3\" and \"-5.00\": entry skipped, stmt.gap \"undecodable entries\" naming them, cursor held; \"12.345\": decoded as written and published, reconciled exactly (unknown_reference here); the valid entry published",
			rules:   []*bankCatRule{{op: "reports", family: "camt.052"}},
			check: func(x *bankCatEnv, c *bankCatCase) error {
				if x.p.fired(c, 0) == nil {
					return errors.New("hostile answer not served yet")
				}
				if !slices.ContainsFunc(x.gaps(c.account), func(g messages.StatementGap) bool {
					return g.Got == "undecodable entries" && strings.Contains(g.Detail, `"1e3"`) && strings.Contains(g.Detail, `"-5.00"`)
				}) {
					return fmt.Errorf("stmt.gap events %+v, want \"undecodable entries\" naming 1e3 and -5.00", x.gaps(c.account))
				}
				var refs []string
				for _, e := range x.entries(c.account) {
					refs = append(refs, e.AcctSvcrRef+"="+e.Amount)
				}
				for _, want := range []string{"HOSTILE-AMT-3=12.345", "HOSTILE-AMT-4=10.00"} {
					if !slices.Contains(refs, want) {
						return fmt.Errorf("entries %v, want %s", refs, want)
					}
				}
				for _, bad := range []string{"HOSTILE-AMT-1", "HOSTILE-AMT-2"} {
					if slices.ContainsFunc(refs, func(s string) bool { return strings.HasPrefix(s, bad+"=") }) {
						return fmt.Errorf("entry %s with an invalid amount was published", bad)
					}
				}
				for _, e := range x.ev.list("stmt.unmatched.") {
					var u messages.StatementUnmatched
					if json.Unmarshal(e.data, &u) == nil && u.EndToEndID == "HOSTILE-E2E-3" {
						if u.Reason != messages.UnmatchedUnknownReference || u.Amount != "12.345" {
							return fmt.Errorf("stmt.unmatched %+v, want unknown_reference 12.345", u)
						}
						return nil
					}
				}
				return errors.New("no stmt.unmatched for the 12.345 debit yet")
			}},
	)

	// --- TLS ---
	cases = append(cases, &bankCatCase{name: "TLS server certificate from another CA",
		outcome: "refused by the client (x509: unknown authority) before any request is written: transient, retried on a new connection",
		check: func(x *bankCatEnv, c *bankCatCase) error {
			x.p.mu.Lock()
			defer x.p.mu.Unlock()
			if x.p.rogueLeft > 0 {
				return errors.New("the rogue certificate was not presented yet")
			}
			if x.p.onRogue != 0 {
				return fmt.Errorf("%d requests arrived over a connection with the rogue certificate", x.p.onRogue)
			}
			if !slices.ContainsFunc(x.p.tlsErrors, func(s string) bool { return strings.Contains(s, "bad certificate") }) {
				return fmt.Errorf("server saw no refused handshake: %q", x.p.tlsErrors)
			}
			if !x.log.has("certificate signed by unknown authority") {
				return errors.New("no gateway log with \"certificate signed by unknown authority\"")
			}
			return nil
		}})

	// Cases that need the others (or the redirect target) to be known.
	foreignTx.rules = []*bankCatRule{{op: "status", polled: true, answer: func(w http.ResponseWriter, r *http.Request, h *bankCatHit) {
		h.serve(w, 200, "application/xml", []byte(bankCatPain002(h.msgID, "PART", [2]string{failedUpload.ids[0], "RJCT"})))
	}}}
	foreignTx.check = func(x *bankCatEnv, c *bankCatCase) error {
		if x.p.fired(c, 0) == nil {
			return errors.New("hostile answer not served yet")
		}
		if n := len(x.ev.list("pay.status." + failedUpload.ids[0])); n != 0 {
			return fmt.Errorf("%d pay.status events for the foreign EndToEndId %s", n, failedUpload.ids[0])
		}
		return x.acceptedAndSettled(c.ids...)
	}
	failedUpload.rules = []*bankCatRule{{op: "upload", n: 1}}
	failedUpload.check = func(x *bankCatEnv, c *bankCatCase) error {
		if err := x.batchFailed(c); err != nil {
			return err
		}
		id := x.p.batchOf(c)
		var f messages.BatchFailed
		_ = json.Unmarshal(x.ev.list(messages.BatchFailedSubject(id))[0].data, &f)
		if !strings.Contains(f.Reason, "HTTP 302") {
			return fmt.Errorf("pay.batch.failed reason %q, want HTTP 302", f.Reason)
		}
		dl := x.ev.list(messages.DeadLetterSubject(submitter.Name))
		if !slices.ContainsFunc(dl, func(e bankCatEvent) bool {
			var d messages.DeadLetter
			return json.Unmarshal(e.data, &d) == nil && d.BatchID == id && strings.Contains(d.Error, "HTTP 302")
		}) {
			return fmt.Errorf("no dlq.submitter entry for %s", id)
		}
		if _, codes := x.uploadsOf(c); len(codes) != 0 {
			return fmt.Errorf("the bank got the redirected file (%v)", codes)
		}
		x.p.mu.Lock()
		defer x.p.mu.Unlock()
		if x.p.otherHits != 0 {
			return fmt.Errorf("the redirect target got %d requests", x.p.otherHits)
		}
		return nil
	}
	for _, c := range cases {
		// Resource bounds of the streaming and slow answers, read from what
		// the proxy managed to send and how long the client let it.
		var bound func(r *bankCatRule) error
		switch {
		case strings.HasPrefix(c.name, "100 MB body"):
			bound = func(r *bankCatRule) error {
				if r.written <= bankCatStatusCap || r.written >= bankCatHundredMB {
					return fmt.Errorf("the client took %d bytes of the 100 MB answer, want just over the %d-byte cap", r.written, bankCatStatusCap)
				}
				return nil
			}
		case strings.HasPrefix(c.name, "gzip bomb"):
			bound = func(r *bankCatRule) error {
				if !strings.Contains(r.encoding, "gzip") {
					return fmt.Errorf("Accept-Encoding %q: the client does not take gzip, the case proves nothing", r.encoding)
				}
				// What the proxy got out (socket buffers take megabytes of
				// members) is less than the bomb: the client hung up early;
				// the error names the cap it stopped at.
				if r.written <= bankCatStatusCap || r.written >= bankCatGzipPlain {
					return fmt.Errorf("the proxy sent %d plain bytes' worth of the bomb, want more than the %d-byte cap and less than all of it", r.written, bankCatStatusCap)
				}
				return nil
			}
		case strings.HasPrefix(c.name, "slowloris"), strings.HasPrefix(c.name, "a response that never ends"), strings.HasPrefix(c.name, "upload answered 202 slowloris"):
			bound = func(r *bankCatRule) error {
				if r.held == 0 || r.held > bankCatTimeout+3*time.Second {
					return fmt.Errorf("the slow answer held the client %s, want about bank.h2h.timeout (%s)", r.held, bankCatTimeout)
				}
				return nil
			}
		}
		if bound != nil {
			inner := c.check
			c.check = func(x *bankCatEnv, c *bankCatCase) error {
				if err := inner(x, c); err != nil {
					return err
				}
				x.p.mu.Lock()
				defer x.p.mu.Unlock()
				return bound(c.rules[0])
			}
		}
		switch {
		case strings.HasPrefix(c.name, "redirect to another host"), c == failedUpload:
			c.rules[0].answer = bankCatRedirect
		case c.name == "wrong Content-Type (text/html on a valid pain.002)":
			c.rules[0].answer = func(w http.ResponseWriter, r *http.Request, h *bankCatHit) {
				h.serve(w, h.real.code, "text/html; charset=iso-8859-1", h.real.body)
			}
			inner := c.check
			c.check = func(x *bankCatEnv, c *bankCatCase) error {
				if err := inner(x, c); err != nil {
					return err
				}
				// The pain.002 served as text/html was applied: a pay.status
				// names its archived SHA-256.
				x.p.mu.Lock()
				sum := sha256.Sum256(c.rules[0].body)
				x.p.mu.Unlock()
				for _, e := range x.ev.list("pay.status." + c.ids[0]) {
					var s messages.PaymentStatus
					if json.Unmarshal(e.data, &s) == nil && s.ArchiveSHA256 == hex.EncodeToString(sum[:]) {
						return nil
					}
				}
				return errors.New("no pay.status from the pain.002 served as text/html")
			}
		case c.name == "camt.052 for a non-matching account":
			c.rules[0].answer = func(w http.ResponseWriter, r *http.Request, h *bankCatHit) {
				other := banksim.DefaultAccounts()[0].IBAN
				h.serve(w, 200, "application/xml", []byte(bankCatCamt("camt.052", "HOSTILE-WRONG-ACCT", other, today, 0, nil,
					bankCatEntry{"10.00", "CRDT", "HOSTILE-WRONG-ACCT-1", ""})))
			}
		case strings.HasPrefix(c.name, "camt.053 whose balances"):
			c.rules[0].answer = func(w http.ResponseWriter, r *http.Request, h *bankCatHit) {
				h.serve(w, 200, "application/xml", []byte(bankCatCamt("camt.053", "HOSTILE-BAL", h.rule.caseRef.account, yesterday, 1,
					[][2]string{{"OPBD", "1000.00"}, {"CLBD", "1500.00"}}, bankCatEntry{"100.00", "CRDT", "HOSTILE-BAL-1", ""})))
			}
		case strings.HasPrefix(c.name, "camt.052 with amounts"):
			c.rules[0].answer = func(w http.ResponseWriter, r *http.Request, h *bankCatHit) {
				h.serve(w, 200, "application/xml", []byte(bankCatCamt("camt.052", "HOSTILE-AMT", h.rule.caseRef.account, today, 0, nil,
					bankCatEntry{"1e3", "CRDT", "HOSTILE-AMT-1", ""}, bankCatEntry{"-5.00", "CRDT", "HOSTILE-AMT-2", ""},
					bankCatEntry{"12.345", "DBIT", "HOSTILE-AMT-3", "HOSTILE-E2E-3"}, bankCatEntry{"10.00", "CRDT", "HOSTILE-AMT-4", ""})))
			}
		}
	}
	// The report cases need an account of their own (bankCatStart gives
	// one to every case without intents whose first rule is a report).
	return cases
}

// bankCatRedirect answers 302 to the redirect target, which must never be
// asked (the client does not follow redirects).
func bankCatRedirect(w http.ResponseWriter, r *http.Request, h *bankCatHit) {
	w.Header().Set("Location", h.p.other+r.URL.RequestURI())
	h.serve(w, http.StatusFound, "", nil)
}

// --- small helpers --------------------------------------------------------

func bankCatRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func bankCatRandom(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// bankCatRogueCert is a server certificate for 127.0.0.1 from a CA the
// gateway does not trust.
func bankCatRogueCert(t *testing.T) *tls.Certificate {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rogue CA"}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "banksim"}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(time.Hour), DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
