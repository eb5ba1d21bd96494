package certstore_test

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"

	"software.sslmate.com/src/go-pkcs12"

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

// FuzzParsePKCS12: a PKCS#12 file gives a complete pair — a certificate, a
// key, and as leaf the certificate matching the key when one does — or an
// error and no pair, never a panic (go-pkcs12 parses untrusted ASN.1).
func FuzzParsePKCS12(f *testing.F) {
	key := ecKey(f)
	p := validPair(f, key, "seed")
	ca := validPair(f, ecKey(f), "seed CA")
	for _, enc := range []*pkcs12.Encoder{pkcs12.Modern.WithIterations(1), pkcs12.LegacyDES.WithIterations(1),
		pkcs12.Modern2026.WithIterations(1), pkcs12.Passwordless} {
		pw := "pw"
		if enc == pkcs12.Passwordless {
			pw = ""
		}
		der, err := enc.Encode(key, p.Cert, []*x509.Certificate{ca.Cert}, pw)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(der, pw)
		f.Add(der, "wrong")
		if ts, err := enc.EncodeTrustStore([]*x509.Certificate{ca.Cert}, pw); err == nil {
			f.Add(ts, pw)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, password string) {
		if len(data) > 1<<16 {
			t.Skip()
		}
		pair, err := certstore.ParsePKCS12(data, password)
		if err != nil {
			if pair != nil {
				t.Fatalf("ParsePKCS12 returned a pair and %v", err)
			}
			return
		}
		if pair == nil || pair.Cert == nil || pair.Key == nil {
			t.Fatalf("ParsePKCS12 returned an incomplete pair without error: %+v", pair)
		}
		matches := certstore.KeyMatches(pair.Cert, pair.Key)
		for _, c := range pair.Chain {
			if c == nil {
				t.Fatal("nil certificate in the chain")
			}
			if !matches && certstore.KeyMatches(c, pair.Key) {
				t.Fatalf("the leaf does not match the key but chain certificate %s does", c.Subject)
			}
		}
	})
}

// FuzzParseCertificatesPEM: a CA bundle gives one certificate per
// CERTIFICATE block, in order, or an error; never an empty list.
func FuzzParseCertificatesPEM(f *testing.F) {
	p := validPair(f, ecKey(f), "seed")
	ca := validPair(f, ecKey(f), "seed CA")
	f.Add(append(certPEM(p.Cert), certPEM(ca.Cert)...))
	f.Add(append([]byte("junk before\n"), append(keyPEM(f, ecKey(f)), certPEM(ca.Cert)...)...))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			t.Skip()
		}
		certs, err := certstore.ParseCertificatesPEM(data)
		if err != nil {
			if certs != nil {
				t.Fatalf("ParseCertificatesPEM returned certificates and %v", err)
			}
			return
		}
		var blocks []*pem.Block
		for rest := data; ; {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				break
			}
			if b.Type == "CERTIFICATE" {
				blocks = append(blocks, b)
			}
		}
		if len(certs) == 0 || len(certs) != len(blocks) {
			t.Fatalf("ParseCertificatesPEM = %d certificates for %d blocks", len(certs), len(blocks))
		}
		for i, c := range certs {
			if !bytes.Equal(c.Raw, blocks[i].Bytes) {
				t.Fatalf("certificate %d is not block %d", i+1, i+1)
			}
		}
	})
}
