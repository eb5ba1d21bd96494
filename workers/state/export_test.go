package state

import "time"

// SetClaimStallWait sets how long ClaimAll waits for room in the async
// publish window, and returns the old value.
func SetClaimStallWait(d time.Duration) time.Duration {
	old := claimStallWait
	claimStallWait = d
	return old
}

// AtomicCommits is how many claim batches the server confirmed as stored
// whole (Options.AtomicClaims).
func (in *Intents) AtomicCommits() int64 { return in.commits.Load() }
