package h2h_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/isogate/isogate/bank"
	"github.com/isogate/isogate/bank/channeltest"
	"github.com/isogate/isogate/bank/h2h"
	"github.com/isogate/isogate/banksim"
	"github.com/isogate/isogate/certstore"
)

var allFaults = []banksim.Fault{banksim.FaultError, banksim.FaultTimeout, banksim.FaultDropAfterAccept,
	banksim.FaultReset, banksim.FaultMalformed}

// newHarness starts banksim over HTTPS with mutual TLS and an h2h client
// with the client certificate served through certstore.
func newHarness(profile string, sign bool) func(t *testing.T) channeltest.Harness {
	return func(t *testing.T) channeltest.Harness {
		clock := channeltest.NewClock(channeltest.StartTime())
		srv, err := banksim.Start(banksim.Config{Profile: profile, Now: clock.Now, Seed: 1, VerifySignature: sign, Accounts: channeltest.Accounts()}, "127.0.0.1:0", t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := srv.Close(); err != nil {
				t.Errorf("closing banksim: %v", err)
			}
		})
		src := channeltest.ClientSource(t, srv.TLS)
		pool, err := certstore.LoadCAPool(srv.TLS.CA)
		if err != nil {
			t.Fatal(err)
		}
		cfg := h2h.Config{BaseURL: srv.URL, TLS: src.ClientConfig(pool), Timeout: 2 * time.Second}
		if sign {
			cfg.Sign = h2h.SignXMLDSig
			cfg.Signer = func() (*tls.Certificate, error) { c, _ := src.Certificate(); return c, nil }
		}
		c, err := h2h.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := c.Health(t.Context()); err != nil {
			t.Fatalf("Health = %v", err)
		}
		return channeltest.Harness{Channel: c, Bank: srv.Bank, Clock: clock, Faults: allFaults}
	}
}

func TestContract(t *testing.T) {
	t.Run("ekase", func(t *testing.T) { channeltest.Run(t, newHarness("ekase", false)) })
	t.Run("ekase-xmldsig", func(t *testing.T) { channeltest.Run(t, newHarness("ekase", true)) })
	t.Run("iso2019", func(t *testing.T) { channeltest.Run(t, newHarness("iso2019", false)) })
}

