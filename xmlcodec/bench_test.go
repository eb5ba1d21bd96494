package xmlcodec

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// decodeMeasured decodes r, checking sums against the generator and
// sampling the live heap every 500 entries. It returns the peak heap in
// bytes and the number of transactions.
func decodeMeasured(tb testing.TB, g *camtGen) (peak uint64, txs int) {
	tb.Helper()
	runtime.GC()
	var ms runtime.MemStats
	d := NewDecoder(g, Limits{})
	var cr, db DecimalSum
	n := 0
	for {
		rec, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
		if e, ok := rec.(*Entry); ok {
			n++
			txs += len(e.Transactions)
			if e.CreditDebit == "CRDT" {
				_ = cr.Add(e.Amount)
			} else {
				_ = db.Add(e.Amount)
			}
		}
		if n%500 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
	}
	runtime.ReadMemStats(&ms)
	peak = max(peak, ms.HeapAlloc)
	if n != g.n || cr.String() != cents(g.credit) || db.String() != cents(g.debit) {
		tb.Fatalf("decoded %d entries, credit %s, debit %s; generated %d, %s, %s", n, cr.String(), db.String(), g.n, cents(g.credit), cents(g.debit))
	}
	return peak, txs
}

// TestDecodeHeapBounded decodes a generated 24 MB camt.053 and checks the
// heap stays under 64 MB (BenchmarkDecodeCamt053_100MB does 100 MB).
func TestDecodeHeapBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	peak, _ := decodeMeasured(t, newCamtGen(24<<20))
	if peak > 64<<20 {
		t.Errorf("peak heap %d MB, want < 64 MB", peak>>20)
	}
}

// BenchmarkDecodeCamt053_100MB is must-show 4: a generated 100 MB
// camt.053 streamed through the decoder. Reports MB/s (SetBytes), tx/s,
// peak-heap-MB (sampled HeapAlloc) and allocations.
func BenchmarkDecodeCamt053_100MB(b *testing.B) {
	const size = 100 << 20
	b.ReportAllocs()
	b.SetBytes(size)
	var peak uint64
	var txs int
	start := time.Now()
	for b.Loop() {
		p, n := decodeMeasured(b, newCamtGen(size))
		peak, txs = max(peak, p), txs+n
	}
	b.ReportMetric(float64(txs)/time.Since(start).Seconds(), "tx/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
	if peak > 64<<20 {
		b.Errorf("peak heap %d MB, want < 64 MB", peak>>20)
	}
}

// BenchmarkEncodePain001_10k is must-show 4: a 10,000-transaction
// pain.001 (ekase, .03), validation included.
func BenchmarkEncodePain001_10k(b *testing.B) {
	for _, profile := range []string{"ekase", "iso2019"} {
		b.Run(profile, func(b *testing.B) {
			p := mustProfile(b, profile)
			req := Pain001Request{MsgID: "BENCH", Now: fixedClock, Payments: variedPayments(10000)}
			b.ReportAllocs()
			var size int
			start := time.Now()
			n := 0
			for b.Loop() {
				res, err := p.EncodePain001(req)
				if err != nil {
					b.Fatal(err)
				}
				size = len(res.Files[0].Data)
				n++
			}
			b.SetBytes(int64(size))
			b.ReportMetric(float64(n*10000)/time.Since(start).Seconds(), "tx/s")
		})
	}
}

// BenchmarkEncodePain001_10kDOM is BenchmarkEncodePain001_10k through the
// etree reference writer (the encoder before the byte writer; validation
// as now): the writer's share of the speed-up.
func BenchmarkEncodePain001_10kDOM(b *testing.B) {
	for _, profile := range []string{"ekase", "iso2019"} {
		b.Run(profile, func(b *testing.B) {
			p := mustProfile(b, profile)
			req := Pain001Request{MsgID: "BENCH", Now: fixedClock, Payments: variedPayments(10000)}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.encodePain001(req, p.encodeFileDOM); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*10000)/b.Elapsed().Seconds(), "tx/s")
		})
	}
}

// BenchmarkDecodeFile decodes a generated 20 MB camt.053 from a file with
// the block entry reader and with the etree reference (the decoder before
// block.go), without the generator's cost.
func BenchmarkDecodeFile(b *testing.B) {
	path := filepath.Join(b.TempDir(), "camt053.xml")
	data, err := io.ReadAll(newCamtGen(20 << 20))
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	for _, ref := range []bool{false, true} {
		name := "block"
		if ref {
			name = "etree"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				d := NewDecoder(f, Limits{})
				if ref {
					d.refReadEntry = d.readEntryDOM
				}
				for {
					_, err := d.Next()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				f.Close()
			}
		})
	}
}

// BenchmarkReadPain001_10k reads back a 10,000-transaction pain.001 (what
// banksim does with every upload) with the block reader and, for
// comparison, with the etree reference it replaced.
func BenchmarkReadPain001_10k(b *testing.B) {
	res, err := mustProfile(b, "ekase").EncodePain001(Pain001Request{MsgID: "BENCH", Now: fixedClock, Payments: variedPayments(10000)})
	if err != nil {
		b.Fatal(err)
	}
	data := res.Files[0].Data
	for _, ref := range []bool{false, true} {
		name := "block"
		if ref {
			name = "etree"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				d := NewDecoder(bytes.NewReader(data), Limits{})
				if ref {
					d.refPainTx = refPainTxDOM
				}
				doc, err := readPain001(d)
				if err != nil || len(doc.Payments) != 10000 {
					b.Fatalf("%v, %d payments", err, len(doc.Payments))
				}
			}
		})
	}
}
