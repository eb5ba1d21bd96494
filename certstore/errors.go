package certstore

import (
	"errors"
	"fmt"
	"time"
)

var (
	// ErrKeyMismatch reports a private key that does not belong to the
	// certificate it is paired with.
	ErrKeyMismatch = errors.New("certstore: private key does not match the certificate")
	// ErrWrongPassphrase reports a passphrase or PKCS#12 password that does not
	// decrypt the key or file.
	ErrWrongPassphrase = errors.New("certstore: wrong passphrase")
	// ErrPlainKey reports an unencrypted private key in the store when the
	// store does not allow plain keys (--insecure-plain-key).
	ErrPlainKey = errors.New("certstore: private key on disk is not encrypted")
	// ErrNoPassphrase reports a store that has no passphrase to encrypt or
	// decrypt keys with.
	ErrNoPassphrase = errors.New("certstore: no key passphrase configured (ISOGATE_KEY_PASSPHRASE or a passphrase file)")
	// ErrNotFound reports a certificate, key or request that the store does not hold.
	ErrNotFound = errors.New("certstore: not found")
	// ErrExpired matches (with errors.Is) every [ExpiryError] whose certificate
	// has expired.
	ErrExpired = errors.New("certstore: certificate expired")
	// ErrNotYetValid matches (with errors.Is) every [ExpiryError] whose
	// certificate is not valid yet.
	ErrNotYetValid = errors.New("certstore: certificate not yet valid")
	// ErrNoCertificate reports input that holds no certificate.
	ErrNoCertificate = errors.New("certstore: no certificate found")
	// ErrNoKey reports input that holds no private key.
	ErrNoKey = errors.New("certstore: no private key found")
)

// An ExpiryError reports a certificate used outside its validity period,
// like x509.CertificateInvalidError but with the dates.
type ExpiryError struct {
	Subject   string
	NotBefore time.Time
	NotAfter  time.Time
	Now       time.Time
}

// Expired reports whether the certificate's validity ended before Now.
func (e *ExpiryError) Expired() bool { return e.Now.After(e.NotAfter) }

func (e *ExpiryError) Error() string {
	if e.Expired() {
		return fmt.Sprintf("certstore: certificate %q expired on %s (now %s)",
			e.Subject, e.NotAfter.UTC().Format(time.RFC3339), e.Now.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("certstore: certificate %q is not valid until %s (now %s)",
		e.Subject, e.NotBefore.UTC().Format(time.RFC3339), e.Now.UTC().Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrExpired) and errors.Is(err, ErrNotYetValid) work.
func (e *ExpiryError) Is(target error) bool {
	switch target {
	case ErrExpired:
		return e.Expired()
	case ErrNotYetValid:
		return !e.Expired()
	}
	return false
}
