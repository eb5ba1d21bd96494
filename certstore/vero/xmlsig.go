package vero

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"
)

// ErrSignature reports an XML signature that is missing, malformed, made
// by an untrusted certificate or does not verify.
var ErrSignature = errors.New("vero: XML signature")

// SignElement adds an enveloped XML signature to el (as its last child):
// exclusive C14N, RSA-SHA256 (ECDSA-SHA256 for an EC key), SHA-256
// digest, Reference URI="" (the element, as the application document Vero
// signs before wrapping it in SOAP), KeyInfo carrying certs (leaf first).
// el must be namespace-complete on its own (declare its prefixes on it).
// Do not re-indent el afterwards: that breaks the signature.
func SignElement(el *etree.Element, key crypto.Signer, certs []*x509.Certificate) error {
	raw := make([][]byte, len(certs))
	for i, c := range certs {
		raw[i] = c.Raw
	}
	ctx, err := dsig.NewSigningContext(key, raw)
	if err != nil {
		return err
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	ctx.Prefix = "ds"
	ctx.Hash = crypto.SHA256
	sig, err := ctx.ConstructSignature(el, true)
	if err != nil {
		return fmt.Errorf("signing %s: %w", el.Tag, err)
	}
	el.AddChild(sig)
	return nil
}

// VerifyElement verifies the enveloped signature of el against trusted:
// the certificate in KeyInfo must chain to trusted at now, and the
// signature must cover el. It returns the signed element as verified
// (use it, not el: content outside the signature is dropped) and the
// signer's certificate.
func VerifyElement(el *etree.Element, trusted *x509.CertPool, now time.Time) (*etree.Element, *x509.Certificate, error) {
	// Make el a document of its own, with the namespaces it inherits.
	nsctx, err := etreeutils.NSBuildParentContext(el)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrSignature, err)
	}
	detached, err := etreeutils.NSDetatch(nsctx, el)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrSignature, err)
	}
	// goxmldsig cannot verify an in-memory tree built by hand: round-trip.
	doc := etree.NewDocument()
	doc.SetRoot(detached)
	b, err := doc.WriteToBytes()
	if err != nil {
		return nil, nil, err
	}
	doc = etree.NewDocument()
	if err := doc.ReadFromBytes(b); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrSignature, err)
	}
	root := doc.Root()

	var sigs []*etree.Element
	for _, c := range root.ChildElements() {
		if c.Tag == "Signature" && c.NamespaceURI() == dsig.Namespace {
			sigs = append(sigs, c)
		}
	}
	if len(sigs) != 1 {
		return nil, nil, fmt.Errorf("%w: %s has %d enveloped signatures, want 1", ErrSignature, root.Tag, len(sigs))
	}
	var certs []*x509.Certificate
	for _, ki := range sigs[0].ChildElements() {
		if ki.Tag != "KeyInfo" {
			continue
		}
		for _, xd := range ki.ChildElements() {
			if xd.Tag != "X509Data" {
				continue
			}
			for _, xc := range xd.ChildElements() {
				if xc.Tag != "X509Certificate" {
					continue
				}
				der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(xc.Text()), ""))
				if err != nil {
					return nil, nil, fmt.Errorf("%w: KeyInfo certificate is not base64", ErrSignature)
				}
				c, err := x509.ParseCertificate(der)
				if err != nil {
					return nil, nil, fmt.Errorf("%w: KeyInfo certificate: %w", ErrSignature, err)
				}
				certs = append(certs, c)
			}
		}
	}
	if len(certs) == 0 {
		return nil, nil, fmt.Errorf("%w: no X509Certificate in KeyInfo", ErrSignature)
	}
	signer := certs[0]
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := signer.Verify(x509.VerifyOptions{Roots: trusted, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, nil, fmt.Errorf("%w: signer %q is not trusted: %w", ErrSignature, signer.Subject, err)
	}
	vctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{signer}})
	vctx.Clock = dsig.NewFakeClockAt(now)
	verified, err := vctx.Validate(root)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s by %q does not verify: %w", ErrSignature, root.Tag, signer.Subject, err)
	}
	return verified, signer, nil
}

// serialize writes el as a standalone document, unindented.
func serialize(el *etree.Element) ([]byte, error) {
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	doc.SetRoot(el)
	var buf bytes.Buffer
	if _, err := doc.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
