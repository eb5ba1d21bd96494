package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash"
	"hash/fnv"
	"io"
	"maps"
	"math"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/isogate/isogate/xmlcodec"
)

func init() {
	benchModes["xml"] = command{Name: "xml", Summary: "pain.001 encode (both profiles) and camt.053 streaming decode against an encoding/xml baseline", Run: runBenchXML}
}

const benchXMLUsage = `usage: isogate bench xml [--json] [--tx N] [--camt-mb MB] [--runs N] [--min-time D]

Measures, in this process:

  encode  a pain.001 of --tx generated payments (default 10,000; Latvian
          letters, apostrophes, addresses, ultimate parties, budget codes,
          purposes, creditor references), validation included, for each
          built-in profile (ekase:
          pain.001.001.03, iso2019: pain.001.001.09). Each of --runs rounds
          repeats the encoding for at least --min-time; a round's rate is
          transactions / wall time; the figure is the median round.
  decode  a generated camt.053.001.02 of --camt-mb MB (default 100) with a
          mix of entries: single payments, batch entries with many TxDtls,
          reversals with return reasons, charges, proprietary codes and
          non-ASCII names. It is written to a temporary file first and read
          back through an io.Reader (never held in memory), --runs times
          with the xmlcodec streaming decoder and --runs times with the
          baseline: a plain encoding/xml Token() loop extracting the same
          fields into the same structs. Runs alternate between the two; each
          figure is the median of its runs. Both must agree on a checksum of
          every field extracted.

The table also gives each rate per CPU-second of this process (user +
system time, getrusage): on a busy machine wall time mostly measures the
neighbours, CPU time the code.

Peak heap is sampled every millisecond from runtime/metrics
(/memory/classes/heap/objects:bytes, live and not yet swept objects) while
the xmlcodec decoder runs, after a GC; it is the largest sample.

The last line is JSON:

  {"encode_tx_per_s":F,"decode_mb_per_s":F,"decode_peak_heap_mb":F,"baseline_decode_mb_per_s":F,"decode_ratio":F}

encode_tx_per_s is the slower profile's figure; decode_ratio is
decode_mb_per_s / baseline_decode_mb_per_s. MB is 2^20 bytes.

flags:
`

// benchXMLResult is the last line of `isogate bench xml`.
type benchXMLResult struct {
	EncodeTxPerS         float64 `json:"encode_tx_per_s"`
	DecodeMBPerS         float64 `json:"decode_mb_per_s"`
	DecodePeakHeapMB     float64 `json:"decode_peak_heap_mb"`
	BaselineDecodeMBPerS float64 `json:"baseline_decode_mb_per_s"`
	DecodeRatio          float64 `json:"decode_ratio"`
	encodeByProfile      map[string]float64
	encodeBytes          map[string]int
	encodeRuns           map[string][]float64
	encodeTx             int
	decodeRuns, baseRuns []float64
	// the same per CPU-second of this process (0 where not measured)
	decodeCPURuns, baseCPURuns []float64
	encodeCPU                  map[string][]float64
	fileBytes                  int64
	entries, transactions      int
}

func runBenchXML(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("isogate bench xml", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprint(env.Stderr, benchXMLUsage)
		fs.PrintDefaults()
	}
	asJSON := fs.Bool("json", false, "print only the JSON line on stdout")
	nTx := fs.Int("tx", 10000, "transactions in the pain.001")
	camtMB := fs.Float64("camt-mb", 100, "size of the generated camt.053 in MB")
	runs := fs.Int("runs", 3, "rounds of each measurement (the median is reported)")
	minTime := fs.Duration("min-time", time.Second, "shortest encode round")
	if _, err := parseFlags(fs, args); err != nil {
		return flagExit(err)
	}
	if *nTx < 1 || *camtMB <= 0 || *runs < 1 {
		fmt.Fprintln(env.Stderr, "isogate bench xml: --tx, --camt-mb and --runs must be positive")
		return 2
	}
	res, err := benchXML(ctx, env, *nTx, int64(*camtMB*(1<<20)), *runs, *minTime, !*asJSON)
	if err != nil {
		fmt.Fprintln(env.Stderr, "isogate bench xml:", err)
		return 1
	}
	if !*asJSON {
		printBenchXML(env.Stdout, res)
	}
	line, _ := json.Marshal(res)
	fmt.Fprintln(env.Stdout, string(line))
	return 0
}

