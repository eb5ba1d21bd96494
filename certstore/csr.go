package certstore

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// A KeyAlgorithm selects the key a CSR is made for.
type KeyAlgorithm string

const (
	RSA2048   KeyAlgorithm = "rsa2048" // default; what Vero documents
	RSA3072   KeyAlgorithm = "rsa3072"
	RSA4096   KeyAlgorithm = "rsa4096"
	ECDSAP256 KeyAlgorithm = "ecdsa-p256"
)

// GenerateKey creates a new private key; the zero KeyAlgorithm is RSA2048.
func GenerateKey(alg KeyAlgorithm) (crypto.Signer, error) {
	switch alg {
	case "", RSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case RSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	case RSA4096:
		return rsa.GenerateKey(rand.Reader, 4096)
	case ECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	return nil, fmt.Errorf("certstore: unknown key algorithm %q (want rsa2048, rsa3072, rsa4096 or ecdsa-p256)", alg)
}

var subjectOIDs = map[string]asn1.ObjectIdentifier{
	"CN":           {2, 5, 4, 3},
	"SERIALNUMBER": {2, 5, 4, 5},
	"C":            {2, 5, 4, 6},
	"L":            {2, 5, 4, 7},
	"ST":           {2, 5, 4, 8},
	"STREET":       {2, 5, 4, 9},
	"O":            {2, 5, 4, 10},
	"OU":           {2, 5, 4, 11},
}

// ParseSubject parses a distinguished name in RFC 4514 form such as
// "CN=1234567-8,O=Example Oy,C=FI" ("\," escapes a comma). As in RFC 4514
// the string lists the attributes last-first: the CSR holds C, O, CN.
func ParseSubject(s string) (pkix.Name, error) {
	var (
		name  pkix.Name // returned on error
		parts []string
		cur   strings.Builder
	)
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case s[i] == ',':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(s[i])
		}
	}
	parts = append(parts, cur.String())
	var rdn pkix.RDNSequence
	for _, p := range parts {
		k, v, ok := strings.Cut(p, "=")
		k, v = strings.ToUpper(strings.TrimSpace(k)), strings.TrimSpace(v)
		if !ok || v == "" {
			return name, fmt.Errorf("certstore: subject %q: %q is not TYPE=value", s, p)
		}
		oid, known := subjectOIDs[k]
		if !known {
			return name, fmt.Errorf("certstore: subject %q: unknown attribute %q", s, k)
		}
		if k == "C" && len(v) != 2 {
			return name, fmt.Errorf("certstore: subject %q: country %q is not a two-letter code", s, v)
		}
		rdn = append(pkix.RDNSequence{{{Type: oid, Value: v}}}, rdn...)
	}
	return nameWithOrder(rdn), nil
}

// nameWithOrder returns a pkix.Name whose ExtraNames carry the attributes
// in the given order (pkix.Name otherwise reorders them).
func nameWithOrder(rdn pkix.RDNSequence) pkix.Name {
	var n pkix.Name
	n.FillFromRDNSequence(&rdn)
	for _, set := range rdn {
		n.ExtraNames = append(n.ExtraNames, set...)
	}
	return n
}

// CreateCSR returns a DER PKCS#10 request for key with subject, signed
// with SHA-256.
func CreateCSR(key crypto.Signer, subject pkix.Name) ([]byte, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: subject}, key)
	if err != nil {
		return nil, fmt.Errorf("creating CSR for %s: %w", subject, err)
	}
	return der, nil
}

// ErrRequestUnderway reports a pending certificate request that a new CSR
// would orphan.
var ErrRequestUnderway = errors.New("certstore: a certificate request is under way")

const pendingRequestFile = "request.json"

func (s *Store) pendingDir(ref Ref) string { return filepath.Join(s.RefDir(ref), "pending") }

// NewPending generates a key (alg) and a CSR for subject and keeps them as
// the pending key/CSR of ref, replacing an earlier pending key unless a
// request using it is under way (ErrRequestUnderway). The caller holds
// Lock(ref). It returns the DER CSR.
func (s *Store) NewPending(ref Ref, alg KeyAlgorithm, subject pkix.Name) ([]byte, error) {
	if err := ref.Validate(); err != nil {
		return nil, err
	}
	if _, err := s.ReadPending(ref, pendingRequestFile); err == nil {
		return nil, fmt.Errorf("%w for %s (see %s)", ErrRequestUnderway, ref, filepath.Join(s.pendingDir(ref), pendingRequestFile))
	}
	key, err := GenerateKey(alg)
	if err != nil {
		return nil, err
	}
	csr, err := CreateCSR(key, subject)
	if err != nil {
		return nil, err
	}
	if err := s.ClearPending(ref); err != nil {
		return nil, err
	}
	keyPEM, err := s.marshalKey(key)
	if err != nil {
		return nil, err
	}
	if err := s.WritePending(ref, "key.pem", keyPEM); err != nil {
		return nil, err
	}
	if err := s.WritePending(ref, "csr.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr})); err != nil {
		return nil, err
	}
	return csr, nil
}

// PendingKey returns the pending private key of ref.
func (s *Store) PendingKey(ref Ref) (crypto.Signer, error) {
	path := filepath.Join(s.pendingDir(ref), "key.pem")
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s has no pending key", ErrNotFound, ref)
	}
	return s.readKey(path)
}

// PendingCSR returns the pending CSR of ref.
func (s *Store) PendingCSR(ref Ref) (*x509.CertificateRequest, error) {
	b, err := s.ReadPending(ref, "csr.pem")
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("certstore: pending CSR of %s is not PEM", ref)
	}
	return x509.ParseCertificateRequest(blk.Bytes)
}

// WritePending atomically writes a file (name may contain one directory
// level, e.g. "responses/001-sign.xml") into the pending area of ref.
func (s *Store) WritePending(ref Ref, name string, data []byte) error {
	if err := ref.Validate(); err != nil {
		return err
	}
	if !filepath.IsLocal(name) {
		return fmt.Errorf("certstore: bad pending file name %q", name)
	}
	return writeFileAtomic(filepath.Join(s.pendingDir(ref), name), data)
}

// ReadPending reads a file of the pending area; a missing file matches ErrNotFound.
func (s *Store) ReadPending(ref Ref, name string) ([]byte, error) {
	if !filepath.IsLocal(name) {
		return nil, fmt.Errorf("certstore: bad pending file name %q", name)
	}
	b, err := os.ReadFile(filepath.Join(s.pendingDir(ref), name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s has no pending %s", ErrNotFound, ref, name)
	}
	return b, err
}

// ClearPending removes the pending key, CSR and request state of ref.
func (s *Store) ClearPending(ref Ref) error {
	dir := s.pendingDir(ref)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing %s: %w", dir, err)
	}
	return syncDir(filepath.Dir(dir))
}

// RemovePending removes one file of the pending area (a missing file is
// not an error).
func (s *Store) RemovePending(ref Ref, name string) error {
	if !filepath.IsLocal(name) {
		return fmt.Errorf("certstore: bad pending file name %q", name)
	}
	path := filepath.Join(s.pendingDir(ref), name)
	err := os.Remove(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}
