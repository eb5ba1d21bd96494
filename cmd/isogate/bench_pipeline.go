package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/isogate/isogate/banksim"
	"github.com/isogate/isogate/internal/app"
	"github.com/isogate/isogate/internal/config"
	"github.com/isogate/isogate/internal/intentgen"
	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/workers/encoder"
	"github.com/isogate/isogate/workers/statuspoller"
)

func init() {
	benchModes["pipeline"] = command{Name: "pipeline", Summary: "N intents through the whole gateway (embedded JetStream, all workers, simulated bank) against a raw JetStream baseline", Run: runBenchPipeline}
}

const benchPipelineUsage = `usage: isogate bench pipeline [--intents N] [--sync always|interval] [--json]

Starts, in this process, the whole gateway as isogate demo does — NATS with
JetStream file storage in a temporary directory, every worker, the simulated
bank with no added latency (no faults, status play-out immediate) — and
publishes N generated valid intents as an upstream service would: async, on
pay.intent.<id>, Nats-Msg-Id = id, Nats-Expected-Last-Subject-Sequence 0,
at most --window unacknowledged at once, and with --rate R no faster than R
a second (by default as fast as the broker acknowledges). An ordered
consumer on PAYMENTS follows the events. Then, in the same server, it takes
the raw baseline.

  intents_per_s      N / (first publish → the last pay.batch.submitted that
                     completes every intent's batch); times are the stream
                     timestamps of the events
  final_per_s        N / (first publish → the last final pay.status)
  p50_ms, p99_ms     per intent: publish → its batch's pay.batch.submitted,
                     minus the time it waited in its open batch:
                     wait = close − max(delivered, open), where close is the
                     batch record's creation (pay.batch.encoded created_at:
                     the flush starts when the batch closes), open is when
                     its first intent joined it, as the encoder tells (a
                     batch held past --wait while the submitter was
                     behind, up to --max-hold, collected longer than the
                     wait), and delivered is when the
                     encoder's consumer had delivered the intent's stream
                     sequence (consumer info sampled every 5 ms until all
                     are delivered: up to 5 ms late, which shortens the
                     wait; the handler's work between delivery and joining
                     the batch — parsing, validation, KV reads — counts as
                     wait when it falls after the batch opened). The table
                     shows two parts of it: queued = delivered − publish
                     (the intent waiting in the stream for the encoder),
                     flushed = submitted − close, and the flush's parts
                     before and after pay.batch.encoded is stored
  peak_rss_mb        VmHWM of this process (/proc/self/status) at the end of
                     the pipeline run, before the baseline; MB = 2^20 bytes.
                     The Go runtime lets its heap grow to twice the live
                     data (GOGC=100) unless GOMEMLIMIT bounds it: the
                     table shows the limit in effect, and the live heap
                     after a collection once the run is over
  raw_publish_per_s  N async publishes of messages of the intents' mean JSON
                     size to a fresh file-storage stream BENCH_RAW (subject
                     bench.raw.<n>, one per message, no headers) in the same
                     server, same sync setting and window, first publish →
                     last acknowledgement; taken after the pipeline is idle
  raw_consume_per_s  N / (consume and ack all of them with a pull consumer,
                     until the server has no ack pending)
  ratio              intents_per_s / raw_publish_per_s

--sync always fsyncs every write (the gateway's default); interval leaves it
to the server's periodic sync (sync_interval 2m, NATS's default).

Progress goes to stderr every second. Without --json a table comes first,
which adds the batches, the latency with the wait, this process's CPU time
(per intent and per raw publish: comparable on a busy machine), the Go
heap, stacks and goroutines at their peak, and the broker's work per
intent (client messages in and out, JetStream API requests, stored
messages per stream); the last line is always:

  {"intents":N,"sync":"…","intents_per_s":F,"final_per_s":F,"raw_publish_per_s":F,"raw_consume_per_s":F,"ratio":F,"p50_ms":F,"p99_ms":F,"peak_rss_mb":F}

flags:
`

// benchPipelineResult is the last line of `isogate bench pipeline`.
type benchPipelineResult struct {
	Intents        int     `json:"intents"`
	Sync           string  `json:"sync"`
	IntentsPerS    float64 `json:"intents_per_s"`
	FinalPerS      float64 `json:"final_per_s"`
	RawPublishPerS float64 `json:"raw_publish_per_s"`
	RawConsumePerS float64 `json:"raw_consume_per_s"`
	Ratio          float64 `json:"ratio"`
	P50Ms          float64 `json:"p50_ms"`
	P99Ms          float64 `json:"p99_ms"`
	PeakRSSMB      float64 `json:"peak_rss_mb"`

	// For the table.
	wait                   time.Duration
	window                 int
	rate                   float64
	payloadBytes           int
	batches                int
	timerClosed            int
	held                   int // batches the encoder held past the wait
	submitS, finalS        float64
	publishS               float64
	rawPubS, rawConsS      float64
	meanMs, maxMs          float64
	p50WaitMs, p99WaitMs   float64
	p50TotalMs, p99TotalMs float64
	// The latency's parts: publish → delivered to the encoder (the
	// intent queued in the stream), and batch close → pay.batch.submitted
	// (encode, archive, claims, upload).
	p50QueueMs, p99QueueMs float64
	p50FlushMs, p99FlushMs float64
	// The flush's parts: close → pay.batch.encoded stored (encode,
	// archive, claims), then → pay.batch.submitted (the submitter).
	p99EncodedMs, p99SubmitMs float64
	cpuS, rawPubCPUS          float64 // process CPU time of the pipeline run and of the raw publishes
	peakGo                    goPeaks
	memLimit                  int64   // the Go runtime's soft memory limit (GOMEMLIMIT); math.MaxInt64: none
	liveMB                    float64 // Go heap objects right after a collection at the end of the run
	broker                    brokerDelta
}

