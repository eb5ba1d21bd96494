package certstore

import (
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"time"
)

// Environments a certificate can belong to.
const (
	EnvTest       = "test"
	EnvProduction = "production"
)

// A Ref names one certificate slot: organisation id, environment and
// purpose (for example "ekase" or "vero").
type Ref struct {
	Org     string `json:"org"`
	Env     string `json:"env"`
	Purpose string `json:"purpose"`
}

func (r Ref) String() string { return r.Org + "/" + r.Env + "/" + r.Purpose }

var segment = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Validate reports every problem with r at once.
func (r Ref) Validate() error {
	var errs []error
	if !segment.MatchString(r.Org) {
		errs = append(errs, fmt.Errorf("certstore: invalid org id %q (letters, digits, . _ -; at most 64)", r.Org))
	}
	if r.Env != EnvTest && r.Env != EnvProduction {
		errs = append(errs, fmt.Errorf("certstore: invalid env %q (want %q or %q)", r.Env, EnvTest, EnvProduction))
	}
	if !segment.MatchString(r.Purpose) {
		errs = append(errs, fmt.Errorf("certstore: invalid purpose %q (letters, digits, . _ -; at most 64)", r.Purpose))
	}
	return errors.Join(errs...)
}

// A Slot is one of the two pairs a Ref keeps.
type Slot string

const (
	SlotCurrent  Slot = "current"
	SlotPrevious Slot = "previous"
)

// State is what the store records per Ref in state.json: which pairs exist,
// which one is served ("live") and why.
type State struct {
	// Generation increases with every change; TLS sources poll it.
	Generation int64  `json:"generation"`
	Current    string `json:"current,omitempty"`  // pair id
	Previous   string `json:"previous,omitempty"` // pair id, kept for rollback
	// Live is the slot served to TLS peers. It is SlotPrevious while a newly
	// issued certificate waits for activation or after the server refused it.
	Live       Slot      `json:"live,omitempty"`
	LiveReason string    `json:"live_reason,omitempty"`
	ActivateAt time.Time `json:"activate_at,omitzero"` // Live becomes current from then on
	UpdatedAt  time.Time `json:"updated_at,omitzero"`
}

// LiveSlot returns the slot to serve at now: previous while activation is
// pending (and the previous pair is still valid), current otherwise.
func (st State) LiveSlot(now time.Time, previousNotAfter time.Time) Slot {
	if st.Live != SlotPrevious || st.Previous == "" {
		return SlotCurrent
	}
	if !st.ActivateAt.IsZero() && !now.Before(st.ActivateAt) {
		return SlotCurrent
	}
	if !previousNotAfter.IsZero() && now.After(previousNotAfter) {
		return SlotCurrent
	}
	return SlotPrevious
}

// Options configure a Store.
type Options struct {
	// Dir is the store directory. Required. Created 0700 if missing.
	Dir string
	// Passphrase encrypts private keys at rest (PBES2 encrypted PKCS#8).
	// Without it (and without AllowPlainKey) the store can show certificates
	// but reading or writing a key fails with ErrNoPassphrase.
	Passphrase []byte
	// AllowPlainKey permits unencrypted keys on disk (--insecure-plain-key).
	// Keys are still encrypted when a Passphrase is set.
	AllowPlainKey bool
	// KDFIterations for new keys. Default: DefaultKDFIterations.
	KDFIterations int
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// Logger receives reload failures. Default: slog.Default().
	Logger *slog.Logger
}

// A Store keeps certificates and keys in a directory:
//
//	DIR/ORG/ENV/PURPOSE/state.json          which pair is current, previous, live
//	DIR/ORG/ENV/PURPOSE/pairs/ID/cert.pem   certificate + chain
//	DIR/ORG/ENV/PURPOSE/pairs/ID/key.pem    encrypted PKCS#8
//	DIR/ORG/ENV/PURPOSE/pending/            key.pem, csr.pem and request state while a request is under way
//	DIR/ORG/ENV/PURPOSE/expiry.json         expiry thresholds already announced
//
// Every file is written atomically with mode 0600; directories are 0700.
// Methods are safe for concurrent use, also across processes (flock).
type Store struct {
	opts Options

	mu      sync.Mutex
	sources map[Ref][]*Source
}

// Open opens (creating if needed) the store directory.
func Open(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("certstore: store directory not set")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.KDFIterations == 0 {
		opts.KDFIterations = DefaultKDFIterations
	}
	if err := mkdirAll(opts.Dir); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(opts.Dir); err == nil && fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(opts.Dir, dirMode); err != nil {
			return nil, fmt.Errorf("restricting %s to 0700: %w", opts.Dir, err)
		}
	}
	return &Store{opts: opts, sources: map[Ref][]*Source{}}, nil
}

// Dir returns the store directory.
func (s *Store) Dir() string { return s.opts.Dir }

