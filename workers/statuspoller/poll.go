package statuspoller

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/workers"
	"github.com/isogate/isogate/workers/archive"
	"github.com/isogate/isogate/workers/state"
	"github.com/isogate/isogate/xmlcodec"
)

// errBadReport marks a pain.002 the bank sent that cannot be applied (not
// readable in full, about another MsgId): archived, logged, asked again.
var errBadReport = errors.New("statuspoller: unusable pain.002")

// poll polls tracked batch id once, unless a poll of it is running.
func (h *Handler) poll(ctx context.Context, id string) error {
	t := h.acquire(id)
	if t == nil {
		return nil
	}
	return h.pollAcquired(ctx, t)
}

// pollAcquired fetches the batch's pain.002, archives it, publishes and
// records each intent's change, moves the batch on when every transaction
// is final, and schedules the next poll: at the base interval after a new
// document was applied, after a longer one (backoff) when nothing changed
// or anything failed.
func (h *Handler) pollAcquired(ctx context.Context, t *tracked) (err error) {
	changed, polled := false, false
	defer func() {
		switch {
		case changed:
			h.metrics.polls.WithLabelValues("new").Inc()
		case polled && err == nil:
			h.metrics.polls.WithLabelValues("same").Inc()
		case polled:
			h.metrics.polls.WithLabelValues("failed").Inc()
		}
		h.release(t, changed)
	}()
	b, err := h.batches.Get(ctx, t.id)
	if errors.Is(err, state.ErrNotFound) {
		h.untrack(t.id)
		return nil
	}
	if err != nil {
		return err
	}
	if b.State != state.Submitted {
		h.untrack(t.id) // moved on here or elsewhere
		return nil
	}
	if t.txs == nil {
		if t.txs, err = h.txRefs(ctx, b); err != nil {
			return err
		}
	}
	polled = true
	fetchedAt := h.now().UTC()
	sctx, cancel := context.WithTimeout(ctx, h.cfg.StatusTimeout)
	doc, err := h.ch.Status(sctx, b.ID)
	cancel()
	if err != nil {
		return fmt.Errorf("statuspoller: status of %s: %w", b.ID, err)
	}
	rep, rerr := reportOf(doc)
	meta := map[string]string{archive.MetaKind: "pain.002", archive.MetaBatchID: b.ID}
	if rerr == nil && rep.MsgID != "" {
		meta[archive.MetaMsgID] = rep.MsgID
	}
	obj, err := h.arch.Put(ctx, doc.Data, meta)
	if err != nil {
		return err
	}
	if obj.SHA256 == t.digest {
		return h.finish(ctx, b, t, rep) // nothing new; finishes a batch a crash left behind
	}
	if rerr != nil {
		return fmt.Errorf("%w %s for %s: %w", errBadReport, obj.Name, b.ID, rerr)
	}
	if rep.OrgnlMsgID != b.ID {
		return fmt.Errorf("%w %s: answers OrgnlMsgId %q, not %s", errBadReport, obj.Name, rep.OrgnlMsgID, b.ID)
	}
	res := resolve(rep, t.txs)
	h.log.DebugContext(ctx, "pain.002 received", slog.String("batch_id", b.ID), slog.String("group_status", rep.GroupStatus),
		slog.String("archive", obj.Name), slog.Int("resolved", len(res)), slog.Int("intents", len(t.txs)))
	if err := h.applyAll(ctx, b, t, rep, res, obj.SHA256, fetchedAt); err != nil {
		return err
	}
	if grp := messages.TxStatus(rep.GroupStatus); grp != "" && grp != b.GroupStatus {
		nb, err := h.batches.Update(ctx, b.ID, func(nb *state.Batch) error { nb.GroupStatus = grp; return nil })
		if err != nil {
			return err
		}
		b = nb
	}
	if err := h.finish(ctx, b, t, rep); err != nil {
		return err
	}
	t.digest = obj.SHA256
	changed = true // a new document applied: poll again at the base interval
	return nil
}

