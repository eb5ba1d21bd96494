// Package messages is the messaging contract of isogate: the events the
// gateway's workers publish and consume on NATS JetStream, the subjects and
// streams they live on, and the JSON Schemas that describe them to
// producers not written in Go. It imports only the standard library.
//
// # Events
//
// Every event is a JSON object with a "type" and a "version" field (see the
// Type* constants and [Version1]) and one Go struct here: [PaymentIntent],
// [IntentRejected], [BatchEncoded], [BatchSubmitted], [BatchFailed],
// [BatchInDoubt], [PaymentStatus], [PaymentSettled], [StatementEntry],
// [StatementReport], [StatementGap], [StatementUnmatched], [DeadLetter], [CertExpiring],
// [CertRenewed] and [CertRenewalFailed]. Money is always a decimal string
// plus an ISO 4217 currency, never a float. Payment events carry
// "intent_id" (the intent id, which is also the pain.001 EndToEndId) and/or
// "batch_id" (the pain.001 MsgId), so one payment can be followed from
// intent to settlement. [Marshal] fills in type and version.
//
// # Intents
//
// [ParseIntent] is the one way to read an intent from the outside: it
// decodes strictly (unknown fields, duplicate keys and wrong JSON types are
// errors, with their JSON path) and applies every field rule of
// [PaymentIntent.Validate], reporting all problems at once as
// [ValidationErrors], or a [*JSONError] for input that is not a JSON object.
// The building blocks are exported for the other packages: [ValidIBAN],
// [ValidBIC], [ValidAmount], [CurrencyMinorUnits]. [MaskIBAN], [MaskName]
// and [PaymentIntent.LogValue] keep account data out of logs.
//
// # Subjects and streams
//
// Each intent has its own subject, pay.intent.<token> ([IntentSubject]),
// where the token is the id itself or, when the id has characters a subject
// token cannot hold, an injective base64 form ([SubjectToken]). Publishing
// with [HeaderExpectedLastSubjectSeq] set to "0" then lets the stream refuse
// a second intent with a known id forever, not only within the duplicate
// window of [HeaderMsgID]. Statement entries do the same on
// stmt.entry.<account>.<entry key> ([StatementEntrySubject]), and unmatched
// entries on stmt.unmatched.<account>.<entry key>.<tx index>
// ([StatementUnmatchedSubject]). [Streams] and the Bucket* constants are
// plain data the runtime turns into JetStream configuration.
//
// # Schemas
//
// The folder schema/ holds one JSON Schema (draft 2020-12) per event,
// generated from the Go types and their `schema` and `doc` struct tags by
// [Schemas]. After changing an event, run
//
//	go generate ./messages
//
// and commit the result; a test fails while the files are out of date.
package messages