// Now returns the store clock's time.
func (s *Store) Now() time.Time { return s.opts.Now() }

// RefDir returns the directory of ref.
func (s *Store) RefDir(ref Ref) string {
	return filepath.Join(s.opts.Dir, ref.Org, ref.Env, ref.Purpose)
}

// Lock takes the exclusive lock of ref (also against other processes) and
// returns its release function. Store methods take it themselves; callers
// running multi-step flows (a certificate request) hold it around them.
func (s *Store) Lock(ref Ref) (func(), error) {
	if err := ref.Validate(); err != nil {
		return nil, err
	}
	return lockFile(filepath.Join(s.RefDir(ref), ".lock"))
}

// Refs lists every Ref that has a state file, sorted.
func (s *Store) Refs() ([]Ref, error) {
	matches, err := filepath.Glob(filepath.Join(s.opts.Dir, "*", "*", "*", "state.json"))
	if err != nil {
		return nil, err
	}
	var refs []Ref
	for _, m := range matches {
		d := filepath.Dir(m)
		r := Ref{Purpose: filepath.Base(d), Env: filepath.Base(filepath.Dir(d)), Org: filepath.Base(filepath.Dir(filepath.Dir(d)))}
		if r.Validate() == nil {
			refs = append(refs, r)
		}
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].String() < refs[j].String() })
	return refs, nil
}

// State reads the state of ref; a ref never written has the zero State and
// an error matching ErrNotFound.
func (s *Store) State(ref Ref) (State, error) {
	if err := ref.Validate(); err != nil {
		return State{}, err
	}
	var st State
	b, err := os.ReadFile(filepath.Join(s.RefDir(ref), "state.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return st, fmt.Errorf("%w: no certificate for %s in %s", ErrNotFound, ref, s.opts.Dir)
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("certstore: reading state of %s: %w", ref, err)
	}
	return st, nil
}

func (s *Store) writeState(ref Ref, st State) error {
	st.Generation++
	st.UpdatedAt = s.opts.Now().UTC()
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(s.RefDir(ref), "state.json"), append(b, '\n'))
}

// Import validates p (key matches, valid now) and makes it the current pair
// of ref; the pair it replaces becomes the previous pair.
func (s *Store) Import(ref Ref, p *Pair) error {
	if err := ref.Validate(); err != nil {
		return err
	}
	if err := p.Check(s.opts.Now()); err != nil {
		return err
	}
	unlock, err := s.Lock(ref)
	if err != nil {
		return err
	}
	defer unlock()
	return s.promoteLocked(ref, p, Activation{})
}

// Activation says when a newly promoted pair is served.
type Activation struct {
	// At, if set and in the future, keeps serving the previous pair until then.
	At time.Time
	// Reason explains the choice; it is shown by `isogate cert status`.
	Reason string
}

// Promote makes p the current pair of ref, keeping the old current as
// previous (for rollback and for serving until activation). The caller
// holds Lock(ref). p must have passed Check.
func (s *Store) Promote(ref Ref, p *Pair, act Activation) error {
	if err := p.Check(s.opts.Now()); err != nil {
		return err
	}
	return s.promoteLocked(ref, p, act)
}

func (s *Store) promoteLocked(ref Ref, p *Pair, act Activation) error {
	st, err := s.State(ref)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	if err := s.writePair(ref, p); err != nil {
		return err
	}
	id := p.ID()
	if st.Current != id {
		st.Previous, st.Current = st.Current, id
	}
	st.Live, st.LiveReason, st.ActivateAt = SlotCurrent, act.Reason, time.Time{}
	if st.Previous != "" && !act.At.IsZero() && s.opts.Now().Before(act.At) {
		st.Live, st.ActivateAt = SlotPrevious, act.At.UTC()
	}
	if st.LiveReason == "" {
		st.LiveReason = "imported " + s.opts.Now().UTC().Format(time.RFC3339)
	}
	if err := s.writeState(ref, st); err != nil {
		return err
	}
	s.prune(ref, st)
	s.notify(ref)
	return nil
}

// SetLive chooses which pair ref serves, with the reason shown in status.
// SlotCurrent clears a pending activation; SlotPrevious (after the server
// refused the new certificate) keeps the previous pair until SetLive is
// called again or at (if non-zero). The caller need not hold the lock.
func (s *Store) SetLive(ref Ref, slot Slot, reason string, at time.Time) error {
	unlock, err := s.Lock(ref)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := s.State(ref)
	if err != nil {
		return err
	}
	if slot == SlotPrevious && st.Previous == "" {
		return fmt.Errorf("%w: %s has no previous certificate", ErrNotFound, ref)
	}
	st.Live, st.LiveReason, st.ActivateAt = slot, reason, time.Time{}
	if slot == SlotPrevious {
		st.ActivateAt = at.UTC()
	}
	if err := s.writeState(ref, st); err != nil {
		return err
	}
	s.notify(ref)
	return nil
}

