package certsim

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/beevik/etree"

	"github.com/isogate/isogate/certstore/vero"
)

// Error codes the simulator answers with (Result/ErrorInfo/ErrorCode).
const (
	CodeInvalidTransfer  = "PKI001" // unknown transfer id, wrong password or customer
	CodeTransferUsed     = "PKI002" // transfer id already used
	CodeInvalidRequest   = "PKI003" // malformed request or CSR
	CodeInvalidSignature = "PKI004" // renewal signature missing or invalid
	CodeUnknownRetrieval = "PKI005" // unknown retrieval id
	CodeNotReady         = "PKI006" // certificate not yet available
)

// Config configures a Server.
type Config struct {
	// CA issues the client certificates, the HTTPS server certificate and
	// the response-signing certificate. Default: a new CA. A renewal must be
	// signed by a valid certificate of this CA for the same customer.
	CA *CA
	// SignerKey signs responses (RSA-SHA256). Default: a new RSA 2048 key.
	SignerKey crypto.Signer
	// TLSKey is the HTTPS server key. Default: a new ECDSA P-256 key.
	TLSKey crypto.Signer
	// Lifetime of issued certificates. Default: two years.
	Lifetime time.Duration
	// ReadyAfter delays a certificate's availability after its request.
	ReadyAfter time.Duration
	// Now is the clock. Default: time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// Mangle, if set, alters what is certified (fault injection for tests:
	// a wrong subject or key).
	Mangle func(subject *pkix.Name, pub *crypto.PublicKey)
}

type transfer struct {
	customerID, password string
	used                 bool
}

type retrieval struct {
	customerID string
	cert       *x509.Certificate
	ready      time.Time
}

// A Server simulates the Vero certificate service: the same SOAP over
// HTTPS, certificates from its own CA, one-time transfer ids, signed
// responses, verified renewal signatures. Safe for concurrent use.
type Server struct {
	cfg    Config
	signer *x509.Certificate

	mu         sync.Mutex
	transfers  map[string]*transfer
	retrievals map[string]*retrieval
	calls      map[string]int
	drops      map[string]int
	lastReq    map[string][]byte
}

// New returns a simulator for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Lifetime == 0 {
		cfg.Lifetime = 2 * 365 * 24 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	now := cfg.Now()
	if cfg.CA == nil {
		ca, err := NewCA("certsim CA", nil, now.Add(-time.Hour), 20*365*24*time.Hour)
		if err != nil {
			return nil, err
		}
		cfg.CA = ca
	}
	if cfg.SignerKey == nil {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		cfg.SignerKey = k
	}
	signer, err := cfg.CA.Issue(Template{Subject: pkix.Name{CommonName: "certsim response signer", Organization: []string{"isogate certsim"}},
		PublicKey: cfg.SignerKey.Public(), NotBefore: now.Add(-time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour)})
	if err != nil {
		return nil, err
	}
	return &Server{cfg: cfg, signer: signer, transfers: map[string]*transfer{}, retrievals: map[string]*retrieval{},
		calls: map[string]int{}, drops: map[string]int{}, lastReq: map[string][]byte{}}, nil
}

// CA returns the simulator's CA: clients trust it for HTTPS, response
// signatures and issued certificates.
func (s *Server) CA() *CA { return s.cfg.CA }

// AddTransfer registers one-time transfer credentials, as the e-service
// hands them out.
func (s *Server) AddTransfer(customerID, transferID, password string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.transfers[transferID] = &transfer{customerID: customerID, password: password}
}

// Calls returns how many requests of op (e.g. vero.OpGetCertificate) arrived.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// DropResponses makes the next n calls of op be processed but answered by
// closing the connection: the answer is lost.
func (s *Server) DropResponses(op string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drops[op] = n
}

// LastRequest returns the body of the last request of op.
func (s *Server) LastRequest(op string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastReq[op]
}

// Issue issues a client certificate outside the protocol (for example one
// about to expire, to test renewal).
func (s *Server) Issue(subject pkix.Name, pub crypto.PublicKey, notBefore, notAfter time.Time) (*x509.Certificate, error) {
	return s.cfg.CA.Issue(Template{Subject: subject, PublicKey: pub, NotBefore: notBefore, NotAfter: notAfter})
}

var ops = map[string]string{
	"SignNewCertificateRequest": vero.OpSignNewCertificate,
	"GetCertificateRequest":     vero.OpGetCertificate,
	"RenewCertificateRequest":   vero.OpRenewCertificate,
}

// ServeHTTP answers one SOAP request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	el, err := vero.ParseBody(body)
	if err != nil {
		s.fault(w, "soapenv:Client", err.Error())
		return
	}
	op, ok := ops[el.Tag]
	if !ok || el.NamespaceURI() != vero.Namespace {
		s.fault(w, "soapenv:Client", "unknown operation "+el.Tag)
		return
	}
	s.mu.Lock()
	s.calls[op]++
	s.lastReq[op] = body
	s.mu.Unlock()

	var fields []vero.Field
	var code, msg string
	switch op {
	case vero.OpSignNewCertificate:
		fields, code, msg = s.signNew(el)
	case vero.OpGetCertificate:
		fields, code, msg = s.get(el)
	case vero.OpRenewCertificate:
		fields, code, msg = s.renew(el)
	}
	s.cfg.Logger.Info("certsim request", "op", op, "code", code, "message", msg)
	payload := vero.NewPayload(op, "Response", fields)
	payload.AddChild(vero.ResultFields(code, msg))
	if err := vero.SignElement(payload, s.cfg.SignerKey, []*x509.Certificate{s.signer}); err != nil {
		s.fault(w, "soapenv:Server", err.Error())
		return
	}
	out, err := vero.Envelope(payload)
	if err != nil {
		s.fault(w, "soapenv:Server", err.Error())
		return
	}
	s.mu.Lock()
	drop := s.drops[op] > 0
	if drop {
		s.drops[op]--
	}
	s.mu.Unlock()
	if drop {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler) // closes the stream without an answer
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Write(out)
}

