//go:build chaos

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/isogate/isogate/banksim"
	"github.com/isogate/isogate/certstore"
	"github.com/isogate/isogate/internal/config"
	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/workers/encoder"
	"github.com/isogate/isogate/workers/statuspoller"
	"github.com/isogate/isogate/workers/submitter"
)

func init() {
	register(command{Name: "chaos", Summary: "fault-injection run: NATS cluster and workers as processes, killed at random, a faulty bank (chaos builds)", Run: runChaos})
}

const chaosUsage = `usage: isogate chaos --nats-server PATH [--intents N] [--seed S] [--fault-phase D] [--timeout D] [--dir DIR] [--keep]

The fault-injection harness (built with -tags chaos; run it with task chaos).
It starts a three-node NATS JetStream cluster of separate nats-server
processes on loopback (sync_interval always, every stream and bucket with 3
replicas), a simulated bank with faults in this process, and the workers as
separate isogate serve processes of this binary: 2 encoders, 2 submitters, 2
status pollers, 1 statements worker, 1 reconciler. While N generated intents
flow (about one in six invalid or refused by the bank) it, for --fault-phase:

  kill -9s a random worker process every few seconds (at least 30) and
  restarts it; starts encoders and submitters with an armed crash hook
  (ISOGATE_CRASH_AT=worker:point:n) that kills them at a named point (at
  least 10); kill -9s and restarts NATS nodes one at a time (at least 5) and
  once the whole cluster; the bank answers 503, times out, resets, truncates
  and drops its answer after accepting an upload (at least 10% of the uploads
  while faults are on).

Then it stops the faults, waits (bounded by --timeout) until every intent is
terminal and every accepted one settled, and checks from the event streams
and the bank's ledger: one terminal outcome per intent, every accepted
intent settled, no MsgId and no EndToEndId at the bank twice, every in-doubt
batch resolved, every DLQ entry accounted for. It prints one JSON line:

  {"seed":S,"intents":N,"worker_kills":N,"nats_restarts":N,"bank_faults":N,"lost":0,"duplicates_at_bank":0,"in_doubt_resolved":N,"unterminated":0,"recovery_s":F,...}

lost counts acknowledged intents missing from the stream, or with no
terminal event and no trace (in no batch, in no dead letter); unterminated
those not terminal, or accepted and not settled, when the wait ends;
duplicates_at_bank the MsgIds uploaded twice plus the EndToEndIds booked
twice (the bank's ledger). The harness exits 1 when an invariant fails or a fault count stays below its
minimum (stderr names which), 2 on usage errors. CHAOS_SEED and
CHAOS_INTENTS set the seed (random when unset; always printed) and N; the
same seed replays the same intents, fault schedule and bank faults (process
timing still varies). The work folder is removed after a passing run and
kept (its path printed) after a failing one: nats and worker logs are there.

flags:
`

// chaosResult is the harness's JSON line: the fields the fault-injection
// issue asks for, then details.
type chaosResult struct {
	Seed             uint64  `json:"seed"`
	Intents          int     `json:"intents"`
	WorkerKills      int     `json:"worker_kills"`
	NATSRestarts     int     `json:"nats_restarts"`
	BankFaults       int     `json:"bank_faults"`
	Lost             int     `json:"lost"`
	DuplicatesAtBank int     `json:"duplicates_at_bank"`
	InDoubtResolved  int     `json:"in_doubt_resolved"`
	Unterminated     int     `json:"unterminated"`
	RecoveryS        float64 `json:"recovery_s"`

	CrashKills       int            `json:"crash_kills"`
	CrashPoints      map[string]int `json:"crash_points"`
	ClusterRestarts  int            `json:"cluster_restarts"`
	UnexpectedExits  int            `json:"unexpected_exits"`
	StartFailures    int            `json:"start_failures"`
	UploadRequests   int            `json:"upload_requests"`
	FaultUploads     int            `json:"upload_requests_during_faults"`
	DroppedAfterAcc  int            `json:"dropped_after_accept"`
	Faults           map[string]int `json:"bank_faults_by_kind"`
	Rejected         int            `json:"rejected"`
	Accepted         int            `json:"accepted"`
	Failed           int            `json:"failed"`
	Settled          int            `json:"settled"`
	Conflicts        int            `json:"conflicting"`
	StatusEvents     int            `json:"status_events"`
	StatusChanged    int            `json:"intents_with_several_statuses"`
	StatusRepeated   int            `json:"status_events_repeated"`
	StatusAfterFinal int            `json:"status_events_after_final"`
	InDoubt          int            `json:"in_doubt_batches"`
	Batches          int            `json:"batches"`
	DLQEntries       int            `json:"dlq_entries"`
	DLQUnaccounted   int            `json:"dlq_unaccounted"`
	MsgIDsUploaded2x int            `json:"duplicate_uploads"`
	E2EBookedTwice   int            `json:"end_to_end_ids_booked_twice"`
	ElapsedS         float64        `json:"elapsed_s"`
}

// chaosMinimums are the fault counts a run must reach.
var chaosMinimums = struct{ workerKills, crashKills, natsRestarts, clusterRestarts int }{30, 10, 5, 1}

