package vero_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509/pkix"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/russellhaering/goxmldsig/etreeutils"

	"github.com/isogate/isogate/certstore"
	"github.com/isogate/isogate/certstore/certsim"
	"github.com/isogate/isogate/certstore/vero"
)

const (
	customerID   = "1234567-8"
	customerName = "Esimerkki Oy"
	transferID   = "TID-0001-abc"
	transferPass = "Xy7-one-time-pw"
)

var (
	// signerKey is shared by every simulator: RSA key generation is slow.
	signerKey = sync.OnceValue(func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		return k
	})
	base = time.Now().UTC().Truncate(time.Second)
	ref  = certstore.Ref{Org: customerID, Env: certstore.EnvTest, Purpose: "vero"}
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

type env struct {
	t     *testing.T
	clk   *clock
	sim   *certsim.Server
	url   string
	dir   string
	store *certstore.Store
}

func newEnv(t *testing.T, simCfg certsim.Config) *env {
	t.Helper()
	e := &env{t: t, clk: &clock{now: base}, dir: t.TempDir()}
	simCfg.Now = e.clk.Now
	simCfg.SignerKey = signerKey()
	sim, err := certsim.New(simCfg)
	if err != nil {
		t.Fatal(err)
	}
	run, err := sim.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run.Close(context.Background()) })
	e.sim, e.url = sim, run.URL
	e.store = e.openStore()
	return e
}

// openStore opens the store directory afresh, as a restarted process would.
func (e *env) openStore() *certstore.Store {
	s, err := certstore.Open(certstore.Options{Dir: e.dir, Passphrase: []byte("store passphrase"), KDFIterations: 1000, Now: e.clk.Now})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *env) flow(store *certstore.Store) *vero.Flow {
	e.t.Helper()
	c, err := vero.NewClient(vero.Config{Endpoint: e.url, Environment: "TEST", CustomerID: customerID, CustomerName: customerName,
		TrustedCAs: e.sim.CA().Pool(), ServerCAs: e.sim.CA().Pool(), Now: e.clk.Now})
	if err != nil {
		e.t.Fatal(err)
	}
	// ECDSA keeps the tests fast; TestEnrollAndRenewOverHTTPS uses RSA as Vero does.
	return &vero.Flow{Store: store, Ref: ref, Client: c, KeyAlgorithm: certstore.ECDSAP256}
}

