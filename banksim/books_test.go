package banksim

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/isogate/isogate/xmlcodec"
)

// booksDay plays the same day on a bank: files with accepted, rejected and
// duplicate transactions, status queries at every stage and all three
// report families; it returns every document the bank answered, in order.
func booksDay(t *testing.T, b *Bank, clk *clock) [][]byte {
	t.Helper()
	var docs [][]byte
	keep := func(doc []byte, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, doc)
	}
	files := [][]xmlcodec.Payment{
		{pay("E2E-1", acct1, cred("HABA0000000000011"), "10.01"), pay("E2E-2", acct1, cred("HABA0000000009999"), "5.00"),
			pay("E2E-5", acct1, cred("HABA0000000000012"), "1.00"), pay("E2E-3", acct2, cred("HABA0000000000013"), "7.50")},
		{pay("E2E-3", acct2, cred("HABA0000000000014"), "2.00"), pay("E2E-4", acct1, cred("HABA0000000000015"), "0.99"),
			pay("E2E-1", acct1, cred("HABA0000000000016"), "1.00")},
	}
	files[0][3].Remittance = "SIMRJCT:AM09 nepareiza summa"
	for i, pays := range files {
		id := fmt.Sprintf("MSG-%d", i+1)
		res := b.upload(encode(t, "ekase", id, clk.Now(), pays...), nil)
		if res.code != 202 {
			t.Fatalf("%s: code %d", id, res.code)
		}
		for range 4 { // RCVD/ACTC, ACSP or PART, settled
			keep(b.status(id))
			clk.Advance(time.Second)
		}
	}
	clk.Advance(24 * time.Hour)
	day := day0.Format(time.DateOnly)
	for _, fam := range []string{"camt.053", "camt.052", "camt.054"} {
		keep(b.report(camt060(t, "ekase", "REQ-"+fam, fam, acct1, day, "")))
	}
	return docs
}

// TestBooksOnDisk: a bank whose books are on disk answers byte for byte
// what a bank keeping them in memory answers, while it holds no
// transaction details and no entry texts in memory.
func TestBooksOnDisk(t *testing.T) {
	disk, diskClock, _, _ := plainBank(t, Config{Seed: 7})
	mem, memClock, _, _ := plainBank(t, Config{Seed: 7})
	mem.mu.Lock()
	if disk.spill == nil || mem.spill == nil {
		t.Fatal("no temporary file for the books")
	}
	mem.spill.close()
	mem.spill = nil
	mem.mu.Unlock()

	got, want := booksDay(t, disk, diskClock), booksDay(t, mem, memClock)
	if len(got) != len(want) {
		t.Fatalf("%d documents against %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("document %d differs:\n%s\nin memory:\n%s", i, got[i], want[i])
		}
	}
	for _, must := range []string{"AC01", "DUPL", "AM09", "EndToEndId E2E-1 already booked (MsgId MSG-1)",
		"Komisija", "Rēķins E2E-4"} {
		found := false
		for _, d := range got {
			found = found || bytes.Contains(d, []byte(must))
		}
		if !found {
			t.Errorf("no document carries %q", must)
		}
	}
	if l, lm := disk.Ledger(), mem.Ledger(); !reflect.DeepEqual(l, lm) || l.TransactionsBooked != 4 || l.EndToEndIDsBookedTwice != 0 {
		t.Errorf("ledger %+v, in memory %+v", l, lm)
	}

	disk.mu.Lock()
	defer disk.mu.Unlock()
	for id, f := range disk.files {
		if f.blocks != nil || !f.details.onDisk {
			t.Errorf("file %s: details in memory", id)
		}
	}
	n := 0
	for _, a := range disk.accounts {
		for _, e := range a.entries {
			if e.kind != kindIncoming && (!e.texts.onDisk || e.texts.mem != "") {
				t.Errorf("entry %s: texts in memory", e.ref())
			}
			n++
		}
	}
	if n < 6 {
		t.Errorf("%d entries booked, want at least 4 payments and 2 charges", n)
	}
}

