package banksim

import (
	"crypto/x509"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/xmlcodec"
)

// Config configures a simulated bank. Zero values are sensible defaults.
type Config struct {
	// Profile is "ekase" (default) or "iso2019": which pain.001 version it
	// accepts and which pain.002/camt versions it emits.
	Profile string
	// Seed makes faults, incoming credits and charges reproducible.
	Seed int64
	// Now is the bank's clock (default time.Now); status play-out and
	// statements follow it.
	Now func() time.Time
	// Delays is the status play-out.
	Delays Delays
	// Faults is the seeded, rate-based fault injection of [Bank.Handler].
	Faults Faults
	// Accounts are the bank's accounts with opening balances; default
	// [DefaultAccounts].
	Accounts []Account
	// VerifySignature requires an enveloped XML signature on each pain.001,
	// made with the TLS client's certificate or another valid one of the
	// same client issued by ClientCAs (over HTTPS: a re-send signed before
	// a renewal), or with a certificate issued by ClientCAs (host-to-host
	// folders).
	VerifySignature bool
	// ClientCAs are the issuers whose certificates may sign pain.001 files
	// dropped in folders ([Bank.ProcessFolders]) when VerifySignature is
	// set. [Start] sets it to its CA. (Addition to the agreed API.)
	ClientCAs *x509.CertPool
	Log       *slog.Logger
}

// Delays is the status play-out, each delay counted from the previous
// stage: ACTC after Accept, ACSP (or PART/RJCT) after a further Process,
// ACSC after a further Settle. Zero Process and Settle take the defaults 1s
// and 2s; use a negative value for no delay.
type Delays struct{ Accept, Process, Settle time.Duration }

// Faults are rate-based fault injections, each a probability in [0, 1]
// drawn from the seeded generator once per request. /v1/health and /sim/*
// are never faulted.
type Faults struct {
	ErrorRate           float64       // answer 503 (nothing processed)
	Latency             time.Duration // added to every answer
	TimeoutRate         float64       // never answer (hold until the client gives up); nothing processed
	DropAfterAcceptRate float64       // uploads only: accept and book, then close the connection without a response
	ResetRate           float64       // reset the connection before reading the request body; nothing processed
	MalformedRate       float64       // answer with a truncated body (an upload is processed and booked)
}

// A Fault is one kind of injected failure.
type Fault string

// Faults [Bank.FailNext] can ask for.
const (
	FaultError           Fault = "error"
	FaultTimeout         Fault = "timeout"
	FaultDropAfterAccept Fault = "drop_after_accept"
	FaultReset           Fault = "reset"
	FaultMalformed       Fault = "malformed"
)

// An Account is an account of the bank with its opening balance.
type Account struct{ IBAN, Currency, Balance string } // Balance a decimal string

// A Ledger is what the bank has received and booked, for tests and the
// demo to prove that nothing was lost or doubled.
type Ledger struct {
	FilesReceived          int            `json:"files_received"`
	UniqueMsgIDs           int            `json:"unique_msg_ids"`
	DuplicateUploads       int            `json:"duplicate_uploads"`
	TransactionsBooked     int            `json:"transactions_booked"`
	EndToEndIDsBookedTwice int            `json:"end_to_end_ids_booked_twice"`
	Accounts               []AccountState `json:"accounts"`
	// Requests counts the requests faults apply to (uploads, status and
	// report queries), UploadRequests the uploads among them, and Faults
	// the faults injected, by kind (FailNext ones included).
	Requests       int           `json:"requests"`
	UploadRequests int           `json:"upload_requests"`
	Faults         map[Fault]int `json:"faults"`
}

// AccountState is an account's available balance: opening balance, plus
// credits booked so far, minus every accepted debit (including payments
// still settling and their charges).
type AccountState struct {
	IBAN     string `json:"iban"`
	Currency string `json:"currency"`
	Balance  string `json:"balance"`
}

