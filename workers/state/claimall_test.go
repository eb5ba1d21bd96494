package state_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/isogate/isogate/workers/state"
	"github.com/nats-io/nats.go/jetstream"
)

// TestClaimAll: a burst of claims gets what one Claim per id would get —
// new ids claimed, an id another batch holds left to it, a rejected id
// reported as such, an id released by a failed batch claimed again (its
// key has a delete marker), the batch's own earlier claim kept — and two
// bursts racing over the same ids give each id to exactly one batch.
func TestClaimAll(t *testing.T) {
	t.Parallel()
	e := setup(t, state.Options{})
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
