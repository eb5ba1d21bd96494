package certstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultThresholds are the days before expiry at which an [ExpiryEvent] is
// emitted.
var DefaultThresholds = []int{60, 30, 14, 7, 1}

// An ExpiryEvent announces that a certificate crossed an expiry threshold.
// The gateway publishes it as ops.cert.expiring.
type ExpiryEvent struct {
	// ID is stable per certificate and threshold: use it as Nats-Msg-Id.
	ID            string    `json:"id"`
	Org           string    `json:"org"`
	Env           string    `json:"env"`
	Purpose       string    `json:"purpose"`
	Subject       string    `json:"subject"`
	Issuer        string    `json:"issuer"`
	Serial        string    `json:"serial"`
	NotAfter      time.Time `json:"not_after"`
	DaysLeft      int       `json:"days_left"` // whole days, negative once expired
	ThresholdDays int       `json:"threshold_days"`
	Expired       bool      `json:"expired"`
	At            time.Time `json:"at"`
}

// An EventSink receives expiry events. Returning an error leaves the
// threshold unannounced: the next check tries again.
type EventSink interface {
	CertExpiring(ctx context.Context, ev ExpiryEvent) error
}

// EventSinkFunc adapts a function to EventSink.
type EventSinkFunc func(ctx context.Context, ev ExpiryEvent) error

// CertExpiring calls f.
func (f EventSinkFunc) CertExpiring(ctx context.Context, ev ExpiryEvent) error { return f(ctx, ev) }

// Metrics are the certstore Prometheus metrics.
type Metrics struct {
	// ExpirySeconds is isogate_cert_expiry_seconds{org,env,purpose,slot}:
	// seconds until the certificate's NotAfter (negative once expired).
	ExpirySeconds *prometheus.GaugeVec
}

// NewMetrics creates the metrics and registers them with reg (if not nil).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{ExpirySeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "isogate_cert_expiry_seconds",
		Help: "Seconds until the certificate expires (negative once expired).",
	}, []string{"org", "env", "purpose", "slot"})}
	if reg != nil {
		if err := reg.Register(m.ExpirySeconds); err != nil {
			return nil, fmt.Errorf("registering certstore metrics: %w", err)
		}
	}
	return m, nil
}

// A Watcher checks every certificate of a Store, updates the expiry gauge
// and emits one event per threshold crossed (the tightest one when several
// are crossed at once). What was announced is kept in expiry.json beside
// the certificate, so a restart does not repeat it; a new certificate starts
// afresh.
type Watcher struct {
	Store *Store
	Sink  EventSink // may be nil: gauge only
	// Thresholds in days. Default: DefaultThresholds.
	Thresholds []int
	// Interval between checks in Run. Default: 1h.
	Interval time.Duration
	Metrics  *Metrics // may be nil
}

type expiryRecord struct {
	Serial string `json:"serial"`
	Fired  []int  `json:"fired"`
}

// Check runs one check over every Ref of the store. It returns the errors
// of all refs joined.
func (w *Watcher) Check(ctx context.Context) error {
	refs, err := w.Store.Refs()
	if err != nil {
		return err
	}
	var errs []error
	for _, ref := range refs {
		if err := w.check(ctx, ref); err != nil {
			errs = append(errs, fmt.Errorf("checking expiry of %s: %w", ref, err))
		}
	}
	return errors.Join(errs...)
}

func (w *Watcher) check(ctx context.Context, ref Ref) error {
	now := w.Store.Now()
	cert, err := w.Store.LoadCert(ref, SlotCurrent)
	if err != nil {
		return err
	}
	if w.Metrics != nil {
		w.Metrics.ExpirySeconds.WithLabelValues(ref.Org, ref.Env, ref.Purpose, string(SlotCurrent)).Set(cert.NotAfter.Sub(now).Seconds())
		if prev, err := w.Store.LoadCert(ref, SlotPrevious); err == nil {
			w.Metrics.ExpirySeconds.WithLabelValues(ref.Org, ref.Env, ref.Purpose, string(SlotPrevious)).Set(prev.NotAfter.Sub(now).Seconds())
		} else {
			w.Metrics.ExpirySeconds.DeleteLabelValues(ref.Org, ref.Env, ref.Purpose, string(SlotPrevious))
		}
	}
	thresholds := w.Thresholds
	if len(thresholds) == 0 {
		thresholds = DefaultThresholds
	}
	left := cert.NotAfter.Sub(now)
	var crossed []int
	for _, th := range thresholds {
		if left <= time.Duration(th)*24*time.Hour {
			crossed = append(crossed, th)
		}
	}
	if len(crossed) == 0 {
		return nil
	}
	path := filepath.Join(w.Store.RefDir(ref), "expiry.json")
	serial := cert.SerialNumber.Text(16)
	var rec expiryRecord
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &rec); err != nil {
			return fmt.Errorf("reading %s: %w", path, err)
		}
	}
	if rec.Serial != serial {
		rec = expiryRecord{Serial: serial}
	}
	tightest := slices.Min(crossed)
	if slices.Contains(rec.Fired, tightest) {
		return nil
	}
	if w.Sink != nil {
		ev := ExpiryEvent{
			ID:  fmt.Sprintf("%s/%s/%s/%s/%d", ref.Org, ref.Env, ref.Purpose, serial, tightest),
			Org: ref.Org, Env: ref.Env, Purpose: ref.Purpose,
			Subject: cert.Subject.String(), Issuer: cert.Issuer.String(), Serial: serial,
			NotAfter: cert.NotAfter.UTC(), DaysLeft: int(math.Floor(left.Hours() / 24)),
			ThresholdDays: tightest, Expired: left < 0, At: now.UTC(),
		}
		if err := w.Sink.CertExpiring(ctx, ev); err != nil {
			return fmt.Errorf("announcing %d-day threshold: %w", tightest, err)
		}
	}
	for _, th := range crossed {
		if !slices.Contains(rec.Fired, th) {
			rec.Fired = append(rec.Fired, th)
		}
	}
	slices.Sort(rec.Fired)
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	// A crash between the sink and this write repeats the event once; its
	// ID lets the publisher de-duplicate it.
	return writeFileAtomic(path, b)
}

// Run checks at start and then every Interval until ctx is done. Errors are
// logged and retried at the next tick.
func (w *Watcher) Run(ctx context.Context) error {
	interval := w.Interval
	if interval <= 0 {
		interval = time.Hour
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := w.Check(ctx); err != nil {
			w.Store.opts.Logger.ErrorContext(ctx, "certificate expiry check failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
