package workers_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/workers"
)

// echo publishes a copy of each message to pay.out.<name>.<seq> with
// Nats-Msg-Id out-<input Nats-Msg-Id>, the way workers publish their events.
func echo(e *testEnv, name string, acks *[]*jetstream.PubAck, mu *sync.Mutex) func(msg *message.Message) error {
	return func(msg *message.Message) error {
		out := message.NewMessage("", msg.Payload)
		out.Metadata.Set(workers.MetaMsgID, "out-"+msg.Metadata.Get(workers.MetaMsgID))
		out.Metadata.Set(workers.HeaderIntentID, msg.Metadata.Get(workers.HeaderIntentID))
		ack, err := e.pub.PublishMessage(msg.Context(), "pay.out."+name+"."+msg.Metadata.Get(workers.MetaStreamSeq), out)
		if err != nil {
			return err
		}
		if acks != nil {
			mu.Lock()
			*acks = append(*acks, ack)
			mu.Unlock()
		}
		return nil
	}
}

func TestSuccessAcksOnceAndPublishes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var rec recorder
	h := echo(e, "ok", nil, nil)
	e.start(t, workers.Worker{Name: "ok", Consumer: spec("ok"), Handler: func(msg *message.Message) error {
		i := rec.begin(msg)
		defer rec.finish(i)
		return h(msg)
	}}, 5*time.Second)
	seq := e.publish(t, "pay.test.ok.1", []byte(`{"n":1}`), map[string]string{workers.MetaMsgID: "in-1", workers.HeaderIntentID: "INV-1", "X-Trace": "abc"})

	waitFor(t, 10*time.Second, "the message to be acked", func() bool { return e.settled(t, "ok", seq) })
	if got := rec.attempts(); !slices.Equal(got, []int{1}) {
		t.Errorf("deliveries = %v, want [1]", got)
	}
	if info := e.consumer(t, "ok"); info.Delivered.Consumer != 1 || info.NumPending != 0 {
		t.Errorf("consumer delivered %d times, %d pending; want once, 0", info.Delivered.Consumer, info.NumPending)
	}
	out := e.stored(t, messages.StreamPayments, fmt.Sprintf("pay.out.ok.%d", seq))
	if len(out) != 1 {
		t.Fatalf("%d outputs, want 1", len(out))
	}
	if id := out[0].Header.Get(jetstream.MsgIDHeader); id != "out-in-1" {
		t.Errorf("output Nats-Msg-Id = %q, want out-in-1", id)
	}
	if id := out[0].Header.Get(workers.HeaderIntentID); id != "INV-1" {
		t.Errorf("output %s = %q, want INV-1", workers.HeaderIntentID, id)
	}
	if v := e.metric(t, "isogate_worker_processed_total", "ok"); v != 1 {
		t.Errorf("processed_total = %v, want 1", v)
	}
	if v := e.metric(t, "isogate_worker_handle_seconds", "ok"); v != 1 {
		t.Errorf("handle_seconds count = %v, want 1", v)
	}
}

