package banksim

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/isogate/isogate/messages"
)

// plainBank serves a bank over plain HTTP (httptest) for tests of the core
// and the mapping; TLS is covered by the tests that use Start.
func plainBank(t *testing.T, cfg Config) (*Bank, *clock, *http.Client, string) {
	t.Helper()
	clk := newClock(day0)
	if cfg.Now == nil {
		cfg.Now = clk.Now
	}
	b, err := NewBank(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(b.Handler())
	t.Cleanup(func() { b.Close(); ts.Close() })
	return b, clk, ts.Client(), ts.URL
}

// coreBank is a bank on day0's clock for tests and benchmarks that call
// its core (upload, Ledger) directly, without HTTP. It is closed when tb
// ends.
func coreBank(tb testing.TB) *Bank {
	tb.Helper()
	b, err := NewBank(Config{Now: newClock(day0).Now})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(b.Close)
	return b
}

func TestFileRejections(t *testing.T) {
	good := func() []byte {
		return encode(t, "ekase", "FR-1", day0, pay("FR-E1", acct1, cred("HABA0012345678910"), "10.00"),
			pay("FR-E2", acct1, cred("HABA0012345678911"), "5.50"))
	}
	badIBAN := "LV70HABA0012345678912" // check digits of …911
	tests := []struct {
		name   string
		file   []byte
		reason string
	}{
		{"not well-formed", []byte("<Document><CstmrCdtTrfInitn>"), "FF01"},
		{"other version", encode(t, "iso2019", "FR-1", day0, pay("FR-E1", acct1, cred("HABA0012345678910"), "10.00")), "FF01"},
		{"group CtrlSum", bytes.Replace(good(), []byte("<CtrlSum>15.50</CtrlSum>"), []byte("<CtrlSum>15.51</CtrlSum>"), 1), "AM10"},
		{"PmtInf CtrlSum", replaceNth(good(), "<CtrlSum>15.50</CtrlSum>", "<CtrlSum>15.49</CtrlSum>", 2), "AM10"},
		{"group NbOfTxs", bytes.Replace(good(), []byte("<NbOfTxs>2</NbOfTxs>"), []byte("<NbOfTxs>3</NbOfTxs>"), 1), "AM18"},
		{"PmtInf NbOfTxs", replaceNth(good(), "<NbOfTxs>2</NbOfTxs>", "<NbOfTxs>1</NbOfTxs>", 2), "AM18"},
		{"creditor IBAN check digits 00", bytes.Replace(good(), []byte(cred("HABA0012345678911")), []byte("LV00HABA0012345678910"), 1), "AC01"},
		{"creditor IBAN checksum", bytes.Replace(good(), []byte(cred("HABA0012345678911")), []byte(badIBAN), 1), "AC01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _, c, url := plainBank(t, Config{})
			body := mustCall(t, c, "POST", url+"/v1/payments", tt.file, 400)
			validateXSD(t, body, "pain.002.001.03")
			if g, _ := statuses(t, body); g != "RJCT" || !contains(body, "<Cd>"+tt.reason+"</Cd>") {
				t.Errorf("answer %s, want RJCT %s", body, tt.reason)
			}
			if l := b.Ledger(); l.TransactionsBooked != 0 || l.FilesReceived != 1 {
				t.Errorf("ledger %+v", l)
			}
		})
	}
}

func replaceNth(b []byte, old, new string, n int) []byte {
	s := string(b)
	i := -1
	for range n {
		j := strings.Index(s[i+1:], old)
		if j < 0 {
			return b
		}
		i += 1 + j
	}
	return []byte(s[:i] + new + s[i+len(old):])
}

