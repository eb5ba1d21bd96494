package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/isogate/isogate/bank/h2h"
	"github.com/isogate/isogate/banksim"
	"github.com/isogate/isogate/internal/config"
	"github.com/isogate/isogate/workers"
	"github.com/isogate/isogate/workers/archive"
	"github.com/isogate/isogate/workers/encoder"
	"github.com/isogate/isogate/workers/reconciler"
	"github.com/isogate/isogate/workers/state"
	"github.com/isogate/isogate/workers/statements"
	"github.com/isogate/isogate/workers/statuspoller"
	"github.com/isogate/isogate/workers/submitter"
)

// Options are what a caller of [StartWith] sets beyond the configuration.
type Options struct {
	// KeyPassphrase decrypts the client key in the certificate store
	// (bank.channel h2h); serve reads it from ISOGATE_KEY_PASSPHRASE.
	KeyPassphrase []byte
	// Banksim, when set, adjusts the in-process simulated bank's
	// configuration before it starts (the demo: faults, short delays).
	Banksim func(*banksim.Config)
	// H2H, when set, adjusts the h2h client's configuration (bank.channel
	// h2h or banksim) before the client is built (tests: answer caps).
	H2H func(*h2h.Config)
	// Encoder, Submitter, StatusPoller, Statements and Reconciler, when
	// set, adjust that worker's configuration after it was built from the
	// gateway's (the demo: short schedules and backoffs).
	Encoder      func(*encoder.Config)
	Submitter    func(*submitter.Config)
	StatusPoller func(*statuspoller.Config)
	Statements   func(*statements.Config)
	Reconciler   func(*reconciler.Config)
}

// drainTimeout is the router's drain: half the shutdown timeout, so the
// NATS drain and the embedded server's stop fit in the rest.
func drainTimeout(shutdown time.Duration) time.Duration {
	return max(shutdown/2, 100*time.Millisecond)
}

