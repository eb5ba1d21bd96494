//go:build race

package main

// benchRace: the race detector slows the gateway about sevenfold, so
// TestBenchPipeline runs one sync setting only.
const benchRace = true
