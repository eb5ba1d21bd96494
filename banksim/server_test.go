package banksim

import (
	"encoding/json"
	"os"
	"testing"
	"time"
)

func startTest(t *testing.T, cfg Config) (*Server, *clock) {
	t.Helper()
	clk := newClock(day0)
	if cfg.Now == nil {
		cfg.Now = clk.Now
	}
	srv, err := Start(cfg, "127.0.0.1:0", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return srv, clk
}

// TestMustShow1 is the first must-show over real HTTPS with the
// generated certificates: mTLS, 202, a pain.002.001.03 that validates,
// and a second upload of the same file that books nothing.
func TestMustShow1(t *testing.T) {
	srv, clk := startTest(t, Config{Profile: "ekase"})
	c := mtlsClient(t, srv.TLS, true)

	mustCall(t, c, "GET", srv.URL+"/v1/health", nil, 200)
	if _, _, err := call(t, mtlsClient(t, srv.TLS, false), "GET", srv.URL+"/v1/health", nil); err == nil {
		t.Fatal("a client without a certificate reached /v1/health")
	}

	opening := balanceOf(ledgerOf(t, c, srv.URL), acct1)
	file := encode(t, "ekase", "MS1-0001", day0,
		pay("MS1-E2E-1", acct1, cred("HABA0012345678910"), "100.00"),
		pay("MS1-E2E-2", acct1, cred("UNLA0012345678911"), "2500.55"),
		pay("MS1-E2E-3", acct2, cred("PARX0012345678912"), "0.01"))
	var rc receipt
	body := mustCall(t, c, "POST", srv.URL+"/v1/payments", file, 202)
	if err := json.Unmarshal(body, &rc); err != nil || rc.MsgID != "MS1-0001" || rc.SHA256 == "" || rc.ReceivedAt == "" {
		t.Fatalf("receipt %s (%v)", body, err)
	}

	sts := mustCall(t, c, "GET", srv.URL+"/v1/payments/MS1-0001/status", nil, 200)
	validateXSD(t, sts, "pain.002.001.03")
	if g, _ := statuses(t, sts); g != "ACTC" {
		t.Errorf("status at receipt = %s, want ACTC", g)
	}
	clk.Advance(time.Second)
	sts = mustCall(t, c, "GET", srv.URL+"/v1/payments/MS1-0001/status", nil, 200)
	validateXSD(t, sts, "pain.002.001.03")
	if g, tx := statuses(t, sts); g != "ACSP" || tx["MS1-E2E-2"] != "ACSP" || len(tx) != 3 {
		t.Errorf("status after 1s = %s %v, want ACSP for all 3", g, tx)
	}
	clk.Advance(2 * time.Second)
	sts = mustCall(t, c, "GET", srv.URL+"/v1/payments/MS1-0001/status", nil, 200)
	validateXSD(t, sts, "pain.002.001.03")
	if g, tx := statuses(t, sts); g != "ACSC" || tx["MS1-E2E-1"] != "ACSC" {
		t.Errorf("status after 3s = %s %v, want ACSC", g, tx)
	}
	before := ledgerOf(t, c, srv.URL)
	if before.TransactionsBooked != 3 || before.FilesReceived != 1 || before.UniqueMsgIDs != 1 {
		t.Fatalf("ledger %+v", before)
	}
	o, _ := parseMinor(opening, 2)
	if got, want := balanceOf(before, acct1), formatMinor(o-260055-30, 2); got != want { // − 2,600.55 − 2 × 0.15 charges
		t.Errorf("balance of %s = %s, want %s (opening %s)", acct1, got, want, opening)
	}

	dup := mustCall(t, c, "POST", srv.URL+"/v1/payments", file, 409)
	validateXSD(t, dup, "pain.002.001.03")
	if g, _ := statuses(t, dup); g != "RJCT" || !contains(dup, "<Cd>DUPL</Cd>") {
		t.Errorf("duplicate answer %s", dup)
	}
	after := ledgerOf(t, c, srv.URL)
	if after.TransactionsBooked != before.TransactionsBooked || after.EndToEndIDsBookedTwice != 0 ||
		after.DuplicateUploads != 1 || after.FilesReceived != 2 || after.UniqueMsgIDs != 1 {
		t.Errorf("ledger after the duplicate = %+v", after)
	}
	if balanceOf(after, acct1) != balanceOf(before, acct1) {
		t.Errorf("balance moved on a duplicate")
	}
	// The original's status is still served.
	if g, _ := statuses(t, mustCall(t, c, "GET", srv.URL+"/v1/payments/MS1-0001/status", nil, 200)); g != "ACSC" {
		t.Errorf("status after the duplicate = %s", g)
	}
	mustCall(t, c, "GET", srv.URL+"/v1/payments/NEVER-SENT/status", nil, 404)
}

func TestEnsureTLSReuses(t *testing.T) {
	dir := t.TempDir()
	f1, created, err := EnsureTLS(dir)
	if err != nil || !created {
		t.Fatalf("first EnsureTLS: created %v, %v", created, err)
	}
	ca1, _ := os.ReadFile(f1.CA)
	f2, created, err := EnsureTLS(dir)
	if err != nil || created {
		t.Fatalf("second EnsureTLS: created %v, %v", created, err)
	}
	ca2, _ := os.ReadFile(f2.CA)
	if string(ca1) != string(ca2) {
		t.Error("CA replaced on reuse")
	}
	for _, k := range []string{f2.ServerKey, f2.ClientKey} {
		st, err := os.Stat(k)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v; want 0600", k, st.Mode().Perm(), err)
		}
	}
	// A broken set is replaced as a whole.
	if err := os.WriteFile(f2.ClientCert, []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, created, err := EnsureTLS(dir); err != nil || !created {
		t.Fatalf("EnsureTLS over a broken set: created %v, %v", created, err)
	}
}