func runChaos(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("isogate chaos", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprint(env.Stderr, chaosUsage)
		fs.PrintDefaults()
	}
	natsBin := fs.String("nats-server", "", "`PATH` of the nats-server binary (go build github.com/nats-io/nats-server/v2)")
	n := fs.Int("intents", 0, "intents to publish (default: CHAOS_INTENTS, else 10000)")
	seedFlag := fs.String("seed", "", "`SEED` of intents, faults and schedule (default: CHAOS_SEED, else random)")
	faultPhase := fs.Duration("fault-phase", 150*time.Second, "how long faults are injected (longer when the minimum counts are not reached)")
	timeout := fs.Duration("timeout", 14*time.Minute, "give up on the whole run after this `DURATION`")
	dir := fs.String("dir", "", "work `DIR` (default: a new temporary folder)")
	keep := fs.Bool("keep", false, "keep the work folder after a passing run")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	var usageErrs []string
	if len(pos) > 0 {
		usageErrs = append(usageErrs, fmt.Sprintf("unexpected argument %q", pos[0]))
	}
	if *natsBin == "" {
		usageErrs = append(usageErrs, "--nats-server is required")
	}
	if *n == 0 {
		*n = 10000
		if v := env.Getenv("CHAOS_INTENTS"); v != "" {
			if *n, err = strconv.Atoi(v); err != nil {
				usageErrs = append(usageErrs, fmt.Sprintf("CHAOS_INTENTS %q: not a number", v))
			}
		}
	}
	if *n < 100 || *n > 1_000_000 {
		usageErrs = append(usageErrs, fmt.Sprintf("intents %d: want 100 to 1000000", *n))
	}
	if *seedFlag == "" {
		*seedFlag = env.Getenv("CHAOS_SEED")
	}
	var seed uint64
	if *seedFlag == "" {
		seed = rand.Uint64() % 1_000_000_000
	} else if seed, err = strconv.ParseUint(*seedFlag, 10, 64); err != nil {
		usageErrs = append(usageErrs, fmt.Sprintf("seed %q: not an unsigned integer", *seedFlag))
	}
	if *faultPhase < 30*time.Second || *timeout <= *faultPhase {
		usageErrs = append(usageErrs, "--fault-phase must be at least 30s and below --timeout")
	}
	if usageFailed(env, "isogate chaos", usageErrs) {
		return 2
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(env.Stderr, "isogate chaos:", err)
		return 1
	}
	h := &chaos{env: env, seed: seed, n: *n, faultPhase: *faultPhase, natsBin: *natsBin, self: self,
		rng: rand.New(rand.NewPCG(seed, 0xc4a05)), crashPoints: map[string]int{}}
	fmt.Fprintf(env.Stderr, "chaos: seed %d, %d intents (CHAOS_SEED=%d CHAOS_INTENTS=%d reproduces it)\n", seed, *n, seed, *n)
	h.dir = *dir
	if h.dir == "" {
		if h.dir, err = os.MkdirTemp("", "isogate-chaos-"); err != nil {
			fmt.Fprintln(env.Stderr, "isogate chaos:", err)
			return 1
		}
	} else if err := os.MkdirAll(h.dir, 0o700); err != nil {
		fmt.Fprintln(env.Stderr, "isogate chaos:", err)
		return 1
	}
	rctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	h.interrupted = func() bool { return ctx.Err() != nil }
	res, failures, err := h.run(rctx)
	h.stopAll()
	if res != nil {
		line, _ := json.Marshal(res)
		fmt.Fprintln(env.Stdout, string(line))
	}
	if err != nil {
		failures = append(failures, err.Error())
	}
	if len(failures) > 0 {
		for _, f := range failures {
			fmt.Fprintln(env.Stderr, "isogate chaos: FAILED:", f)
		}
		fmt.Fprintf(env.Stderr, "isogate chaos: work folder kept: %s (CHAOS_SEED=%d CHAOS_INTENTS=%d)\n", h.dir, seed, *n)
		return 1
	}
	if *keep || *dir != "" {
		fmt.Fprintf(env.Stderr, "chaos: work folder kept: %s\n", h.dir)
	} else {
		os.RemoveAll(h.dir)
	}
	return 0
}

// chaos is one run of the harness.
type chaos struct {
	env        *cliEnv
	seed       uint64
	n          int
	faultPhase time.Duration
	natsBin    string
	self       string
	dir        string

	rngMu sync.Mutex
	rng   *rand.Rand

	nodes   []*natsNode
	workers []*chaosWorker
	bank    *banksim.Server
	nc      *nats.Conn
	js      jetstream.JetStream

	calm atomic.Bool // faults stopped: workers restart unarmed
	// interrupted reports whether the run was interrupted by a signal
	// (rather than timed out, which is audited).
	interrupted func() bool
	// faultUploads counts the uploads the bank saw while its faults were on.
	faultUploads int
	stored       sync.Map // intent id → true once JetStream acknowledged it

	mu              sync.Mutex
	workerKills     int
	crashKills      int
	crashPoints     map[string]int
	unexpectedExits int
	startFailures   int
	natsRestarts    int
	clusterRestarts int
	supervisors     sync.WaitGroup
	stopping        atomic.Bool
}