// DefaultAccounts returns the accounts a bank has when Config.Accounts is
// empty: LV..TREL9190000000001 to …008 (the debtors of the demo's
// generated intents) and LV..TREL2190456001000, each with 100,000,000.00
// EUR.
func DefaultAccounts() []Account {
	var out []Account
	for i := range 8 {
		out = append(out, Account{IBAN: messages.ComposeIBAN("LV", fmt.Sprintf("TREL%013d", 9190000000001+i)), Currency: "EUR", Balance: "100000000.00"})
	}
	return append(out, Account{IBAN: messages.ComposeIBAN("LV", "TREL2190456001000"), Currency: "EUR", Balance: "100000000.00"})
}

// A Bank is the simulated bank's core. It is safe for concurrent use.
type Bank struct {
	cfg    Config
	prof   *xmlcodec.Profile
	log    *slog.Logger
	opened time.Time // start of the first business day (UTC)

	mu       sync.Mutex
	accounts map[string]*account
	order    []string // IBANs in configuration order
	files    map[string]*file
	// booked registers every EndToEndId booked, by its hash: the file that
	// booked it (confirmed against the file's details on a hit). An id
	// whose hash another id holds already is in bookedExact.
	booked      map[uint64]*file
	bookedExact map[string]*file
	e2eKey      func(id string) uint64 // the hash: maphash with a seed of this bank
	// spill holds what only reports read (books.go); nil: all in memory.
	spill      *spill
	received   int
	duplicates int
	txBooked   int
	genDays    int    // days [0, genDays) have their seeded entries
	refSeq     uint32 // AcctSvcrRef counter
	docSeq     int    // MsgId counter of the documents the bank emits
	seq052     map[string]int
	seq054     map[string]int
	faults     Faults
	rng        *rand.Rand
	failNext   map[Fault]int
	// requests and uploadRequests count the requests faults apply to;
	// injected the faults drawn, by kind.
	requests, uploadRequests int
	injected                 map[Fault]int
	closed                   chan struct{}
	held                     atomic.Int64 // requests held by the timeout fault
	closeOnce                sync.Once
	httpHandler              http.Handler

	// folders front end
	folderFiles []string          // MsgIds received through folders, not yet final
	folderStage map[string]string // MsgId → stage last written
	folderDups  int
}

type account struct {
	iban, ccy string
	exp       int   // minor-unit digits of ccy
	opening   int64 // minor units
	entries   []*entry
	credits   []*entry // the credit entries among entries
	debits    int64    // Σ debit entries
}

// An entry is one booking on an account. A long run books a million of
// them, so an entry is one 80-byte allocation: its texts are one record,
// on disk once its file is booked (books.go), and its AcctSvcrRef is
// written from its number when a statement or a pain.002 needs it.
type entry struct {
	at     time.Time
	amount int64  // minor units, > 0
	texts  record // entryTexts joined
	key    uint64 // payments: the hash of the EndToEndId (Bank.e2eKey)
	seq    uint32 // AcctSvcrRef number, unique in the bank
	kind   entryKind
	credit bool
}

type entryKind uint8

const (
	kindPayment  entryKind = iota // a debit booked from an uploaded pain.001
	kindCharge                    // the fee of a payment block
	kindIncoming                  // a seeded incoming credit
)

// entryTexts are the references and free texts of an entry, kept joined
// in entry.texts: the MsgId and PmtInfId of the file booked (payments and
// charges), the EndToEndId, the counterparty, the remittance information
// and AddtlNtryInf.
type entryTexts struct {
	msgID, pmtInfID, e2e, cpName, cpIBAN, cpBIC, remittance, info string
}

// textSep joins an entry's texts: XML 1.0 text cannot hold U+0000, so no
// parsed value contains it.
const textSep = "\x00"

func (t entryTexts) join() record {
	return record{mem: strings.Join([]string{t.msgID, t.pmtInfID, t.e2e, t.cpName, t.cpIBAN, t.cpBIC, t.remittance, t.info}, textSep)}
}