func printBenchXML(w io.Writer, r *benchXMLResult) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MEASUREMENT\tFIGURE\tNOTE")
	for _, p := range slices.Sorted(maps.Keys(r.encodeByProfile)) {
		fmt.Fprintf(tw, "encode pain.001 %s\t%.0f tx/s\truns %s; %d transactions, %.1f MB a file, validation included\n", p,
			r.encodeByProfile[p], fmtRuns(r.encodeRuns[p], "%.0f"), r.encodeTx, float64(r.encodeBytes[p])/(1<<20))
		if len(r.encodeCPU[p]) > 0 {
			fmt.Fprintf(tw, "  per CPU-second\t%.0f tx/s\truns %s\n", median(r.encodeCPU[p]), fmtRuns(r.encodeCPU[p], "%.0f"))
		}
	}
	fmt.Fprintf(tw, "decode camt.053 (xmlcodec)\t%.1f MB/s\truns %s; %d entries, %d transactions, %.1f MB file\n", r.DecodeMBPerS,
		fmtRuns(r.decodeRuns, "%.1f"), r.entries, r.transactions, float64(r.fileBytes)/(1<<20))
	fmt.Fprintf(tw, "decode peak heap\t%.1f MB\tlargest 1 ms sample of runtime/metrics heap objects\n", r.DecodePeakHeapMB)
	fmt.Fprintf(tw, "baseline (encoding/xml Token loop)\t%.1f MB/s\truns %s; same fields, same checksum\n", r.BaselineDecodeMBPerS,
		fmtRuns(r.baseRuns, "%.1f"))
	fmt.Fprintf(tw, "decode ratio\t%.2f\txmlcodec / baseline (goal >= 1.0)\n", r.DecodeRatio)
	if len(r.decodeCPURuns) > 0 && r.decodeCPURuns[0] > 0 {
		d, b := median(r.decodeCPURuns), median(r.baseCPURuns)
		fmt.Fprintf(tw, "  per CPU-second\t%.1f / %.1f MB/s\txmlcodec / baseline, ratio %.2f (runs %s / %s)\n", d, b, d/b,
			fmtRuns(r.decodeCPURuns, "%.1f"), fmtRuns(r.baseCPURuns, "%.1f"))
	}
	tw.Flush()
}

func fmtRuns(runs []float64, format string) string {
	parts := make([]string, len(runs))
	for i, r := range runs {
		parts[i] = fmt.Sprintf(format, r)
	}
	return strings.Join(parts, " ")
}