// TestCrashBetweenPublishAndAck stops the worker after its handler
// published its output and before the ack: the message comes back and the
// second output is dropped by the stream as a duplicate.
func TestCrashBetweenPublishAndAck(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cs := spec("crash")
	cs.AckWait = time.Second
	var acks []*jetstream.PubAck
	var mu sync.Mutex
	h := echo(e, "crash", &acks, &mu)
	published := make(chan struct{})
	var rec recorder
	stop := e.start(t, workers.Worker{Name: "crash", Consumer: cs, Handler: func(msg *message.Message) error {
		rec.begin(msg)
		if err := h(msg); err != nil {
			return err
		}
		close(published)
		<-msg.Context().Done() // "crash": never return before the worker is stopped
		return msg.Context().Err()
	}}, 200*time.Millisecond)
	seq := e.publish(t, "pay.test.crash.1", []byte(`{"n":1}`), map[string]string{workers.MetaMsgID: "in-1"})
	<-published
	// Close gives up on the handler after the drain timeout (200ms) and
	// leaves its message to JetStream, as a crash would.
	if err := stop(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if e.settled(t, "crash", seq) {
		t.Fatal("message acked although the handler never returned nil")
	}

	// The next worker process.
	e.start(t, workers.Worker{Name: "crash", Consumer: cs, Handler: func(msg *message.Message) error {
		rec.begin(msg)
		return h(msg)
	}}, 5*time.Second)
	waitFor(t, 10*time.Second, "the redelivered message to be acked", func() bool { return e.settled(t, "crash", seq) })
	if got := rec.attempts(); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("deliveries = %v, want [1 2]", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(acks) != 2 || acks[0].Duplicate || !acks[1].Duplicate || acks[0].Sequence != acks[1].Sequence {
		t.Errorf("output PubAcks = %+v, want a first store and a duplicate of it", acks)
	}
	if out := e.stored(t, messages.StreamPayments, fmt.Sprintf("pay.out.crash.%d", seq)); len(out) != 1 {
		t.Errorf("%d outputs stored, want 1", len(out))
	}
}

// TestRetryWithBackoff fails twice with a transient error: each
// redelivery waits on the server for the backoff of its delivery.
func TestRetryWithBackoff(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cs := spec("retry")
	cs.Backoff = []time.Duration{400 * time.Millisecond, 800 * time.Millisecond}
	cs.MaxDeliver = 5
	var rec recorder
	e.start(t, workers.Worker{Name: "retry", Consumer: cs, Handler: func(msg *message.Message) error {
		i := rec.begin(msg)
		defer rec.finish(i)
		if d, _ := workers.DeliveryFrom(msg.Context()); d.NumDelivered < 3 {
			return errors.New("bank unavailable")
		}
		return nil
	}}, 5*time.Second)
	seq := e.publish(t, "pay.test.retry.1", []byte(`{}`), map[string]string{workers.MetaMsgID: "in-1"})
	waitFor(t, 10*time.Second, "the third delivery to be acked", func() bool { return e.settled(t, "retry", seq) })

	if got := rec.attempts(); !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("deliveries = %v, want [1 2 3]", got)
	}
	rec.mu.Lock()
	for i, want := range cs.Backoff {
		// The nak leaves after the handler returned; the next delivery may
		// not come before the delay.
		if gap := rec.start[i+1].Sub(rec.end[i]); gap < want {
			t.Errorf("delivery %d came %s after delivery %d failed, want at least %s", i+2, gap, i+1, want)
		}
	}
	rec.mu.Unlock()
	for name, want := range map[string]float64{
		"isogate_worker_failed_total": 2, "isogate_worker_retried_total": 2,
		"isogate_worker_processed_total": 1, "isogate_worker_dead_lettered_total": 0,
	} {
		if v := e.metric(t, name, "retry"); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
	if dls, _ := e.deadLetters(t, "retry"); len(dls) != 0 {
		t.Errorf("%d dead letters, want none", len(dls))
	}
}

// TestMaxDeliverDeadLetters fails every delivery: after MaxDeliver the
// message goes to dlq.<worker> once, with the original, and is acked.
func TestMaxDeliverDeadLetters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cs := spec("maxd")
	cs.MaxDeliver = 3
	cs.Backoff = []time.Duration{50 * time.Millisecond}
	var rec recorder
	e.start(t, workers.Worker{Name: "maxd", Consumer: cs, Handler: func(msg *message.Message) error {
		rec.begin(msg)
		return fmt.Errorf("uploading: %w", errors.New("connection reset"))
	}}, 5*time.Second)
	body := []byte(`{"batch_id":"B-1"}`)
	before := time.Now()
	seq := e.publish(t, "pay.test.maxd.1", body, map[string]string{workers.MetaMsgID: "in-1", workers.HeaderBatchID: "B-1", "X-Trace": "t1"})
	waitFor(t, 10*time.Second, "the message to be dead-lettered and acked", func() bool { return e.settled(t, "maxd", seq) })

	dls, ids := e.deadLetters(t, "maxd")
	if len(dls) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dls))
	}
	dl := dls[0]
	if dl.Type != messages.TypeDeadLetter || dl.Worker != "maxd" || dl.Subject != "pay.test.maxd.1" || dl.Attempts != 3 ||
		string(dl.Data) != string(body) || dl.Stream != messages.StreamPayments || dl.StreamSeq != seq || dl.BatchID != "B-1" {
		t.Errorf("dead letter = %+v", dl)
	}
	if dl.Headers["X-Trace"][0] != "t1" || dl.Headers[jetstream.MsgIDHeader][0] != "in-1" {
		t.Errorf("dead letter headers = %v, want the original ones", dl.Headers)
	}
	if !contains(dl.Error, "uploading: connection reset") {
		t.Errorf("dead letter error = %q", dl.Error)
	}
	if dl.FirstFailedAt.Before(before) || !dl.FirstFailedAt.Before(dl.FailedAt) {
		t.Errorf("first failed at %s, failed at %s: want first < last, both after %s", dl.FirstFailedAt, dl.FailedAt, before)
	}
	if want := fmt.Sprintf("PAYMENTS:%d:maxd", seq); ids[0] != want {
		t.Errorf("dead letter Nats-Msg-Id = %q, want %q", ids[0], want)
	}
	if got := rec.attempts(); !slices.Equal(got, []int{1, 2, 3}) {
		t.Errorf("deliveries = %v, want [1 2 3]", got)
	}
	for name, want := range map[string]float64{
		"isogate_worker_failed_total": 3, "isogate_worker_retried_total": 2,
		"isogate_worker_dead_lettered_total": 1, "isogate_worker_dlq_depth": 1,
	} {
		if v := e.metric(t, name, "maxd"); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
}