// TestTransactionRules checks the deterministic per-transaction rejections
// and the status play-out of a mixed file (PART).
func TestTransactionRules(t *testing.T) {
	poor := messages.ComposeIBAN("LV", "TREL9190000000077")
	b, clk, c, url := plainBank(t, Config{Delays: Delays{Accept: 500 * time.Millisecond, Process: time.Second, Settle: time.Minute},
		Accounts: append(DefaultAccounts()[:2], Account{IBAN: poor, Currency: "EUR", Balance: "100.00"})})
	unknown := messages.ComposeIBAN("LV", "TREL9190000000555")
	first := encode(t, "ekase", "TR-1", day0, pay("TR-OK", acct1, cred("HABA0012345678910"), "1.00"))
	mustCall(t, c, "POST", url+"/v1/payments", first, 202)
	rjct := pay("TR-SIM", acct1, cred("HABA0012345678910"), "1.00")
	rjct.Remittance = "SIMRJCT:AG01 please"
	file := encode(t, "ekase", "TR-2", day0,
		pay("TR-OK", acct1, cred("HABA0012345678910"), "1.00"), // booked by TR-1
		pay("TR-AC01", acct1, cred("HABA0000000009999"), "1.00"),
		pay("TR-AC04", acct1, cred("HABA0000000009998"), "1.00"),
		pay("TR-AC06", acct1, cred("HABA0000000009997"), "1.00"),
		rjct,
		pay("TR-AM04", poor, cred("HABA0012345678910"), "100.01"),
		pay("TR-POOR", poor, cred("HABA0012345678910"), "99.85"), // 100 − 99.85 − 0.15 charge = 0
		pay("TR-AC02", unknown, cred("HABA0012345678910"), "1.00"),
		pay("TR-GOOD", acct2, cred("HABA0012345678910"), "2.00"))
	mustCall(t, c, "POST", url+"/v1/payments", file, 202)
	get := func() (string, map[string]string) {
		body := mustCall(t, c, "GET", url+"/v1/payments/TR-2/status", nil, 200)
		validateXSD(t, body, "pain.002.001.03")
		return statuses(t, body)
	}
	if g, tx := get(); g != "RCVD" || len(tx) != 0 {
		t.Errorf("at receipt: %s %v, want RCVD", g, tx)
	}
	clk.Advance(500 * time.Millisecond)
	if g, _ := get(); g != "ACTC" {
		t.Errorf("after Accept: %s, want ACTC", g)
	}
	clk.Advance(time.Second)
	g, tx := get()
	want := map[string]string{"TR-OK": "RJCT/DUPL", "TR-AC01": "RJCT/AC01", "TR-AC04": "RJCT/AC04", "TR-AC06": "RJCT/AC06",
		"TR-SIM": "RJCT/AG01", "TR-AM04": "RJCT/AM04", "TR-POOR": "ACSP", "TR-AC02": "RJCT/AC02", "TR-GOOD": "ACSP"}
	if g != "PART" {
		t.Errorf("after Process: group %s, want PART", g)
	}
	for id, w := range want {
		if tx[id] != w {
			t.Errorf("after Process: %s = %q, want %q", id, tx[id], w)
		}
	}
	clk.Advance(time.Minute)
	g, tx = get()
	if g != "PART" || tx["TR-GOOD"] != "ACSC" || tx["TR-POOR"] != "ACSC" || tx["TR-AC01"] != "RJCT/AC01" {
		t.Errorf("after Settle: %s %v", g, tx)
	}
	l := b.Ledger()
	if l.TransactionsBooked != 3 || l.EndToEndIDsBookedTwice != 0 {
		t.Errorf("ledger %+v", l)
	}
	if got := balanceOf(l, poor); got != "0.00" {
		t.Errorf("balance of the poor account = %s, want 0.00", got)
	}
	// A file whose every transaction is rejected: RJCT.
	mustCall(t, c, "POST", url+"/v1/payments", encode(t, "ekase", "TR-3", clk.Now(), pay("TR-AGAIN", poor, cred("HABA0012345678910"), "0.01")), 202)
	clk.Advance(2 * time.Second)
	if g, tx := get3(t, c, url); g != "RJCT" || tx["TR-AGAIN"] != "RJCT/AM04" {
		t.Errorf("all rejected: %s %v", g, tx)
	}
}

