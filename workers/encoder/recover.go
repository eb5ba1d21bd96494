package encoder

import (
	"context"
	"errors"
	"fmt"

	"github.com/isogate/isogate/workers/state"
)

// Recovery reports what [Handler.Recover] did.
type Recovery struct {
	Abandoned   int // stale open batches abandoned, their intents released
	Republished int // encoded batches whose missing pay.batch.encoded was published
}

// Recover completes what encoders that died mid-flush left: every open
// batch older than StaleAfter is abandoned and its intents released (they
// were never acked, so JetStream redelivers them and they are batched
// again); every encoded batch gets its pay.batch.encoded published when
// the stream lacks it. Call it before the router runs; it is safe at any
// time and from any number of processes (every step is a compare-and-set
// or idempotent). It goes on past a failing batch and returns every error.
func (h *Handler) Recover(ctx context.Context) (Recovery, error) {
	var rep Recovery
	list, err := h.batches.List(ctx, state.Open, state.Encoded)
	if err != nil {
		return rep, fmt.Errorf("encoder: recovering: %w", err)
	}
	var errs []error
	for _, b := range list {
		switch b.State {
		case state.Open:
			age := h.now().Sub(b.CreatedAt)
			if age < h.cfg.StaleAfter {
				continue // possibly a live flush; its intents' handlers decide later
			}
			err := h.abandon(ctx, b, fmt.Sprintf("stale at recovery: open for %s", age.Round(1e6)))
			var te *state.TransitionError
			if errors.As(err, &te) && te.Batch != nil && te.Batch.State == state.Encoded {
				// Encoded meanwhile by a live flush: announce it.
				_, err = h.ensureEncoded(ctx, te.Batch)
			} else if err == nil {
				rep.Abandoned++
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("batch %s: %w", b.ID, err))
			}
		case state.Encoded:
			published, err := h.ensureEncoded(ctx, b)
			if err != nil {
				errs = append(errs, fmt.Errorf("batch %s: %w", b.ID, err))
			}
			if published {
				rep.Republished++
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return rep, fmt.Errorf("encoder: recovering: %w", err)
	}
	if rep.Abandoned > 0 || rep.Republished > 0 {
		h.log.InfoContext(ctx, "recovered", "abandoned", rep.Abandoned, "republished", rep.Republished)
	}
	return rep, nil
}
