package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

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
	cf.add("workers", "comma-separated `list` of workers to run: encoder, submitter, statuspoller, statements, reconciler (workers, default all)",
		func(c *config.Config, v string) error {
			c.Workers = nil
			for _, w := range strings.Split(v, ",") {
				if w = strings.TrimSpace(w); w != "" {
					c.Workers = append(c.Workers, w)
				}
			}
			return nil
		})
	printConfig := fs.Bool("print-config", false, "print the effective configuration (secrets masked) and exit")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: isogate serve [flags]

Runs the gateway until SIGINT or SIGTERM: NATS (embedded unless --nats-url),
the workers (all five unless --workers), and with the default configuration
(bank.channel: banksim) an in-process simulated bank whose URL and TLS folder
are logged at start. Flags override ISOGATE_* variables, which override --config.`)
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
	pass, err := keyPassphrase(env)
	if err != nil {
		log.Error("start failed", slog.String("error", err.Error()))
		return 1
	}
	g, err := app.StartWith(ctx, cfg, log, app.Options{KeyPassphrase: pass})
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

// keyPassphrase reads the certificate store's key passphrase for bank.h2h:
// ISOGATE_KEY_PASSPHRASE_FILE names a file holding it, else
// ISOGATE_KEY_PASSPHRASE holds it.
func keyPassphrase(env *cliEnv) ([]byte, error) {
	if f := env.Getenv("ISOGATE_KEY_PASSPHRASE_FILE"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("ISOGATE_KEY_PASSPHRASE_FILE: %w", err)
		}
		return bytes.TrimRight(b, "\r\n"), nil
	}
	return []byte(env.Getenv("ISOGATE_KEY_PASSPHRASE")), nil
}