// goPeaks are the largest Go heap, goroutine stacks and goroutine count
// seen during the pipeline run (sampled every 50 ms): what of the RSS the
// Go runtime holds.
type goPeaks struct {
	heapMB, stacksMB float64
	goroutines       uint64
}

var goPeakMetrics = []string{"/memory/classes/heap/objects:bytes", "/memory/classes/heap/stacks:bytes", "/sched/goroutines:goroutines"}

func (p *goPeaks) sample() {
	ss := make([]metrics.Sample, len(goPeakMetrics))
	for i, name := range goPeakMetrics {
		ss[i].Name = name
	}
	metrics.Read(ss)
	if ss[0].Value.Kind() == metrics.KindUint64 {
		p.heapMB = max(p.heapMB, float64(ss[0].Value.Uint64())/(1<<20))
	}
	if ss[1].Value.Kind() == metrics.KindUint64 {
		p.stacksMB = max(p.stacksMB, float64(ss[1].Value.Uint64())/(1<<20))
	}
	if ss[2].Value.Kind() == metrics.KindUint64 {
		p.goroutines = max(p.goroutines, ss[2].Value.Uint64())
	}
}

// brokerSnap is what the server had counted at one moment: client
// messages in and out, JetStream API requests, and each stream's last
// sequence (every write, KV updates and deletes included).
type brokerSnap struct {
	in, out, api int64
	seqs         map[string]uint64
}

// brokerDelta is the broker's work over the pipeline run.
type brokerDelta struct {
	in, out, api int64
	writes       map[string]uint64
}

func takeBrokerSnap(ctx context.Context, srv *server.Server, js jetstream.JetStream) brokerSnap {
	s := brokerSnap{seqs: map[string]uint64{}}
	if v, err := srv.Varz(nil); err == nil {
		s.in, s.out = v.InMsgs, v.OutMsgs
		if v.JetStream.Stats != nil {
			s.api = int64(v.JetStream.Stats.API.Total)
		}
	}
	lister := js.ListStreams(ctx)
	for info := range lister.Info() {
		s.seqs[info.Config.Name] = info.State.LastSeq
	}
	return s
}

func (s brokerSnap) since(before brokerSnap) brokerDelta {
	d := brokerDelta{in: s.in - before.in, out: s.out - before.out, api: s.api - before.api, writes: map[string]uint64{}}
	for name, seq := range s.seqs {
		if w := seq - before.seqs[name]; w > 0 {
			d.writes[name] = w
		}
	}
	return d
}

// benchPipelineHidden are the flags the usage does not list.
var benchPipelineHidden = map[string]bool{"cpuprofile": true, "memprofile": true, "log-level": true}

// benchTimeout is --timeout's default: 10 minutes, plus 3 ms an intent
// for runs whose pipeline is slower than the broker (1M intents with
// --sync always ran at 741 a second here, 23 minutes: an hour allowed).
func benchTimeout(n int) time.Duration { return 10*time.Minute + time.Duration(n)*3*time.Millisecond }

func runBenchPipeline(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("isogate bench pipeline", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprint(env.Stderr, benchPipelineUsage)
		fs.VisitAll(func(f *flag.Flag) {
			if benchPipelineHidden[f.Name] {
				return
			}
			name, usage := flag.UnquoteUsage(f)
			def := f.DefValue
			if f.Name == "timeout" {
				def = "10m plus 3ms an intent"
			}
			fmt.Fprintf(env.Stderr, "  --%s %s\n    \t%s (default %s)\n", f.Name, name, usage, def)
		})
	}
	b := &pipelineBench{env: env}
	fs.IntVar(&b.n, "intents", 10000, "how many payment intents to publish (1 to 1000000)")
	fs.StringVar(&b.sync, "sync", "always", "always (fsync every write) or interval (the server's periodic sync)")
	asJSON := fs.Bool("json", false, "print only the JSON line on stdout")
	fs.DurationVar(&b.wait, "wait", 100*time.Millisecond, "encoder.wait: a batch closes this long after its first intent")
	fs.DurationVar(&b.maxHold, "max-hold", 0, "encoder.max_hold: the longest a batch collects while the submitter is behind (0: 10×wait; the wait: never held)")
	fs.IntVar(&b.window, "window", 1024, "publishes awaiting their acknowledgement at most, pipeline and baseline")
	fs.Float64Var(&b.rate, "rate", 0, "publish at most `R` intents per second (0: as fast as the broker acknowledges); a paced run shows the latency while the pipeline keeps up")
	fs.DurationVar(&b.timeout, "timeout", 0, "give up on a phase (pipeline, raw publish, raw consume) after this `DURATION`")
	fs.StringVar(&b.cpuprofile, "cpuprofile", "", "write a CPU profile of the pipeline run to `FILE`")
	fs.StringVar(&b.memprofile, "memprofile", "", "write a heap profile to `FILE` whenever the live heap (checked every second) is 10% above its largest so far")
	logLevel := fs.String("log-level", "error", "level of the gateway's log on stderr")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	var usageErrs []string
	if len(pos) > 0 {
		usageErrs = append(usageErrs, fmt.Sprintf("unexpected argument %q", pos[0]))
	}
	if b.n < 1 || b.n > 1_000_000 {
		usageErrs = append(usageErrs, fmt.Sprintf("--intents %d: want 1 to 1000000", b.n))
	}
	if b.sync != "always" && b.sync != "interval" {
		usageErrs = append(usageErrs, fmt.Sprintf("--sync %q: want always or interval", b.sync))
	}
	timeoutSet := false
	fs.Visit(func(f *flag.Flag) { timeoutSet = timeoutSet || f.Name == "timeout" })
	if !timeoutSet {
		b.timeout = benchTimeout(b.n)
	}
	if b.wait <= 0 || b.timeout <= 0 {
		usageErrs = append(usageErrs, "--wait and --timeout must be positive")
	}
	if b.rate < 0 || math.IsNaN(b.rate) || math.IsInf(b.rate, 0) {
		usageErrs = append(usageErrs, "--rate must be 0 (unpaced) or a positive number of intents per second")
	}
	if b.window < 1 {
		usageErrs = append(usageErrs, "--window must be positive")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		usageErrs = append(usageErrs, fmt.Sprintf("--log-level %q: want debug, info, warn or error", *logLevel))
	}
	if usageFailed(env, "isogate bench pipeline", usageErrs) {
		return 2
	}
	b.log = slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level}))
	res, err := b.run(ctx)
	if err != nil {
		fmt.Fprintln(env.Stderr, "isogate bench pipeline:", err)
		return 1
	}
	if !*asJSON {
		printBenchPipeline(env.Stdout, res)
	}
	line, _ := json.Marshal(res)
	fmt.Fprintln(env.Stdout, string(line))
	return 0
}

