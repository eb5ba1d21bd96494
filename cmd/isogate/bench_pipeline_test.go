package main

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestBenchPipeline runs `isogate bench pipeline --json` on 500 intents at
// both sync settings and checks the JSON line: every field present and
// positive, and ratio = intents_per_s / raw_publish_per_s. With -race it
// runs interval only.
func TestBenchPipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole gateway twice")
	}
	syncs := []string{"interval", "always"}
	if benchRace {
		syncs = syncs[:1]
	}
	for _, sync := range syncs {
		t.Run(sync, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			env := &cliEnv{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
			code := run(t.Context(), env, []string{"bench", "pipeline", "--json", "--intents", "500", "--sync", sync, "--timeout", "2m"})
			if code != 0 {
				t.Fatalf("bench pipeline: exit %d\n%s", code, stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
			if len(lines) != 1 {
				t.Fatalf("--json printed %d lines, want 1:\n%s", len(lines), stdout.String())
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
				t.Fatalf("last line %q: %v", lines[0], err)
			}
			fields := []string{"intents", "intents_per_s", "final_per_s", "raw_publish_per_s", "raw_consume_per_s",
				"ratio", "p50_ms", "p99_ms", "peak_rss_mb"}
			for _, k := range fields {
				v, ok := got[k].(float64)
				if !ok || v <= 0 {
					t.Errorf("%s = %v, want a positive number", k, got[k])
				}
			}
			if got["intents"] != 500.0 || got["sync"] != sync {
				t.Errorf("intents, sync = %v, %v; want 500, %s", got["intents"], got["sync"], sync)
			}
			if len(got) != len(fields)+1 {
				t.Errorf("JSON line has %d fields, want %d: %s", len(got), len(fields)+1, lines[0])
			}
			ips, raw, ratio := got["intents_per_s"].(float64), got["raw_publish_per_s"].(float64), got["ratio"].(float64)
			if raw > 0 && math.Abs(ratio-ips/raw) > 1e-4 {
				t.Errorf("ratio = %v, want intents_per_s/raw_publish_per_s = %v", ratio, ips/raw)
			}
			if p50, p99 := got["p50_ms"].(float64), got["p99_ms"].(float64); p50 > p99 {
				t.Errorf("p50_ms %v > p99_ms %v", p50, p99)
			}
		})
	}
}

// TestBenchPipelinePaced: with --rate the intents go out no faster than
// asked, so the measured rate cannot exceed it (unpaced, 300 intents
// finish several times faster here).
func TestBenchPipelinePaced(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole gateway")
	}
	var stdout, stderr bytes.Buffer
	env := &cliEnv{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
	code := run(t.Context(), env, []string{"bench", "pipeline", "--json", "--intents", "300", "--sync", "interval", "--rate", "500", "--timeout", "2m"})
	if code != 0 {
		t.Fatalf("bench pipeline: exit %d\n%s", code, stderr.String())
	}
	var got struct {
		IntentsPerS float64 `json:"intents_per_s"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	// The last of 300 intents leaves at 299/500 s: N over at least that.
	if limit := 300 / (299.0 / 500); got.IntentsPerS <= 0 || got.IntentsPerS > limit {
		t.Errorf("intents_per_s = %v at --rate 500, want at most %.1f", got.IntentsPerS, limit)
	}
}

// TestBenchPipelineUsage: bad flags exit 2 without starting anything, and
// the profile flags stay out of the usage.
func TestBenchPipelineUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--intents", "0"},
		{"--intents", "1000001"},
		{"--sync", "sometimes"},
		{"--window", "0"},
		{"--rate", "-1"},
		{"--rate", "NaN"},
		{"--timeout", "0s"}, // refused, not taken for the default
		{"extra"},
	} {
		var stdout, stderr bytes.Buffer
		env := &cliEnv{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
		if code := run(t.Context(), env, append([]string{"bench", "pipeline"}, args...)); code != 2 {
			t.Errorf("bench pipeline %v: exit %d, want 2\n%s", args, code, stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	env := &cliEnv{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
	if code := run(t.Context(), env, []string{"bench", "pipeline", "-h"}); code != 0 {
		t.Errorf("bench pipeline -h: exit %d", code)
	}
	if u := stderr.String(); !strings.Contains(u, "--intents") || !strings.Contains(u, "raw_publish_per_s") || strings.Contains(u, "cpuprofile") ||
		!strings.Contains(u, "(default 10m plus 3ms an intent)") {
		t.Errorf("usage:\n%s", u)
	}
	if got := benchTimeout(1_000_000); got != time.Hour {
		t.Errorf("default timeout at 1M intents: %s, want 1h (23 minutes for the pipeline at --sync always here)", got)
	}
}

func TestBenchIntentIDs(t *testing.T) {
	for _, i := range []int{0, 7, 4095, 999999} {
		id := benchIntentID(i)
		if len(id) != 9 || benchIntentIndex(id) != i {
			t.Errorf("benchIntentID(%d) = %q, index %d", i, id, benchIntentIndex(id))
		}
	}
	for _, id := range []string{"", "BP-12345", "BP-1234567", "XX-000001", "BP-00000a"} {
		if got := benchIntentIndex(id); got != -1 {
			t.Errorf("benchIntentIndex(%q) = %d, want -1", id, got)
		}
	}
	ts, err := benchTemplatesFor(10)
	if err != nil {
		t.Fatal(err)
	}
	p := ts[3].payload(benchIntentID(123459))
	if !bytes.Contains(p, []byte(`"id":"BP-123459"`)) || bytes.Contains(p, []byte("BP-000003")) {
		t.Errorf("payload: %s", p)
	}
	if !json.Valid(p) {
		t.Errorf("payload is not JSON: %s", p)
	}
}

// TestMeasurePipelineLatencyParts works three intents in two timer-closed
// batches through the latency definition by hand (times in ms from the
// start; encoder.wait 100 ms, so batch A opened at 50, batch B at 300):
//
//	intent  publish  delivered  batch (close, encoded, submitted)  wait  latency  queued  flushed
//	0       0        10         A (150, 155, 180)                  100   80       10      30
//	1       20       120        A                                  30    130      100     30
//	2       30       350        B (400, 440, 460)                  50    380      320     60
//
// The flushes' parts: 5, 5, 40 ms to encoded; 25, 25, 20 ms from there.
func TestMeasurePipelineLatencyParts(t *testing.T) {
	ms := func(v int64) int64 { return v * int64(time.Millisecond) }
	tr := newPipeTracker(3)
	tr.pubNs = []int64{ms(0), ms(20), ms(30)}
	tr.seq = []uint32{1, 2, 3}
	tr.batchOf = []int32{0, 0, 1}
	tr.batches = []pipeBatch{
		{closeNs: ms(150), encodedNs: ms(155), submitNs: ms(180), size: 2, submitted: true},
		{closeNs: ms(400), encodedNs: ms(440), submitNs: ms(460), size: 1, submitted: true},
	}
	tr.samples = []deliverySample{{ns: ms(10), seq: 1}, {ns: ms(120), seq: 2}, {ns: ms(350), seq: 3}}
	tr.submitEnd, tr.finalEnd = ms(460), ms(470)
	b := &pipelineBench{wait: 100 * time.Millisecond}
	var res benchPipelineResult
	b.measurePipeline(tr, &res)
	got := []float64{res.P50Ms, res.P99Ms, res.p50WaitMs, res.p99WaitMs, res.p50QueueMs, res.p99QueueMs, res.p50FlushMs, res.p99FlushMs, res.p99EncodedMs, res.p99SubmitMs}
	want := []float64{130, 380, 50, 100, 100, 320, 30, 60, 40, 25}
	if !slices.Equal(got, want) {
		t.Errorf("p50/p99 of latency, wait, queued, flushed, p99 of to and from encoded = %v, want %v", got, want)
	}
	if res.timerClosed != 2 {
		t.Errorf("timerClosed = %d, want 2", res.timerClosed)
	}
}

// TestMeasurePipelineHeldBatch: a batch the encoder held past the wait
// (encoder.max_hold) collected from when the encoder says it opened, not
// from close − wait. One intent: published at 30, delivered at 220, its
// batch opened at 200 and closed at 400 (wait 100 ms), submitted at 460:
// it waited 180 ms in the batch, so its latency is 430 − 180 = 250 ms
// (from close − wait it would have been 430 − 100 = 330).
func TestMeasurePipelineHeldBatch(t *testing.T) {
	ms := func(v int64) int64 { return v * int64(time.Millisecond) }
	tr := newPipeTracker(1)
	tr.pubNs = []int64{ms(30)}
	tr.seq = []uint32{1}
	tr.batchOf = []int32{0}
	tr.batches = []pipeBatch{{closeNs: ms(400), encodedNs: ms(440), submitNs: ms(460), size: 1, submitted: true}}
	tr.samples = []deliverySample{{ns: ms(220), seq: 1}}
	tr.submitEnd, tr.finalEnd = ms(460), ms(470)
	tr.opened = map[int32]batchOpen{0: {at: tr.start.Add(200 * time.Millisecond), held: true}}
	b := &pipelineBench{wait: 100 * time.Millisecond}
	var res benchPipelineResult
	b.measurePipeline(tr, &res)
	if res.P99Ms != 250 || res.p99WaitMs != 180 || res.held != 1 {
		t.Errorf("latency %v ms, wait %v ms, %d held; want 250, 180 and 1", res.P99Ms, res.p99WaitMs, res.held)
	}
}