// TestPermanentAndPanic: a permanent error (here an undecodable body) is
// dead-lettered at the first attempt; a panic is an ordinary error, retried.
func TestPermanentAndPanic(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var panics atomic.Int32
	var rec recorder
	e.start(t, workers.Worker{Name: "perm", Consumer: spec("perm"), Handler: func(msg *message.Message) error {
		rec.begin(msg)
		switch msg.Metadata.Get(workers.MetaSubject) {
		case "pay.test.perm.panic":
			if d, _ := workers.DeliveryFrom(msg.Context()); d.NumDelivered == 1 {
				panics.Add(1)
				var m map[string]int
				m["boom"]++ // a nil map write: a real runtime panic
			}
			return nil
		default:
			ev, err := workers.Decode[messages.BatchEncoded](msg)
			if err != nil {
				return err
			}
			workers.SetIDs(msg, "", ev.BatchID)
			return workers.Permanent(errors.New("profile unknown"))
		}
	}}, 5*time.Second)
	bad := e.publish(t, "pay.test.perm.bad", []byte(`{"type":"pay.batch.encoded","nb_of_txs":"two"}`), map[string]string{workers.MetaMsgID: "bad-1"})
	refused := e.publish(t, "pay.test.perm.refused", []byte(`{"batch_id":"B-9"}`), map[string]string{workers.MetaMsgID: "ref-1"})
	pan := e.publish(t, "pay.test.perm.panic", []byte(`{}`), map[string]string{workers.MetaMsgID: "pan-1"})
	for _, seq := range []uint64{bad, refused, pan} {
		waitFor(t, 10*time.Second, fmt.Sprintf("message %d to be acked", seq), func() bool {
			info := e.consumer(t, "perm")
			return info.AckFloor.Stream >= seq && info.NumAckPending == 0
		})
	}
	dls, _ := e.deadLetters(t, "perm")
	slices.SortFunc(dls, func(a, b messages.DeadLetter) int { return int(a.StreamSeq) - int(b.StreamSeq) })
	if len(dls) != 2 {
		t.Fatalf("%d dead letters, want 2: %+v", len(dls), dls)
	}
	if dls[0].StreamSeq != bad || dls[0].Attempts != 1 || !contains(dls[0].Error, "permanent failure: workers: decoding messages.BatchEncoded from pay.test.perm.bad") ||
		!contains(dls[0].Error, "nb_of_txs") {
		t.Errorf("dead letter of the undecodable body = attempts %d, error %q", dls[0].Attempts, dls[0].Error)
	}
	if dls[1].StreamSeq != refused || dls[1].Attempts != 1 || dls[1].Error != "permanent failure: profile unknown" || dls[1].BatchID != "B-9" {
		t.Errorf("dead letter of the refused message = %+v", dls[1])
	}
	if panics.Load() != 1 {
		t.Errorf("handler panicked %d times, want 1", panics.Load())
	}
	var panicAttempts []int
	rec.mu.Lock()
	for _, d := range rec.seen {
		if d.subject == "pay.test.perm.panic" {
			panicAttempts = append(panicAttempts, d.n)
		}
	}
	rec.mu.Unlock()
	if !slices.Equal(panicAttempts, []int{1, 2}) {
		t.Errorf("deliveries of the panicking message = %v, want [1 2]", panicAttempts)
	}
}

