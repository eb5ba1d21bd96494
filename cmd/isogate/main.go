// Command isogate is the ISO 20022 payment gateway: one binary for the
// gateway itself (serve, demo), its operators (publish, status, dlq, cert,
// xml) and its test peers (banksim).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// A command is one `isogate NAME` subcommand. Run returns the process exit
// code; it writes results to stdout and diagnostics to stderr.
type command struct {
	Name    string
	Summary string
	Run     func(ctx context.Context, env *cliEnv, args []string) int
}

// cliEnv is what a command may touch of the process: its streams and its
// environment. Tests substitute their own.
type cliEnv struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
}

var commands = map[string]command{}

// register adds a subcommand; each command's file calls it from init.
func register(c command) {
	if _, dup := commands[c.Name]; dup {
		panic("isogate: command registered twice: " + c.Name)
	}
	commands[c.Name] = c
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, &cliEnv{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}, os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, env *cliEnv, args []string) int {
	return dispatch(ctx, env, args, commands, "isogate", "command", "COMMAND [flags] [args]",
		"Run 'isogate COMMAND -h' for a command's flags.")
}

// dispatch runs the entry of table that args[0] names (isogate's commands,
// bench's modes), or prints the table's usage: exit 2 without a name or
// with an unknown one, 0 for -h. prog prefixes the messages, kind names an
// entry ("command"), synopsis follows prog in the usage line, and footer
// ends the usage.
func dispatch(ctx context.Context, env *cliEnv, args []string, table map[string]command, prog, kind, synopsis, footer string) int {
	usage := func() {
		w := env.Stderr
		fmt.Fprintf(w, "usage: %s %s\n\n%ss:\n", prog, synopsis, kind)
		names := make([]string, 0, len(table))
		for n := range table {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(w, "  %-10s %s\n", n, table[n].Summary)
		}
		fmt.Fprintf(w, "\n%s\n", footer)
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage()
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := table[args[0]]
	if !ok {
		fmt.Fprintf(env.Stderr, "%s: unknown %s %q\n\n", prog, kind, args[0])
		usage()
		return 2
	}
	return c.Run(ctx, env, args[1:])
}

// usageFailed prints each of a command's usage errors, prefixed with prog,
// and reports whether there were any (the command then exits 2).
func usageFailed(env *cliEnv, prog string, errs []string) bool {
	for _, e := range errs {
		fmt.Fprintln(env.Stderr, prog+":", e)
	}
	return len(errs) > 0
}

// parseFlags parses args with fs, allowing flags after positional arguments
// ("publish intents.jsonl --json"). A lone "-" is a positional argument
// (stdin); everything after "--" is positional. It returns the positional
// arguments in order.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > 0 && len(rest) < len(args) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// flagExit maps a flag parsing error to an exit code: 0 for -h, 2 otherwise.
func flagExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}