// TestEnrollAndRenewOverHTTPS: enrolment with transfer credentials, then a
// renewal signed with the current key, against the simulator over HTTPS.
func TestEnrollAndRenewOverHTTPS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, certsim.Config{})
	e.sim.AddTransfer(customerID, transferID, transferPass)
	f := e.flow(e.store)
	f.KeyAlgorithm = certstore.RSA2048 // renewal signed RSA-SHA256, as the service requires
	// Renewed production-style certificates wait for the next business day.
	f.Activation = certstore.ActivationPolicy{NextBusinessDay: true, Location: time.UTC}

	first, err := f.Enroll(t.Context(), transferID, transferPass)
	if err != nil {
		t.Fatalf("Enroll: %v", err)
	}
	if first.Cert.Subject.CommonName != customerID || first.Cert.NotAfter.Sub(first.Cert.NotBefore) < 729*24*time.Hour {
		t.Errorf("enrolled %s valid %s..%s, want CN=%s for two years", first.Cert.Subject, first.Cert.NotBefore, first.Cert.NotAfter, customerID)
	}
	st, err := e.store.Status(ref, 0)
	if err != nil || st.State != certstore.StateValid || st.Live != certstore.SlotCurrent {
		t.Fatalf("after enrolment status = %+v, %v; want valid, current live", st, err)
	}
	if _, err := f.LoadRequest(); !errors.Is(err, certstore.ErrNotFound) {
		t.Errorf("request state left after enrolment: %v", err)
	}

	// A TLS source built once, before the renewal (as the bank channel holds it).
	src, err := e.store.Source(ref)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()

	// 59 days before expiry the Renewer renews.
	renewAt := first.Cert.NotAfter.Add(-59 * 24 * time.Hour)
	e.clk.Set(renewAt)
	if st, _ := e.store.Status(ref, 0); st.State != certstore.StateRenewalDue {
		t.Errorf("59 days before expiry state = %s, want %s", st.State, certstore.StateRenewalDue)
	}
	r := &vero.Renewer{Flow: f}
	if err := r.Tick(t.Context()); err != nil {
		t.Fatalf("Renewer.Tick: %v", err)
	}
	if got := e.sim.Calls(vero.OpRenewCertificate); got != 1 {
		t.Fatalf("renewCertificate calls = %d, want 1", got)
	}
	cur, _ := e.store.LoadCert(ref, certstore.SlotCurrent)
	prev, _ := e.store.LoadCert(ref, certstore.SlotPrevious)
	if cur.Equal(first.Cert) || prev == nil || !prev.Equal(first.Cert) {
		t.Fatalf("after renewal current %v previous %v, want new current and the enrolled one as previous", cur.SerialNumber, prev)
	}
	if cur.Subject.String() != first.Cert.Subject.String() {
		t.Errorf("renewed subject %s, want the enrolled %s", cur.Subject, first.Cert.Subject)
	}
	st, _ = e.store.Status(ref, 0)
	if st.State != certstore.StateAwaitingActivation || st.Live != certstore.SlotPrevious || st.ActivateAt.IsZero() {
		t.Errorf("after renewal status = %+v, want awaiting-activation with the previous pair live", st)
	}
	if err := r.Tick(t.Context()); err != nil || e.sim.Calls(vero.OpRenewCertificate) != 1 {
		t.Errorf("second Tick: %v, renew calls %d; want nothing to do", err, e.sim.Calls(vero.OpRenewCertificate))
	}
	if c, _ := src.Certificate(); !c.Leaf.Equal(first.Cert) {
		t.Errorf("before activation the source serves %s, want the enrolled %s", c.Leaf.SerialNumber, first.Cert.SerialNumber)
	}
	e.clk.Set(st.ActivateAt)
	if st, _ := e.store.Status(ref, 0); st.State != certstore.StateValid || st.Live != certstore.SlotCurrent {
		t.Errorf("at activation status = %s live %s, want valid, current", st.State, st.Live)
	}
	if c, _ := src.Certificate(); !c.Leaf.Equal(cur) {
		t.Errorf("at activation the source serves %s, want the renewed %s", c.Leaf.SerialNumber, cur.SerialNumber)
	}

	// The renewal is signed as the service requires, and an independent
	// implementation verifies it.
	renewReq := e.sim.LastRequest(vero.OpRenewCertificate)
	for _, want := range []string{"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", "http://www.w3.org/2001/10/xml-exc-c14n#",
		"http://www.w3.org/2000/09/xmldsig#enveloped-signature", "<ds:X509Certificate>"} {
		if !bytes.Contains(renewReq, []byte(want)) {
			t.Errorf("renewCertificate request lacks %s", want)
		}
	}
	verifyWithXmlsec1(t, e.sim.LastRequest(vero.OpRenewCertificate), e.sim.CA().CertPEM(), renewAt)
}

// verifyWithXmlsec1 extracts the RenewCertificateRequest (the signed
// application document) from a SOAP request and has xmlsec1 verify it.
func verifyWithXmlsec1(t *testing.T, soap, caPEM []byte, at time.Time) {
	t.Helper()
	bin, err := exec.LookPath("xmlsec1")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("xmlsec1 required in CI (Debian package xmlsec1)")
		}
		t.Skip("xmlsec1 not installed")
	}
	payload, err := vero.ParseEnvelope(soap, "RenewCertificateRequest")
	if err != nil {
		t.Fatal(err)
	}
	nsctx, err := etreeutils.NSBuildParentContext(payload)
	if err != nil {
		t.Fatal(err)
	}
	detached, err := etreeutils.NSDetatch(nsctx, payload)
	if err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	doc.SetRoot(detached)
	xml, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	docFile := filepath.Join(dir, "renew.xml")
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(docFile, xml, 0o600)
	os.WriteFile(caFile, caPEM, 0o600)
	run := func(file string) ([]byte, error) {
		return exec.CommandContext(t.Context(), bin, "--verify", "--trusted-pem", caFile,
			"--verification-time", at.UTC().Format("2006-01-02 15:04:05"), file).CombinedOutput()
	}
	if out, err := run(docFile); err != nil {
		t.Fatalf("xmlsec1 --verify: %v\n%s\n%s", err, out, xml)
	} else if t.Logf("xmlsec1 --verify: %s", bytes.TrimSpace(out)); !bytes.Contains(out, []byte("OK")) {
		t.Errorf("xmlsec1 --verify output:\n%s", out)
	}
	// A changed CSR must not verify.
	tampered := bytes.Replace(xml, []byte("<CustomerName>"+customerName), []byte("<CustomerName>Other Oy"), 1)
	if bytes.Equal(tampered, xml) {
		t.Fatal("could not tamper with the request")
	}
	badFile := filepath.Join(dir, "tampered.xml")
	os.WriteFile(badFile, tampered, 0o600)
	if out, err := run(badFile); err == nil {
		t.Errorf("xmlsec1 verified a tampered request:\n%s", out)
	}
}