// chaosWorker is one worker process and what its current incarnation is
// armed with.
type chaosWorker struct {
	*chaosProc
	role  string
	armed atomic.Value // string: the crash_at of the current incarnation
}

func (h *chaos) intN(n int) int {
	h.rngMu.Lock()
	defer h.rngMu.Unlock()
	return h.rng.IntN(n)
}

func (h *chaos) logf(format string, args ...any) {
	fmt.Fprintf(h.env.Stderr, "chaos: %s %s\n", time.Now().Format("15:04:05.0"), fmt.Sprintf(format, args...))
}

func (h *chaos) run(ctx context.Context) (*chaosResult, []string, error) {
	start := time.Now()
	// The cluster.
	nodes, err := newNATSCluster(h.dir, h.natsBin)
	if err != nil {
		return nil, nil, err
	}
	h.nodes = nodes
	for _, nd := range nodes {
		if err := nd.start(); err != nil {
			return nil, nil, err
		}
	}
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	err = waitHealthy(wctx, nodes...)
	wcancel()
	if err != nil {
		return nil, nil, err
	}
	var urls []string
	for _, nd := range nodes {
		urls = append(urls, nd.url())
	}
	h.nc, err = nats.Connect(strings.Join(urls, ","), nats.Name("isogate chaos"), nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond), nats.RetryOnFailedConnect(true))
	if err != nil {
		return nil, nil, err
	}
	if h.js, err = jetstream.New(h.nc); err != nil {
		return nil, nil, err
	}
	h.logf("NATS cluster up: %s", strings.Join(urls, " "))

	// The bank, in this process: its ledger is the check.
	h.bank, err = banksim.Start(banksim.Config{Profile: "ekase", Seed: int64(h.seed & math.MaxInt64),
		// Settled well after the status poller's first look (first_delay
		// 500ms): most intents get ACSP, then ACSC, so later statuses
		// meet the kills too.
		Delays: banksim.Delays{Process: 200 * time.Millisecond, Settle: 1500 * time.Millisecond},
		Faults: chaosBankFaults}, "127.0.0.1:0", filepath.Join(h.dir, "banksim-tls"))
	if err != nil {
		return nil, nil, err
	}
	cfgPath, pass, err := h.writeWorkerConfig(urls)
	if err != nil {
		return nil, nil, err
	}
	h.startWorkers(cfgPath, pass)
	// serve provisions the streams: wait for them before publishing.
	if err := h.waitProvisioned(ctx); err != nil {
		return nil, nil, err
	}
	h.logf("%d worker processes up, streams provisioned with 3 replicas (%s)", len(h.workers), time.Since(start).Round(time.Millisecond))

	intents := demoIntents(h.n, "mixed", h.seed)
	tr := newTracker(intents)
	cons, err := h.js.OrderedConsumer(ctx, messages.StreamPayments, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{messages.SubjectIntentsRejected, messages.SubjectBatchesEncoded, messages.SubjectBatchesSubmitted,
			messages.SubjectBatchesFailed, messages.SubjectStatuses, messages.SubjectSettled},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("following PAYMENTS: %w", err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { tr.observe(m.Subject(), m.Data()) })
	if err != nil {
		return nil, nil, fmt.Errorf("following PAYMENTS: %w", err)
	}
	defer cc.Stop()

	// Faults while the intents flow.
	faultStart := time.Now()
	pubDone := make(chan error, 1)
	go func() { pubDone <- h.publish(ctx, intents, faultStart.Add(h.faultPhase*6/10)) }()
	fctx, fcancel := context.WithCancel(ctx)
	var fwg sync.WaitGroup
	fwg.Add(2)
	go func() { defer fwg.Done(); h.killWorkers(fctx) }()
	natsErr := make(chan error, 1)
	go func() { defer fwg.Done(); natsErr <- h.restartNATS(fctx) }()
	// The fault phase ends after its planned length once the minimum
	// counts are reached, or at twice its length regardless.
	tick := time.NewTicker(time.Second)
	lastProgress := time.Now()
	for {
		<-tick.C
		elapsed := time.Since(faultStart)
		if ctx.Err() != nil {
			break
		}
		if elapsed >= h.faultPhase && h.minimumsReached() || elapsed >= 2*h.faultPhase {
			break
		}
		if time.Since(lastProgress) >= 10*time.Second {
			lastProgress = time.Now()
			h.logf("faults: %s; %s", h.faultSummary(), tr.progress(time.Since(faultStart)))
		}
	}
	tick.Stop()
	fcancel()
	fwg.Wait()
	h.bank.Bank.SetFaults(banksim.Faults{})
	h.faultUploads = h.bank.Bank.Ledger().UploadRequests
	h.calm.Store(true)
	if err := <-natsErr; err != nil {
		h.logf("NATS faults ended with: %v", err)
	}
	// Every node up and current, every worker up and unarmed.
	for _, nd := range h.nodes {
		if !nd.running() {
			_ = nd.start()
		}
	}
	hctx, hcancel := context.WithTimeout(ctx, 2*time.Minute)
	err = waitHealthy(hctx, h.nodes...)
	hcancel()
	if err != nil {
		h.logf("after the faults: %v", err)
	}
	for _, w := range h.workers {
		if a, _ := w.armed.Load().(string); a != "" && w.running() {
			if w.kill() {
				h.count(func() { h.workerKills++ })
			}
		}
	}
	recoveryStart := time.Now()
	h.logf("faults stopped after %s: %s; waiting for every intent to end", recoveryStart.Sub(faultStart).Round(time.Second), h.faultSummary())

	var pubErr error
	var waitErr error
	pubPending := true
	tick = time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	lastProgress = time.Now()
	for {
		if pubPending {
			select {
			case pubErr = <-pubDone:
				pubPending = false
			default:
			}
		}
		if !pubPending && tr.done() {
			break
		}
		select {
		case <-ctx.Done():
			waitErr = fmt.Errorf("not terminal before the timeout: %s", tr.pendingReport())
		case <-tick.C:
		}
		if waitErr != nil {
			break
		}
		if time.Since(lastProgress) >= 10*time.Second {
			lastProgress = time.Now()
			h.logf("recovering: %s", tr.progress(time.Since(faultStart)))
		}
	}
	recovery := time.Since(recoveryStart)
	if pubErr != nil {
		waitErr = errors.Join(waitErr, fmt.Errorf("publishing: %w", pubErr))
	}
	h.logf("%s", tr.progress(time.Since(faultStart)))
	if h.interrupted() {
		// Interrupted (SIGINT, SIGTERM): no audit, which can take minutes.
		return nil, nil, errors.Join(errors.New("interrupted"), waitErr)
	}
	res, failures := h.audit(context.WithoutCancel(ctx), intents)
	res.RecoveryS = math.Round(recovery.Seconds()*10) / 10
	res.ElapsedS = math.Round(time.Since(start).Seconds()*10) / 10
	return res, failures, waitErr
}

