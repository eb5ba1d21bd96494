package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/isogate/isogate/bank/filedrop"
	"github.com/isogate/isogate/bank/h2h"
	"github.com/isogate/isogate/banksim"
	"github.com/isogate/isogate/certstore"
	"github.com/isogate/isogate/internal/config"
	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/workers"
)

// needsBank reports whether a configured worker talks to the bank.
func needsBank(cfg *config.Config) bool {
	return cfg.RunsWorker(config.WorkerSubmitter) || cfg.RunsWorker(config.WorkerStatusPoller) ||
		cfg.RunsWorker(config.WorkerStatements)
}

// channelName is the adapter name recorded in pay.batch.submitted.
func channelName(cfg *config.Config) string {
	if cfg.Bank.Channel == config.ChannelFiledrop {
		return "filedrop"
	}
	return "h2h" // banksim is reached through the h2h adapter
}

// startBank builds the bank channel of cfg.Bank.Channel: for banksim it
// first starts the in-process simulated bank.
func (g *Gateway) startBank(opts Options) error {
	cfg := g.cfg
	switch cfg.Bank.Channel {
	case config.ChannelBanksim:
		return g.startBanksim(opts)
	case config.ChannelH2H:
		return g.startH2H(opts)
	case config.ChannelFiledrop:
		f := cfg.Bank.Filedrop
		ch, err := filedrop.New(filedrop.Config{Outbox: f.Outbox, Inbox: f.Inbox, Archive: f.Archive, Logger: g.log})
		if err != nil {
			return fmt.Errorf("bank.filedrop: %w", err)
		}
		g.Channel = ch
		g.log.Info("bank channel: filedrop", slog.String("outbox", f.Outbox), slog.String("inbox", f.Inbox))
		return nil
	}
	return fmt.Errorf("bank.channel %q: unknown", cfg.Bank.Channel)
}

func (g *Gateway) startBanksim(opts Options) error {
	s := g.cfg.Bank.Banksim
	// 0 in the configuration means no delay; banksim reads 0 as "default".
	delay := func(d time.Duration) time.Duration {
		if d == 0 {
			return -1
		}
		return d
	}
	bcfg := banksim.Config{
		Profile: s.Profile,
		Seed:    s.Seed,
		Log:     g.log.With(slog.String("component", "banksim")),
	}
	bcfg.Delays.Accept = s.Accept
	bcfg.Delays.Process = delay(s.Process)
	bcfg.Delays.Settle = delay(s.Settle)
	if opts.Banksim != nil {
		opts.Banksim(&bcfg)
	}
	dir, err := filepath.Abs(g.cfg.BanksimTLSDir())
	if err != nil {
		return fmt.Errorf("bank.banksim.tls_dir: %w", err)
	}
	srv, err := banksim.Start(bcfg, s.Addr, dir)
	if err != nil {
		return fmt.Errorf("starting the simulated bank: %w", err)
	}
	g.Banksim = srv
	pair, err := tls.LoadX509KeyPair(srv.TLS.ClientCert, srv.TLS.ClientKey)
	if err != nil {
		return fmt.Errorf("banksim client certificate: %w", err)
	}
	pool, err := certstore.LoadCAPool(srv.TLS.CA)
	if err != nil {
		return fmt.Errorf("banksim CA: %w", err)
	}
	hc := h2h.Config{
		BaseURL: srv.URL,
		Timeout: g.cfg.Bank.H2H.Timeout,
		TLS:     &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, Certificates: []tls.Certificate{pair}},
	}
	if opts.H2H != nil {
		opts.H2H(&hc)
	}
	c, err := h2h.New(hc)
	if err != nil {
		return fmt.Errorf("h2h client for the simulated bank: %w", err)
	}
	g.Channel = c
	g.log.Info("simulated bank started (bank.channel banksim)", slog.String("url", srv.URL),
		slog.String("tls_dir", srv.TLS.Dir), slog.String("profile", s.Profile),
		slog.String("try", fmt.Sprintf("curl --cacert %s --cert %s --key %s %s/sim/ledger",
			srv.TLS.CA, srv.TLS.ClientCert, srv.TLS.ClientKey, srv.URL)))
	return nil
}

