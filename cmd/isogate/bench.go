package main

import (
	"context"
	"fmt"
	"io"
	"sort"
)

func init() {
	register(command{Name: "bench", Summary: "measure throughput against the libraries' and the broker's own limits: bench xml, bench pipeline", Run: runBench})
}

// A benchMode is one `isogate bench MODE`. Each mode's file adds itself to
// benchModes from its init function (bench_xml.go: "xml").
type benchMode struct {
	Summary string
	Run     func(ctx context.Context, env *cliEnv, args []string) int
}

var benchModes = map[string]benchMode{}

func runBench(ctx context.Context, env *cliEnv, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		benchUsage(env.Stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	m, ok := benchModes[args[0]]
	if !ok {
		fmt.Fprintf(env.Stderr, "isogate bench: unknown benchmark %q\n\n", args[0])
		benchUsage(env.Stderr)
		return 2
	}
	return m.Run(ctx, env, args[1:])
}

func benchUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: isogate bench MODE [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "modes:")
	names := make([]string, 0, len(benchModes))
	for n := range benchModes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, benchModes[n].Summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'isogate bench MODE -h' for a mode's flags. Each mode ends with one JSON line.")
}