// TestEndToEndIDHashCollisions: with every EndToEndId on one hash, a
// duplicate is still told from a new id, within a file and across files,
// and the ledger's check still counts by the ids themselves.
func TestEndToEndIDHashCollisions(t *testing.T) {
	b, clk, _, _ := plainBank(t, Config{})
	b.e2eKey = func(string) uint64 { return 42 }
	up := func(id string, e2e ...string) []byte {
		t.Helper()
		var pays []xmlcodec.Payment
		for i, e := range e2e {
			pays = append(pays, pay(e, acct1, cred(fmt.Sprintf("HABA%013d", 100+i)), "1.00"))
		}
		if res := b.upload(encode(t, "ekase", id, clk.Now(), pays...), nil); res.code != 202 {
			t.Fatalf("%s: code %d", id, res.code)
		}
		clk.Advance(time.Minute)
		doc, err := b.status(id)
		if err != nil {
			t.Fatal(err)
		}
		return doc
	}
	first := up("MSG-A", "ID-A", "ID-B")
	second := up("MSG-B", "ID-B", "ID-C", "ID-A")
	if strings.Count(string(first), "<TxSts>RJCT") != 0 {
		t.Errorf("first file: two ids on one hash, want both booked:\n%s", first)
	}
	if !contains(second, "EndToEndId ID-B already booked (MsgId MSG-A)") || !contains(second, "EndToEndId ID-A already booked (MsgId MSG-A)") ||
		strings.Count(string(second), "<TxSts>RJCT") != 2 {
		t.Errorf("second file: want ID-B and ID-A refused, ID-C booked:\n%s", second)
	}
	if l := b.Ledger(); l.TransactionsBooked != 3 || l.EndToEndIDsBookedTwice != 0 {
		t.Errorf("ledger: %d booked, %d twice; want 3 and 0", l.TransactionsBooked, l.EndToEndIDsBookedTwice)
	}
	// The check finds a double booking that slipped past the registry.
	b.mu.Lock()
	a := b.accounts[acct1]
	for _, e := range a.entries {
		if t2, _ := b.text(e); e.kind == kindPayment && t2.e2e == "ID-C" {
			a.entries = append(a.entries, e)
			break
		}
	}
	b.mu.Unlock()
	if l := b.Ledger(); l.EndToEndIDsBookedTwice != 1 {
		t.Errorf("ledger: %d booked twice after booking ID-C again, want 1", l.EndToEndIDsBookedTwice)
	}
}

// TestBooksUnreadable: when the books' file cannot be read back, status
// queries and reports that need it answer 500 (not 404: the file was
// received), an EndToEndId whose booking cannot be checked is refused, and
// the bank goes on booking new files in memory.
func TestBooksUnreadable(t *testing.T) {
	b, clk, c, url := plainBank(t, Config{})
	mustCall(t, c, "POST", url+"/v1/payments", encode(t, "ekase", "MSG-1", clk.Now(),
		pay("E2E-1", acct1, cred("HABA0000000000011"), "3.00")), 202)
	clk.Advance(time.Minute)
	mustCall(t, c, "GET", url+"/v1/payments/MSG-1/status", nil, 200)

	b.mu.Lock()
	b.spill.f.Close() // the disk goes away
	b.mu.Unlock()

	if body := mustCall(t, c, "GET", url+"/v1/payments/MSG-1/status", nil, http.StatusInternalServerError); !contains(body, "books") {
		t.Errorf("status: %s", body)
	}
	mustCall(t, c, "GET", url+"/v1/payments/MSG-X/status", nil, http.StatusNotFound)
	day := day0.Format(time.DateOnly)
	mustCall(t, c, "POST", url+"/v1/reports", camt060(t, "ekase", "REQ-1", "camt.054", acct1, day, ""), http.StatusInternalServerError)

	mustCall(t, c, "POST", url+"/v1/payments", encode(t, "ekase", "MSG-2", clk.Now(),
		pay("E2E-1", acct1, cred("HABA0000000000012"), "4.00"), pay("E2E-2", acct1, cred("HABA0000000000013"), "5.00")), 202)
	clk.Advance(time.Minute)
	doc := mustCall(t, c, "GET", url+"/v1/payments/MSG-2/status", nil, 200)
	if !contains(doc, "E2E-1 may be booked already (MsgId MSG-1): the bank cannot read back its books") {
		t.Errorf("second file: E2E-1's reason does not say the books could not be checked:\n%s", doc)
	}
	if _, tx := statuses(t, doc); tx["E2E-1"] != "RJCT/DUPL" || tx["E2E-2"] != "ACSC" {
		t.Errorf("second file: %v, want E2E-1 refused (its booking cannot be checked), E2E-2 settled", tx)
	}
	b.mu.Lock()
	inMemory := b.spill.full && b.files["MSG-2"].blocks != nil
	b.mu.Unlock()
	if !inMemory {
		t.Error("after the failed write, the bank should keep new books in memory")
	}
}