// chaosBankFaults are the bank's faults during the fault phase: one upload
// in five is booked and its answer dropped.
var chaosBankFaults = banksim.Faults{
	ErrorRate:           0.08,
	Latency:             5 * time.Millisecond,
	TimeoutRate:         0.02,
	DropAfterAcceptRate: 0.20,
	ResetRate:           0.03,
	MalformedRate:       0.03,
}

// writeWorkerConfig imports the bank's client certificate into a
// certificate store and writes the workers' configuration file.
func (h *chaos) writeWorkerConfig(urls []string) (path, passphrase string, err error) {
	passphrase = fmt.Sprintf("chaos-%d", h.seed)
	storeDir := filepath.Join(h.dir, "certs")
	// Fewer key-derivation rounds than production: every worker start
	// decrypts the key, and the run restarts workers many times.
	store, err := certstore.Open(certstore.Options{Dir: storeDir, Passphrase: []byte(passphrase), KDFIterations: 20000})
	if err != nil {
		return "", "", err
	}
	var pemData []byte
	for _, f := range []string{h.bank.TLS.ClientCert, h.bank.TLS.ClientKey} {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", "", err
		}
		pemData = append(pemData, b...)
	}
	pair, err := certstore.ParsePEM(pemData, nil)
	if err != nil {
		return "", "", err
	}
	ref := certstore.Ref{Org: "chaos", Env: certstore.EnvTest, Purpose: "banksim"}
	if err := store.Import(ref, pair); err != nil {
		return "", "", err
	}
	var accounts strings.Builder
	for _, a := range banksim.DefaultAccounts() {
		fmt.Fprintf(&accounts, "    - {iban: %s, currency: %s}\n", a.IBAN, a.Currency)
	}
	cfg := fmt.Sprintf(`# isogate chaos: configuration of every worker process
data_dir: %q
shutdown_timeout: 5s
log: {level: warn, format: text}
nats:
  url: %q
  atomic_batches: "on"
  streams: {replicas: 3}
ops: {listen: ""}
bank:
  channel: h2h
  h2h:
    base_url: %q
    server_ca_file: %q
    cert_store: %q
    org: chaos
    env: test
    purpose: banksim
    timeout: 3s
encoder: {wait: 500ms}
submitter: {upload_timeout: 10s}
statuspoller: {first_delay: 500ms, interval: 1s, max_interval: 5s}
statements:
  tick: 500ms
  intraday: 2s
  retry: 1s
  request_timeout: 10s
  accounts:
%s`, filepath.Join(h.dir, "worker-data"), strings.Join(urls, ","), h.bank.URL, h.bank.TLS.CA, storeDir, accounts.String())
	path = filepath.Join(h.dir, "worker.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return "", "", err
	}
	// Check it as serve will.
	c, err := config.Load(path, func(string) string { return "" })
	if err != nil {
		return "", "", err
	}
	if err := c.Validate(); err != nil {
		return "", "", err
	}
	return path, passphrase, nil
}

// chaosRoles are the worker processes: at least two of each worker that
// can run beside a twin; statements runs once (camt.052 numbering).
var chaosRoles = []string{
	config.WorkerEncoder, config.WorkerEncoder,
	config.WorkerSubmitter, config.WorkerSubmitter,
	config.WorkerStatusPoller, config.WorkerStatusPoller,
	config.WorkerStatements,
	config.WorkerReconciler,
}

