// Package statuspoller is the worker that follows each submitted batch at
// the bank until every transaction is final: it asks for the batch's
// pain.002 through [bank.Channel] Status on a per-profile schedule,
// archives every pain.002 received, publishes one pay.status.<intent>
// ([messages.PaymentStatus]) per intent per change, and moves the batch
// submitted → accepted | partially_accepted | rejected once every
// transaction is final. An intent's status lives on its subject only
// ([workers.LastStatus] reads it): the poller writes no per-intent record.
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
//  4. else nothing: the intent keeps the status it had (no event). PART
//     says "some of these": which ones, only transaction lines say.
//
// A transaction listed twice keeps a final status over a non-final one,
// else the later line. Lines for EndToEndIds not in the batch are ignored,
// and a status (group status included) that is not four upper-case letters
// counts as none. A reason code longer than four characters or a
// proprietary reason longer than 35 moves, whole, into that reason's
// additional information, so pay.status keeps its schema.
// A report that cannot be decoded in full (one unreadable transaction
// line) is archived and not applied: an unreadable line must not count as
// "not mentioned". No event follows a final event, and a non-final status
// from an older poll than the intent's last event is ignored.
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
// follows, since the plain id would be dropped as a duplicate.)
//
// For each tracked batch the poller keeps, per intent, the last event it
// stored or read on the intent's subject: status, finality, report time
// (received_at) and stream sequence. For each intent whose status a new
// report changes, it skips the change when the known event is final, has
// this status, or comes from a later report. Otherwise it publishes the
// event expecting the known event's sequence — or 0, an empty subject,
// when it knows none: an intent's first change, and any change after a
// restart. Stored, the subject ended with the known event (or was empty),
// and reading it would have decided to publish too. This is the common
// case: one publish, no read, no other write. Refused (the subject moved
// on: a status published before a crash or a restart, another poller), or
// acknowledged as a duplicate (JetStream checks the id before the expected
// sequence, so that proves nothing about the subject), the poller reads
// the last event on the subject and decides on it: if it is this status
// already, it is not published again; if it is a final status, nothing
// more is ever published for the intent; if it is from a later report,
// nothing is published; else it publishes expecting that event's
// sequence, deciding again if refused. What stands afterwards is what the
// poller keeps for the intent's next change.
//
// With [Config.AtomicStatuses] (config nats.atomic_batches), the changes of
// one report that go the common way — published expecting the known event,
// or 0 — are sent together as one atomic batch publish
// ([workers.PublishAtomic]): each message keeps its own expected sequence
// and id, and the stream stores them all, under one fsync where it
// fsyncs every write, or none. Stored, each is what its own publish would
// have stored; not stored whole (a subject moved on, a duplicate id, an
// answer lost), every change of the batch is applied one by one as above,
// and each finds on its subject what is stored already.
//
// What a poller knows may be older than the subject (another poller
// published since, an answer lost), and deciding from it is still safe:
// a final status is never followed by another, so a final event it knows
// is the subject's last; a non-final status's report time only grows, so
// a report older than the known one is older than the subject's last, or
// comes after a final one: skipped either way; and every publish is
// decided by the stream, not by what the poller knows. So in every
// interleaving of pollers and crashes, each status change of an intent is
// stored once on its subject, and nothing follows a final one.
//
// This rests on one property of the stream: a sequence, once acknowledged,
// never names another message, which holds unless PAYMENTS loses
// acknowledged messages (a power failure without sync_interval always,
// which loses events whatever the poller does). What a poller knows lives
// in its memory only, for the batches it tracks.
//
// The event carries the batch id, pmt_inf_id, tx_id, status, final, group
// status, reasons, the poll time (received_at) and the SHA-256 of the
// archived pain.002 (archive meta kind=pain.002, batch_id, msg_id), which
// is stored before any event names it.
//
// Each new pain.002 also records its group status on the batch
// ([state.Batches.Update]). When every intent of the batch has a final
// last event (read from its subject for an intent the poller has not seen
// yet), the batch moves (compare-and-set) to accepted (all ACSC/ACCC),
// rejected (all RJCT/CANC) or partially_accepted, with the group status
// recorded, and leaves the schedule. A crash between the last intent's
// event and that transition is finished by the next poll.
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
