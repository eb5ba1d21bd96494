package certstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// Certificate states shown by Status.
const (
	StateValid              = "valid"
	StateRenewalDue         = "renewal-due"         // inside the renewal window, no request yet
	StateRenewing           = "renewing"            // a certificate request is under way
	StateAwaitingActivation = "awaiting-activation" // renewed; previous pair served until activation
	StatePreviousLive       = "previous-live"       // the previous pair is served (server refused the new one)
	StateExpired            = "expired"             // renewal impossible: enrol again
	StateNotYetValid        = "not-yet-valid"
)

// DefaultRenewBefore is how long before expiry renewal starts.
const DefaultRenewBefore = 60 * 24 * time.Hour

// Status describes one Ref for `isogate cert status`.
type Status struct {
	Org        string    `json:"org"`
	Env        string    `json:"env"`
	Purpose    string    `json:"purpose"`
	Subject    string    `json:"subject"`
	Issuer     string    `json:"issuer"`
	Serial     string    `json:"serial"`
	NotBefore  time.Time `json:"not_before"`
	NotAfter   time.Time `json:"not_after"`
	DaysLeft   int       `json:"days_left"`
	State      string    `json:"state"`
	Live       Slot      `json:"live"`
	LiveReason string    `json:"live_reason,omitempty"`
	ActivateAt time.Time `json:"activate_at,omitzero"`
	// PreviousNotAfter is the expiry of the pair kept for rollback.
	PreviousNotAfter time.Time `json:"previous_not_after,omitzero"`
	// Request is the operation and phase of a certificate request under
	// way, if any ("renewCertificate:awaiting-certificate"), with its last
	// error and next attempt.
	Request            string    `json:"request,omitempty"`
	RequestLastError   string    `json:"request_last_error,omitempty"`
	RequestNextAttempt time.Time `json:"request_next_attempt,omitzero"`
	// Detail says what to do, for states that need an operator.
	Detail string `json:"detail,omitempty"`
}

// Status reports on ref at the store's now; renewBefore (0: the default)
// is the renewal window.
func (s *Store) Status(ref Ref, renewBefore time.Duration) (Status, error) {
	if renewBefore <= 0 {
		renewBefore = DefaultRenewBefore
	}
	now := s.opts.Now()
	st, err := s.State(ref)
	if err != nil {
		return Status{}, err
	}
	cert, err := s.LoadCert(ref, SlotCurrent)
	if err != nil {
		return Status{}, err
	}
	out := Status{
		Org: ref.Org, Env: ref.Env, Purpose: ref.Purpose,
		Subject: cert.Subject.String(), Issuer: cert.Issuer.String(), Serial: cert.SerialNumber.Text(16),
		NotBefore: cert.NotBefore.UTC(), NotAfter: cert.NotAfter.UTC(),
		DaysLeft:   int(math.Floor(cert.NotAfter.Sub(now).Hours() / 24)),
		LiveReason: st.LiveReason,
	}
	var prevNotAfter time.Time
	if prev, err := s.LoadCert(ref, SlotPrevious); err == nil {
		prevNotAfter = prev.NotAfter
		out.PreviousNotAfter = prev.NotAfter.UTC()
	}
	out.Live = st.LiveSlot(now, prevNotAfter)
	if out.Live == SlotPrevious {
		out.ActivateAt = st.ActivateAt
	}
	if b, err := s.ReadPending(ref, pendingRequestFile); err == nil {
		var req struct {
			Phase       string    `json:"phase"`
			Operation   string    `json:"operation"`
			LastError   string    `json:"last_error"`
			NextAttempt time.Time `json:"next_attempt"`
		}
		if json.Unmarshal(b, &req) == nil {
			out.Request = req.Operation + ":" + req.Phase
			out.RequestLastError, out.RequestNextAttempt = req.LastError, req.NextAttempt
		}
	} else if !errors.Is(err, ErrNotFound) {
		return out, err
	}
	switch {
	case now.After(cert.NotAfter):
		out.State = StateExpired
		out.Detail = fmt.Sprintf("expired on %s: renewal is impossible, enrol a new certificate (isogate cert enroll)", out.NotAfter.Format(time.RFC3339))
	case now.Before(cert.NotBefore):
		out.State = StateNotYetValid
		out.Detail = "valid from " + out.NotBefore.Format(time.RFC3339)
	case out.Live == SlotPrevious && !st.ActivateAt.IsZero():
		out.State = StateAwaitingActivation
		out.Detail = "renewed certificate served from " + st.ActivateAt.Format(time.RFC3339) + " or once a probe succeeds"
	case out.Live == SlotPrevious:
		out.State = StatePreviousLive
		out.Detail = st.LiveReason
	case out.Request != "":
		out.State = StateRenewing
		if out.RequestLastError != "" {
			out.Detail = "request " + out.Request + " failed: " + out.RequestLastError
			if !out.RequestNextAttempt.IsZero() {
				out.Detail += "; next attempt " + out.RequestNextAttempt.UTC().Format(time.RFC3339)
			}
		}
	case cert.NotAfter.Sub(now) <= renewBefore:
		out.State = StateRenewalDue
		out.Detail = "renew now (isogate cert renew)"
	default:
		out.State = StateValid
	}
	return out, nil
}
