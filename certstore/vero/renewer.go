package vero

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/isogate/isogate/certstore"
)

// A Renewer renews the certificate of a Flow automatically: from
// RenewBefore ahead of expiry it starts a renewal, continues a request
// under way once its NextAttempt (backoff: Flow.BackoffInitial doubling up
// to Flow.BackoffMax, a day by default) has come, and while a renewed
// certificate waits for activation it tries Flow.Activation.Probe to
// activate it early. An expired certificate cannot be renewed: Tick
// returns ErrRenewalImpossible and the status says so.
type Renewer struct {
	Flow *Flow
	// RenewBefore expiry. Default: certstore.DefaultRenewBefore (60 days).
	RenewBefore time.Duration
	// Interval between ticks in Run. Default: 1h.
	Interval time.Duration
}

// Tick does what is due now. It returns nil when nothing was due.
func (r *Renewer) Tick(ctx context.Context) error {
	f := r.Flow
	now := f.Store.Now()
	req, err := f.LoadRequest()
	if err == nil {
		if now.Before(req.NextAttempt) {
			return nil
		}
		_, err := f.Resume(ctx)
		return err
	}
	if !errors.Is(err, certstore.ErrNotFound) {
		return err
	}
	if err := r.probe(ctx); err != nil {
		return err
	}
	cur, err := f.Store.LoadCert(f.Ref, certstore.SlotCurrent)
	if err != nil {
		return err
	}
	if err := certstore.CheckValidity(cur, now); err != nil {
		if errors.Is(err, certstore.ErrExpired) {
			return fmt.Errorf("%w: %w; enrol a new certificate (isogate cert enroll)", ErrRenewalImpossible, err)
		}
		return err
	}
	before := r.RenewBefore
	if before <= 0 {
		before = certstore.DefaultRenewBefore
	}
	if cur.NotAfter.Sub(now) > before {
		return nil
	}
	_, err = f.Renew(ctx)
	return err
}

// probe activates a renewed certificate early once a probe call with it
// succeeds (also after the server refused it: SetLive(previous)).
func (r *Renewer) probe(ctx context.Context) error {
	f := r.Flow
	if f.Activation.Probe == nil {
		return nil
	}
	st, err := f.Store.Status(f.Ref, r.RenewBefore)
	if err != nil || st.Live != certstore.SlotPrevious {
		return nil
	}
	pair, err := f.Store.Load(f.Ref, certstore.SlotCurrent)
	if err != nil {
		return err
	}
	if err := f.Activation.Probe(ctx, pair.TLSCertificate()); err != nil {
		f.logger().Info("renewed certificate not accepted yet", "ref", f.Ref.String(), "error", err)
		return nil
	}
	return f.Store.SetLive(f.Ref, certstore.SlotCurrent,
		"probe with the renewed certificate succeeded "+f.Store.Now().UTC().Format(time.RFC3339), time.Time{})
}

// Run ticks at start and every Interval until ctx is done; errors are
// logged and retried at the next tick.
func (r *Renewer) Run(ctx context.Context) error {
	interval := r.Interval
	if interval <= 0 {
		interval = time.Hour
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := r.Tick(ctx); err != nil {
			r.Flow.logger().ErrorContext(ctx, "certificate renewal", "ref", r.Flow.Ref.String(), "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
