package certstore_test

import (
	"bytes"
	"crypto"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/isogate/isogate/certstore"
)

var ref = certstore.Ref{Org: "1234567-8", Env: "test", Purpose: "ekase"}

func TestImportStoresEncryptedPrivateFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openStore(t, dir, nil)
	p := validPair(t, ecKey(t), "1234567-8")
	if err := s.Import(ref, p); err != nil {
		t.Fatalf("Import: %v", err)
	}
	got, err := s.Load(ref, certstore.SlotCurrent)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !got.Cert.Equal(p.Cert) || len(got.Chain) != 1 || !certstore.KeyMatches(got.Cert, got.Key) {
		t.Errorf("Load = %s (chain %d), want %s with its key and chain", got.Subject(), len(got.Chain), p.Subject())
	}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, _ := d.Info()
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", path, fi.Mode().Perm(), want)
		}
		if strings.HasSuffix(path, "key.pem") {
			b, _ := os.ReadFile(path)
			if !bytes.HasPrefix(b, []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----")) {
				t.Errorf("%s is not an encrypted PKCS#8 key:\n%.60s", path, b)
			}
		}
		if strings.Contains(filepath.Base(path), ".tmp-") {
			t.Errorf("temporary file left behind: %s", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestImportErrors(t *testing.T) {
	t.Parallel()
	k1, k2 := ecKey(t), ecKey(t)
	expired := issue(t, k1, "expired", base.Add(-400*24*time.Hour), base.Add(-35*24*time.Hour))
	future := issue(t, k1, "future", base.Add(24*time.Hour), base.Add(400*24*time.Hour))
	valid := issue(t, k1, "valid", base.Add(-time.Hour), base.Add(24*time.Hour))
	tests := []struct {
		name    string
		pair    *certstore.Pair
		wantErr error
		wantMsg []string
	}{
		{"key mismatch", &certstore.Pair{Cert: valid, Key: k2}, certstore.ErrKeyMismatch, []string{"does not match", "CN=valid"}},
		{"expired", &certstore.Pair{Cert: expired, Key: k1}, certstore.ErrExpired, []string{"expired on " + expired.NotAfter.UTC().Format(time.RFC3339), "CN=expired"}},
		{"not yet valid", &certstore.Pair{Cert: future, Key: k1}, certstore.ErrNotYetValid, []string{"not valid until " + future.NotBefore.UTC().Format(time.RFC3339)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, t.TempDir(), nil)
			err := s.Import(ref, tt.pair)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Import(%s) = %v, want %v", tt.name, err, tt.wantErr)
			}
			for _, m := range tt.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("Import(%s) error %q does not say %q", tt.name, err, m)
				}
			}
			if tt.wantErr == certstore.ErrExpired {
				var ee *certstore.ExpiryError
				if !errors.As(err, &ee) || !ee.NotAfter.Equal(expired.NotAfter) || ee.Subject != expired.Subject.String() {
					t.Errorf("Import(expired) = %#v, want *ExpiryError with subject and NotAfter", err)
				}
			}
			if _, err := s.State(ref); !errors.Is(err, certstore.ErrNotFound) {
				t.Errorf("a refused import wrote state: %v", err)
			}
		})
	}
}

