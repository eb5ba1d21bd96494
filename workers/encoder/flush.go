package encoder

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sync"
	"time"

	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/workers"
	"github.com/isogate/isogate/workers/archive"
	"github.com/isogate/isogate/workers/state"
	"github.com/isogate/isogate/xmlcodec"
)

// groupKey is what the intents of one batch share: debtor account,
// currency, execution date and profile.
type groupKey struct {
	profile, iban, currency, date string
}

// An item is one intent waiting for its batch. Copies of the same id
// delivered meanwhile wait on the same item.
type item struct {
	intent  messages.PaymentIntent
	raw     []byte
	minor   *big.Int // amount in minor units
	batch   *pending // the batch collecting it
	waiters []waiter // the deliveries settled with the outcome; under h.mu until the flush ends
	err     error    // the outcome, once settled
	settled bool
}

// A waiter is one delivery of an item's id; dup marks an invalid copy,
// counted as a duplicate when the item succeeds.
type waiter struct {
	p   *workers.Pending
	dup bool
}

func (it *item) finish(err error) {
	if it.settled {
		return
	}
	it.err, it.settled = err, true
}

// pending is a batch collecting intents.
type pending struct {
	key     groupKey
	profile *xmlcodec.Profile
	items   []*item
	sum     big.Int
	opened  time.Time // its first intent's arrival
	timer   *time.Timer
	held    bool // kept collecting past Wait (counted once)
	closed  bool
}

// attach makes delivery p share the outcome of the item of its id held
// here, if there is one.
func (h *Handler) attach(id string, p *workers.Pending, dup bool) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	it := h.inflight[id]
	if it == nil {
		return false
	}
	it.waiters = append(it.waiters, waiter{p: p, dup: dup})
	return true
}

// add puts an intent in the batch of its group, opening one (and its Wait
// timer) when there is none, and closes the batch when it reaches the
// profile's file limit, or first when the intent would take its CtrlSum
// past 18 digits. Delivery p is settled with the intent's outcome (with a
// copy's, if one of the id got here first).
func (h *Handler) add(r reading, raw []byte, p *workers.Pending) {
	in, prof := r.in, r.prof
	h.mu.Lock()
	defer h.mu.Unlock()
	if it := h.inflight[in.ID]; it != nil {
		it.waiters = append(it.waiters, waiter{p: p})
		return
	}
	it := &item{intent: in, raw: raw, minor: minorUnits(r.pay.Amount), waiters: []waiter{{p: p}}}
	key := groupKey{profile: r.profName, iban: in.Debtor.IBAN, currency: in.Currency, date: in.ExecutionDate}
	g := h.groups[key]
	if g != nil && new(big.Int).Add(&g.sum, it.minor).Cmp(maxCtrlSum) >= 0 {
		h.closeLocked(g)
		g = nil
	}
	if g == nil {
		g = &pending{key: key, profile: prof, opened: h.now()}
		h.groups[key] = g
		g.timer = time.AfterFunc(h.cfg.Wait, func() { h.expire(g) })
	}
	g.items = append(g.items, it)
	g.sum.Add(&g.sum, it.minor)
	it.batch = g
	h.inflight[in.ID] = it
	if len(g.items) >= prof.Limits.MaxTxPerFile {
		h.closeLocked(g)
	}
}

// closeAll closes every batch still collecting, so that its flush settles
// its intents (Run calls it when its context ends).
func (h *Handler) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, g := range h.groups {
		h.closeLocked(g)
	}
}

// closeLocked ends collection for p and starts its flush. h.mu is held.
func (h *Handler) closeLocked(p *pending) {
	if p.closed {
		return
	}
	p.closed = true
	p.timer.Stop()
	if h.groups[p.key] == p {
		delete(h.groups, p.key)
	}
	if len(p.items) == 0 {
		return
	}
	if h.cfg.Closed != nil {
		h.cfg.Closed(p.items[0].intent.ID, p.opened, p.held)
	}
	items := slices.Clone(p.items)
	h.flushes.Add(1)
	go h.flush(p.profile, p.key, items)
}

