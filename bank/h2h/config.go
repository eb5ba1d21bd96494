package h2h

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Sign modes.
const (
	SignNone    = "none"    // upload documents as given
	SignXMLDSig = "xmldsig" // add an enveloped XML signature made with the certstore key
)

// Paths are the request paths of the bank's interface, relative to
// Config.BaseURL. Status must contain "{msgId}", replaced by the escaped
// MsgId.
type Paths struct {
	Submit  string // POST pain.001; default "/v1/payments"
	Status  string // GET pain.002; default "/v1/payments/{msgId}/status"
	Reports string // POST camt.060; default "/v1/reports"
	Health  string // GET; default "/v1/health"
}

// Config configures a [Client].
type Config struct {
	// BaseURL is the bank's https:// URL ("https://ekase.example.lv").
	// Required.
	BaseURL string
	// Paths default to banksim's (see [Paths]).
	Paths Paths
	// ContentType is sent with uploads and requested in answers.
	// Default "application/xml".
	ContentType string
	// Timeout bounds one request, from dialling to the last byte of the
	// answer. Default 30s.
	Timeout time.Duration
	// TLS is the client configuration, from certstore
	// (Source.ClientConfig): it must pin the server CA (RootCAs) and present
	// a client certificate. MinVersion below TLS 1.2 is refused; zero means
	// TLS 1.2. Required.
	//
	// Sessions are resumed (see DisableSessionResumption) per client
	// certificate: GetClientCertificate is also called with an empty
	// CertificateRequestInfo, before each handshake, to learn the
	// certificate it would present now (certstore's ignores the request),
	// so it must not depend on the request's fields or context. Without
	// it, Certificates[0] is that certificate. A ClientSessionCache in TLS
	// is used to hold the sessions, under keys prefixed with the
	// certificate's SHA-256 fingerprint (so it may be shared); without one
	// the client keeps its own.
	TLS *tls.Config
	// DisableSessionResumption makes every connection do a full TLS
	// handshake. By default a new connection (every upload) resumes a
	// session made with the client certificate that is live now, which
	// saves the handshake's signatures and certificate checks on both
	// sides; a renewed certificate gets a full handshake of its own first,
	// so the bank sees the certificate that was live when the connection
	// began, never one no longer served.
	DisableSessionResumption bool
	// Sign is SignNone (default) or SignXMLDSig.
	Sign string
	// Signer returns the certificate and key to sign with (the live
	// certstore pair: Source.Certificate). Required with SignXMLDSig.
	Signer func() (*tls.Certificate, error)
	// MaxResponseBytes caps one answer to a report request (a camt.053 can
	// be large). Default 256 MiB.
	MaxResponseBytes int64
	// MaxStatusBytes caps one answer to an upload, a status query or a
	// health check (a receipt, a pain.002: a pain.002 of a 10,000-payment
	// file is about 10 MB), so a broken or hostile bank cannot make every
	// status poll hold MaxResponseBytes. Default 32 MiB.
	MaxStatusBytes int64
}

// DefaultPaths are the paths banksim serves.
var DefaultPaths = Paths{
	Submit:  "/v1/payments",
	Status:  "/v1/payments/{msgId}/status",
	Reports: "/v1/reports",
	Health:  "/v1/health",
}

func (c *Config) setDefaults() {
	if c.Paths.Submit == "" {
		c.Paths.Submit = DefaultPaths.Submit
	}
	if c.Paths.Status == "" {
		c.Paths.Status = DefaultPaths.Status
	}
	if c.Paths.Reports == "" {
		c.Paths.Reports = DefaultPaths.Reports
	}
	if c.Paths.Health == "" {
		c.Paths.Health = DefaultPaths.Health
	}
	if c.ContentType == "" {
		c.ContentType = "application/xml"
	}
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Second
	}
	if c.Sign == "" {
		c.Sign = SignNone
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = 256 << 20
	}
	if c.MaxStatusBytes == 0 {
		c.MaxStatusBytes = 32 << 20
	}
}

// Validate reports every problem with c at once. Call it after defaults
// are applied (New does both).
func (c Config) Validate() error {
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf("h2h: "+format, a...)) }
	if c.BaseURL == "" {
		fail("base URL is required")
	} else if u, err := url.Parse(c.BaseURL); err != nil {
		fail("base URL: %v", err)
	} else if u.Scheme != "https" || u.Host == "" {
		fail("base URL %q: want https://host[:port][/prefix]", c.BaseURL)
	} else if u.RawQuery != "" || u.Fragment != "" {
		fail("base URL %q: no query or fragment allowed", c.BaseURL)
	}
	for _, p := range []struct{ name, path string }{
		{"submit", c.Paths.Submit}, {"status", c.Paths.Status}, {"reports", c.Paths.Reports}, {"health", c.Paths.Health},
	} {
		if !strings.HasPrefix(p.path, "/") {
			fail("%s path %q must start with /", p.name, p.path)
		}
	}
	if !strings.Contains(c.Paths.Status, "{msgId}") {
		fail("status path %q must contain {msgId}", c.Paths.Status)
	}
	if c.Timeout < 0 {
		fail("timeout %v is negative", c.Timeout)
	}
	if c.MaxResponseBytes < 0 || c.MaxStatusBytes < 0 {
		fail("max response bytes %d / max status bytes %d: negative", c.MaxResponseBytes, c.MaxStatusBytes)
	}
	switch {
	case c.TLS == nil:
		fail("TLS configuration is required (certstore Source.ClientConfig)")
	default:
		if c.TLS.InsecureSkipVerify {
			fail("TLS InsecureSkipVerify is not allowed: pin the bank's CA")
		}
		if c.TLS.RootCAs == nil {
			fail("TLS RootCAs must pin the bank's server CA")
		}
		if c.TLS.MinVersion != 0 && c.TLS.MinVersion < tls.VersionTLS12 {
			fail("TLS MinVersion %#x is below TLS 1.2", c.TLS.MinVersion)
		}
		if c.TLS.GetClientCertificate == nil && len(c.TLS.Certificates) == 0 {
			fail("TLS configuration presents no client certificate")
		}
	}
	switch c.Sign {
	case SignNone:
	case SignXMLDSig:
		if c.Signer == nil {
			fail("sign %q needs a Signer (certstore Source.Certificate)", c.Sign)
		}
	default:
		fail("sign %q: want %q or %q", c.Sign, SignNone, SignXMLDSig)
	}
	return errors.Join(errs...)
}
