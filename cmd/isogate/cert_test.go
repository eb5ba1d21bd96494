package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/isogate/isogate/certstore"
	"github.com/isogate/isogate/certstore/certsim"
)

// certSyncBuffer is a bytes.Buffer safe for a command writing while the test reads.
type certSyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *certSyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *certSyncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// certCLI runs `isogate args...` in-process with the given environment.
func certCLI(t *testing.T, vars map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb certSyncBuffer
	env := &cliEnv{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return vars[k] }}
	code = run(t.Context(), env, args)
	return code, out.String(), errb.String()
}

func certTestTool(t *testing.T, name string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s required in CI", name)
		}
		t.Skipf("%s not installed", name)
	}
	return bin
}

func certTestPEM(t *testing.T, typ string, der []byte) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func certTestKeyPEM(t *testing.T, k crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return certTestPEM(t, "PRIVATE KEY", der)
}

func TestCertImportStatusCSR(t *testing.T) {
	t.Parallel()
	openssl := certTestTool(t, "openssl")
	now := time.Now()
	ca, err := certsim.NewCA("cli test CA", nil, now.Add(-24*time.Hour), 10*365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir, store := t.TempDir(), filepath.Join(t.TempDir(), "store")
	vars := map[string]string{"ISOGATE_KEY_PASSPHRASE": "store-pass", "ISOGATE_PKCS12_PASSWORD": "p12-pass"}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	issue := func(k crypto.Signer, cn string, nb, na time.Time) *x509.Certificate {
		c, err := ca.Issue(certsim.Template{Subject: pkix.Name{CommonName: cn, Country: []string{"FI"}}, PublicKey: k.Public(), NotBefore: nb, NotAfter: na})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	good := issue(key, "1234567-8", now.Add(-time.Hour), now.Add(90*24*time.Hour))
	pemFile := filepath.Join(dir, "client.pem")
	os.WriteFile(pemFile, append(append(certTestPEM(t, "CERTIFICATE", good.Raw), ca.CertPEM()...), certTestKeyPEM(t, key)...), 0o600)
	refArgs := []string{"--store", store, "--org", "1234567-8", "--env", "test", "--purpose", "ekase"}

	if code, out, errs := certCLI(t, vars, append([]string{"cert", "import", pemFile}, refArgs...)...); code != 0 || !strings.Contains(out, "imported CN=1234567-8") {
		t.Fatalf("cert import PEM = %d\n%s%s", code, out, errs)
	}

	// A PKCS#12 from openssl (default: AES-256-CBC), for another purpose.
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	os.WriteFile(certFile, certTestPEM(t, "CERTIFICATE", good.Raw), 0o600)
	os.WriteFile(keyFile, certTestKeyPEM(t, key), 0o600)
	p12 := filepath.Join(dir, "client.p12")
	if out, err := exec.CommandContext(t.Context(), openssl, "pkcs12", "-export", "-in", certFile, "-inkey", keyFile, "-out", p12, "-passout", "pass:p12-pass").CombinedOutput(); err != nil {
		t.Fatalf("openssl pkcs12 -export: %v\n%s", err, out)
	}
	vero := []string{"--store", store, "--org", "1234567-8", "--env", "production", "--purpose", "vero"}
	if code, out, errs := certCLI(t, vars, append([]string{"cert", "import", p12}, vero...)...); code != 0 {
		t.Fatalf("cert import .p12 = %d\n%s%s", code, out, errs)
	}

	// The three refusals, each with its own message.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mismatch := filepath.Join(dir, "mismatch.pem")
	os.WriteFile(mismatch, append(certTestPEM(t, "CERTIFICATE", good.Raw), certTestKeyPEM(t, other)...), 0o600)
	expiredCert := issue(key, "1234567-8", now.Add(-400*24*time.Hour), now.Add(-2*24*time.Hour))
	expired := filepath.Join(dir, "expired.pem")
	os.WriteFile(expired, append(certTestPEM(t, "CERTIFICATE", expiredCert.Raw), certTestKeyPEM(t, key)...), 0o600)
	for _, tt := range []struct {
		name string
		vars map[string]string
		file string
		want string
	}{
		{"key mismatch", vars, mismatch, "private key does not match the certificate"},
		{"expired", vars, expired, "expired on " + expiredCert.NotAfter.UTC().Format(time.RFC3339)},
		{"wrong PKCS#12 password", map[string]string{"ISOGATE_KEY_PASSPHRASE": "store-pass", "ISOGATE_PKCS12_PASSWORD": "nope"}, p12, "wrong passphrase"},
	} {
		code, _, errs := certCLI(t, tt.vars, append([]string{"cert", "import", tt.file}, refArgs...)...)
		if code != 1 || !strings.Contains(errs, tt.want) {
			t.Errorf("cert import (%s) = %d, %q; want 1 and %q", tt.name, code, errs, tt.want)
		}
	}
	if code, _, errs := certCLI(t, vars, append([]string{"cert", "rollback"}, refArgs...)...); code != 1 || !strings.Contains(errs, "no previous certificate") {
		t.Errorf("cert rollback without previous = %d %q", code, errs)
	}

	code, out, errs := certCLI(t, vars, "cert", "status", "--store", store, "--json")
	if code != 0 {
		t.Fatalf("cert status --json = %d\n%s", code, errs)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 2 {
		t.Fatalf("cert status --json: %v, %d entries\n%s", err, len(list), out)
	}
	for _, k := range []string{"org", "env", "purpose", "subject", "not_after", "days_left", "state"} {
		if _, ok := list[0][k]; !ok {
			t.Errorf("status JSON lacks %q: %v", k, list[0])
		}
	}
	// Sorted by org/env/purpose: production/vero before test/ekase.
	if list[1]["purpose"] != "ekase" || list[1]["state"] != certstore.StateValid || list[1]["days_left"] != float64(89) {
		t.Errorf("status JSON[1] = %v", list[1])
	}
	if _, err := time.Parse(time.RFC3339, list[0]["not_after"].(string)); err != nil {
		t.Errorf("not_after is not RFC 3339: %v", err)
	}
	code, out, _ = certCLI(t, vars, "cert", "status", "--store", store)
	if code != 0 || !strings.Contains(out, "DAYS LEFT") || !strings.Contains(out, "production  vero") {
		t.Errorf("cert status table = %d\n%s", code, out)
	}

	csrFile := filepath.Join(dir, "req.pem")
	if code, out, errs := certCLI(t, vars, append([]string{"cert", "csr", "--subject", "CN=1234567-8,O=Esimerkki Oy,C=FI", "--out", csrFile}, refArgs...)...); code != 0 {
		t.Fatalf("cert csr = %d\n%s%s", code, out, errs)
	}
	out2, err := exec.CommandContext(t.Context(), openssl, "req", "-in", csrFile, "-noout", "-verify", "-subject", "-nameopt", "RFC2253").CombinedOutput()
	if err != nil || !bytes.Contains(out2, []byte("verify OK")) || !bytes.Contains(out2, []byte("CN=1234567-8,O=Esimerkki Oy,C=FI")) {
		t.Errorf("openssl req -verify: %v\n%s", err, out2)
	}
	// The certificate issued for that CSR imports without a key file.
	csrBlock, _ := pem.Decode(certMustRead(t, csrFile))
	csr, _ := x509.ParseCertificateRequest(csrBlock.Bytes)
	issued, err := ca.Issue(certsim.Template{Subject: csr.Subject, PublicKey: csr.PublicKey, NotBefore: now.Add(-time.Minute), NotAfter: now.Add(365 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	issuedFile := filepath.Join(dir, "issued.pem")
	os.WriteFile(issuedFile, certTestPEM(t, "CERTIFICATE", issued.Raw), 0o600)
	if code, out, errs := certCLI(t, vars, append([]string{"cert", "import", issuedFile}, refArgs...)...); code != 0 {
		t.Fatalf("cert import of the certificate for the pending key = %d\n%s%s", code, out, errs)
	}
	// Rollback decrypts the previous key: a wrong store passphrase says so.
	if code, _, errs := certCLI(t, map[string]string{"ISOGATE_KEY_PASSPHRASE": "not-it"}, append([]string{"cert", "rollback"}, refArgs...)...); code != 1 || !strings.Contains(errs, "wrong passphrase") {
		t.Errorf("cert rollback with a wrong passphrase = %d %q, want 1 and wrong passphrase", code, errs)
	}
	if code, out, errs := certCLI(t, vars, append([]string{"cert", "rollback"}, refArgs...)...); code != 0 || !strings.Contains(out, good.SerialNumber.Text(16)) {
		t.Errorf("cert rollback = %d\n%s%s", code, out, errs)
	}
}

func certMustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCertEnrollRenewAgainstCertsim runs `isogate certsim` and enrols and
// renews through it with the CLI.
func TestCertEnrollRenewAgainstCertsim(t *testing.T) {
	t.Parallel()
	simDir, store := t.TempDir(), filepath.Join(t.TempDir(), "store")
	ctx, cancel := context.WithCancel(t.Context())
	var simOut, simErr certSyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, &cliEnv{Stdout: &simOut, Stderr: &simErr, Getenv: func(string) string { return "" }},
			[]string{"certsim", "--addr", "127.0.0.1:0", "--dir", simDir, "--transfer", "1234567-8:TID-42:pw-42-secret"})
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("certsim exited %d\n%s", code, simErr.String())
		}
	})
	var url string
	deadline := time.Now().Add(10 * time.Second)
	for url == "" {
		if _, rest, ok := strings.Cut(simOut.String(), "listening on "); ok {
			url, _, _ = strings.Cut(rest, "\n")
			if !strings.Contains(rest, "\n") {
				url = ""
			}
		}
		if url == "" {
			if time.Now().After(deadline) {
				t.Fatalf("certsim did not start:\n%s%s", simOut.String(), simErr.String())
			}
			time.Sleep(5 * time.Millisecond) // poll interval
		}
	}
	ca := filepath.Join(simDir, "ca.pem")
	vars := map[string]string{"ISOGATE_KEY_PASSPHRASE": "store-pass", "ISOGATE_TRANSFER_PASSWORD": "pw-42-secret"}
	common := []string{"--store", store, "--org", "1234567-8", "--env", "production", "--purpose", "vero",
		"--endpoint", url, "--ca", ca, "--server-ca", ca, "--customer-name", "Esimerkki Oy", "--key", "ecdsa-p256"}

	if code, _, errs := certCLI(t, map[string]string{}, append([]string{"cert", "enroll"}, common...)...); code != 2 || !strings.Contains(errs, "transfer ID") {
		t.Errorf("cert enroll without --transfer-id = %d, want 2 and the e-service steps\n%s", code, errs)
	}
	if code, out, errs := certCLI(t, vars, append([]string{"cert", "enroll", "--transfer-id", "TID-42"}, common...)...); code != 0 || !strings.Contains(out, "enrolled CN=1234567-8") {
		t.Fatalf("cert enroll = %d\n%s%s", code, out, errs)
	}
	if code, _, errs := certCLI(t, vars, append([]string{"cert", "renew"}, common...)...); code != 1 || !strings.Contains(errs, "renewal window") {
		t.Errorf("cert renew of a new certificate = %d %q, want refused outside the window", code, errs)
	}
	code, out, errs := certCLI(t, vars, append([]string{"cert", "renew", "--force"}, common...)...)
	if code != 0 || !strings.Contains(out, "served from") {
		t.Fatalf("cert renew --force = %d\n%s%s", code, out, errs)
	}
	code, out, _ = certCLI(t, vars, "cert", "status", "--store", store, "--json")
	var list []certstore.Status
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 {
		t.Fatalf("status: %v\n%s", err, out)
	}
	if list[0].State != certstore.StateAwaitingActivation || list[0].Live != certstore.SlotPrevious {
		t.Errorf("production renewal status = %s live %s, want awaiting-activation, previous", list[0].State, list[0].Live)
	}
	if code, out, errs := certCLI(t, vars, append([]string{"cert", "rollback"}, common[:8]...)...); code != 0 {
		t.Errorf("cert rollback = %d\n%s%s", code, out, errs)
	}
	certNoSecret(t, store, "pw-42-secret")
}

func certNoSecret(t *testing.T, dir, secret string) {
	t.Helper()
	filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		f, _ := os.Open(path)
		defer f.Close()
		b, _ := io.ReadAll(f)
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s contains the transfer password", path)
		}
		return nil
	})
}
