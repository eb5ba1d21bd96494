package vero

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/beevik/etree"

	"github.com/isogate/isogate/certstore"
)

// Config configures a Client.
type Config struct {
	// Endpoint of the service. Default: ProductionURL or TestURL by Environment.
	Endpoint string
	// Environment is "TEST" or "PRODUCTION" (the certificate's environment,
	// sent in every request). Use EnvironmentOf(ref.Env).
	Environment string
	// CustomerID is the business id (Y-tunnus), e.g. "1234567-8". Required.
	CustomerID string
	// CustomerName is the organisation name.
	CustomerName string
	// TrustedCAs verifies the service's response signatures and the
	// certificates it issues. Required.
	TrustedCAs *x509.CertPool
	// ServerCAs pins the HTTPS server's CA; nil uses the system roots.
	ServerCAs *x509.CertPool
	// HTTPClient overrides the HTTP client built from ServerCAs.
	HTTPClient *http.Client
	// Timeout bounds one call. Default: 60s.
	Timeout time.Duration
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// EnvironmentOf maps a store environment to the service's Environment value.
func EnvironmentOf(env string) string {
	if env == certstore.EnvProduction {
		return "PRODUCTION"
	}
	return "TEST"
}

func (c *Config) setDefaults() {
	if c.Endpoint == "" {
		c.Endpoint = TestURL
		if c.Environment == "PRODUCTION" {
			c.Endpoint = ProductionURL
		}
	}
	if c.Timeout == 0 {
		c.Timeout = 60 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports every problem with c.
func (c Config) Validate() error {
	var errs []error
	if c.Environment != "TEST" && c.Environment != "PRODUCTION" {
		errs = append(errs, fmt.Errorf("vero: Environment %q, want TEST or PRODUCTION", c.Environment))
	}
	if c.CustomerID == "" || len(c.CustomerID) > MaxCustomerID {
		errs = append(errs, fmt.Errorf("vero: CustomerID %q must have 1 to %d characters", c.CustomerID, MaxCustomerID))
	}
	if len(c.CustomerName) > MaxCustomerName {
		errs = append(errs, fmt.Errorf("vero: CustomerName has more than %d characters", MaxCustomerName))
	}
	if c.TrustedCAs == nil {
		errs = append(errs, errors.New("vero: TrustedCAs (the service's CA bundle) is required"))
	}
	if !strings.HasPrefix(c.Endpoint, "https://") {
		errs = append(errs, fmt.Errorf("vero: endpoint %q is not https", c.Endpoint))
	}
	return errors.Join(errs...)
}

// A Client speaks the certificate service's SOAP. Each call returns the raw
// response so that the caller can persist it before it is parsed
// (ParseRetrievalID, ParseCertificate).
type Client struct {
	cfg  Config
	http *http.Client
}

// NewClient returns a client for cfg.
func NewClient(cfg Config) (*Client, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{
			Transport: &http.Transport{
				TLSClientConfig:   &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: cfg.ServerCAs},
				ForceAttemptHTTP2: false,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return &Client{cfg: cfg, http: hc}, nil
}

// Config returns the client's configuration with defaults applied.
func (c *Client) Config() Config { return c.cfg }

var transferIDPattern = regexp.MustCompile(`^[A-Za-z0-9-]{1,32}$`)

// ValidateTransfer checks the form of transfer credentials (the service's
// limits: id ≤ 32, password ≤ 16 characters). The error never contains the
// password.
func ValidateTransfer(transferID, transferPassword string) error {
	var errs []error
	if !transferIDPattern.MatchString(transferID) {
		errs = append(errs, fmt.Errorf("vero: transfer id %q must be 1 to %d letters, digits or dashes", transferID, MaxTransferID))
	}
	if transferPassword == "" || len(transferPassword) > MaxTransferPassword {
		errs = append(errs, fmt.Errorf("vero: transfer password must have 1 to %d characters", MaxTransferPassword))
	}
	return errors.Join(errs...)
}

// SignNewCertificate requests a first certificate with one-time transfer
// credentials from the e-service. The password is sent and forgotten.
func (c *Client) SignNewCertificate(ctx context.Context, transferID, transferPassword string, csrDER []byte) ([]byte, error) {
	if err := ValidateTransfer(transferID, transferPassword); err != nil {
		return nil, err
	}
	payload := NewPayload(OpSignNewCertificate, "Request", []Field{
		{"Environment", c.cfg.Environment},
		{"CustomerId", c.cfg.CustomerID},
		{"CustomerName", c.cfg.CustomerName},
		{"TransferId", transferID},
		{"TransferPassword", transferPassword},
		{"CertificateRequest", base64.StdEncoding.EncodeToString(csrDER)},
	})
	return c.call(ctx, OpSignNewCertificate, payload)
}

// GetCertificate fetches the certificate of a retrieval id.
func (c *Client) GetCertificate(ctx context.Context, retrievalID string) ([]byte, error) {
	payload := NewPayload(OpGetCertificate, "Request", []Field{
		{"Environment", c.cfg.Environment},
		{"CustomerId", c.cfg.CustomerID},
		{"CustomerName", c.cfg.CustomerName},
		{"RetrievalId", retrievalID},
	})
	return c.call(ctx, OpGetCertificate, payload)
}

// RenewCertificate requests a new certificate for csrDER, the request
// signed with the current pair (enveloped signature, exclusive C14N,
// RSA-SHA256, carrying the current certificate).
func (c *Client) RenewCertificate(ctx context.Context, csrDER []byte, current *certstore.Pair) ([]byte, error) {
	payload, err := c.RenewPayload(csrDER, current)
	if err != nil {
		return nil, err
	}
	return c.call(ctx, OpRenewCertificate, payload)
}

// RenewPayload builds the signed RenewCertificateRequest element.
func (c *Client) RenewPayload(csrDER []byte, current *certstore.Pair) (*etree.Element, error) {
	payload := NewPayload(OpRenewCertificate, "Request", []Field{
		{"Environment", c.cfg.Environment},
		{"CustomerId", c.cfg.CustomerID},
		{"CustomerName", c.cfg.CustomerName},
		{"CertificateRequest", base64.StdEncoding.EncodeToString(csrDER)},
	})
	if err := SignElement(payload, current.Key, []*x509.Certificate{current.Cert}); err != nil {
		return nil, err
	}
	return payload, nil
}

func (c *Client) call(ctx context.Context, op string, payload *etree.Element) ([]byte, error) {
	body, err := Envelope(payload)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.Endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", `"`+op+`"`)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("calling %s at %s: %w", op, c.cfg.Endpoint, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s response: %w", op, err)
	}
	if len(raw) > maxResponse {
		return nil, fmt.Errorf("vero: %s response exceeds %d bytes", op, maxResponse)
	}
	if resp.StatusCode != http.StatusOK && !bytes.Contains(raw, []byte("Envelope")) {
		return nil, fmt.Errorf("vero: %s: HTTP %s", op, resp.Status)
	}
	return raw, nil
}

// verifiedPayload parses raw as the response of op and verifies its signature.
func (c *Client) verifiedPayload(op string, raw []byte) (*etree.Element, error) {
	el, err := ParseEnvelope(raw, elementName(op, "Response"))
	if err != nil {
		return nil, err
	}
	verified, _, err := VerifyElement(el, c.cfg.TrustedCAs, c.cfg.Now())
	if err != nil {
		return nil, fmt.Errorf("%s response: %w", op, err)
	}
	if err := resultOf(op, verified); err != nil {
		return nil, err
	}
	return verified, nil
}

// ParseRetrievalID verifies and parses a signNewCertificate or
// renewCertificate response.
func (c *Client) ParseRetrievalID(op string, raw []byte) (string, error) {
	el, err := c.verifiedPayload(op, raw)
	if err != nil {
		return "", err
	}
	id := childText(el, "RetrievalId")
	if id == "" || len(id) > MaxRetrievalID {
		return "", fmt.Errorf("vero: %s response has no valid RetrievalId (%q)", op, id)
	}
	return id, nil
}

// ParseCertificate verifies and parses a getCertificate response.
func (c *Client) ParseCertificate(raw []byte) (*x509.Certificate, error) {
	el, err := c.verifiedPayload(OpGetCertificate, raw)
	if err != nil {
		return nil, err
	}
	der, err := decodeBase64(childText(el, "Certificate"))
	if err != nil || len(der) == 0 {
		return nil, errors.New("vero: getCertificate response has no base64 Certificate")
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		// Some services wrap the certificate in PKCS#7; Vero sends DER X.509.
		return nil, fmt.Errorf("vero: parsing issued certificate: %w", err)
	}
	return cert, nil
}