func (g *Gateway) startH2H(opts Options) error {
	h := g.cfg.Bank.H2H
	store, err := certstore.Open(certstore.Options{Dir: h.CertStore, Passphrase: opts.KeyPassphrase, Logger: g.log})
	if err != nil {
		return fmt.Errorf("bank.h2h.cert_store: %w", err)
	}
	ref := certstore.Ref{Org: h.Org, Env: h.Env, Purpose: h.Purpose}
	src, err := store.Source(ref)
	if err != nil {
		return fmt.Errorf("bank.h2h: client certificate %s: %w", ref, err)
	}
	g.certSource, g.certStore = src, store
	pool, err := loadPool(h.ServerCAFile)
	if err != nil {
		return fmt.Errorf("bank.h2h.server_ca_file: %w", err)
	}
	hc := h2h.Config{BaseURL: h.BaseURL, Timeout: h.Timeout, TLS: src.ClientConfig(pool), Sign: h.Sign,
		DisableSessionResumption: h.TLSResumption == "off"}
	if h.Sign == h2h.SignXMLDSig {
		hc.Signer = func() (*tls.Certificate, error) {
			c, _ := src.Certificate()
			if c == nil {
				return nil, errors.New("no live client certificate in the store")
			}
			return c, nil
		}
	}
	if opts.H2H != nil {
		opts.H2H(&hc)
	}
	c, err := h2h.New(hc)
	if err != nil {
		return fmt.Errorf("bank.h2h: %w", err)
	}
	g.Channel = c
	g.log.Info("bank channel: h2h", slog.String("base_url", h.BaseURL), slog.String("certificate", ref.String()),
		slog.String("sign", h.Sign))
	return nil
}

func loadPool(path string) (*x509.CertPool, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	return certstore.LoadCAPool(path)
}

// runCertSource reloads the h2h client certificate when the store changes
// (a renewal by `isogate cert`), until ctx ends.
func (g *Gateway) runCertSource(ctx context.Context) error {
	if g.certSource == nil {
		return nil
	}
	return g.certSource.Run(ctx, 0)
}

// certWatcher watches every certificate of the store: the gauge
// isogate_cert_expiry_seconds, and one ops.cert.expiring event per
// certificate and threshold (Nats-Msg-Id = the event's stable id, so a
// restart that fires a threshold again stores it once within the OPS
// duplicate window; the store also remembers what it fired).
func (g *Gateway) certWatcher(store *certstore.Store) (*certstore.Watcher, error) {
	m, err := certstore.NewMetrics(g.Registry)
	if err != nil {
		return nil, err
	}
	pub := workers.NewPublisher(g.JS, 10*time.Second)
	sink := certstore.EventSinkFunc(func(ctx context.Context, ev certstore.ExpiryEvent) error {
		_, err := pub.PublishEvent(ctx, messages.CertExpiring{
			Org: ev.Org, Env: ev.Env, Purpose: ev.Purpose, Subject: ev.Subject, Serial: ev.Serial,
			NotAfter: ev.NotAfter, DaysLeft: ev.DaysLeft, ThresholdDays: ev.ThresholdDays,
		}, ev.ID)
		return err
	})
	return &certstore.Watcher{Store: store, Sink: sink, Metrics: m}, nil
}

// runCertWatch checks the certificate store's expiry hourly until ctx
// ends; without a store (bank.channel other than h2h) it does nothing.
func (g *Gateway) runCertWatch(ctx context.Context) error {
	if g.certStore == nil {
		return nil
	}
	w, err := g.certWatcher(g.certStore)
	if err != nil {
		return err
	}
	return w.Run(ctx)
}

// closeBank closes the channel and stops the simulated bank.
func (g *Gateway) closeBank() error {
	var errs []error
	if c, ok := g.Channel.(interface{ Close() error }); ok {
		if err := c.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if g.certSource != nil {
		g.certSource.Close()
	}
	if g.Banksim != nil {
		if err := g.Banksim.Close(); err != nil {
			errs = append(errs, fmt.Errorf("stopping the simulated bank: %w", err))
		}
	}
	return errors.Join(errs...)
}
