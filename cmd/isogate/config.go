package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/isogate/isogate/internal/config"
)

// configFlags are the flags every command that talks to NATS shares. Flags
// override ISOGATE_* variables, which override the YAML file, which
// overrides the defaults.
type configFlags struct {
	fs   *flag.FlagSet
	path string
	set  map[string]func(*config.Config, string) error
	vals map[string]*string
}

// addConfigFlags registers --config and the overrides on fs. With server
// true it adds the flags only `serve` needs.
func addConfigFlags(fs *flag.FlagSet, server bool) *configFlags {
	cf := &configFlags{fs: fs, set: map[string]func(*config.Config, string) error{}, vals: map[string]*string{}}
	fs.StringVar(&cf.path, "config", "", "YAML configuration `file` (default: none; ISOGATE_CONFIG)")
	cf.add("nats-url", "NATS server or cluster `URL`s, comma-separated; empty starts the embedded server (nats.url)",
		func(c *config.Config, v string) error { c.NATS.URL = v; return nil })
	cf.add("nats-port", "client `port` of the embedded NATS server (nats.embedded.port, default 4222)",
		func(c *config.Config, v string) error { return atoi(v, &c.NATS.Embedded.Port) })
	cf.add("log-level", "debug, info, warn or error (log.level, default info)",
		func(c *config.Config, v string) error { c.Log.Level = v; return nil })
	cf.add("log-format", "json or text (log.format, default json)",
		func(c *config.Config, v string) error { c.Log.Format = v; return nil })
	if server {
		cf.add("data-dir", "`dir`ectory for JetStream data of the embedded server (data_dir, default ./data)",
			func(c *config.Config, v string) error { c.DataDir = v; return nil })
		cf.add("monitor-port", "monitoring `port` of the embedded NATS server, 0 disables (nats.embedded.monitor_port, default 8222)",
			func(c *config.Config, v string) error { return atoi(v, &c.NATS.Embedded.MonitorPort) })
		cf.add("ops-listen", "`host:port` of /healthz, /readyz and /metrics; empty disables (ops.listen, default 127.0.0.1:8080)",
			func(c *config.Config, v string) error { c.Ops.Listen = v; return nil })
		cf.add("replicas", "`n` replicas of every stream and bucket (nats.streams.replicas, default 1)",
			func(c *config.Config, v string) error { return atoi(v, &c.NATS.Streams.Replicas) })
	}
	return cf
}

func (cf *configFlags) add(name, usage string, apply func(*config.Config, string) error) {
	cf.vals[name] = cf.fs.String(name, "", usage)
	cf.set[name] = apply
}

func atoi(v string, dst *int) error {
	var n int
	if _, err := fmt.Sscanf(v, "%d", &n); err != nil || fmt.Sprint(n) != strings.TrimSpace(v) {
		return fmt.Errorf("%q is not a whole number", v)
	}
	*dst = n
	return nil
}

// load builds the effective configuration: defaults, file, environment, then
// the flags given on the command line. It validates the result.
func (cf *configFlags) load(getenv func(string) string) (*config.Config, error) {
	path := cf.path
	if path == "" {
		path = getenv("ISOGATE_CONFIG")
	}
	cfg, err := config.Load(path, getenv)
	if err != nil {
		return nil, err
	}
	var errs []string
	cf.fs.Visit(func(f *flag.Flag) {
		apply, ok := cf.set[f.Name]
		if !ok {
			return
		}
		if err := apply(&cfg, *cf.vals[f.Name]); err != nil {
			errs = append(errs, fmt.Sprintf("--%s: %v", f.Name, err))
		}
	})
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// newLogger returns the structured logger the configuration asks for.
func newLogger(w io.Writer, cfg *config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
