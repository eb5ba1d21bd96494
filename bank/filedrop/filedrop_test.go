package filedrop

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/isogate/isogate/bank"
	"github.com/isogate/isogate/bank/channeltest"
	"github.com/isogate/isogate/banksim"
	"github.com/isogate/isogate/xmlcodec"
)

type fixture struct {
	cfg   Config
	ch    *Channel
	bank  *banksim.Bank
	clock *channeltest.Clock
	prof  *xmlcodec.Profile
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	root := t.TempDir()
	cfg := Config{Outbox: filepath.Join(root, "outbox"), Inbox: filepath.Join(root, "inbox"), Archive: filepath.Join(root, "archive")}
	for _, d := range []string{cfg.Outbox, cfg.Inbox, cfg.Archive} {
		if err := os.Mkdir(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	ch, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	clock := channeltest.NewClock(channeltest.StartTime())
	b, err := banksim.NewBank(banksim.Config{Now: clock.Now, Seed: 1, Accounts: channeltest.Accounts()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return &fixture{cfg: cfg, ch: ch, bank: b, clock: clock, prof: b.Profile()}
}

// process lets the bank take the outbox and answer into inbox.
func (f *fixture) process(t *testing.T, inbox string) {
	t.Helper()
	if inbox == "" {
		inbox = f.cfg.Inbox
	}
	if _, err := f.bank.ProcessFolders(f.cfg.Outbox, inbox); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) file(t *testing.T, msgID string, cents int) bank.File {
	t.Helper()
	debtor := channeltest.Accounts()[0].IBAN
	res, err := f.prof.EncodePain001(xmlcodec.Pain001Request{MsgID: msgID, Now: f.clock.Now, Payments: []xmlcodec.Payment{{
		ID: msgID + "-1", Debtor: xmlcodec.Account{Name: "Finanšu ministrija", IBAN: debtor},
		Creditor: xmlcodec.Account{Name: "Piegādātājs", IBAN: "LV80BANK0000435195001"},
		Amount:   fmt.Sprintf("10.%02d", cents), Currency: "EUR",
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return bank.File{MsgID: msgID, Data: res.Files[0].Data}
}

func (f *fixture) camt060(t *testing.T, msgID string) []byte {
	t.Helper()
	b, err := f.prof.EncodeCamt060(xmlcodec.Camt060Request{MsgID: msgID, Now: f.clock.Now, Requests: []xmlcodec.ReportRequest{
		{Message: "camt.052", Account: channeltest.Accounts()[0].IBAN, FromDate: f.clock.Now().Format(time.DateOnly)}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func TestSubmitHandOver(t *testing.T) {
	f := newFixture(t)
	file := f.file(t, "FD-1", 0)
	r, err := f.ch.Submit(t.Context(), file)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(t, f.cfg.Outbox); !slices.Equal(got, []string{"FD-1.xml"}) {
		t.Errorf("outbox = %v, want [FD-1.xml] and no temporary file", got)
	}
	for _, p := range []string{filepath.Join(f.cfg.Outbox, "FD-1.xml"), filepath.Join(f.cfg.Archive, "sent", "FD-1.xml")} {
		if b, err := os.ReadFile(p); err != nil || !bytes.Equal(b, file.Data) {
			t.Errorf("%s does not hold the file (err %v)", p, err)
		}
	}
	if r.SHA256 != sha(file.Data) || r.MsgID != "FD-1" {
		t.Errorf("receipt = %+v", r)
	}
	other := f.file(t, "FD-1", 1)
	for _, when := range []string{"in the outbox", "taken by the bank"} {
		if _, err := f.ch.Submit(t.Context(), file); err != nil {
			t.Errorf("%s: Submit(same bytes) = %v, want a no-op success", when, err)
		}
		if _, err := f.ch.Submit(t.Context(), other); !errors.Is(err, bank.ErrDuplicate) {
			t.Errorf("%s: Submit(other bytes) = %v, want ErrDuplicate", when, err)
		}
		f.process(t, "")
	}
	if got := names(t, f.cfg.Outbox); len(got) != 0 {
		t.Errorf("outbox after the bank took the file and two re-submits = %v, want empty (not handed over twice)", got)
	}
	if l := f.bank.Ledger(); l.FilesReceived != 1 || l.DuplicateUploads != 0 {
		t.Errorf("ledger = %+v, want 1 file received, no duplicate", l)
	}
	if _, err := f.ch.Submit(t.Context(), bank.File{MsgID: "FD-OTHER", Data: file.Data}); !errors.Is(err, bank.ErrPermanent) {
		t.Errorf("Submit(MsgId not the document's) = %v, want ErrPermanent", err)
	}
}

// TestSubmitCrashRecovery replays the states a crash can leave.
func TestSubmitCrashRecovery(t *testing.T) {
	f := newFixture(t)
	file := f.file(t, "FD-CRASH", 0)
	name := "FD-CRASH.xml"
	// Crash after step 1: a temporary file only. Never handed over.
	stale, err := writeTemp(f.cfg.Outbox, name, file.Data[:100])
	if err != nil {
		t.Fatal(err)
	}
	f.process(t, "") // the bank never takes a temporary file
	if l := f.bank.Ledger(); l.FilesReceived != 0 {
		t.Fatalf("the bank took a temporary file: %+v", l)
	}
	if _, err := f.ch.Submit(t.Context(), file); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temporary file %s left behind", stale)
	}
	f.process(t, "")

	// Crash after step 2: a temporary file and the archive copy. The next
	// Submit finishes the hand-over.
	file2 := f.file(t, "FD-CRASH2", 0)
	name = "FD-CRASH2.xml"
	if _, err := writeTemp(f.cfg.Outbox, name, file2.Data); err != nil {
		t.Fatal(err)
	}
	if err := writeAtomic(filepath.Join(f.cfg.Archive, "sent"), name, file2.Data); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ch.Submit(t.Context(), file2); err != nil {
		t.Fatal(err)
	}
	if got := names(t, f.cfg.Outbox); !slices.Equal(got, []string{name}) {
		t.Errorf("outbox = %v, want [%s]", got, name)
	}
	f.process(t, "")
	if l := f.bank.Ledger(); l.FilesReceived != 2 || l.DuplicateUploads != 0 {
		t.Errorf("ledger = %+v, want 2 files, no duplicate", l)
	}
}

// TestInboxIncomplete: hidden, temporary and incomplete files are never
// taken; a complete one is, and is archived.
func TestInboxIncomplete(t *testing.T) {
	f := newFixture(t)
	file := f.file(t, "FD-IN", 0)
	if _, err := f.ch.Submit(t.Context(), file); err != nil {
		t.Fatal(err)
	}
	staging := t.TempDir()
	f.process(t, staging) // the bank's pain.002, kept aside
	got := names(t, staging)
	if len(got) != 1 {
		t.Fatalf("bank wrote %v, want one pain.002", got)
	}
	p002, err := os.ReadFile(filepath.Join(staging, got[0]))
	if err != nil {
		t.Fatal(err)
	}
	half := p002[:len(p002)/2]
	for name, data := range map[string][]byte{
		".FD-IN.pain.002.xml": p002, "FD-IN.pain.002.xml.tmp": p002, "FD-IN.pain.002.xml.part": p002,
		"FD-IN.half.xml": half, "FD-IN.txt": p002,
	} {
		if err := os.WriteFile(filepath.Join(f.cfg.Inbox, name), data, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.ch.Status(t.Context(), "FD-IN"); !errors.Is(err, bank.ErrUnknownToBank) {
		t.Fatalf("Status with only incomplete files = %v, want ErrUnknownToBank", err)
	}
	if n := len(names(t, f.cfg.Inbox)); n != 5 {
		t.Errorf("inbox holds %d files, want the 5 untouched", n)
	}
	// The writer finishes.
	if err := os.WriteFile(filepath.Join(f.cfg.Inbox, "FD-IN.half.xml"), p002, 0o640); err != nil {
		t.Fatal(err)
	}
	doc, err := f.ch.Status(t.Context(), "FD-IN")
	if err != nil || !bytes.Equal(doc.Data, p002) || !strings.HasPrefix(doc.Message, "pain.002") {
		t.Fatalf("Status = %v (%s), want the pain.002", err, doc.Name)
	}
	if _, err := os.Stat(filepath.Join(f.cfg.Archive, "status", "FD-IN", "FD-IN.half.xml")); err != nil {
		t.Errorf("the pain.002 was not archived: %v", err)
	}
	if n := len(names(t, f.cfg.Inbox)); n != 4 {
		t.Errorf("inbox holds %d files, want 4", n)
	}
	// Archived, it still answers.
	if again, err := f.ch.Status(t.Context(), "FD-IN"); err != nil || !bytes.Equal(again.Data, p002) {
		t.Errorf("Status again = %v", err)
	}
}

// TestStatusIgnoresDuplicateRejection: a second copy of a file reaching
// the bank (the crash window) gets a DUPL rejection; Status keeps
// answering with the file's own status.
func TestStatusIgnoresDuplicateRejection(t *testing.T) {
	f := newFixture(t)
	file := f.file(t, "FD-DUP", 0)
	if _, err := f.ch.Submit(t.Context(), file); err != nil {
		t.Fatal(err)
	}
	f.process(t, "")
	f.clock.Advance(time.Hour)
	if err := os.WriteFile(filepath.Join(f.cfg.Outbox, "FD-DUP.xml"), file.Data, 0o640); err != nil {
		t.Fatal(err)
	}
	f.process(t, "")
	if l := f.bank.Ledger(); l.DuplicateUploads != 1 || l.TransactionsBooked != 1 {
		t.Fatalf("ledger = %+v, want one duplicate upload, one transaction", l)
	}
	doc, err := f.ch.Status(t.Context(), "FD-DUP")
	if err != nil {
		t.Fatal(err)
	}
	if group, dupl := summary(doc.Data); dupl || group != xmlcodec.StatusACSC {
		t.Errorf("Status = %s (DUPL %v) from %s, want ACSC", group, dupl, doc.Name)
	}
}

// TestReports: each request gets its own answers, again on a repeated
// call, and is handed over once.
func TestReports(t *testing.T) {
	f := newFixture(t)
	r1, r2 := f.camt060(t, "FD-REQ-1"), f.camt060(t, "FD-REQ-2")
	for _, r := range [][]byte{r1, r2} {
		if docs, err := f.ch.Reports(t.Context(), r); err != nil || len(docs) != 0 {
			t.Fatalf("Reports before the bank answered = %d documents, %v", len(docs), err)
		}
	}
	f.process(t, "")
	for _, tt := range []struct {
		req  []byte
		name string
	}{{r1, "FD-REQ-1.xml."}, {r2, "FD-REQ-2.xml."}, {r1, "FD-REQ-1.xml."}} {
		docs, err := f.ch.Reports(t.Context(), tt.req)
		if err != nil || len(docs) != 1 || !strings.HasPrefix(filepath.Base(docs[0].Name), tt.name) || docs[0].Message != "camt.052.001.02" {
			t.Errorf("Reports(%s) = %v, %v; want its one camt.052", tt.name, docs, err)
		}
	}
	if got := names(t, f.cfg.Outbox); len(got) != 0 {
		t.Errorf("outbox = %v: a repeated request was handed over again", got)
	}
	// A request the bank refuses (an account it does not hold).
	bad, err := f.prof.EncodeCamt060(xmlcodec.Camt060Request{MsgID: "FD-REQ-BAD", Now: f.clock.Now, Requests: []xmlcodec.ReportRequest{
		{Message: "camt.052", Account: "LV80BANK0000435195001", FromDate: f.clock.Now().Format(time.DateOnly)}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.ch.Reports(t.Context(), bad); err != nil {
		t.Fatal(err)
	}
	f.process(t, "")
	for range 2 {
		_, err := f.ch.Reports(t.Context(), bad)
		var be *bank.Error
		if !errors.As(err, &be) || be.Class != bank.Permanent || !strings.Contains(string(be.Body), "not held") {
			t.Errorf("Reports(refused) = %v, want ErrPermanent with the bank's text", err)
		}
	}
	if _, err := f.ch.Reports(t.Context(), []byte("<Document")); !errors.Is(err, bank.ErrPermanent) {
		t.Errorf("Reports(not XML) = %v, want ErrPermanent", err)
	}
}

func TestFileName(t *testing.T) {
	for _, id := range []string{"MSG-1", "a/b c", ".hidden", "Rēķins#5", "x%y"} {
		n := fileName(id)
		if strings.ContainsAny(n, "/ #") || strings.HasPrefix(n, ".") || msgIDOf(n) != id {
			t.Errorf("fileName(%q) = %q (back %q)", id, n, msgIDOf(n))
		}
	}
}

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	err := Config{Outbox: dir, Inbox: dir, Archive: filepath.Join(dir, "missing")}.Validate()
	for _, want := range []string{"outbox and inbox are the same folder", "archive folder"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %q", err, want)
		}
	}
	f := newFixture(t)
	if err := f.ch.Health(t.Context()); err != nil {
		t.Errorf("Health = %v", err)
	}
	os.RemoveAll(f.cfg.Inbox)
	if err := f.ch.Health(t.Context()); !errors.Is(err, bank.ErrTransient) {
		t.Errorf("Health without inbox = %v, want ErrTransient", err)
	}
}
