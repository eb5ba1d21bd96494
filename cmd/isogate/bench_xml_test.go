package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isogate/isogate/xmlcodec"
)

// TestBenchXML runs `isogate bench xml --json` on a small size and checks
// the JSON line: every field present and positive, and the decoder and the
// baseline agreeing (the bench fails otherwise).
func TestBenchXML(t *testing.T) {
	var stdout, stderr bytes.Buffer
	env := &cliEnv{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
	code := run(t.Context(), env, []string{"bench", "xml", "--json", "--tx", "500", "--camt-mb", "2", "--runs", "1", "--min-time", "10ms"})
	if code != 0 {
		t.Fatalf("bench xml: exit %d\n%s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("--json printed %d lines, want 1:\n%s", len(lines), stdout.String())
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
		t.Fatalf("last line %q: %v", lines[0], err)
	}
	for _, k := range []string{"encode_tx_per_s", "decode_mb_per_s", "decode_peak_heap_mb", "baseline_decode_mb_per_s", "decode_ratio"} {
		v, ok := got[k].(float64)
		if !ok || v <= 0 {
			t.Errorf("%s = %v, want a positive number", k, got[k])
		}
	}
	if len(got) != 5 {
		t.Errorf("JSON line has %d fields, want 5: %s", len(got), lines[0])
	}
}

// TestBenchXMLTable: without --json a table comes first, then the same line.
func TestBenchXMLTable(t *testing.T) {
	var stdout, stderr bytes.Buffer
	env := &cliEnv{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
	if code := run(t.Context(), env, []string{"bench", "xml", "--tx", "100", "--camt-mb", "0.5", "--runs", "1", "--min-time", "1ms"}); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	out := stdout.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.Contains(out, "decode ratio") || !strings.HasPrefix(lines[len(lines)-1], `{"encode_tx_per_s":`) {
		t.Errorf("output:\n%s", out)
	}
	if code := run(t.Context(), env, []string{"bench", "nosuch"}); code != 2 {
		t.Errorf("bench nosuch: exit %d, want 2", code)
	}
}

// benchCamtFile writes a camt.053 of size bytes for the benchmarks below.
func benchCamtFile(b *testing.B, size int64) (string, camtGenStats) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "bench.camt053.xml")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	st, err := writeBenchCamt(w, size)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		b.Fatal(err)
	}
	return path, st
}

// BenchmarkXMLDecode and BenchmarkXMLBaseline decode the same generated
// 20 MB camt.053 from a file: profile them with -cpuprofile.
func BenchmarkXMLDecode(b *testing.B) { benchDecodeFile(b, xmlcodecDecode) }

func BenchmarkXMLBaseline(b *testing.B) { benchDecodeFile(b, baselineDecode) }

func benchDecodeFile(b *testing.B, decode func(r io.Reader) (decodeStats, error)) {
	path, gen := benchCamtFile(b, 20<<20)
	b.SetBytes(gen.bytes)
	b.ReportAllocs()
	for b.Loop() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		st, err := decode(f)
		f.Close()
		if err != nil || st.txs != gen.txs {
			b.Fatalf("decoded %d transactions, want %d (%v)", st.txs, gen.txs, err)
		}
	}
}

// BenchmarkXMLEncode encodes the bench's 10,000 payments with each profile.
func BenchmarkXMLEncode(b *testing.B) {
	pays := benchPayments(10000)
	for _, name := range []string{"ekase", "iso2019"} {
		b.Run(name, func(b *testing.B) {
			p, err := xmlcodec.LookupProfile(name)
			if err != nil {
				b.Fatal(err)
			}
			req := benchRequest(name, pays)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.EncodePain001(req); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(pays))/b.Elapsed().Seconds(), "tx/s")
		})
	}
}