// txRefs returns the batch's transactions with their PmtInfIds: from the
// batch record's payment-information blocks when it has them (counts that
// sum to the number of intents), else read from the archived pain.001 (an
// error when the archive cannot be read now). When the batch has neither
// usable blocks nor a readable archived file, the intents are listed
// without PmtInfId: a payment-information status then does not fan out to
// them (rule 2), and they wait for their own line or the group's status.
func (h *Handler) txRefs(ctx context.Context, b *state.Batch) ([]txRef, error) {
	out := make([]txRef, len(b.IntentIDs))
	for i, id := range b.IntentIDs {
		out[i].IntentID = id
	}
	if refsFromBlocks(out, b.PmtInfs) {
		return out, nil
	}
	if len(b.PmtInfs) > 0 {
		h.log.WarnContext(ctx, "batch record's payment-information blocks do not add up to its intents; reading the archived pain.001",
			slog.String("batch_id", b.ID), slog.Int("blocks", len(b.PmtInfs)), slog.Int("intents", len(b.IntentIDs)))
	}
	if b.Archive == nil {
		h.log.WarnContext(ctx, "batch has no archived pain.001; PmtInf statuses will not fan out", slog.String("batch_id", b.ID))
		return out, nil
	}
	data, err := h.arch.Get(ctx, b.Archive.Name)
	if errors.Is(err, archive.ErrCorrupt) || errors.Is(err, jetstream.ErrObjectNotFound) {
		h.log.WarnContext(ctx, "archived pain.001 unusable; PmtInf statuses will not fan out", slog.String("batch_id", b.ID), slog.String("error", err.Error()))
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	doc, err := xmlcodec.ReadPain001(bytes.NewReader(data), xmlcodec.Limits{})
	if err != nil {
		h.log.WarnContext(ctx, "decoding the archived pain.001 failed; PmtInf statuses will not fan out", slog.String("batch_id", b.ID), slog.String("error", err.Error()))
		return out, nil
	}
	pmt := map[string]string{}
	i := 0
	for _, pi := range doc.PmtInfs {
		for range pi.Count {
			if i < len(doc.Payments) {
				pmt[doc.Payments[i].ID] = pi.ID
			}
			i++
		}
	}
	for j := range out {
		out[j].PmtInfID = pmt[out[j].IntentID]
	}
	return out, nil
}

// refsFromBlocks sets the PmtInfIds of out (the batch's intents in file
// order) from the batch record's blocks, each holding the next Count
// intents. It reports false, setting nothing, when there are no blocks or
// their counts do not add up to the intents: the archived file decides.
func refsFromBlocks(out []txRef, blocks []state.PmtInf) bool {
	if len(blocks) == 0 {
		return false
	}
	sum := 0
	for _, pi := range blocks {
		if pi.Count < 1 || pi.Count > len(out) {
			return false
		}
		sum += pi.Count
	}
	if sum != len(out) {
		return false
	}
	i := 0
	for _, pi := range blocks {
		for range pi.Count {
			out[i].PmtInfID = pi.ID
			i++
		}
	}
	return true
}

// applyAll publishes the resolved statuses, several intents at once; one
// intent's events are always in order. With [Config.AtomicStatuses] the
// changes that need no read of their subject go first as atomic batches
// (applyAtomic); a batch the stream does not store whole is applied one
// intent at a time, as everything else.
func (h *Handler) applyAll(ctx context.Context, b *state.Batch, t *tracked, rep *report, res map[string]resolution, sha string, at time.Time) error {
	var changes []change
	for _, tx := range t.txs {
		r, ok := res[tx.IntentID]
		if !ok {
			continue
		}
		want := applied{Status: r.Status, Final: r.Status.Final(), Reasons: reasonSummary(r.Reasons)}
		if k, ok := t.get(tx.IntentID); ok && k.applied == want {
			continue
		}
		ev := messages.PaymentStatus{IntentID: tx.IntentID, BatchID: b.ID, PmtInfID: r.PmtInfID, TxID: r.TxID,
			Status: r.Status, Final: want.Final, GroupStatus: messages.TxStatus(rep.GroupStatus),
			Reasons: eventReasons(r.Reasons), ReceivedAt: at, ArchiveSHA256: sha}
		changes = append(changes, change{ev: ev, reasons: want.Reasons})
	}
	if h.atomic.Allowed(ctx) {
		var rest []change
		for start := 0; start < len(changes); start += workers.MaxAtomicBatch {
			chunk := changes[start:min(start+workers.MaxAtomicBatch, len(changes))]
			done, err := h.applyAtomic(ctx, t, chunk)
			if err != nil {
				return err
			}
			if !done {
				rest = append(rest, chunk...)
			}
		}
		changes = rest
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	slots := make(chan struct{}, h.cfg.ApplyConcurrency)
	for _, c := range changes {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			if err := h.apply(ctx, t, c.ev, c.reasons); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("intent %s: %w", c.ev.IntentID, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// A change is one intent's status a report gives, to be applied.
type change struct {
	ev      messages.PaymentStatus
	reasons string // summary of ev's reasons
}

// skip reports whether ev changes nothing on top of k, the intent's last
// event as this process knows it: k is final (nothing follows a final
// status), has ev's status, or comes from a later report than a
// non-final ev.
func skip(k known, ev messages.PaymentStatus) bool {
	return k.Final || k.Status == ev.Status && k.Final == ev.Final || !ev.Final && ev.ReceivedAt.Before(k.At)
}

// applyAtomic publishes the events of changes that need no read — each
// expecting the last event this process knows on its subject, or 0 (none
// yet) — as one atomic batch, which the stream stores whole or not at all:
// each event under exactly the check publishStatus's first publish makes,
// so a stored batch is what publishing them one by one without a refusal
// would have stored (apply's argument). It reports true when the server
// confirmed the batch, with every event noted as its intent's last; false
// when it did not (a subject moved on, a duplicate id, a lost answer): the
// caller then applies every change of the batch one by one, and each finds
// on its subject what is stored already.
func (h *Handler) applyAtomic(ctx context.Context, t *tracked, changes []change) (bool, error) {
	var (
		batch []change
		msgs  []*nats.Msg
	)
	for _, c := range changes {
		var expect uint64
		if k, ok := t.get(c.ev.IntentID); ok {
			if skip(k, c.ev) {
				continue
			}
			expect = k.Seq
		}
		m, err := statusMessage(c.ev, statusMsgID(c.ev), expect)
		if err != nil {
			return false, err
		}
		batch = append(batch, c)
		msgs = append(msgs, workers.NATSMsg(c.ev.EventSubject(), m))
	}
	if len(batch) == 0 {
		return true, nil
	}
	if err := h.crash(ctx, CrashBeforePublish); err != nil {
		return false, err
	}
	seqs, err := h.atomic.Publish(ctx, msgs)
	if err != nil {
		h.metrics.atomic.WithLabelValues("refused").Inc()
		h.log.DebugContext(ctx, "atomic batch of statuses not stored whole; publishing one by one",
			slog.Int("events", len(msgs)), slog.String("error", err.Error()))
		return false, nil
	}
	h.metrics.atomic.WithLabelValues("stored").Inc()
	if err := h.crash(ctx, CrashAfterPublish); err != nil {
		return false, err
	}
	for i, c := range batch {
		h.metrics.events.WithLabelValues(string(c.ev.Status)).Inc()
		t.set(c.ev.IntentID, known{applied: applied{c.ev.Status, c.ev.Final, c.reasons}, Seq: seqs[i], At: c.ev.ReceivedAt})
	}
	return true, nil
}

// apply makes one intent's change durable: its pay.status event, published
// unless the intent's subject already ends with it, with a final status, or
// with a later report's status (publishStatus). What the subject ends with
// afterwards is kept in t for the intent's next change.
//
// What t knows of the intent may be older than the stream (another poller
// published since, or a publish whose answer was lost), and deciding from
// it is still safe:
//
//   - a status t shows as the intent's, applyAll skips before apply, as
//     it would on the subject read;
//   - a final status is never followed by another, so a final event t
//     knows is the subject's last;
//   - a non-final status's report time only grows, and a final status
//     stops everything, so a report older than the one t knows is older
//     than the subject's, or comes after a final one: skipped either way;
//   - a publish is decided by the stream, not by t: publishStatus publishes
//     expecting t's event as the subject's last, and a refusal sends it to
//     read the subject.
func (h *Handler) apply(ctx context.Context, t *tracked, ev messages.PaymentStatus, reasons string) error {
	k, ok := t.get(ev.IntentID)
	if ok && skip(k, ev) {
		return nil
	}
	var last *known
	if ok {
		last = &k
	}
	kept, seq, err := h.publishStatus(ctx, ev, last)
	if err != nil || kept == nil {
		return err // nil, nil: a later status is published already
	}
	if err := h.crash(ctx, CrashAfterPublish); err != nil {
		return err
	}
	if kept.Status != ev.Status || kept.Final != ev.Final {
		reasons = reasonSummary(xmlReasons(kept.Reasons)) // a final event published before stands
	}
	t.set(ev.IntentID, known{applied: applied{kept.Status, kept.Final, reasons}, Seq: seq, At: kept.ReceivedAt})
	return nil
}

func xmlReasons(rs []messages.StatusReason) []xmlcodec.Reason {
	out := make([]xmlcodec.Reason, len(rs))
	for i, r := range rs {
		out[i] = xmlcodec.Reason{Code: r.Code, Proprietary: r.Proprietary, Info: strings.Join(r.Info, "")}
	}
	return out
}

// maxPublishAttempts bounds the compare-and-set rounds on an intent's
// status subject.
const maxPublishAttempts = 8

// publishStatus publishes ev unless the intent's status subject already
// ends with it, ends with a final status, or ends with a later report's
// status. It returns the event that stands as the intent's latest — ev, an
// equal one published before, or a final one published before (nil when a
// later non-final status stands) — and its stream sequence: the kept
// event is always the message stored at that sequence, as stored. Every
// publish expects the subject's last sequence, so two pollers racing on
// one intent publish one event, and the check holds after the duplicate
// window too.
//
// last is the intent's last event as this process knows it, nil when it
// knows none. ev is first published without reading the subject, expecting
// last's sequence, or 0 (no event yet: an intent's first change, the
// common case) when last is nil: stored, the subject ended with last's
// event — or was empty — and reading it would have decided to publish too
// (apply has checked ev against last). Refused (the subject moved on: a
// status published before a crash or a restart, a racing poller), or
// acknowledged as a duplicate (which the stream decides before the
// expected sequence, so it proves nothing about the subject), the subject
// is read and the change decided on what it holds.
func (h *Handler) publishStatus(ctx context.Context, ev messages.PaymentStatus, last *known) (*messages.PaymentStatus, uint64, error) {
	subject := ev.EventSubject()
	msgID := statusMsgID(ev)
	var expect uint64
	if last != nil {
		expect = last.Seq
	}
	if err := h.crash(ctx, CrashBeforePublish); err != nil {
		return nil, 0, err
	}
	ack, err := h.publishExpecting(ctx, subject, ev, msgID, expect)
	switch {
	case err == nil && !ack.Duplicate:
		h.metrics.events.WithLabelValues(string(ev.Status)).Inc()
		return &ev, ack.Sequence, nil
	case err != nil && !workers.IsWrongLastSequence(err):
		return nil, 0, err
	}
	// The subject moved on, or the id was taken: read it.
	s, err := h.paymentsStream(ctx)
	if err != nil {
		return nil, 0, err
	}
	for range maxPublishAttempts {
		cur, lastSeq, err := workers.LastStatus(ctx, s, ev.IntentID)
		if err != nil {
			return nil, 0, fmt.Errorf("statuspoller: %w", err)
		}
		if cur != nil {
			switch {
			case cur.BatchID == ev.BatchID && cur.Status == ev.Status && cur.Final == ev.Final:
				return cur, lastSeq, nil // published before (a crash, a restart, another poller)
			case cur.Final:
				return cur, lastSeq, nil // one terminal event per intent: never another
			case !ev.Final && ev.ReceivedAt.Before(cur.ReceivedAt):
				return nil, 0, nil
			}
		}
		if err := h.crash(ctx, CrashBeforePublish); err != nil {
			return nil, 0, err
		}
		ack, err := h.publishExpecting(ctx, subject, ev, msgID, lastSeq)
		switch {
		case workers.IsWrongLastSequence(err):
			continue // someone published meanwhile: decide again
		case err != nil:
			return nil, 0, err
		case ack.Duplicate && ack.Sequence <= lastSeq:
			// The id names an earlier change to this same status code
			// (ACSP → PDNG → ACSP) within the duplicate window: nothing was
			// stored. Publish this change under its own id.
			msgID = statusMsgID(ev) + ":" + strconv.FormatUint(lastSeq, 10)
			continue
		case ack.Duplicate:
			// Stored under this id after the read (a racing poller): the
			// subject moved on. Decide again on what it holds now, which
			// returns that event, as stored, with its sequence.
			continue
		}
		h.metrics.events.WithLabelValues(string(ev.Status)).Inc()
		return &ev, ack.Sequence, nil
	}
	return nil, 0, fmt.Errorf("statuspoller: publishing the status of %s: %w", ev.IntentID, state.ErrConflict)
}

// publishExpecting publishes ev to subject with Nats-Msg-Id msgID, stored
// only when the subject's last message has sequence lastSeq (0: none).
func (h *Handler) publishExpecting(ctx context.Context, subject string, ev messages.PaymentStatus, msgID string, lastSeq uint64) (*jetstream.PubAck, error) {
	m, err := statusMessage(ev, msgID, lastSeq)
	if err != nil {
		return nil, err
	}
	return h.pub.PublishMessage(ctx, subject, m)
}

// statusMsgID is the Nats-Msg-Id of ev: "status:"+intent+":"+status.
func statusMsgID(ev messages.PaymentStatus) string {
	return "status:" + ev.IntentID + ":" + string(ev.Status)
}

// statusMessage is ev as a message with Nats-Msg-Id msgID, to be stored
// only when the subject's last message has sequence lastSeq (0: none).
func statusMessage(ev messages.PaymentStatus, msgID string, lastSeq uint64) (*message.Message, error) {
	m, err := workers.NewEventMessage(ev, msgID)
	if err != nil {
		return nil, err
	}
	m.Metadata.Set(workers.MetaExpectedLastSubjectSeq, strconv.FormatUint(lastSeq, 10))
	return m, nil
}

func (h *Handler) paymentsStream(ctx context.Context) (jetstream.Stream, error) {
	h.mu.Lock()
	s := h.stream
	h.mu.Unlock()
	if s != nil {
		return s, nil
	}
	s, err := h.js.Stream(ctx, messages.StreamPayments)
	if err != nil {
		return nil, fmt.Errorf("statuspoller: stream %s: %w", messages.StreamPayments, err)
	}
	h.mu.Lock()
	h.stream = s
	h.mu.Unlock()
	return s, nil
}

// finish moves the batch on once every transaction is final: accepted when
// all are accepted (ACSC, ACCC), rejected when none is, partially_accepted
// otherwise. The last status of an intent this process has not seen yet is
// read from its subject.
func (h *Handler) finish(ctx context.Context, b *state.Batch, t *tracked, rep *report) error {
	if len(t.txs) == 0 {
		return nil // a record without intents: nothing can prove it final
	}
	acc, rej := 0, 0
	for _, tx := range t.txs {
		k, ok := t.get(tx.IntentID)
		if !ok {
			s, err := h.paymentsStream(ctx)
			if err != nil {
				return err
			}
			ev, seq, err := workers.LastStatus(ctx, s, tx.IntentID)
			if err != nil {
				return fmt.Errorf("statuspoller: %w", err)
			}
			if ev == nil || ev.BatchID != b.ID {
				return nil
			}
			k = known{applied: applied{ev.Status, ev.Final, reasonSummary(xmlReasons(ev.Reasons))}, Seq: seq, At: ev.ReceivedAt}
			t.set(tx.IntentID, k)
		}
		a := k.applied
		if !a.Final {
			return nil
		}
		if a.Status == messages.TxStatusACSC || a.Status == messages.TxStatusACCC {
			acc++
		} else {
			rej++
		}
	}
	to := state.PartiallyAccepted
	switch {
	case rej == 0:
		to = state.Accepted
	case acc == 0:
		to = state.Rejected
	}
	reason := fmt.Sprintf("pain.002: every transaction final, %d accepted, %d rejected", acc, rej)
	_, err := h.batches.Transition(ctx, b.ID, to, reason, func(nb *state.Batch) error {
		if rep != nil && rep.GroupStatus != "" {
			nb.GroupStatus = messages.TxStatus(rep.GroupStatus)
		}
		return nil
	})
	var te *state.TransitionError
	if err != nil && !errors.As(err, &te) {
		return err // a TransitionError: already moved on, here or elsewhere
	}
	if err == nil {
		h.metrics.finished.WithLabelValues(string(to)).Inc()
		h.log.InfoContext(ctx, "every transaction final", slog.String("batch_id", b.ID), slog.String("state", string(to)),
			slog.Int("accepted", acc), slog.Int("rejected", rej))
	}
	h.untrack(b.ID)
	return nil
}
