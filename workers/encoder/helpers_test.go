package encoder_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/isogate/isogate/internal/natstest"
	"github.com/isogate/isogate/internal/provision"
	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/workers/archive"
	"github.com/isogate/isogate/workers/encoder"
	"github.com/isogate/isogate/workers/state"
	"github.com/isogate/isogate/xmlcodec"
)

// env is a real embedded JetStream server, provisioned as the gateway
// provisions it, with the test's own connection.
type env struct {
	srv      *natstest.Server
	js       jetstream.JetStream
	batches  *state.Batches
	intents  *state.Intents
	archive  *archive.Archive
	profiles *xmlcodec.ProfileSet
	reg      *prometheus.Registry
}

// newEnv starts a server. profiles maps NAME to the YAML of
// profiles_dir/NAME.yaml (nil: the built-in profiles only).
func newEnv(t *testing.T, profiles map[string]string) *env {
	t.Helper()
	srv := natstest.Start(t)
	_, js := srv.Connect()
	if _, err := provision.Apply(t.Context(), js, provision.Options{Replicas: 1, DuplicateWindow: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	dir := ""
	if profiles != nil {
		dir = t.TempDir()
		for name, y := range profiles {
			if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(y), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	ps, err := xmlcodec.NewProfileSet(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, in, err := state.New(t.Context(), js, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := archive.Open(t.Context(), js)
	if err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, js: js, batches: b, intents: in, archive: a, profiles: ps, reg: prometheus.NewRegistry()}
}

// testConfig is short on every timer so crashes recover within seconds.
func testConfig() encoder.Config {
	return encoder.Config{
		Wait:       300 * time.Millisecond,
		AckWait:    1500 * time.Millisecond,
		Backoff:    []time.Duration{200 * time.Millisecond},
		MaxDeliver: 1000,
	}
}

func testLogger() *slog.Logger {
	if os.Getenv("ENCODER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// proc is one encoder process: its own connection, handler and router.
type proc struct {
	h    *encoder.Handler
	stop func()
}

// start runs an encoder the way the app does: Recover, then the router.
// release, when not nil, is closed by stop between closing the connection
// and waiting for the handler's flushes (a crash hook blocks on it).
func (e *env) start(t *testing.T, cfg encoder.Config, release chan struct{}) *proc {
	t.Helper()
	nc, err := nats.Connect(e.srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	b, in, err := state.New(t.Context(), js, state.Options{Worker: encoder.Name})
	if err != nil {
		t.Fatal(err)
	}
	a, err := archive.Open(t.Context(), js)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DrainTimeout = 300 * time.Millisecond
	cfg.PollWait = 500 * time.Millisecond
	h, err := encoder.New(cfg, encoder.Deps{JS: js, Batches: b, Intents: in, Archive: a,
		Profiles: e.profiles, Logger: testLogger(), Registerer: e.reg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Recover(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	eventually(t, 10*time.Second, "the encoder's consumer", func() bool {
		select {
		case err := <-done:
			t.Fatalf("encoder stopped at start: %v", err)
		default:
		}
		_, err := js.Consumer(t.Context(), messages.StreamPayments, encoder.Name)
		return err == nil
	})
	var once sync.Once
	p := &proc{h: h}
	p.stop = func() {
		once.Do(func() {
			cancel()
			<-done
			nc.Close()
			if release != nil {
				close(release)
			}
			_ = h.Close()
		})
	}
	t.Cleanup(p.stop)
	return p
}

// publishIntents publishes intents as the intake does: Nats-Msg-Id = id,
// and the subject guard that refuses a second message for an id.
func (e *env) publishIntents(t *testing.T, intents []messages.PaymentIntent) {
	t.Helper()
	var futures []jetstream.PubAckFuture
	for _, in := range intents {
		data, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		msg := &nats.Msg{Subject: messages.IntentSubject(in.ID), Data: data, Header: nats.Header{}}
		msg.Header.Set(messages.HeaderMsgID, in.ID)
		msg.Header.Set(messages.HeaderExpectedLastSubjectSeq, "0")
		f, err := e.js.PublishMsgAsync(msg)
		if err != nil {
			t.Fatal(err)
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			t.Fatalf("publishing %s: %v", f.Msg().Subject, err)
		case <-time.After(10 * time.Second):
			t.Fatal("publish not acknowledged within 10s")
		}
	}
}

// publishRaw stores a message as is and returns its stream sequence.
func (e *env) publishRaw(t *testing.T, subject string, data []byte, headers map[string]string) uint64 {
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

// drained reports whether the encoder's consumer was delivered every message
// under pay.intent.> and has nothing pending or
// unacknowledged.
func (e *env) drained(t *testing.T) bool {
	c, err := e.js.Consumer(t.Context(), messages.StreamPayments, encoder.Name)
	if err != nil {
		return false
	}
	info, err := c.Info(t.Context())
	if err != nil {
		return false
	}
	// The consumer must also have been delivered the last message it
	// reads (everything under pay.intent.>): right after a publish its
	// pending count can still read 0.
	s, err := e.js.Stream(t.Context(), messages.StreamPayments)
	if err != nil {
		return false
	}
	last, err := s.GetLastMsgForSubject(t.Context(), "pay.intent.>")
	if err != nil {
		return false
	}
	return info.NumPending == 0 && info.NumAckPending == 0 && info.Delivered.Stream >= last.Sequence
}

// eventually polls cond every 100ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		select {
		case <-tick.C:
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		}
	}
}

// subjectCounts returns the number of messages per subject matching filter
// in stream.
func (e *env) subjectCounts(t *testing.T, stream, filter string) map[string]uint64 {
	t.Helper()
	s, err := e.js.Stream(t.Context(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context(), jetstream.WithSubjectFilter(filter))
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Subjects == nil {
		return map[string]uint64{}
	}
	return info.State.Subjects
}

// lastMsg returns the last message on subject, or nil.
func (e *env) lastMsg(t *testing.T, stream, subject string) *jetstream.RawStreamMsg {
	t.Helper()
	s, err := e.js.Stream(t.Context(), stream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(t.Context(), subject)
	if err != nil {
		return nil
	}
	return m
}

// encodedBatches lists the batches by state and checks what every encoded
// batch must satisfy: exactly one pay.batch.encoded on its subject, one
// →encoded transition, and no intent in two batches. It returns the
// encoded batches and the batch of each intent.
func (e *env) encodedBatches(t *testing.T) ([]*state.Batch, map[string]string) {
	t.Helper()
	all, err := e.batches.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	events := e.subjectCounts(t, messages.StreamPayments, "pay.batch.encoded.>")
	var encoded []*state.Batch
	owner := map[string]string{}
	for _, b := range all {
		if b.State != state.Encoded {
			continue
		}
		encoded = append(encoded, b)
		if n := events[messages.BatchEncodedSubject(b.ID)]; n != 1 {
			t.Errorf("batch %s: %d pay.batch.encoded messages, want 1", b.ID, n)
		}
		moves := 0
		for _, tr := range b.History {
			if tr.To == state.Encoded {
				moves++
			}
		}
		if moves != 1 {
			t.Errorf("batch %s: encoded %d times", b.ID, moves)
		}
		for _, id := range b.IntentIDs {
			if prev, dup := owner[id]; dup {
				t.Errorf("intent %s is in batches %s and %s", id, prev, b.ID)
			}
			owner[id] = b.ID
			rec, err := e.intents.Get(t.Context(), id)
			if err != nil || rec.BatchID != b.ID {
				t.Errorf("intent %s in batch %s: claim %+v, %v", id, b.ID, rec, err)
			}
		}
	}
	if len(events) != len(encoded) {
		t.Errorf("%d subjects with pay.batch.encoded, %d encoded batches", len(events), len(encoded))
	}
	return encoded, owner
}

// readArchived reads a batch's pain.001 back from the archive.
func (e *env) readArchived(t *testing.T, b *state.Batch) ([]byte, *xmlcodec.Pain001Document) {
	t.Helper()
	data, err := e.archive.Get(t.Context(), b.Archive.Name)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := xmlcodec.ReadPain001(bytes.NewReader(data), xmlcodec.Limits{})
	if err != nil {
		t.Fatalf("batch %s: reading its pain.001: %v", b.ID, err)
	}
	if err := doc.Check(); err != nil {
		t.Errorf("batch %s: %v", b.ID, err)
	}
	return data, doc
}

// validateXSD runs xmllint against xmlcodec/xsd/<name>.xsd: skipped when
// xmllint is missing, a failure in CI.
func validateXSD(t *testing.T, doc []byte, name string) {
	t.Helper()
	bin, err := exec.LookPath("xmllint")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("xmllint required in CI (Debian package libxml2-utils)")
		}
		t.Skip("xmllint not installed")
	}
	xsd := filepath.Join("..", "..", "xmlcodec", "xsd", name+".xsd")
	cmd := exec.CommandContext(t.Context(), bin, "--noout", "--nonet", "--schema", xsd, "-")
	cmd.Stdin = bytes.NewReader(doc)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("xmllint %s: %v\n%s", name, err, out)
	}
}

// sum adds decimal strings exactly.
func sum(amounts []string) *big.Rat {
	total := new(big.Rat)
	for _, a := range amounts {
		r, ok := new(big.Rat).SetString(a)
		if !ok {
			panic("bad amount " + a)
		}
		total.Add(total, r)
	}
	return total
}

func rat(t *testing.T, s string) *big.Rat {
	t.Helper()
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("not a decimal: %q", s)
	}
	return r
}

// counter returns the value of a counter in the env's registry (0 when
// absent).
func (e *env) counter(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) > 0 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}