// median returns the median of xs (the mean of the middle two for an even
// count).
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func benchXML(ctx context.Context, env *cliEnv, nTx int, camtBytes int64, runs int, minTime time.Duration, progress bool) (*benchXMLResult, error) {
	logf := func(format string, a ...any) {
		if progress {
			fmt.Fprintf(env.Stderr, format+"\n", a...)
		}
	}
	res := &benchXMLResult{encodeByProfile: map[string]float64{}, encodeRuns: map[string][]float64{}, encodeCPU: map[string][]float64{},
		encodeBytes: map[string]int{}, encodeTx: nTx}

	// Encode.
	pays := benchPayments(nTx)
	res.EncodeTxPerS = math.Inf(1)
	for _, name := range []string{"ekase", "iso2019"} {
		p, err := xmlcodec.LookupProfile(name)
		if err != nil {
			return nil, err
		}
		req := benchRequest(name, pays)
		r, err := p.EncodePain001(req) // warm-up, and the file size
		if err != nil {
			return nil, fmt.Errorf("encoding with %s: %w", name, err)
		}
		for _, f := range r.Files {
			res.encodeBytes[name] += len(f.Data)
		}
		for range runs {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			n := 0
			cpu0 := processCPU()
			start := time.Now()
			for n == 0 || time.Since(start) < minTime {
				if _, err := p.EncodePain001(req); err != nil {
					return nil, err
				}
				n++
			}
			res.encodeRuns[name] = append(res.encodeRuns[name], float64(n*nTx)/time.Since(start).Seconds())
			if cpu := processCPU() - cpu0; cpu > 0 {
				res.encodeCPU[name] = append(res.encodeCPU[name], float64(n*nTx)/cpu.Seconds())
			}
		}
		res.encodeByProfile[name] = median(res.encodeRuns[name])
		res.EncodeTxPerS = min(res.EncodeTxPerS, res.encodeByProfile[name])
		logf("encode %s: %.0f tx/s (runs %s)", name, res.encodeByProfile[name], fmtRuns(res.encodeRuns[name], "%.0f"))
	}
	pays = nil

	// Decode: the file on disk, read through an io.Reader.
	f, err := os.CreateTemp("", "isogate-bench-*.camt053.xml")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	gen, err := writeBenchCamt(bw, camtBytes)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return nil, fmt.Errorf("writing the camt.053: %w", err)
	}
	res.fileBytes = gen.bytes
	logf("camt.053: %.1f MB, %d entries, %d transactions in %s", float64(gen.bytes)/(1<<20), gen.entries, gen.txs, f.Name())

	mb := float64(gen.bytes) / (1 << 20)
	var sums [2]uint64
	for i := range 2 * runs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// Alternate the order so drift in the machine's load hits both.
		baseline := (i%2 == 1) != (i/2%2 == 1)
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		// Two GCs: the second empties sync.Pool victim caches (the
		// encoder's buffers), so the heap figure is the decoder's.
		runtime.GC()
		runtime.GC()
		sampler := startHeapSampler()
		cpu0 := processCPU()
		start := time.Now()
		var st decodeStats
		if baseline {
			st, err = baselineDecode(f)
		} else {
			st, err = xmlcodecDecode(f)
		}
		elapsed := time.Since(start)
		cpu := processCPU() - cpu0
		peak := sampler.stop()
		if err != nil {
			return nil, fmt.Errorf("decoding (baseline %v): %w", baseline, err)
		}
		if st.entries != gen.entries || st.txs != gen.txs {
			return nil, fmt.Errorf("decoded %d entries and %d transactions (baseline %v), generated %d and %d", st.entries, st.txs, baseline, gen.entries, gen.txs)
		}
		rate := mb / elapsed.Seconds()
		cpuRate := 0.0
		if cpu > 0 {
			cpuRate = mb / cpu.Seconds()
		}
		if baseline {
			res.baseRuns = append(res.baseRuns, rate)
			res.baseCPURuns = append(res.baseCPURuns, cpuRate)
			sums[1] = st.sum
			logf("decode baseline: %.1f MB/s", rate)
		} else {
			res.decodeRuns = append(res.decodeRuns, rate)
			res.decodeCPURuns = append(res.decodeCPURuns, cpuRate)
			sums[0] = st.sum
			res.DecodePeakHeapMB = max(res.DecodePeakHeapMB, float64(peak)/(1<<20))
			logf("decode xmlcodec: %.1f MB/s, peak heap %.1f MB", rate, float64(peak)/(1<<20))
		}
		res.entries, res.transactions = st.entries, st.txs
	}
	if sums[0] != sums[1] {
		return nil, fmt.Errorf("the decoder and the baseline extracted different data (checksums %x, %x)", sums[0], sums[1])
	}
	res.DecodeMBPerS = median(res.decodeRuns)
	res.BaselineDecodeMBPerS = median(res.baseRuns)
	res.DecodeRatio = res.DecodeMBPerS / res.BaselineDecodeMBPerS
	return res, nil
}

// benchRequest is the pain.001 request the bench encodes.
func benchRequest(profile string, pays []xmlcodec.Payment) xmlcodec.Pain001Request {
	return xmlcodec.Pain001Request{MsgID: "BENCH-" + profile, Payments: pays,
		Now: func() time.Time { return time.Date(2026, 11, 21, 9, 30, 0, 0, time.UTC) }}
}

