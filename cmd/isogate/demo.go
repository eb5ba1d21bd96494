package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/isogate/isogate/banksim"
	"github.com/isogate/isogate/internal/app"
	"github.com/isogate/isogate/internal/config"
	"github.com/isogate/isogate/internal/intentgen"
	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/workers/reconciler"
	"github.com/isogate/isogate/workers/statements"
	"github.com/isogate/isogate/workers/statuspoller"
	"github.com/isogate/isogate/workers/submitter"
)

func init() {
	register(command{Name: "demo", Summary: "run the whole gateway embedded with a simulated bank and follow N payments to settlement", Run: runDemo})
}

const demoUsage = `usage: isogate demo [--intents N] [--scenario happy|mixed|faulty] [--seed S] [--json] [--timeout D]

Starts everything in this process — NATS with JetStream in a temporary
directory on random ports, a simulated bank with short delays, all workers —
publishes N generated payment intents, follows each one on the event streams
until it is terminal (rejected, accepted or failed) and every accepted one is
settled, prints a table per status and ends with one JSON line:

  {"intents":N,"rejected":N,"accepted":N,"failed":N,"settled":N,"pending":0,"lost":0,"duplicates_at_bank":0,"elapsed_s":F}

Scenarios: happy (valid intents only); mixed (also invalid intents — bad IBAN
check digits, unknown currency — and intents the bank rejects: creditor IBAN
ending 9999 → AC01, remittance SIMRJCT:AM04 → AM04); faulty (mixed, and the
bank fails: 503 errors, latency, timeouts, resets, dropped answers after
accepting an upload, truncated answers).

pending counts intents not yet terminal and accepted ones not yet settled;
lost those with no terminal event; duplicates_at_bank the EndToEndIds the
bank booked twice (from its ledger). Exit status 0 only when pending, lost
and duplicates_at_bank are all 0; 1 otherwise or on timeout (the error names
what is pending); 2 on usage errors.

flags:
`

// demoResult is the demo's last line.
type demoResult struct {
	Intents          int     `json:"intents"`
	Rejected         int     `json:"rejected"`
	Accepted         int     `json:"accepted"`
	Failed           int     `json:"failed"`
	Settled          int     `json:"settled"`
	Pending          int     `json:"pending"`
	Lost             int     `json:"lost"`
	DuplicatesAtBank int     `json:"duplicates_at_bank"`
	ElapsedS         float64 `json:"elapsed_s"`
}

func runDemo(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("isogate demo", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprint(env.Stderr, demoUsage)
		fs.PrintDefaults()
	}
	n := fs.Int("intents", 100, "how many payment intents to publish")
	scenario := fs.String("scenario", "happy", "happy, mixed or faulty")
	seed := fs.Uint64("seed", 1, "`SEED` of the generated intents and of the bank's faults")
	asJSON := fs.Bool("json", false, "print only the JSON line on stdout")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up (exit 1, naming what is pending) after this `DURATION`")
	logLevel := fs.String("log-level", "error", "level of the gateway's log on stderr: debug, info, warn or error")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	var usageErrs []string
	if len(pos) > 0 {
		usageErrs = append(usageErrs, fmt.Sprintf("unexpected argument %q", pos[0]))
	}
	if *n < 1 || *n > 1_000_000 {
		usageErrs = append(usageErrs, fmt.Sprintf("--intents %d: want 1 to 1000000", *n))
	}
	if *scenario != "happy" && *scenario != "mixed" && *scenario != "faulty" {
		usageErrs = append(usageErrs, fmt.Sprintf("--scenario %q: want happy, mixed or faulty", *scenario))
	}
	if *timeout <= 0 {
		usageErrs = append(usageErrs, "--timeout must be positive")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		usageErrs = append(usageErrs, fmt.Sprintf("--log-level %q: want debug, info, warn or error", *logLevel))
	}
	if usageFailed(env, "isogate demo", usageErrs) {
		return 2
	}
	d := &demo{env: env, n: *n, scenario: *scenario, seed: *seed, json: *asJSON, timeout: *timeout,
		log: slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level}))}
	res, err := d.run(ctx)
	if err != nil && res == nil {
		fmt.Fprintln(env.Stderr, "isogate demo:", err)
		return 1
	}
	if !d.json {
		d.printTable(res)
	}
	line, _ := json.Marshal(res.demoResult)
	fmt.Fprintln(env.Stdout, string(line))
	if err != nil {
		fmt.Fprintln(env.Stderr, "isogate demo:", err)
		return 1
	}
	if res.Pending != 0 || res.Lost != 0 || res.DuplicatesAtBank != 0 {
		return 1
	}
	return 0
}

