// Package app wires the gateway together: NATS (embedded or external),
// provisioning, the state buckets and the archive, the bank channel (by
// default an in-process simulated bank), the workers and the operator HTTP
// server.
//
// Start-up order: NATS → provisioning → state/archive → bank channel →
// each worker's recovery (the submitter's in the background: it may wait
// out upload leases) → the router and the workers' loops → ops server.
// Shutdown, within shutdown_timeout: ops server, then the router (drained
// within half the shutdown timeout) and the loops, then the encoder's
// flushes, then the NATS drain, then the embedded server, then the bank
// channel and the simulated bank.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/isogate/isogate/bank"
	"github.com/isogate/isogate/banksim"
	"github.com/isogate/isogate/certstore"
	"github.com/isogate/isogate/internal/config"
	"github.com/isogate/isogate/internal/natsconn"
	"github.com/isogate/isogate/internal/natsrv"
	"github.com/isogate/isogate/internal/ops"
	"github.com/isogate/isogate/internal/provision"
	"github.com/isogate/isogate/workers/archive"
	"github.com/isogate/isogate/workers/encoder"
	"github.com/isogate/isogate/workers/reconciler"
	"github.com/isogate/isogate/workers/state"
	"github.com/isogate/isogate/workers/statements"
	"github.com/isogate/isogate/workers/statuspoller"
	"github.com/isogate/isogate/workers/submitter"
	"github.com/isogate/isogate/xmlcodec"
)

// Gateway is a started gateway.
type Gateway struct {
	cfg      *config.Config
	log      *slog.Logger
	Embedded *natsrv.Embedded // nil when connected to an external server
	NC       *nats.Conn
	JS       jetstream.JetStream
	Ops      *ops.Server // nil when ops.listen is empty
	Registry *prometheus.Registry
	// Changes is what provisioning did at start.
	Changes []provision.Change
	// Profiles resolves bank profiles: profiles_dir over the built-in ones.
	Profiles *xmlcodec.ProfileSet

	Batches *state.Batches
	Intents *state.Intents
	Archive *archive.Archive
	// Channel is the bank channel; nil when no configured worker talks to
	// the bank.
	Channel bank.Channel
	// Banksim is the in-process simulated bank (bank.channel banksim).
	Banksim *banksim.Server
	// Router runs the workers' handlers; nil when none is configured.
	Router *message.Router
	// WorkerNames are the workers running, in configuration order.
	WorkerNames  []string
	Encoder      *encoder.Handler
	Submitter    *submitter.Handler
	StatusPoller *statuspoller.Handler
	Statements   *statements.Handler
	Reconciler   *reconciler.Handler

	certSource *certstore.Source
	certStore  *certstore.Store
	// background are the loops that run beside the router until shutdown.
	background []func(context.Context) error
	stopRun    context.CancelFunc
	runDone    chan struct{} // closed when the router and every loop returned
	failed     chan struct{} // closed when the router or a loop failed
	runErr     error

	serveErr  chan error
	closeOnce sync.Once
}

// Start is StartWith without options.
func Start(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Gateway, error) {
	return StartWith(ctx, cfg, log, Options{})
}

// StartWith brings the gateway up: it starts the embedded NATS server (or
// connects to nats.url), provisions streams, buckets and the object store,
// opens the state buckets and the archive, builds the bank channel, builds
// the configured workers and runs their recovery, starts the router and
// the loops, and starts the ops server. It returns once all of that is
// done (the workers' consumers are subscribed), or the first error, having
// undone whatever it had started.
func StartWith(ctx context.Context, cfg *config.Config, log *slog.Logger, opts Options) (g *Gateway, err error) {
	g = &Gateway{cfg: cfg, log: log, Registry: prometheus.NewRegistry(), serveErr: make(chan error, 1), failed: make(chan struct{})}
	defer func() {
		if err != nil {
			g.shutdown(context.Background())
		}
	}()
	// A broken profile file is reported now, not when a payment needs it.
	g.Profiles, err = xmlcodec.NewProfileSet(cfg.ProfilesDir)
	if err != nil {
		return g, fmt.Errorf("profiles_dir: %w", err)
	}
	if cfg.Embedded() {
		g.Embedded, err = natsrv.Start(cfg, log)
		if err != nil {
			return g, err
		}
		log.Info("embedded NATS started",
			slog.String("client_url", g.Embedded.ClientURL()),
			slog.String("monitor_url", g.Embedded.MonitorURL()),
			slog.String("store_dir", cfg.StoreDir()),
			slog.Bool("sync_always", cfg.NATS.Embedded.SyncAlways()))
		opts := append(natsconn.Options(cfg, "isogate serve", log), nats.InProcessServer(g.Embedded.Server))
		g.NC, err = nats.Connect(g.Embedded.ClientURL(), opts...)
		if err != nil {
			return g, fmt.Errorf("connecting to embedded NATS: %w", err)
		}
	} else {
		g.NC, err = natsconn.Dial(cfg, "isogate serve", log)
		if err != nil {
			return g, err
		}
		log.Info("connected to NATS", slog.String("url", config.MaskURL(g.NC.ConnectedUrl())))
	}
	g.JS, err = jetstream.New(g.NC)
	if err != nil {
		return g, fmt.Errorf("opening JetStream: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// A cluster that is still forming (compose starting every node at
	// once) answers with transient errors: retry those for up to 30 s.
	g.Changes, err = provision.ApplyWithRetry(pctx, g.JS, provision.Options{
		Replicas:        cfg.NATS.Streams.Replicas,
		DuplicateWindow: cfg.NATS.Streams.DuplicateWindow,
		MaxAge:          cfg.NATS.Streams.MaxAge,
	}, func(attempt int, err error) {
		log.Warn("provisioning will retry", slog.Int("attempt", attempt), slog.String("error", err.Error()))
	})
	if err != nil {
		return g, err
	}
	for _, c := range g.Changes {
		level := slog.LevelInfo
		if c.Action == provision.Unchanged {
			level = slog.LevelDebug
		}
		log.Log(ctx, level, "provisioned", slog.String("kind", c.Kind), slog.String("name", c.Name),
			slog.String("action", string(c.Action)), slog.String("detail", c.Detail))
	}
	g.registerMetrics()
	if err := g.startWorkers(ctx, opts); err != nil {
		return g, err
	}
	if err := g.run(ctx); err != nil {
		return g, err
	}
	if cfg.Ops.Listen != "" {
		g.Ops, err = ops.Listen(cfg.Ops.Listen, ops.Handler(g.Ready, g.Registry), log)
		if err != nil {
			return g, err
		}
		go func() { g.serveErr <- g.Ops.Serve() }()
		log.Info("ops server listening", slog.String("addr", g.Ops.Addr()))
	}
	return g, nil
}

// Ready reports whether JetStream answers and every stream, bucket and the
// object store exist.
func (g *Gateway) Ready(ctx context.Context) error {
	if !g.NC.IsConnected() {
		return fmt.Errorf("nats: %s", g.NC.Status())
	}
	if _, err := g.JS.AccountInfo(ctx); err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	return provision.Check(ctx, g.JS)
}

func (g *Gateway) registerMetrics() {
	version := "dev"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		version = bi.Main.Version
	}
	g.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "isogate_build_info",
			Help:        "Always 1; the version label names the build.",
			ConstLabels: prometheus.Labels{"version": version},
		}, func() float64 { return 1 }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "isogate_nats_connected",
			Help: "1 while the gateway's NATS connection is up.",
		}, func() float64 {
			if g.NC.IsConnected() {
				return 1
			}
			return 0
		}),
	)
}

