package banksim

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// TLSFiles names the PEM files of a banksim TLS folder.
type TLSFiles struct{ Dir, CA, ServerCert, ServerKey, ClientCert, ClientKey string } // ca.pem server.pem server-key.pem client.pem client-key.pem

func tlsFiles(dir string) TLSFiles {
	return TLSFiles{Dir: dir, CA: filepath.Join(dir, "ca.pem"), ServerCert: filepath.Join(dir, "server.pem"),
		ServerKey: filepath.Join(dir, "server-key.pem"), ClientCert: filepath.Join(dir, "client.pem"),
		ClientKey: filepath.Join(dir, "client-key.pem")}
}

// EnsureTLS makes sure dir holds a CA, a server certificate (for
// 127.0.0.1, ::1 and localhost) and a client certificate for isogate, all
// ECDSA P-256, keys mode 0600. It reuses the files when all five exist
// and load (created = false); otherwise it writes a new set (created =
// true), each file atomically. The CA's key is not kept: a new set
// replaces the whole folder's contents.
func EnsureTLS(dir string) (TLSFiles, bool, error) {
	f := tlsFiles(dir)
	if err := f.check(); err == nil {
		return f, false, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return f, false, fmt.Errorf("banksim: creating TLS folder: %w", err)
	}
	now := time.Now()
	caKey, caCert, caDER, err := newCert(now, nil, nil, func(t *x509.Certificate) {
		t.Subject = pkix.Name{CommonName: "banksim CA", Organization: []string{"isogate banksim"}}
		t.IsCA, t.BasicConstraintsValid = true, true
		t.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		t.NotAfter = now.Add(10 * 365 * 24 * time.Hour)
	})
	if err != nil {
		return f, false, err
	}
	srvKey, _, srvDER, err := newCert(now, caCert, caKey, func(t *x509.Certificate) {
		t.Subject = pkix.Name{CommonName: "banksim", Organization: []string{"isogate banksim"}}
		t.DNSNames = []string{"localhost"}
		t.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
		t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		t.KeyUsage = x509.KeyUsageDigitalSignature
	})
	if err != nil {
		return f, false, err
	}
	cliKey, _, cliDER, err := newCert(now, caCert, caKey, func(t *x509.Certificate) {
		t.Subject = pkix.Name{CommonName: "isogate", Organization: []string{"isogate banksim client"}}
		t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		t.KeyUsage = x509.KeyUsageDigitalSignature
	})
	if err != nil {
		return f, false, err
	}
	srvPK, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		return f, false, err
	}
	cliPK, err := x509.MarshalPKCS8PrivateKey(cliKey)
	if err != nil {
		return f, false, err
	}
	writes := []struct {
		path, typ string
		der       []byte
		mode      os.FileMode
	}{
		{f.CA, "CERTIFICATE", caDER, 0o644},
		{f.ServerKey, "PRIVATE KEY", srvPK, 0o600},
		{f.ServerCert, "CERTIFICATE", srvDER, 0o644},
		{f.ClientKey, "PRIVATE KEY", cliPK, 0o600},
		{f.ClientCert, "CERTIFICATE", cliDER, 0o644},
	}
	for _, w := range writes {
		if err := writeAtomic(w.path, pem.EncodeToMemory(&pem.Block{Type: w.typ, Bytes: w.der}), w.mode); err != nil {
			return f, false, fmt.Errorf("banksim: writing %s: %w", w.path, err)
		}
	}
	return f, true, f.check()
}

// check loads the folder's files and verifies the certificates chain.
func (f TLSFiles) check() error {
	ca, err := os.ReadFile(f.CA)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return errors.New("banksim: ca.pem holds no certificate")
	}
	for _, p := range [][2]string{{f.ServerCert, f.ServerKey}, {f.ClientCert, f.ClientKey}} {
		pair, err := tls.LoadX509KeyPair(p[0], p[1])
		if err != nil {
			return err
		}
		if _, err := pair.Leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			return err
		}
	}
	return nil
}

// newCert makes a key and a certificate signed by parent (self-signed when
// parent is nil).
func newCert(now time.Time, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, edit func(*x509.Certificate)) (*ecdsa.PrivateKey, *x509.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, nil, nil, err
	}
	t := &x509.Certificate{SerialNumber: serial, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(2 * 365 * 24 * time.Hour)}
	edit(t)
	signer := key
	if parent == nil {
		parent = t
	} else {
		signer = parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, t, parent, &key.PublicKey, signer)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("banksim: creating certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, err
	}
	return key, cert, der, nil
}

// writeAtomic writes data to a temporary file in path's folder, syncs it
// and renames it into place.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename: nothing to remove
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// A Server is a bank served over HTTPS with mutual TLS.
type Server struct {
	URL  string // https://HOST:PORT
	TLS  TLSFiles
	Bank *Bank

	srv  *http.Server
	done chan error
	once sync.Once
	err  error
}

// Start creates (or reuses) the TLS files in tlsDir with [EnsureTLS] and
// serves a new bank on addr ("127.0.0.1:0" picks a free port) over HTTPS:
// TLS 1.2 or later, HTTP/1.1 only, a client certificate issued by its CA
// required.
func Start(cfg Config, addr, tlsDir string) (*Server, error) {
	files, _, err := EnsureTLS(tlsDir)
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(files.CA)
	if err != nil {
		return nil, fmt.Errorf("banksim: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	if cfg.ClientCAs == nil {
		cfg.ClientCAs = pool
	}
	pair, err := tls.LoadX509KeyPair(files.ServerCert, files.ServerKey)
	if err != nil {
		return nil, fmt.Errorf("banksim: %w", err)
	}
	bank, err := NewBank(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("banksim: %w", err)
	}
	tcfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{pair},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		NextProtos:   []string{"http/1.1"},
	}
	s := &Server{URL: "https://" + ln.Addr().String(), TLS: files, Bank: bank, done: make(chan error, 1)}
	s.srv = &http.Server{
		Handler:           bank.Handler(),
		TLSConfig:         tcfg,
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){}, // HTTP/1.1 only: faults hijack connections
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(bank.log.Handler(), slog.LevelDebug),
	}
	go func() {
		err := s.srv.Serve(tls.NewListener(ln, tcfg))
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	return s, nil
}

// Close stops the server: it releases held requests, closes the listener
// and every connection, and waits for the serving goroutine. It is
// idempotent.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.Bank.Close()
		// A short grace: net/http counts a connection still in its TLS
		// handshake as busy for 5 s, and a simulator has nothing to drain.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			_ = s.srv.Close()
		}
		s.err = <-s.done
	})
	return s.err
}
