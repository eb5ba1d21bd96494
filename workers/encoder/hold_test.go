package encoder_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/isogate/isogate/internal/intentgen"
	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/workers/encoder"
)

// holdEnv is an env with the submitter's consumer on PAYMENTS, which no
// one reads until the test says, and intents of one group (one debtor,
// one date): every batch the encoder closes is one file of that group.
type holdEnv struct {
	*env
	submitter jetstream.Consumer
	next      int
}

func newHoldEnv(t *testing.T) *holdEnv {
	t.Helper()
	e := newEnv(t, nil)
	c, err := e.js.CreateOrUpdateConsumer(t.Context(), messages.StreamPayments, jetstream.ConsumerConfig{
		Durable: encoder.Downstream, FilterSubject: messages.SubjectBatchesEncoded, AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &holdEnv{env: e, submitter: c}
}

// publish publishes n more intents of the group and returns their ids.
func (e *holdEnv) publish(t *testing.T, n int) []string {
	t.Helper()
	all := intentgen.Intents(e.next+n, intentgen.Options{Prefix: "H", Debtors: 1, Seed: 9})[e.next:]
	e.next += n
	ids := make([]string, n)
	for i := range all {
		all[i].ExecutionDate = "2026-12-01"
		ids[i] = all[i].ID
	}
	e.publishIntents(t, all)
	return ids
}

func (e *holdEnv) encodedCount(t *testing.T) int {
	t.Helper()
	n := 0
	for _, c := range e.subjectCounts(t, messages.StreamPayments, "pay.batch.encoded.>") {
		n += int(c)
	}
	return n
}

// delivered reports whether the encoder's consumer has been delivered
// every intent published (they are then held in a batch, not yet acked).
func (e *holdEnv) delivered(t *testing.T) bool {
	c, err := e.js.Consumer(t.Context(), messages.StreamPayments, encoder.Name)
	if err != nil {
		return false
	}
	info, err := c.Info(t.Context())
	return err == nil && info.NumPending == 0
}

// TestHoldWhileSubmitterBehind: while the submitter has an encoded batch
// it has not taken, a batch whose wait is up keeps collecting, so intents
// arriving after the wait still join its file; once the submitter takes
// its backlog, the batch closes.
func TestHoldWhileSubmitterBehind(t *testing.T) {
	t.Parallel()
	e := newHoldEnv(t)
	cfg := testConfig()
	cfg.MaxHold = time.Minute
	e.start(t, cfg, nil)

	first := e.publish(t, 2)
	eventually(t, 15*time.Second, "the first batch encoded", func() bool { return e.encodedCount(t) == 1 })
	// The submitter has not taken that batch: the next one is held.
	early := e.publish(t, 3)
	eventually(t, 15*time.Second, "a batch held past its wait", func() bool {
		return e.counter(t, "isogate_encoder_batches_held_total") >= 1
	})
	late := e.publish(t, 2)
	eventually(t, 15*time.Second, "the late intents delivered to the encoder", func() bool { return e.delivered(t) })
	if n := e.encodedCount(t); n != 1 {
		t.Fatalf("%d batches encoded while the submitter was behind and the hold a minute long, want 1", n)
	}

	// The submitter takes its backlog.
	batch, err := e.submitter.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		if err := m.Ack(); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 15*time.Second, "all intents acked", func() bool { return e.drained(t) })
	encoded, owner := e.encodedBatches(t)
	if len(encoded) != 2 {
		t.Fatalf("%d batches, want 2", len(encoded))
	}
	for _, id := range first {
		if owner[id] == owner[early[0]] {
			t.Errorf("intent %s of the first batch is in the held one", id)
		}
	}
	for _, id := range append(early[1:], late...) {
		if owner[id] != owner[early[0]] {
			t.Errorf("intent %s is in batch %s, want the held batch %s: it arrived while the batch was held", id, owner[id], owner[early[0]])
		}
	}
	for _, b := range encoded {
		data, _ := e.readArchived(t, b)
		validateXSD(t, data, "pain.001.001.03")
	}
}

// TestHoldBounded: a backlog that does not clear holds a batch for
// MaxHold, then it closes; a MaxHold not above the wait holds nothing.
func TestHoldBounded(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		maxHold time.Duration
		held    bool
	}{
		{"max hold 1s", time.Second, true},
		{"max hold = wait", testConfig().Wait, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newHoldEnv(t)
			cfg := testConfig()
			cfg.MaxHold = tc.maxHold
			e.start(t, cfg, nil)
			e.publish(t, 1)
			eventually(t, 15*time.Second, "the first batch encoded", func() bool { return e.encodedCount(t) == 1 })
			published := time.Now()
			e.publish(t, 2)
			eventually(t, 15*time.Second, "all intents acked", func() bool { return e.drained(t) })
			encoded, _ := e.encodedBatches(t)
			if len(encoded) != 2 {
				t.Fatalf("%d batches, want 2", len(encoded))
			}
			last := encoded[0]
			if encoded[1].CreatedAt.After(last.CreatedAt) {
				last = encoded[1]
			}
			collected := last.CreatedAt.Sub(published)
			held := e.counter(t, "isogate_encoder_batches_held_total")
			if tc.held && (held != 1 || collected < tc.maxHold) {
				t.Errorf("held %v batches, the second closed %s after its intents were published; want 1 held at least %s", held, collected, tc.maxHold)
			}
			if !tc.held && held != 0 {
				t.Errorf("held %v batches with max hold %s = the wait, want none", held, tc.maxHold)
			}
		})
	}
}