// TestHeartbeatKeepsLongHandler runs a 3 s handler under a 1 s AckWait:
// InProgress heartbeats keep the server from redelivering it.
func TestHeartbeatKeepsLongHandler(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cs := spec("slow")
	cs.AckWait = time.Second
	var rec recorder
	e.start(t, workers.Worker{Name: "slow", Consumer: cs, Handler: func(msg *message.Message) error {
		rec.begin(msg)
		select { // the work: a slow bank call
		case <-time.After(3 * time.Second):
			return nil
		case <-msg.Context().Done():
			return msg.Context().Err()
		}
	}}, 5*time.Second)
	seq := e.publish(t, "pay.test.slow.1", []byte(`{}`), map[string]string{workers.MetaMsgID: "in-1"})
	waitFor(t, 10*time.Second, "the slow message to be acked", func() bool { return e.settled(t, "slow", seq) })
	if info := e.consumer(t, "slow"); info.Delivered.Consumer != 1 {
		t.Errorf("consumer made %d deliveries, want 1 (no redelivery)", info.Delivered.Consumer)
	}
	if rec.count() != 1 {
		t.Errorf("handler ran %d times, want 1", rec.count())
	}
}

// TestCloseDrainsInFlight closes the router while a handler runs: Close
// waits for it and its message is acked.
func TestCloseDrainsInFlight(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	started := make(chan struct{})
	stop := e.start(t, workers.Worker{Name: "drain", Consumer: spec("drain"), Handler: func(msg *message.Message) error {
		close(started)
		select {
		case <-time.After(500 * time.Millisecond):
			return nil
		case <-msg.Context().Done():
			return msg.Context().Err()
		}
	}}, 5*time.Second)
	seq := e.publish(t, "pay.test.drain.1", []byte(`{}`), map[string]string{workers.MetaMsgID: "in-1"})
	<-started
	if err := stop(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if !e.settled(t, "drain", seq) {
		t.Error("the message in flight at Close was not acked")
	}
}

// TestServerRestart restarts JetStream under a running worker, with a
// message waiting for its delayed redelivery: the worker reconnects, the
// retry survives the restart, and new messages keep flowing.
func TestServerRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cs := spec("restart")
	cs.AckWait = time.Second
	cs.Backoff = []time.Duration{500 * time.Millisecond}
	var rec recorder
	failed := make(chan struct{})
	e.start(t, workers.Worker{Name: "restart", Consumer: cs, Handler: func(msg *message.Message) error {
		rec.begin(msg)
		if d, _ := workers.DeliveryFrom(msg.Context()); msg.Metadata.Get(workers.MetaSubject) == "pay.test.restart.1" && d.NumDelivered == 1 {
			close(failed)
			return errors.New("bank unavailable")
		}
		return nil
	}}, 5*time.Second)
	first := e.publish(t, "pay.test.restart.1", []byte(`{}`), map[string]string{workers.MetaMsgID: "in-1"})
	<-failed
	e.srv.Restart()
	waitFor(t, 10*time.Second, "the failed message to be retried after the restart", func() bool { return e.settled(t, "restart", first) })
	second := e.publish(t, "pay.test.restart.2", []byte(`{}`), map[string]string{workers.MetaMsgID: "in-2"})
	waitFor(t, 10*time.Second, "a new message to be handled after the restart", func() bool { return e.settled(t, "restart", second) })
	if got := rec.attempts(); !slices.Equal(got, []int{1, 2, 1}) {
		t.Errorf("deliveries = %v, want [1 2 1]", got)
	}
}