func get3(t *testing.T, c *http.Client, url string) (string, map[string]string) {
	body := mustCall(t, c, "GET", url+"/v1/payments/TR-3/status", nil, 200)
	validateXSD(t, body, "pain.002.001.03")
	return statuses(t, body)
}

func TestReportRequests(t *testing.T) {
	_, _, c, url := plainBank(t, Config{})
	// Today is not closed: no camt.053 yet.
	mustCall(t, c, "POST", url+"/v1/reports", camt060(t, "ekase", "R1", "camt.053", acct1, "2026-11-20", ""), 204)
	// An account the bank does not hold, and a body that is no camt.060.
	mustCall(t, c, "POST", url+"/v1/reports", camt060(t, "ekase", "R2", "camt.053", cred("HABA0012345678910"), "2026-11-19", ""), 400)
	mustCall(t, c, "POST", url+"/v1/reports", []byte("<Document/>"), 400)
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{Profile: "nope"},
		{Accounts: []Account{{IBAN: "LV00TREL0000000000000", Balance: "1"}}},
		{Accounts: []Account{{IBAN: acct1, Balance: "1.001"}}},
		{Faults: Faults{ErrorRate: 1.5}},
	} {
		if _, err := NewBank(cfg); err == nil {
			t.Errorf("NewBank(%+v) succeeded", cfg)
		}
	}
}

// TestEchoStaysValid: what the bank echoes from an odd file (an amount
// with six decimals, a 19-digit CtrlSum) never makes its pain.002 invalid.
func TestEchoStaysValid(t *testing.T) {
	_, clk, c, url := plainBank(t, Config{})
	file := encode(t, "ekase", "ECHO-1", day0, pay("ECHO-E1", acct1, cred("HABA0012345678910"), "10.12"))
	file = bytes.ReplaceAll(file, []byte(">10.12<"), []byte(">10.123456<"))
	mustCall(t, c, "POST", url+"/v1/payments", file, 202)
	clk.Advance(3 * time.Second)
	sts := mustCall(t, c, "GET", url+"/v1/payments/ECHO-1/status", nil, 200)
	validateXSD(t, sts, "pain.002.001.03")
	if g, tx := statuses(t, sts); g != "RJCT" || tx["ECHO-E1"] != "RJCT/AM12" {
		t.Errorf("six decimals: %s %v", g, tx)
	}
	file = encode(t, "ekase", "ECHO-2", day0, pay("ECHO-E2", acct1, cred("HABA0012345678910"), "10.12"))
	file = bytes.Replace(file, []byte("<CtrlSum>10.12</CtrlSum>"), []byte("<CtrlSum>1234567890123456789.12</CtrlSum>"), 1)
	body := mustCall(t, c, "POST", url+"/v1/payments", file, 400)
	validateXSD(t, body, "pain.002.001.03")
	if !contains(body, "<Cd>AM10</Cd>") {
		t.Errorf("long CtrlSum: %s", body)
	}
}

// TestConcurrentDuplicates: the same file uploaded from many goroutines at
// once is booked exactly once.
func TestConcurrentDuplicates(t *testing.T) {
	b, _, c, url := plainBank(t, Config{})
	file := encode(t, "ekase", "CONC-1", day0, pay("CONC-E1", acct1, cred("HABA0012345678910"), "1.00"),
		pay("CONC-E2", acct2, cred("HABA0012345678910"), "2.00"))
	const n = 16
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			code, _, err := call(t, c, "POST", url+"/v1/payments", file)
			if err != nil {
				t.Error(err)
			}
			codes <- code
		})
	}
	wg.Wait()
	close(codes)
	got := map[int]int{}
	for code := range codes {
		got[code]++
	}
	if got[202] != 1 || got[409] != n-1 {
		t.Errorf("answers %v, want one 202 and %d 409", got, n-1)
	}
	if l := b.Ledger(); l.TransactionsBooked != 2 || l.DuplicateUploads != n-1 || l.EndToEndIDsBookedTwice != 0 {
		t.Errorf("ledger %+v", l)
	}
}
