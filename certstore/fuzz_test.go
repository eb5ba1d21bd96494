package certstore_test

import (
	"errors"
	"testing"

	"github.com/isogate/isogate/certstore"
)

// FuzzParsePEM: any input gives a pair or an error, never a panic, and a
// pair always has a certificate and a key.
func FuzzParsePEM(f *testing.F) {
	key := ecKey(f)
	p := validPair(f, key, "seed")
	f.Add(append(certPEM(p.Cert), keyPEM(f, key)...), []byte(""))
	f.Add([]byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n"), []byte("pw"))
	f.Fuzz(func(t *testing.T, data, password []byte) {
		if len(data) > 1<<16 {
			return
		}
		pair, err := certstore.ParsePEM(data, password)
		if err == nil && (pair.Cert == nil || pair.Key == nil) {
			t.Fatalf("ParsePEM returned an incomplete pair without error")
		}
		if err != nil && pair != nil {
			t.Fatalf("ParsePEM returned a pair and %v", err)
		}
		_ = errors.Is(err, certstore.ErrWrongPassphrase)
	})
}

func FuzzParseSubject(f *testing.F) {
	f.Add("CN=1234567-8,O=Esimerkki Oy,C=FI")
	f.Add(`CN=a\,b,C=FI`)
	f.Fuzz(func(t *testing.T, s string) {
		n, err := certstore.ParseSubject(s)
		if err == nil && len(n.ToRDNSequence()) == 0 {
			t.Fatalf("ParseSubject(%q) = empty name without error", s)
		}
	})
}
