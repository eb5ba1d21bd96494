// Package natsrv starts the embedded NATS server with JetStream that the
// gateway runs on when no external NATS URL is configured.
package natsrv

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/isogate/isogate/internal/config"
)

// readyTimeout bounds the wait for the embedded server to accept clients.
const readyTimeout = 10 * time.Second

// Embedded is a running in-process NATS server with JetStream, holding an
// exclusive lock on its data directory.
type Embedded struct {
	Server *server.Server
	lock   *dirLock
}

// Start starts an embedded server from cfg: JetStream file storage under
// cfg.StoreDir(), client and monitoring ports on cfg.NATS.Embedded.Host, and
// fsync on every write unless sync_interval says otherwise. It refuses a data
// directory another process is using.
func Start(cfg *config.Config, log *slog.Logger) (*Embedded, error) {
	e := cfg.NATS.Embedded
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("natsrv: creating data dir: %w", err)
	}
	lock, err := lockDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	opts := &server.Options{
		ServerName: "isogate",
		Host:       e.Host,
		Port:       e.Port,
		JetStream:  true,
		StoreDir:   cfg.StoreDir(),
		NoSigs:     true,
		// Acknowledged payments must survive a crash: fsync every write.
		SyncAlways: e.SyncAlways(),
	}
	if !e.SyncAlways() {
		d, err := time.ParseDuration(e.SyncInterval)
		if err != nil {
			lock.release()
			return nil, fmt.Errorf("natsrv: nats.embedded.sync_interval: %w", err)
		}
		opts.SyncInterval = d
		log.Warn("embedded NATS fsyncs periodically, not on every write: acknowledged payments can be lost on power failure",
			slog.Duration("sync_interval", d))
	}
	if e.MonitorPort != 0 {
		opts.HTTPHost = e.Host
		opts.HTTPPort = e.MonitorPort
	}
	if e.MaxStore != "" {
		n, err := config.ParseBytes(e.MaxStore)
		if err != nil {
			lock.release()
			return nil, fmt.Errorf("natsrv: nats.embedded.max_store: %w", err)
		}
		opts.JetStreamMaxStore = n
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		lock.release()
		return nil, fmt.Errorf("natsrv: configuring embedded NATS: %w", err)
	}
	srv.SetLoggerV2(&slogAdapter{log: log.With(slog.String("component", "nats"))}, false, false, false)
	go srv.Start()
	if !srv.ReadyForConnections(readyTimeout) {
		srv.Shutdown()
		srv.WaitForShutdown()
		lock.release()
		return nil, fmt.Errorf("natsrv: embedded NATS not ready within %s (is port %d or %d in use?)",
			readyTimeout, e.Port, e.MonitorPort)
	}
	if !srv.JetStreamEnabled() {
		srv.Shutdown()
		srv.WaitForShutdown()
		lock.release()
		return nil, errors.New("natsrv: JetStream did not start (see the log above)")
	}
	return &Embedded{Server: srv, lock: lock}, nil
}

// ClientURL is the URL other processes connect to.
func (e *Embedded) ClientURL() string { return e.Server.ClientURL() }

// MonitorURL is the base URL of the monitoring endpoints, or "" when they
// are disabled.
func (e *Embedded) MonitorURL() string {
	a := e.Server.MonitorAddr()
	if a == nil {
		return ""
	}
	return "http://" + a.String()
}

// Close shuts the server down, waits for it to flush and releases the data
// directory. It is safe to call more than once.
func (e *Embedded) Close() {
	if e == nil || e.Server == nil {
		return
	}
	e.Server.Shutdown()
	e.Server.WaitForShutdown()
	e.lock.release()
}

// slogAdapter sends the server's log lines to slog. Notices (start-up banner,
// routine events) go to debug so the gateway's own log stays readable.
type slogAdapter struct{ log *slog.Logger }

func (a *slogAdapter) Noticef(format string, v ...any) { a.log.Debug(fmt.Sprintf(format, v...)) }
func (a *slogAdapter) Warnf(format string, v ...any)   { a.log.Warn(fmt.Sprintf(format, v...)) }
func (a *slogAdapter) Fatalf(format string, v ...any)  { a.log.Error(fmt.Sprintf(format, v...)) }
func (a *slogAdapter) Errorf(format string, v ...any)  { a.log.Error(fmt.Sprintf(format, v...)) }
func (a *slogAdapter) Debugf(format string, v ...any)  { a.log.Debug(fmt.Sprintf(format, v...)) }
func (a *slogAdapter) Tracef(format string, v ...any)  {}