type demo struct {
	env      *cliEnv
	n        int
	scenario string
	seed     uint64
	json     bool
	timeout  time.Duration
	log      *slog.Logger
}

// demoOutcome is what the demo found, beyond its JSON line.
type demoOutcome struct {
	demoResult
	rejectedBy map[string]map[string]int // "encoder"/"bank" → reason → intents
	conflicts  int                       // intents with two different terminal events
	noFinal    int                       // accepted (settled) intents without a final pay.status
	ledger     banksim.Ledger
}

// demoConfig is the gateway configuration of a demo: everything embedded in
// dir, on free ports, a bank with short delays, no ops server.
func demoConfig(dir string, seed uint64) *config.Config {
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.NATS.Embedded.Port = -1
	cfg.NATS.Embedded.MonitorPort = 0
	// The demo's data is thrown away at exit: fsync once a second rather
	// than on every write.
	cfg.NATS.Embedded.SyncInterval = "1s"
	cfg.Ops.Listen = ""
	cfg.Log.Level = "error"
	cfg.Encoder.Wait = 500 * time.Millisecond
	cfg.Bank.Banksim.Seed = int64(seed & math.MaxInt64)
	cfg.Bank.Banksim.Process = 200 * time.Millisecond
	cfg.Bank.Banksim.Settle = 300 * time.Millisecond
	cfg.Bank.H2H.Timeout = 3 * time.Second
	return &cfg
}

// demoOptions tunes the workers for a demo: short delays, retries and
// schedules, and the bank's faults when faulty.
func demoOptions(faulty bool) app.Options {
	return app.Options{
		Banksim: func(b *banksim.Config) {
			if faulty {
				b.Faults = demoFaults
			}
		},
		Submitter: func(c *submitter.Config) {
			// Short leases and retries: the bank answers within its
			// 3 s timeout or not at all.
			c.UploadTimeout = 10 * time.Second
			c.ClockSkew = time.Second
			c.Backoff = []time.Duration{200 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second}
		},
		StatusPoller: func(c *statuspoller.Config) {
			c.Schedule = statuspoller.Schedule{FirstDelay: 300 * time.Millisecond, Interval: 300 * time.Millisecond,
				MaxInterval: 2 * time.Second, Multiplier: 2}
			c.ListInterval = 5 * time.Second
			c.StatusTimeout = 5 * time.Second
		},
		Statements: func(c *statements.Config) {
			c.Tick = 250 * time.Millisecond
			c.RequestTimeout = 5 * time.Second
			for i := range c.Accounts {
				c.Accounts[i].Schedule = statements.Schedule{Intraday: time.Second, Retry: time.Second}
			}
		},
		Reconciler: func(c *reconciler.Config) {
			// An entry may arrive before its batch's final pain.002:
			// retry it soon and for long enough.
			c.Backoff = []time.Duration{200 * time.Millisecond, 500 * time.Millisecond, time.Second}
			c.MaxDeliver = 200
		},
	}
}

// demoFaults are the bank's faults in the faulty scenario.
var demoFaults = banksim.Faults{
	ErrorRate:           0.10,
	Latency:             20 * time.Millisecond,
	TimeoutRate:         0.02,
	DropAfterAcceptRate: 0.10,
	ResetRate:           0.05,
	MalformedRate:       0.05,
}

