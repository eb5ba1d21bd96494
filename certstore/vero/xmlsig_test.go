package vero_test

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"testing"
	"time"

	"github.com/isogate/isogate/certstore/certsim"
	"github.com/isogate/isogate/certstore/vero"
)

func TestVerifyElementRejectsTampering(t *testing.T) {
	t.Parallel()
	ca, err := certsim.NewCA("sig CA", nil, base.Add(-time.Hour), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	key := signerKey()
	cert, err := ca.Issue(certsim.Template{Subject: pkix.Name{CommonName: "signer"}, PublicKey: key.Public(),
		NotBefore: base.Add(-time.Hour), NotAfter: base.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	build := func() []byte {
		el := vero.NewPayload(vero.OpGetCertificate, "Response", []vero.Field{{Name: "Certificate", Value: "QUJD"}})
		el.AddChild(vero.ResultFields("", ""))
		if err := vero.SignElement(el, key, []*x509.Certificate{cert}); err != nil {
			t.Fatal(err)
		}
		b, err := vero.Envelope(el)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	verify := func(b []byte, at time.Time) error {
		el, err := vero.ParseEnvelope(b, "GetCertificateResponse")
		if err != nil {
			return err
		}
		_, _, err = vero.VerifyElement(el, ca.Pool(), at)
		return err
	}
	good := build()
	if err := verify(good, base); err != nil {
		t.Fatalf("VerifyElement(signed) = %v", err)
	}
	tests := []struct {
		name string
		doc  []byte
		at   time.Time
	}{
		{"changed content", bytes.Replace(good, []byte("QUJD"), []byte("QUJE"), 1), base},
		{"signature removed", removeBetween(good, "<ds:Signature", "</ds:Signature>"), base},
		{"signer expired", good, base.Add(2 * time.Hour)},
	}
	for _, tt := range tests {
		if err := verify(tt.doc, tt.at); !errors.Is(err, vero.ErrSignature) {
			t.Errorf("VerifyElement(%s) = %v, want ErrSignature", tt.name, err)
		}
	}
}

func removeBetween(b []byte, start, end string) []byte {
	i := bytes.Index(b, []byte(start))
	j := bytes.Index(b, []byte(end))
	if i < 0 || j < 0 {
		return b
	}
	return append(append([]byte(nil), b[:i]...), b[j+len(end):]...)
}
