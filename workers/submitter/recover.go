package submitter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/isogate/isogate/workers"
	"github.com/isogate/isogate/workers/state"
)

// RecoverResult says what [Handler.Recover] found and did.
type RecoverResult struct {
	// Found are the batches that were submitting or in_doubt.
	Found []string
	// Submitted are those now submitted (or later); Failed those now failed.
	Submitted, Failed []string
	// Pending are those still unresolved, with why (also in the error).
	Pending map[string]error
}

// Recover settles the batches left in submitting or in_doubt, whose message
// may be gone (dead-lettered, purged) or acked: each is resolved as a
// redelivery would (see the decision table): a submitting batch once its
// upload lease is over (at most UploadTimeout+ClockSkew after it entered
// submitting; at once for an upload of this process that ended), by a
// status query, and re-sent byte for byte only when the bank does not know
// it. Call it at start and whenever convenient (periodically, say): it is
// safe at any time, beside running handlers of this or other processes,
// because every step is a compare-and-set and uploads respect the lease.
// It blocks while it waits for leases, until ctx ends. The error joins the
// failures of the batches it could not settle; they stay where they are
// for the next call or a redelivery.
func (h *Handler) Recover(ctx context.Context) (RecoverResult, error) {
	res := RecoverResult{Pending: map[string]error{}}
	list, err := h.batches.List(ctx, state.Submitting, state.InDoubt)
	if err != nil {
		return res, fmt.Errorf("submitter: recovering: %w", err)
	}
	var errs []error
	for _, b := range list {
		res.Found = append(res.Found, b.ID)
		log := h.log.With(slog.String("batch_id", b.ID), slog.String("state", string(b.State)))
		err := h.drive(ctx, b)
		switch {
		case err == nil:
			res.Submitted = append(res.Submitted, b.ID)
			log.InfoContext(ctx, "recovered: submitted")
		case workers.IsPermanent(err) && h.isFailed(ctx, b.ID):
			res.Failed = append(res.Failed, b.ID)
			log.WarnContext(ctx, "recovered: failed", slog.String("error", err.Error()))
		default:
			res.Pending[b.ID] = err
			errs = append(errs, fmt.Errorf("batch %s: %w", b.ID, err))
			log.WarnContext(ctx, "not recovered yet", slog.String("error", err.Error()))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return res, fmt.Errorf("submitter: recovering: %w", err)
	}
	return res, nil
}

func (h *Handler) isFailed(ctx context.Context, id string) bool {
	b, err := h.batches.Get(ctx, id)
	return err == nil && b.State == state.Failed
}