func (h *chaos) startWorkers(cfgPath, passphrase string) {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, config.EnvPrefix) {
			env = append(env, kv)
		}
	}
	env = append(env, "ISOGATE_KEY_PASSPHRASE="+passphrase)
	count := map[string]int{}
	for _, role := range chaosRoles {
		count[role]++
		name := fmt.Sprintf("%s-%d", role, count[role])
		w := &chaosWorker{role: role, chaosProc: &chaosProc{name: name, bin: h.self,
			args: []string{"serve", "--config", cfgPath, "--workers", role}, env: env,
			log: filepath.Join(h.dir, name+".log")}}
		w.armed.Store("")
		h.workers = append(h.workers, w)
		h.supervisors.Add(1)
		go h.supervise(w)
	}
}

// supervise keeps a worker process running until the harness stops: each
// exit is classified (killed by the harness, killed by its crash hook,
// anything else is unexpected) and the worker restarted, encoders and
// submitters armed with a random crash point during the fault phase.
func (h *chaos) supervise(w *chaosWorker) {
	defer h.supervisors.Done()
	for !h.stopping.Load() {
		arm := h.armFor(w.role)
		w.armed.Store(arm)
		var extra []string
		if arm != "" {
			extra = append(extra, "ISOGATE_CRASH_AT="+arm)
		}
		if err := w.start(extra...); err != nil {
			h.logf("%v", err)
			return
		}
		<-w.exited()
		if h.stopping.Load() {
			return
		}
		switch cause := w.exitCause(); {
		case cause == "killed":
		case cause == "sigkill" && arm != "":
			point := arm[:strings.LastIndexByte(arm, ':')]
			h.count(func() { h.crashKills++; h.crashPoints[point]++ })
		case cause == "exit 1" && w.startFailed():
			// serve exits 1 when it cannot reach NATS or provision at
			// start (the whole cluster down): the supervisor retries.
			h.count(func() { h.startFailures++ })
		default:
			h.count(func() { h.unexpectedExits++ })
			h.logf("%s ended unexpectedly (%s); see %s", w.name, cause, w.log)
		}
		// A short pause, as a process supervisor would take.
		time.Sleep(time.Duration(100+h.intN(400)) * time.Millisecond)
	}
}

// armFor picks the crash point of a new encoder, submitter or status
// poller incarnation during the fault phase, to die the 1st to 3rd time it
// reaches it: every one is armed until the crash-hook minimum (and two
// more) is reached — the hooks fire only while work flows — then about
// half.
func (h *chaos) armFor(role string) string {
	if h.calm.Load() {
		return ""
	}
	var points []string
	switch role {
	case config.WorkerEncoder:
		points = []string{encoder.CrashCreated, encoder.CrashClaimed, encoder.CrashArchived, encoder.CrashTransitioned,
			encoder.CrashPublished, encoder.CrashAcking}
	case config.WorkerSubmitter:
		points = []string{submitter.CrashAfterCAS, submitter.CrashAfterUpload, submitter.CrashAfterInDoubt, submitter.CrashBeforeAck}
	case config.WorkerStatusPoller:
		points = []string{statuspoller.CrashBeforePublish, statuspoller.CrashAfterPublish}
	default:
		return ""
	}
	h.mu.Lock()
	short := h.crashKills < chaosMinimums.crashKills+2
	h.mu.Unlock()
	if !short && h.intN(2) == 0 {
		return ""
	}
	return fmt.Sprintf("%s:%s:%d", role, points[h.intN(len(points))], 1+h.intN(3))
}

func (h *chaos) count(f func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f()
}

func (h *chaos) minimumsReached() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := chaosMinimums
	return h.workerKills >= m.workerKills && h.crashKills >= m.crashKills && h.natsRestarts >= m.natsRestarts &&
		h.clusterRestarts >= m.clusterRestarts
}

func (h *chaos) faultSummary() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.bank.Bank.Ledger()
	total := 0
	for _, v := range l.Faults {
		total += v
	}
	return fmt.Sprintf("%d worker kills, %d crash-hook kills, %d NATS node restarts, %d cluster restarts, %d bank faults",
		h.workerKills, h.crashKills, h.natsRestarts, h.clusterRestarts, total)
}

// killWorkers kill -9s a random running worker process at random
// intervals around faultPhase/45, so a fault phase makes about 45.
func (h *chaos) killWorkers(ctx context.Context) {
	mean := h.faultPhase / 45
	for {
		d := mean/2 + time.Duration(h.intN(int(mean)))
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
		w := h.workers[h.intN(len(h.workers))]
		if w.kill() {
			h.count(func() { h.workerKills++ })
		}
	}
}

