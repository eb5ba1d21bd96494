package state_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/isogate/isogate/internal/natstest"
	"github.com/isogate/isogate/internal/provision"
	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/workers/state"
	"github.com/nats-io/nats.go/jetstream"
)

// TestClaimAll: a burst of claims gets what one Claim per id would get —
// new ids claimed, an id another batch holds left to it, a rejected id
// reported as such, an id released by a failed batch claimed again (its
// key has a delete marker), the batch's own earlier claim kept — and two
// bursts racing over the same ids give each id to exactly one batch; with
// claims as asynchronous publishes and as atomic batches (a batch with an
// id that has a history is refused whole and claimed one by one).
func TestClaimAll(t *testing.T) {
	t.Parallel()
	for _, atomic := range []bool{false, true} {
		t.Run(fmt.Sprintf("atomic=%v", atomic), func(t *testing.T) {
			t.Parallel()
			testClaimAll(t, setup(t, state.Options{AtomicClaims: atomic}))
		})
	}
}

func testClaimAll(t *testing.T, e *env) {
	ctx := t.Context()
	if _, _, err := e.intents.Claim(ctx, "HELD", "OTHER"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.intents.Reject(ctx, "REJECTED"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.intents.Claim(ctx, "MINE", "B-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.batches.Create(ctx, state.Batch{ID: "DEAD"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.intents.Claim(ctx, "RELEASED", "DEAD"); err != nil {
		t.Fatal(err)
	}
	dead, err := e.batches.Abandon(ctx, "DEAD", "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.intents.Release(ctx, "RELEASED", dead); err != nil {
		t.Fatal(err)
	}
	ids := []string{"NEW-1", "HELD", "REJECTED", "MINE", "RELEASED", "NEW-2", "x234567890123456789012345678901234567"}
	res := e.intents.ClaimAll(ctx, e.js, "B-1", ids)
	for i, want := range []struct {
		mine, rejected, err bool
		batch               string
	}{
		{mine: true, batch: "B-1"}, {batch: "OTHER"}, {rejected: true}, {mine: true, batch: "B-1"},
		{mine: true, batch: "B-1"}, {mine: true, batch: "B-1"}, {err: true},
	} {
		r := res[i]
		if (r.Err != nil) != want.err {
			t.Errorf("%s: error %v, want error %v", ids[i], r.Err, want.err)
			continue
		}
		if want.err {
			continue
		}
		if r.Mine != want.mine || r.Record.BatchID != want.batch || r.Record.Rejected != want.rejected {
			t.Errorf("%s: %+v mine %v; want mine %v, batch %q, rejected %v", ids[i], r.Record, r.Mine, want.mine, want.batch, want.rejected)
		}
		if r.Mine {
			got, err := e.intents.Get(ctx, ids[i])
			if err != nil || got.BatchID != "B-1" || got.Revision != r.Record.Revision {
				t.Errorf("%s: stored %+v, %v; want B-1's claim at revision %d", ids[i], got, err, r.Record.Revision)
			}
		}
	}

	// Two bursts race over 300 ids: each id goes to exactly one batch.
	race := make([]string, 300)
	for i := range race {
		race[i] = fmt.Sprintf("R-%03d", i)
	}
	var wg sync.WaitGroup
	var a, b []state.ClaimResult
	wg.Go(func() { a = e.intents.ClaimAll(ctx, e.js, "B-A", race) })
	wg.Go(func() { b = e.intents.ClaimAll(ctx, e.js, "B-B", race) })
	wg.Wait()
	for i, id := range race {
		if a[i].Err != nil || b[i].Err != nil {
			t.Fatalf("%s: errors %v, %v", id, a[i].Err, b[i].Err)
		}
		if a[i].Mine == b[i].Mine {
			t.Fatalf("%s: mine for A %v and for B %v; want exactly one", id, a[i].Mine, b[i].Mine)
		}
		got, err := e.intents.Get(ctx, id)
		winner := "B-A"
		if b[i].Mine {
			winner = "B-B"
		}
		if err != nil || got.BatchID != winner || a[i].Record.BatchID != winner || b[i].Record.BatchID != winner {
			t.Fatalf("%s: stored %+v, %v; A saw %s, B saw %s; want %s everywhere", id, got, err, a[i].Record.BatchID, b[i].Record.BatchID, winner)
		}
	}
}

// TestClaimAllAtomic: with AtomicClaims, a batch of new ids is stored by
// one atomic batch publish, each claim at the revision ClaimAll returns;
// a batch with one id already held is refused whole — nothing of it is
// stored — and then claimed one by one; on a bucket without allow_atomic
// every claim is written one by one from the start.
func TestClaimAllAtomic(t *testing.T) {
	t.Parallel()
	e := setup(t, state.Options{AtomicClaims: true})
	ctx := t.Context()
	writes := func() uint64 {
		t.Helper()
		s, err := e.js.Stream(ctx, "KV_intents")
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.State.LastSeq
	}
	ids := make([]string, 700) // two batches: 500 and 200
	for i := range ids {
		ids[i] = fmt.Sprintf("A-%03d", i)
	}
	res := e.intents.ClaimAll(ctx, e.js, "B-1", ids)
	if got := e.intents.AtomicCommits(); got != 2 {
		t.Errorf("atomic commits %d, want 2", got)
	}
	for i, r := range res {
		got, err := e.intents.Get(ctx, ids[i])
		if r.Err != nil || !r.Mine || err != nil || got.BatchID != "B-1" || got.Revision != r.Record.Revision {
			t.Fatalf("%s: result %+v (%v), stored %+v (%v); want B-1's claim at the returned revision", ids[i], r.Record, r.Err, got, err)
		}
	}
	if n := writes(); n != uint64(len(ids)) {
		t.Errorf("%d writes, want %d", n, len(ids))
	}

	// One id held by another batch: the atomic batch is refused whole.
	before := writes()
	mixed := []string{"M-1", "A-005", "M-2"}
	res = e.intents.ClaimAll(ctx, e.js, "B-2", mixed)
	if got := e.intents.AtomicCommits(); got != 2 {
		t.Errorf("atomic commits %d after a refused batch, want 2", got)
	}
	for i, want := range []bool{true, false, true} {
		if r := res[i]; r.Err != nil || r.Mine != want {
			t.Errorf("%s: mine %v (%v), want %v", mixed[i], r.Mine, r.Err, want)
		}
	}
	if n := writes() - before; n != 2 {
		t.Errorf("%d writes for the mixed batch, want 2 (M-1 and M-2 once each: nothing of the refused batch stored)", n)
	}

	// allow_atomic off: claims go one by one, and the registry stops trying.
	s, err := e.js.Stream(ctx, "KV_intents")
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	cfg.AllowAtomicPublish = false
	if _, err := e.js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	_, fresh, err := state.New(ctx, e.js, state.Options{AtomicClaims: true})
	if err != nil {
		t.Fatal(err)
	}
	res = fresh.ClaimAll(ctx, e.js, "B-3", []string{"C-1", "C-2"})
	for i, r := range res {
		if r.Err != nil || !r.Mine {
			t.Errorf("claim %d without allow_atomic: mine %v (%v)", i, r.Mine, r.Err)
		}
	}
	if got := fresh.AtomicCommits(); got != 0 {
		t.Errorf("atomic commits %d on a bucket without allow_atomic, want 0", got)
	}
}

// TestClaimAllWindowFull: when the JetStream context's window of
// unacknowledged async publishes stays full (here: held by publishes
// nobody acknowledges), the claims are made synchronously instead of
// failing the batch.
func TestClaimAllWindowFull(t *testing.T) {
	e := setup(t, state.Options{})
	ctx := t.Context()
	old := state.SetClaimStallWait(50 * time.Millisecond)
	defer state.SetClaimStallWait(old)
	// A subscriber that never replies holds the window of a context that
	// allows two outstanding publishes.
	sub, err := e.nc.SubscribeSync("hold.>")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	js, err := jetstream.New(e.nc, jetstream.WithPublishAsyncMaxPending(2))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := js.PublishAsync(fmt.Sprintf("hold.%d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	ids := []string{"W-1", "W-2", "W-3"}
	for i, r := range e.intents.ClaimAll(ctx, js, "B-W", ids) {
		if r.Err != nil || !r.Mine || r.Record.BatchID != "B-W" {
			t.Errorf("%s: %+v mine %v err %v; want claimed by B-W", ids[i], r.Record, r.Mine, r.Err)
		}
	}
}

// TestClaimAllAtomicCluster: on a three-node cluster with three replicas,
// where the batch goes through the stream's Raft group, a batch of claims
// is still committed as one atomic batch, each claim at its revision.
func TestClaimAllAtomicCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node JetStream cluster")
	}
	t.Parallel()
	c := natstest.StartCluster(t, 3)
	_, js := c.Connect()
	ctx := t.Context()
	// A new replicated stream's first election may fail on a loaded
	// machine: retry as the gateway does at start.
	pctx, cancel := context.WithTimeout(ctx, 6*provision.AttemptTimeout)
	defer cancel()
	if _, err := provision.ApplyWithRetry(pctx, js, provision.Options{Replicas: 3, DuplicateWindow: 2 * time.Minute}, func(attempt int, err error) {
		t.Logf("provision attempt %d: %v", attempt, err)
	}); err != nil {
		t.Fatal(err)
	}
	_, intents, err := state.New(ctx, js, state.Options{AtomicClaims: true})
	if err != nil {
		t.Fatal(err)
	}
	// Right after provisioning the bucket's Raft group may still be
	// electing: a batch sent then falls back to single claims (correct,
	// but not what this test is about).
	if s := natstest.WaitReplicas(ctx, js, "KV_"+messages.BucketIntents, 3, 20*time.Second); s != "" {
		t.Fatalf("KV_%s not ready: %s", messages.BucketIntents, s)
	}
	ids := []string{"K-1", "K-2", "K-3", "K-4"}
	res := intents.ClaimAll(ctx, js, "B-1", ids)
	if got := intents.AtomicCommits(); got != 1 {
		t.Errorf("atomic commits %d, want 1", got)
	}
	for i, r := range res {
		got, err := intents.Get(ctx, ids[i])
		if r.Err != nil || !r.Mine || err != nil || got.BatchID != "B-1" || got.Revision != r.Record.Revision {
			t.Errorf("%s: result %+v (%v), stored %+v (%v)", ids[i], r.Record, r.Err, got, err)
		}
	}
}
