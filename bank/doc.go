// Package bank is the gateway's side of a bank connection: the [Channel]
// interface (submit a pain.001, ask for its pain.002, request camt
// statements with a camt.060) and the classified errors that let a caller
// decide what to do. Adapters live in subpackages: h2h (ISO 20022 over
// HTTPS with client certificates) and filedrop (outbox/inbox folders for
// host-to-host software); channeltest is the contract suite both pass
// against banksim.
//
// # Error classes
//
// Every error a Channel returns is a [*Error] (Op, MsgID, Class, HTTP
// Status, the bank's Body, the cause) matching exactly one sentinel with
// errors.Is:
//
//   - [ErrTransient]: nothing happened at the bank that a retry could
//     repeat. Retry with backoff.
//   - [ErrPermanent]: refused, and the same request will be refused again
//     (Body holds the bank's pain.002 when it sent one). The batch fails.
//   - [ErrOutcomeUnknown] (Submit only): the file may or may not have
//     arrived. Never re-send blindly: put the batch in_doubt and call
//     Status. Found → submitted. [ErrUnknownToBank] → re-send the same
//     bytes (for h2h with signing, the prepared bytes: see [Preparer]).
//   - [ErrDuplicate] (Submit only): the bank already has this MsgId and
//     booked nothing for this upload. Settle with Status like an unknown
//     outcome: usually an earlier attempt of the same batch arrived.
//   - [ErrUnknownToBank] (Status only): the bank has nothing for the MsgId.
//
// # Mapping per operation
//
// h2h (HTTP; "body sent" means the transport took at least one byte of the
// request body — uploads send "Expect: 100-continue", so a server that
// refuses early does so before the body):
//
//	operation  outcome                                           class
//	---------  ------------------------------------------------  ---------------
//	Submit     2xx with a receipt {msg_id, received_at, sha256}  success
//	Submit     2xx, receipt unreadable/truncated/other MsgId     OutcomeUnknown
//	Submit     2xx, receipt SHA-256 ≠ the bytes sent             Permanent
//	Submit     409 (pain.002 RJCT DUPL)                          Duplicate
//	Submit     400, 401, 403, 404, 405, 413, 415, 422, 3xx, …    Permanent
//	Submit     417 before the body (no 100-continue support)     sent again once, plainly
//	Submit     408, 425, 429                                     Transient
//	Submit     5xx before the body was sent                      Transient
//	Submit     5xx after the body was sent                       OutcomeUnknown
//	Submit     dial/TLS failure, reset, close, timeout before
//	           any body byte was sent                            Transient
//	Submit     TLS alert refusing the client certificate          Transient
//	Submit     reset, close, timeout, broken pipe after the
//	           body began to be sent (no answer)                 OutcomeUnknown
//	Submit     signing key unavailable (certstore)               Transient
//	Submit     not a document with that MsgId, cannot be signed  Permanent
//	Status     200 with a complete pain.002 for the MsgId        success
//	Status     200, pain.002 for another OrgnlMsgId              Permanent
//	Status     200, truncated/malformed/not a pain.002; other 2xx Transient
//	Status     404                                               UnknownToBank
//	Status     408, 425, 429, 5xx, any transport failure         Transient
//	Status     other 4xx, 3xx                                    Permanent
//	Reports    200 with a complete camt.052/053/054              one document
//	Reports    204                                               no documents
//	Reports    200 truncated/malformed; other 2xx                Transient
//	Reports    408, 425, 429, 5xx, any transport failure         Transient
//	Reports    other 4xx (a camt.060 the bank refuses), 3xx      Permanent
//	Health     2xx                                               nil
//	Health     408, 425, 429, 5xx, any transport failure         Transient
//	Health     other                                             Permanent
//
// filedrop (no network; the outbox is the bank's door):
//
//	operation  outcome                                           class
//	---------  ------------------------------------------------  ---------------
//	Submit     written (or already there/archived, same bytes)   success
//	Submit     same MsgId with other bytes (outbox or archive)   Duplicate
//	Submit     I/O failure before the rename into the outbox     Transient
//	Submit     rename done, folder fsync failed                  OutcomeUnknown
//	Submit     no MsgId, document's MsgId differs                Permanent
//	Status     a complete pain.002 for the MsgId (inbox/archive) success
//	Status     nothing yet                                       UnknownToBank
//	Status     I/O failure                                       Transient
//	Reports    camt.060 handed over; documents so far (0..n)     success
//	Reports    not a well-formed camt.060 with a MsgId           Permanent
//	Reports    the bank's refusal in the inbox (a non-XML file
//	           named "<MsgId>.xml.…", e.g. ….xml.error.txt)      Permanent
//	Reports    camt.060 MsgId reused with other bytes            Duplicate
//	Reports    I/O failure                                       Transient
//
// Context cancellation by the caller is classified like any transport
// failure at that point (an upload cancelled after its body began is
// OutcomeUnknown).
package bank
