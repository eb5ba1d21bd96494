package certstore_test

import (
	"crypto/tls"
	"crypto/x509/pkix"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/isogate/isogate/certstore"
	"github.com/isogate/isogate/certstore/certsim"
)

// serialServer is an HTTPS server requiring a client certificate from
// testCA; it answers with and records the client certificate serial.
type serialServer struct {
	*httptest.Server
	mu      sync.Mutex
	serials []string
}

func newSerialServer(t *testing.T) *serialServer {
	t.Helper()
	key := ecKey(t)
	cert, err := testCA().Issue(certsim.Template{Subject: pkix.Name{CommonName: "bank.test"}, PublicKey: key.Public(),
		NotBefore: base.Add(-time.Hour), NotAfter: base.Add(24 * time.Hour), Server: true, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	s := &serialServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		serial := r.TLS.PeerCertificates[0].SerialNumber.Text(16)
		s.mu.Lock()
		s.serials = append(s.serials, serial)
		s.mu.Unlock()
		io.WriteString(w, serial)
	}))
	s.TLS = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key}},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    testCA().Pool(),
		MinVersion:   tls.VersionTLS12,
	}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func getSerial(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestHotReload: a client built once from the store presents the renewed
// certificate on its next handshake, without being rebuilt.
func TestHotReload(t *testing.T) {
	t.Parallel()
	srv := newSerialServer(t)
	clk := &clock{now: base}
	s := openStore(t, t.TempDir(), clk.Now)
	oldPair, newPair := validPair(t, ecKey(t), "1234567-8"), validPair(t, ecKey(t), "1234567-8")
	if err := s.Import(ref, oldPair); err != nil {
		t.Fatal(err)
	}
	src, err := s.Source(ref)
	if err != nil {
		t.Fatal(err)
	}
	// One client for the whole test. Keep-alives off: every request is a
	// new handshake (a live connection keeps the certificate it started with).
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: src.ClientConfig(testCA().Pool()), DisableKeepAlives: true}}

	if got, want := getSerial(t, client, srv.URL), oldPair.Cert.SerialNumber.Text(16); got != want {
		t.Fatalf("first handshake presented serial %s, want %s", got, want)
	}
	if err := s.Promote(ref, newPair, certstore.Activation{Reason: "renewed"}); err != nil {
		t.Fatal(err)
	}
	if got, want := getSerial(t, client, srv.URL), newPair.Cert.SerialNumber.Text(16); got != want {
		t.Fatalf("handshake after renewal presented serial %s, want the renewed %s", got, want)
	}

	// A failed reload keeps the last good pair and reports the failure.
	st, _ := s.State(ref)
	if err := os.WriteFile(filepath.Join(s.RefDir(ref), "pairs", st.Current, "key.pem"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := src.Reload(); err == nil {
		t.Fatal("Reload of a corrupt key succeeded")
	}
	if src.LastError() == nil {
		t.Error("LastError() = nil after a failed reload")
	}
	if got, want := getSerial(t, client, srv.URL), newPair.Cert.SerialNumber.Text(16); got != want {
		t.Errorf("after a failed reload the client presented %s, want the last good %s", got, want)
	}
}

// TestActivationServesPreviousUntilDue: a promoted pair with a future
// activation time is served only from then on, with no reload.
func TestActivationServesPreviousUntilDue(t *testing.T) {
	t.Parallel()
	clk := &clock{now: base}
	s := openStore(t, t.TempDir(), clk.Now)
	oldPair, newPair := validPair(t, ecKey(t), "a"), validPair(t, ecKey(t), "a")
	if err := s.Import(ref, oldPair); err != nil {
		t.Fatal(err)
	}
	src, err := s.Source(ref)
	if err != nil {
		t.Fatal(err)
	}
	at := base.Add(20 * time.Hour)
	if err := s.Promote(ref, newPair, certstore.Activation{At: at, Reason: "next business day"}); err != nil {
		t.Fatal(err)
	}
	if c, slot := src.Certificate(); slot != certstore.SlotPrevious || !c.Leaf.Equal(oldPair.Cert) {
		t.Errorf("before activation serving %s (%s), want previous %s", c.Leaf.SerialNumber, slot, oldPair.Cert.SerialNumber)
	}
	clk.Set(at)
	if c, slot := src.Certificate(); slot != certstore.SlotCurrent || !c.Leaf.Equal(newPair.Cert) {
		t.Errorf("at activation serving %s (%s), want current %s", c.Leaf.SerialNumber, slot, newPair.Cert.SerialNumber)
	}
	// The server refuses the new one: back to previous, then rollback.
	if err := s.SetLive(ref, certstore.SlotPrevious, "server refused the new certificate", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if c, _ := src.Certificate(); !c.Leaf.Equal(oldPair.Cert) {
		t.Errorf("after SetLive(previous) serving %s, want %s", c.Leaf.SerialNumber, oldPair.Cert.SerialNumber)
	}
	if err := s.Rollback(ref); err != nil {
		t.Fatal(err)
	}
	cur, err := s.LoadCert(ref, certstore.SlotCurrent)
	if err != nil || !cur.Equal(oldPair.Cert) {
		t.Errorf("after Rollback current = %v (%v), want the old pair", cur.SerialNumber, err)
	}
	if c, slot := src.Certificate(); slot != certstore.SlotCurrent || !c.Leaf.Equal(oldPair.Cert) {
		t.Errorf("after Rollback serving %s (%s)", c.Leaf.SerialNumber, slot)
	}
}

func TestSourceRunPicksUpOtherProcess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b := openStore(t, dir, nil), openStore(t, dir, nil) // two processes
	p1, p2 := validPair(t, ecKey(t), "a"), validPair(t, ecKey(t), "a")
	if err := a.Import(ref, p1); err != nil {
		t.Fatal(err)
	}
	src, err := a.Source(ref)
	if err != nil {
		t.Fatal(err)
	}
	go src.Run(t.Context(), 5*time.Millisecond)
	if err := b.Import(ref, p2); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "Source.Run picks up the pair imported by another Store", func() bool {
		c, _ := src.Certificate()
		return c.Leaf.Equal(p2.Cert)
	})
}