type pipelineBench struct {
	env        *cliEnv
	n          int
	sync       string
	wait       time.Duration
	maxHold    time.Duration
	window     int
	rate       float64 // intents per second, 0: unpaced
	timeout    time.Duration
	cpuprofile string
	memprofile string
	log        *slog.Logger
}

// benchSyncInterval is --sync interval: NATS's own default period.
const benchSyncInterval = "2m"

// benchPipelineConfig is the gateway of the bench: everything embedded in
// dir on free ports, no ops server, the bank with no play-out delay.
func benchPipelineConfig(dir, sync string, wait, maxHold time.Duration) *config.Config {
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.NATS.Embedded.Port = -1
	cfg.NATS.Embedded.MonitorPort = 0
	cfg.NATS.Embedded.SyncInterval = "always"
	if sync == "interval" {
		cfg.NATS.Embedded.SyncInterval = benchSyncInterval
	}
	cfg.Ops.Listen = ""
	cfg.Log.Level = "error"
	cfg.Encoder.Wait = wait
	cfg.Encoder.MaxHold = maxHold
	// 0 is "no delay" here (internal/app maps it to banksim's -1): the
	// bank answers ACSC to the first status query.
	cfg.Bank.Banksim.Accept = 0
	cfg.Bank.Banksim.Process = 0
	cfg.Bank.Banksim.Settle = 0
	return &cfg
}

// benchPipelineOptions: no faults, and the status poller asks at once,
// then every 50 ms; everything else keeps the workers' defaults. The
// encoder tells opens when each batch began collecting.
func benchPipelineOptions(opens *batchOpens) app.Options {
	return app.Options{
		Encoder: func(c *encoder.Config) { c.Closed = opens.record },
		Banksim: func(b *banksim.Config) { b.Faults = banksim.Faults{} },
		StatusPoller: func(c *statuspoller.Config) {
			c.Schedule = statuspoller.Schedule{FirstDelay: -1, Interval: 50 * time.Millisecond,
				MaxInterval: time.Second, Multiplier: 2}
		},
	}
}

// benchIDPrefix starts every intent id: BP-000000 … BP-999999, all of one
// length, so a template's id can be overwritten in place.
const (
	benchIDPrefix = "BP-"
	benchIDDigits = 6
	// benchTemplates is how many distinct generated intents the published
	// ones cycle through (with their own ids): generating and marshalling
	// is done before the clock starts, and N of them are never all held.
	benchTemplates = 4096
)

func benchIntentID(i int) string {
	s := strconv.Itoa(i)
	return benchIDPrefix + strings.Repeat("0", benchIDDigits-len(s)) + s
}

