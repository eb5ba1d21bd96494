package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/isogate/isogate/internal/app"
	"github.com/isogate/isogate/internal/config"
)

func init() {
	register(command{Name: "serve", Summary: "run the gateway (embedded NATS unless --nats-url)", Run: runServe})
}

// otherEnv lists ISOGATE_* variables read outside the configuration tree,
// so serve does not warn about them.
var otherEnv = []string{
	"ISOGATE_CONFIG",
	"ISOGATE_CERT_STORE", "ISOGATE_KEY_PASSPHRASE", "ISOGATE_KEY_PASSPHRASE_FILE", "ISOGATE_PKCS12_PASSWORD",
	"ISOGATE_TRANSFER_PASSWORD", "ISOGATE_VERO_CA", "ISOGATE_VERO_SERVER_CA", "ISOGATE_VERO_ENDPOINT", "ISOGATE_VERO_CUSTOMER_NAME",
}

func runServe(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("isogate serve", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	cf := addConfigFlags(fs, true)
	printConfig := fs.Bool("print-config", false, "print the effective configuration (secrets masked) and exit")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: isogate serve [flags]\n\nRuns the gateway until SIGINT or SIGTERM. Flags override ISOGATE_* variables, which override --config.")
		fs.PrintDefaults()
	}
	rest, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(rest) > 0 {
		fmt.Fprintf(env.Stderr, "isogate serve: unexpected argument %q\n", rest[0])
		return 2
	}
	cfg, err := cf.load(env.Getenv)
	if err != nil {
		fmt.Fprintf(env.Stderr, "isogate serve: %v\n", err)
		return 2
	}
	if *printConfig {
		out, err := cfg.YAML()
		if err != nil {
			fmt.Fprintf(env.Stderr, "isogate serve: %v\n", err)
			return 1
		}
		env.Stdout.Write(out)
		return 0
	}
	log := newLogger(env.Stderr, cfg)
	for _, name := range config.UnknownEnv(os.Environ(), otherEnv...) {
		log.Warn("unknown environment variable ignored (typo?)", slog.String("name", name))
	}
	g, err := app.Start(ctx, cfg, log)
	if err != nil {
		log.Error("start failed", slog.String("error", err.Error()))
		return 1
	}
	log.Info("isogate ready", slog.String("nats", config.MaskURL(g.NC.ConnectedUrl())))
	if err := g.Run(ctx); err != nil {
		log.Error("shutdown", slog.String("error", err.Error()))
		return 1
	}
	return 0
}
