package h2h

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"net"
	"sync"
	"time"
)

// sessionCacheSize is how many TLS sessions a Client keeps: one per bank
// host and client certificate (the live and the previous pair) is what it
// uses.
const sessionCacheSize = 16

// A sessionCache resumes TLS sessions for one Client, keyed by the client
// certificate each session authenticated with as well as by the server.
//
// A resumed handshake sends no certificate: the server takes the client's
// identity from the ticket, as the full handshake that made the session
// left it. A cache keyed by server only would therefore keep
// authenticating as the old certificate after a renewal, for as long as
// the server accepts the ticket — and with TLS 1.3 every resumption earns
// a new ticket, so up to the old certificate's NotAfter. Here a handshake
// looks up only sessions made with the certificate it would present now
// (the live one, from GetClientCertificate or Certificates[0]), and a
// session is stored under the certificate its own connection presented
// (see connSessions), never under whatever is live when the ticket
// arrives. When the live certificate cannot be determined, nothing is
// resumed.
type sessionCache struct {
	store tls.ClientSessionCache // keys: certPrefix + crypto/tls's key (server name)
	live  func() *tls.Certificate
}

// newSessionCache returns a cache over store for the client certificates
// of cfg.
func newSessionCache(store tls.ClientSessionCache, cfg *tls.Config) *sessionCache {
	s := &sessionCache{store: store}
	switch get, certs := cfg.GetClientCertificate, cfg.Certificates; {
	case get != nil:
		// An empty request: certstore's Source ignores it and serves the
		// pair it would present to any server now.
		s.live = func() *tls.Certificate {
			c, err := get(&tls.CertificateRequestInfo{})
			if err != nil {
				return nil
			}
			return c
		}
	case len(certs) > 0:
		s.live = func() *tls.Certificate { return &certs[0] }
	default:
		s.live = func() *tls.Certificate { return nil }
	}
	return s
}

// certPrefix returns the key prefix of c's sessions: the hex SHA-256 of
// its leaf DER and "|"; "" for no certificate. Hashing a leaf costs a few
// microseconds against a handshake's milliseconds, so it is not memoised.
func certPrefix(c *tls.Certificate) string {
	if c == nil || len(c.Certificate) == 0 || len(c.Certificate[0]) == 0 {
		return ""
	}
	sum := sha256.Sum256(c.Certificate[0])
	return hex.EncodeToString(sum[:]) + "|"
}

// conn returns the cache as one connection's handshake sees it.
func (s *sessionCache) conn() *connSessions { return &connSessions{cache: s} }

// connSessions is the tls.ClientSessionCache of one connection. crypto/tls
// calls Get when the handshake starts and Put when a session ticket
// arrives — in TLS 1.3 after the handshake, while the answer is read, by
// when another certificate may be live. So Put files the ticket under the
// certificate this connection authenticated with: the one its full
// handshake presented, or, for a resumed (or certificate-less) one, the
// one whose sessions Get looked up.
type connSessions struct {
	cache *sessionCache

	mu        sync.Mutex
	offered   string // prefix Get used: the live certificate when the handshake began
	presented string // prefix of the certificate the full handshake sent
	full      bool   // GetClientCertificate was asked: not resumed
}

// Get returns a session made with the live certificate; none when that is
// unknown.
func (v *connSessions) Get(key string) (*tls.ClientSessionState, bool) {
	p := certPrefix(v.cache.live())
	v.mu.Lock()
	v.offered = p
	v.mu.Unlock()
	if p == "" {
		return nil, false
	}
	return v.cache.store.Get(p + key)
}

// Put stores cs (nil: deletes) under the certificate this connection
// authenticated with, or drops it when that is unknown.
func (v *connSessions) Put(key string, cs *tls.ClientSessionState) {
	v.mu.Lock()
	p := v.offered
	if v.full {
		p = v.presented
	}
	v.mu.Unlock()
	if p == "" {
		return
	}
	v.cache.store.Put(p+key, cs)
}

// sent records the certificate the full handshake presents.
func (v *connSessions) sent(c *tls.Certificate) {
	p := certPrefix(c)
	v.mu.Lock()
	v.full, v.presented = true, p
	v.mu.Unlock()
}

// dialTLS returns an http.Transport DialTLSContext that gives every
// connection its own view of the cache (and, with GetClientCertificate,
// learns what its handshake presented), then handshakes within timeout:
// what the transport does itself with TLSClientConfig and
// TLSHandshakeTimeout (the server name is the URL's host), plus the view.
func (s *sessionCache) dialTLS(base *tls.Config, timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		raw, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		cfg := base.Clone()
		if cfg.ServerName == "" {
			if cfg.ServerName, _, err = net.SplitHostPort(addr); err != nil {
				raw.Close()
				return nil, err
			}
		}
		view := s.conn()
		cfg.ClientSessionCache = view
		if get := base.GetClientCertificate; get != nil {
			cfg.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
				c, err := get(cri)
				if err == nil {
					view.sent(c)
				}
				return c, err
			}
		}
		tc := tls.Client(raw, cfg)
		hctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if err := tc.HandshakeContext(hctx); err != nil {
			raw.Close()
			return nil, err
		}
		return tc, nil
	}
}
