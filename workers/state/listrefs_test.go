package state_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/isogate/isogate/workers/state"
)

// TestListRefs: ListRefs names the batches List returns, in the same
// order, with their states, for any filter.
func TestListRefs(t *testing.T) {
	t.Parallel()
	e := setup(t, state.Options{})
	ctx := t.Context()
	for i := range 6 {
		id := fmt.Sprintf("LR-%d", i)
		if _, err := e.batches.Create(ctx, state.Batch{ID: id, IntentIDs: []string{"I-" + id}}); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if _, err := e.batches.Abandon(ctx, id, "test"); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, filter := range [][]state.State{nil, {state.Open}, {state.Failed}, {state.Open, state.Failed}, {state.Submitted}} {
		full, err := e.batches.List(ctx, filter...)
		if err != nil {
			t.Fatal(err)
		}
		refs, err := e.batches.ListRefs(ctx, filter...)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]state.BatchRef, len(full))
		for i, b := range full {
			want[i] = state.BatchRef{ID: b.ID, State: b.State}
		}
		if !slices.Equal(refs, want) {
			t.Errorf("filter %v: ListRefs %v, List %v", filter, refs, want)
		}
	}
	if refs, _ := e.batches.ListRefs(ctx, state.Failed); len(refs) != 3 {
		t.Errorf("%d failed batches listed, want 3", len(refs))
	}
}
