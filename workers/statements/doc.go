// Package statements is the statements worker: per configured account, on
// a schedule, it asks the bank for statements with a camt.060 through
// [bank.Channel].Reports — camt.053 for every closed day not yet received,
// camt.052 for today, and camt.054 for today where the account's profile
// has a camt.054 version — archives every document (the camt.060 too),
// decodes it entry by entry (xmlcodec's streaming decoder, so a large
// camt.053 never becomes one tree), publishes one [messages.StatementEntry]
// per transaction and one [messages.StatementReport] per statement, checks
// the sequence numbers and balances per account, and only then advances
// the account's cursor in KV "cursors".
//
// # One event per transaction
//
// Each TxDtls of an entry (Ntry) is one stmt.entry event, with the entry's
// own fields repeated and the transaction in Transactions (TxIndex 1..n,
// TxCount n). An entry without TxDtls is one event too (TxIndex 0,
// TxCount 0, no transactions): a booking is never left out because the
// bank gave no details.
//
// # De-duplication key, and where it holds
//
// Every event has an entry key, the first of these that applies:
//
//  1. ref/<AcctSvcrRef>: the transaction's Refs/AcctSvcrRef, else the
//     entry's AcctSvcrRef; with "/<TxIndex>" appended when the entry has
//     more than one TxDtls (banks often repeat the entry's reference in
//     each);
//  2. e2e/<booking date>/<CRDT|DBIT>/<EndToEndId> — or tx/<booking
//     date>/<CRDT|DBIT>/<TxId> when the EndToEndId is missing or
//     NOTPROVIDED — when the booking date is known (the account is in the
//     subject);
//  3. hash/<SHA-256 of the entry's and the transaction's content>/<n>,
//     where n counts identical content within one statement (1, 2, …):
//     two identical bookings in one statement stay two, and the same
//     statement received again maps to the same keys.
//
// A key is prefixed with "<status>/" when the entry is not booked (PDNG,
// INFO), so a pending entry does not hide its later booking.
//
// The key is enforced by the stream, forever: the event goes to its own
// subject stmt.entry.<account token>.<key token>
// ([messages.StatementEntrySubject]) published with
// Nats-Expected-Last-Subject-Sequence "0", the way intents are on
// pay.intent.<id>. A second publish of a key is refused (wrong last
// sequence; within the duplicate window the Nats-Msg-Id "stmt:<account>:<key>"
// already drops it) however late it comes: an overlapping camt.052, the
// closed day's camt.053 repeating the intraday entries, a camt.054, a
// re-request after a gap or a crash. This was chosen over a create-only
// KV write because it makes the event and the de-duplication record one
// write. It holds as long as the STATEMENTS stream keeps its messages (no
// MaxAge on it, the default of internal/provision). Each process also
// remembers the subjects it saw stored (up to 200,000) and skips them
// without a publish: an intraday report repeats the whole day so far.
//
// # Sequence and balance continuity
//
// The cursor of an account and message family (KV "cursors", key
// "<account token>.camt05x") holds the last ElctrncSeqNb, and for camt.053
// the last day and its closing balance. A camt.053 must be the next number
// (or, with no number yet, the next day from [Account].StartDate); one
// further on publishes a [messages.StatementGap] and re-requests the
// missing days at once; the cursor moves past a statement only once
// everything before it arrived. Its opening balance must equal the last
// closing balance, and opening + entries must equal its closing balance;
// otherwise a stmt.gap says so (the entries are still published). A
// camt.052 or camt.054 numbered beyond the next publishes a stmt.gap but is
// not re-requested: their numbers count requests at most banks (banksim
// too), so a skipped number cannot be asked for again; the cursor takes
// the new number, and the closed day's camt.053 — whose numbers are per
// day and are re-requested — carries every entry. An entry the decoder
// cannot read also stops the cursor and is reported as a stmt.gap.
//
// # Acknowledge after persist
//
// The cursor is this worker's acknowledgement: it is written (compare-and-
// set on its revision) only after the statement's document is archived and
// every entry and the report are stored in the stream. A crash before it
// repeats the request on the next poll, and the entry keys drop what was
// published already.
package statements
