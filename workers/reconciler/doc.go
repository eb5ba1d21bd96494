// Package reconciler is the reconciler worker: it consumes the statement
// entries the statements worker publishes (stmt.entry.>, one event per
// transaction) and matches booked debits to the payments this gateway made.
//
// # Matching, in order
//
//  1. An entry that is not booked (PDNG, INFO) is acknowledged and left:
//     its booking comes as another entry key.
//  2. A reversal → stmt.unmatched "reversal"; a charge (bank transaction
//     code family/sub-family CHRG, or domain ACMT) → "charge"; a credit →
//     "incoming_credit": money we did not send.
//  3. A debit whose EndToEndId is a known intent (KV "intents" gives its
//     batch): its amount and currency must equal the intent's (read from
//     pay.intent.<id>), and it must be booked on the intent's debtor
//     account → [messages.PaymentSettled]; otherwise "amount_mismatch",
//     "currency_mismatch" or "account_mismatch". An intent the bank
//     rejected (its last pay.status RJCT/CANC) that is booked anyway →
//     "not_accepted".
//  4. A debit without EndToEndId whose MsgId (or PmtInfId, the batch id
//     with "-<n>") names a batch of ours is a batch booking: it settles
//     every intent of the batch not rejected, if its amount equals their
//     sum → one pay.settled per intent; otherwise "amount_mismatch".
//  5. Any other debit → "unknown_reference" (references we never sent) or
//     "no_reference".
//
// # Once per intent, forever
//
// pay.settled.<intent> is published with Nats-Msg-Id "settled:"+intent and
// Nats-Expected-Last-Subject-Sequence "0": the stream refuses a second
// settlement of an intent however late it comes. When it refuses, the
// existing event is read: the same entry key is a redelivery (nothing to
// do); another entry settling an already settled intent becomes
// stmt.unmatched "already_settled". stmt.unmatched goes to
// stmt.unmatched.<account>.<entry key>.<tx index> the same way, so it too
// is published once per entry transaction.
//
// # KV updates
//
// When every intent of a batch that the bank did not reject (last
// pay.status RJCT/CANC) is settled, the batch moves accepted|partially_accepted →
// settled by compare-and-set. A batch still waiting for its final pain.002
// (submitted) makes the handler fail, and the message comes back after the
// backoff until the status poller has moved it; the pay.settled already
// stored is not published again.
//
// The intent records (which batch claimed an intent) are read, not
// written, and so is an intent's status: the bank's pain.002 status, on
// pay.status.<intent>, which the status poller owns. An intent's
// settlement is its pay.settled.<intent> subject (the reconciler checks it
// there, with an in-process cache).
//
// Everything is stored before the handler returns nil, so the message is
// acked only after it (workers' handler contract).
package reconciler
