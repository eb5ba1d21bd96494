package certstore_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/isogate/isogate/certstore"
	"github.com/isogate/isogate/certstore/certsim"
)

const testPassphrase = "correct horse battery staple"

// base is the tests' "now": real time, so that openssl and xmlsec1, which
// check validity against the wall clock, agree with the injected clocks.
var base = time.Now().UTC().Truncate(time.Second)

var (
	rsaKeys = sync.OnceValue(func() []*rsa.PrivateKey {
		keys := make([]*rsa.PrivateKey, 3)
		var wg sync.WaitGroup
		for i := range keys {
			wg.Go(func() {
				k, err := rsa.GenerateKey(rand.Reader, 2048)
				if err != nil {
					panic(err)
				}
				keys[i] = k
			})
		}
		wg.Wait()
		return keys
	})
	testCA = sync.OnceValue(func() *certsim.CA {
		ca, err := certsim.NewCA("isogate test CA", nil, base.Add(-365*24*time.Hour), 10*365*24*time.Hour)
		if err != nil {
			panic(err)
		}
		return ca
	})
)

func ecKey(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// issue returns a client certificate for key valid from notBefore to notAfter.
func issue(t testing.TB, key crypto.Signer, cn string, notBefore, notAfter time.Time) *x509.Certificate {
	t.Helper()
	c, err := testCA().Issue(certsim.Template{
		Subject:   pkix.Name{CommonName: cn, Organization: []string{"Example Oy"}, Country: []string{"FI"}},
		PublicKey: key.Public(), NotBefore: notBefore, NotAfter: notAfter,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func validPair(t testing.TB, key crypto.Signer, cn string) *certstore.Pair {
	t.Helper()
	return &certstore.Pair{Cert: issue(t, key, cn, base.Add(-time.Hour), base.Add(365*24*time.Hour)), Chain: []*x509.Certificate{testCA().Cert}, Key: key}
}

func openStore(t testing.TB, dir string, now func() time.Time) *certstore.Store {
	t.Helper()
	if now == nil {
		now = func() time.Time { return base }
	}
	s, err := certstore.Open(certstore.Options{Dir: dir, Passphrase: []byte(testPassphrase), KDFIterations: 1000, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func keyPEM(t testing.TB, k crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// tool finds an external program: skip locally, fail in CI.
func tool(t testing.TB, name string) string {
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

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// clock is an injectable, settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

func pemCSR(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func pubPEM(t testing.TB, k crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// eventually polls cond until it holds or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond) // poll interval, not a stand-in for the condition
	}
}
