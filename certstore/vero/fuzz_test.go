package vero_test

import (
	"errors"
	"testing"

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
