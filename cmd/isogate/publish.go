package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/isogate/isogate/internal/natsconn"
	"github.com/isogate/isogate/internal/publish"
)

func init() {
	register(command{Name: "publish", Summary: "publish payment intents from JSON-lines or CSV files", Run: runPublish})
}

func runPublish(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("isogate publish", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	cf := addConfigFlags(fs, false)
	asJSON := fs.Bool("json", false, "print the summary as JSON on stdout")
	format := fs.String("format", "auto", "input `format`: auto, jsonl or csv (auto: by file extension, else by the first byte)")
	quiet := fs.Bool("quiet", false, "no progress lines on stderr")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: isogate publish [flags] FILE... (or - for stdin)

Publishes each valid payment intent to pay.intent.<id> with Nats-Msg-Id = id.
An id already accepted is counted as a duplicate and never accepted again.
Invalid lines are listed as "line N: FIELD: reason" on stderr; the valid lines
of the same file are still published. Exit status: 0 when every line was
published or a duplicate, 1 when any line was invalid or conflicted with an
intent already accepted, 2 on usage errors.

`)
		fs.PrintDefaults()
	}
	files, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(files) == 0 {
		fmt.Fprintln(env.Stderr, "isogate publish: name at least one FILE (or - for stdin)")
		return 2
	}
	if *format != "auto" && *format != string(publish.JSONLines) && *format != string(publish.CSV) {
		fmt.Fprintf(env.Stderr, "isogate publish: --format %q: use auto, jsonl or csv\n", *format)
		return 2
	}
	cfg, err := cf.load(env.Getenv)
	if err != nil {
		fmt.Fprintf(env.Stderr, "isogate publish: %v\n", err)
		return 2
	}
	log := newLogger(env.Stderr, cfg)
	nc, err := natsconn.Dial(cfg, "isogate publish", log)
	if err != nil {
		fmt.Fprintf(env.Stderr, "isogate publish: %v\n", err)
		return 1
	}
	defer nc.Close()

	opts := publish.Options{InFlight: cfg.Publish.InFlight, AckTimeout: cfg.Publish.AckTimeout}
	start := time.Now()
	var name string
	if !*quiet {
		opts.Progress = func(s publish.Stats) {
			if time.Since(start) < time.Second {
				return // short runs print only the summary
			}
			rate := float64(s.Lines) / time.Since(start).Seconds()
			fmt.Fprintf(env.Stderr, "%s: %d lines, %d published, %d duplicates, %d invalid (%.0f lines/s)\n",
				name, s.Lines, s.Published, s.Duplicates, s.Invalid, rate)
		}
	}
	p, err := publish.New(ctx, nc, opts)
	if err != nil {
		fmt.Fprintf(env.Stderr, "isogate publish: %v\n", err)
		return 1
	}

	var total publish.Result
	code := 0
	for _, file := range files {
		name = file
		res, err := publishFile(ctx, env, p, file, *format)
		total.Lines += res.Lines
		total.Published += res.Published
		total.Duplicates += res.Duplicates
		total.Invalid += res.Invalid
		total.Conflicts += res.Conflicts
		for _, le := range res.Errors {
			prefix := ""
			if len(files) > 1 {
				prefix = file + ": "
			}
			fmt.Fprintf(env.Stderr, "%s%s\n", prefix, le)
			total.Errors = append(total.Errors, le)
		}
		if err != nil {
			fmt.Fprintf(env.Stderr, "isogate publish: %s: %v\n", file, err)
			code = 1
			break
		}
	}
	if total.Invalid > 0 || total.Conflicts > 0 {
		code = 1
	}
	if total.Errors == nil {
		total.Errors = []publish.LineError{}
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		if err := enc.Encode(total); err != nil {
			return 1
		}
		return code
	}
	summary := fmt.Sprintf("%d published, %d duplicates, %d invalid", total.Published, total.Duplicates, total.Invalid)
	if total.Conflicts > 0 {
		summary += fmt.Sprintf(" (%d duplicates conflict with the intent already accepted)", total.Conflicts)
	}
	fmt.Fprintln(env.Stdout, summary)
	return code
}

func publishFile(ctx context.Context, env *cliEnv, p *publish.Publisher, file, format string) (publish.Result, error) {
	var r io.Reader
	if file == "-" {
		r = env.Stdin
	} else {
		f, err := os.Open(file)
		if err != nil {
			return publish.Result{}, err
		}
		defer f.Close()
		r = f
	}
	br := bufio.NewReaderSize(r, 64<<10)
	f := publish.Format(format)
	if format == "auto" {
		switch strings.ToLower(filepath.Ext(file)) {
		case ".csv":
			f = publish.CSV
		case ".jsonl", ".ndjson", ".json":
			f = publish.JSONLines
		default:
			peek, _ := br.Peek(512)
			f = publish.DetectFormat(peek)
		}
	}
	return p.Publish(ctx, br, f)
}
