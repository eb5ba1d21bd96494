// Package state keeps the gateway's durable payment state in two JetStream
// key-value buckets, so that "nothing is paid twice" holds across crashes,
// restarts and redeliveries:
//
//   - [Batches] is the batch state machine (bucket "batches", one key per
//     pain.001 MsgId). Every change is a compare-and-set on the key's
//     revision: two workers can never both move one batch, and a conflict is
//     re-read and re-checked, never overwritten.
//   - [Intents] maps an intent id to the batch that took it, or records
//     its rejection (bucket "intents"). Both are create-only writes, so an
//     intent is batched at most once however late a copy comes. The
//     intent's payment status lives on its pay.status.<intent> subject,
//     not here.
//
// The batch states and the moves allowed from each ([State.CanMove]):
//
//	open                 → encoded, failed
//	encoded              → submitting, failed
//	submitting           → submitted, in_doubt, failed
//	in_doubt             → submitted (the bank has the file), encoded (it has not: re-send)
//	submitted            → accepted, partially_accepted, rejected
//	accepted             → settled
//	partially_accepted   → settled
//	rejected, settled, failed: terminal
//
// A batch in in_doubt may have reached the bank: it leaves in_doubt only
// through a status query (known to the bank → submitted, unknown → encoded,
// to be re-sent byte for byte). Failed is reached only while the bank cannot
// have the file (from open, encoded, or submitting on a refused upload), so
// a batch that may be paid is never reported failed. Rejected is terminal:
// nothing of a rejected batch is booked, so it is never settled. Keys are
// [messages.SubjectToken] of the id; records are JSON.
//
// How the workers use it:
//
//   - encoder: [Intents.Claim] each intent for its batch before adding it
//     (claimed false: another batch has it; ack and skip); archive the
//     pain.001; then [Batches.Create] the batch encoded (or move it open →
//     encoded); publish pay.batch.encoded; ack. An intent claimed by a batch
//     whose encoder died is freed with [Batches.Abandon] then
//     [Intents.Release]: Abandon is a compare-and-set against open → encoded,
//     so either the batch is never sent or the intent stays in it.
//   - submitter: [Batches.Transition] to submitting before the upload. A
//     [*TransitionError] matching [ErrIllegalTransition] means another
//     worker has the batch or it is past that point: ack. [ErrAlreadyInState]
//     means this step was made before (a redelivery after a crash): whether
//     the upload happened is unknown, so go to in_doubt. At start,
//     [Batches.List] of submitting finds the batches to treat as in doubt.
//   - statuspoller: [Batches.Update] keeps the group status and
//     [Batches.Transition] moves the batch on once every intent's last
//     pay.status is final.
//   - reconciler: [Batches.Transition] to settled once every accepted
//     payment is booked.
package state
