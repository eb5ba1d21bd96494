package h2h

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

func testCert(t *testing.T) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := selfSigned(t, key)
	return c
}

func wantPrefix(c *tls.Certificate) string {
	sum := sha256.Sum256(c.Certificate[0])
	return hex.EncodeToString(sum[:]) + "|"
}

// TestSessionCacheConcurrent runs handshakes' cache calls concurrently
// while the live certificate keeps changing (between two certificates,
// served through ever new *tls.Certificate values too): a lookup only
// ever returns a session made with the certificate it looked up, and a
// session is filed under the certificate its connection presented.
func TestSessionCacheConcurrent(t *testing.T) {
	a, b := testCert(t), testCert(t)
	var live atomic.Pointer[tls.Certificate]
	live.Store(a)
	s := newSessionCache(tls.NewLRUClientSessionCache(8), &tls.Config{
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return live.Load(), nil },
	})
	session := map[string]*tls.ClientSessionState{wantPrefix(a): {}, wantPrefix(b): {}}
	madeWith := map[*tls.ClientSessionState]string{}
	for p, cs := range session {
		madeWith[cs] = p
	}

	done := make(chan struct{})
	var flipper sync.WaitGroup
	flipper.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			c := []*tls.Certificate{a, b}[i%2]
			if i%3 == 0 {
				copied := *c // another pointer, the same certificate
				c = &copied
			}
			live.Store(c)
		}
	})
	var hits, wrong atomic.Int64
	var workers sync.WaitGroup
	for range 8 {
		workers.Go(func() {
			for range 2000 {
				v := s.conn()
				cs, ok := v.Get("bank.example")
				v.mu.Lock()
				offered := v.offered
				v.mu.Unlock()
				if ok {
					hits.Add(1)
					if madeWith[cs] != offered {
						wrong.Add(1)
					}
					v.Put("bank.example", cs) // a resumed connection's new ticket
					continue
				}
				c := live.Load() // a full handshake presents the certificate live now
				v.sent(c)
				v.Put("bank.example", session[wantPrefix(c)])
			}
		})
	}
	workers.Wait()
	close(done)
	flipper.Wait()
	if wrong.Load() != 0 {
		t.Errorf("%d of %d lookups returned a session of another certificate", wrong.Load(), hits.Load())
	}
	if hits.Load() == 0 {
		t.Error("no lookup found a session")
	}
}

// TestSessionCachePrefix: the key prefix is the SHA-256 of the leaf DER,
// the same for every *tls.Certificate holding it, recomputed when a
// certificate value's leaf is replaced, and empty without a certificate.
func TestSessionCachePrefix(t *testing.T) {
	a, b := testCert(t), testCert(t)
	s := newSessionCache(tls.NewLRUClientSessionCache(1), &tls.Config{Certificates: []tls.Certificate{*a}})
	if got, want := certPrefix(s.live()), wantPrefix(a); got != want {
		t.Errorf("prefix(Certificates[0]) = %q, want %q", got, want)
	}
	copied := *a
	if got, want := certPrefix(&copied), wantPrefix(a); got != want {
		t.Errorf("prefix(copy) = %q, want %q", got, want)
	}
	copied.Certificate = b.Certificate // the same value, another leaf
	if got, want := certPrefix(&copied), wantPrefix(b); got != want {
		t.Errorf("prefix(changed leaf) = %q, want %q", got, want)
	}
	for _, c := range []*tls.Certificate{nil, {}, {Certificate: [][]byte{{}}}} {
		if got := certPrefix(c); got != "" {
			t.Errorf("prefix(%v) = %q, want empty", c, got)
		}
	}
}

// TestSessionCacheUnknownCertificate: when the live certificate cannot be
// determined, a handshake resumes nothing and its session is not kept,
// unless the handshake itself presented a certificate.
func TestSessionCacheUnknownCertificate(t *testing.T) {
	a := testCert(t)
	for _, tt := range []struct {
		name string
		cfg  *tls.Config
	}{
		{"GetClientCertificate fails", &tls.Config{GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return a, errors.New("store locked")
		}}},
		{"GetClientCertificate has none", &tls.Config{GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &tls.Certificate{}, nil
		}}},
		{"no certificate configured", &tls.Config{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			store := tls.NewLRUClientSessionCache(4)
			store.Put(wantPrefix(a)+"bank", &tls.ClientSessionState{})
			store.Put("bank", &tls.ClientSessionState{})
			s := newSessionCache(store, tt.cfg)
			v := s.conn()
			if cs, ok := v.Get("bank"); ok || cs != nil {
				t.Errorf("Get = %v, %v; want a miss", cs, ok)
			}
			cs := &tls.ClientSessionState{}
			v.Put("bank", cs) // resumed (or no certificate asked for): dropped
			if got, _ := store.Get("bank"); got == cs {
				t.Error("Put stored the session under the bare key")
			}
			v.sent(a) // the handshake presented a
			v.Put("bank", cs)
			if got, _ := store.Get(wantPrefix(a) + "bank"); got != cs {
				t.Error("Put did not file the session under the certificate the handshake presented")
			}
		})
	}
}