func TestWrongStorePassphrase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := openStore(t, dir, nil).Import(ref, validPair(t, ecKey(t), "x")); err != nil {
		t.Fatal(err)
	}
	other, err := certstore.Open(certstore.Options{Dir: dir, Passphrase: []byte("not the passphrase")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = other.Load(ref, certstore.SlotCurrent)
	if !errors.Is(err, certstore.ErrWrongPassphrase) {
		t.Fatalf("Load with wrong passphrase = %v, want ErrWrongPassphrase", err)
	}
	if errors.Is(err, certstore.ErrKeyMismatch) || errors.Is(err, certstore.ErrExpired) {
		t.Errorf("wrong passphrase error %v also matches other errors", err)
	}
}

func TestPlainKeyNeedsExplicitFlag(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	noPass, err := certstore.Open(certstore.Options{Dir: dir, Now: func() time.Time { return base }})
	if err != nil {
		t.Fatal(err)
	}
	if err := noPass.Import(ref, validPair(t, ecKey(t), "x")); !errors.Is(err, certstore.ErrNoPassphrase) {
		t.Fatalf("Import without passphrase = %v, want ErrNoPassphrase", err)
	}
	plain, err := certstore.Open(certstore.Options{Dir: dir, AllowPlainKey: true, Now: func() time.Time { return base }})
	if err != nil {
		t.Fatal(err)
	}
	if err := plain.Import(ref, validPair(t, ecKey(t), "x")); err != nil {
		t.Fatal(err)
	}
	_, err = openStore(t, dir, nil).Load(ref, certstore.SlotCurrent)
	if !errors.Is(err, certstore.ErrPlainKey) {
		t.Fatalf("Load of plain key without AllowPlainKey = %v, want ErrPlainKey", err)
	}
}

func TestImportOpenSSLPKCS12(t *testing.T) {
	t.Parallel()
	openssl := tool(t, "openssl")
	dir := t.TempDir()
	key := rsaKeys()[0]
	p := validPair(t, key, "1234567-8")
	certFile := writeFile(t, dir, "cert.pem", certPEM(p.Cert))
	keyFile := writeFile(t, dir, "key.pem", keyPEM(t, key))
	caFile := writeFile(t, dir, "ca.pem", certPEM(testCA().Cert))
	p12 := filepath.Join(dir, "client.p12")
	// OpenSSL 3 defaults: AES-256-CBC, PBKDF2, SHA-256 MAC.
	out, err := exec.CommandContext(t.Context(), openssl, "pkcs12", "-export", "-in", certFile, "-inkey", keyFile,
		"-certfile", caFile, "-out", p12, "-passout", "pass:p12-secret").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl pkcs12 -export: %v\n%s", err, out)
	}
	info, _ := exec.CommandContext(t.Context(), openssl, "pkcs12", "-in", p12, "-info", "-noout", "-passin", "pass:p12-secret").CombinedOutput()
	if !bytes.Contains(info, []byte("AES-256-CBC")) {
		t.Logf("note: openssl pkcs12 -info does not mention AES-256-CBC:\n%s", info)
	}
	data, err := os.ReadFile(p12)
	if err != nil {
		t.Fatal(err)
	}
	if !certstore.IsPKCS12(data) {
		t.Errorf("IsPKCS12(openssl output) = false")
	}
	got, err := certstore.ParsePKCS12(data, "p12-secret")
	if err != nil {
		t.Fatalf("ParsePKCS12: %v", err)
	}
	if !got.Cert.Equal(p.Cert) || len(got.Chain) != 1 {
		t.Errorf("ParsePKCS12 = %s with %d chain certs, want %s with 1", got.Subject(), len(got.Chain), p.Subject())
	}
	if err := openStore(t, t.TempDir(), nil).Import(ref, got); err != nil {
		t.Errorf("Import(openssl PKCS#12) = %v", err)
	}
	if _, err := certstore.ParsePKCS12(data, "wrong"); !errors.Is(err, certstore.ErrWrongPassphrase) {
		t.Errorf("ParsePKCS12(wrong password) = %v, want ErrWrongPassphrase", err)
	}
}

// TestEncryptedKeyInteroperatesWithOpenSSL checks the PBES2 writer against
// `openssl pkey` and the reader against `openssl pkcs8 -topk8`.
func TestEncryptedKeyInteroperatesWithOpenSSL(t *testing.T) {
	t.Parallel()
	openssl := tool(t, "openssl")
	dir := t.TempDir()
	s := openStore(t, dir, nil)
	key := rsaKeys()[1]
	if err := s.Import(ref, validPair(t, key, "x")); err != nil {
		t.Fatal(err)
	}
	keys, _ := filepath.Glob(filepath.Join(dir, "*", "*", "*", "pairs", "*", "key.pem"))
	if len(keys) != 1 {
		t.Fatalf("found %d key files, want 1", len(keys))
	}
	out, err := exec.CommandContext(t.Context(), openssl, "pkey", "-in", keys[0], "-passin", "pass:"+testPassphrase, "-pubout").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl pkey -passin: %v\n%s", err, out)
	}
	if want := pubPEM(t, key); !bytes.Equal(out, want) {
		t.Errorf("openssl pkey public key:\n%s\nwant\n%s", out, want)
	}
	if out, err := exec.CommandContext(t.Context(), openssl, "pkey", "-in", keys[0], "-passin", "pass:wrong", "-noout").CombinedOutput(); err == nil {
		t.Errorf("openssl pkey accepted a wrong passphrase:\n%s", out)
	}

	plain := writeFile(t, dir, "plain.pem", keyPEM(t, key))
	enc := filepath.Join(dir, "enc.pem")
	if out, err := exec.CommandContext(t.Context(), openssl, "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", plain, "-out", enc,
		"-passout", "pass:openssl-made").CombinedOutput(); err != nil {
		t.Fatalf("openssl pkcs8 -topk8: %v\n%s", err, out)
	}
	encPEM, _ := os.ReadFile(enc)
	cert := issue(t, key, "x", base.Add(-time.Hour), base.Add(time.Hour))
	p, err := certstore.ParsePEM(append(certPEM(cert), encPEM...), []byte("openssl-made"))
	if err != nil {
		t.Fatalf("ParsePEM(openssl encrypted key): %v", err)
	}
	if !certstore.KeyMatches(p.Cert, p.Key) {
		t.Errorf("openssl encrypted key decrypted to another key")
	}
	if _, err := certstore.ParsePEM(append(certPEM(cert), encPEM...), []byte("wrong")); !errors.Is(err, certstore.ErrWrongPassphrase) {
		t.Errorf("ParsePEM(wrong password) = %v, want ErrWrongPassphrase", err)
	}
}