func (d *demo) run(ctx context.Context) (*demoOutcome, error) {
	dir, err := os.MkdirTemp("", "isogate-demo-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cfg := demoConfig(dir, d.seed)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts := demoOptions(d.scenario == "faulty")
	gctx, stop := context.WithCancel(ctx)
	defer stop()
	g, err := app.StartWith(gctx, cfg, d.log, opts)
	if err != nil {
		return nil, fmt.Errorf("starting the gateway: %w", err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- g.Run(gctx) }()
	defer func() {
		stop()
		if err := <-runDone; err != nil {
			d.log.Error("gateway shutdown", slog.String("error", err.Error()))
		}
	}()
	out := &demoOutcome{}
	if !d.json {
		fmt.Fprintf(d.env.Stderr, "demo: gateway up (NATS %s, simulated bank %s), scenario %s, %d intents, seed %d\n",
			g.NC.ConnectedUrl(), g.Banksim.URL, d.scenario, d.n, d.seed)
	}

	intents := demoIntents(d.n, d.scenario, d.seed)
	tr := newTracker(intents)
	// Follow the outcome events from the start of the stream, before the
	// first intent is published: every terminal event is read from
	// JetStream, not from the workers' memory.
	cons, err := g.JS.OrderedConsumer(gctx, messages.StreamPayments, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{messages.SubjectIntentsRejected, messages.SubjectBatchesEncoded, messages.SubjectBatchesSubmitted,
			messages.SubjectBatchesFailed, messages.SubjectStatuses, messages.SubjectSettled},
	})
	if err != nil {
		return nil, fmt.Errorf("following the PAYMENTS stream: %w", err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { tr.observe(m.Subject(), m.Data()) })
	if err != nil {
		return nil, fmt.Errorf("following the PAYMENTS stream: %w", err)
	}
	defer cc.Stop()

	start := time.Now()
	if err := publishIntents(gctx, g.NC, intents); err != nil {
		return nil, err
	}
	deadline := time.NewTimer(d.timeout)
	defer deadline.Stop()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	lastProgress := time.Now()
	var waitErr error
	for done := false; !done; {
		select {
		case <-tick.C:
			if tr.done() {
				done = true
				break
			}
			if time.Since(lastProgress) >= time.Second {
				lastProgress = time.Now()
				fmt.Fprintf(d.env.Stderr, "demo: %s\n", tr.progress(time.Since(start)))
			}
		case <-deadline.C:
			waitErr = fmt.Errorf("timed out after %s: %s", d.timeout, tr.pendingReport())
			done = true
		case <-ctx.Done():
			waitErr = fmt.Errorf("interrupted: %s", tr.pendingReport())
			done = true
		}
	}
	elapsed := time.Since(start)
	out.demoResult, out.rejectedBy, out.conflicts, out.noFinal = tr.result()
	out.ElapsedS = math.Round(elapsed.Seconds()*100) / 100
	out.ledger = g.Banksim.Bank.Ledger()
	// Duplicate uploads are refused by the bank (409 DUPL) and book
	// nothing; a doubled payment shows as an EndToEndId booked twice.
	out.DuplicatesAtBank = out.ledger.EndToEndIDsBookedTwice
	if waitErr == nil && out.Rejected+out.Accepted+out.Failed != out.Intents {
		waitErr = fmt.Errorf("rejected %d + accepted %d + failed %d != %d intents", out.Rejected, out.Accepted, out.Failed, out.Intents)
	}
	if !d.json {
		fmt.Fprintf(d.env.Stderr, "demo: %s\n", tr.progress(elapsed))
	}
	return out, waitErr
}

// demoIntents returns n generated intents; mixed and faulty turn about one
// in six into an invalid intent or one the bank will reject.
func demoIntents(n int, scenario string, seed uint64) []messages.PaymentIntent {
	intents := intentgen.Intents(n, intentgen.Options{Prefix: "DEMO", Seed: seed})
	if scenario == "happy" {
		return intents
	}
	rng := rand.New(rand.NewPCG(seed, 0xde40))
	for i := range intents {
		p := &intents[i]
		switch r := rng.IntN(100); {
		case r < 4: // bad creditor IBAN check digits: the encoder rejects it
			cd, _ := strconv.Atoi(p.Creditor.IBAN[2:4])
			p.Creditor.IBAN = p.Creditor.IBAN[:2] + fmt.Sprintf("%02d", (cd+1)%100) + p.Creditor.IBAN[4:]
		case r < 8: // unknown currency: the encoder rejects it
			p.Currency = "EUX"
		case r < 12: // creditor IBAN ending 9999: the bank rejects it (AC01)
			p.Creditor.IBAN = messages.ComposeIBAN("LV", fmt.Sprintf("HABA%09d9999", rng.IntN(1e9)))
		case r < 16: // the bank rejects it with the reason in the remittance (AM04)
			p.Remittance = "SIMRJCT:AM04 " + p.Remittance
		}
	}
	return intents
}

// publishIntents publishes each intent to pay.intent.<id> with its id as
// Nats-Msg-Id, stored only if the subject is empty, as `isogate publish`
// does — but without validating: invalid intents are the encoder's to
// reject.
func publishIntents(ctx context.Context, nc *nats.Conn, intents []messages.PaymentIntent) error {
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(512))
	if err != nil {
		return err
	}
	futures := make([]jetstream.PubAckFuture, 0, len(intents))
	for _, p := range intents {
		data, err := messages.Marshal(p)
		if err != nil {
			return fmt.Errorf("intent %s: %w", p.ID, err)
		}
		msg := nats.NewMsg(messages.IntentSubject(p.ID))
		msg.Data = data
		msg.Header.Set(messages.HeaderMsgID, p.ID)
		msg.Header.Set(messages.HeaderExpectedLastSubjectSeq, "0")
		f, err := js.PublishMsgAsync(msg)
		if err != nil {
			return fmt.Errorf("publishing intent %s: %w", p.ID, err)
		}
		futures = append(futures, f)
	}
	for i, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("publishing intent %s: %w", intents[i].ID, err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(30 * time.Second):
			return fmt.Errorf("publishing intent %s: no acknowledgement within 30s", intents[i].ID)
		}
	}
	return nil
}