// flush encodes one batch and then releases every waiting handler with
// its intent's outcome.
func (h *Handler) flush(prof *xmlcodec.Profile, key groupKey, items []*item) {
	defer h.flushes.Done()
	ctx, cancel := context.WithTimeout(h.base, h.cfg.FlushTimeout)
	defer cancel()
	rest := items
	for attempt := 1; len(rest) > 0; attempt++ {
		if attempt > 3 {
			fail(rest, fmt.Errorf("encoder: no batch could be made for these intents after %d attempts", attempt-1))
			break
		}
		rest = h.flushOnce(ctx, prof, key, rest)
	}
	// Out of inflight under h.mu first: from then on no copy attaches to
	// an item, so its waiters can be read without the lock.
	h.mu.Lock()
	for _, it := range items {
		if h.inflight[it.intent.ID] == it {
			delete(h.inflight, it.intent.ID)
		}
	}
	h.mu.Unlock()
	for _, it := range items {
		it.finish(errors.New("encoder: flush ended without an outcome")) // never expected
		for _, w := range it.waiters {
			if w.dup && it.err == nil {
				h.m.duplicates.Inc()
			}
			w.p.Settle(it.err)
		}
	}
}

func fail(items []*item, err error) {
	for _, it := range items {
		it.finish(err)
	}
}

// flushOnce makes one batch of items. It settles each item's outcome,
// except those it returns: intents to try again in a new batch (after the
// batch was given up because of another intent's validation failure).
//
// Crash analysis — the state a kill -9 after each step leaves, and how the
// next run completes it. The intents are unacked throughout, so JetStream
// redelivers them after AckWait; Recover sweeps at start.
//
//   - after Create: an open batch nobody claimed for. Redelivered intents
//     are unclaimed and go into a new batch; Recover abandons the orphan
//     once it is stale.
//   - after the claims: an open batch holding claims. A redelivered intent
//     finds its claim; the batch is open, so once it is older than
//     StaleAfter (no live flush takes that long) the intent's handler or
//     Recover abandons it — a compare-and-set that a still-running flush's
//     open → encoded would have beaten — releases the claim, and batches
//     the intent again. Nothing was archived under that id.
//   - after the archive: as after the claims; the archived file of an
//     abandoned batch stays in the archive, never referenced by an encoded
//     batch, so it is never sent.
//   - after the transition: the batch is encoded, its claims stand, so
//     every intent is in exactly this batch for good. Redelivered intents
//     find it encoded and publish pay.batch.encoded from the record
//     (ensureEncoded: only when the stream lacks it), then ack; Recover does
//     the same for every encoded batch.
//   - after the publish, before the acks: the same, and the event is found
//     in the stream, so nothing is published twice.
func (h *Handler) flushOnce(ctx context.Context, prof *xmlcodec.Profile, key groupKey, items []*item) (retry []*item) {
	id, err := newBatchID(h.now())
	if err != nil {
		fail(items, err)
		return nil
	}
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.intent.ID
	}
	// 1. The record first, open, listing the intents: a claim must always
	// point at a record on which a later run can decide (Abandon is a
	// compare-and-set on it), and the list lets Recover release them.
	b, err := h.batches.Create(ctx, state.Batch{
		ID: id, State: state.Open, Profile: key.profile, Message: prof.Messages.Pain001,
		DebtorIBAN: key.iban, Currency: key.currency, ExecutionDate: key.date, IntentIDs: ids,
	})
	if errors.Is(err, state.ErrExists) {
		return items // an id collision: try another
	}
	if err != nil {
		// Nothing claimed: at worst an orphan open record, swept when stale.
		fail(items, err)
		return nil
	}
	h.crash(CrashCreated)

	// 2. Claims: the create-only write that makes an intent this batch's
	// for good once the batch is encoded. Only intents whose claim is
	// certain go into the file; any claim with an unknown outcome gives up
	// the whole batch (Abandon), so no claim can point at an encoded batch
	// that does not hold its intent.
	claimed, err := h.claimAll(ctx, b.ID, items)
	if err != nil {
		h.giveUp(ctx, b, items, err)
		return nil
	}
	h.crash(CrashClaimed)
	if len(claimed) == 0 {
		h.giveUp(ctx, b, nil, nil)
		return nil
	}

	// 3. Encode, MsgId = batch id, CreDtTm = the record's creation time (so
	// the event can be rebuilt from the record).
	pays := make([]xmlcodec.Payment, len(claimed))
	for i, it := range claimed {
		pays[i] = toPayment(it.intent)
	}
	res, err := prof.EncodePain001(xmlcodec.Pain001Request{MsgID: b.ID, Now: func() time.Time { return b.CreatedAt }, Payments: pays})
	var ve xmlcodec.ValidationErrors
	if errors.As(err, &ve) {
		return h.rejectInBatch(ctx, b, claimed, ve)
	}
	if err == nil && len(res.Files) != 1 {
		err = fmt.Errorf("encoder: batch %s encoded into %d files, want 1", b.ID, len(res.Files))
	}
	if err != nil {
		h.giveUp(ctx, b, claimed, err)
		return nil
	}
	f := res.Files[0]

	// 4. Archive before the batch says encoded: an encoded batch always has
	// its bytes, which the submitter uploads as they are.
	obj, err := h.archive.PutAndKeep(ctx, f.Data, map[string]string{
		archive.MetaKind: prof.Messages.Pain001, archive.MetaBatchID: b.ID, archive.MetaMsgID: f.MsgID,
	})
	if err != nil {
		h.giveUp(ctx, b, claimed, err)
		return nil
	}
	h.crash(CrashArchived)

	// 5. open → encoded, compare-and-set: from here the intents belong to
	// this file for good, and Abandon refuses the batch.
	enc, err := h.batches.Transition(ctx, b.ID, state.Encoded, "pain.001 encoded and archived", func(x *state.Batch) error {
		x.IntentIDs = f.PaymentIDs
		// The blocks let the status poller fan a PmtInf status out
		// without reading the file again.
		for _, pi := range f.PmtInfs {
			x.PmtInfs = append(x.PmtInfs, state.PmtInf(pi))
		}
		x.NbOfTxs = f.NbOfTxs
		x.CtrlSum = f.CtrlSum
		x.Archive = &state.Object{Name: obj.Name, SHA256: obj.SHA256, Size: obj.Size}
		return nil
	})
	if err != nil {
		// Unknown whether it was written: giveUp's Abandon decides. If the
		// batch is encoded after all, the redeliveries announce it.
		h.giveUp(ctx, b, claimed, err)
		return nil
	}
	h.crash(CrashTransitioned)

	// 6. The event, Nats-Msg-Id = batch id. On failure the batch stays
	// encoded and the redelivered intents publish it (ensureEncoded).
	if _, err := h.pub.PublishEvent(ctx, h.encodedEvent(enc), enc.ID); err != nil {
		fail(claimed, err)
		return nil
	}
	h.announce(enc.ID)
	h.crash(CrashPublished)
	h.m.batchSize.Observe(float64(len(claimed)))
	h.log.InfoContext(ctx, "batch encoded", "batch_id", enc.ID, "profile", enc.Profile, "nb_of_txs", enc.NbOfTxs,
		"ctrl_sum", enc.CtrlSum, "debtor_iban", messages.MaskIBAN(enc.DebtorIBAN), "execution_date", enc.ExecutionDate)

	// 7. Only now may the intents be acked.
	h.crash(CrashAcking)
	fail(claimed, nil)
	return nil
}

