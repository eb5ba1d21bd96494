//go:build !chaos

package app

const crashHooksBuilt = false

// killSelf is never called: crashHook refuses crash_at in this build.
func killSelf() { panic("isogate: crash hook in a build without -tags chaos") }
