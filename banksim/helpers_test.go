package banksim

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/xmlcodec"
)

// clock is an injected clock tests advance by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var day0 = time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)

// repoRoot walks up from the working directory to the folder holding go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// validateXSD runs xmllint against xmlcodec/xsd/<name>.xsd: skipped when
// xmllint is missing locally, a failure in CI.
func validateXSD(t testing.TB, doc []byte, name string) {
	t.Helper()
	bin, err := exec.LookPath("xmllint")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("xmllint required in CI (Debian package libxml2-utils)")
		}
		t.Skip("xmllint not installed")
	}
	xsd := filepath.Join(repoRoot(t), "xmlcodec", "xsd", name+".xsd")
	cmd := exec.Command(bin, "--noout", "--nonet", "--schema", xsd, "-")
	cmd.Stdin = bytes.NewReader(doc)
	if out, err := cmd.CombinedOutput(); err != nil {
		if len(out) > 4000 {
			out = out[:4000]
		}
		t.Fatalf("xmllint --schema %s: %v\n%s\n%s", name, err, out, doc)
	}
}

// messageOf returns the message id of a document ("camt.053.001.02").
func messageOf(t testing.TB, doc []byte) string {
	t.Helper()
	info, err := xmlcodec.NewDecoder(bytes.NewReader(doc), xmlcodec.Limits{}).Message()
	if err != nil {
		t.Fatalf("reading message: %v\n%s", err, doc)
	}
	return info.Message
}

// decodeAll decodes a pain.002 or camt document with xmlcodec, failing
// on any error or warning.
func decodeAll(t testing.TB, doc []byte) []xmlcodec.Record {
	t.Helper()
	d := xmlcodec.NewDecoder(bytes.NewReader(doc), xmlcodec.Limits{})
	var out []xmlcodec.Record
	for {
		r, err := d.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("decoding: %v\n%s", err, doc)
		}
		switch r := r.(type) {
		case *xmlcodec.Entry:
			if len(r.Warnings) > 0 {
				t.Fatalf("entry %s: warnings %v", r.AcctSvcrRef, r.Warnings)
			}
		case *xmlcodec.Balance:
			if len(r.Warnings) > 0 {
				t.Fatalf("balance %s: warnings %v", r.Type, r.Warnings)
			}
		}
		out = append(out, r)
	}
}

// statuses decodes a pain.002 into group status and EndToEndId → status
// (reason code after a slash for a rejection).
func statuses(t testing.TB, doc []byte) (group string, tx map[string]string) {
	t.Helper()
	tx = map[string]string{}
	for _, r := range decodeAll(t, doc) {
		s := r.(*xmlcodec.Status)
		group = s.GroupStatus
		if s.EndToEndID == "" {
			continue
		}
		v := s.Status
		if len(s.Reasons) > 0 {
			v += "/" + s.Reasons[0].Code
		}
		tx[s.EndToEndID] = v
	}
	return group, tx
}

// pay is a short way to write a payment from a default account.
func pay(id, debtor, creditor, amount string) xmlcodec.Payment {
	return xmlcodec.Payment{ID: id, Debtor: xmlcodec.Account{Name: "Valsts iestāde", IBAN: debtor, BIC: "TRELLV22"},
		Creditor: xmlcodec.Account{Name: "SIA Piegādātājs", IBAN: creditor, BIC: "HABALV22"},
		Amount:   amount, Currency: "EUR", ExecutionDate: "2026-11-20", Remittance: "Rēķins " + id}
}

var (
	acct1 = DefaultAccounts()[0].IBAN
	acct2 = DefaultAccounts()[1].IBAN
)

// cred returns a valid creditor IBAN ending in the given digits.
func cred(bban string) string { return messages.ComposeIBAN("LV", bban) }

// encode makes one pain.001 with xmlcodec for the profile.
func encode(t testing.TB, profile, msgID string, now time.Time, pays ...xmlcodec.Payment) []byte {
	t.Helper()
	p, err := xmlcodec.LookupProfile(profile)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.EncodePain001(xmlcodec.Pain001Request{MsgID: msgID, Now: func() time.Time { return now }, Payments: pays})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) != 1 {
		t.Fatalf("%d files", len(res.Files))
	}
	return res.Files[0].Data
}

// camt060 makes a camt.060 for one account and period.
func camt060(t testing.TB, profile, msgID, family, iban, from, to string) []byte {
	t.Helper()
	p, err := xmlcodec.LookupProfile(profile)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := p.EncodeCamt060(xmlcodec.Camt060Request{MsgID: msgID, Now: func() time.Time { return day0 },
		Requests: []xmlcodec.ReportRequest{{Message: family, Account: iban, FromDate: from, ToDate: to}}})
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// mtlsClient returns an HTTPS client trusting the server's CA, presenting
// the client certificate when withCert.
func mtlsClient(t testing.TB, files TLSFiles, withCert bool) *http.Client {
	t.Helper()
	caPEM, err := os.ReadFile(files.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if withCert {
		pair, err := tls.LoadX509KeyPair(files.ClientCert, files.ClientKey)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// call does one request and returns the status code and body.
func call(t testing.TB, c *http.Client, method, url string, body []byte) (int, []byte, error) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/xml")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func mustCall(t testing.TB, c *http.Client, method, url string, body []byte, want int) []byte {
	t.Helper()
	code, b, err := call(t, c, method, url, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if code != want {
		t.Fatalf("%s %s = %d, want %d\n%s", method, url, code, want, b)
	}
	return b
}

func ledgerOf(t testing.TB, c *http.Client, base string) Ledger {
	t.Helper()
	var l Ledger
	if err := json.Unmarshal(mustCall(t, c, "GET", base+"/sim/ledger", nil, 200), &l); err != nil {
		t.Fatal(err)
	}
	return l
}

func balanceOf(l Ledger, iban string) string {
	for _, a := range l.Accounts {
		if a.IBAN == iban {
			return a.Balance
		}
	}
	return fmt.Sprintf("no account %s", iban)
}

func contains(s []byte, sub string) bool { return strings.Contains(string(s), sub) }