// claimAll claims every item for batch id: one burst of create-only
// writes ([state.Intents.ClaimAll]), then, a few at a time, the items whose
// id something else holds. It returns the items now certainly claimed for
// it and settles the others (a duplicate of a batch that has the id, or of
// a rejection: nil, acked; a batch still being flushed elsewhere: an
// error, retried). An error means some claim's outcome is unknown.
func (h *Handler) claimAll(ctx context.Context, batchID string, items []*item) ([]*item, error) {
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.intent.ID
	}
	res := h.intents.ClaimAll(ctx, h.js, batchID, ids)
	ok := make([]bool, len(items))
	errs := make([]error, len(items))
	sem := make(chan struct{}, h.cfg.ClaimParallelism)
	var wg sync.WaitGroup
	for i, it := range items {
		switch r := res[i]; {
		case r.Err != nil:
			errs[i] = r.Err
		case r.Mine:
			ok[i] = true
		default:
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				ok[i], errs[i] = h.claimOne(ctx, batchID, it, r.Record)
			}()
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var claimed []*item
	for i, it := range items {
		if ok[i] {
			claimed = append(claimed, it)
		}
	}
	return claimed, nil
}

// claimOne decides one intent whose id record held (another batch's claim
// or a rejection), claiming it again when that claim is released. false
// with a nil error: the intent is not (and never was) claimed for batchID,
// and its outcome is settled.
func (h *Handler) claimOne(ctx context.Context, batchID string, it *item, held *state.Intent) (bool, error) {
	id := it.intent.ID
	rec := held
	for range 3 {
		if rec == nil {
			var mine bool
			var err error
			rec, mine, err = h.intents.Claim(ctx, id, batchID)
			if err != nil {
				return false, err
			}
			if mine {
				return true, nil
			}
		}
		if rec.Rejected {
			// A copy of this id was rejected: the id is spent.
			h.m.duplicates.Inc()
			it.finish(nil)
			return false, nil
		}
		free, err := h.settleClaim(ctx, id, rec.BatchID)
		if err != nil {
			it.finish(err)
			return false, nil
		}
		if !free {
			h.m.duplicates.Inc()
			it.finish(nil)
			return false, nil
		}
		rec = nil
	}
	it.finish(fmt.Errorf("encoder: intent %s: its claim keeps changing: %w", id, state.ErrConflict))
	return false, nil
}