// TestCrashBetweenSignAndGetResumes: the answer to getCertificate is lost
// and the process "crashes"; a new process resumes from the persisted
// RetrievalId without the transfer credentials.
func TestCrashBetweenSignAndGetResumes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, certsim.Config{})
	e.sim.AddTransfer(customerID, transferID, transferPass)
	e.sim.DropResponses(vero.OpGetCertificate, 1)

	if _, err := e.flow(e.store).Enroll(t.Context(), transferID, transferPass); err == nil {
		t.Fatal("Enroll succeeded although the getCertificate answer was dropped")
	}
	if got := e.sim.Calls(vero.OpSignNewCertificate); got != 1 {
		t.Fatalf("signNewCertificate calls = %d, want 1", got)
	}

	// Restart: new Store, Client and Flow on the same directory.
	f := e.flow(e.openStore())
	req, err := f.LoadRequest()
	if err != nil {
		t.Fatalf("LoadRequest after the crash: %v", err)
	}
	if req.Phase != vero.PhaseAwaitingCertificate || req.RetrievalID == "" || req.TransferID != transferID || req.Attempts != 1 {
		t.Fatalf("persisted request = %+v, want awaiting-certificate with a RetrievalId", req)
	}
	res, err := f.Resume(t.Context())
	if err != nil {
		t.Fatalf("Resume: %v", err)
	}
	if got := e.sim.Calls(vero.OpSignNewCertificate); got != 1 {
		t.Errorf("signNewCertificate calls after resume = %d, want still 1 (no new transfer id)", got)
	}
	if got := e.sim.Calls(vero.OpGetCertificate); got != 2 {
		t.Errorf("getCertificate calls = %d, want 2", got)
	}
	cur, err := e.openStore().LoadCert(ref, certstore.SlotCurrent)
	if err != nil || !cur.Equal(res.Cert) {
		t.Errorf("current certificate after resume = %v (%v), want the fetched one", cur, err)
	}
	assertNoSecret(t, e.dir, transferPass)
}

// TestLostSignAnswer: without a recorded answer the outcome of
// signNewCertificate is unknown; Resume says so instead of guessing.
func TestLostSignAnswer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, certsim.Config{})
	e.sim.AddTransfer(customerID, transferID, transferPass)
	e.sim.DropResponses(vero.OpSignNewCertificate, 1)
	f := e.flow(e.store)
	if _, err := f.Enroll(t.Context(), transferID, transferPass); err == nil {
		t.Fatal("Enroll succeeded although the answer was dropped")
	}
	_, err := f.Resume(t.Context())
	if !errors.Is(err, vero.ErrOutcomeUnknown) || !strings.Contains(err.Error(), transferID) {
		t.Fatalf("Resume = %v, want ErrOutcomeUnknown naming the transfer id", err)
	}
	// The operator abandons it and retries with the same credentials: the
	// simulator, like the service, refuses a used transfer id, and the
	// request is closed.
	if err := f.Abandon(); err != nil {
		t.Fatalf("Abandon: %v", err)
	}
	_, err = f.Enroll(t.Context(), transferID, transferPass)
	var rerr *vero.ResultError
	if !errors.As(err, &rerr) || rerr.Code != certsim.CodeTransferUsed {
		t.Fatalf("second Enroll = %v, want ResultError %s", err, certsim.CodeTransferUsed)
	}
	if _, err := f.LoadRequest(); !errors.Is(err, certstore.ErrNotFound) {
		t.Errorf("refused request still open: %v", err)
	}
	assertNoSecret(t, e.dir, transferPass)
}

