package state_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/isogate/isogate/internal/natstest"
	"github.com/isogate/isogate/internal/provision"
	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/workers"
	"github.com/isogate/isogate/workers/state"
)

// env is one embedded JetStream server with the gateway's buckets.
type env struct {
	srv     *natstest.Server
	nc      *nats.Conn
	js      jetstream.JetStream
	batches *state.Batches
	intents *state.Intents
}

func setup(t *testing.T, opts state.Options) *env {
	t.Helper()
	srv := natstest.Start(t)
	nc, js := srv.Connect()
	if _, err := provision.Apply(t.Context(), js, provision.Options{Replicas: 1, DuplicateWindow: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	b, in, err := state.New(t.Context(), js, opts)
	if err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, nc: nc, js: js, batches: b, intents: in}
}

// eventually polls cond until it returns nil or 10 s pass.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after 10s: %v", what, err)
		}
		<-tick.C
	}
}

// restart crashes and restarts the server and waits until the client is
// back and JetStream answers.
func (e *env) restart(t *testing.T) {
	t.Helper()
	e.srv.Restart()
	eventually(t, "reconnecting after restart", func() error {
		if !e.nc.IsConnected() {
			return errors.New("not connected")
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		_, err := e.js.AccountInfo(ctx)
		return err
	})
}

const sum = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// encodedBatch returns a batch ready to be created in state encoded.
func encodedBatch(id string, intents ...string) state.Batch {
	if len(intents) == 0 {
		intents = []string{id + "-1", id + "-2"}
	}
	return state.Batch{
		ID: id, State: state.Encoded, Profile: "ekase", Message: "pain.001.001.03",
		DebtorIBAN: "LV80TREL0000435195001", Currency: "EUR", ExecutionDate: "2026-11-23",
		IntentIDs: intents, NbOfTxs: len(intents), CtrlSum: "300.00",
		Archive: &state.Object{Name: "pain.001/" + id + ".xml", SHA256: sum, Size: 1234},
	}
}

// TestTransitionTable pins the state machine of DESIGN.md.
func TestTransitionTable(t *testing.T) {
	want := map[state.State][]state.State{
		state.Open:              {state.Encoded, state.Failed},
		state.Encoded:           {state.Submitting, state.Failed},
		state.Submitting:        {state.Submitted, state.InDoubt, state.Failed},
		state.InDoubt:           {state.Submitted, state.Encoded},
		state.Submitted:         {state.Accepted, state.PartiallyAccepted, state.Rejected},
		state.Accepted:          {state.Settled},
		state.PartiallyAccepted: {state.Settled},
		state.Rejected:          nil,
		state.Settled:           nil,
		state.Failed:            nil,
	}
	for _, from := range state.States {
		for _, to := range state.States {
			if got, w := from.CanMove(to), slices.Contains(want[from], to); got != w {
				t.Errorf("%s.CanMove(%s) = %v, want %v", from, to, got, w)
			}
		}
		if got, w := from.Terminal(), len(want[from]) == 0; got != w {
			t.Errorf("%s.Terminal() = %v, want %v", from, got, w)
		}
	}
	if len(want) != len(state.States) {
		t.Errorf("%d states, want %d", len(state.States), len(want))
	}
}

// TestLifecycle walks a batch from open to settled through an in-doubt
// upload, checking what Transition keeps on the way.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	e := setup(t, state.Options{Worker: "encoder"})
	ctx := t.Context()
	b, err := e.batches.Create(ctx, state.Batch{ID: "MSG-1", Profile: "ekase"})
	if err != nil {
		t.Fatal(err)
	}
	if b.State != state.Open || b.Revision == 0 || len(b.History) != 1 || b.History[0].Reason != "created" {
		t.Fatalf("Create = %+v, want open at a revision with one history entry", b)
	}
	// Encoded needs the archived file.
	if _, err := e.batches.Transition(ctx, "MSG-1", state.Encoded, "encoded", nil); !errors.Is(err, state.ErrInvalidBatch) {
		t.Fatalf("encoding without archive: err = %v, want ErrInvalidBatch", err)
	}
	full := encodedBatch("MSG-1")
	b, err = e.batches.Transition(ctx, "MSG-1", state.Encoded, "encoded 2 intents", func(b *state.Batch) error {
		b.IntentIDs, b.NbOfTxs, b.CtrlSum, b.Archive = full.IntentIDs, full.NbOfTxs, full.CtrlSum, full.Archive
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if b.EncodedAt.IsZero() {
		t.Error("EncodedAt not set on entering encoded")
	}
	sub := e.batches.WithWorker("submitter")
	steps := []struct {
		to     state.State
		reason string
	}{
		{state.Submitting, "upload 1"},
		{state.InDoubt, "timeout after sending"},
		{state.Encoded, "status query: bank does not know MSG-1"},
		{state.Submitting, "upload 2"},
		{state.Submitted, "bank ref R-1"},
		{state.Accepted, "pain.002 GrpSts ACCP"},
		{state.Settled, "every payment booked"},
	}
	for _, s := range steps {
		prev := b
		b, err = sub.Transition(ctx, "MSG-1", s.to, s.reason, nil)
		if err != nil {
			t.Fatalf("%s → %s: %v", prev.State, s.to, err)
		}
		if b.Revision <= prev.Revision {
			t.Errorf("%s: revision %d after %d", s.to, b.Revision, prev.Revision)
		}
		if b.State == state.InDoubt && b.InDoubtReason != s.reason {
			t.Errorf("in_doubt reason = %q, want %q", b.InDoubtReason, s.reason)
		}
		if b.State != state.InDoubt && b.InDoubtReason != "" {
			t.Errorf("%s keeps in_doubt reason %q", b.State, b.InDoubtReason)
		}
	}
	if b.Attempts != 2 {
		t.Errorf("Attempts = %d, want 2", b.Attempts)
	}
	if len(b.History) != 2+len(steps) {
		t.Fatalf("history has %d entries, want %d", len(b.History), 2+len(steps))
	}
	last := b.History[len(b.History)-1]
	if last.From != state.Accepted || last.To != state.Settled || last.Worker != "submitter" || last.Reason != "every payment booked" {
		t.Errorf("last history entry = %+v", last)
	}
	got, err := e.batches.Get(ctx, "MSG-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Revision != b.Revision || got.State != state.Settled || got.Archive.SHA256 != sum {
		t.Errorf("Get = %+v, want what Transition returned", got)
	}
	if _, err := e.batches.Get(ctx, "NOPE"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("Get(NOPE) err = %v, want ErrNotFound", err)
	}
}

// TestIllegalTransitions: every move the table does not allow is refused
// with a TransitionError naming both states, and nothing is written.
func TestIllegalTransitions(t *testing.T) {
	t.Parallel()
	e := setup(t, state.Options{})
	ctx := t.Context()
	// One batch per state, reached along legal paths.
	paths := map[state.State][]state.State{
		state.Open:              nil,
		state.Encoded:           {state.Encoded},
		state.Submitting:        {state.Encoded, state.Submitting},
		state.InDoubt:           {state.Encoded, state.Submitting, state.InDoubt},
		state.Submitted:         {state.Encoded, state.Submitting, state.Submitted},
		state.Accepted:          {state.Encoded, state.Submitting, state.Submitted, state.Accepted},
		state.PartiallyAccepted: {state.Encoded, state.Submitting, state.Submitted, state.PartiallyAccepted},
		state.Rejected:          {state.Encoded, state.Submitting, state.Submitted, state.Rejected},
		state.Settled:           {state.Encoded, state.Submitting, state.Submitted, state.Accepted, state.Settled},
		state.Failed:            {state.Failed},
	}
	full := encodedBatch("X")
	fill := func(b *state.Batch) error {
		b.IntentIDs, b.NbOfTxs, b.CtrlSum, b.Archive = full.IntentIDs, full.NbOfTxs, full.CtrlSum, full.Archive
		return nil
	}
	for _, from := range state.States {
		id := "B-" + string(from)
		if _, err := e.batches.Create(ctx, state.Batch{ID: id}); err != nil {
			t.Fatal(err)
		}
		for _, s := range paths[from] {
			if _, err := e.batches.Transition(ctx, id, s, "to "+string(s), fill); err != nil {
				t.Fatalf("%s: reaching %s: %v", id, s, err)
			}
		}
		before, err := e.batches.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, to := range state.States {
			if from.CanMove(to) {
				continue
			}
			_, err := e.batches.Transition(ctx, id, to, "illegal", fill)
			var te *state.TransitionError
			if !errors.As(err, &te) || !errors.Is(err, state.ErrIllegalTransition) || te.Current != from || te.Wanted != to {
				t.Errorf("%s → %s: err = %v, want a TransitionError from %s to %s", from, to, err, from, to)
			}
		}
		after, err := e.batches.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if after.Revision != before.Revision {
			t.Errorf("%s: refused transitions wrote revision %d over %d", id, after.Revision, before.Revision)
		}
	}
}

// TestCreateIsCreateOnly: a second Create of one id fails with the stored
// record, whatever state the first one is in.
func TestCreateIsCreateOnly(t *testing.T) {
	t.Parallel()
	e := setup(t, state.Options{})
	ctx := t.Context()
	first, err := e.batches.Create(ctx, encodedBatch("MSG.with dots"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.batches.Create(ctx, state.Batch{ID: "MSG.with dots"})
	var ee *state.ExistsError
	if !errors.As(err, &ee) || !errors.Is(err, state.ErrExists) {
		t.Fatalf("second Create err = %v, want ExistsError", err)
	}
	if ee.Batch.Revision != first.Revision || ee.Batch.State != state.Encoded {
		t.Errorf("ExistsError carries %+v, want the first record", ee.Batch)
	}
	for _, b := range []state.Batch{
		{ID: "S", State: state.Submitting},
		{ID: strings.Repeat("x", 36)},
		{ID: ""},
		{ID: "E", State: state.Encoded},
	} {
		if _, err := e.batches.Create(ctx, b); !errors.Is(err, state.ErrInvalidBatch) {
			t.Errorf("Create(%q, %s) err = %v, want ErrInvalidBatch", b.ID, b.State, err)
		}
	}
}

// TestRaceToSubmitting: N submitters race to move one encoded batch to
// submitting; exactly one wins, the others are told it is submitting.
func TestRaceToSubmitting(t *testing.T) {
	t.Parallel()
	e := setup(t, state.Options{})
	ctx := t.Context()
	const n = 16
	for _, sameReason := range []bool{false, true} {
		id := fmt.Sprintf("RACE-%v", sameReason)
		if _, err := e.batches.Create(ctx, encodedBatch(id)); err != nil {
			t.Fatal(err)
		}
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			errs  = make([]error, n)
		)
		for i := range n {
			wg.Go(func() {
				w := e.batches.WithWorker(fmt.Sprintf("submitter-%d", i))
				reason := fmt.Sprintf("upload by %d", i)
				if sameReason {
					reason = "upload"
				}
				<-start
				_, errs[i] = w.Transition(ctx, id, state.Submitting, reason, nil)
			})
		}
		close(start)
		wg.Wait()
		won := 0
		for i, err := range errs {
			var te *state.TransitionError
			switch {
			case err == nil:
				won++
			case sameReason && errors.Is(err, state.ErrAlreadyInState):
			case !sameReason && errors.As(err, &te) && errors.Is(err, state.ErrIllegalTransition) && te.Current == state.Submitting:
			default:
				t.Errorf("%s: submitter %d: unexpected error %v", id, i, err)
			}
		}
		if won != 1 {
			t.Errorf("%s: %d submitters won, want exactly 1", id, won)
		}
		b, err := e.batches.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if b.Attempts != 1 || len(b.History) != 2 {
			t.Errorf("%s: attempts %d, %d history entries; want 1 and 2 (one write)", id, b.Attempts, len(b.History))
		}
	}
}

// TestConflictRechecks: when another writer changes the batch between the
// read and the compare-and-set, Transition reads again and decides again:
// refusing if the move is no longer allowed, keeping the other writer's
// change if it still is.
func TestConflictRechecks(t *testing.T) {
	t.Parallel()
	e := setup(t, state.Options{})
	ctx := t.Context()
	a, b := e.batches.WithWorker("a"), e.batches.WithWorker("b")

	t.Run("no longer allowed", func(t *testing.T) {
		if _, err := e.batches.Create(ctx, encodedBatch("C-1")); err != nil {
			t.Fatal(err)
		}
		calls := 0
		_, err := a.Transition(ctx, "C-1", state.Submitting, "upload", func(*state.Batch) error {
			calls++
			if calls == 1 { // b fails the batch between a's read and a's write
				if _, err := b.Transition(ctx, "C-1", state.Failed, "archive object missing", nil); err != nil {
					t.Fatal(err)
				}
			}
			return nil
		})
		var te *state.TransitionError
		if !errors.As(err, &te) || te.Current != state.Failed || te.Wanted != state.Submitting {
			t.Fatalf("err = %v, want a TransitionError from failed", err)
		}
		got, _ := e.batches.Get(ctx, "C-1")
		if got.State != state.Failed || got.Attempts != 0 || got.History[len(got.History)-1].Worker != "b" {
			t.Errorf("record = %+v, want b's failed record untouched", got)
		}
	})

	t.Run("still allowed", func(t *testing.T) {
		if _, err := e.batches.Create(ctx, encodedBatch("C-2")); err != nil {
			t.Fatal(err)
		}
		calls := 0
		got, err := a.Transition(ctx, "C-2", state.Submitting, "upload", func(x *state.Batch) error {
			calls++
			if calls == 1 { // b records a receipt meanwhile
				if _, err := b.Update(ctx, "C-2", func(y *state.Batch) error {
					y.Receipt = &state.Receipt{BankRef: "R-9"}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			x.GroupStatus = messages.TxStatusRCVD
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if calls != 2 {
			t.Errorf("mutate ran %d times, want 2 (once per read)", calls)
		}
		if got.State != state.Submitting || got.Receipt == nil || got.Receipt.BankRef != "R-9" || got.GroupStatus != messages.TxStatusRCVD {
			t.Errorf("record = %+v, want a's transition on top of b's receipt", got)
		}
	})

	t.Run("mutate may not move", func(t *testing.T) {
		if _, err := e.batches.Create(ctx, encodedBatch("C-3")); err != nil {
			t.Fatal(err)
		}
		_, err := a.Update(ctx, "C-3", func(x *state.Batch) error { x.State = state.Submitted; return nil })
		if err == nil {
			t.Fatal("Update that changes the state succeeded")
		}
		boom := errors.New("boom")
		_, err = a.Transition(ctx, "C-3", state.Submitting, "upload", func(*state.Batch) error { return boom })
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want mutate's error", err)
		}
		got, _ := e.batches.Get(ctx, "C-3")
		if got.State != state.Encoded || len(got.History) != 1 {
			t.Errorf("record = %+v, want it unchanged", got)
		}
	})
}

// TestAlreadyInState: repeating a transition with the same reason is
// reported as ErrAlreadyInState with the record, and writes nothing.
func TestAlreadyInState(t *testing.T) {
	t.Parallel()
	e := setup(t, state.Options{})
	ctx := t.Context()
	if _, err := e.batches.Create(ctx, encodedBatch("A-1")); err != nil {
		t.Fatal(err)
	}
	first, err := e.batches.Transition(ctx, "A-1", state.Submitting, "pay.batch.encoded seq 7", nil)
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.batches.Transition(ctx, "A-1", state.Submitting, "pay.batch.encoded seq 7", nil)
	if !errors.Is(err, state.ErrAlreadyInState) || errors.Is(err, state.ErrIllegalTransition) {
		t.Fatalf("repeat err = %v, want ErrAlreadyInState only", err)
	}
	if again == nil || again.Revision != first.Revision {
		t.Fatalf("repeat returned %+v, want the record at revision %d", again, first.Revision)
	}
	_, err = e.batches.Transition(ctx, "A-1", state.Submitting, "another submitter", nil)
	if !errors.Is(err, state.ErrIllegalTransition) {
		t.Errorf("same state, other reason: err = %v, want ErrIllegalTransition", err)
	}
}

// TestRestartKeepsState crashes the server between steps: every record and
// revision survives, a compare-and-set on a pre-crash revision still fails,
// and batches left in submitting are found for in-doubt recovery.
func TestRestartKeepsState(t *testing.T) {
	t.Parallel()
	e := setup(t, state.Options{Worker: "submitter"})
	ctx := t.Context()
	for _, id := range []string{"R-1", "R-2", "R-3"} {
		if _, err := e.batches.Create(ctx, encodedBatch(id)); err != nil {
			t.Fatal(err)
		}
		for _, in := range []string{id + "-1", id + "-2"} {
			if _, ok, err := e.intents.Claim(ctx, in, id); err != nil || !ok {
				t.Fatalf("Claim(%s): %v %v", in, ok, err)
			}
		}
	}
	if _, err := e.batches.Transition(ctx, "R-1", state.Submitting, "upload 1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.batches.Transition(ctx, "R-2", state.Submitting, "upload 1", nil); err != nil {
		t.Fatal(err)
	}
	snapshot := func() map[string]uint64 {
		revs := map[string]uint64{}
		all, err := e.batches.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range all {
			revs["batch "+b.ID] = b.Revision
			for _, in := range b.IntentIDs {
				rec, err := e.intents.Get(ctx, in)
				if err != nil {
					t.Fatal(err)
				}
				revs["intent "+in] = rec.Revision
			}
		}
		return revs
	}
	before := snapshot()
	r1, _ := e.batches.Get(ctx, "R-1")

	e.restart(t)

	if after := snapshot(); !mapsEqual(before, after) {
		t.Fatalf("after restart revisions = %v, want %v", after, before)
	}
	inDoubt, err := e.batches.List(ctx, state.Submitting)
	if err != nil {
		t.Fatal(err)
	}
	if ids := batchIDs(inDoubt); !slices.Equal(ids, []string{"R-1", "R-2"}) {
		t.Fatalf("List(submitting) = %v, want [R-1 R-2]", ids)
	}
	// A writer holding the pre-crash record loses to the one who writes first.
	if _, err := e.batches.Transition(ctx, "R-1", state.InDoubt, "found submitting at start", nil); err != nil {
		t.Fatal(err)
	}
	kv, err := e.js.KeyValue(ctx, messages.BucketBatches)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Update(ctx, "R-1", []byte(`{}`), r1.Revision); !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		t.Fatalf("blind write at the pre-crash revision: err = %v, want a revision mismatch", err)
	}

	e.restart(t)

	got, err := e.batches.Transition(ctx, "R-1", state.Encoded, "status query: unknown to the bank", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Attempts != 1 || got.EncodedAt.IsZero() || got.Archive == nil || len(got.History) != 4 {
		t.Errorf("after two restarts R-1 = %+v", got)
	}
	if _, _, err := e.intents.Claim(ctx, "R-1-1", "R-3"); err != nil {
		t.Fatal(err)
	}
	rec, _ := e.intents.Get(ctx, "R-1-1")
	if rec.BatchID != "R-1" {
		t.Errorf("after restart intent R-1-1 is with %s, want R-1", rec.BatchID)
	}
}

func mapsEqual(a, b map[string]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func batchIDs(bs []*state.Batch) []string {
	var ids []string
	for _, b := range bs {
		ids = append(ids, b.ID)
	}
	return ids
}

// TestHistoryBounded: a batch going round in_doubt keeps its last
// MaxHistory transitions and counts the rest; the bucket keeps at most 10
// revisions.
func TestHistoryBounded(t *testing.T) {
	t.Parallel()
	e := setup(t, state.Options{MaxHistory: 5})
	ctx := t.Context()
	if _, err := e.batches.Create(ctx, encodedBatch("H-1")); err != nil {
		t.Fatal(err)
	}
	const rounds = 12
	var b *state.Batch
	var err error
	for i := range rounds {
		for _, s := range []state.State{state.Submitting, state.InDoubt, state.Encoded} {
			if b, err = e.batches.Transition(ctx, "H-1", s, fmt.Sprintf("round %d", i), nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	total := 1 + 3*rounds
	if len(b.History) != 5 || b.HistoryDropped != total-5 {
		t.Errorf("history %d entries, %d dropped; want 5 and %d", len(b.History), b.HistoryDropped, total-5)
	}
	if last := b.History[4]; last.To != state.Encoded || last.Reason != fmt.Sprintf("round %d", rounds-1) {
		t.Errorf("last entry = %+v, want the latest transition", last)
	}
	if b.Attempts != rounds {
		t.Errorf("Attempts = %d, want %d", b.Attempts, rounds)
	}
	kv, err := e.js.KeyValue(ctx, messages.BucketBatches)
	if err != nil {
		t.Fatal(err)
	}
	hist, err := kv.History(ctx, "H-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) > 10 {
		t.Errorf("bucket keeps %d revisions of H-1, want at most 10", len(hist))
	}
}

// TestClaimRace: N batches claim one intent at once; exactly one gets it and
// every other is told which one did.
func TestClaimRace(t *testing.T) {
	t.Parallel()
	e := setup(t, state.Options{})
	ctx := t.Context()
	const n = 16
	type result struct {
		rec *state.Intent
		ok  bool
		err error
	}
	res := make([]result, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			rec, ok, err := e.intents.Claim(ctx, "INV-1", fmt.Sprintf("B-%d", i))
			res[i] = result{rec, ok, err}
		})
	}
	close(start)
	wg.Wait()
	winner := ""
	for i, r := range res {
		if r.err != nil {
			t.Fatalf("claim %d: %v", i, r.err)
		}
		if r.ok {
			if winner != "" {
				t.Fatalf("both %s and B-%d claimed INV-1", winner, i)
			}
			winner = fmt.Sprintf("B-%d", i)
		}
	}
	if winner == "" {
		t.Fatal("nobody claimed INV-1")
	}
	for i, r := range res {
		if r.rec.BatchID != winner {
			t.Errorf("claim %d sees batch %s, want %s", i, r.rec.BatchID, winner)
		}
	}
	// A late copy, and the winner's redelivery.
	if rec, ok, err := e.intents.Claim(ctx, "INV-1", "B-late"); err != nil || ok || rec.BatchID != winner {
		t.Errorf("late claim = %+v, %v, %v; want the winner's record", rec, ok, err)
	}
	if _, ok, err := e.intents.Claim(ctx, "INV-1", winner); err != nil || !ok {
		t.Errorf("winner's repeated claim = %v, %v; want true", ok, err)
	}
}

// TestReleaseOnlyNeverEncoded: an intent goes back to the pool only from a
// batch abandoned before encoding; Abandon and encoding race safely.
func TestReleaseOnlyNeverEncoded(t *testing.T) {
	t.Parallel()
	e := setup(t, state.Options{})
	ctx := t.Context()

	// An open batch whose encoder died.
	if _, err := e.batches.Create(ctx, state.Batch{ID: "DEAD"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.intents.Claim(ctx, "I-1", "DEAD"); err != nil {
		t.Fatal(err)
	}
	// Released only with proof.
	open, _ := e.batches.Get(ctx, "DEAD")
	if err := e.intents.Release(ctx, "I-1", open); !errors.Is(err, state.ErrNotReleasable) {
		t.Fatalf("Release from an open batch: err = %v, want ErrNotReleasable", err)
	}
	dead, err := e.batches.Abandon(ctx, "DEAD", "encoder lease expired")
	if err != nil || !dead.Releasable() {
		t.Fatalf("Abandon = %+v, %v", dead, err)
	}
	if again, err := e.batches.Abandon(ctx, "DEAD", "again"); err != nil || again.Revision != dead.Revision {
		t.Fatalf("second Abandon = %+v, %v; want the same record", again, err)
	}
	if _, err := e.batches.Transition(ctx, "DEAD", state.Encoded, "late encoder", nil); !errors.Is(err, state.ErrIllegalTransition) {
		t.Fatalf("encoding an abandoned batch: err = %v", err)
	}
	for range 2 {
		if err := e.intents.Release(ctx, "I-1", dead); err != nil {
			t.Fatal(err)
		}
	}
	if rec, ok, err := e.intents.Claim(ctx, "I-1", "NEXT"); err != nil || !ok || rec.BatchID != "NEXT" {
		t.Fatalf("claim after release = %+v, %v, %v", rec, ok, err)
	}
	// Releasing again from DEAD leaves NEXT's claim alone.
	if err := e.intents.Release(ctx, "I-1", dead); err != nil {
		t.Fatal(err)
	}
	if rec, _ := e.intents.Get(ctx, "I-1"); rec.BatchID != "NEXT" {
		t.Fatalf("I-1 is with %s, want NEXT", rec.BatchID)
	}

	// A claim whose batch was never recorded: Abandon writes a failed record
	// that an encoder can no longer create.
	if _, _, err := e.intents.Claim(ctx, "I-2", "GHOST"); err != nil {
		t.Fatal(err)
	}
	ghost, err := e.batches.Abandon(ctx, "GHOST", "claim without batch")
	if err != nil || !ghost.Releasable() {
		t.Fatalf("Abandon(GHOST) = %+v, %v", ghost, err)
	}
	if _, err := e.batches.Create(ctx, encodedBatch("GHOST", "I-2")); !errors.Is(err, state.ErrExists) {
		t.Fatalf("Create after Abandon: err = %v, want ErrExists", err)
	}

	// An encoded batch keeps its intents.
	enc, err := e.batches.Create(ctx, encodedBatch("ENC", "I-3"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.intents.Claim(ctx, "I-3", "ENC"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.batches.Abandon(ctx, "ENC", "nope"); !errors.Is(err, state.ErrIllegalTransition) {
		t.Fatalf("Abandon(encoded) err = %v, want ErrIllegalTransition", err)
	}
	failed, err := e.batches.Transition(ctx, "ENC", state.Failed, "profile removed", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []*state.Batch{enc, failed} {
		if err := e.intents.Release(ctx, "I-3", b); !errors.Is(err, state.ErrNotReleasable) {
			t.Errorf("Release from %s batch: err = %v, want ErrNotReleasable", b.State, err)
		}
	}
	if _, err := e.batches.Abandon(ctx, "ENC", "nope"); !errors.Is(err, state.ErrIllegalTransition) {
		t.Errorf("Abandon(failed after encoding) err = %v, want ErrIllegalTransition", err)
	}

	// Abandon races the encoder: exactly one of them wins, every time.
	for i := range 10 {
		id := fmt.Sprintf("RACE-%d", i)
		if _, err := e.batches.Create(ctx, state.Batch{ID: id}); err != nil {
			t.Fatal(err)
		}
		full := encodedBatch(id)
		var encErr, abErr error
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Go(func() {
			<-start
			_, encErr = e.batches.Transition(ctx, id, state.Encoded, "encoded", func(b *state.Batch) error {
				b.IntentIDs, b.NbOfTxs, b.CtrlSum, b.Archive = full.IntentIDs, full.NbOfTxs, full.CtrlSum, full.Archive
				return nil
			})
		})
		wg.Go(func() {
			<-start
			_, abErr = e.batches.Abandon(ctx, id, "stolen")
		})
		close(start)
		wg.Wait()
		if (encErr == nil) == (abErr == nil) {
			t.Fatalf("%s: encode err %v, abandon err %v; want exactly one to succeed", id, encErr, abErr)
		}
		for _, err := range []error{encErr, abErr} {
			if err != nil && !errors.Is(err, state.ErrIllegalTransition) {
				t.Errorf("%s: loser's err = %v, want ErrIllegalTransition", id, err)
			}
		}
	}
}

// TestOpenWithoutBuckets says how to get the buckets.
func TestOpenWithoutBuckets(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	_, js := srv.Connect()
	_, _, err := state.New(t.Context(), js, state.Options{})
	if err == nil || !strings.Contains(err.Error(), "isogate serve") {
		t.Fatalf("New without buckets: err = %v, want advice", err)
	}
}

// TestForEvent: the batch a batch event names, or a permanent error (the
// DLQ) for an event without a batch id or a batch with no record.
func TestForEvent(t *testing.T) {
	e := setup(t, state.Options{})
	ctx := t.Context()
	if _, err := e.batches.Create(ctx, state.Batch{ID: "EV-1"}); err != nil {
		t.Fatal(err)
	}
	msg := message.NewMessage("1", nil)
	msg.SetContext(ctx)
	b, err := e.batches.ForEvent(msg, "w", "pay.batch.encoded", "EV-1")
	if err != nil || b.ID != "EV-1" || msg.Metadata.Get(workers.HeaderBatchID) != "EV-1" {
		t.Errorf("ForEvent(EV-1) = %v, %v, batch header %q; want the batch", b, err, msg.Metadata.Get(workers.HeaderBatchID))
	}
	for _, id := range []string{"", "EV-NONE"} {
		if _, err := e.batches.ForEvent(msg, "w", "pay.batch.encoded", id); !errors.Is(err, workers.ErrPermanent) {
			t.Errorf("ForEvent(%q) error = %v, want a permanent error", id, err)
		}
	}
}

// TestRejectRacesClaim: a rejection and a claim of one id race; exactly one
// is written, and whichever lost sees the winner's record.
func TestRejectRacesClaim(t *testing.T) {
	t.Parallel()
	e := setup(t, state.Options{})
	ctx := t.Context()
	for i := range 20 {
		id := fmt.Sprintf("INV-R%d", i)
		var (
			wg                sync.WaitGroup
			claimRec, rejRec  *state.Intent
			claimed, rejected bool
			cerr, rerr        error
		)
		wg.Go(func() { claimRec, claimed, cerr = e.intents.Claim(ctx, id, "B-1") })
		wg.Go(func() { rejRec, rejected, rerr = e.intents.Reject(ctx, id) })
		wg.Wait()
		if cerr != nil || rerr != nil {
			t.Fatalf("%s: claim %v, reject %v", id, cerr, rerr)
		}
		if claimed == rejected {
			t.Fatalf("%s: claimed %v and rejected %v: want exactly one", id, claimed, rejected)
		}
		if claimed && (rejRec.Rejected || rejRec.BatchID != "B-1") {
			t.Fatalf("%s: the losing rejection saw %+v, want the claim by B-1", id, rejRec)
		}
		if rejected && (!claimRec.Rejected || claimRec.BatchID != "") {
			t.Fatalf("%s: the losing claim saw %+v, want the rejection", id, claimRec)
		}
	}
	// A rejected id is never released by a failed batch's Release.
	if _, _, err := e.intents.Reject(ctx, "INV-X"); err != nil {
		t.Fatal(err)
	}
	rec, again, err := e.intents.Reject(ctx, "INV-X")
	if err != nil || again || !rec.Rejected {
		t.Fatalf("second Reject: %+v, %v, %v; want the first record, not written again", rec, again, err)
	}
}

// TestBatchPmtInfs: a batch record keeps its payment-information blocks,
// and refuses blocks whose counts do not add up to its intents, or that
// lack an id or a count, naming the field.
func TestBatchPmtInfs(t *testing.T) {
	t.Parallel()
	e := setup(t, state.Options{})
	ctx := t.Context()
	base := state.Batch{State: state.Open, IntentIDs: []string{"A1", "A2", "A3"}}
	for _, tt := range []struct {
		name    string
		pmtInfs []state.PmtInf
		wantErr string // "": accepted
	}{
		{"none", nil, ""},
		{"two blocks", []state.PmtInf{{ID: "PB-1", Count: 2}, {ID: "PB-2", Count: 1}}, ""},
		{"too few", []state.PmtInf{{ID: "PB-1", Count: 2}}, "pmt_infs: counts sum to 2, but 3 intent ids"},
		{"too many", []state.PmtInf{{ID: "PB-1", Count: 2}, {ID: "PB-2", Count: 2}}, "pmt_infs: counts sum to 4"},
		{"empty block", []state.PmtInf{{ID: "PB-1", Count: 3}, {ID: "PB-2", Count: 0}}, "pmt_infs[1]"},
		{"no id", []state.PmtInf{{Count: 3}}, "pmt_infs[0]"},
	} {
		b := base
		b.ID = "PMTINF-" + strings.ReplaceAll(tt.name, " ", "-")
		b.PmtInfs = tt.pmtInfs
		got, err := e.batches.Create(ctx, b)
		if tt.wantErr != "" {
			if !errors.Is(err, state.ErrInvalidBatch) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Create(%s) error = %v, want ErrInvalidBatch naming %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("Create(%s) = %v", tt.name, err)
		}
		read, err := e.batches.Get(ctx, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got.PmtInfs) != fmt.Sprint(tt.pmtInfs) || fmt.Sprint(read.PmtInfs) != fmt.Sprint(tt.pmtInfs) {
			t.Errorf("%s: created %v, read back %v, want %v", tt.name, got.PmtInfs, read.PmtInfs, tt.pmtInfs)
		}
	}
	// An update that breaks the sum is refused too.
	_, err := e.batches.Update(ctx, "PMTINF-two-blocks", func(b *state.Batch) error {
		b.PmtInfs[1].Count = 5
		return nil
	})
	if !errors.Is(err, state.ErrInvalidBatch) || !strings.Contains(err.Error(), "pmt_infs") {
		t.Errorf("Update breaking the block counts: err = %v, want ErrInvalidBatch naming pmt_infs", err)
	}
}
