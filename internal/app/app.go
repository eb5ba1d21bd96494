// Package app wires the gateway together: NATS (embedded or external),
// provisioning, the operator HTTP server, and (as they arrive) the workers.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/isogate/isogate/internal/config"
	"github.com/isogate/isogate/internal/natsconn"
	"github.com/isogate/isogate/internal/natsrv"
	"github.com/isogate/isogate/internal/ops"
	"github.com/isogate/isogate/internal/provision"
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

	serveErr  chan error
	closeOnce sync.Once
}

// Start brings the gateway up: it starts the embedded NATS server (or
// connects to nats.url), provisions streams, buckets and the object store,
// and starts the ops server. It returns once all of that is done, or the
// first error, having undone whatever it had started.
func Start(ctx context.Context, cfg *config.Config, log *slog.Logger) (g *Gateway, err error) {
	g = &Gateway{cfg: cfg, log: log, Registry: prometheus.NewRegistry(), serveErr: make(chan error, 1)}
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
	}
	sctx, cancel := context.WithTimeout(context.Background(), g.cfg.ShutdownTimeout)
	defer cancel()
	return errors.Join(err, g.shutdown(sctx))
}

// shutdown stops the ops server, drains the NATS connection and stops the
// embedded server, each bounded by ctx. It is safe to call more than once.
func (g *Gateway) shutdown(ctx context.Context) error {
	var errs []error
	g.closeOnce.Do(func() {
		start := time.Now()
		if g.Ops != nil {
			if err := g.Ops.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("stopping ops server: %w", err))
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
		g.log.Info("stopped", slog.Duration("took", time.Since(start)))
	})
	return errors.Join(errs...)
}