// rejectInBatch handles validation errors EncodePain001 found in the
// batch, which the per-intent check let through. The batch is given up
// and its claims released (only a failed batch may release them), the
// payments named are rejected, and the others are returned to go into a
// new batch. Errors about the batch as a whole fail every intent.
func (h *Handler) rejectInBatch(ctx context.Context, b *state.Batch, claimed []*item, ve xmlcodec.ValidationErrors) []*item {
	bad := map[string][]messages.FieldError{}
	for _, fe := range ve {
		if fe.Index < 0 || fe.ID == "" {
			h.giveUp(ctx, b, claimed, fmt.Errorf("encoder: batch %s: %w", b.ID, ve))
			return nil
		}
		bad[fe.ID] = append(bad[fe.ID], messages.FieldError{Field: fe.Field, Reason: fe.Reason})
	}
	if err := h.abandon(ctx, b, "validation failed: "+ve.Error()); err != nil {
		fail(claimed, err)
		return nil
	}
	var rest []*item
	for _, it := range claimed {
		if reasons, ok := bad[it.intent.ID]; ok {
			it.finish(h.reject(ctx, it.intent.ID, it.raw, reasons))
			continue
		}
		rest = append(rest, it)
	}
	return rest
}

// giveUp abandons batch b after a failed flush and releases its claims, so
// that the intents' redelivery batches them again at once instead of
// waiting for b to go stale; then it fails items with cause (nil: the
// items are settled already). It works on a fresh context: the flush's own
// may be what ran out. If the abandon fails too, the batch stays open and
// goes stale; if b turns out encoded, the redeliveries announce it.
func (h *Handler) giveUp(ctx context.Context, b *state.Batch, items []*item, cause error) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	reason := "flush failed"
	if cause != nil {
		reason += ": " + cause.Error()
	} else {
		reason = "no intent left to encode"
	}
	if err := h.abandon(actx, b, reason); err != nil && !errors.Is(err, state.ErrIllegalTransition) {
		h.log.WarnContext(ctx, "abandoning a failed batch (it goes stale instead)", "batch_id", b.ID, "error", err.Error())
	}
	if cause != nil {
		fail(items, cause)
	}
}

// abandon moves open batch b to failed and releases every intent it
// lists (Release ignores intents claimed by another batch).
func (h *Handler) abandon(ctx context.Context, b *state.Batch, reason string) error {
	if len(reason) > 512 {
		reason = reason[:512] + "…"
	}
	failed, err := h.batches.Abandon(ctx, b.ID, reason)
	if err != nil {
		return err
	}
	h.m.abandoned.Inc()
	errs := make([]error, len(b.IntentIDs))
	sem := make(chan struct{}, h.cfg.ClaimParallelism)
	var wg sync.WaitGroup
	for i, id := range b.IntentIDs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = h.intents.Release(ctx, id, failed)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// newBatchID returns "B" + UTC time to the second + "-" + 8 random hex
// digits: 24 characters (pain.001 MsgId allows 35), sortable by time,
// unique in practice — and Create is create-only, so a collision is
// detected and another id drawn.
func newBatchID(now time.Time) (string, error) {
	var r [4]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", fmt.Errorf("encoder: drawing a batch id: %w", err)
	}
	return "B" + now.UTC().Format("20060102150405") + "-" + hex.EncodeToString(r[:]), nil
}