func (s *Server) fault(w http.ResponseWriter, code, msg string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	w.Write(vero.Fault(code, msg))
}

func (s *Server) parseCSR(el *etree.Element, customerID string) (*x509.CertificateRequest, string) {
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(vero.ChildText(el, "CertificateRequest")), ""))
	if err != nil {
		return nil, "CertificateRequest is not base64"
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, "CertificateRequest is not a PKCS#10 request: " + err.Error()
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, "CertificateRequest signature: " + err.Error()
	}
	if csr.Subject.CommonName != customerID {
		return nil, fmt.Sprintf("CSR CN %q is not the customer id %q", csr.Subject.CommonName, customerID)
	}
	return csr, ""
}

func (s *Server) signNew(el *etree.Element) ([]vero.Field, string, string) {
	cust, tid, pw := vero.ChildText(el, "CustomerId"), vero.ChildText(el, "TransferId"), vero.ChildText(el, "TransferPassword")
	s.mu.Lock()
	t := s.transfers[tid]
	switch {
	case t == nil || t.customerID != cust || t.password != pw:
		s.mu.Unlock()
		return nil, CodeInvalidTransfer, "invalid transfer id, password or customer id"
	case t.used:
		s.mu.Unlock()
		return nil, CodeTransferUsed, "transfer id " + tid + " has already been used"
	}
	t.used = true // one-time, even if the rest fails
	s.mu.Unlock()
	csr, msg := s.parseCSR(el, cust)
	if csr == nil {
		return nil, CodeInvalidRequest, msg
	}
	return s.issueFor(cust, csr)
}

func (s *Server) renew(el *etree.Element) ([]vero.Field, string, string) {
	verified, signer, err := vero.VerifyElement(el, s.cfg.CA.Pool(), s.cfg.Now())
	if err != nil {
		return nil, CodeInvalidSignature, err.Error()
	}
	// VerifyElement checked that the signer chains to our CA and is valid
	// now; it must also be the customer's own certificate.
	cust := vero.ChildText(verified, "CustomerId")
	if signer.Subject.CommonName != cust {
		return nil, CodeInvalidSignature, fmt.Sprintf("request signed by %q, not by a certificate issued to %q", signer.Subject, cust)
	}
	csr, msg := s.parseCSR(verified, cust)
	if csr == nil {
		return nil, CodeInvalidRequest, msg
	}
	return s.issueFor(cust, csr)
}

func (s *Server) issueFor(cust string, csr *x509.CertificateRequest) ([]vero.Field, string, string) {
	now := s.cfg.Now()
	subject, pub := csr.Subject, crypto.PublicKey(csr.PublicKey)
	if s.cfg.Mangle != nil {
		s.cfg.Mangle(&subject, &pub)
	}
	cert, err := s.Issue(subject, pub, now.Add(-time.Minute), now.Add(s.cfg.Lifetime))
	if err != nil {
		return nil, CodeInvalidRequest, err.Error()
	}
	var b [16]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:]) // 32 characters
	s.mu.Lock()
	s.retrievals[id] = &retrieval{customerID: cust, cert: cert, ready: now.Add(s.cfg.ReadyAfter)}
	s.mu.Unlock()
	return []vero.Field{{Name: "RetrievalId", Value: id}}, "", ""
}

func (s *Server) get(el *etree.Element) ([]vero.Field, string, string) {
	cust, id := vero.ChildText(el, "CustomerId"), vero.ChildText(el, "RetrievalId")
	s.mu.Lock()
	r := s.retrievals[id]
	s.mu.Unlock()
	if r == nil || r.customerID != cust {
		return nil, CodeUnknownRetrieval, "unknown retrieval id"
	}
	if s.cfg.Now().Before(r.ready) {
		return nil, CodeNotReady, "certificate not yet available; try again later"
	}
	return []vero.Field{{Name: "Certificate", Value: base64.StdEncoding.EncodeToString(r.cert.Raw)}}, "", ""
}

// Running is a simulator listening on HTTPS.
type Running struct {
	URL  string
	srv  *http.Server
	done chan error
}

// Start serves s over HTTPS on addr ("127.0.0.1:0" for a free port) with a
// server certificate from the CA for 127.0.0.1, ::1 and localhost.
func (s *Server) Start(addr string) (*Running, error) {
	key := s.cfg.TLSKey
	if key == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		key = k
	}
	now := s.cfg.Now()
	cert, err := s.cfg.CA.Issue(Template{Subject: pkix.Name{CommonName: "localhost"}, PublicKey: key.Public(),
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(5 * 365 * 24 * time.Hour), Server: true,
		DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12,
			Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw, s.cfg.CA.Cert.Raw}, PrivateKey: key}}},
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){}, // HTTP/1.1: SOAP, and Hijack for faults
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	return &Running{URL: "https://" + ln.Addr().String() + "/2017/10/CertificateServices", srv: srv, done: done}, nil
}

// Close stops the server and waits for it and its handlers.
func (r *Running) Close(ctx context.Context) error {
	err := r.srv.Shutdown(ctx)
	if serveErr := <-r.done; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	return err
}
