package certstore_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/isogate/isogate/certstore"
)

type recordingSink struct {
	mu     sync.Mutex
	events []certstore.ExpiryEvent
	fail   error
}

func (r *recordingSink) CertExpiring(_ context.Context, ev certstore.ExpiryEvent) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.events = append(r.events, ev)
	return nil
}

func (r *recordingSink) thresholds() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int
	for _, e := range r.events {
		out = append(out, e.ThresholdDays)
	}
	return out
}

// TestExpiryEventsOncePerThresholdAcrossRestarts drives an injected clock
// through a certificate's last 100 days, "restarting" (new Store and
// Watcher on the same directory) between checks.
func TestExpiryEventsOncePerThresholdAcrossRestarts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clk := &clock{now: base}
	key := ecKey(t)
	notAfter := base.Add(100 * 24 * time.Hour)
	p := &certstore.Pair{Cert: issue(t, key, "1234567-8", base.Add(-time.Hour), notAfter), Key: key}
	if err := openStore(t, dir, clk.Now).Import(ref, p); err != nil {
		t.Fatal(err)
	}
	sink := &recordingSink{}
	reg := prometheus.NewRegistry()
	metrics, err := certstore.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	check := func() {
		t.Helper()
		w := &certstore.Watcher{Store: openStore(t, dir, clk.Now), Sink: sink, Metrics: metrics} // a fresh process
		if err := w.Check(t.Context()); err != nil {
			t.Fatalf("Check at %s: %v", clk.Now(), err)
		}
	}
	steps := []struct {
		daysLeft float64
		want     []int
	}{
		{100, nil},
		{61, nil},
		{60, []int{60}},
		{59.5, []int{60}},
		{45, []int{60}},
		{29.9, []int{60, 30}},
		{29, []int{60, 30}},
		{5, []int{60, 30, 7}}, // 14 was skipped over: only the tightest is announced
		{5, []int{60, 30, 7}},
		{0.5, []int{60, 30, 7, 1}},
		{-1, []int{60, 30, 7, 1}},
	}
	for _, st := range steps {
		clk.Set(notAfter.Add(-time.Duration(st.daysLeft * 24 * float64(time.Hour))))
		check()
		check() // every tick, not once per tick
		if got := sink.thresholds(); !slices.Equal(got, st.want) {
			t.Fatalf("at %.1f days left: events %v, want %v", st.daysLeft, got, st.want)
		}
	}
	ev := sink.events[2]
	if ev.DaysLeft != 5 || ev.Subject != p.Subject() || !ev.NotAfter.Equal(notAfter) || ev.Org != ref.Org || ev.ID == "" || ev.Expired {
		t.Errorf("7-day event = %+v", ev)
	}
	if got := gaugeValue(t, reg, "current"); got != (-24 * time.Hour).Seconds() {
		t.Errorf("isogate_cert_expiry_seconds{slot=current} = %v, want %v", got, (-24 * time.Hour).Seconds())
	}

	// A renewed certificate starts afresh.
	clk.Set(base)
	key2 := ecKey(t)
	p2 := &certstore.Pair{Cert: issue(t, key2, "1234567-8", base.Add(-time.Hour), base.Add(10*24*time.Hour)), Key: key2}
	if err := openStore(t, dir, clk.Now).Import(ref, p2); err != nil {
		t.Fatal(err)
	}
	check()
	if got := sink.thresholds(); !slices.Equal(got, []int{60, 30, 7, 1, 14}) {
		t.Errorf("after renewal: events %v, want a 14-day event for the new certificate", got)
	}
}

func TestExpiryEventRetriedAfterSinkFailure(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := ecKey(t)
	p := &certstore.Pair{Cert: issue(t, key, "x", base.Add(-time.Hour), base.Add(20*24*time.Hour)), Key: key}
	s := openStore(t, dir, nil)
	if err := s.Import(ref, p); err != nil {
		t.Fatal(err)
	}
	sink := &recordingSink{fail: errors.New("nats down")}
	w := &certstore.Watcher{Store: s, Sink: sink}
	if err := w.Check(t.Context()); err == nil {
		t.Fatal("Check with a failing sink returned nil")
	}
	sink.fail = nil
	if err := w.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := sink.thresholds(); !slices.Equal(got, []int{30}) {
		t.Errorf("events %v, want [30] once the sink recovers", got)
	}
}

func gaugeValue(t *testing.T, reg *prometheus.Registry, slot string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "isogate_cert_expiry_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "slot" && l.GetValue() == slot {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no isogate_cert_expiry_seconds{slot=%q}", slot)
	return 0
}