// text returns e's texts. The caller holds b.mu.
func (b *Bank) text(e *entry) (entryTexts, error) {
	s, err := b.load(e.texts)
	if err != nil {
		return entryTexts{}, err
	}
	var f [8]string
	for i := range len(f) - 1 {
		f[i], s, _ = strings.Cut(s, textSep)
	}
	f[7] = s
	return entryTexts{msgID: f[0], pmtInfID: f[1], e2e: f[2], cpName: f[3], cpIBAN: f[4], cpBIC: f[5], remittance: f[6], info: f[7]}, nil
}

// ref is the entry's AcctSvcrRef.
func (e *entry) ref() string { return acctSvcrRef(e.at, e.seq) }

// acctSvcrRef is BSIM, the booking day, the number.
func acctSvcrRef(at time.Time, seq uint32) string {
	return fmt.Sprintf("BSIM%s%08d", at.UTC().Format("20060102"), seq)
}

// NewBank returns a bank with cfg's accounts, opening its books on the
// clock's current UTC day.
func NewBank(cfg Config) (*Bank, error) {
	if cfg.Profile == "" {
		cfg.Profile = "ekase"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Delays.Process == 0 {
		cfg.Delays.Process = time.Second
	}
	if cfg.Delays.Settle == 0 {
		cfg.Delays.Settle = 2 * time.Second
	}
	cfg.Delays.Accept = max(cfg.Delays.Accept, 0)
	cfg.Delays.Process = max(cfg.Delays.Process, 0)
	cfg.Delays.Settle = max(cfg.Delays.Settle, 0)
	if len(cfg.Accounts) == 0 {
		cfg.Accounts = DefaultAccounts()
	}
	var errs []error
	prof, err := xmlcodec.LookupProfile(cfg.Profile)
	if err != nil {
		errs = append(errs, fmt.Errorf("banksim: %w", err))
	}
	if err := cfg.Faults.validate(); err != nil {
		errs = append(errs, err)
	}
	b := &Bank{cfg: cfg, prof: prof, log: cfg.Log, accounts: map[string]*account{}, files: map[string]*file{},
		booked: map[uint64]*file{}, bookedExact: map[string]*file{}, seq052: map[string]int{}, seq054: map[string]int{}, faults: cfg.Faults,
		rng: rand.New(rand.NewPCG(uint64(cfg.Seed), 0xba4c51)), failNext: map[Fault]int{}, injected: map[Fault]int{}, closed: make(chan struct{})}
	for i, a := range cfg.Accounts {
		if err := validIBAN(a.IBAN); err != nil {
			errs = append(errs, fmt.Errorf("banksim: account %d: IBAN %q: %w", i, a.IBAN, err))
			continue
		}
		if a.Currency == "" {
			a.Currency = "EUR"
		}
		exp := currencyExponent(a.Currency)
		bal, err := parseMinor(first(a.Balance, "0"), exp)
		if err != nil {
			errs = append(errs, fmt.Errorf("banksim: account %s: balance %q: %w", a.IBAN, a.Balance, err))
			continue
		}
		if _, dup := b.accounts[a.IBAN]; dup {
			errs = append(errs, fmt.Errorf("banksim: account %s listed twice", a.IBAN))
			continue
		}
		b.accounts[a.IBAN] = &account{iban: a.IBAN, ccy: a.Currency, exp: exp, opening: bal}
		b.order = append(b.order, a.IBAN)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	seed := maphash.MakeSeed()
	b.e2eKey = func(id string) uint64 { return maphash.String(seed, id) }
	b.opened = dayStart(cfg.Now())
	b.httpHandler = b.newHandler()
	if b.spill, err = newSpill(); err != nil {
		b.log.Warn("books kept in memory: no temporary file for them", "error", err)
	}
	return b, nil
}

func (f Faults) validate() error {
	var errs []error
	for _, r := range []struct {
		name string
		v    float64
	}{{"error rate", f.ErrorRate}, {"timeout rate", f.TimeoutRate}, {"drop-after-accept rate", f.DropAfterAcceptRate},
		{"reset rate", f.ResetRate}, {"malformed rate", f.MalformedRate}} {
		if r.v < 0 || r.v > 1 || r.v != r.v {
			errs = append(errs, fmt.Errorf("banksim: %s %v: want 0..1", r.name, r.v))
		}
	}
	if f.Latency < 0 {
		errs = append(errs, errors.New("banksim: latency must not be negative"))
	}
	return errors.Join(errs...)
}

// Profile returns the bank's profile.
func (b *Bank) Profile() *xmlcodec.Profile { return b.prof }

// FailNext makes the next n requests that can suffer f suffer it,
// whatever the rates (deterministic, for tests). Uploads can suffer every
// fault; status and report queries all but FaultDropAfterAccept.
func (b *Bank) FailNext(f Fault, n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failNext[f] += n
}

// SetFaults replaces the rate-based faults. Invalid rates are clamped to 0..1.
func (b *Bank) SetFaults(f Faults) {
	clamp := func(v *float64) {
		if *v != *v || *v < 0 {
			*v = 0
		}
		*v = min(*v, 1)
	}
	for _, v := range []*float64{&f.ErrorRate, &f.TimeoutRate, &f.DropAfterAcceptRate, &f.ResetRate, &f.MalformedRate} {
		clamp(v)
	}
	f.Latency = max(f.Latency, 0)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.faults = f
}

// Close releases requests held by the timeout fault and removes the books'
// temporary file: after it, the ledger still adds up, but pain.002 details
// and statements answer an error. It is idempotent.
func (b *Bank) Close() {
	b.closeOnce.Do(func() {
		close(b.closed)
		b.mu.Lock()
		if b.spill != nil {
			b.spill.close()
			b.spill = nil
		}
		b.mu.Unlock()
	})
}

// Ledger returns the counts and balances at the bank's current time.
func (b *Bank) Ledger() Ledger {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.cfg.Now()
	b.generate(now)
	l := Ledger{FilesReceived: b.received, UniqueMsgIDs: len(b.files), DuplicateUploads: b.duplicates,
		TransactionsBooked: b.txBooked, Accounts: []AccountState{}, Requests: b.requests,
		UploadRequests: b.uploadRequests, Faults: maps.Clone(b.injected)}
	l.EndToEndIDsBookedTwice = b.bookedTwice()
	for _, iban := range b.order {
		a := b.accounts[iban]
		l.Accounts = append(l.Accounts, AccountState{IBAN: a.iban, Currency: a.ccy, Balance: formatMinor(a.available(now), a.exp)})
	}
	return l
}

// bookedTwice counts the EndToEndIds booked more than once, from the
// entries themselves, not from the registry that prevents double booking:
// this is the check, not the mechanism. Entries are grouped by the hash of
// their EndToEndId, and only the ids of a hash held by several entries are
// read back. An id that cannot be read back counts as booked twice: the
// check does not pass what it could not see.
func (b *Bank) bookedTwice() int {
	count := map[uint64]int{}
	for _, iban := range b.order {
		for _, e := range b.accounts[iban].entries {
			if e.kind == kindPayment {
				count[e.key]++
			}
		}
	}
	shared := map[uint64][]*entry{}
	for _, iban := range b.order {
		for _, e := range b.accounts[iban].entries {
			if e.kind == kindPayment && count[e.key] > 1 {
				shared[e.key] = append(shared[e.key], e)
			}
		}
	}
	n := 0
	for _, es := range shared {
		ids := map[string]int{}
		for _, e := range es {
			t, err := b.text(e)
			if err != nil {
				b.log.Error("ledger: an entry's EndToEndId cannot be read back", "error", err)
				t.e2e = "\x00unreadable"
			}
			ids[t.e2e]++
		}
		for _, c := range ids {
			if c > 1 {
				n++
			}
		}
	}
	return n
}

// available is the balance a new debit is checked against: opening +
// credits booked by now − every debit (booked or still settling). It
// costs O(credits), not O(entries): debits are summed as they are added.
func (a *account) available(now time.Time) int64 {
	v := a.opening - a.debits
	for _, e := range a.credits {
		if !e.at.After(now) {
			v += e.amount
		}
	}
	return v
}

// balanceBefore is the booked balance just before t.
func (a *account) balanceBefore(t time.Time) int64 {
	v := a.opening
	for _, e := range a.entries {
		if e.at.Before(t) {
			v += e.signed()
		}
	}
	return v
}

func (e *entry) signed() int64 {
	if e.credit {
		return e.amount
	}
	return -e.amount
}

// entriesIn returns the entries booked in [from, to), in booking order.
func (a *account) entriesIn(from, to time.Time) []*entry {
	var out []*entry
	for _, e := range a.entries {
		if !e.at.Before(from) && e.at.Before(to) {
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].at.Before(out[j].at) })
	return out
}

// addEntry books e on a, giving it the next AcctSvcrRef.
func (b *Bank) addEntry(a *account, e *entry) {
	b.refSeq++
	e.seq = b.refSeq
	a.entries = append(a.entries, e)
	if e.credit {
		a.credits = append(a.credits, e)
	} else {
		a.debits += e.amount
	}
}

// day returns the business day index of t (0 = the opening day).
func (b *Bank) day(t time.Time) int {
	return int(dayStart(t).Sub(b.opened) / (24 * time.Hour))
}

func dayStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// Seeded counterparties of incoming credits.
var payers = []struct{ name, bank string }{
	{"SIA Nodokļu atmaksa", "HABA"}, {"AS Latvijas Gāze", "UNLA"}, {"Rīgas pašvaldība", "PARX"},
	{"SIA Ēku apsaimniekošana", "RIKO"}, {"Eiropas Savienības fonds", "NDEA"},
}

// generate adds the seeded incoming credits of every day up to now's.
// Each day's entries depend only on the seed, the account and the day, so
// they are the same whatever the order of requests.
func (b *Bank) generate(now time.Time) {
	last := b.day(now)
	for ; b.genDays <= last; b.genDays++ {
		d := b.genDays
		start := b.opened.Add(time.Duration(d) * 24 * time.Hour)
		for _, iban := range b.order {
			a := b.accounts[iban]
			var h uint64 = 14695981039346656037
			for _, c := range []byte(iban) {
				h = (h ^ uint64(c)) * 1099511628211
			}
			rng := rand.New(rand.NewPCG(uint64(b.cfg.Seed)^h, uint64(d)))
			n := rng.IntN(4)
			for i := range n {
				p := payers[rng.IntN(len(payers))]
				// Drawn in this order: at, amount, then the IBAN.
				at := start.Add(time.Duration(rng.Int64N(int64(24*time.Hour/time.Second))) * time.Second)
				amount := int64(100 + rng.IntN(5_000_000))
				t := entryTexts{
					e2e:        fmt.Sprintf("IN-%s-%d-%d", start.Format("20060102"), d, i),
					cpName:     p.name,
					cpIBAN:     messages.ComposeIBAN("LV", fmt.Sprintf("%s%013d", p.bank, rng.Int64N(1e13))),
					cpBIC:      p.bank + "LV2X",
					remittance: fmt.Sprintf("Ienākošais maksājums %d/%d", d+1, i+1),
				}
				if p.bank == "HABA" || p.bank == "PARX" {
					t.cpBIC = p.bank + "LV22"
				}
				e := &entry{
					at:     at,
					amount: amount,
					credit: true,
					kind:   kindIncoming,
					texts:  t.join(),
				}
				b.addEntry(a, e)
			}
		}
	}
}

func first(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
