// Package submitter is the worker that uploads each encoded batch (one
// pain.001 file) to the bank exactly once: it consumes pay.batch.encoded
// (stream PAYMENTS, durable consumer "submitter"), moves the batch to
// submitting by compare-and-set before the upload, uploads the archived
// bytes through a [bank.Channel], and publishes pay.batch.submitted,
// pay.batch.in_doubt or pay.batch.failed.
//
// # Exactly once
//
// A MsgId reaches the bank at most once because an upload happens only
// after this worker won the compare-and-set encoded → submitting, and a
// batch found in submitting or in_doubt is never uploaded again before a
// status query said the bank does not have it (in_doubt → encoded). A
// re-send sends the same bytes: the archived pain.001, or — when the
// channel is a [bank.Preparer] (it signs files) — the prepared bytes,
// archived and recorded in [state.Batch.Upload] before the first upload.
//
// A batch in submitting is somebody's upload in progress until its lease
// ends: an upload must start and finish within [Config.UploadTimeout] of
// the compare-and-set (the Submit context has that deadline), so another
// worker — a redelivery, [Handler.Recover], another process — treats a
// submitting batch as in doubt only once Since()+UploadTimeout+ClockSkew
// has passed, or at once when the upload ran in this process and is over.
//
// # Decision table
//
//	batch state      bank outcome / finding                 action
//	not found        -                                       Permanent: dead letter
//	open             -                                       error: retried (the encoder has not finished)
//	encoded          -                                       prepare+archive bytes (Preparer), CAS → submitting, Submit
//	submitting*      Submit ok                               → submitted (receipt), publish submitted, ack
//	submitting*      ErrOutcomeUnknown (or unclassified)     → in_doubt, publish in_doubt, resolve (below)
//	submitting*      ErrDuplicate                            → in_doubt ("duplicate"), resolve, never re-send
//	submitting*      ErrTransient                            stay submitting, nack; the redelivery resolves
//	submitting*      ErrPermanent                            → failed, publish failed (intent ids, bank reasons), Permanent: dead letter
//	submitting       found (redelivery, restart, transient)  wait for the lease, → in_doubt, publish in_doubt, resolve
//	in_doubt         Status: the bank has it                 → submitted, publish submitted, ack
//	in_doubt         Status: ErrUnknownToBank                → encoded, then the encoded row: the same bytes again
//	in_doubt (dupl.) Status: ErrUnknownToBank                error: retried, never re-sent (an operator looks)
//	in_doubt         Status: any other error                 error: nack, resolved on the next delivery
//	submitted, later -                                       make sure pay.batch.submitted exists, ack
//	failed           -                                       make sure pay.batch.failed exists, Permanent: dead letter
//	rejected/settled -                                       ack
//
// (submitting* = the upload this delivery just made.) pay.batch.submitted and
// pay.batch.failed are published with Nats-Msg-Id "submitted:"+id and
// "failed:"+id and an expected last subject sequence of 0, so a second copy
// is refused however late it comes; pay.batch.in_doubt with
// "in_doubt:"+id+":"+attempt.
//
// # Crash points
//
// [Config.Crash] is called at "after-cas" (submitting written, nothing
// sent), "after-upload" (Submit returned, nothing recorded), "after-in-doubt"
// (in_doubt written, before the status query) and "before-ack" (everything
// stored, the handler about to return nil). A hook that blocks simulates a
// crash: the handler gives up when its context ends, sending nothing.
package submitter
