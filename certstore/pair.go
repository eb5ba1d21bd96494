package certstore

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// A Pair is a certificate, the chain up to (not necessarily including) its
// root, and the private key of the certificate.
type Pair struct {
	Cert  *x509.Certificate
	Chain []*x509.Certificate
	Key   crypto.Signer
}

// ID names the pair in the store: the first 16 hex digits of the SHA-256 of
// the certificate.
func (p *Pair) ID() string {
	sum := sha256.Sum256(p.Cert.Raw)
	return hex.EncodeToString(sum[:8])
}

// Subject returns the certificate subject in RFC 4514 form.
func (p *Pair) Subject() string { return p.Cert.Subject.String() }

// TLSCertificate returns the pair as a tls.Certificate with its chain.
func (p *Pair) TLSCertificate() *tls.Certificate {
	c := &tls.Certificate{PrivateKey: p.Key, Leaf: p.Cert}
	c.Certificate = append(c.Certificate, p.Cert.Raw)
	for _, ca := range p.Chain {
		c.Certificate = append(c.Certificate, ca.Raw)
	}
	return c
}

// CertPEM returns the certificate followed by its chain, PEM encoded.
func (p *Pair) CertPEM() []byte {
	var b bytes.Buffer
	pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: p.Cert.Raw})
	for _, ca := range p.Chain {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})
	}
	return b.Bytes()
}

// Check verifies that the key belongs to the certificate and that the
// certificate is valid at now. It reports every problem at once: an error
// matching ErrKeyMismatch and/or an [*ExpiryError].
func (p *Pair) Check(now time.Time) error {
	var errs []error
	if !KeyMatches(p.Cert, p.Key) {
		errs = append(errs, fmt.Errorf("%w: certificate %q (serial %s)", ErrKeyMismatch, p.Subject(), p.Cert.SerialNumber.Text(16)))
	}
	if err := CheckValidity(p.Cert, now); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// CheckValidity returns an [*ExpiryError] if cert is not valid at now.
func CheckValidity(cert *x509.Certificate, now time.Time) error {
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return &ExpiryError{Subject: cert.Subject.String(), NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, Now: now}
	}
	return nil
}

// KeyMatches reports whether key is the private key of cert.
func KeyMatches(cert *x509.Certificate, key crypto.Signer) bool {
	if cert == nil || key == nil {
		return false
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(cert.PublicKey)
}

// ParsePEM reads certificates and one private key from PEM data (any order,
// several files concatenated). The leaf is the certificate whose public key
// matches the key; the other certificates form the chain. An encrypted key
// ("ENCRYPTED PRIVATE KEY", PBES2) is decrypted with password. If no
// certificate matches the key, the first certificate is returned as the
// leaf, and Check reports ErrKeyMismatch.
func ParsePEM(data []byte, password []byte) (*Pair, error) {
	var (
		certs []*x509.Certificate
		key   crypto.Signer
	)
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch {
		case b.Type == "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("certstore: parsing certificate %d: %w", len(certs)+1, err)
			}
			certs = append(certs, c)
		case b.Type == pemEncryptedKey || strings.HasSuffix(b.Type, "PRIVATE KEY"):
			if key != nil {
				return nil, errors.New("certstore: more than one private key in the input")
			}
			var err error
			if b.Type == pemEncryptedKey {
				if len(password) == 0 {
					return nil, fmt.Errorf("%w: the private key is encrypted and no password was given", ErrWrongPassphrase)
				}
				key, err = decryptPKCS8(b.Bytes, password)
			} else if _, legacy := b.Headers["DEK-Info"]; legacy {
				err = errors.New("certstore: legacy PEM encryption (DEK-Info) is not supported; convert with openssl pkcs8 -topk8")
			} else {
				key, err = parsePlainKey(b)
			}
			if err != nil {
				return nil, err
			}
		}
	}
	if len(certs) == 0 {
		return nil, ErrNoCertificate
	}
	if key == nil {
		return nil, ErrNoKey
	}
	return assemble(certs, key), nil
}

func assemble(certs []*x509.Certificate, key crypto.Signer) *Pair {
	leaf := 0
	for i, c := range certs {
		if KeyMatches(c, key) {
			leaf = i
			break
		}
	}
	p := &Pair{Cert: certs[leaf], Key: key}
	for i, c := range certs {
		if i != leaf {
			p.Chain = append(p.Chain, c)
		}
	}
	return p
}

// ParsePKCS12 reads a PKCS#12 (.p12/.pfx) file, including the AES-256 /
// PBKDF2 files that OpenSSL 3 writes by default. A wrong password gives
// ErrWrongPassphrase.
func ParsePKCS12(data []byte, password string) (*Pair, error) {
	key, cert, cas, err := pkcs12.DecodeChain(data, password)
	if errors.Is(err, pkcs12.ErrIncorrectPassword) {
		return nil, fmt.Errorf("%w: the PKCS#12 password does not decrypt the file", ErrWrongPassphrase)
	}
	if err != nil {
		return nil, fmt.Errorf("certstore: reading PKCS#12: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok || signer == nil {
		return nil, ErrNoKey
	}
	if cert == nil {
		return nil, ErrNoCertificate
	}
	return assemble(append([]*x509.Certificate{cert}, cas...), signer), nil
}

// IsPKCS12 reports whether data looks like DER (a PKCS#12 PFX is an ASN.1
// SEQUENCE) rather than PEM text.
func IsPKCS12(data []byte) bool {
	if len(data) < 4 || data[0] != 0x30 || bytes.Contains(data, []byte("-----BEGIN")) {
		return false
	}
	return data[1]&0x80 != 0 || int(data[1]) == len(data)-2 // long or exact short length
}

// ParseCertificatesPEM returns every CERTIFICATE block of data, in order.
func ParseCertificatesPEM(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certstore: parsing certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, ErrNoCertificate
	}
	return certs, nil
}

// NewPair pairs key with certs: the certificate matching the key is the
// leaf (the first one if none does; Check then reports ErrKeyMismatch),
// the others the chain.
func NewPair(certs []*x509.Certificate, key crypto.Signer) *Pair { return assemble(certs, key) }