// Rollback swaps the current and previous pairs of ref and serves the
// (formerly) previous one. Running it twice undoes it.
func (s *Store) Rollback(ref Ref) error {
	unlock, err := s.Lock(ref)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := s.State(ref)
	if err != nil {
		return err
	}
	if st.Previous == "" {
		return fmt.Errorf("%w: %s has no previous certificate to roll back to", ErrNotFound, ref)
	}
	prev, err := s.loadPair(ref, st.Previous)
	if err != nil {
		return fmt.Errorf("loading previous pair of %s: %w", ref, err)
	}
	if err := CheckValidity(prev.Cert, s.opts.Now()); err != nil {
		return fmt.Errorf("rolling back %s: %w", ref, err)
	}
	st.Current, st.Previous = st.Previous, st.Current
	st.Live, st.ActivateAt = SlotCurrent, time.Time{}
	st.LiveReason = "rolled back " + s.opts.Now().UTC().Format(time.RFC3339)
	if err := s.writeState(ref, st); err != nil {
		return err
	}
	s.notify(ref)
	return nil
}

// Load returns the pair in slot of ref.
func (s *Store) Load(ref Ref, slot Slot) (*Pair, error) {
	st, err := s.State(ref)
	if err != nil {
		return nil, err
	}
	id := st.Current
	if slot == SlotPrevious {
		id = st.Previous
	}
	if id == "" {
		return nil, fmt.Errorf("%w: %s has no %s certificate", ErrNotFound, ref, slot)
	}
	return s.loadPair(ref, id)
}

// LoadCert returns the certificate in slot of ref without decrypting its key.
func (s *Store) LoadCert(ref Ref, slot Slot) (*x509.Certificate, error) {
	st, err := s.State(ref)
	if err != nil {
		return nil, err
	}
	id := st.Current
	if slot == SlotPrevious {
		id = st.Previous
	}
	if id == "" {
		return nil, fmt.Errorf("%w: %s has no %s certificate", ErrNotFound, ref, slot)
	}
	certs, err := readCerts(filepath.Join(s.RefDir(ref), "pairs", id, "cert.pem"))
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}

func (s *Store) pairDir(ref Ref, id string) string {
	return filepath.Join(s.RefDir(ref), "pairs", id)
}

func (s *Store) writePair(ref Ref, p *Pair) error {
	keyPEM, err := s.marshalKey(p.Key)
	if err != nil {
		return err
	}
	dir := s.pairDir(ref, p.ID())
	if err := writeFileAtomic(filepath.Join(dir, "key.pem"), keyPEM); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, "cert.pem"), p.CertPEM())
}

func (s *Store) loadPair(ref Ref, id string) (*Pair, error) {
	dir := s.pairDir(ref, id)
	certs, err := readCerts(filepath.Join(dir, "cert.pem"))
	if err != nil {
		return nil, err
	}
	key, err := s.readKey(filepath.Join(dir, "key.pem"))
	if err != nil {
		return nil, err
	}
	p := &Pair{Cert: certs[0], Chain: certs[1:], Key: key}
	if !KeyMatches(p.Cert, p.Key) {
		return nil, fmt.Errorf("%w: %s in %s", ErrKeyMismatch, p.Subject(), dir)
	}
	return p, nil
}

// prune removes pair directories that are neither current nor previous.
func (s *Store) prune(ref Ref, st State) {
	entries, err := os.ReadDir(filepath.Join(s.RefDir(ref), "pairs"))
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.Name() != st.Current && e.Name() != st.Previous {
			os.RemoveAll(filepath.Join(s.RefDir(ref), "pairs", e.Name()))
		}
	}
}

func (s *Store) marshalKey(key crypto.Signer) ([]byte, error) {
	if len(s.opts.Passphrase) == 0 {
		if !s.opts.AllowPlainKey {
			return nil, ErrNoPassphrase
		}
		return marshalPlainKey(key)
	}
	return encryptPKCS8(key, s.opts.Passphrase, s.opts.KDFIterations)
}

func (s *Store) readKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("certstore: %s holds no PEM key", path)
	}
	if blk.Type != pemEncryptedKey {
		if !s.opts.AllowPlainKey {
			return nil, fmt.Errorf("%w: %s (allow with --insecure-plain-key)", ErrPlainKey, path)
		}
		return parsePlainKey(blk)
	}
	if len(s.opts.Passphrase) == 0 {
		return nil, fmt.Errorf("%w: to decrypt %s", ErrNoPassphrase, path)
	}
	key, err := decryptPKCS8(blk.Bytes, s.opts.Passphrase)
	if err != nil {
		return nil, fmt.Errorf("decrypting %s: %w", path, err)
	}
	return key, nil
}

func readCerts(path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	certs, err := ParseCertificatesPEM(b)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return certs, nil
}