// restartNATS kill -9s one node at a time and starts it again once the
// cluster is healthy, spread over the fault phase; about halfway it kills
// all three nodes at once and starts them again.
func (h *chaos) restartNATS(ctx context.Context) error {
	gap := h.faultPhase / 9
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(gap/2 + time.Duration(h.intN(int(gap)))):
		}
		if i == 3 {
			h.logf("NATS: kill -9 of all three nodes")
			for _, nd := range h.nodes {
				nd.kill()
			}
			time.Sleep(time.Duration(500+h.intN(1500)) * time.Millisecond)
			for _, nd := range h.nodes {
				if err := nd.start(); err != nil {
					return err
				}
			}
			h.count(func() { h.clusterRestarts++ })
		} else {
			nd := h.nodes[h.intN(len(h.nodes))]
			h.logf("NATS: kill -9 of %s", nd.name)
			nd.kill()
			time.Sleep(time.Duration(200+h.intN(1800)) * time.Millisecond)
			if err := nd.start(); err != nil {
				return err
			}
			h.count(func() { h.natsRestarts++ })
		}
		// Never take a node before the last one caught up: that would
		// be a loss of quorum, not a node failure. (When the fault phase
		// ends meanwhile, the harness waits for the nodes itself.)
		wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err := waitHealthy(wctx, h.nodes...)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// waitProvisioned waits until the workers' provisioning made the streams
