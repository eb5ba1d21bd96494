package channeltest

import (
	"os"
	"testing"

	"github.com/isogate/isogate/banksim"
	"github.com/isogate/isogate/certstore"
)

// ClientSource imports banksim's client certificate and key into a new
// certificate store in a temporary folder and returns the store's TLS
// source for it, as the gateway serves a client certificate to a bank.
func ClientSource(t testing.TB, files banksim.TLSFiles) *certstore.Source {
	t.Helper()
	var pemData []byte
	for _, f := range []string{files.ClientCert, files.ClientKey} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pemData = append(pemData, b...)
	}
	pair, err := certstore.ParsePEM(pemData, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _, src := PairStore(t, pair, "banksim")
	return src
}

// PairStore imports pair for purpose into a new certificate store in a
// temporary folder and returns the store, the pair's Ref and the store's
// TLS source for it (closed with the test).
func PairStore(t testing.TB, pair *certstore.Pair, purpose string) (*certstore.Store, certstore.Ref, *certstore.Source) {
	t.Helper()
	store, err := certstore.Open(certstore.Options{Dir: t.TempDir(), Passphrase: []byte("test passphrase"), KDFIterations: 1000})
	if err != nil {
		t.Fatal(err)
	}
	ref := certstore.Ref{Org: "isogate-test", Env: certstore.EnvTest, Purpose: purpose}
	if err := store.Import(ref, pair); err != nil {
		t.Fatal(err)
	}
	src, err := store.Source(ref)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.Close)
	return store, ref, src
}
