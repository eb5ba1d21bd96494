package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/isogate/isogate/banksim"
)

func init() {
	register(command{Name: "banksim", Summary: "run a simulated ISO 20022 bank (HTTPS + client certificates) with fault injection", Run: runBanksim})
}

const banksimUsage = `usage: isogate banksim [--addr 127.0.0.1:8443] [--tls-dir DIR] [--profile ekase|iso2019] [--seed N]
                      [--accept D] [--process D] [--settle D] [fault flags] [--verify-signature]

Serves the h2h protocol over HTTPS with client certificates:
  POST /v1/payments                 pain.001 → 202 {"msg_id","received_at","sha256"}; 400/409 with a pain.002
  GET  /v1/payments/{MsgId}/status  the latest pain.002; 404 for a MsgId never received
  POST /v1/reports                  camt.060 → 200 camt.052/053/054; 204 when there is nothing
  GET  /v1/health                   200
  GET  /sim/ledger                  files_received, unique_msg_ids, duplicate_uploads, transactions_booked,
                                    end_to_end_ids_booked_twice, accounts (JSON)
On first start it writes ca.pem, server.pem, server-key.pem, client.pem and client-key.pem into
--tls-dir and reuses them afterwards. It serves until interrupted (SIGINT, SIGTERM).

flags:
`

func runBanksim(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("banksim", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprint(env.Stderr, banksimUsage)
		fs.PrintDefaults()
	}
	addr := fs.String("addr", "127.0.0.1:8443", "listen `ADDRESS` (port 0: any free port)")
	tlsDir := fs.String("tls-dir", "banksim-tls", "`DIR` holding (or receiving) the CA, server and client certificates")
	profile := fs.String("profile", "ekase", "bank `PROFILE`: ekase (pain.001.001.03, pain.002.001.03, camt.05x.001.02) or iso2019")
	seed := fs.Int64("seed", 1, "`SEED` for faults, incoming credits and charges")
	accept := fs.Duration("accept", 0, "status play-out: ACTC after this `DURATION`")
	process := fs.Duration("process", time.Second, "status play-out: ACSP/PART/RJCT this `DURATION` after ACTC")
	settle := fs.Duration("settle", 2*time.Second, "status play-out: ACSC (and booking) this `DURATION` after ACSP")
	errRate := fs.Float64("error-rate", 0, "fraction of requests answered 503")
	latency := fs.Duration("latency", 0, "`DURATION` added to every answer")
	timeoutRate := fs.Float64("timeout-rate", 0, "fraction of requests never answered")
	dropRate := fs.Float64("drop-after-accept-rate", 0, "fraction of uploads booked, then the connection closed without a response")
	resetRate := fs.Float64("reset-rate", 0, "fraction of requests whose connection is reset before the body is read")
	malformedRate := fs.Float64("malformed-rate", 0, "fraction of answers truncated")
	verify := fs.Bool("verify-signature", false, "require an enveloped XML signature on each pain.001, made with the client certificate")
	verbose := fs.Bool("v", false, "log every file and fault (stderr)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) > 0 {
		fmt.Fprintf(env.Stderr, "isogate banksim: unexpected argument %q\n", pos[0])
		return 2
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	nz := func(d time.Duration) time.Duration { // 0 on the command line means no delay
		if d == 0 {
			return -1
		}
		return d
	}
	cfg := banksim.Config{
		Profile: *profile,
		Seed:    *seed,
		Delays:  banksim.Delays{Accept: *accept, Process: nz(*process), Settle: nz(*settle)},
		Faults: banksim.Faults{ErrorRate: *errRate, Latency: *latency, TimeoutRate: *timeoutRate,
			DropAfterAcceptRate: *dropRate, ResetRate: *resetRate, MalformedRate: *malformedRate},
		VerifySignature: *verify,
		Log:             slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level})),
	}
	dir, err := filepath.Abs(*tlsDir)
	if err != nil {
		fmt.Fprintln(env.Stderr, "isogate banksim:", err)
		return 1
	}
	_, created, err := banksim.EnsureTLS(dir)
	if err != nil {
		fmt.Fprintln(env.Stderr, "isogate banksim:", err)
		return 1
	}
	how := "reused"
	if created {
		how = "created"
	}
	srv, err := banksim.Start(cfg, *addr, dir)
	if err != nil {
		fmt.Fprintln(env.Stderr, "isogate banksim:", err)
		return 1
	}
	t := srv.TLS
	fmt.Fprintf(env.Stdout, "banksim (%s) listening on %s\n", *profile, srv.URL)
	fmt.Fprintf(env.Stdout, "TLS files (%s) in %s:\n  CA (trust it):       %s\n  client certificate:  %s\n  client key:          %s\n  server certificate:  %s\n  server key:          %s\n",
		how, t.Dir, t.CA, t.ClientCert, t.ClientKey, t.ServerCert, t.ServerKey)
	fmt.Fprintf(env.Stdout, "try: curl --cacert %s --cert %s --key %s %s/v1/health\n", t.CA, t.ClientCert, t.ClientKey, srv.URL)
	<-ctx.Done()
	if err := srv.Close(); err != nil {
		fmt.Fprintln(env.Stderr, "isogate banksim:", err)
		return 1
	}
	return 0
}
