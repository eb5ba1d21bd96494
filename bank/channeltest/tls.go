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
	store, err := certstore.Open(certstore.Options{Dir: t.TempDir(), Passphrase: []byte("test passphrase"), KDFIterations: 1000})
	if err != nil {
		t.Fatal(err)
	}
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
	ref := certstore.Ref{Org: "isogate-test", Env: certstore.EnvTest, Purpose: "banksim"}
	if err := store.Import(ref, pair); err != nil {
		t.Fatal(err)
	}
	src, err := store.Source(ref)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.Close)
	return src
}