func TestIssuedCertificateMustMatch(t *testing.T) {
	t.Parallel()
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tests := []struct {
		name    string
		mangle  func(*pkix.Name, *crypto.PublicKey)
		wantErr error
	}{
		{"other key", func(_ *pkix.Name, pub *crypto.PublicKey) { *pub = other.Public() }, certstore.ErrKeyMismatch},
		{"other subject", func(n *pkix.Name, _ *crypto.PublicKey) { n.CommonName = "7654321-0"; n.ExtraNames = nil }, vero.ErrSubjectMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, certsim.Config{Mangle: tt.mangle})
			e.sim.AddTransfer(customerID, transferID, transferPass)
			f := e.flow(e.store)
			_, err := f.Enroll(t.Context(), transferID, transferPass)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Enroll with %s = %v, want %v", tt.name, err, tt.wantErr)
			}
			if _, err := e.store.State(ref); !errors.Is(err, certstore.ErrNotFound) {
				t.Errorf("a refused certificate became current: %v", err)
			}
			if req, err := f.LoadRequest(); err != nil || req.Phase != vero.PhaseAwaitingCertificate {
				t.Errorf("request after a refused certificate = %+v, %v; want kept awaiting-certificate", req, err)
			}
		})
	}
}

// TestResponseSignatureChecked: a client that does not trust the signer
// refuses the answer; the simulator refuses a renewal signed by a
// certificate it did not issue.
func TestSignaturesChecked(t *testing.T) {
	t.Parallel()
	e := newEnv(t, certsim.Config{})
	stranger, err := certsim.NewCA("stranger", nil, base.Add(-time.Hour), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := vero.NewClient(vero.Config{Endpoint: e.url, Environment: "TEST", CustomerID: customerID,
		TrustedCAs: stranger.Pool(), ServerCAs: e.sim.CA().Pool(), Now: e.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := c.GetCertificate(t.Context(), "nope")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ParseCertificate(raw); !errors.Is(err, vero.ErrSignature) {
		t.Errorf("ParseCertificate of an answer signed by an untrusted signer = %v, want ErrSignature", err)
	}

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert, err := stranger.Issue(certsim.Template{Subject: pkix.Name{CommonName: customerID}, PublicKey: key.Public(),
		NotBefore: base.Add(-time.Hour), NotAfter: base.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	csr, err := certstore.CreateCSR(key, pkix.Name{CommonName: customerID})
	if err != nil {
		t.Fatal(err)
	}
	good := e.flow(e.store).Client
	raw, err = good.RenewCertificate(t.Context(), csr, &certstore.Pair{Cert: cert, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	_, err = good.ParseRetrievalID(vero.OpRenewCertificate, raw)
	var rerr *vero.ResultError
	if !errors.As(err, &rerr) || rerr.Code != certsim.CodeInvalidSignature {
		t.Errorf("renewal signed by a foreign certificate = %v, want ResultError %s", err, certsim.CodeInvalidSignature)
	}
}

func TestExpiredCannotRenew(t *testing.T) {
	t.Parallel()
	e := newEnv(t, certsim.Config{})
	e.sim.AddTransfer(customerID, transferID, transferPass)
	f := e.flow(e.store)
	res, err := f.Enroll(t.Context(), transferID, transferPass)
	if err != nil {
		t.Fatal(err)
	}
	e.clk.Set(res.Cert.NotAfter.Add(time.Hour))
	if err := (&vero.Renewer{Flow: f}).Tick(t.Context()); !errors.Is(err, vero.ErrRenewalImpossible) || !errors.Is(err, certstore.ErrExpired) {
		t.Errorf("Tick on an expired certificate = %v, want ErrRenewalImpossible and ErrExpired", err)
	}
	st, _ := e.store.Status(ref, 0)
	if st.State != certstore.StateExpired || !strings.Contains(st.Detail, "isogate cert enroll") {
		t.Errorf("status of an expired certificate = %s %q", st.State, st.Detail)
	}
	if e.sim.Calls(vero.OpRenewCertificate) != 0 {
		t.Error("an expired certificate was sent for renewal")
	}
}

// TestRenewalBackoffAndProbe: a failing renewal is retried with backoff;
// a successful probe activates the renewed certificate before the next
// business day.
func TestRenewalBackoffAndProbe(t *testing.T) {
	t.Parallel()
	e := newEnv(t, certsim.Config{})
	e.sim.AddTransfer(customerID, transferID, transferPass)
	f := e.flow(e.store)
	probeOK := false
	f.Activation = certstore.ActivationPolicy{NextBusinessDay: true, Location: time.UTC,
		Probe: func(ctx context.Context, c *tls.Certificate) error {
			if !probeOK {
				return errors.New("403 unknown certificate")
			}
			return nil
		}}
	res, err := f.Enroll(t.Context(), transferID, transferPass)
	if err != nil {
		t.Fatal(err)
	}
	at := res.Cert.NotAfter.Add(-30 * 24 * time.Hour)
	e.clk.Set(at)
	e.sim.DropResponses(vero.OpRenewCertificate, 1)
	r := &vero.Renewer{Flow: f}
	if err := r.Tick(t.Context()); err == nil {
		t.Fatal("Tick with a lost renewal answer succeeded")
	}
	req, _ := f.LoadRequest()
	if req == nil || req.Attempts != 1 || !req.NextAttempt.Equal(at.Add(time.Hour)) {
		t.Fatalf("after a failed renewal request = %+v, want 1 attempt, next in 1h", req)
	}
	e.clk.Set(at.Add(30 * time.Minute))
	if err := r.Tick(t.Context()); err != nil || e.sim.Calls(vero.OpRenewCertificate) != 1 {
		t.Fatalf("Tick before NextAttempt: %v, calls %d; want nothing sent", err, e.sim.Calls(vero.OpRenewCertificate))
	}
	e.clk.Set(at.Add(time.Hour))
	if err := r.Tick(t.Context()); err != nil {
		t.Fatalf("Tick at NextAttempt: %v", err)
	}
	if st, _ := e.store.Status(ref, 0); st.State != certstore.StateAwaitingActivation {
		t.Fatalf("after renewal state %s, want awaiting-activation", st.State)
	}
	r.Tick(t.Context()) // probe fails: still waiting
	if st, _ := e.store.Status(ref, 0); st.Live != certstore.SlotPrevious {
		t.Fatalf("after a failed probe live = %s, want previous", st.Live)
	}
	probeOK = true
	if err := r.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.store.Status(ref, 0); st.Live != certstore.SlotCurrent || !strings.Contains(st.LiveReason, "probe") {
		t.Errorf("after a successful probe live = %s (%s), want current", st.Live, st.LiveReason)
	}
}

// assertNoSecret fails if secret appears in any file under dir.
func assertNoSecret(t *testing.T, dir, secret string) {
	t.Helper()
	n := 0
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		b, _ := os.ReadFile(path)
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s contains the transfer password", path)
		}
		return nil
	})
	if n == 0 {
		t.Errorf("no files under %s to scan", dir)
	}
}

// TestRecordedResponseParsedOnResume: the raw answer is recorded before it
// is parsed. Here parsing fails (the client does not trust the signer yet,
// as after a crash mid-parse); a restarted, correctly configured process
// parses the recorded answer without sending the request again.
func TestRecordedResponseParsedOnResume(t *testing.T) {
	t.Parallel()
	e := newEnv(t, certsim.Config{})
	e.sim.AddTransfer(customerID, transferID, transferPass)
	stranger, err := certsim.NewCA("stranger", nil, base.Add(-time.Hour), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := vero.NewClient(vero.Config{Endpoint: e.url, Environment: "TEST", CustomerID: customerID, CustomerName: customerName,
		TrustedCAs: stranger.Pool(), ServerCAs: e.sim.CA().Pool(), Now: e.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	bad := &vero.Flow{Store: e.store, Ref: ref, Client: c, KeyAlgorithm: certstore.ECDSAP256}
	if _, err := bad.Enroll(t.Context(), transferID, transferPass); !errors.Is(err, vero.ErrSignature) {
		t.Fatalf("Enroll with an untrusted signer = %v, want ErrSignature", err)
	}
	req, err := bad.LoadRequest()
	if err != nil || req.Phase != vero.PhaseSent || len(req.Responses) != 1 {
		t.Fatalf("request = %+v, %v; want phase sent with 1 recorded response", req, err)
	}
	f := e.flow(e.openStore())
	f.KeyAlgorithm = certstore.ECDSAP256
	if _, err := f.Resume(t.Context()); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	if got := e.sim.Calls(vero.OpSignNewCertificate); got != 1 {
		t.Errorf("signNewCertificate calls = %d, want 1: the recorded answer is used", got)
	}
	assertNoSecret(t, e.dir, transferPass)
}