// and buckets the harness reads.
func (h *chaos) waitProvisioned(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		ok := true
		for _, s := range []string{messages.StreamPayments, messages.StreamDLQ, "KV_" + messages.BucketBatches} {
			// Each attempt on its own deadline: a request lost while the
			// cluster elects its leaders gets no answer at all.
			actx, cancel := context.WithTimeout(ctx, 3*time.Second)
			_, err := h.js.Stream(actx, s)
			cancel()
			if err != nil {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("streams not provisioned by the workers: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// publish publishes every intent as upstream would — pay.intent.<id>,
// Nats-Msg-Id = id, stored only if the subject is empty — paced to end
// around until, and retries each one that gets no acknowledgement (a node
// down, a leader election) until it is stored: a "wrong last sequence"
// answer means an earlier attempt was.
func (h *chaos) publish(ctx context.Context, intents []messages.PaymentIntent, until time.Time) error {
	js, err := jetstream.New(h.nc, jetstream.WithPublishAsyncMaxPending(256))
	if err != nil {
		return err
	}
	const chunk = 100
	pending := slices.Clone(intents)
	steps := (len(pending) + chunk - 1) / chunk
	pace := time.Until(until) / time.Duration(steps)
	for len(pending) > 0 {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%d intents not stored: %w", len(pending), err)
		}
		var retry []messages.PaymentIntent
		for len(pending) > 0 {
			next := time.Now().Add(pace)
			part := pending[:min(chunk, len(pending))]
			pending = pending[len(part):]
			retry = append(retry, h.publishChunk(ctx, js, part)...)
			if d := time.Until(next); d > 0 && len(pending) > 0 {
				select {
				case <-ctx.Done():
				case <-time.After(d):
				}
			}
		}
		if len(retry) > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
		pending, pace = retry, 0
	}
	return nil
}

// publishChunk publishes intents and returns those not known to be stored.
func (h *chaos) publishChunk(ctx context.Context, js jetstream.JetStream, intents []messages.PaymentIntent) []messages.PaymentIntent {
	var retry []messages.PaymentIntent
	type sent struct {
		p messages.PaymentIntent
		f jetstream.PubAckFuture
	}
	var futures []sent
	for _, p := range intents {
		data, _ := messages.Marshal(p)
		msg := nats.NewMsg(messages.IntentSubject(p.ID))
		msg.Data = data
		msg.Header.Set(messages.HeaderMsgID, p.ID)
		msg.Header.Set(messages.HeaderExpectedLastSubjectSeq, "0")
		f, err := js.PublishMsgAsync(msg)
		if err != nil {
			retry = append(retry, p)
			continue
		}
		futures = append(futures, sent{p, f})
	}
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for _, s := range futures {
		select {
		case <-s.f.Ok():
			h.stored.Store(s.p.ID, true)
		case err := <-s.f.Err():
			var apiErr *jetstream.APIError
			if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
				h.stored.Store(s.p.ID, true)
				continue // stored by an earlier attempt
			}
			retry = append(retry, s.p)
		case <-timeout.C:
			retry = append(retry, s.p)
		case <-ctx.Done():
			retry = append(retry, s.p)
		}
	}
	return retry
}

// stopAll ends every child process and the bank.
func (h *chaos) stopAll() {
	h.stopping.Store(true)
	for _, w := range h.workers {
		w.kill()
	}
	h.supervisors.Wait()
	if h.nc != nil {
		h.nc.Close()
	}
	for _, nd := range h.nodes {
		nd.kill()
	}
	if h.bank != nil {
		h.bank.Close()
	}
}

// audit reads the final state — the whole PAYMENTS stream again, the
// stored intents, the batches bucket, the DLQ and the bank's ledger — and
// returns the result and every failed invariant or minimum.
func (h *chaos) audit(ctx context.Context, intents []messages.PaymentIntent) (*chaosResult, []string) {
	var failures []string
	fail := func(format string, args ...any) { failures = append(failures, fmt.Sprintf(format, args...)) }
	res := &chaosResult{Seed: h.seed, Intents: len(intents)}
	h.mu.Lock()
	res.WorkerKills, res.CrashKills, res.NATSRestarts, res.ClusterRestarts = h.workerKills, h.crashKills, h.natsRestarts, h.clusterRestarts
	res.UnexpectedExits, res.StartFailures = h.unexpectedExits, h.startFailures
	res.CrashPoints = maps.Clone(h.crashPoints)
	h.mu.Unlock()

	// A fresh tracker from the stream, not the live one: what is stored.
	tr := newTracker(intents)
	inDoubt := map[string]bool{}
	lastStatus := map[string]messages.PaymentStatus{}
	changed := map[string]bool{}
	err := h.readStream(ctx, messages.StreamPayments, []string{messages.SubjectIntentsRejected, messages.SubjectBatchesEncoded,
		messages.SubjectBatchesSubmitted, messages.SubjectBatchesFailed, messages.SubjectStatuses, messages.SubjectSettled,
		messages.SubjectBatchesInDoubt}, func(m jetstream.Msg) {
		if strings.HasPrefix(m.Subject(), "pay.batch.in_doubt.") {
			var ev messages.BatchInDoubt
			if json.Unmarshal(m.Data(), &ev) == nil {
				inDoubt[ev.BatchID] = true
			}
			return
		}
		if strings.HasPrefix(m.Subject(), "pay.status.") {
			// One event per change: never the same status twice in a row
			// for an intent, nothing after a final one.
			var ev messages.PaymentStatus
			if json.Unmarshal(m.Data(), &ev) == nil {
				res.StatusEvents++
				prev, seen := lastStatus[ev.IntentID]
				switch {
				case seen && prev.Final:
					res.StatusAfterFinal++
				case seen && prev.Status == ev.Status:
					res.StatusRepeated++
				case seen:
					changed[ev.IntentID] = true
				}
				lastStatus[ev.IntentID] = ev
			}
		}
		tr.observe(m.Subject(), m.Data())
	})
	if err != nil {
		fail("reading PAYMENTS: %v", err)
	}
	r, _, conflicts, _ := tr.result()
	res.Rejected, res.Accepted, res.Failed, res.Settled, res.Conflicts = r.Rejected, r.Accepted, r.Failed, r.Settled, conflicts
	res.StatusChanged = len(changed)
	if res.StatusRepeated > 0 || res.StatusAfterFinal > 0 {
		fail("pay.status: %d events repeat the intent's previous status, %d follow a final one", res.StatusRepeated, res.StatusAfterFinal)
	}
	res.Unterminated = r.Pending

	// Every intent stored once on its own subject.
	info, err := h.js.Stream(ctx, messages.StreamPayments)
	if err == nil {
		var si *jetstream.StreamInfo
		si, err = info.Info(ctx, jetstream.WithSubjectFilter("pay.intent.*"))
		if err == nil {
			missing := 0
			for _, p := range intents {
				if _, ok := h.stored.Load(p.ID); ok && si.State.Subjects[messages.IntentSubject(p.ID)] != 1 {
					missing++
				}
			}
			if missing > 0 {
				res.Lost += missing
				fail("%d acknowledged intents not stored exactly once on their subject", missing)
			}
		}
	}
	if err != nil {
		fail("reading stored intents: %v", err)
	}

	// Batches: none left in doubt or mid-upload, every in-doubt one resolved.
	states, err := h.batchStates(ctx)
	if err != nil {
		fail("reading batches: %v", err)
	}
	res.Batches = len(states)
	res.InDoubt = len(inDoubt)
	for id := range inDoubt {
		if s := states[id]; s != "in_doubt" && s != "submitting" && s != "" {
			res.InDoubtResolved++
		}
	}
	stuck := map[string]int{}
	for _, s := range states {
		if s == "in_doubt" || s == "submitting" || s == "encoded" || s == "submitted" {
			stuck[s]++
		}
	}
	if len(stuck) > 0 {
		fail("batches not final: %v", stuck)
	}
	if res.InDoubtResolved != res.InDoubt {
		fail("%d of %d in-doubt batches unresolved", res.InDoubt-res.InDoubtResolved, res.InDoubt)
	}

	// The DLQ: an entry is accounted for when every intent it concerns
	// ended anyway (its message was redelivered and handled).
	var dlq []messages.DeadLetter
	if err := h.readStream(ctx, messages.StreamDLQ, nil, func(m jetstream.Msg) {
		var d messages.DeadLetter
		if json.Unmarshal(m.Data(), &d) == nil {
			dlq = append(dlq, d)
		}
	}); err != nil {
		fail("reading the DLQ: %v", err)
	}
	res.DLQEntries = len(dlq)
	// Lost: no terminal event and no trace either — in no encoded batch,
	// named by no dead letter. (Open intents with a trace count as
	// unterminated only.)
	inDLQ := map[string]bool{}
	for _, d := range dlq {
		inDLQ[d.IntentID] = true
	}
	res.Lost += tr.untraced(func(id string) bool {
		_, acked := h.stored.Load(id)
		return acked && !inDLQ[id]
	})
	for _, d := range dlq {
		if !tr.accountsFor(d) {
			res.DLQUnaccounted++
			fail("DLQ entry of %s not accounted for: %s (intent %q, batch %q): %s", d.Worker, d.Subject, d.IntentID, d.BatchID, d.Error)
		}
	}

	// The bank's ledger.
	l := h.bank.Bank.Ledger()
	res.MsgIDsUploaded2x, res.E2EBookedTwice = l.DuplicateUploads, l.EndToEndIDsBookedTwice
	res.DuplicatesAtBank = l.DuplicateUploads + l.EndToEndIDsBookedTwice
	res.UploadRequests, res.FaultUploads = l.UploadRequests, h.faultUploads
	res.Faults = map[string]int{}
	for k, v := range l.Faults {
		res.Faults[string(k)] = v
		res.BankFaults += v
	}
	res.DroppedAfterAcc = l.Faults[banksim.FaultDropAfterAccept]

	if res.Lost > 0 {
		fail("%d intents lost (acknowledged, then no terminal event and no trace)", res.Lost)
	}
	if res.Unterminated > 0 {
		fail("%d intents not terminal, or accepted and not settled: %s", res.Unterminated, tr.pendingReport())
	}
	if res.Conflicts > 0 {
		fail("%d intents with two different terminal events", res.Conflicts)
	}
	if res.DuplicatesAtBank > 0 {
		fail("at the bank: %d MsgIds uploaded twice, %d EndToEndIds booked twice", l.DuplicateUploads, l.EndToEndIDsBookedTwice)
	}
	if res.UnexpectedExits > 0 {
		fail("%d worker processes ended on their own (not killed): see the logs", res.UnexpectedExits)
	}
	m := chaosMinimums
	if res.WorkerKills < m.workerKills || res.CrashKills < m.crashKills || res.NATSRestarts < m.natsRestarts ||
		res.ClusterRestarts < m.clusterRestarts {
		fail("fault minimums not reached: %d/%d worker kills, %d/%d crash-hook kills, %d/%d node restarts, %d/%d cluster restarts",
			res.WorkerKills, m.workerKills, res.CrashKills, m.crashKills, res.NATSRestarts, m.natsRestarts,
			res.ClusterRestarts, m.clusterRestarts)
	}
	// The bank fails only during the fault phase: the share of dropped
	// answers is taken over the uploads of that phase.
	if res.FaultUploads == 0 || res.DroppedAfterAcc*10 < res.FaultUploads {
		fail("answers dropped after accepting: %d of the %d uploads during the fault phase, want at least 10%%", res.DroppedAfterAcc, res.FaultUploads)
	}
	return res, failures
}

// readStream reads every message of stream stored when it starts whose
// subject matches one of filter (all when filter is empty), in order,
// through an ordered consumer (which recreates itself after errors).
func (h *chaos) readStream(ctx context.Context, stream string, filter []string, f func(jetstream.Msg)) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	s, err := h.js.Stream(ctx, stream)
	if err != nil {
		return err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return err
	}
	last := info.State.LastSeq
	if info.State.Msgs == 0 {
		return nil
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return err
	}
	done := make(chan struct{})
	var once sync.Once
	cc, err := cons.Consume(func(m jetstream.Msg) {
		md, err := m.Metadata()
		if err != nil {
			return
		}
		if md.Sequence.Stream > last {
			once.Do(func() { close(done) })
			return
		}
		if len(filter) == 0 || slices.ContainsFunc(filter, func(p string) bool { return subjectMatches(p, m.Subject()) }) {
			f(m)
		}
		if md.Sequence.Stream == last {
			once.Do(func() { close(done) })
		}
	})
	if err != nil {
		return err
	}
	defer cc.Stop()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("reading %s up to sequence %d: %w", stream, last, ctx.Err())
	}
}