// TestTransportBeforeBody pins "nothing of the body sent → transient,
// even for an upload": a refused connection and a server certificate
// from another CA than the pinned one both fail before the request is
// written.
func TestTransportBeforeBody(t *testing.T) {
	srv, err := banksim.Start(banksim.Config{Accounts: channeltest.Accounts()}, "127.0.0.1:0", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	other, _, err := banksim.EnsureTLS(t.TempDir()) // another CA
	if err != nil {
		t.Fatal(err)
	}
	src := channeltest.ClientSource(t, srv.TLS)
	wrongCA, err := certstore.LoadCAPool(other.CA)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "https://" + ln.Addr().String()
	ln.Close()
	file := bank.File{MsgID: "GOLDEN-1", Data: goldenPain001(t)}
	for _, tt := range []struct {
		name, url string
		tls       *tls.Config
	}{
		{"connection refused", closedURL, src.ClientConfig(wrongCA)},
		{"server CA not pinned", srv.URL, src.ClientConfig(wrongCA)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := h2h.New(h2h.Config{BaseURL: tt.url, TLS: tt.tls, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, err = c.Submit(t.Context(), file)
			var be *bank.Error
			if !errors.Is(err, bank.ErrTransient) || !errors.As(err, &be) || be.Op != bank.OpSubmit || be.Status != 0 {
				t.Errorf("Submit = %v, want a transient *bank.Error without HTTP status", err)
			}
			if _, err := c.Status(t.Context(), "GOLDEN-1"); !errors.Is(err, bank.ErrTransient) {
				t.Errorf("Status = %v, want transient", err)
			}
			if err := c.Health(t.Context()); !errors.Is(err, bank.ErrTransient) {
				t.Errorf("Health = %v, want transient", err)
			}
		})
	}
	if l := srv.Bank.Ledger(); l.FilesReceived != 0 {
		t.Errorf("ledger files_received = %d, want 0", l.FilesReceived)
	}
}

// TestClientCertificateRefused: a client certificate the bank does not
// accept is ErrTransient, also with TLS 1.3, where the server's alert
// comes after the client has written the request (the server never
// processed it).
func TestClientCertificateRefused(t *testing.T) {
	srv, err := banksim.Start(banksim.Config{Accounts: channeltest.Accounts()}, "127.0.0.1:0", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	other, _, err := banksim.EnsureTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pool, err := certstore.LoadCAPool(srv.TLS.CA)
	if err != nil {
		t.Fatal(err)
	}
	src := channeltest.ClientSource(t, other) // a client certificate from another CA
	file := bank.File{MsgID: "GOLDEN-1", Data: goldenPain001(t)}
	for _, tt := range []struct {
		name string
		max  uint16
		want []error
	}{
		{"TLS 1.2", tls.VersionTLS12, []error{bank.ErrTransient}},
		{"TLS 1.3", tls.VersionTLS13, []error{bank.ErrTransient}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := src.ClientConfig(pool)
			cfg.MaxVersion = tt.max
			c, err := h2h.New(h2h.Config{BaseURL: srv.URL, TLS: cfg, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, err = c.Submit(t.Context(), file)
			ok := false
			for _, w := range tt.want {
				ok = ok || errors.Is(err, w)
			}
			if !ok {
				t.Errorf("Submit = %v, want one of %v", err, tt.want)
			}
			t.Logf("Submit with a refused certificate: %v", err)
			if err := c.Health(t.Context()); !errors.Is(err, bank.ErrTransient) {
				t.Errorf("Health = %v, want transient", err)
			}
		})
	}
	if l := srv.Bank.Ledger(); l.FilesReceived != 0 {
		t.Errorf("ledger files_received = %d, want 0", l.FilesReceived)
	}
}

func goldenPain001(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "xmlcodec", "testdata", "pain001_ekase.golden.xml"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMsgIDInPath: a MsgId with '/' and a space reaches the status
// path escaped and comes back as itself.
func TestMsgIDInPath(t *testing.T) {
	h := newHarness("ekase", false)(t)
	const id = "ISO/2026 Nr.5"
	if _, err := h.Channel.Submit(t.Context(), onePayment(t, h.Bank, h.Clock, id)); err != nil {
		t.Fatal(err)
	}
	doc, err := h.Channel.Status(t.Context(), id)
	if err != nil {
		t.Fatalf("Status(%q) = %v", id, err)
	}
	if !strings.Contains(doc.Name, "ISO%2F2026%20Nr.5") {
		t.Errorf("status path %s, want the MsgId escaped", doc.Name)
	}
	// The records the check read are handed on, so the status poller does
	// not decode the pain.002 again.
	if len(doc.Statuses) == 0 || doc.Statuses[0].OriginalMsgID != id {
		t.Errorf("Statuses = %+v, want the pain.002's records answering %s", doc.Statuses, id)
	}
}

// TestExpectationFailed: behind a proxy that refuses "Expect:
// 100-continue" with 417, an upload is sent again plainly, once.
func TestExpectationFailed(t *testing.T) {
	clock := channeltest.NewClock(channeltest.StartTime())
	b, err := banksim.NewBank(banksim.Config{Now: clock.Now, Accounts: channeltest.Accounts()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var refused atomic.Int32
	proxy := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Expect") != "" {
			refused.Add(1)
			w.WriteHeader(http.StatusExpectationFailed)
			return
		}
		b.Handler().ServeHTTP(w, r)
	}))
	proxy.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	proxy.StartTLS()
	defer proxy.Close()
	files, _, err := banksim.EnsureTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(proxy.Certificate())
	c, err := h2h.New(h2h.Config{BaseURL: proxy.URL, TLS: channeltest.ClientSource(t, files).ClientConfig(pool)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Submit(t.Context(), bank.File{MsgID: "GOLDEN-1", Data: goldenPain001(t)}); err != nil {
		t.Fatalf("Submit = %v", err)
	}
	if l := b.Ledger(); l.FilesReceived != 1 || refused.Load() != 1 {
		t.Errorf("files received %d after %d refusals, want 1 after 1", l.FilesReceived, refused.Load())
	}
}
