// Package statuspoller is the worker that follows each submitted batch at
// the bank until every transaction is final: it asks for the batch's
// pain.002 through [bank.Channel] Status on a per-profile schedule,
// archives every pain.002 received, publishes one pay.status.<intent>
// ([messages.PaymentStatus]) per intent per change, records the status in
// KV intents ([state.Intents.SetStatus], monotonic), and moves the batch
// submitted → accepted | partially_accepted | rejected once every
// transaction is final.
//
// # Scheduling
//
// Polling is not driven by message redelivery, so a slow bank never uses
// up a consumer's MaxDeliver. [Handler.Handle] consumes
// pay.batch.submitted (stream PAYMENTS, durable consumer "statuspoller"):
// it starts tracking the batch, polls it once when its first delay has
// passed, and acks (a bank failure is logged and left to the loop; only
// NATS failures are redelivered). [Handler.Run] is the loop: it lists the
// batches in state submitted from KV at start and every
// [Config.ListInterval] — so it survives restarts and finds batches whose
// event went to another process — and polls each when due, at most
// [Config.Concurrency] at once. A batch is due [Schedule].FirstDelay after
// it became submitted, then every Interval while the pain.002 changes;
// each poll that brings no new document, or fails, multiplies the interval
// by Multiplier up to MaxInterval; a new document resets it. Schedules are
// per bank profile ([Config.Profiles], keyed by the batch record's
// profile). A batch leaves the schedule when it is no longer submitted.
// Several processes may run the loop: each polls every submitted batch,
// which costs bank queries but never doubles an event (below).
//
// # Fan-out: which status a report gives each intent
//
// A pain.002 may give a status per transaction (TxInfAndSts), per
// payment-information block (OrgnlPmtInfAndSts/PmtInfSts) and for the
// whole file (GrpSts). The intents of a batch and their PmtInfIds come
// from the batch record ([state.Batch] IntentIDs and PmtInfs, which the
// encoder writes), or, for a record without blocks (or whose block counts
// do not add up to its intents), from the batch's archived pain.001, read
// once per batch and process. Each intent of the batch gets, by the first
// rule that applies:
//
//  1. its own transaction line's status (OrgnlEndToEndId = intent id),
//     with the line's reasons; a line without TxSts takes PmtInfSts, else
//     GrpSts, with that level's reasons;
//  2. if the report does not mention it (or its line only says PART), the
//     status of its payment-information block, when the report lists the
//     block with a status that covers every transaction (anything but
//     PART and PATC), with the block's reasons;
//  3. else, unless its block is listed as PART/PATC, the group status when
//     that covers every transaction (anything but PART and PATC), with the
//     group's reasons — so a group-only report (ACTC, RCVD, a whole-file
//     RJCT) fans out to every intent;
//  4. else nothing: the intent keeps the status it had (no event, no KV
//     write). PART says "some of these": which ones, only transaction
//     lines say.
//
// A transaction listed twice keeps a final status over a non-final one,
// else the later line. Lines for EndToEndIds not in the batch are ignored,
// and a status (group status included) that is not four upper-case letters
// counts as none. A reason code longer than four characters or a
// proprietary reason longer than 35 moves, whole, into that reason's
// additional information, so pay.status keeps its schema.
// A report that cannot be decoded in full (one unreadable transaction
// line) is archived and not applied: an unreadable line must not count as
// "not mentioned". The status code of an intent is never moved back past
// a final one ([state.Intents.SetStatus]; and no event follows a final
// event), and a non-final status from an older poll than the recorded one
// is ignored.
//
// # Exactly one event per change
//
// An intent's events are the messages on pay.status.<intent>, and every
// publish there expects the subject's last sequence
// (Nats-Expected-Last-Subject-Sequence), so of two pollers deciding from
// the same last event only one is stored, after the duplicate window too.
// Each event has Nats-Msg-Id "status:"+intent+":"+status. (A status code
// that comes back after another within the duplicate window, ACSP → PDNG →
// ACSP, is published as "status:"+intent+":"+status+":"+the sequence it
// follows, since the plain id would be dropped as a duplicate.) The event
// goes first, then the KV intents record, which also keeps the event's
// stream sequence ([state.Intent] StatusSeq). The record is written only
// with the sequence of the event it was taken from, as that event was
// stored; a record written without one (before this field existed, or by
// another writer) says 0.
// So a record with StatusSeq s ≠ 0 describes the event at s: same status,
// finality, batch and report time (received_at).
//
// For each intent whose status changed, the poller takes its record — the
// one it wrote or read for the previous change, read from KV for the
// first — and skips the change when the record is final or from a later
// report. Otherwise:
//
//   - When the record says where its event is (StatusSeq ≠ 0, or no status
//     yet and so no event) and the status differs, the event is published
//     expecting that sequence, without reading the subject. If it is
//     stored, the subject ended with the record's event, whose status,
//     finality and time are the record's: reading the subject would have
//     decided to publish too. This is the common case: one publish, no
//     read.
//   - Otherwise, or when that publish is refused (the subject moved on: a
//     crash after a publish and before the KV write, or another poller)
//     or comes back as a duplicate (JetStream checks the id before the
//     expected sequence, so that proves nothing about the subject), the
//     poller reads the last event on the subject and decides on it: if it
//     is this status already (a crash after the publish, before the KV
//     write), it is not published again; if it is a final status, nothing
//     more is ever published for the intent; if it is from a later report,
//     nothing is published; else it publishes expecting that event's
//     sequence, deciding again if refused.
//
// Then the KV record is written, compare-and-set on the revision of the
// record decided from (read again on a conflict, and never moved back past
// a final status: [state.Intents.SetStatusFrom]), with the status of the
// event that stands and its sequence. A record the poller kept from an
// earlier change may be older than KV's (another poller wrote since), and
// deciding from it is still safe: its status is the one the poller
// remembers as applied, which it skips anyway; a final status is never
// replaced, and a non-final status's report time only grows, so what it
// skips as final or older the current record skips too; its publishes are
// checked against the stream as above; its write is a compare-and-set.
// So in every interleaving of pollers and crashes, each status change of
// an intent is stored once on its subject, and nothing follows a final
// one.
//
// This rests on one property of the stream: a sequence, once acknowledged,
// never names another message. It holds unless PAYMENTS loses
// acknowledged messages (a power failure without sync_interval always,
// which loses events whatever the poller does) or is deleted and created
// again under a kept intents bucket; even then a record pointing at a
// reused sequence can only repeat the status last published, and only
// after the duplicate window, which drops the repeat within it.
//
// The event carries the batch id, pmt_inf_id, tx_id, status, final, group
// status, reasons, the poll time (received_at) and the SHA-256 of the
// archived pain.002 (archive meta kind=pain.002, batch_id, msg_id), which
// is stored before any event names it.
//
// Each new pain.002 also records its group status on the batch
// ([state.Batches.Update]). When every intent of the batch has a final
// status, the batch moves (compare-and-set) to accepted (all ACSC/ACCC),
// rejected (all RJCT/CANC) or partially_accepted, with the group status
// recorded, and leaves the schedule. A crash between the last intent's KV
// write and that transition is finished by the next poll.
//
// # Crash points and metrics
//
// [Config.Crash] is called at [CrashBeforePublish] and [CrashAfterPublish]
// (tests block there). Metrics: isogate_statuspoller_polls_total{outcome},
// isogate_statuspoller_status_events_total{status},
// isogate_statuspoller_batches_finished_total{state} and
// isogate_statuspoller_tracked_batches, beside the runtime's per-worker
// series for the pay.batch.submitted handler.
package statuspoller
