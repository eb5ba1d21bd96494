package main

import (
	"context"
)

func init() {
	register(command{Name: "bench", Summary: "measure throughput against the libraries' and the broker's own limits: bench xml, bench pipeline", Run: runBench})
}

// benchModes are the `isogate bench MODE`s; each mode's file adds itself
// from its init function (bench_xml.go: "xml").
var benchModes = map[string]command{}

func runBench(ctx context.Context, env *cliEnv, args []string) int {
	return dispatch(ctx, env, args, benchModes, "isogate bench", "mode", "MODE [flags]",
		"Run 'isogate bench MODE -h' for a mode's flags. Each mode ends with one JSON line.")
}
