package workers_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/isogate/isogate/internal/natstest"
	"github.com/isogate/isogate/internal/provision"
	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/workers"
)

// testEnv is a real embedded JetStream server with the gateway's streams.
type testEnv struct {
	srv *natstest.Server
	nc  *nats.Conn
	js  jetstream.JetStream
	pub *workers.Publisher
	reg *prometheus.Registry
}

func newEnv(t *testing.T) *testEnv {
	t.Helper()
	srv := natstest.Start(t)
	nc, js := srv.Connect()
	if _, err := provision.Apply(t.Context(), js, provision.Options{Replicas: 1, DuplicateWindow: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	return &testEnv{srv: srv, nc: nc, js: js, pub: workers.NewPublisher(js, 5*time.Second), reg: prometheus.NewRegistry()}
}

// testLogger writes the runtime's log to the test log with -v, or nowhere.
func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() && os.Getenv("WORKERS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// spec returns a consumer spec on PAYMENTS for the test subjects of name.
func spec(name string) workers.ConsumerSpec {
	return workers.ConsumerSpec{
		Name:           name,
		Stream:         messages.StreamPayments,
		FilterSubjects: []string{"pay.test." + name + ".>"},
		Backoff:        []time.Duration{100 * time.Millisecond},
	}
}

// start runs a router for one worker until the test ends or stop is called.
// stop closes the router and returns its error.
func (e *testEnv) start(t *testing.T, w workers.Worker, drain time.Duration) (stop func() error) {
	t.Helper()
	r, err := workers.NewRouter(workers.RouterConfig{
		JS:           e.js,
		Workers:      []workers.Worker{w},
		Logger:       testLogger(t),
		Registerer:   e.reg,
		DrainTimeout: drain,
		PollWait:     time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background()) }()
	select {
	case <-r.Running():
	case err := <-done:
		t.Fatalf("router stopped at start: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("router not running within 10s")
	}
	var once sync.Once
	var closeErr error
	stop = func() error {
		once.Do(func() {
			closeErr = r.Close()
			if err := <-done; err != nil && closeErr == nil {
				closeErr = err
			}
		})
		return closeErr
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// publish stores a message and returns its stream sequence.
func (e *testEnv) publish(t *testing.T, subject string, data []byte, headers map[string]string) uint64 {
	t.Helper()
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	for k, v := range headers {
		msg.Header.Set(k, v)
	}
	ack, err := e.js.PublishMsg(t.Context(), msg)
	if err != nil {
		t.Fatalf("publishing to %s: %v", subject, err)
	}
	return ack.Sequence
}

func (e *testEnv) consumer(t *testing.T, name string) *jetstream.ConsumerInfo {
	t.Helper()
	c, err := e.js.Consumer(t.Context(), messages.StreamPayments, name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// settled reports whether the consumer has acked everything it delivered
// up to stream sequence seq.
// It is false while the server does not answer (a restart).
func (e *testEnv) settled(t *testing.T, name string, seq uint64) bool {
	c, err := e.js.Consumer(t.Context(), messages.StreamPayments, name)
	if err != nil {
		return false
	}
	info, err := c.Info(t.Context())
	if err != nil {
		return false
	}
	return info.AckFloor.Stream >= seq && info.NumAckPending == 0 && info.NumRedelivered == 0
}

// stored returns the messages stored on subject in stream, in order.
func (e *testEnv) stored(t *testing.T, stream, subject string) []*jetstream.RawStreamMsg {
	t.Helper()
	s, err := e.js.Stream(t.Context(), stream)
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := uint64(1); ; seq++ {
		m, err := s.GetMsg(t.Context(), seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
		seq = m.Sequence
	}
}

// deadLetters returns the dead letters of worker with their Nats-Msg-Ids.
func (e *testEnv) deadLetters(t *testing.T, worker string) ([]messages.DeadLetter, []string) {
	t.Helper()
	var dls []messages.DeadLetter
	var ids []string
	for _, m := range e.stored(t, messages.StreamDLQ, messages.DeadLetterSubject(worker)) {
		var dl messages.DeadLetter
		if err := json.Unmarshal(m.Data, &dl); err != nil {
			t.Fatalf("dead letter %d: %v", m.Sequence, err)
		}
		dls = append(dls, dl)
		ids = append(ids, m.Header.Get(jetstream.MsgIDHeader))
	}
	return dls, ids
}

// waitFor polls cond every 20ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		}
	}
}

// metric returns the value of a counter, gauge or histogram sample count
// of the registry for worker.
func (e *testEnv) metric(t *testing.T, name, worker string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if !hasLabel(m, "worker", worker) {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return 0
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

type seenDelivery struct {
	subject string
	seq     uint64
	n       int
}

// recorder records the deliveries a handler saw.
type recorder struct {
	mu    sync.Mutex
	seen  []seenDelivery
	start []time.Time
	end   []time.Time
}

func (r *recorder) begin(msg *message.Message) int {
	d, _ := workers.DeliveryFrom(msg.Context())
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, seenDelivery{subject: d.Subject, seq: d.StreamSeq, n: d.NumDelivered})
	r.start = append(r.start, time.Now())
	r.end = append(r.end, time.Time{})
	return len(r.seen) - 1
}

func (r *recorder) finish(i int) {
	r.mu.Lock()
	r.end[i] = time.Now()
	r.mu.Unlock()
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

func (r *recorder) attempts() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n []int
	for _, d := range r.seen {
		n = append(n, d.n)
	}
	return n
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