// tracker follows every intent through the outcome events.
type tracker struct {
	mu      sync.Mutex
	ids     []string
	intents map[string]*intentState
	batches map[string][]string // batch id → its intent ids
	subm    map[string]bool     // batches submitted
}

type intentState struct {
	batch     string
	status    messages.TxStatus // latest pay.status
	terminal  string            // "rejected", "accepted" or "failed"
	by        string            // for rejected: "encoder" or "bank"
	reason    string
	settled   bool
	final     bool // a final pay.status was read
	conflicts bool
}

func newTracker(intents []messages.PaymentIntent) *tracker {
	t := &tracker{intents: map[string]*intentState{}, batches: map[string][]string{}, subm: map[string]bool{}}
	for _, p := range intents {
		t.ids = append(t.ids, p.ID)
		t.intents[p.ID] = &intentState{}
	}
	return t
}

func (s *intentState) end(kind, by, reason string) {
	if s.terminal != "" {
		if s.terminal != kind {
			s.conflicts = true
		}
		return
	}
	s.terminal, s.by, s.reason = kind, by, reason
}

func (t *tracker) observe(subject string, data []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case strings.HasPrefix(subject, "pay.intent.rejected."):
		var ev messages.IntentRejected
		if json.Unmarshal(data, &ev) != nil {
			return
		}
		if s := t.intents[ev.IntentID]; s != nil {
			reason := "invalid"
			if len(ev.Errors) > 0 {
				reason = ev.Errors[0].Field
			}
			s.end("rejected", "encoder", reason)
		}
	case strings.HasPrefix(subject, "pay.batch.encoded."):
		var ev messages.BatchEncoded
		if json.Unmarshal(data, &ev) != nil {
			return
		}
		t.batches[ev.BatchID] = ev.IntentIDs
		for _, id := range ev.IntentIDs {
			if s := t.intents[id]; s != nil {
				s.batch = ev.BatchID
			}
		}
	case strings.HasPrefix(subject, "pay.batch.submitted."):
		var ev messages.BatchSubmitted
		if json.Unmarshal(data, &ev) == nil {
			t.subm[ev.BatchID] = true
		}
	case strings.HasPrefix(subject, "pay.batch.failed."):
		var ev messages.BatchFailed
		if json.Unmarshal(data, &ev) != nil || !ev.Permanent {
			return
		}
		ids := ev.IntentIDs
		if len(ids) == 0 {
			ids = t.batches[ev.BatchID]
		}
		for _, id := range ids {
			if s := t.intents[id]; s != nil {
				s.end("failed", "", ev.Reason)
			}
		}
	case strings.HasPrefix(subject, "pay.status."):
		var ev messages.PaymentStatus
		if json.Unmarshal(data, &ev) != nil {
			return
		}
		s := t.intents[ev.IntentID]
		if s == nil {
			return
		}
		s.status = ev.Status
		if !ev.Final {
			return
		}
		s.final = true
		switch ev.Status {
		case messages.TxStatusRJCT, messages.TxStatusCANC:
			reason := string(ev.Status)
			if len(ev.Reasons) > 0 {
				reason = ev.Reasons[0].Code + ev.Reasons[0].Proprietary
			}
			s.end("rejected", "bank", reason)
		default:
			s.end("accepted", "", "")
		}
	case strings.HasPrefix(subject, "pay.settled."):
		var ev messages.PaymentSettled
		if json.Unmarshal(data, &ev) != nil {
			return
		}
		if s := t.intents[ev.IntentID]; s != nil {
			s.settled = true
			// Booked by the bank: accepted, even when its final pay.status
			// has not been read yet (the statement may come first).
			s.end("accepted", "", "")
		}
	}
}

// open reports whether an intent still waits for something: a terminal
// event, or — accepted — its settlement.
func (s *intentState) open() bool {
	return s.terminal == "" || (s.terminal == "accepted" && !s.settled)
}

func (t *tracker) done() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.intents {
		if s.open() {
			return false
		}
	}
	return true
}

