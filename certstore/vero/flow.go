package vero

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/isogate/isogate/certstore"
)

// Request phases, persisted in the pending area's request.json.
const (
	// PhasePrepared: key and CSR saved, nothing sent.
	PhasePrepared = "prepared"
	// PhaseSent: the request was (maybe) sent; its outcome is known only
	// once a response is recorded.
	PhaseSent = "sent"
	// PhaseAwaitingCertificate: a RetrievalId is recorded; getCertificate next.
	PhaseAwaitingCertificate = "awaiting-certificate"
	// PhaseFetched: the certificate is fetched and verified; promotion next.
	PhaseFetched = "fetched"
)

// A Request is the persisted state of one certificate request. It never
// holds the transfer password.
type Request struct {
	Operation   string    `json:"operation"` // OpSignNewCertificate or OpRenewCertificate
	Phase       string    `json:"phase"`
	Environment string    `json:"environment"`
	CustomerID  string    `json:"customer_id"`
	TransferID  string    `json:"transfer_id,omitempty"`
	RetrievalID string    `json:"retrieval_id,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	SentAt      time.Time `json:"sent_at,omitzero"`
	// Response is the file (in the pending area) the answer of the call
	// under way is or will be recorded in.
	Response    string    `json:"response,omitempty"`
	Responses   []string  `json:"responses,omitempty"` // every recorded response, in order
	Attempts    int       `json:"attempts,omitempty"`  // failed attempts in a row
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
}

const requestFile = "request.json"

// Errors of the flow.
var (
	// ErrOutcomeUnknown: a signNewCertificate request was sent but no
	// answer was recorded; only the operator can send it again (the
	// transfer password is not kept).
	ErrOutcomeUnknown = errors.New("vero: outcome of the request is unknown")
	// ErrRenewalImpossible: the current certificate has expired; the
	// service renews only valid certificates. Enrol again.
	ErrRenewalImpossible = errors.New("vero: renewal impossible")
	// ErrSubjectMismatch: the issued certificate is not for the expected subject.
	ErrSubjectMismatch = errors.New("vero: issued certificate subject does not match")
	// ErrWrongOperation: a request of another kind is under way.
	ErrWrongOperation = errors.New("vero: another request is under way")
)

// A Flow runs the certificate service's enrolment and renewal for one Ref,
// persisting every step in the store's pending area so that a crash or a
// lost answer never wastes the one-time transfer credentials:
//
//   - the request state is written before each network call, and every raw
//     response before it is parsed;
//   - the RetrievalId is kept until the certificate is fetched, verified
//     (pending key, expected subject, chain to TrustedCAs) and promoted.
type Flow struct {
	Store  *certstore.Store
	Ref    certstore.Ref
	Client *Client
	// Subject of the CSR. Default: for enrolment CN=CustomerID,
	// O=CustomerName, C=FI; for renewal the current certificate's subject.
	// An issued certificate must carry the CSR's CN (and its O and C, if
	// it has them).
	Subject pkix.Name
	// KeyAlgorithm of new keys. Default: RSA 2048.
	KeyAlgorithm certstore.KeyAlgorithm
	// Activation of renewed certificates (not of a first enrolment, which
	// has nothing else to serve).
	Activation certstore.ActivationPolicy
	// Backoff after a failed attempt: Initial (default 1h) doubling up to
	// Max (default 24h), recorded in the request as NextAttempt.
	BackoffInitial, BackoffMax time.Duration
	Logger                     *slog.Logger
}

// A Result reports a certificate that became current.
type Result struct {
	Cert *x509.Certificate
	// ActivateAt is when it will be served, zero for at once.
	ActivateAt time.Time
}

func (f *Flow) subject() pkix.Name {
	if len(f.Subject.ToRDNSequence()) > 0 {
		return f.Subject
	}
	cfg := f.Client.Config()
	n := pkix.Name{CommonName: cfg.CustomerID, Country: []string{"FI"}}
	if cfg.CustomerName != "" {
		n.Organization = []string{cfg.CustomerName}
	}
	return n
}

func (f *Flow) logger() *slog.Logger {
	if f.Logger != nil {
		return f.Logger
	}
	return slog.Default()
}

// LoadRequest returns the request under way, or an error matching
// certstore.ErrNotFound.
func (f *Flow) LoadRequest() (*Request, error) {
	b, err := f.Store.ReadPending(f.Ref, requestFile)
	if err != nil {
		return nil, err
	}
	var r Request
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("reading request state of %s: %w", f.Ref, err)
	}
	return &r, nil
}

func (f *Flow) save(r *Request) error {
	r.UpdatedAt = f.Store.Now().UTC()
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return f.Store.WritePending(f.Ref, requestFile, append(b, '\n'))
}

// Enroll gets a first certificate with the one-time transfer credentials
// from the e-service. If a signNewCertificate request is already under way
// it continues it: with a recorded RetrievalId nothing is sent again.
func (f *Flow) Enroll(ctx context.Context, transferID, transferPassword string) (*Result, error) {
	if err := ValidateTransfer(transferID, transferPassword); err != nil {
		return nil, err
	}
	unlock, err := f.Store.Lock(f.Ref)
	if err != nil {
		return nil, err
	}
	defer unlock()
	req, err := f.LoadRequest()
	switch {
	case errors.Is(err, certstore.ErrNotFound):
		if _, err := f.Store.NewPending(f.Ref, f.KeyAlgorithm, f.subject()); err != nil {
			return nil, err
		}
		now := f.Store.Now().UTC()
		req = &Request{Operation: OpSignNewCertificate, Phase: PhasePrepared, TransferID: transferID,
			Environment: f.Client.cfg.Environment, CustomerID: f.Client.cfg.CustomerID, CreatedAt: now}
		if err := f.save(req); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	case req.Operation != OpSignNewCertificate:
		return nil, fmt.Errorf("%w: %s of %s is in phase %s (isogate cert renew continues it)", ErrWrongOperation, req.Operation, f.Ref, req.Phase)
	case req.Phase == PhasePrepared || req.Phase == PhaseSent:
		if req.TransferID != transferID {
			return nil, fmt.Errorf("vero: a request with transfer id %s is under way for %s; continue it with the same transfer id", req.TransferID, f.Ref)
		}
	}
	return f.advance(ctx, req, transferPassword)
}

// Renew requests a new certificate signed with the current one, or
// continues a renewal under way. The current certificate must still be
// valid (ErrRenewalImpossible otherwise).
func (f *Flow) Renew(ctx context.Context) (*Result, error) {
	unlock, err := f.Store.Lock(f.Ref)
	if err != nil {
		return nil, err
	}
	defer unlock()
	req, err := f.LoadRequest()
	switch {
	case errors.Is(err, certstore.ErrNotFound):
		cur, err := f.Store.LoadCert(f.Ref, certstore.SlotCurrent)
		if err != nil {
			return nil, err
		}
		if err := certstore.CheckValidity(cur, f.Store.Now()); err != nil {
			return nil, fmt.Errorf("%w: %w; enrol a new certificate with transfer credentials (isogate cert enroll)", ErrRenewalImpossible, err)
		}
		subject := f.Subject
		if len(subject.ToRDNSequence()) == 0 {
			subject = cur.Subject // renew what is certified now
		}
		if _, err := f.Store.NewPending(f.Ref, f.KeyAlgorithm, subject); err != nil {
			return nil, err
		}
		req = &Request{Operation: OpRenewCertificate, Phase: PhasePrepared,
			Environment: f.Client.cfg.Environment, CustomerID: f.Client.cfg.CustomerID, CreatedAt: f.Store.Now().UTC()}
		if err := f.save(req); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	case req.Operation != OpRenewCertificate:
		return nil, fmt.Errorf("%w: %s of %s is in phase %s (isogate cert enroll continues it)", ErrWrongOperation, req.Operation, f.Ref, req.Phase)
	}
	return f.advance(ctx, req, "")
}

// Abandon closes the request under way (for example when its outcome is
// unknown and the transfer credentials have expired), so that a new one
// can start. The pending key, CSR and recorded responses stay until then.
func (f *Flow) Abandon() error {
	unlock, err := f.Store.Lock(f.Ref)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := f.LoadRequest(); err != nil {
		return err
	}
	return f.Store.RemovePending(f.Ref, requestFile)
}

// Resume continues the request under way without new credentials: it
// parses a recorded answer, fetches the certificate of a recorded
// RetrievalId, re-sends a renewal whose answer was lost, or promotes a
// fetched certificate. A signNewCertificate whose answer was lost gives
// ErrOutcomeUnknown.
func (f *Flow) Resume(ctx context.Context) (*Result, error) {
	unlock, err := f.Store.Lock(f.Ref)
	if err != nil {
		return nil, err
	}
	defer unlock()
	req, err := f.LoadRequest()
	if err != nil {
		return nil, err
	}
	return f.advance(ctx, req, "")
}

// advance runs req from its phase to the end. The caller holds the lock.
func (f *Flow) advance(ctx context.Context, req *Request, transferPassword string) (*Result, error) {
	if req.Phase == PhasePrepared || req.Phase == PhaseSent {
		if err := f.send(ctx, req, transferPassword); err != nil {
			return nil, f.failed(req, err)
		}
	}
	if req.Phase == PhaseAwaitingCertificate {
		if err := f.fetch(ctx, req); err != nil {
			return nil, f.failed(req, err)
		}
	}
	if req.Phase != PhaseFetched {
		return nil, fmt.Errorf("vero: request of %s in unknown phase %q", f.Ref, req.Phase)
	}
	res, err := f.promote(req)
	if err != nil {
		return nil, f.failed(req, err)
	}
	return res, nil
}

// failed records err and the next attempt time in req; it returns err.
func (f *Flow) failed(req *Request, err error) error {
	if _, statErr := f.Store.ReadPending(f.Ref, requestFile); statErr != nil {
		return err // the request was closed (refused)
	}
	req.Attempts++
	req.LastError = err.Error()
	initial, max := f.BackoffInitial, f.BackoffMax
	if initial <= 0 {
		initial = time.Hour
	}
	if max <= 0 {
		max = 24 * time.Hour
	}
	d := initial
	for i := 1; i < req.Attempts && d < max; i++ {
		d *= 2
	}
	req.NextAttempt = f.Store.Now().Add(min(d, max)).UTC()
	if serr := f.save(req); serr != nil {
		return errors.Join(err, serr)
	}
	return err
}

func (f *Flow) nextResponse(req *Request, op string) string {
	return fmt.Sprintf("responses/%03d-%s.xml", len(req.Responses)+1, op)
}

// recorded returns the response recorded for the call under way, if any.
func (f *Flow) recorded(req *Request) ([]byte, bool) {
	if req.Response == "" {
		return nil, false
	}
	b, err := f.Store.ReadPending(f.Ref, req.Response)
	return b, err == nil
}

// record saves raw as the answer of the call under way, before parsing.
func (f *Flow) record(req *Request, raw []byte) error {
	if err := f.Store.WritePending(f.Ref, req.Response, raw); err != nil {
		return fmt.Errorf("recording response: %w", err)
	}
	req.Responses = append(req.Responses, req.Response)
	return nil
}

func (f *Flow) send(ctx context.Context, req *Request, transferPassword string) error {
	raw, ok := f.recorded(req)
	if !ok {
		if req.Phase == PhasePrepared && req.Operation == OpSignNewCertificate && transferPassword == "" {
			return fmt.Errorf("vero: signNewCertificate with transfer id %s has not been sent: run isogate cert enroll with the transfer id and password", req.TransferID)
		}
		if req.Phase == PhaseSent && req.Operation == OpSignNewCertificate && transferPassword == "" {
			return fmt.Errorf("%w: signNewCertificate with transfer id %s was sent at %s but no answer was recorded; "+
				"run isogate cert enroll again with the same transfer id and password (if the service refuses them as used, "+
				"request new ones in the e-service)", ErrOutcomeUnknown, req.TransferID, req.SentAt.Format(time.RFC3339))
		}
		csr, err := f.Store.PendingCSR(f.Ref)
		if err != nil {
			return err
		}
		var current *certstore.Pair
		if req.Operation == OpRenewCertificate {
			if current, err = f.Store.Load(f.Ref, certstore.SlotCurrent); err != nil {
				return err
			}
			if err := certstore.CheckValidity(current.Cert, f.Store.Now()); err != nil {
				return fmt.Errorf("%w: %w", ErrRenewalImpossible, err)
			}
		}
		// Persist before the call: from here on the request may have reached
		// the service.
		req.Phase, req.SentAt, req.Response = PhaseSent, f.Store.Now().UTC(), f.nextResponse(req, req.Operation)
		if err := f.save(req); err != nil {
			return err
		}
		switch req.Operation {
		case OpSignNewCertificate:
			raw, err = f.Client.SignNewCertificate(ctx, req.TransferID, transferPassword, csr.Raw)
		case OpRenewCertificate:
			raw, err = f.Client.RenewCertificate(ctx, csr.Raw, current)
		default:
			return fmt.Errorf("vero: unknown operation %q", req.Operation)
		}
		if err != nil {
			return err
		}
		if err := f.record(req, raw); err != nil {
			return err
		}
	}
	id, err := f.Client.ParseRetrievalID(req.Operation, raw)
	var (
		rerr *ResultError
		ferr *FaultError
	)
	if errors.As(err, &rerr) || errors.As(err, &ferr) {
		// A definite refusal (a signed FAIL, or a SOAP fault over the
		// authenticated connection): close the request so that a new one can
		// start. The key, CSR and responses stay until then, for the record.
		f.logger().Error("certificate request refused", "ref", f.Ref.String(), "op", req.Operation, "error", err)
		if rmErr := f.Store.RemovePending(f.Ref, requestFile); rmErr != nil {
			return errors.Join(err, rmErr)
		}
		return err
	}
	if err != nil {
		return err
	}
	req.RetrievalID, req.Phase, req.Response = id, PhaseAwaitingCertificate, ""
	req.Attempts, req.NextAttempt, req.LastError = 0, time.Time{}, ""
	return f.save(req)
}

func (f *Flow) fetch(ctx context.Context, req *Request) error {
	raw, ok := f.recorded(req)
	if !ok {
		req.Response = f.nextResponse(req, OpGetCertificate)
		if err := f.save(req); err != nil {
			return err
		}
		var err error
		if raw, err = f.Client.GetCertificate(ctx, req.RetrievalID); err != nil {
			return err
		}
		if err := f.record(req, raw); err != nil {
			return err
		}
	}
	cert, err := f.Client.ParseCertificate(raw)
	req.Response = "" // the next attempt asks again
	if err != nil {
		return fmt.Errorf("fetching certificate %s: %w", req.RetrievalID, err)
	}
	if err := f.accept(cert); err != nil {
		return err
	}
	if err := f.Store.WritePending(f.Ref, "cert.pem", certPEM(cert)); err != nil {
		return err
	}
	req.Phase = PhaseFetched
	req.Attempts, req.NextAttempt, req.LastError = 0, time.Time{}, ""
	return f.save(req)
}

// accept checks an issued certificate: pending key, expected subject,
// chain to the trusted CAs, valid now.
func (f *Flow) accept(cert *x509.Certificate) error {
	key, err := f.Store.PendingKey(f.Ref)
	if err != nil {
		return err
	}
	if !certstore.KeyMatches(cert, key) {
		return fmt.Errorf("%w: issued certificate %q (serial %s) is not for the pending key of %s",
			certstore.ErrKeyMismatch, cert.Subject, cert.SerialNumber.Text(16), f.Ref)
	}
	csr, err := f.Store.PendingCSR(f.Ref)
	if err != nil {
		return err
	}
	want := csr.Subject
	if cert.Subject.CommonName != want.CommonName ||
		(len(cert.Subject.Country) > 0 && len(want.Country) > 0 && cert.Subject.Country[0] != want.Country[0]) ||
		(len(cert.Subject.Organization) > 0 && len(want.Organization) > 0 && cert.Subject.Organization[0] != want.Organization[0]) {
		return fmt.Errorf("%w: issued %q, expected %q", ErrSubjectMismatch, cert.Subject, want)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: f.Client.cfg.TrustedCAs, CurrentTime: f.Store.Now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return fmt.Errorf("vero: issued certificate %q does not chain to the trusted CAs: %w", cert.Subject, err)
	}
	return certstore.CheckValidity(cert, f.Store.Now())
}

func (f *Flow) promote(req *Request) (*Result, error) {
	b, err := f.Store.ReadPending(f.Ref, "cert.pem")
	if err != nil {
		return nil, err
	}
	certs, err := certstore.ParseCertificatesPEM(b)
	if err != nil {
		return nil, err
	}
	cert := certs[0]
	if cur, err := f.Store.LoadCert(f.Ref, certstore.SlotCurrent); err == nil && cur.Equal(cert) {
		// Promoted before a crash; only the clean-up is left.
		return &Result{Cert: cert}, f.Store.ClearPending(f.Ref)
	}
	key, err := f.Store.PendingKey(f.Ref)
	if err != nil {
		return nil, err
	}
	var act certstore.Activation
	if req.Operation == OpRenewCertificate {
		issued := cert.NotBefore
		if now := f.Store.Now(); now.After(issued) {
			issued = now
		}
		if at := f.Activation.ActivateAt(issued); !at.IsZero() {
			act = certstore.Activation{At: at, Reason: fmt.Sprintf("renewed %s; the service accepts it from the next business day: served from %s or once a probe succeeds",
				issued.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339))}
		} else {
			act.Reason = "renewed " + issued.UTC().Format(time.RFC3339)
		}
	} else {
		act.Reason = "enrolled " + f.Store.Now().UTC().Format(time.RFC3339)
	}
	pair := &certstore.Pair{Cert: cert, Key: key}
	if err := f.Store.Promote(f.Ref, pair, act); err != nil {
		return nil, err
	}
	f.logger().Info("certificate promoted", "ref", f.Ref.String(), "serial", cert.SerialNumber.Text(16),
		"not_after", cert.NotAfter, "live_reason", act.Reason)
	if err := f.Store.ClearPending(f.Ref); err != nil {
		return nil, err
	}
	return &Result{Cert: cert, ActivateAt: act.At}, nil
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}
