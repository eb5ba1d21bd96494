package state

import "time"

// SetClaimStallWait sets how long ClaimAll waits for room in the async
// publish window, and returns the old value.
func SetClaimStallWait(d time.Duration) time.Duration {
	old := claimStallWait
	claimStallWait = d
	return old
}
