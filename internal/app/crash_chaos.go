//go:build chaos

package app

import (
	"os"
	"syscall"
)

const crashHooksBuilt = true

// killSelf ends the process as kill -9 would: no deferred function, no
// drain, no acknowledgement.
func killSelf() {
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // SIGKILL cannot be caught; wait for it to land
}
