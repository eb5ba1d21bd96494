package vero_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/isogate/isogate/certstore/certsim"
	"github.com/isogate/isogate/certstore/vero"
)

// FuzzParseEnvelope: any message gives the payload, a *FaultError or
// another error, never a panic.
func FuzzParseEnvelope(f *testing.F) {
	payload := vero.NewPayload(vero.OpGetCertificate, "Response", []vero.Field{{Name: "Certificate", Value: "QUJD"}})
	env, _ := vero.Envelope(payload)
	f.Add(env)
	f.Add(vero.Fault("soapenv:Client", "bad"))
	f.Add([]byte(`<!DOCTYPE x [<!ENTITY a "b">]><x/>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		el, err := vero.ParseEnvelope(data, "GetCertificateResponse")
		if err == nil && (el == nil || el.Tag != "GetCertificateResponse" || el.NamespaceURI() != vero.Namespace) {
			t.Fatalf("ParseEnvelope accepted %v", el)
		}
		var fe *vero.FaultError
		_ = errors.As(err, &fe)
	})
}

// FuzzVerifiedResponse: a response yields a certificate or a retrieval id
// only when it carries the service's valid signature over that very value
// — whatever else the bytes say (comments, extra elements, a second
// payload, namespace games).
func FuzzVerifiedResponse(f *testing.F) {
	now := time.Date(2026, 11, 21, 9, 30, 0, 0, time.UTC)
	ca, err := certsim.NewCA("fuzz CA", nil, now.Add(-time.Hour), 24*time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	signer, err := ca.Issue(certsim.Template{Subject: pkix.Name{CommonName: "service"}, PublicKey: key.Public(),
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)})
	if err != nil {
		f.Fatal(err)
	}
	issued, err := ca.Issue(certsim.Template{Subject: pkix.Name{CommonName: "1234567-8"}, PublicKey: key.Public(),
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)})
	if err != nil {
		f.Fatal(err)
	}
	const retrievalID = "RID-0001-ABCDEF"
	build := func(op string, fields []vero.Field) []byte {
		el := vero.NewPayload(op, "Response", fields)
		el.AddChild(vero.ResultFields("", ""))
		if err := vero.SignElement(el, key, []*x509.Certificate{signer}); err != nil {
			f.Fatal(err)
		}
		b, err := vero.Envelope(el)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	getCert := build(vero.OpGetCertificate, []vero.Field{{Name: "Certificate", Value: base64.StdEncoding.EncodeToString(issued.Raw)}})
	signNew := build(vero.OpSignNewCertificate, []vero.Field{{Name: "RetrievalId", Value: retrievalID}})
	f.Add(getCert, false)
	f.Add(signNew, true)
	f.Add(bytes.Replace(signNew, []byte(retrievalID), []byte("RID-0001<!---->-ABCDEF"), 1), true)
	f.Add(bytes.Replace(signNew, []byte("<RetrievalId>"), []byte("<RetrievalId>X</RetrievalId><RetrievalId>"), 1), true)
	f.Add(bytes.Replace(getCert, []byte("<soapenv:Body>"), []byte("<soapenv:Body><cer:GetCertificateResponse xmlns:cer=\""+vero.Namespace+"\"><Certificate>QUJD</Certificate></cer:GetCertificateResponse>"), 1), false)
	f.Add(vero.Fault("soapenv:Server", "busy"), false)
	c, err := vero.NewClient(vero.Config{Environment: "TEST", CustomerID: "1234567-8", TrustedCAs: ca.Pool(),
		Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	// The property is not vacuous: the genuine responses verify.
	if cert, err := c.ParseCertificate(getCert); err != nil || !bytes.Equal(cert.Raw, issued.Raw) {
		f.Fatalf("ParseCertificate(signed response) = %v", err)
	}
	if id, err := c.ParseRetrievalID(vero.OpSignNewCertificate, signNew); err != nil || id != retrievalID {
		f.Fatalf("ParseRetrievalID(signed response) = %q, %v", id, err)
	}
	f.Fuzz(func(t *testing.T, data []byte, retrieval bool) {
		if len(data) > 1<<20 {
			t.Skip()
		}
		if retrieval {
			id, err := c.ParseRetrievalID(vero.OpSignNewCertificate, data)
			if err == nil && id != retrievalID {
				t.Fatalf("ParseRetrievalID = %q, but the service signed %q", id, retrievalID)
			}
			return
		}
		cert, err := c.ParseCertificate(data)
		if err == nil && !bytes.Equal(cert.Raw, issued.Raw) {
			t.Fatalf("ParseCertificate = %s, but the service signed %s", cert.Subject, issued.Subject)
		}
	})
}