// benchIntentIndex is the inverse of benchIntentID; -1 for another id.
func benchIntentIndex(id string) int {
	if len(id) != len(benchIDPrefix)+benchIDDigits || !strings.HasPrefix(id, benchIDPrefix) {
		return -1
	}
	n := 0
	for _, c := range id[len(benchIDPrefix):] {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// intentTemplate is one generated intent's JSON and where its id is.
type intentTemplate struct {
	data []byte
	at   []int // offsets of the id in data
}

func benchTemplatesFor(n int) ([]intentTemplate, error) {
	k := min(n, benchTemplates)
	gen := intentgen.Intents(k, intentgen.Options{Prefix: strings.TrimSuffix(benchIDPrefix, "-"), Seed: 1})
	out := make([]intentTemplate, k)
	for i, p := range gen {
		if p.ID != benchIntentID(i) {
			return nil, fmt.Errorf("generated intent %d has id %q, want %q", i, p.ID, benchIntentID(i))
		}
		data, err := messages.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("intent %s: %w", p.ID, err)
		}
		t := intentTemplate{data: data}
		for off := 0; ; {
			j := bytes.Index(data[off:], []byte(p.ID))
			if j < 0 {
				break
			}
			t.at = append(t.at, off+j)
			off += j + len(p.ID)
		}
		out[i] = t
	}
	return out, nil
}

// payload returns intent i's JSON: its template with its id.
func (t *intentTemplate) payload(id string) []byte {
	b := slices.Clone(t.data)
	for _, at := range t.at {
		copy(b[at:], id)
	}
	return b
}

// batchOpens is what the encoder told of the batches it closed, by the
// index of each one's first intent: when it began collecting, and whether
// it was held past encoder.wait while the submitter was behind
// (encoder.max_hold), which is how the bench knows how long it collected.
type batchOpens struct {
	mu sync.Mutex
	at map[int32]batchOpen
}

type batchOpen struct {
	at   time.Time
	held bool
}

func (o *batchOpens) record(firstID string, opened time.Time, held bool) {
	i := benchIntentIndex(firstID)
	if i < 0 {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.at == nil {
		o.at = map[int32]batchOpen{}
	}
	o.at[int32(i)] = batchOpen{opened, held}
}

// benchMaxTxPerFile is the built-in profiles' file limit: a batch that
// size was closed because it was full, not by its timer.
const benchMaxTxPerFile = 10000

// pipeBatch is what the follower keeps of one batch.
type pipeBatch struct {
	closeNs   int64 // pay.batch.encoded created_at, from the start
	encodedNs int64 // stream timestamp of pay.batch.encoded
	submitNs  int64 // stream timestamp of pay.batch.submitted
	size      int32
	submitted bool
}

// deliverySample: at ns, the encoder's consumer had delivered every
// intent up to stream sequence seq.
type deliverySample struct {
	ns  int64
	seq uint64
}

// pipeTracker holds the run's per-intent state in arrays indexed by intent
// number (about 25 bytes an intent), and a small record per batch.
type pipeTracker struct {
	n     int
	start time.Time

	pubNs []int64  // publish time, from start (publisher goroutine)
	seq   []uint32 // stream sequence of the intent (ack handler)

	published, acked, pubErrs atomic.Int64
	firstPubErr               atomic.Pointer[string]

	mu         sync.Mutex
	batchOf    []int32 // -1: not yet in a batch
	final      []bool
	batchIdx   map[string]int32
	batches    []pipeBatch
	batched    int
	submitted  int // intents whose batch is submitted
	finals     int
	rejected   int
	failed     int
	problem    string // first rejection or failure seen
	submitEnd  int64  // latest pay.batch.submitted stream timestamp, from start
	finalEnd   int64  // stream timestamp of the last final pay.status
	followErrs int

	samplesMu    sync.Mutex
	samples      []deliverySample
	infoRequests atomic.Int64 // the sampler's, not the gateway's

	// opened is when each batch began collecting, by its first intent,
	// as the encoder told it (batchOpens); set after the run.
	opened map[int32]batchOpen
}

func newPipeTracker(n int) *pipeTracker {
	t := &pipeTracker{n: n, pubNs: make([]int64, n), seq: make([]uint32, n), batchOf: make([]int32, n),
		final: make([]bool, n), batchIdx: map[string]int32{}}
	for i := range t.batchOf {
		t.batchOf[i] = -1
	}
	return t
}

var finalTrue = []byte(`"final":true`)

// observe reads one event of the PAYMENTS stream (the follower's callback:
// one goroutine). It keeps nothing of the event beyond the counters.
func (t *pipeTracker) observe(m jetstream.Msg) {
	subj := m.Subject()
	switch {
	case strings.HasPrefix(subj, "pay.status."):
		if !bytes.Contains(m.Data(), finalTrue) {
			return
		}
		id, err := messages.LastToken(subj)
		i := benchIntentIndex(id)
		if err != nil || i < 0 || i >= t.n {
			return
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.final[i] {
			return
		}
		t.final[i] = true
		t.finals++
		if t.finals == t.n {
			// The stream is in time order: this is the latest.
			t.finalEnd = t.streamNs(m)
		}
	case strings.HasPrefix(subj, "pay.batch.encoded."):
		var ev struct {
			BatchID   string    `json:"batch_id"`
			CreatedAt time.Time `json:"created_at"`
			IntentIDs []string  `json:"intent_ids"`
		}
		if err := json.Unmarshal(m.Data(), &ev); err != nil {
			t.mu.Lock()
			t.followErrs++
			t.mu.Unlock()
			return
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		if _, seen := t.batchIdx[ev.BatchID]; seen {
			return
		}
		bi := int32(len(t.batches))
		t.batchIdx[ev.BatchID] = bi
		b := pipeBatch{closeNs: ev.CreatedAt.Sub(t.start).Nanoseconds(), encodedNs: t.streamNs(m)}
		for _, id := range ev.IntentIDs {
			i := benchIntentIndex(id)
			if i < 0 || i >= t.n || t.batchOf[i] >= 0 {
				continue
			}
			t.batchOf[i] = bi
			b.size++
		}
		t.batched += int(b.size)
		t.batches = append(t.batches, b)
	case strings.HasPrefix(subj, "pay.batch.submitted."):
		id, err := messages.LastToken(subj)
		if err != nil {
			return
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		bi, ok := t.batchIdx[id]
		if !ok || t.batches[bi].submitted {
			return
		}
		b := &t.batches[bi]
		b.submitted = true
		b.submitNs = t.streamNs(m)
		t.submitted += int(b.size)
		t.submitEnd = max(t.submitEnd, b.submitNs)
	case strings.HasPrefix(subj, "pay.intent.rejected."):
		t.mu.Lock()
		defer t.mu.Unlock()
		t.rejected++
		if t.problem == "" {
			t.problem = "intent rejected: " + string(m.Data())
		}
	case strings.HasPrefix(subj, "pay.batch.failed."):
		var ev messages.BatchFailed
		if json.Unmarshal(m.Data(), &ev) != nil || !ev.Permanent {
			return
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		t.failed++
		if t.problem == "" {
			t.problem = fmt.Sprintf("batch %s failed: %s", ev.BatchID, ev.Reason)
		}
	}
}

// streamNs is when the server stored m, from the start.
func (t *pipeTracker) streamNs(m jetstream.Msg) int64 {
	md, err := m.Metadata()
	if err != nil {
		return time.Since(t.start).Nanoseconds()
	}
	return md.Timestamp.Sub(t.start).Nanoseconds()
}

func (t *pipeTracker) progress() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return fmt.Sprintf("%5.1fs  published %d/%d (acked %d), batched %d, submitted %d, final %d",
		time.Since(t.start).Seconds(), t.published.Load(), t.n, t.acked.Load(), t.batched, t.submitted, t.finals)
}

// sampleDeliveries records the encoder consumer's delivered stream
// sequence every 5 ms until every intent is in a batch or stop is closed.
func (t *pipeTracker) sampleDeliveries(ctx context.Context, cons jetstream.Consumer, stop <-chan struct{}) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var last uint64
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		t.mu.Lock()
		all := t.batched == t.n
		t.mu.Unlock()
		if all {
			return // every intent was delivered
		}
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		info, err := cons.Info(qctx)
		cancel()
		t.infoRequests.Add(1)
		if err != nil {
			continue
		}
		// The time of the answer: the delivery happened before it.
		ns := time.Since(t.start).Nanoseconds()
		if s := info.Delivered.Stream; s > last {
			last = s
			t.samplesMu.Lock()
			t.samples = append(t.samples, deliverySample{ns: ns, seq: s})
			t.samplesMu.Unlock()
		}
	}
}

// deliveredNs estimates when stream sequence seq was delivered to the
// encoder: the first sample that had it delivered; ok false when none had.
func (t *pipeTracker) deliveredNs(seq uint64) (int64, bool) {
	i, _ := slices.BinarySearchFunc(t.samples, seq, func(s deliverySample, q uint64) int {
		switch {
		case s.seq < q:
			return -1
		case s.seq > q:
			return 1
		}
		return 0
	})
	if i >= len(t.samples) {
		return 0, false
	}
	return t.samples[i].ns, true
}

func (b *pipelineBench) run(ctx context.Context) (*benchPipelineResult, error) {
	res := &benchPipelineResult{Intents: b.n, Sync: b.sync, wait: b.wait, window: b.window, rate: b.rate}
	templates, err := benchTemplatesFor(b.n)
	if err != nil {
		return nil, err
	}
	total := 0
	for i := range b.n {
		total += len(templates[i%len(templates)].data)
	}
	res.payloadBytes = int(math.Round(float64(total) / float64(b.n)))

	dir, err := os.MkdirTemp("", "isogate-bench-pipeline-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cfg := benchPipelineConfig(dir, b.sync, b.wait, b.maxHold)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	gctx, stop := context.WithCancel(ctx)
	defer stop()
	opens := &batchOpens{}
	g, err := app.StartWith(gctx, cfg, b.log, benchPipelineOptions(opens))
	if err != nil {
		return nil, fmt.Errorf("starting the gateway: %w", err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- g.Run(gctx) }()
	defer func() {
		stop()
		if err := <-runDone; err != nil {
			b.log.Error("gateway shutdown", slog.String("error", err.Error()))
		}
	}()
	fmt.Fprintf(b.env.Stderr, "bench pipeline: gateway up, sync %s, %d intents of %d bytes, encoder wait %s, window %d\n",
		b.sync, b.n, res.payloadBytes, b.wait, b.window)

	// The bench's own connections, in process as the gateway's: one
	// publishes (upstream, then the baseline), one follows.
	connect := func(name string) (*nats.Conn, error) {
		return nats.Connect(g.Embedded.ClientURL(), nats.InProcessServer(g.Embedded.Server), nats.Name(name))
	}
	pubNC, err := connect("isogate bench publisher")
	if err != nil {
		return nil, err
	}
	defer pubNC.Close()
	followNC, err := connect("isogate bench follower")
	if err != nil {
		return nil, err
	}
	defer followNC.Close()
	followJS, err := jetstream.New(followNC)
	if err != nil {
		return nil, err
	}

	t := newPipeTracker(b.n)
	before := takeBrokerSnap(ctx, g.Embedded.Server, followJS)
	cpu0 := processCPU()
	if err := b.pipeline(gctx, ctx, t, templates, pubNC, followJS, &res.peakGo); err != nil {
		return nil, err
	}
	res.cpuS = (processCPU() - cpu0).Seconds()
	res.broker = takeBrokerSnap(ctx, g.Embedded.Server, followJS).since(before)
	// The sampler's consumer info requests are the bench's, not the
	// gateway's: one message in, one out, one API request each.
	q := t.infoRequests.Load()
	res.broker.in, res.broker.out, res.broker.api = res.broker.in-q, res.broker.out-q, res.broker.api-q
	opens.mu.Lock()
	t.opened = opens.at
	opens.mu.Unlock()
	b.measurePipeline(t, res)
	res.PeakRSSMB = round(peakRSSMB(), 1)
	res.memLimit = debug.SetMemoryLimit(-1)
	// What the collector cannot free once the run is over (the gateway
	// idle, the server holding everything stored): the peak above is this
	// plus the headroom the collector allowed itself.
	runtime.GC()
	var after goPeaks
	after.sample()
	res.liveMB = after.heapMB

	fmt.Fprintf(b.env.Stderr, "bench pipeline: raw baseline, %d messages of %d bytes\n", b.n, res.payloadBytes)
	if err := b.baseline(ctx, pubNC, res); err != nil {
		return nil, fmt.Errorf("raw baseline: %w", err)
	}
	res.IntentsPerS = round(res.IntentsPerS, 1)
	res.FinalPerS = round(res.FinalPerS, 1)
	res.RawPublishPerS = round(res.RawPublishPerS, 1)
	res.RawConsumePerS = round(res.RawConsumePerS, 1)
	if res.RawPublishPerS > 0 {
		res.Ratio = round(res.IntentsPerS/res.RawPublishPerS, 4)
	}
	return res, nil
}

// pipeline publishes the intents and follows them until every one has a
// final pay.status. gctx is the gateway's context, ctx the caller's.
func (b *pipelineBench) pipeline(gctx, ctx context.Context, t *pipeTracker, templates []intentTemplate, pubNC *nats.Conn, followJS jetstream.JetStream, peaks *goPeaks) error {
	cons, err := followJS.OrderedConsumer(gctx, messages.StreamPayments, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{messages.SubjectIntentsRejected, messages.SubjectBatchesEncoded, messages.SubjectBatchesSubmitted,
			messages.SubjectBatchesFailed, messages.SubjectStatuses},
	})
	if err != nil {
		return fmt.Errorf("following the PAYMENTS stream: %w", err)
	}
	encCons, err := followJS.Consumer(gctx, messages.StreamPayments, encoder.Name)
	if err != nil {
		return fmt.Errorf("finding the encoder's consumer: %w", err)
	}

	sem := make(chan struct{}, b.window)
	release := func() {
		select {
		case <-sem:
		default:
		}
	}
	pubJS, err := jetstream.New(pubNC,
		jetstream.WithPublishAsyncMaxPending(b.window+16), // never reached: sem blocks first
		jetstream.WithPublishAsyncTimeout(30*time.Second),
		jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, m *nats.Msg, ack *jetstream.PubAck) {
			if i := benchIntentIndex(m.Header.Get(messages.HeaderMsgID)); i >= 0 && i < t.n {
				t.seq[i] = uint32(ack.Sequence)
			}
			if ack.Duplicate {
				t.pubErrs.Add(1)
				s := "duplicate acknowledgement for " + m.Subject
				t.firstPubErr.CompareAndSwap(nil, &s)
			}
			t.acked.Add(1)
			release()
		}),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) {
			t.pubErrs.Add(1)
			s := fmt.Sprintf("publishing %s: %v", m.Subject, err)
			t.firstPubErr.CompareAndSwap(nil, &s)
			t.acked.Add(1)
			release()
		}),
	)
	if err != nil {
		return err
	}

	if b.cpuprofile != "" {
		f, err := os.Create(b.cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	t.start = time.Now()
	cc, err := cons.Consume(t.observe)
	if err != nil {
		return fmt.Errorf("following the PAYMENTS stream: %w", err)
	}
	defer cc.Stop()
	stopSampling := make(chan struct{})
	var sampling sync.WaitGroup
	sampling.Go(func() { t.sampleDeliveries(gctx, encCons, stopSampling) })
	defer func() {
		close(stopSampling)
		sampling.Wait()
	}()

	pubDone := make(chan error, 1)
	go func() {
		for i := range t.n {
			select {
			case sem <- struct{}{}:
			case <-gctx.Done():
				pubDone <- gctx.Err()
				return
			}
			if b.rate > 0 {
				// Paced: intent i goes out at i/rate seconds, in steps of
				// at least a millisecond.
				if d := time.Until(t.start.Add(time.Duration(float64(i) / b.rate * float64(time.Second)))); d >= time.Millisecond {
					select {
					case <-time.After(d):
					case <-gctx.Done():
						pubDone <- gctx.Err()
						return
					}
				}
			}
			id := benchIntentID(i)
			msg := nats.NewMsg(messages.IntentSubject(id))
			msg.Data = templates[i%len(templates)].payload(id)
			msg.Header.Set(messages.HeaderMsgID, id)
			msg.Header.Set(messages.HeaderExpectedLastSubjectSeq, "0")
			t.pubNs[i] = time.Since(t.start).Nanoseconds()
			if _, err := pubJS.PublishMsgAsync(msg); err != nil {
				release()
				pubDone <- fmt.Errorf("publishing intent %s: %w", id, err)
				return
			}
			t.published.Add(1)
		}
		pubDone <- nil
	}()

	deadline := time.NewTimer(b.timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	lastProgress := time.Now()
	published := false
	var liveMax uint64
	for {
		select {
		case err := <-pubDone:
			if err != nil {
				return err
			}
			published = true
		case <-tick.C:
			peaks.sample()
		case <-deadline.C:
			return fmt.Errorf("timed out after %s: %s", b.timeout, t.progress())
		case <-ctx.Done():
			return fmt.Errorf("interrupted: %s", t.progress())
		}
		if n := t.pubErrs.Load(); n > 0 {
			return fmt.Errorf("%d publishes failed, first: %s", n, *t.firstPubErr.Load())
		}
		t.mu.Lock()
		done := t.finals == t.n && t.submitted == t.n
		problem := t.problem
		t.mu.Unlock()
		if problem != "" {
			return fmt.Errorf("the bench publishes valid intents only, but: %s", problem)
		}
		if done && published && t.acked.Load() == int64(t.n) {
			break
		}
		if time.Since(lastProgress) >= time.Second {
			lastProgress = time.Now()
			fmt.Fprintf(b.env.Stderr, "bench pipeline: %s\n", t.progress())
			if err := b.heapProfile(&liveMax); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(b.env.Stderr, "bench pipeline: %s\n", t.progress())
	return b.heapProfile(&liveMax)
}

// heapProfile writes the heap profile to --memprofile when the live heap
// is 10% above *most, the largest it wrote at: the file ends up holding
// the profile taken near the peak.
func (b *pipelineBench) heapProfile(most *uint64) error {
	if b.memprofile == "" {
		return nil
	}
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 || s[0].Value.Uint64() <= *most+*most/10 {
		return nil
	}
	*most = s[0].Value.Uint64()
	f, err := os.Create(b.memprofile)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// measurePipeline computes the pipeline's figures from what the tracker
// saw; it runs after the follower stopped.
func (b *pipelineBench) measurePipeline(t *pipeTracker, res *benchPipelineResult) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := float64(t.n)
	res.submitS = float64(t.submitEnd) / 1e9
	res.finalS = float64(t.finalEnd) / 1e9
	res.publishS = float64(slices.Max(t.pubNs)) / 1e9
	if res.submitS > 0 {
		res.IntentsPerS = n / res.submitS
	}
	if res.finalS > 0 {
		res.FinalPerS = n / res.finalS
	}
	res.batches = len(t.batches)
	// A batch opened when its first intent joined it, as the encoder tells
	// (batchOpens): a batch held past the wait collected longer than the
	// wait, a full one maybe shorter. Without word from the encoder, the
	// open is taken as encoder.wait before the close.
	openNs := make([]int64, len(t.batches))
	for bi, bt := range t.batches {
		openNs[bi] = bt.closeNs - b.wait.Nanoseconds()
		if bt.size < benchMaxTxPerFile {
			res.timerClosed++
		}
	}
	for i, o := range t.opened {
		if int(i) >= t.n || t.batchOf[i] < 0 {
			continue
		}
		openNs[t.batchOf[i]] = o.at.Sub(t.start).Nanoseconds()
		if o.held {
			res.held++
		}
	}
	delivered := make([]int64, t.n)
	for i := range t.n {
		if t.batchOf[i] < 0 {
			continue
		}
		d, ok := t.deliveredNs(uint64(t.seq[i]))
		if !ok {
			d = t.batches[t.batchOf[i]].closeNs
		}
		delivered[i] = d
	}
	lat := make([]float32, t.n)
	waits := make([]float32, t.n)
	totals := make([]float32, t.n)
	queues := make([]float32, t.n)
	flushes := make([]float32, t.n)
	encodes := make([]float32, t.n)
	submits := make([]float32, t.n)
	var sum float64
	for i := range t.n {
		if t.batchOf[i] < 0 {
			continue // not reached: the run waits for every intent's batch
		}
		bt := t.batches[t.batchOf[i]]
		arrive := max(delivered[i], openNs[t.batchOf[i]], t.pubNs[i])
		wait := min(max(bt.closeNs-arrive, 0), bt.closeNs-t.pubNs[i])
		wait = max(wait, 0)
		total := bt.submitNs - t.pubNs[i]
		l := float64(total-wait) / 1e6
		lat[i], waits[i], totals[i] = float32(l), float32(float64(wait)/1e6), float32(float64(total)/1e6)
		queues[i] = float32(float64(max(delivered[i]-t.pubNs[i], 0)) / 1e6)
		flushes[i] = float32(float64(bt.submitNs-bt.closeNs) / 1e6)
		encodes[i] = float32(float64(bt.encodedNs-bt.closeNs) / 1e6)
		submits[i] = float32(float64(bt.submitNs-bt.encodedNs) / 1e6)
		sum += l
	}
	for _, s := range [][]float32{lat, waits, totals, queues, flushes, encodes, submits} {
		slices.Sort(s)
	}
	q := func(s []float32, p float64) float64 { return round(float64(quantile(s, p)), 2) }
	res.P50Ms, res.P99Ms = q(lat, 0.50), q(lat, 0.99)
	res.meanMs = round(sum/n, 2)
	res.maxMs = round(float64(lat[len(lat)-1]), 2)
	res.p50WaitMs, res.p99WaitMs = q(waits, 0.50), q(waits, 0.99)
	res.p50TotalMs, res.p99TotalMs = q(totals, 0.50), q(totals, 0.99)
	res.p50QueueMs, res.p99QueueMs = q(queues, 0.50), q(queues, 0.99)
	res.p50FlushMs, res.p99FlushMs = q(flushes, 0.50), q(flushes, 0.99)
	res.p99EncodedMs, res.p99SubmitMs = q(encodes, 0.99), q(submits, 0.99)
}

// quantile is the nearest-rank q-quantile of sorted s.
func quantile(s []float32, q float64) float32 {
	if len(s) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func round(f float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(f*p) / p
}

// benchRawStream is the baseline's stream, beside the gateway's in the
// same server, so it shares the store directory, the fsync setting and
// the server's options.
const benchRawStream = "BENCH_RAW"

// baseline publishes N messages of the intents' mean size to a fresh
// stream and consumes them, with the pipeline's window and sync setting.
func (b *pipelineBench) baseline(ctx context.Context, nc *nats.Conn, res *benchPipelineResult) error {
	var acked, errs atomic.Int64
	var firstErr atomic.Pointer[string]
	sem := make(chan struct{}, b.window)
	done := make(chan struct{})
	n := int64(b.n)
	settle := func() {
		<-sem
		if acked.Add(1) == n {
			close(done)
		}
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(b.window+16),
		jetstream.WithPublishAsyncTimeout(30*time.Second),
		jetstream.WithPublishAsyncAckHandler(func(jetstream.JetStream, *nats.Msg, *jetstream.PubAck) { settle() }),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) {
			errs.Add(1)
			s := fmt.Sprintf("%s: %v", m.Subject, err)
			firstErr.CompareAndSwap(nil, &s)
			settle()
		}),
	)
	if err != nil {
		return err
	}
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: benchRawStream, Subjects: []string{"bench.raw.>"},
		Storage: jetstream.FileStorage, Replicas: 1})
	if err != nil {
		return err
	}
	payload := make([]byte, res.payloadBytes)
	if _, err := rand.Read(payload); err != nil {
		return err
	}
	start, cpu0 := time.Now(), processCPU()
	for i := range b.n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		if _, err := js.PublishMsgAsync(&nats.Msg{Subject: "bench.raw." + strconv.Itoa(i), Data: payload}); err != nil {
			return err
		}
	}
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(b.timeout):
		return fmt.Errorf("publish: %d of %d acknowledged after %s", acked.Load(), n, b.timeout)
	}
	res.rawPubS = time.Since(start).Seconds()
	res.rawPubCPUS = (processCPU() - cpu0).Seconds()
	res.RawPublishPerS = float64(b.n) / res.rawPubS
	if errs.Load() > 0 {
		return fmt.Errorf("publish: %d failed, first: %s", errs.Load(), *firstErr.Load())
	}

	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "raw", AckPolicy: jetstream.AckExplicitPolicy,
		MaxAckPending: max(10000, 2*b.window), AckWait: time.Minute})
	if err != nil {
		return err
	}
	start = time.Now()
	it, err := cons.Messages(jetstream.PullMaxMessages(max(500, b.window)))
	if err != nil {
		return err
	}
	for got, missed := 0, 0; got < b.n; {
		m, err := it.Next()
		if errors.Is(err, jetstream.ErrNoHeartbeat) && missed < 10 {
			// The server was busy past the pull's idle heartbeat (seen
			// after a 1M-intent run): the iterator pulls again.
			missed++
			continue
		}
		if err != nil {
			it.Stop()
			return fmt.Errorf("consume: %w", err)
		}
		got++
		if err := m.Ack(); err != nil {
			it.Stop()
			return fmt.Errorf("ack: %w", err)
		}
	}
	it.Stop()
	// Acks are fire-and-forget: done when the server has processed them all.
	for {
		info, err := cons.Info(ctx)
		if err != nil {
			return err
		}
		if info.NumAckPending == 0 && info.AckFloor.Stream >= uint64(b.n) {
			break
		}
		if time.Since(start) > b.timeout {
			return fmt.Errorf("consume: %d acks pending after %s", info.NumAckPending, b.timeout)
		}
		time.Sleep(time.Millisecond)
	}
	res.rawConsS = time.Since(start).Seconds()
	res.RawConsumePerS = float64(b.n) / res.rawConsS
	return nil
}