// A heapSampler records the largest heap-objects figure runtime/metrics
// reports, every millisecond, until stop.
type heapSampler struct {
	done chan struct{}
	wg   sync.WaitGroup
	peak uint64
}

func startHeapSampler() *heapSampler {
	h := &heapSampler{done: make(chan struct{})}
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() {
		metrics.Read(sample)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			h.peak = max(h.peak, sample[0].Value.Uint64())
		}
	}
	read()
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-h.done:
				read()
				return
			case <-t.C:
				read()
			}
		}
	}()
	return h
}

func (h *heapSampler) stop() uint64 {
	close(h.done)
	h.wg.Wait()
	return h.peak
}

// decodeStats is what a decode run extracted: counts and a checksum of
// every field, so the decoder and the baseline can be compared.
type decodeStats struct {
	entries, txs int
	sum          uint64
}

// checksum hashes the fields of the decode contract of one entry.
type checksum struct{ h hash.Hash64 }

func newChecksum() *checksum { return &checksum{h: fnv.New64a()} }

func (c *checksum) s(v string) {
	io.WriteString(c.h, v)
	c.h.Write([]byte{0})
}

func (c *checksum) party(p *xmlcodec.PartyInfo) {
	if p == nil {
		c.s("-")
		return
	}
	c.s(p.Name)
	c.s(p.IBAN)
	c.s(p.Account)
	c.s(p.BIC)
	c.s(p.ID)
}

func (c *checksum) money(m *xmlcodec.Money) {
	if m == nil {
		c.s("-")
		return
	}
	c.s(m.Amount)
	c.s(m.Currency)
}

func (c *checksum) charges(cs []xmlcodec.Charge) {
	c.s(strconv.Itoa(len(cs)))
	for _, ch := range cs {
		c.s(ch.Amount)
		c.s(ch.Currency)
		c.s(ch.CreditDebit)
		c.s(ch.Type)
		c.s(ch.Bearer)
	}
}

func (c *checksum) entry(e *xmlcodec.Entry) {
	for _, v := range []string{e.EntryRef, e.AcctSvcrRef, e.Amount, e.Currency, e.CreditDebit, e.Status, e.BookingDate,
		e.ValueDate, strconv.FormatBool(e.Reversal), e.BankTxCode, e.BankTxCodeProprietary, e.AdditionalInfo} {
		c.s(v)
	}
	if e.BatchCount != nil {
		c.s(strconv.Itoa(*e.BatchCount))
	}
	c.charges(e.Charges)
	for i := range e.Transactions {
		t := &e.Transactions[i]
		for _, v := range []string{t.EndToEndID, t.TxID, t.MsgID, t.PmtInfID, t.InstrID, t.AcctSvcrRef, t.MandateID, t.UETR,
			t.ProprietaryRef, t.Amount, t.Currency, t.CreditDebit, t.Remittance, t.CreditorReference, t.Purpose, t.BudgetCode,
			t.BankTxCode, t.ReturnReason, t.ReturnInfo, t.AdditionalInfo} {
			c.s(v)
		}
		if a := t.AmountDetails; a != nil {
			c.money(a.Instructed)
			c.money(a.Transaction)
			c.money(a.CounterValue)
			c.money(a.AnnouncedPosting)
		}
		c.party(t.Counterparty)
		c.party(t.Debtor)
		c.party(t.UltimateDebtor)
		c.party(t.Creditor)
		c.party(t.UltimateCreditor)
		c.charges(t.Charges)
	}
}

// xmlcodecDecode streams r through xmlcodec's decoder.
func xmlcodecDecode(r io.Reader) (decodeStats, error) {
	var st decodeStats
	sum := newChecksum()
	d := xmlcodec.NewDecoder(r, xmlcodec.Limits{})
	for {
		rec, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return st, err
		}
		if e, ok := rec.(*xmlcodec.Entry); ok {
			st.entries++
			st.txs += len(e.Transactions)
			sum.entry(e)
		}
	}
	st.sum = sum.h.Sum64()
	return st, nil
}
