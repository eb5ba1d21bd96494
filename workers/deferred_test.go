package workers_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/isogate/isogate/workers"
)

// runDeferred runs a deferred worker until stop; stop returns Run's error.
func (e *testEnv) runDeferred(t *testing.T, cfg workers.DeferredConfig) (stop func() error) {
	t.Helper()
	cfg.JS, cfg.Logger, cfg.Registerer = e.js, testLogger(t), e.reg
	if cfg.PollWait == 0 {
		cfg.PollWait = 200 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- workers.RunDeferred(ctx, cfg) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// TestDeferredOutcomes: messages held and settled later get
// the router's outcomes — ack, delayed redelivery, dead letter on a
// permanent error or at MaxDeliver — with the same metrics.
func TestDeferredOutcomes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cs := spec("defer")
	cs.MaxDeliver = 3
	cs.Backoff = []time.Duration{50 * time.Millisecond}
	var (
		mu       sync.Mutex
		attempts = map[string][]int{}
	)
	e.runDeferred(t, workers.DeferredConfig{Name: "defer", Consumer: cs, Take: func(p *workers.Pending) {
		mu.Lock()
		attempts[p.Delivery.Subject] = append(attempts[p.Delivery.Subject], p.Delivery.NumDelivered)
		mu.Unlock()
		go func() { // settled later, from another goroutine
			switch p.Delivery.Subject {
			case "pay.test.defer.ok":
				p.Settle(nil)
			case "pay.test.defer.retry":
				if p.Delivery.NumDelivered == 1 {
					p.Settle(errors.New("bank busy"))
				} else {
					p.Settle(nil)
				}
			case "pay.test.defer.bad":
				p.Settle(workers.Permanent(errors.New("not a payment")))
			default:
				p.Settle(fmt.Errorf("attempt %d failed", p.Delivery.NumDelivered))
			}
			p.Settle(errors.New("a second Settle must do nothing"))
		}()
	}})
	var last uint64
	for _, s := range []string{"ok", "retry", "bad", "fail"} {
		last = e.publish(t, "pay.test.defer."+s, []byte(`{}`), nil)
	}
	waitFor(t, 10*time.Second, "every message settled", func() bool { return e.settled(t, "defer", last) })
	dls, _ := e.deadLetters(t, "defer")
	var dead []string
	for _, dl := range dls {
		dead = append(dead, fmt.Sprintf("%s@%d", dl.Subject, dl.Attempts))
	}
	slices.Sort(dead)
	if want := []string{"pay.test.defer.bad@1", "pay.test.defer.fail@3"}; !slices.Equal(dead, want) {
		t.Errorf("dead letters %v, want %v", dead, want)
	}
	mu.Lock()
	if got := attempts["pay.test.defer.ok"]; !slices.Equal(got, []int{1}) {
		t.Errorf("ok delivered %v, want [1]", got)
	}
	if got := attempts["pay.test.defer.retry"]; !slices.Equal(got, []int{1, 2}) {
		t.Errorf("retry delivered %v, want [1 2]", got)
	}
	if got := attempts["pay.test.defer.fail"]; !slices.Equal(got, []int{1, 2, 3}) {
		t.Errorf("fail delivered %v, want [1 2 3]", got)
	}
	mu.Unlock()
	if v := e.metric(t, "isogate_worker_dead_lettered_total", "defer"); v != 2 {
		t.Errorf("dead_lettered_total = %v, want 2", v)
	}
	if v := e.metric(t, "isogate_worker_processed_total", "defer"); v != 2 {
		t.Errorf("processed_total = %v, want 2 (ok, retry)", v)
	}
	if v := e.metric(t, "isogate_worker_retried_total", "defer"); v != 3 {
		t.Errorf("retried_total = %v, want 3 (retry once, fail twice)", v)
	}
}

// TestDeferredHeartbeatsAndDrain: a message held past AckWait is not
// redelivered while the worker lives (heartbeats); when the run stops
// with a message still held, Stopping is called, the run gives up after
// the drain timeout with an error, and a later Settle does nothing: the
// message comes back to the next run.
func TestDeferredHeartbeatsAndDrain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cs := spec("hold")
	cs.AckWait = 600 * time.Millisecond
	got := make(chan *workers.Pending, 10)
	stopping := make(chan struct{})
	stop := e.runDeferred(t, workers.DeferredConfig{Name: "hold", Consumer: cs, DrainTimeout: 200 * time.Millisecond,
		Take: func(p *workers.Pending) { got <- p }, Stopping: func() { close(stopping) }})
	seq := e.publish(t, "pay.test.hold.1", []byte(`{}`), nil)
	p := <-got
	// Three AckWaits held: a redelivery would arrive on got.
	select {
	case again := <-got:
		t.Fatalf("redelivered (attempt %d) while held", again.Delivery.NumDelivered)
	case <-time.After(3 * cs.AckWait):
	}
	err := stop()
	if err == nil || !contains(err.Error(), "1 messages not settled") {
		t.Errorf("stop = %v, want the drain timeout naming 1 message", err)
	}
	select {
	case <-stopping:
	default:
		t.Error("Stopping was not called")
	}
	p.Settle(nil) // too late: must not ack
	e.runDeferred(t, workers.DeferredConfig{Name: "hold", Consumer: cs, Take: func(p *workers.Pending) { got <- p }})
	select {
	case again := <-got:
		if again.Delivery.StreamSeq != seq || again.Delivery.NumDelivered != 2 {
			t.Errorf("redelivered seq %d attempt %d, want %d attempt 2", again.Delivery.StreamSeq, again.Delivery.NumDelivered, seq)
		}
		again.Settle(nil)
	case <-time.After(10 * time.Second):
		t.Fatal("the message held at shutdown was not redelivered")
	}
	waitFor(t, 10*time.Second, "acked by the second run", func() bool { return e.settled(t, "hold", seq) })
}

// TestDeferredStartsWhileNATSIsDown: a deferred worker started while the
// server is down (a cluster restarting) keeps trying to create its consumer
// instead of failing, and works once the server is back.
func TestDeferredStartsWhileNATSIsDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seq := e.publish(t, "pay.test.down.1", []byte(`{}`), nil)
	e.srv.Stop()
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		done <- workers.RunDeferred(ctx, workers.DeferredConfig{JS: e.js, Name: "down", Consumer: spec("down"), Logger: testLogger(t),
			PollWait: 200 * time.Millisecond, Take: func(p *workers.Pending) { p.Settle(nil) }})
	}()
	select {
	case err := <-done:
		t.Fatalf("RunDeferred returned while NATS was down: %v", err)
	case <-time.After(time.Second): // several attempts
	}
	e.srv.Restart()
	waitFor(t, 15*time.Second, "the message handled once NATS is back", func() bool { return e.settled(t, "down", seq) })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("RunDeferred after its context ended = %v, want nil", err)
	}
}