// Run serves until ctx is done, then shuts down within the configured
// shutdown timeout. It returns nil on a clean shutdown.
func (g *Gateway) Run(ctx context.Context) error {
	var err error
	select {
	case <-ctx.Done():
	case err = <-g.serveErr:
		if err != nil {
			err = fmt.Errorf("ops server: %w", err)
		}
	case <-g.failed: // a loop or the router failed: shutdown reports it
	}
	sctx, cancel := context.WithTimeout(context.Background(), g.cfg.ShutdownTimeout)
	defer cancel()
	return errors.Join(err, g.shutdown(sctx))
}

// run starts the router and the background loops, and waits until the
// router's consumers are subscribed. A loop or the router returning an
// error before shutdown ends Run with it.
func (g *Gateway) run(ctx context.Context) error {
	rctx, cancel := context.WithCancel(context.Background())
	g.stopRun = cancel
	g.runDone = make(chan struct{})
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	fail := func(err error) {
		if err == nil {
			return
		}
		mu.Lock()
		errs = append(errs, err)
		if len(errs) == 1 {
			close(g.failed)
		}
		mu.Unlock()
		cancel() // one failing stops the others, as an errgroup does
	}
	for _, loop := range g.background {
		wg.Go(func() { fail(loop(rctx)) })
	}
	if g.Router != nil {
		// The router gets its own context: it is stopped by Close, which
		// drains, while rctx stops the loops.
		wg.Go(func() {
			if err := g.Router.Run(context.Background()); err != nil {
				fail(fmt.Errorf("workers: %w", err))
			}
		})
		wg.Go(func() {
			<-rctx.Done()
			if err := g.Router.Close(); err != nil {
				fail(fmt.Errorf("stopping workers: %w", err))
			}
		})
	}
	go func() {
		wg.Wait()
		mu.Lock()
		g.runErr = errors.Join(errs...)
		mu.Unlock()
		close(g.runDone)
	}()
	if g.Router == nil {
		return nil
	}
	select {
	case <-g.Router.Running():
		g.log.Info("workers running", slog.String("workers", strings.Join(g.WorkerNames, ",")))
		return nil
	case <-g.runDone:
		return fmt.Errorf("workers did not start: %w", g.runErr)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// shutdown stops the ops server, the router and the loops, drains the NATS
// connection, stops the embedded server and the bank, each bounded by ctx.
// It is safe to call more than once.
func (g *Gateway) shutdown(ctx context.Context) error {
	var errs []error
	g.closeOnce.Do(func() {
		start := time.Now()
		if g.Ops != nil {
			if err := g.Ops.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("stopping ops server: %w", err))
			}
		}
		if g.stopRun != nil {
			g.stopRun()
			select {
			case <-g.runDone:
				if g.runErr != nil {
					errs = append(errs, g.runErr)
				}
			case <-ctx.Done():
				errs = append(errs, errors.New("workers did not stop before the shutdown timeout"))
			}
		}
		if g.Encoder != nil {
			if err := g.Encoder.Close(); err != nil {
				errs = append(errs, fmt.Errorf("closing encoder: %w", err))
			}
		}
		if g.NC != nil && !g.NC.IsClosed() {
			drained := make(chan struct{})
			g.NC.SetClosedHandler(func(*nats.Conn) { close(drained) })
			if err := g.NC.Drain(); err != nil {
				g.NC.Close()
			}
			select {
			case <-drained:
			case <-ctx.Done():
				g.NC.Close()
				errs = append(errs, errors.New("nats drain did not finish before the shutdown timeout"))
			}
		}
		g.Embedded.Close()
		if err := g.closeBank(); err != nil {
			errs = append(errs, err)
		}
		g.log.Info("stopped", slog.Duration("took", time.Since(start)))
	})
	return errors.Join(errs...)
}
