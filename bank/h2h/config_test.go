package h2h

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"strings"
	"testing"

	"github.com/isogate/isogate/bank"
)

func validConfig() Config {
	return Config{
		BaseURL: "https://bank.example:8443",
		TLS: &tls.Config{RootCAs: x509.NewCertPool(), MinVersion: tls.VersionTLS12,
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &tls.Certificate{}, nil }},
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		name    string
		edit    func(*Config)
		wantErr []string // substrings; nil = valid
	}{
		{"defaults", func(*Config) {}, nil},
		{"xmldsig with signer", func(c *Config) {
			c.Sign = SignXMLDSig
			c.Signer = func() (*tls.Certificate, error) { return nil, nil }
		}, nil},
		{"no base URL, no TLS", func(c *Config) { c.BaseURL, c.TLS = "", nil }, []string{"base URL is required", "TLS configuration is required"}},
		{"plain http", func(c *Config) { c.BaseURL = "http://bank.example" }, []string{"want https://"}},
		{"TLS 1.0, no pin, skip verify", func(c *Config) {
			c.TLS.MinVersion, c.TLS.RootCAs, c.TLS.InsecureSkipVerify = tls.VersionTLS10, nil, true
		}, []string{"below TLS 1.2", "RootCAs must pin", "InsecureSkipVerify"}},
		{"no client certificate", func(c *Config) { c.TLS.GetClientCertificate = nil }, []string{"no client certificate"}},
		{"paths", func(c *Config) { c.Paths.Status, c.Paths.Submit = "/status", "payments" }, []string{"{msgId}", "must start with /"}},
		{"sign", func(c *Config) { c.Sign = "pgp" }, []string{`sign "pgp"`}},
		{"xmldsig without signer", func(c *Config) { c.Sign = SignXMLDSig }, []string{"needs a Signer"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.edit(&c)
			c.setDefaults()
			err := c.Validate()
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v, want it to mention %q", err, w)
				}
			}
		})
	}
	c := validConfig()
	c.setDefaults()
	if c.Paths != DefaultPaths || c.Timeout == 0 || c.ContentType != "application/xml" || c.Sign != SignNone {
		t.Errorf("defaults = %+v", c)
	}
}

// TestMapping pins the class of every answer per operation (the table in
// the package documentation).
func TestMapping(t *testing.T) {
	const ok = bank.Class(0)
	for _, tt := range []struct {
		code                   int
		submit, status, report bank.Class
	}{
		{http.StatusOK, ok, ok, ok},
		{http.StatusAccepted, ok, bank.Transient, bank.Transient},
		{http.StatusNoContent, ok, bank.Transient, ok},
		{http.StatusFound, bank.Permanent, bank.Permanent, bank.Permanent},
		{http.StatusBadRequest, bank.Permanent, bank.Permanent, bank.Permanent},
		{http.StatusUnauthorized, bank.Permanent, bank.Permanent, bank.Permanent},
		{http.StatusForbidden, bank.Permanent, bank.Permanent, bank.Permanent},
		{http.StatusNotFound, bank.Permanent, bank.UnknownToBank, bank.Permanent},
		{http.StatusRequestTimeout, bank.Transient, bank.Transient, bank.Transient},
		{http.StatusConflict, bank.Duplicate, bank.Permanent, bank.Permanent},
		{http.StatusRequestEntityTooLarge, bank.Permanent, bank.Permanent, bank.Permanent},
		{http.StatusUnsupportedMediaType, bank.Permanent, bank.Permanent, bank.Permanent},
		{http.StatusTooManyRequests, bank.Transient, bank.Transient, bank.Transient},
		{http.StatusInternalServerError, bank.OutcomeUnknown, bank.Transient, bank.Transient},
		{http.StatusBadGateway, bank.OutcomeUnknown, bank.Transient, bank.Transient},
		{http.StatusServiceUnavailable, bank.OutcomeUnknown, bank.Transient, bank.Transient},
		{http.StatusGatewayTimeout, bank.OutcomeUnknown, bank.Transient, bank.Transient},
	} {
		if got := submitClass(tt.code, true); got != tt.submit {
			t.Errorf("submitClass(%d, body sent) = %v, want %v", tt.code, got, tt.submit)
		}
		if want := tt.submit; tt.code >= 500 {
			if got := submitClass(tt.code, false); got != bank.Transient {
				t.Errorf("submitClass(%d, body not sent) = %v, want transient", tt.code, got)
			}
		} else if got := submitClass(tt.code, false); got != want {
			t.Errorf("submitClass(%d, body not sent) = %v, want %v", tt.code, got, want)
		}
		if got := statusClass(tt.code); got != tt.status {
			t.Errorf("statusClass(%d) = %v, want %v", tt.code, got, tt.status)
		}
		if got := reportsClass(tt.code); got != tt.report {
			t.Errorf("reportsClass(%d) = %v, want %v", tt.code, got, tt.report)
		}
	}
	for _, tt := range []struct {
		op   string
		sent bool
		want bank.Class
	}{
		{bank.OpSubmit, false, bank.Transient},
		{bank.OpSubmit, true, bank.OutcomeUnknown},
		{bank.OpStatus, false, bank.Transient},
		{bank.OpReports, true, bank.Transient},
		{bank.OpHealth, false, bank.Transient},
	} {
		if got := transportClass(tt.op, tt.sent); got != tt.want {
			t.Errorf("transportClass(%s, bodySent %v) = %v, want %v", tt.op, tt.sent, got, tt.want)
		}
	}
}
