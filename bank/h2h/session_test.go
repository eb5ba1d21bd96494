package h2h_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/isogate/isogate/bank"
	"github.com/isogate/isogate/bank/channeltest"
	"github.com/isogate/isogate/bank/h2h"
	"github.com/isogate/isogate/banksim"
	"github.com/isogate/isogate/certstore"
	"github.com/isogate/isogate/certstore/certsim"
	"github.com/isogate/isogate/xmlcodec"
)

var tlsVersions = []struct {
	name string
	max  uint16
}{{"TLS 1.2", tls.VersionTLS12}, {"TLS 1.3", tls.VersionTLS13}}

// newCA returns a CA for a test's server and client certificates.
func newCA(t testing.TB) *certsim.CA {
	t.Helper()
	ca, err := certsim.NewCA("isogate session test CA", nil, time.Now().Add(-time.Hour), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// newPair issues a client certificate (ECDSA P-256 with a nil key) from ca.
func newPair(t testing.TB, ca *certsim.CA, key crypto.Signer) *certstore.Pair {
	t.Helper()
	if key == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		key = k
	}
	now := time.Now()
	cert, err := ca.Issue(certsim.Template{Subject: pkix.Name{CommonName: "isogate", Organization: []string{"Valsts kase test"}},
		PublicKey: key.Public(), NotBefore: now.Add(-time.Hour), NotAfter: now.Add(12 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return &certstore.Pair{Cert: cert, Chain: []*x509.Certificate{ca.Cert}, Key: key}
}

// serverCertificate issues ca's server certificate for 127.0.0.1.
func serverCertificate(t testing.TB, ca *certsim.CA, key crypto.Signer) tls.Certificate {
	t.Helper()
	now := time.Now()
	cert, err := ca.Issue(certsim.Template{Subject: pkix.Name{CommonName: "bank.test"}, PublicKey: key.Public(), Server: true,
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(12 * time.Hour), IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
}

// startMTLS serves h over HTTPS with a server certificate from ca and a
// client certificate from ca required, as banksim does.
func startMTLS(t testing.TB, ca *certsim.CA, serverKey crypto.Signer, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{serverCertificate(t, ca, serverKey)},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    ca.Pool(),
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// A handshake is what the server's TLS stack handed to the application
// for one request: resumed or not, and the client certificate's serial.
type handshake struct {
	resumed bool
	serial  string
}

func (h handshake) String() string {
	if h.resumed {
		return "resumed " + h.serial
	}
	return "full " + h.serial
}

// recordingBank is banksim's HTTP handler (signatures verified against the
// TLS client certificate) behind an mTLS server that records r.TLS of
// every request.
type recordingBank struct {
	URL   string
	Bank  *banksim.Bank
	Clock *channeltest.Clock

	mu   sync.Mutex
	seen []handshake
}

func startRecordingBank(t *testing.T, ca *certsim.CA) *recordingBank {
	t.Helper()
	clock := channeltest.NewClock(channeltest.StartTime())
	b, err := banksim.NewBank(banksim.Config{Now: clock.Now, Accounts: channeltest.Accounts(), VerifySignature: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	rb := &recordingBank{Bank: b, Clock: clock}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srv := startMTLS(t, ca, key, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rb.mu.Lock()
		rb.seen = append(rb.seen, handshake{r.TLS.DidResume, r.TLS.PeerCertificates[0].SerialNumber.Text(16)})
		rb.mu.Unlock()
		b.Handler().ServeHTTP(w, r)
	}))
	rb.URL = srv.URL
	return rb
}

// last returns the handshake of the latest request.
func (rb *recordingBank) last(t *testing.T) handshake {
	t.Helper()
	rb.mu.Lock()
	defer rb.mu.Unlock()
	if len(rb.seen) == 0 {
		t.Fatal("the bank saw no request")
	}
	return rb.seen[len(rb.seen)-1]
}

// submit uploads a new one-payment pain.001 under msgID and returns the
// server's handshake for it.
func (rb *recordingBank) submit(t *testing.T, c *h2h.Client, msgID string) handshake {
	t.Helper()
	if _, err := c.Submit(t.Context(), onePayment(t, rb.Bank, rb.Clock, msgID)); err != nil {
		t.Fatalf("Submit(%s) = %v", msgID, err)
	}
	return rb.last(t)
}

// signingClient is an h2h client presenting and signing with src's live
// pair, at most TLS version max.
func signingClient(t *testing.T, url string, ca *certsim.CA, src *certstore.Source, max uint16, noResumption bool) *h2h.Client {
	t.Helper()
	tc := src.ClientConfig(ca.Pool())
	tc.MaxVersion = max
	c, err := h2h.New(h2h.Config{BaseURL: url, TLS: tc, Timeout: 5 * time.Second, Sign: h2h.SignXMLDSig,
		Signer:                   func() (*tls.Certificate, error) { c, _ := src.Certificate(); return c, nil },
		DisableSessionResumption: noResumption})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func serial(p *certstore.Pair) string { return p.Cert.SerialNumber.Text(16) }

// TestSessionResumption: the second and later connections of a client —
// uploads (one connection each) and the first read — resume the session
// of the first, and the bank still sees the client certificate (banksim
// checks each upload's signature against it). With
// DisableSessionResumption every connection is a full handshake.
func TestSessionResumption(t *testing.T) {
	for _, v := range tlsVersions {
		for _, off := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/disabled=%v", v.name, off), func(t *testing.T) {
				ca := newCA(t)
				rb := startRecordingBank(t, ca)
				pair := newPair(t, ca, nil)
				_, _, src := channeltest.PairStore(t, pair, "ekase")
				c := signingClient(t, rb.URL, ca, src, v.max, off)

				want := func(i int, got handshake, resumed bool) {
					t.Helper()
					if w := (handshake{resumed, serial(pair)}); got != w {
						t.Errorf("request %d: bank saw %v, want %v", i, got, w)
					}
				}
				want(1, rb.submit(t, c, "SESS-1"), false)
				want(2, rb.submit(t, c, "SESS-2"), !off)
				if _, err := c.Status(t.Context(), "SESS-1"); err != nil {
					t.Fatalf("Status = %v", err)
				}
				want(3, rb.last(t), !off)
				want(4, rb.submit(t, c, "SESS-3"), !off)
			})
		}
	}
}

// TestSessionAfterRenewal: after the store promotes a renewed pair, the
// next connection is a full handshake with the new certificate (and the
// upload signed with it is accepted), never a resumption as the old one;
// connections after that resume the new certificate's session. A
// rollback serves the old pair again and may resume its session.
func TestSessionAfterRenewal(t *testing.T) {
	for _, v := range tlsVersions {
		t.Run(v.name, func(t *testing.T) {
			ca := newCA(t)
			rb := startRecordingBank(t, ca)
			oldPair, newPair := newPair(t, ca, nil), newPair(t, ca, nil)
			store, ref, src := channeltest.PairStore(t, oldPair, "ekase")
			c := signingClient(t, rb.URL, ca, src, v.max, false)

			steps := []struct {
				name string
				do   func(t *testing.T) handshake
				want handshake
			}{
				{"first upload", func(t *testing.T) handshake { return rb.submit(t, c, "REN-1") }, handshake{false, serial(oldPair)}},
				{"second upload", func(t *testing.T) handshake { return rb.submit(t, c, "REN-2") }, handshake{true, serial(oldPair)}},
				{"upload after renewal", func(t *testing.T) handshake {
					if err := store.Promote(ref, newPair, certstore.Activation{Reason: "renewed"}); err != nil {
						t.Fatal(err)
					}
					return rb.submit(t, c, "REN-3")
				}, handshake{false, serial(newPair)}},
				{"next upload", func(t *testing.T) handshake { return rb.submit(t, c, "REN-4") }, handshake{true, serial(newPair)}},
				{"status", func(t *testing.T) handshake {
					if _, err := c.Status(t.Context(), "REN-4"); err != nil {
						t.Fatalf("Status = %v", err)
					}
					return rb.last(t)
				}, handshake{true, serial(newPair)}},
				{"upload after rollback", func(t *testing.T) handshake {
					if err := store.Rollback(ref); err != nil {
						t.Fatal(err)
					}
					return rb.submit(t, c, "REN-5")
				}, handshake{true, serial(oldPair)}},
			}
			for _, s := range steps {
				if got := s.do(t); got != s.want {
					t.Errorf("%s: bank saw %v, want %v", s.name, got, s.want)
				}
			}
		})
	}
}

// TestSessionRenewedDuringHandshake: a certificate renewed while a
// connection's handshake is under way (after its certificate was sent,
// before its session ticket arrived) does not get that session: the next
// connection is a full handshake with the new certificate. A cache that
// filed tickets under the certificate live when they arrive would resume
// the old identity here.
func TestSessionRenewedDuringHandshake(t *testing.T) {
	for _, v := range tlsVersions {
		t.Run(v.name, func(t *testing.T) {
			ca := newCA(t)
			rb := startRecordingBank(t, ca)
			oldPair, newPair := newPair(t, ca, nil), newPair(t, ca, nil)
			var live atomic.Pointer[tls.Certificate]
			live.Store(oldPair.TLSCertificate())
			var renewing atomic.Bool
			getCert := func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
				c := live.Load()
				if cri.Version != 0 && renewing.CompareAndSwap(true, false) {
					live.Store(newPair.TLSCertificate()) // the handshake has taken the old one
				}
				return c, nil
			}
			tc := &tls.Config{RootCAs: ca.Pool(), MaxVersion: v.max, GetClientCertificate: getCert}
			c, err := h2h.New(h2h.Config{BaseURL: rb.URL, TLS: tc, Timeout: 5 * time.Second, Sign: h2h.SignXMLDSig,
				Signer: func() (*tls.Certificate, error) { return live.Load(), nil }})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()

			renewing.Store(true)
			if got, want := rb.submit(t, c, "RACE-1"), (handshake{false, serial(oldPair)}); got != want {
				t.Fatalf("upload renewed during its handshake: bank saw %v, want %v", got, want)
			}
			if renewing.Load() {
				t.Fatal("the first upload did not ask for a client certificate")
			}
			if got, want := rb.submit(t, c, "RACE-2"), (handshake{false, serial(newPair)}); got != want {
				t.Errorf("upload after the renewal: bank saw %v, want %v", got, want)
			}
			if got, want := rb.submit(t, c, "RACE-3"), (handshake{true, serial(newPair)}); got != want {
				t.Errorf("next upload: bank saw %v, want %v", got, want)
			}
		})
	}
}

// TestBanksimResumesSessions: banksim's own server (banksim.Start)
// resumes TLS sessions, and on a resumed connection hands the client
// certificate to the application from the ticket: the upload's signature
// must match it (VerifySignature), so an accepted upload on a resumed
// connection proves r.TLS.PeerCertificates is there. A session cache the
// caller set in the TLS configuration holds the sessions, under keys
// prefixed with the certificate's fingerprint.
func TestBanksimResumesSessions(t *testing.T) {
	clock := channeltest.NewClock(channeltest.StartTime())
	srv, err := banksim.Start(banksim.Config{Now: clock.Now, Accounts: channeltest.Accounts(), VerifySignature: true}, "127.0.0.1:0", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	src := channeltest.ClientSource(t, srv.TLS)
	pool, err := certstore.LoadCAPool(srv.TLS.CA)
	if err != nil {
		t.Fatal(err)
	}
	tc := src.ClientConfig(pool)
	theirs := &keysCache{ClientSessionCache: tls.NewLRUClientSessionCache(4)}
	tc.ClientSessionCache = theirs
	c, err := h2h.New(h2h.Config{BaseURL: srv.URL, TLS: tc, Timeout: 5 * time.Second, Sign: h2h.SignXMLDSig,
		Signer: func() (*tls.Certificate, error) { c, _ := src.Certificate(); return c, nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	var mu sync.Mutex
	var got []string
	ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{TLSHandshakeDone: func(cs tls.ConnectionState, err error) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, fmt.Sprintf("%s resumed=%v err=%v", tls.VersionName(cs.Version), cs.DidResume, err))
	}})
	for _, id := range []string{"SIM-1", "SIM-2", "SIM-3"} {
		if _, err := c.Submit(ctx, onePayment(t, srv.Bank, clock, id)); err != nil {
			t.Fatalf("Submit(%s) = %v", id, err)
		}
	}
	want := []string{"TLS 1.3 resumed=false err=<nil>", "TLS 1.3 resumed=true err=<nil>", "TLS 1.3 resumed=true err=<nil>"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("handshakes %q, want %q", got, want)
	}
	if l := srv.Bank.Ledger(); l.FilesReceived != 3 {
		t.Errorf("ledger files_received = %d, want 3", l.FilesReceived)
	}
	leaf, _ := src.Certificate()
	sum := sha256.Sum256(leaf.Certificate[0])
	fp := hex.EncodeToString(sum[:])
	for _, k := range theirs.keys() {
		if want := fp + "|127.0.0.1"; k != want {
			t.Errorf("session cache key %q, want %q", k, want)
		}
	}
	if len(theirs.keys()) == 0 {
		t.Error("the caller's session cache was not used")
	}
}

// keysCache records the keys of Puts into a ClientSessionCache.
type keysCache struct {
	tls.ClientSessionCache
	mu   sync.Mutex
	seen []string
}

func (k *keysCache) Put(key string, cs *tls.ClientSessionState) {
	k.mu.Lock()
	k.seen = append(k.seen, key)
	k.mu.Unlock()
	k.ClientSessionCache.Put(key, cs)
}

func (k *keysCache) keys() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.seen...)
}

// onePayment encodes a pain.001 of one payment from the bank's first
// account under msgID.
func onePayment(t testing.TB, b *banksim.Bank, clock *channeltest.Clock, msgID string) bank.File {
	t.Helper()
	res, err := b.Profile().EncodePain001(xmlcodec.Pain001Request{MsgID: msgID, Now: clock.Now, Payments: []xmlcodec.Payment{{
		ID: "E2E-1", Debtor: xmlcodec.Account{Name: "Finanšu ministrija", IBAN: channeltest.Accounts()[0].IBAN},
		Creditor: xmlcodec.Account{Name: "Piegādātājs", IBAN: "LV80BANK0000435195001"}, Amount: "1.00", Currency: "EUR",
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return bank.File{MsgID: msgID, Data: res.Files[0].Data}
}

// BenchmarkUpload measures one upload — a new connection, TLS handshake,
// 100-continue, the golden pain.001, a JSON receipt — with the client and
// a minimal mTLS server in one process (as banksim runs in `isogate
// bench`), with and without session resumption, for ECDSA P-256 keys (as
// banksim's) and RSA 2048 ones (common at banks). cpu-µs/op is the
// process's user+system CPU per upload, both sides together.
func BenchmarkUpload(b *testing.B) {
	data := goldenPain001(b)
	rsaKey := func() crypto.Signer {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			b.Fatal(err)
		}
		return k
	}
	ecKey := func() crypto.Signer {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		return k
	}
	for _, keys := range []struct {
		name string
		key  func() crypto.Signer
	}{{"ecdsa", ecKey}, {"rsa2048", rsaKey}} {
		ca := newCA(b)
		pair := newPair(b, ca, keys.key())
		srv := startMTLS(b, ca, keys.key(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, `{"msg_id":"GOLDEN-1"}`)
		}))
		for _, resume := range []bool{true, false} {
			b.Run(fmt.Sprintf("%s/resumption=%v", keys.name, resume), func(b *testing.B) {
				c, err := h2h.New(h2h.Config{BaseURL: srv.URL, Timeout: 5 * time.Second, DisableSessionResumption: !resume,
					TLS: &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{*pair.TLSCertificate()}}})
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				file := bank.File{MsgID: "GOLDEN-1", Data: data}
				if _, err := c.Submit(b.Context(), file); err != nil { // the first, full handshake
					b.Fatal(err)
				}
				b.ReportAllocs()
				before := cpuTime(b)
				for b.Loop() {
					if _, err := c.Submit(b.Context(), file); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64((cpuTime(b)-before).Microseconds())/float64(b.N), "cpu-µs/op")
			})
		}
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
