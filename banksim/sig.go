package banksim

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"strings"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// checkSignature verifies the enveloped XML signature of a pain.001: one
// ds:Signature child of the root element, one Reference with URI=""
// (the whole document, so nothing outside the signature is processed),
// verified with goxmldsig (RSA-SHA256 or ECDSA-SHA256, exclusive C14N).
// Over HTTPS the signing certificate (KeyInfo, or the peer's when KeyInfo
// has none) must be the TLS client's certificate, or another one of that
// client (the same subject: its certificate before a renewal) that chains
// to Config.ClientCAs; from folders it must chain to Config.ClientCAs.
// Certificates are checked at the real time, not the bank's clock. It
// returns nil when the signature holds.
func (b *Bank) checkSignature(data []byte, peer *x509.Certificate) *reason {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(data); err != nil || doc.Root() == nil {
		return &reason{"FF01", "not well-formed XML"}
	}
	root := doc.Root()
	var sigs []*etree.Element
	for _, c := range root.ChildElements() {
		if c.Tag == "Signature" && c.NamespaceURI() == dsig.Namespace {
			sigs = append(sigs, c)
		}
	}
	switch {
	case len(sigs) == 0:
		return &reason{"DS0A", "no enveloped XML signature (ds:Signature under the root element)"}
	case len(sigs) > 1:
		return &reason{"DS0B", "more than one enveloped signature"}
	}
	var refs []*etree.Element
	for _, si := range sigs[0].ChildElements() {
		if si.Tag == "SignedInfo" {
			for _, r := range si.ChildElements() {
				if r.Tag == "Reference" {
					refs = append(refs, r)
				}
			}
		}
	}
	if len(refs) != 1 || refs[0].SelectAttrValue("URI", "x") != "" {
		return &reason{"DS0B", `the signature must have one Reference with URI="" (the whole document)`}
	}
	var signer *x509.Certificate
	for _, ki := range sigs[0].ChildElements() {
		if ki.Tag != "KeyInfo" {
			continue
		}
		for _, xd := range ki.ChildElements() {
			for _, xc := range xd.ChildElements() {
				if xd.Tag != "X509Data" || xc.Tag != "X509Certificate" || signer != nil {
					continue
				}
				der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(xc.Text()), ""))
				if err != nil {
					return &reason{"DS0B", "KeyInfo certificate is not base64"}
				}
				if signer, err = x509.ParseCertificate(der); err != nil {
					return &reason{"DS0B", "KeyInfo certificate: " + err.Error()}
				}
			}
		}
	}
	// Certificates are checked at the real time, as the TLS handshake
	// checked the peer's: the bank's clock is simulated business time.
	now := time.Now()
	switch {
	case peer != nil && signer == nil:
		signer = peer
	case peer != nil && !bytes.Equal(signer.Raw, peer.Raw) && !bytes.Equal(signer.RawSubject, peer.RawSubject):
		return &reason{"DS0E", "signed with " + signer.Subject.String() + ", not with the TLS client certificate " + peer.Subject.String()}
	case peer != nil && !bytes.Equal(signer.Raw, peer.Raw):
		// Another certificate of the same client: the one it had before
		// a renewal, on a re-send (byte-identical, signature included).
		// Taken while it is valid and issued by a trusted CA.
		if why := b.trusted(signer, now); why != nil {
			return why
		}
	case peer == nil && signer == nil:
		return &reason{"DS0B", "no X509Certificate in KeyInfo"}
	case peer == nil:
		if why := b.trusted(signer, now); why != nil {
			return why
		}
	}
	vctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{signer}})
	vctx.Clock = dsig.NewFakeClockAt(now)
	if _, err := vctx.Validate(root); err != nil {
		return &reason{"DS0B", "signature does not verify: " + err.Error()}
	}
	return nil
}

// trusted checks that signer chains to Config.ClientCAs and is valid at now.
func (b *Bank) trusted(signer *x509.Certificate, now time.Time) *reason {
	if b.cfg.ClientCAs == nil {
		return &reason{"DS0E", "no trusted issuer configured for signatures"}
	}
	if _, err := signer.Verify(x509.VerifyOptions{Roots: b.cfg.ClientCAs, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return &reason{"DS0E", "signer not trusted: " + err.Error()}
	}
	return nil
}
