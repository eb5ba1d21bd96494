package h2h

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/isogate/isogate/bank"
	"github.com/isogate/isogate/certstore/vero"
)

func selfSigned(t *testing.T, key crypto.Signer) (*tls.Certificate, *x509.CertPool) {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "isogate test signer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func TestSignXMLDSig(t *testing.T) {
	pain001, err := os.ReadFile(filepath.Join("..", "..", "xmlcodec", "testdata", "pain001_ekase.golden.xml"))
	if err != nil {
		t.Fatal(err)
	}
	file := bank.File{MsgID: "GOLDEN-1", Data: pain001}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, tt := range []struct {
		name   string
		key    crypto.Signer
		method string
	}{
		{"RSA", rsaKey, "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"},
		{"ECDSA", ecKey, "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cert, pool := selfSigned(t, tt.key)
			cfg := validConfig()
			cfg.Sign, cfg.Signer = SignXMLDSig, func() (*tls.Certificate, error) { return cert, nil }
			c, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Prepare(t.Context(), file)
			if err != nil {
				t.Fatal(err)
			}
			// The signature is appended; everything before it is unchanged.
			end := bytes.LastIndex(pain001, []byte("</Document>"))
			if !bytes.HasPrefix(got.Data, pain001[:end]) {
				t.Errorf("signed document changed the original content")
			}
			for _, want := range []string{tt.method, "http://www.w3.org/2001/10/xml-exc-c14n#", "http://www.w3.org/2001/04/xmlenc#sha256",
				`URI=""`, "<ds:X509Certificate>"} {
				if !bytes.Contains(got.Data, []byte(want)) {
					t.Errorf("signed document lacks %s", want)
				}
			}
			doc := etree.NewDocument()
			if err := doc.ReadFromBytes(got.Data); err != nil {
				t.Fatal(err)
			}
			if _, signer, err := vero.VerifyElement(doc.Root(), pool, time.Now()); err != nil || !signer.Equal(cert.Leaf) {
				t.Fatalf("VerifyElement = %v (signer %v)", err, signer)
			}
			// Prepared twice: unchanged. The unsigned file again (a re-send
			// after an unknown outcome): the bytes signed the first time.
			if again, err := c.Prepare(t.Context(), got); err != nil || !bytes.Equal(again.Data, got.Data) {
				t.Errorf("Prepare(signed) changed it (err %v)", err)
			}
			if again, err := c.Prepare(t.Context(), file); err != nil || !bytes.Equal(again.Data, got.Data) {
				t.Errorf("Prepare(same file) again gave other bytes (err %v)", err)
			}
			// A tampered document no longer verifies.
			bad := bytes.Replace(got.Data, []byte("<InstdAmt"), []byte("<InstdAmt  "), 1)
			bad = bytes.Replace(bad, []byte(">1"), []byte(">2"), 1)
			doc = etree.NewDocument()
			if err := doc.ReadFromBytes(bad); err != nil {
				t.Fatal(err)
			}
			if _, _, err := vero.VerifyElement(doc.Root(), pool, time.Now()); err == nil {
				t.Error("a tampered document verifies")
			}
		})
	}
}
