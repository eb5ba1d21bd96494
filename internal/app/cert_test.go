package app

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/isogate/isogate/certstore"
	"github.com/isogate/isogate/internal/natstest"
	"github.com/isogate/isogate/internal/provision"
	"github.com/isogate/isogate/messages"
)

// TestCertWatcherPublishesExpiring: a client certificate first seen 10 days
// from expiry raises one ops.cert.expiring, for the tightest threshold it
// has crossed (14 days; the 60- and 30-day warnings it skipped are not
// sent late), once, however often the watcher checks.
func TestCertWatcherPublishesExpiring(t *testing.T) {
	srv := natstest.Start(t)
	nc, js := srv.Connect()
	ctx := t.Context()
	if _, err := provision.Apply(ctx, js, provision.Options{Replicas: 1, DuplicateWindow: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: "1234567-8", Country: []string{"FI"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(10 * 24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	store, err := certstore.Open(certstore.Options{Dir: t.TempDir(), Passphrase: []byte("test passphrase"), KDFIterations: 1000})
	if err != nil {
		t.Fatal(err)
	}
	ref := certstore.Ref{Org: "1234567-8", Env: certstore.EnvTest, Purpose: "ekase"}
	if err := store.Import(ref, certstore.NewPair([]*x509.Certificate{cert}, key)); err != nil {
		t.Fatal(err)
	}
	g := &Gateway{log: slog.New(slog.NewTextHandler(io.Discard, nil)), NC: nc, JS: js, Registry: prometheus.NewRegistry()}
	w, err := g.certWatcher(store)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := w.Check(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ops, err := js.Stream(ctx, messages.StreamOps)
	if err != nil {
		t.Fatal(err)
	}
	info, err := ops.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("OPS holds %d messages after three checks, want 1", info.State.Msgs)
	}
	m, err := ops.GetLastMsgForSubject(ctx, messages.SubjectCertExpiring)
	if err != nil {
		t.Fatal(err)
	}
	var ev messages.CertExpiring
	if err := json.Unmarshal(m.Data, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != messages.TypeCertExpiring || ev.Org != ref.Org || ev.Purpose != "ekase" || ev.DaysLeft < 9 || ev.DaysLeft > 10 ||
		ev.ThresholdDays != 14 || ev.Serial == "" {
		t.Errorf("last ops.cert.expiring = %+v", ev)
	}
	mfs, err := g.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var expiry float64
	for _, mf := range mfs {
		if mf.GetName() == "isogate_cert_expiry_seconds" && len(mf.GetMetric()) > 0 {
			expiry = mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	if expiry < 9*24*3600 || expiry > 10*24*3600 {
		t.Errorf("isogate_cert_expiry_seconds = %v, want about 10 days", expiry)
	}
}