// subjectMatches reports whether subject matches the NATS pattern (with *
// and a final >).
func subjectMatches(pattern, subject string) bool {
	p, s := strings.Split(pattern, "."), strings.Split(subject, ".")
	for i, tok := range p {
		if tok == ">" {
			return len(s) > i
		}
		if i >= len(s) || (tok != "*" && tok != s[i]) {
			return false
		}
	}
	return len(p) == len(s)
}

// batchStates returns every batch's state.
func (h *chaos) batchStates(ctx context.Context) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	kv, err := h.js.KeyValue(ctx, messages.BucketBatches)
	if err != nil {
		return nil, err
	}
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return map[string]string{}, nil
		}
		return nil, err
	}
	out := map[string]string{}
	for k := range lister.Keys() {
		e, err := kv.Get(ctx, k)
		if err != nil {
			return nil, fmt.Errorf("batch %s: %w", k, err)
		}
		var b struct {
			State string `json:"state"`
		}
		if err := json.Unmarshal(e.Value(), &b); err != nil {
			return nil, fmt.Errorf("batch %s: %w", k, err)
		}
		out[k] = b.State
	}
	return out, nil
}

// untraced counts the intents with no terminal event that are in no
// encoded batch, among those count says to count.
func (t *tracker) untraced(count func(id string) bool) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for id, s := range t.intents {
		if s.terminal == "" && s.batch == "" && count(id) {
			n++
		}
	}
	return n
}

// accountsFor reports whether a DLQ entry is accounted for: every intent
// it concerns (its intent, or its batch's intents) ended anyway.
func (t *tracker) accountsFor(d messages.DeadLetter) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	var ids []string
	if d.IntentID != "" {
		ids = append(ids, d.IntentID)
	}
	if d.BatchID != "" {
		ids = append(ids, t.batches[d.BatchID]...)
	}
	if len(ids) == 0 {
		return false
	}
	for _, id := range ids {
		if s := t.intents[id]; s == nil || s.open() {
			return false
		}
	}
	return true
}