// startWorkers builds what the configured workers need — the state
// buckets, the archive, the bank channel — then each worker, runs its
// recovery, and builds the router. It starts nothing that runs: see run.
func (g *Gateway) startWorkers(ctx context.Context, opts Options) error {
	cfg := g.cfg
	batches, intents, err := state.New(ctx, g.JS, state.Options{AtomicClaims: cfg.AtomicBatchesOn()})
	if err != nil {
		return fmt.Errorf("state buckets: %w", err)
	}
	arch, err := archive.Open(ctx, g.JS)
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	g.Batches, g.Intents, g.Archive = batches, intents, arch
	if err := g.Registry.Register(&pipelineCollector{js: g.JS, batches: batches, now: time.Now}); err != nil {
		return err
	}
	if needsBank(cfg) {
		if err := g.startBank(opts); err != nil {
			return err
		}
	}
	// A crash_at this binary cannot honour stops the start, whichever
	// workers run here.
	if _, err := g.crashHook(""); err != nil {
		return err
	}
	pub := workers.NewPublisher(g.JS, 0)
	var ws []workers.Worker
	for _, name := range cfg.Workers {
		switch name {
		case config.WorkerEncoder:
			ecfg := encoder.Config{DefaultProfile: cfg.Encoder.DefaultProfile, Wait: cfg.Encoder.Wait, MaxHold: cfg.Encoder.MaxHold,
				DrainTimeout: drainTimeout(cfg.ShutdownTimeout)}
			if opts.Encoder != nil {
				opts.Encoder(&ecfg)
			}
			if hook, err := g.crashHook(name); err != nil {
				return err
			} else if hook != nil {
				ecfg.Crash = hook
			}
			enc, err := encoder.New(ecfg, encoder.Deps{JS: g.JS, Publisher: pub, Batches: batches.WithWorker(encoder.Name),
				Intents: intents, Archive: arch, Profiles: g.Profiles, Logger: g.log,
				Registerer: g.Registry})
			if err != nil {
				return err
			}
			g.Encoder = enc
			// Before the router: stale open batches are abandoned and
			// their intents released, missing pay.batch.encoded published.
			if rep, err := enc.Recover(ctx); err != nil {
				g.log.Warn("encoder recovery incomplete; redeliveries will finish it", slog.String("error", err.Error()))
			} else if rep.Abandoned > 0 || rep.Republished > 0 {
				g.log.Info("encoder recovered", slog.Int("abandoned", rep.Abandoned), slog.Int("republished", rep.Republished))
			}
			// The encoder holds each intent until its batch is flushed:
			// it runs its own consume loop beside the router
			// (workers.RunDeferred), with the same retries, dead letters,
			// logs and metrics.
			g.background = append(g.background, enc.Run)
		case config.WorkerSubmitter:
			scfg := submitter.Config{Channel: channelName(cfg), UploadTimeout: cfg.Submitter.UploadTimeout,
				Concurrency: cfg.Submitter.Concurrency}
			if opts.Submitter != nil {
				opts.Submitter(&scfg)
			}
			if hook, err := g.crashHook(name); err != nil {
				return err
			} else if hook != nil {
				scfg.Crash = hook
			}
			sub, err := submitter.New(scfg, submitter.Deps{JS: g.JS, Publisher: pub, Batches: batches, Archive: arch,
				Channel: g.Channel, Logger: g.log})
			if err != nil {
				return err
			}
			g.Submitter = sub
			// Recover may wait out upload leases (up to UploadTimeout):
			// it runs beside the router, which handles redeliveries.
			g.background = append(g.background, func(ctx context.Context) error {
				res, err := sub.Recover(ctx)
				if err != nil && ctx.Err() == nil {
					g.log.Warn("submitter recovery incomplete; redeliveries will finish it", slog.String("error", err.Error()))
				} else if len(res.Found) > 0 {
					g.log.Info("submitter recovered", slog.Int("found", len(res.Found)),
						slog.Int("submitted", len(res.Submitted)), slog.Int("failed", len(res.Failed)))
				}
				return nil
			})
			ws = append(ws, sub.Worker())
		case config.WorkerStatusPoller:
			ps := cfg.StatusPoller
			pcfg := statuspoller.Config{Schedule: statuspoller.Schedule{FirstDelay: ps.FirstDelay, Interval: ps.Interval,
				MaxInterval: ps.MaxInterval}, AtomicStatuses: cfg.AtomicBatchesOn()}
			if opts.StatusPoller != nil {
				opts.StatusPoller(&pcfg)
			}
			if hook, err := g.crashHook(name); err != nil {
				return err
			} else if hook != nil {
				pcfg.Crash = hook
			}
			sp, err := statuspoller.New(pcfg, statuspoller.Deps{JS: g.JS, Publisher: pub, Batches: batches,
				Archive: arch, Channel: g.Channel, Logger: g.log, Registerer: g.Registry})
			if err != nil {
				return err
			}
			g.StatusPoller = sp
			// Run lists the submitted batches at start and on its
			// schedule: it is the recovery too.
			g.background = append(g.background, sp.Run)
			ws = append(ws, sp.Worker())
		case config.WorkerStatements:
			stcfg := g.statementsConfig()
			if opts.Statements != nil {
				opts.Statements(&stcfg)
			}
			st, err := statements.New(stcfg, statements.Deps{JS: g.JS, Publisher: pub, Archive: arch, Channel: g.Channel,
				Profiles: g.Profiles, Logger: g.log})
			if err != nil {
				return err
			}
			g.Statements = st
			g.background = append(g.background, st.Run)
		case config.WorkerReconciler:
			rcfg := reconciler.Config{}
			if opts.Reconciler != nil {
				opts.Reconciler(&rcfg)
			}
			rc, err := reconciler.New(rcfg, reconciler.Deps{JS: g.JS, Publisher: pub, Batches: batches, Intents: intents,
				Logger: g.log})
			if err != nil {
				return err
			}
			g.Reconciler = rc
			ws = append(ws, rc.Worker())
		default: // config.Validate refuses unknown names
			return fmt.Errorf("unknown worker %q", name)
		}
	}
	g.background = append(g.background, g.runCertSource, g.runCertWatch)
	g.WorkerNames = append([]string(nil), cfg.Workers...)
	if len(ws) == 0 {
		return nil
	}
	g.Router, err = workers.NewRouter(workers.RouterConfig{
		JS:           g.JS,
		Workers:      ws,
		Logger:       g.log,
		Registerer:   g.Registry,
		DrainTimeout: drainTimeout(cfg.ShutdownTimeout),
	})
	return err
}

// statementsConfig maps the statements settings; with the simulated bank
// and no accounts configured, it fetches every account of that bank.
func (g *Gateway) statementsConfig() statements.Config {
	st := g.cfg.Statements
	sched := statements.Schedule{Intraday: st.Intraday, EndOfDayDelay: st.EndOfDayDelay, Retry: st.Retry}
	c := statements.Config{DefaultProfile: g.cfg.Encoder.DefaultProfile, Tick: st.Tick, RequestTimeout: st.RequestTimeout}
	for _, a := range st.Accounts {
		c.Accounts = append(c.Accounts, statements.Account{IBAN: a.IBAN, Currency: a.Currency, Profile: a.Profile,
			OwnerName: a.OwnerName, ServicerBIC: a.ServicerBIC, StartDate: a.StartDate, Schedule: sched})
	}
	if len(c.Accounts) == 0 && g.cfg.Bank.Channel == config.ChannelBanksim {
		for _, a := range banksim.DefaultAccounts() {
			c.Accounts = append(c.Accounts, statements.Account{IBAN: a.IBAN, Currency: a.Currency,
				Profile: g.cfg.Bank.Banksim.Profile, Schedule: sched})
		}
	}
	return c
}