// TestBooksWriteFails: after a write to the books' file fails (a full
// disk), new books stay in memory and what was written before is still
// read back: a status of an earlier file keeps its details.
func TestBooksWriteFails(t *testing.T) {
	b, clk, c, url := plainBank(t, Config{})
	mustCall(t, c, "POST", url+"/v1/payments", encode(t, "ekase", "MSG-1", clk.Now(),
		pay("E2E-1", acct1, cred("HABA0000000000011"), "3.00")), 202)

	b.mu.Lock()
	// The same (unlinked) file, opened read-only: writes fail, reads work.
	ro, err := os.Open(fmt.Sprintf("/proc/self/fd/%d", b.spill.f.Fd()))
	if err != nil {
		b.mu.Unlock()
		t.Skipf("no /proc/self/fd here: %v", err)
	}
	rw := b.spill.f
	b.spill.f = ro
	b.mu.Unlock()
	defer rw.Close()

	mustCall(t, c, "POST", url+"/v1/payments", encode(t, "ekase", "MSG-2", clk.Now(),
		pay("E2E-2", acct1, cred("HABA0000000000012"), "4.00"), pay("E2E-1", acct1, cred("HABA0000000000013"), "5.00")), 202)
	clk.Advance(time.Minute)
	for id, want := range map[string]map[string]string{
		"MSG-1": {"E2E-1": "ACSC"},
		"MSG-2": {"E2E-2": "ACSC", "E2E-1": "RJCT/DUPL"},
	} {
		doc := mustCall(t, c, "GET", url+"/v1/payments/"+id+"/status", nil, 200)
		if _, tx := statuses(t, doc); !reflect.DeepEqual(tx, want) {
			t.Errorf("%s: %v, want %v", id, tx, want)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.spill.full || b.files["MSG-2"].blocks == nil || !b.files["MSG-1"].details.onDisk {
		t.Error("want MSG-1 read from disk and MSG-2 kept in memory after the failed write")
	}
}

// TestReadBlocksRefusesDamage: a record cut anywhere, or with bytes after
// it, is an error, never a panic or a partial answer.
func TestReadBlocksRefusesDamage(t *testing.T) {
	bs := []*block{
		{id: "PMT-1", nbOfTxs: "2", ctrlSum: "3.50", txs: []tx{
			{e2e: "E2E-1", amount: "1.50", ccy: "EUR", seq: 9},
			{e2e: "E2E-Ā", amount: "2.00", ccy: "EUR", rejected: &reason{"AC01", "konts nepareizs"}},
		}},
		{id: "PMT-2", nbOfTxs: "0", ctrlSum: "0"},
	}
	rec := string(appendBlocks(nil, bs))
	got, err := readBlocks(rec)
	if err != nil {
		t.Fatal(err)
	}
	bs[1].txs = []tx{} // read back as an empty, not a nil, slice
	if !reflect.DeepEqual(got, bs) {
		t.Errorf("read back %+v, want %+v", got, bs)
	}
	for n := range len(rec) {
		if _, err := readBlocks(rec[:n]); err == nil {
			t.Errorf("cut at %d of %d: no error", n, len(rec))
		}
	}
	if _, err := readBlocks(rec + "x"); err == nil {
		t.Error("a trailing byte: no error")
	}
}

// TestDuplicatesInAndAcrossFiles: an EndToEndId twice in one file is
// booked once; a file re-sent under a new MsgId, its details on disk by
// then, books only its new ids.
func TestDuplicatesInAndAcrossFiles(t *testing.T) {
	b := coreBank(t)
	a := []xmlcodec.Payment{pay("E2E-A", acct1, cred("HABA0000000000011"), "1.00"),
		pay("E2E-B", acct1, cred("HABA0000000000012"), "2.00"), pay("E2E-Z", acct1, cred("HABA0000000000013"), "3.00")}
	// Our encoder refuses a repeated id; a bank must not rely on that.
	twice := bytes.Replace(encode(t, "ekase", "MSG-A", day0, a...), []byte("E2E-Z"), []byte("E2E-A"), 1)
	if res := b.upload(twice, nil); res.code != 202 || res.booked != 2 {
		t.Fatalf("MSG-A: code %d, booked %d, want 202 and 2", res.code, res.booked)
	}
	again := append(a[:2:2], pay("E2E-C", acct1, cred("HABA0000000000014"), "4.00"))
	if res := b.upload(encode(t, "ekase", "MSG-B", day0, again...), nil); res.code != 202 || res.booked != 1 {
		t.Fatalf("MSG-B: code %d, booked %d, want 202 and 1", res.code, res.booked)
	}
	if l := b.Ledger(); l.TransactionsBooked != 3 || l.EndToEndIDsBookedTwice != 0 {
		t.Errorf("ledger: %d booked, %d booked twice; want 3 and 0", l.TransactionsBooked, l.EndToEndIDsBookedTwice)
	}
}
