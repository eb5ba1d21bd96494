package state

import (
	"errors"
	"fmt"
)

// Sentinel errors; match them with errors.Is. The typed errors below carry
// the details.
var (
	// ErrNotFound: no record with this id.
	ErrNotFound = errors.New("state: not found")
	// ErrExists: Create found a batch with this id; see [*ExistsError].
	ErrExists = errors.New("state: batch already exists")
	// ErrIllegalTransition: the batch's current state does not allow the
	// transition; see [*TransitionError].
	ErrIllegalTransition = errors.New("state: transition not allowed")
	// ErrAlreadyInState: the batch is already in the wanted state, reached
	// with the same reason, so a redelivered message may be acked. It says
	// nothing about the work that was to follow the transition.
	ErrAlreadyInState = errors.New("state: batch already in state")
	// ErrInvalidBatch: the record lacks what its state requires (an encoded
	// batch without its archived file, say).
	ErrInvalidBatch = errors.New("state: invalid batch")
	// ErrConflict: the compare-and-set lost to other writers too many times
	// in a row. Retrying later is safe.
	ErrConflict = errors.New("state: too many concurrent updates")
	// ErrNotReleasable: the intent's batch may have been encoded, so the
	// intent must stay with it.
	ErrNotReleasable = errors.New("state: intent not releasable")
)

// A TransitionError reports a transition the batch's current state does not
// allow, or (unwrapping to [ErrAlreadyInState]) one already made. Batch is
// the record as read, at the revision the decision was made on.
type TransitionError struct {
	BatchID string
	Current State  // the state the batch is in
	Wanted  State  // the state the caller asked for
	Reason  string // the caller's reason
	Batch   *Batch
	already bool
}

func (e *TransitionError) Error() string {
	if e.already {
		return fmt.Sprintf("state: batch %s is already %s (%s)", e.BatchID, e.Current, e.Reason)
	}
	if e.Current == e.Wanted {
		return fmt.Sprintf("state: batch %s is already %s, by another step than this one (%s)", e.BatchID, e.Current, e.Reason)
	}
	return fmt.Sprintf("state: batch %s: cannot move from %s to %s (%s)", e.BatchID, e.Current, e.Wanted, e.Reason)
}

// Unwrap returns [ErrAlreadyInState] or [ErrIllegalTransition].
func (e *TransitionError) Unwrap() error {
	if e.already {
		return ErrAlreadyInState
	}
	return ErrIllegalTransition
}

// An ExistsError reports that Create found a batch with the id; Batch is the
// record already stored.
type ExistsError struct {
	Batch *Batch
}

func (e *ExistsError) Error() string {
	return fmt.Sprintf("state: batch %s already exists (state %s)", e.Batch.ID, e.Batch.State)
}

// Unwrap returns [ErrExists].
func (e *ExistsError) Unwrap() error { return ErrExists }
