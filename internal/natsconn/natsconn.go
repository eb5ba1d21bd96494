// Package natsconn opens the gateway's connections to NATS, embedded or
// external, with the same options everywhere.
package natsconn

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/isogate/isogate/internal/config"
)

// Options returns the connection options for cfg: authentication, timeouts,
// reconnecting forever, and connection events logged.
func Options(cfg *config.Config, name string, log *slog.Logger) []nats.Option {
	opts := []nats.Option{
		nats.Name(name),
		nats.Timeout(cfg.NATS.ConnectTimeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", slog.String("error", err.Error()))
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", slog.String("url", config.MaskURL(nc.ConnectedUrl())))
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			attrs := []any{slog.String("error", err.Error())}
			if sub != nil {
				attrs = append(attrs, slog.String("subject", sub.Subject))
			}
			log.Error("nats async error", attrs...)
		}),
	}
	n := cfg.NATS
	if n.User != "" || n.Password != "" {
		opts = append(opts, nats.UserInfo(n.User, n.Password))
	}
	if n.Token != "" {
		opts = append(opts, nats.Token(n.Token))
	}
	if n.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(n.CredsFile))
	}
	return opts
}

// Dial connects to cfg.ClientURL(): the external server or cluster, or the
// embedded server of a running `isogate serve`.
func Dial(cfg *config.Config, name string, log *slog.Logger) (*nats.Conn, error) {
	url := cfg.ClientURL()
	opts := append(Options(cfg, name, log), nats.RetryOnFailedConnect(false))
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		hint := ""
		if cfg.Embedded() {
			hint = " (is `isogate serve` running? or set --nats-url)"
		}
		return nil, fmt.Errorf("connecting to NATS at %s: %w%s", config.MaskURL(url), err, hint)
	}
	return nc, nil
}
