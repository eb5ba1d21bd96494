package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// banksimBuffer is a bytes.Buffer safe for a command writing while the
// test reads.
type banksimBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *banksimBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *banksimBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestBanksimCommand runs `isogate banksim` in-process on a free port and
// goes through must-show 1 with the files it wrote: health with and
// without the client certificate, a pain.001 from `isogate xml encode`
// posted twice, its status, the ledger; then the command stops on
// cancellation with exit status 0.
func TestBanksimCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	url, stdout, exit := startBanksim(t, ctx, dir)
	if !strings.Contains(stdout.String(), "TLS files (created)") {
		t.Errorf("first start does not say the files were created:\n%s", stdout.String())
	}
	for _, f := range []string{"ca.pem", "server.pem", "server-key.pem", "client.pem", "client-key.pem"} {
		if !strings.Contains(stdout.String(), filepath.Join(dir, f)) {
			t.Errorf("stdout does not name %s:\n%s", f, stdout.String())
		}
	}

	client := func(withCert bool) *http.Client {
		caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(caPEM)
		cfg := &tls.Config{RootCAs: pool}
		if withCert {
			pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem"))
			if err != nil {
				t.Fatal(err)
			}
			cfg.Certificates = []tls.Certificate{pair}
		}
		tr := &http.Transport{TLSClientConfig: cfg}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}
	c := client(true)
	do := func(method, path string, body []byte) (int, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, url+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/xml")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, _ := do("GET", "/v1/health", nil); code != 200 {
		t.Fatalf("health = %d", code)
	}
	if resp, err := client(false).Get(url + "/v1/health"); err == nil {
		resp.Body.Close()
		t.Fatal("a client without a certificate was served")
	}

	var pain001, encErr bytes.Buffer
	if code := run(t.Context(), &cliEnv{Stdin: strings.NewReader(""), Stdout: &pain001, Stderr: &encErr, Getenv: func(string) string { return "" }},
		[]string{"xml", "encode", "--profile", "ekase", "--msg-id", "CLI-TEST-1", "../../testdata/intents.jsonl"}); code != 0 {
		t.Fatalf("xml encode: %d\n%s", code, encErr.String())
	}
	if code, b := do("POST", "/v1/payments", pain001.Bytes()); code != 202 {
		t.Fatalf("upload = %d %s", code, b)
	}
	code, sts := do("GET", "/v1/payments/CLI-TEST-1/status", nil)
	if code != 200 || !strings.Contains(string(sts), "pain.002.001.03") || !strings.Contains(string(sts), "<OrgnlMsgId>CLI-TEST-1</OrgnlMsgId>") {
		t.Fatalf("status = %d %s", code, sts)
	}
	if code, b := do("POST", "/v1/payments", pain001.Bytes()); code != 409 || !strings.Contains(string(b), "DUPL") {
		t.Fatalf("second upload = %d %s", code, b)
	}
	_, lb := do("GET", "/sim/ledger", nil)
	var l struct {
		FilesReceived    int `json:"files_received"`
		UniqueMsgIDs     int `json:"unique_msg_ids"`
		DuplicateUploads int `json:"duplicate_uploads"`
		Booked           int `json:"transactions_booked"`
		Twice            int `json:"end_to_end_ids_booked_twice"`
		Accounts         []struct {
			IBAN, Currency, Balance string
		} `json:"accounts"`
	}
	if err := json.Unmarshal(lb, &l); err != nil {
		t.Fatal(err)
	}
	if l.FilesReceived != 2 || l.UniqueMsgIDs != 1 || l.DuplicateUploads != 1 || l.Booked != 3 || l.Twice != 0 || len(l.Accounts) == 0 {
		t.Errorf("ledger %s", lb)
	}

	stopBanksim(t, cancel, exit)

	// A second start reuses the files.
	ctx2, cancel2 := context.WithCancel(t.Context())
	defer cancel2()
	_, stdout2, exit2 := startBanksim(t, ctx2, dir)
	if !strings.Contains(stdout2.String(), "TLS files (reused)") {
		t.Errorf("second start does not reuse the files:\n%s", stdout2.String())
	}
	stopBanksim(t, cancel2, exit2)
}

// startBanksim runs `isogate banksim` on a free port until ctx ends and
// returns its URL once it listens.
func startBanksim(t *testing.T, ctx context.Context, dir string) (string, *banksimBuffer, chan int) {
	t.Helper()
	stdout, stderr := &banksimBuffer{}, &banksimBuffer{}
	env := &cliEnv{Stdin: strings.NewReader(""), Stdout: stdout, Stderr: stderr, Getenv: func(string) string { return "" }}
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, env, []string{"banksim", "--addr", "127.0.0.1:0", "--tls-dir", dir, "--seed", "3"})
	}()
	urlRE := regexp.MustCompile(`listening on (https://127\.0\.0\.1:\d+)`)
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if m := urlRE.FindStringSubmatch(stdout.String()); m != nil {
			return m[1], stdout, exit
		}
		select {
		case code := <-exit:
			t.Fatalf("banksim exited %d\n%s", code, stderr.String())
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			t.Fatalf("banksim did not start\n%s\n%s", stdout.String(), stderr.String())
		}
	}
}

// stopBanksim cancels the command and checks it exits 0.
func stopBanksim(t *testing.T, cancel context.CancelFunc, exit chan int) {
	t.Helper()
	cancel()
	select {
	case code := <-exit:
		if code != 0 {
			t.Errorf("exit %d after cancellation", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("banksim did not stop")
	}
}

func TestBanksimCommandErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want int
	}{
		{[]string{"banksim", "--no-such-flag"}, 2},
		{[]string{"banksim", "extra"}, 2},
		{[]string{"banksim", "--profile", "nope", "--addr", "127.0.0.1:0", "--tls-dir", t.TempDir()}, 1},
		{[]string{"banksim", "--error-rate", "2", "--addr", "127.0.0.1:0", "--tls-dir", t.TempDir()}, 1},
		{[]string{"banksim", "-h"}, 0},
	} {
		var out, errb banksimBuffer
		env := &cliEnv{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
		if code := run(t.Context(), env, tt.args); code != tt.want {
			t.Errorf("isogate %v = %d, want %d\n%s", tt.args, code, tt.want, errb.String())
		}
	}
}
