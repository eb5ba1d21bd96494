package reconciler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/workers"
	"github.com/isogate/isogate/workers/state"
)

// Name is the worker's name: its consumer, log label and dlq.reconciler.
const Name = "reconciler"

// Defaults.
const (
	DefaultAckWait     = 30 * time.Second
	DefaultMaxDeliver  = 30
	DefaultConcurrency = 4
	DefaultFetchBatch  = 8
)

// Config configures the reconciler.
type Config struct {
	// AckWait is the consumer's ack wait. Default: 30s.
	AckWait time.Duration
	// MaxDeliver is how many deliveries an entry gets before the dead
	// letter queue. Default: 30 (with the default backoff about 25
	// minutes: the time a batch may wait for its final pain.002).
	MaxDeliver int
	// Backoff is the redelivery delay after each failed delivery. Default:
	// [workers.DefaultBackoff].
	Backoff []time.Duration
	// Concurrency is how many entries one process handles at once.
	// Default: 4.
	Concurrency int
	// FetchBatch is how many messages one pull asks for. Default: 8.
	FetchBatch int
}

func (c *Config) setDefaults() {
	if c.AckWait == 0 {
		c.AckWait = DefaultAckWait
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = DefaultMaxDeliver
	}
	if c.Backoff == nil {
		c.Backoff = workers.DefaultBackoff
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.FetchBatch == 0 {
		c.FetchBatch = DefaultFetchBatch
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	if err := c.spec().Validate(); err != nil {
		return fmt.Errorf("reconciler: config: %w", err)
	}
	return nil
}

func (c Config) spec() workers.ConsumerSpec {
	return workers.ConsumerSpec{
		Name:           Name,
		Stream:         messages.StreamStatements,
		FilterSubjects: []string{messages.SubjectStatementEntries},
		AckWait:        c.AckWait,
		MaxDeliver:     c.MaxDeliver,
		Backoff:        c.Backoff,
		Concurrency:    c.Concurrency,
		FetchBatch:     c.FetchBatch,
	}
}

// Deps are what the reconciler works with.
type Deps struct {
	JS        jetstream.JetStream // required: reads pay.intent.<id> and pay.settled.<id>
	Publisher *workers.Publisher  // required
	Batches   *state.Batches      // required; history entries are written as "reconciler"
	Intents   *state.Intents      // required
	Logger    *slog.Logger        // default: discard
	Now       func() time.Time    // default time.Now
}

// Handler is the reconciler. Create it with [New].
type Handler struct {
	cfg      Config
	payments jetstream.Stream
	pub      *workers.Publisher
	batches  *state.Batches
	intents  *state.Intents
	log      *slog.Logger
	now      func() time.Time

	mu      sync.Mutex
	settled map[string]bool // intents known settled (settlement is forever); a cache of at most maxCached
}

// maxCached bounds the cache of settled intents; past it the cache starts
// again (it only saves reads of pay.settled.<id>).
const maxCached = 100_000

// New returns the reconciler. It binds the PAYMENTS stream now (within 10
// seconds).
func New(cfg Config, deps Deps) (*Handler, error) {
	cfg.setDefaults()
	var errs []error
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if deps.JS == nil || deps.Publisher == nil || deps.Batches == nil || deps.Intents == nil {
		errs = append(errs, errors.New("reconciler: JS, publisher, batches and intents are required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	h := &Handler{cfg: cfg, pub: deps.Publisher, batches: deps.Batches.WithWorker(Name), intents: deps.Intents,
		log: deps.Logger, now: deps.Now, settled: map[string]bool{}}
	if h.log == nil {
		h.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if h.now == nil {
		h.now = time.Now
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := deps.JS.Stream(ctx, messages.StreamPayments)
	if err != nil {
		return nil, fmt.Errorf("reconciler: stream %s: %w (is the gateway provisioned?)", messages.StreamPayments, err)
	}
	h.payments = st
	return h, nil
}

// Worker returns the reconciler's worker for [workers.NewRouter].
func (h *Handler) Worker() workers.Worker {
	return workers.Worker{Name: Name, Consumer: h.cfg.spec(), Handler: h.Handle}
}

// Handle reconciles one stmt.entry event (see the package documentation).
func (h *Handler) Handle(msg *message.Message) error {
	ev, err := workers.Decode[messages.StatementEntry](msg)
	if err != nil {
		return err
	}
	ctx := msg.Context()
	if ev.Status != messages.EntryBooked {
		return nil
	}
	var tx messages.EntryTransaction
	if len(ev.Transactions) > 0 {
		tx = ev.Transactions[0]
	}
	amount, ccy := tx.Amount, tx.Currency
	if amount == "" && ev.TxCount <= 1 {
		amount, ccy = ev.Amount, ev.Currency
	}
	if ccy == "" {
		ccy = ev.Currency
	}
	e2e := tx.EndToEndID
	if strings.EqualFold(e2e, "NOTPROVIDED") {
		e2e = ""
	}
	u := unmatched{ev: ev, tx: tx, amount: amount, ccy: ccy}
	switch {
	case ev.Reversal:
		return h.unmatched(ctx, u.with(messages.UnmatchedReversal, "a reversal of an earlier booking"))
	case isCharge(ev.BankTxCode):
		return h.unmatched(ctx, u.with(messages.UnmatchedCharge, "bank charge "+firstNonEmpty(ev.AdditionalInfo, ev.BankTxCode)))
	case ev.CreditDebit == messages.Credit:
		return h.unmatched(ctx, u.with(messages.UnmatchedIncomingCredit, "a credit: not a payment of this gateway"))
	case e2e != "":
		in, err := h.intents.Get(ctx, e2e)
		if errors.Is(err, state.ErrNotFound) {
			u.e2e = e2e
			return h.unmatched(ctx, u.with(messages.UnmatchedUnknownReference, "EndToEndId "+e2e+" is not an intent of this gateway"))
		}
		if err != nil {
			return err
		}
		if in.Rejected {
			u.e2e = e2e
			return h.unmatched(ctx, u.with(messages.UnmatchedUnknownReference, "EndToEndId "+e2e+" is an intent this gateway rejected: it was never sent"))
		}
		workers.SetIDs(msg, in.ID, in.BatchID)
		return h.single(ctx, ev, in, amount, ccy, u)
	case tx.MsgID != "" || tx.PmtInfID != "":
		b, err := h.batchOf(ctx, tx)
		if err != nil {
			return err
		}
		if b == nil {
			return h.unmatched(ctx, u.with(messages.UnmatchedUnknownReference,
				fmt.Sprintf("MsgId %q / PmtInfId %q is not a batch of this gateway", tx.MsgID, tx.PmtInfID)))
		}
		workers.SetIDs(msg, "", b.ID)
		return h.batchBooked(ctx, ev, b, amount, ccy, u)
	}
	return h.unmatched(ctx, u.with(messages.UnmatchedNoReference, "a debit without EndToEndId, MsgId or PmtInfId"))
}

// isCharge reports whether a bank transaction code is a charge: family or
// sub-family CHRG (e.g. ACMT-MDOP-CHRG), or the account management domain.
func isCharge(code string) bool {
	parts := strings.Split(code, "-")
	return strings.Contains(code, "CHRG") || len(parts) == 3 && parts[0] == "ACMT"
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// batchOf finds the batch a MsgId or PmtInfId (batch id + "-<n>") names;
// nil when none.
func (h *Handler) batchOf(ctx context.Context, tx messages.EntryTransaction) (*state.Batch, error) {
	var ids []string
	if tx.MsgID != "" {
		ids = append(ids, tx.MsgID)
	}
	if i := strings.LastIndexByte(tx.PmtInfID, '-'); i > 0 {
		if _, err := strconv.Atoi(tx.PmtInfID[i+1:]); err == nil {
			ids = append(ids, tx.PmtInfID[:i])
		}
	}
	for _, id := range ids {
		b, err := h.batches.Get(ctx, id)
		if errors.Is(err, state.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return b, nil
	}
	return nil, nil
}

// intentOf reads the intent as published (pay.intent.<id>); nil when the
// stream no longer holds it.
func (h *Handler) intentOf(ctx context.Context, id string) (*messages.PaymentIntent, error) {
	m, err := h.payments.GetLastMsgForSubject(ctx, messages.IntentSubject(id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading intent %s: %w", id, err)
	}
	var p messages.PaymentIntent
	if err := json.Unmarshal(m.Data, &p); err != nil {
		return nil, workers.Permanent(fmt.Errorf("decoding intent %s: %w", id, err))
	}
	return &p, nil
}

// bankRejected returns the intent's last pay.status when the bank rejected
// or cancelled it (RJCT, CANC), else "": such an intent was never paid, and
// no booking can be its.
func (h *Handler) bankRejected(ctx context.Context, id string) (messages.TxStatus, error) {
	ev, _, err := workers.LastStatus(ctx, h.payments, id)
	if err != nil {
		return "", err
	}
	if ev != nil && (ev.Status == messages.TxStatusRJCT || ev.Status == messages.TxStatusCANC) {
		return ev.Status, nil
	}
	return "", nil
}

func sameAmount(a, b string) bool {
	x, ok1 := new(big.Rat).SetString(a)
	y, ok2 := new(big.Rat).SetString(b)
	return ok1 && ok2 && x.Cmp(y) == 0
}

// single reconciles an entry naming one intent.
func (h *Handler) single(ctx context.Context, ev messages.StatementEntry, in *state.Intent, amount, ccy string, u unmatched) error {
	u.intentID, u.batchID, u.e2e = in.ID, in.BatchID, in.ID
	if st, err := h.bankRejected(ctx, in.ID); err != nil {
		return err
	} else if st != "" {
		return h.unmatched(ctx, u.with(messages.UnmatchedNotAccepted, "the bank reported the intent "+string(st)))
	}
	p, err := h.intentOf(ctx, in.ID)
	if err != nil {
		return err
	}
	if p == nil {
		// Without the intent nothing can be checked: never settle blind.
		return fmt.Errorf("intent %s is no longer in the stream: cannot check its booking", in.ID)
	}
	switch {
	case ccy != p.Currency:
		u.expected = p.Amount + " " + p.Currency
		return h.unmatched(ctx, u.with(messages.UnmatchedCurrencyMismatch, fmt.Sprintf("booked in %s, the intent is in %s", ccy, p.Currency)))
	case !sameAmount(amount, p.Amount):
		u.expected = p.Amount + " " + p.Currency
		return h.unmatched(ctx, u.with(messages.UnmatchedAmountMismatch, fmt.Sprintf("booked %s %s, the intent is %s %s", amount, ccy, p.Amount, p.Currency)))
	case p.Debtor.IBAN != ev.Account:
		u.expected = p.Debtor.IBAN
		return h.unmatched(ctx, u.with(messages.UnmatchedAccountMismatch, "booked on another account than the intent's debtor account"))
	}
	amount = p.Amount
	if err := h.settle(ctx, ev, in.ID, in.BatchID, amount, ccy, u); err != nil {
		return err
	}
	return h.settleBatch(ctx, in.BatchID)
}

// batchBooked reconciles one entry covering a whole batch or PmtInf.
func (h *Handler) batchBooked(ctx context.Context, ev messages.StatementEntry, b *state.Batch, amount, ccy string, u unmatched) error {
	u.batchID = b.ID
	switch b.State {
	case state.Submitted, state.Submitting, state.InDoubt:
		// The statement came before the final pain.002: which intents the
		// booking covers is not known yet. Try again after the backoff.
		return fmt.Errorf("batch %s is %s: its intents are not final, so its booking cannot be checked yet", b.ID, b.State)
	}
	var sum big.Rat
	scale := 0       // decimals of the most precise amount, to show the sum exactly
	var ids []string // the intents the booking covers: the batch's that the bank did not reject
	amounts := map[string]string{}
	for _, id := range b.IntentIDs {
		if st, err := h.bankRejected(ctx, id); err != nil {
			return err
		} else if st != "" {
			continue
		}
		p, err := h.intentOf(ctx, id)
		if err != nil {
			return err
		}
		if p == nil {
			return fmt.Errorf("batch %s: intent %s is no longer in the stream: cannot check the batch booking", b.ID, id)
		}
		v, ok := new(big.Rat).SetString(p.Amount)
		if !ok || p.Currency != b.Currency {
			return workers.Permanent(fmt.Errorf("batch %s: intent %s: amount %s %s", b.ID, id, p.Amount, p.Currency))
		}
		sum.Add(&sum, v)
		if _, frac, ok := strings.Cut(p.Amount, "."); ok {
			scale = max(scale, len(frac))
		}
		ids = append(ids, id)
		amounts[id] = p.Amount
	}
	want := sum.FloatString(max(scale, 2))
	booked, bookedOK := new(big.Rat).SetString(amount)
	switch {
	case ccy != b.Currency:
		u.expected = want + " " + b.Currency
		return h.unmatched(ctx, u.with(messages.UnmatchedCurrencyMismatch, fmt.Sprintf("batch booking in %s, the batch is in %s", ccy, b.Currency)))
	case len(ids) == 0 || !bookedOK || booked.Cmp(&sum) != 0: // exact: no rounding before comparing
		u.expected = want + " " + b.Currency
		return h.unmatched(ctx, u.with(messages.UnmatchedAmountMismatch, fmt.Sprintf("batch booking of %s %s, its %d accepted intents sum to %s",
			amount, ccy, len(ids), want)))
	case b.DebtorIBAN != "" && b.DebtorIBAN != ev.Account:
		u.expected = b.DebtorIBAN
		return h.unmatched(ctx, u.with(messages.UnmatchedAccountMismatch, "batch booked on another account than its debtor account"))
	}
	for _, id := range ids {
		if err := h.settle(ctx, ev, id, b.ID, amounts[id], ccy, u); err != nil {
			return err
		}
	}
	return h.settleBatch(ctx, b.ID)
}

// settle publishes pay.settled for one intent, once ever. It does not
// write the intent's status (see the package documentation).
func (h *Handler) settle(ctx context.Context, ev messages.StatementEntry, intentID, batchID, amount, ccy string, u unmatched) error {
	s := messages.PaymentSettled{IntentID: intentID, BatchID: batchID, Account: ev.Account, Amount: amount, Currency: ccy,
		CreditDebit: messages.Debit, BookingDate: firstNonEmpty(ev.BookingDate, ev.ValueDate), ValueDate: ev.ValueDate,
		EntryRef: ev.EntryRef, AcctSvcrRef: firstNonEmpty(u.tx.AcctSvcrRef, ev.AcctSvcrRef), StatementMsgID: ev.MsgID,
		EntryKey: ev.EntryKey, SettledAt: h.now().UTC()}
	m, err := workers.NewEventMessage(s, "settled:"+intentID)
	if err != nil {
		return err
	}
	m.Metadata.Set(workers.MetaExpectedLastSubjectSeq, "0")
	_, err = h.pub.PublishMessage(ctx, s.EventSubject(), m)
	if workers.IsWrongLastSequence(err) {
		prev, err := h.payments.GetLastMsgForSubject(ctx, s.EventSubject())
		if err != nil {
			return fmt.Errorf("reading pay.settled of %s: %w", intentID, err)
		}
		var p messages.PaymentSettled
		if err := json.Unmarshal(prev.Data, &p); err != nil {
			return workers.Permanent(fmt.Errorf("decoding pay.settled of %s: %w", intentID, err))
		}
		if p.EntryKey != ev.EntryKey || p.Account != ev.Account {
			u.intentID, u.batchID, u.e2e = intentID, batchID, intentID
			return h.unmatched(ctx, u.with(messages.UnmatchedAlreadySettled,
				fmt.Sprintf("intent %s was settled by entry %s of %s", intentID, p.EntryKey, p.BookingDate)))
		}
	} else if err != nil {
		return fmt.Errorf("publishing pay.settled for %s: %w", intentID, err)
	}
	h.remember(intentID)
	return nil
}

// isSettled reports whether pay.settled.<id> exists.
func (h *Handler) isSettled(ctx context.Context, id string) (bool, error) {
	h.mu.Lock()
	ok := h.settled[id]
	h.mu.Unlock()
	if ok {
		return true, nil
	}
	_, err := h.payments.GetLastMsgForSubject(ctx, messages.SettledSubject(id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading pay.settled of %s: %w", id, err)
	}
	h.remember(id)
	return true, nil
}

func (h *Handler) remember(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.settled) >= maxCached {
		clear(h.settled)
	}
	h.settled[id] = true
}

// settleBatch moves a batch to settled once every intent the bank did not
// reject is settled. It looks from the last intent backwards: entries come
// in file order, so an unsettled one is usually found at once.
func (h *Handler) settleBatch(ctx context.Context, id string) error {
	b, err := h.batches.Get(ctx, id)
	if err != nil {
		return err
	}
	if b.State == state.Settled {
		return nil
	}
	for i := len(b.IntentIDs) - 1; i >= 0; i-- {
		ok, err := h.isSettled(ctx, b.IntentIDs[i])
		if err != nil {
			return err
		}
		if ok {
			continue
		}
		st, err := h.bankRejected(ctx, b.IntentIDs[i])
		if err != nil {
			return err
		}
		if st == "" {
			return nil
		}
	}
	switch b.State {
	case state.Accepted, state.PartiallyAccepted:
		_, err := h.batches.Transition(ctx, id, state.Settled, "every accepted intent booked on the statement", nil)
		if errors.Is(err, state.ErrAlreadyInState) {
			return nil
		}
		return err
	case state.Submitted, state.Submitting, state.InDoubt:
		// The statement came before the final pain.002: try again after the
		// backoff (pay.settled is stored; it is not published twice).
		return fmt.Errorf("batch %s: every intent settled, but the batch is %s: waiting for its final status", id, b.State)
	}
	h.log.WarnContext(ctx, "settled batch in an unexpected state", slog.String("batch_id", id), slog.String("state", string(b.State)))
	return nil
}

// unmatched is what a stmt.unmatched is built from.
type unmatched struct {
	ev                       messages.StatementEntry
	tx                       messages.EntryTransaction
	amount, ccy              string
	reason, detail, expected string
	intentID, batchID, e2e   string
}

func (u unmatched) with(reason, detail string) unmatched {
	u.reason, u.detail = reason, detail
	return u
}

// unmatched publishes a stmt.unmatched, once per entry transaction ever.
func (h *Handler) unmatched(ctx context.Context, u unmatched) error {
	ev := u.ev
	amount := u.amount
	if amount == "" {
		amount = ev.Amount
	}
	e := messages.StatementUnmatched{Reason: u.reason, Detail: u.detail, Account: ev.Account, EntryKey: ev.EntryKey, TxIndex: ev.TxIndex,
		IntentID: u.intentID, BatchID: u.batchID, EndToEndID: firstNonEmpty(u.e2e, u.tx.EndToEndID), Amount: amount,
		Currency: firstNonEmpty(u.ccy, ev.Currency), Expected: u.expected, CreditDebit: ev.CreditDebit, BookingDate: ev.BookingDate,
		AcctSvcrRef: firstNonEmpty(u.tx.AcctSvcrRef, ev.AcctSvcrRef), BankTxCode: ev.BankTxCode, StatementMsgID: ev.MsgID,
		DetectedAt: h.now().UTC()}
	m, err := workers.NewEventMessage(e, "unmatched:"+ev.Account+":"+ev.EntryKey+":"+strconv.Itoa(ev.TxIndex))
	if err != nil {
		return err
	}
	m.Metadata.Set(workers.MetaExpectedLastSubjectSeq, "0")
	if _, err := h.pub.PublishMessage(ctx, e.EventSubject(), m); err != nil && !workers.IsWrongLastSequence(err) {
		return fmt.Errorf("publishing stmt.unmatched: %w", err)
	}
	return nil
}