// peakRSSMB is the process's peak resident set (VmHWM) in MB; where
// /proc is missing, the memory the Go runtime took from the system.
func peakRSSMB() float64 {
	if data, err := os.ReadFile("/proc/self/status"); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				f := strings.Fields(rest)
				if len(f) >= 1 {
					if kb, err := strconv.ParseFloat(f[0], 64); err == nil {
						return kb / 1024
					}
				}
			}
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.Sys) / (1 << 20)
}

func printBenchPipeline(w io.Writer, r *benchPipelineResult) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	paced := "unpaced"
	if r.rate > 0 {
		paced = fmt.Sprintf("paced at %.0f/s", r.rate)
	}
	fmt.Fprintf(tw, "pipeline\t%d intents of %d bytes, sync %s, encoder wait %s, window %d, %s, %d batches (%d closed by the timer, %d of them held past the wait while the submitter was behind)\n",
		r.Intents, r.payloadBytes, r.Sync, r.wait, r.window, paced, r.batches, r.timerClosed, r.held)
	fmt.Fprintf(tw, "intents/s\t%.0f\tall batches submitted after %.3f s (publishing took %.3f s)\n", r.IntentsPerS, r.submitS, r.publishS)
	fmt.Fprintf(tw, "final/s\t%.0f\tall final pay.status after %.3f s\n", r.FinalPerS, r.finalS)
	fmt.Fprintf(tw, "latency p50\t%.2f ms\tpublish → pay.batch.submitted, batch wait excluded (with it: %.2f ms; wait %.2f ms)\n", r.P50Ms, r.p50TotalMs, r.p50WaitMs)
	fmt.Fprintf(tw, "latency p99\t%.2f ms\t(with the wait: %.2f ms; wait %.2f ms); mean %.2f ms, max %.2f ms\n", r.P99Ms, r.p99TotalMs, r.p99WaitMs, r.meanMs, r.maxMs)
	fmt.Fprintf(tw, "  queued\t%.2f ms p99\tpublish → delivered to the encoder (p50 %.2f ms): the stream holds what the pipeline has not reached\n", r.p99QueueMs, r.p50QueueMs)
	fmt.Fprintf(tw, "  flushed\t%.2f ms p99\tbatch close → pay.batch.submitted (p50 %.2f ms); p99 of its parts: %.2f ms to pay.batch.encoded stored (encode, archive, claims), %.2f ms from there (submitter: queue, upload)\n",
		r.p99FlushMs, r.p50FlushMs, r.p99EncodedMs, r.p99SubmitMs)
	limit := "none"
	if r.memLimit < math.MaxInt64 {
		limit = fmt.Sprintf("%.0f MB", float64(r.memLimit)/(1<<20))
	}
	fmt.Fprintf(tw, "peak RSS\t%.1f MB\tVmHWM after the pipeline run; Go peaks: heap objects %.0f MB, goroutine stacks %.0f MB, %d goroutines; live heap after the run %.0f MB; Go memory limit (GOMEMLIMIT) %s\n",
		r.PeakRSSMB, r.peakGo.heapMB, r.peakGo.stacksMB, r.peakGo.goroutines, r.liveMB, limit)
	fmt.Fprintf(tw, "raw publish/s\t%.0f\t%d async publishes in %.3f s, stream %s, same server and sync\n", r.RawPublishPerS, r.Intents, r.rawPubS, benchRawStream)
	fmt.Fprintf(tw, "raw consume/s\t%.0f\tpull consume + ack in %.3f s\n", r.RawConsumePerS, r.rawConsS)
	fmt.Fprintf(tw, "ratio\t%.4f\tintents/s ÷ raw publish/s\n", r.Ratio)
	n := float64(r.Intents)
	if r.cpuS > 0 {
		fmt.Fprintf(tw, "CPU\t%.2f s\tof this process (gateway, server, bench) over the pipeline run: %.0f µs an intent, %.0f intents per CPU-second; raw publish %.1f µs a message\n",
			r.cpuS, r.cpuS/n*1e6, n/r.cpuS, r.rawPubCPUS/n*1e6)
	}
	br := r.broker
	fmt.Fprintf(tw, "broker\t%.1f in\tclient messages into the server an intent (%.1f out, %.2f JetStream API requests; out includes the bench's follower, about 1.1 an intent)\n",
		float64(br.in)/n, float64(br.out)/n, float64(br.api)/n)
	names := slices.Sorted(maps.Keys(br.writes))
	parts := make([]string, len(names))
	var writes uint64
	for i, name := range names {
		parts[i] = fmt.Sprintf("%s %.2f", name, float64(br.writes[name])/n)
		writes += br.writes[name]
	}
	fmt.Fprintf(tw, "writes\t%.2f\tstored messages an intent: %s\n", float64(writes)/n, strings.Join(parts, ", "))
	tw.Flush()
}