func TestDefaultKDFIterations(t *testing.T) {
	t.Parallel()
	openssl := tool(t, "openssl")
	dir := t.TempDir()
	s, err := certstore.Open(certstore.Options{Dir: dir, Passphrase: []byte(testPassphrase), Now: func() time.Time { return base }})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Import(ref, validPair(t, ecKey(t), "x")); err != nil {
		t.Fatal(err)
	}
	keys, _ := filepath.Glob(filepath.Join(dir, "*", "*", "*", "pairs", "*", "key.pem"))
	out, err := exec.CommandContext(t.Context(), openssl, "asn1parse", "-in", keys[0]).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl asn1parse: %v\n%s", err, out)
	}
	for _, want := range []string{"PBES2", "PBKDF2", "hmacWithSHA256", "aes-256-cbc", ":0927C0"} { // 600000 = 0x927C0
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("asn1parse of key.pem lacks %q:\n%s", want, out)
		}
	}
}

func TestCSRVerifiesWithOpenSSL(t *testing.T) {
	t.Parallel()
	openssl := tool(t, "openssl")
	algs := []certstore.KeyAlgorithm{certstore.RSA2048, certstore.ECDSAP256, certstore.RSA3072}
	if !testing.Short() {
		algs = append(algs, certstore.RSA4096)
	}
	for _, alg := range algs {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			s := openStore(t, t.TempDir(), nil)
			subj, err := certstore.ParseSubject("CN=1234567-8,O=Esimerkki Oy\\, Helsinki,C=FI")
			if err != nil {
				t.Fatal(err)
			}
			der, err := s.NewPending(ref, alg, subj)
			if err != nil {
				t.Fatalf("NewPending(%s): %v", alg, err)
			}
			csrFile := writeFile(t, t.TempDir(), "req.pem", pemCSR(der))
			out, err := exec.CommandContext(t.Context(), openssl, "req", "-in", csrFile, "-noout", "-verify", "-subject", "-nameopt", "RFC2253").CombinedOutput()
			if err != nil {
				t.Fatalf("openssl req -verify (%s): %v\n%s", alg, err, out)
			}
			if !bytes.Contains(out, []byte("verify OK")) || !bytes.Contains(out, []byte(`subject=CN=1234567-8,O=Esimerkki Oy\, Helsinki,C=FI`)) {
				t.Errorf("openssl req -verify (%s):\n%s", alg, out)
			}
			key, err := s.PendingKey(ref)
			if err != nil {
				t.Fatalf("PendingKey: %v", err)
			}
			csr, err := s.PendingCSR(ref)
			if err != nil {
				t.Fatalf("PendingCSR: %v", err)
			}
			pub := key.Public().(interface{ Equal(crypto.PublicKey) bool })
			if !pub.Equal(csr.PublicKey) {
				t.Errorf("pending key does not match the CSR")
			}
		})
	}
}

func TestParseSubject(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"CN=1234567-8,O=Example Oy,C=FI", "CN=1234567-8,O=Example Oy,C=FI", false},
		{"cn = a , c = FI", "CN=a,C=FI", false},
		{"CN=a,C=FIN", "", true},
		{"CN=a,XX=b", "", true},
		{"CN", "", true},
	}
	for _, tt := range tests {
		got, err := certstore.ParseSubject(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseSubject(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err == nil && got.String() != tt.want {
			t.Errorf("ParseSubject(%q) = %s, want %s", tt.in, got.String(), tt.want)
		}
	}
}
