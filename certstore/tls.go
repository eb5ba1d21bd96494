package certstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// A Source serves the live pair of one Ref to TLS clients. It holds the
// current and previous pairs in memory and picks the live one per handshake
// (so an activation time passing needs no reload). Reload replaces them
// atomically; a failed reload keeps the last good pairs, logs and records
// the error (LastError).
type Source struct {
	store *Store
	ref   Ref

	snap    atomic.Pointer[snapshot]
	mu      sync.Mutex // serialises reloads
	lastErr atomic.Pointer[error]
}

type snapshot struct {
	state    State
	current  *tls.Certificate
	previous *tls.Certificate
}

func (sn *snapshot) pick(now time.Time) (*tls.Certificate, Slot) {
	var prevNotAfter time.Time
	if sn.previous != nil {
		prevNotAfter = sn.previous.Leaf.NotAfter
	}
	if sn.state.LiveSlot(now, prevNotAfter) == SlotPrevious && sn.previous != nil {
		return sn.previous, SlotPrevious
	}
	return sn.current, SlotCurrent
}

// Source returns a TLS source for ref, loaded from the store. Promote,
// Import, SetLive and Rollback on this Store reload it before they return;
// changes made by another process are picked up by Run.
func (s *Store) Source(ref Ref) (*Source, error) {
	src := &Source{store: s, ref: ref}
	if err := src.Reload(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.sources[ref] = append(s.sources[ref], src)
	s.mu.Unlock()
	return src, nil
}

func (s *Store) notify(ref Ref) {
	s.mu.Lock()
	srcs := append([]*Source(nil), s.sources[ref]...)
	s.mu.Unlock()
	for _, src := range srcs {
		src.Reload() // logged and recorded by Reload
	}
}

// Close stops reloads of src by its Store. It does not affect connections.
func (src *Source) Close() {
	s := src.store
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.sources[src.ref]
	for i, x := range list {
		if x == src {
			s.sources[src.ref] = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(s.sources[src.ref]) == 0 {
		delete(s.sources, src.ref)
	}
}

// Reload reads the pairs of the Ref from disk. On failure the last good
// pairs stay in service and the error is returned, logged and kept for
// LastError.
func (src *Source) Reload() error {
	src.mu.Lock()
	defer src.mu.Unlock()
	err := src.reload()
	if err != nil {
		err = fmt.Errorf("reloading certificate %s: %w", src.ref, err)
		src.lastErr.Store(&err)
		if src.snap.Load() != nil {
			src.store.opts.Logger.Error("certificate reload failed; keeping the last good certificate",
				"ref", src.ref.String(), "error", err)
		}
		return err
	}
	src.lastErr.Store(nil)
	return nil
}

func (src *Source) reload() error {
	st, err := src.store.State(src.ref)
	if err != nil {
		return err
	}
	cur, err := src.store.Load(src.ref, SlotCurrent)
	if err != nil {
		return err
	}
	sn := &snapshot{state: st, current: cur.TLSCertificate()}
	if st.Previous != "" {
		if prev, err := src.store.Load(src.ref, SlotPrevious); err == nil {
			sn.previous = prev.TLSCertificate()
		} else if st.Live == SlotPrevious {
			return fmt.Errorf("loading previous pair (live): %w", err)
		}
	}
	src.snap.Store(sn)
	return nil
}

// LastError returns the error of the last reload, nil if it succeeded.
func (src *Source) LastError() error {
	if p := src.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Certificate returns the pair served now and its slot.
func (src *Source) Certificate() (*tls.Certificate, Slot) {
	return src.snap.Load().pick(src.store.opts.Now())
}

// GetClientCertificate serves the live pair; use it as
// tls.Config.GetClientCertificate.
func (src *Source) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	c, _ := src.Certificate()
	return c, nil
}

// ClientConfig returns a client tls.Config that presents the live pair and
// trusts only serverCAs (pinned; never the system roots: nil trusts no
// server), TLS 1.2 minimum.
func (src *Source) ClientConfig(serverCAs *x509.CertPool) *tls.Config {
	if serverCAs == nil {
		serverCAs = x509.NewCertPool()
	}
	return &tls.Config{
		MinVersion:           tls.VersionTLS12,
		RootCAs:              serverCAs,
		GetClientCertificate: src.GetClientCertificate,
	}
}

// Run polls the state file every interval (default 10s) and reloads when
// another process changed it. It returns when ctx is done.
func (src *Source) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = 10 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		st, err := src.store.State(src.ref)
		if err != nil {
			continue
		}
		if sn := src.snap.Load(); sn == nil || sn.state.Generation != st.Generation || src.LastError() != nil {
			src.Reload()
		}
	}
}

// LoadCAPool reads PEM CA certificates from path into a new pool (without
// the system roots), for pinning a server or trusting a certificate service.
func LoadCAPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, errors.New("certstore: no PEM certificates in " + path)
	}
	return pool, nil
}
