package banksim

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/isogate/isogate/xmlcodec"
)

// BenchmarkLedgerHeap books b.N files of 1,000 transactions each and
// reports the live heap the bank keeps per booked transaction (measured
// after a collection, the encoded files dropped) and the bytes of its
// temporary file per booked transaction: what banksim's books cost a long
// bench run.
func BenchmarkLedgerHeap(b *testing.B) {
	const perFile = 1000
	bank := coreBank(b)
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	pays := make([]xmlcodec.Payment, perFile)
	for i := range b.N {
		for j := range pays {
			id := fmt.Sprintf("E2E-%04d-%04d", i, j)
			pays[j] = pay(id, acct1, cred(fmt.Sprintf("HABA%012d1", i*perFile+j)), "12.34")
		}
		res := bank.upload(encode(b, "ekase", fmt.Sprintf("MSG-%06d", i), day0, pays...), nil)
		if res.code != 202 || res.booked != perFile {
			b.Fatalf("file %d: code %d, booked %d", i, res.code, res.booked)
		}
	}
	after := heap()
	runtime.KeepAlive(bank)
	b.ReportMetric(float64(after-before)/float64(b.N*perFile), "heap-B/tx")
	bank.mu.Lock()
	if bank.spill != nil {
		b.ReportMetric(float64(bank.spill.end)/float64(b.N*perFile), "disk-B/tx")
	}
	bank.mu.Unlock()
}

// BenchmarkResentFile re-sends a booked file of 5,000 payments under a new
// MsgId: every EndToEndId is a duplicate, checked against the first file's
// details on disk.
func BenchmarkResentFile(b *testing.B) {
	const n = 5000
	bank := coreBank(b)
	pays := make([]xmlcodec.Payment, n)
	for j := range pays {
		pays[j] = pay(fmt.Sprintf("E2E-%05d", j), acct1, cred(fmt.Sprintf("HABA%012d1", j)), "1.00")
	}
	if res := bank.upload(encode(b, "ekase", "MSG-FIRST", day0, pays...), nil); res.code != 202 || res.booked != n {
		b.Fatalf("first file: code %d, booked %d", res.code, res.booked)
	}
	files := make([][]byte, b.N)
	for i := range files {
		files[i] = encode(b, "ekase", fmt.Sprintf("MSG-AGAIN-%06d", i), day0, pays...)
	}
	b.ResetTimer()
	for i := range b.N {
		if res := bank.upload(files[i], nil); res.booked != 0 {
			b.Fatalf("re-sent file booked %d", res.booked)
		}
	}
}