func (t *tracker) result() (r demoResult, by map[string]map[string]int, conflicts, noFinal int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r = demoResult{Intents: len(t.ids)}
	by = map[string]map[string]int{}
	for _, s := range t.intents {
		switch s.terminal {
		case "rejected":
			r.Rejected++
			if by[s.by] == nil {
				by[s.by] = map[string]int{}
			}
			by[s.by][s.reason]++
		case "accepted":
			r.Accepted++
			if !s.final {
				noFinal++
			}
		case "failed":
			r.Failed++
		default:
			r.Lost++
		}
		if s.settled {
			r.Settled++
		}
		if s.open() {
			r.Pending++
		}
		if s.conflicts {
			conflicts++
		}
	}
	return r, by, conflicts, noFinal
}

func (t *tracker) progress(elapsed time.Duration) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var batched, submitted, rejected, accepted, failed, settled int
	for _, s := range t.intents {
		if s.batch != "" {
			batched++
			if t.subm[s.batch] {
				submitted++
			}
		}
		switch s.terminal {
		case "rejected":
			rejected++
		case "accepted":
			accepted++
		case "failed":
			failed++
		}
		if s.settled {
			settled++
		}
	}
	return fmt.Sprintf("%d intents: %d batched, %d submitted, %d rejected, %d accepted, %d failed, %d settled (%s)",
		len(t.ids), batched, submitted, rejected, accepted, failed, settled, elapsed.Round(100*time.Millisecond))
}

// pendingReport names what is still open, grouped by where it stands.
func (t *tracker) pendingReport() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	groups := map[string][]string{}
	for _, id := range t.ids {
		s := t.intents[id]
		if !s.open() {
			continue
		}
		var where string
		switch {
		case s.terminal == "accepted":
			where = "accepted, not settled"
		case s.status != "":
			where = "at the bank, status " + string(s.status) + ", not final"
		case s.batch != "" && t.subm[s.batch]:
			where = "in a submitted batch, no status yet"
		case s.batch != "":
			where = "in an encoded batch, not submitted"
		default:
			where = "not batched, not rejected"
		}
		groups[where] = append(groups[where], id)
	}
	if len(groups) == 0 {
		return "nothing pending"
	}
	keys := make([]string, 0, len(groups))
	total := 0
	for k, ids := range groups {
		keys = append(keys, k)
		total += len(ids)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		ids := groups[k]
		ex := ids[:min(3, len(ids))]
		parts = append(parts, fmt.Sprintf("%d %s (e.g. %s)", len(ids), k, strings.Join(ex, ", ")))
	}
	return fmt.Sprintf("%d intents pending: %s", total, strings.Join(parts, "; "))
}

func (d *demo) printTable(res *demoOutcome) {
	w := tabwriter.NewWriter(d.env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "STATUS\tINTENTS\tDETAIL")
	detail := func(by string) string {
		m := res.rejectedBy[by]
		if len(m) == 0 {
			return ""
		}
		keys := make([]string, 0, len(m))
		n := 0
		for k, v := range m {
			keys = append(keys, k)
			n += v
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s %d", k, m[k])
		}
		return fmt.Sprintf("%s %d (%s)", by, n, strings.Join(parts, ", "))
	}
	var rej []string
	for _, by := range []string{"encoder", "bank"} {
		if s := detail(by); s != "" {
			rej = append(rej, s)
		}
	}
	fmt.Fprintf(w, "rejected\t%d\t%s\n", res.Rejected, strings.Join(rej, "; "))
	acc := "final status ACSC at the bank, or booked"
	if res.noFinal > 0 {
		acc += fmt.Sprintf(" (%d booked without a final pay.status)", res.noFinal)
	}
	fmt.Fprintf(w, "accepted\t%d\t%s\n", res.Accepted, acc)
	fmt.Fprintf(w, "failed\t%d\tbatch refused or undeliverable\n", res.Failed)
	fmt.Fprintf(w, "settled\t%d\tmatched to a booked statement entry\n", res.Settled)
	fmt.Fprintf(w, "pending\t%d\tnot terminal, or accepted and not settled\n", res.Pending)
	fmt.Fprintf(w, "lost\t%d\tno terminal event\n", res.Lost)
	if res.conflicts > 0 {
		fmt.Fprintf(w, "conflicting\t%d\ttwo different terminal events\n", res.conflicts)
	}
	w.Flush()
	l := res.ledger
	fmt.Fprintf(d.env.Stdout, "bank: %d files received, %d distinct MsgIds, %d duplicate uploads refused (nothing booked), %d transactions booked, %d EndToEndIds booked twice\n",
		l.FilesReceived, l.UniqueMsgIDs, l.DuplicateUploads, l.TransactionsBooked, l.EndToEndIDsBookedTwice)
}
