// Package banksim is a simulated bank that speaks isogate's h2h protocol:
// ISO 20022 over HTTPS with client certificates. It is what the gateway's
// end-to-end and fault tests run against, and what a user can run on its
// own (`isogate banksim`) as an ISO 20022 sandbox.
//
// A [Bank] is the core: accounts with balances (integer minor units, never
// float), a strict validation of each pain.001, a status play-out that
// follows the injected clock, and the entries that camt.052/053/054
// statements report. [Bank.Handler] maps it to HTTP with seeded fault
// injection; [Start] serves it over HTTPS with mutual TLS; [Bank.ProcessFolders]
// is the host-to-host (outbox/inbox) front end.
//
// # Validation
//
// A file is refused as a whole (HTTP 400, pain.002 GrpSts RJCT) when it is
// not well-formed (FF01), not the profile's pain.001 version (FF01), has a
// GrpHdr or PmtInf NbOfTxs that does not count its transactions (AM18) or
// a CtrlSum that does not add up exactly (AM10), or holds an IBAN whose
// check digits are wrong (AC01 for a creditor, AC02 for a debtor). A
// missing or bad signature when [Config.VerifySignature] is set is DS0A
// (missing), DS0B (does not verify) or DS0E (neither the TLS client's
// certificate nor another valid one of the same client issued by
// ClientCAs, as a re-send signed before a renewal carries); such a file is
// not recorded. A MsgId the bank already has
// is HTTP 409 with GrpSts RJCT and reason DUPL; nothing is booked, and
// the status of the original file is still served. A body sent with a
// Content-Type other than application/xml or text/xml is refused with 415.
//
// # Deterministic rejections
//
// Each transaction of an accepted file is checked in document order, and
// the first rule that applies rejects it (TxSts RJCT):
//
//   - DUPL: its EndToEndId was already booked (in this or an earlier file).
//   - AC02: the debtor account is not an account of the bank.
//   - AM03: the currency is not the debtor account's currency.
//   - AM12: the amount has more decimals than the currency allows.
//   - AC01: the creditor IBAN ends in "9999"; AC04 (closed): ends in
//     "9998"; AC06 (blocked): ends in "9997".
//   - any code: the remittance information starts with "SIMRJCT:" followed
//     by a four-character reason code ("SIMRJCT:AG01 …" → AG01).
//   - AM02: the amount is over 1,000,000,000.00 (the bank's limit).
//   - AM04: the amount exceeds the debtor account's available balance
//     (opening balance + credits booked so far − every accepted debit).
//
// # Status play-out
//
// Stages follow the clock from the moment of receipt: RCVD until
// [Delays].Accept has passed, then ACTC; after a further Delays.Process,
// ACSP with every transaction's status (RJCT with its reason, or ACSP),
// PART when some are rejected, RJCT when all are; after a further
// Delays.Settle, ACSC for the accepted ones (group ACSC, or PART). The
// accepted transactions are booked as debit entries at the settlement
// time. The requested execution date is not waited for.
//
// # Statements
//
// Days are UTC days. The bank opens its books on the day of [NewBank]; each
// account has one end-of-day statement (camt.053) per closed day, numbered
// ElctrncSeqNb 1, 2, 3… by day, so the numbers are contiguous whatever
// order they are asked for. camt.052 reports today's booked entries so
// far; camt.054 notifies the entries booked in the requested period. Next
// to the payments it books (one debit entry per transaction, BkTxCd
// PMNT-ICDT-ESCT, with MsgId, PmtInfId and EndToEndId in its references),
// the bank adds seeded incoming credits (zero to three per account and
// day, PMNT-RCDT-ESCT, from the seed, the account and the day only) and a
// charge per accepted PmtInf (0.15 per accepted transaction,
// ACMT-MDOP-CHRG), so reconciliation meets entries it did not initiate.
//
// # Books
//
// The books live for the bank's lifetime. What only pain.002 details and
// statements read — each file's transactions, each entry's references and
// texts — is written to an unlinked temporary file as the file is booked
// and read back when asked for; amounts, times and the EndToEndId registry
// (by hash, confirmed against the file on a hit) stay in memory, about 120
// bytes per booked transaction. If the disk fails, the bank keeps new books
// in memory; what it cannot read back it answers with HTTP 500, and an
// EndToEndId whose booking it cannot check is refused (DUPL).
//
// # Faults
//
// [Bank.Handler] applies [Faults] (rates drawn from the seeded generator,
// one draw per request, so a seed and a request sequence give the same
// faults) and [Bank.FailNext] (the next n requests that can suffer a
// fault suffer it). A reset, an error (503) and a timeout happen before
// the request is processed: nothing is booked. Drop-after-accept (uploads
// only) and malformed happen after: the upload is booked, and the client
// sees the connection close, or a truncated body. /v1/health and /sim/*
// are never faulted.
package banksim
