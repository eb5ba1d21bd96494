package messages

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
)

// plainToken reports whether SubjectToken leaves s unchanged: s is not
// empty and every byte of it is an ASCII letter, digit, '_' or '-' (the
// language of the regular expression ^[A-Za-z0-9_-]+$, which
// TestPlainTokenMatchesRegexp compares it with). A byte loop, because it runs
// several times for every intent.
func plainToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// SubjectToken turns s (an intent id, a batch id, an account) into one NATS
// subject token. A string of letters, digits, '_' and '-' is used as is;
// anything else (dots, spaces, '*', '>', non-ASCII, the empty string) becomes
// "=" followed by the unpadded URL-safe base64 of its bytes. The mapping is
// injective, so two different ids never share a subject, and its output is
// also a valid JetStream KV key. [ParseSubjectToken] reverses it.
func SubjectToken(s string) string {
	if plainToken(s) {
		return s
	}
	return "=" + base64.RawURLEncoding.EncodeToString([]byte(s))
}

// ParseSubjectToken returns the string SubjectToken made tok from. It
// refuses any token SubjectToken does not produce, including a "=" form of
// a string that would have been used as is, so the two are a bijection.
func ParseSubjectToken(tok string) (string, error) {
	if plainToken(tok) {
		return tok, nil
	}
	if tok == "" || tok[0] != '=' {
		return "", fmt.Errorf("messages: invalid subject token %q", tok)
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(tok[1:])
	if err != nil {
		return "", fmt.Errorf("messages: invalid subject token %q: %w", tok, err)
	}
	s := string(b)
	// Not canonical: the plain form of s, or base64 with CR/LF in it (the
	// decoder skips those even in strict mode).
	if want := SubjectToken(s); want != tok {
		return "", fmt.Errorf("messages: subject token %q is not canonical: want %q", tok, want)
	}
	return s, nil
}

// LastToken returns the last token of a subject, as ParseSubjectToken reads
// it: LastToken("pay.status.INV-1") is "INV-1".
func LastToken(subject string) (string, error) {
	for i := len(subject) - 1; i >= 0; i-- {
		if subject[i] == '.' {
			return ParseSubjectToken(subject[i+1:])
		}
	}
	return "", errors.New("messages: subject has a single token: " + subject)
}

// Subject filters, one per event family. Each concrete subject below ends
// in a [SubjectToken]. pay.intent.rejected.<id> has four tokens, so it never
// matches SubjectIntents.
const (
	SubjectIntents            = "pay.intent.*"          // PaymentIntent, one subject per intent id
	SubjectIntentsRejected    = "pay.intent.rejected.*" // IntentRejected
	SubjectBatches            = "pay.batch.>"           // every batch event
	SubjectBatchesEncoded     = "pay.batch.encoded.*"   // BatchEncoded
	SubjectBatchesSubmitted   = "pay.batch.submitted.*" // BatchSubmitted
	SubjectBatchesFailed      = "pay.batch.failed.*"    // BatchFailed
	SubjectBatchesInDoubt     = "pay.batch.in_doubt.*"  // BatchInDoubt
	SubjectStatuses           = "pay.status.*"          // PaymentStatus
	SubjectSettled            = "pay.settled.*"         // PaymentSettled
	SubjectStatementEntries   = "stmt.entry.*.*"        // StatementEntry, one subject per account and entry key
	SubjectStatementUnmatched = "stmt.unmatched.*.*.*"  // StatementUnmatched, one subject per entry transaction
	SubjectStatementReports   = "stmt.report.*"         // StatementReport
	SubjectStatementGaps      = "stmt.gap.*"            // StatementGap
	SubjectDeadLetters        = "dlq.*"                 // DeadLetter
	SubjectOps                = "ops.>"                 // every operations event

	SubjectCertExpiring      = "ops.cert.expiring"       // CertExpiring
	SubjectCertRenewed       = "ops.cert.renewed"        // CertRenewed
	SubjectCertRenewalFailed = "ops.cert.renewal_failed" // CertRenewalFailed
)

// IntentSubject is the subject of the intent with the given id:
// "pay.intent.<token>". Each intent has its own subject, so publishing with
// [HeaderExpectedLastSubjectSeq] "0" makes the stream refuse a second
// message for a known id, however late it comes.
func IntentSubject(id string) string { return "pay.intent." + SubjectToken(id) }

// IntentRejectedSubject is "pay.intent.rejected.<token>". Rejections of
// input whose id could not be read share the token of the empty id, "=".
func IntentRejectedSubject(id string) string { return "pay.intent.rejected." + SubjectToken(id) }

// BatchEncodedSubject is "pay.batch.encoded.<token>" for a batch (pain.001 MsgId).
func BatchEncodedSubject(batchID string) string { return "pay.batch.encoded." + SubjectToken(batchID) }

// BatchSubmittedSubject is "pay.batch.submitted.<token>".
func BatchSubmittedSubject(batchID string) string {
	return "pay.batch.submitted." + SubjectToken(batchID)
}

// BatchFailedSubject is "pay.batch.failed.<token>".
func BatchFailedSubject(batchID string) string { return "pay.batch.failed." + SubjectToken(batchID) }

// BatchInDoubtSubject is "pay.batch.in_doubt.<token>".
func BatchInDoubtSubject(batchID string) string { return "pay.batch.in_doubt." + SubjectToken(batchID) }

// StatusSubject is "pay.status.<token>" for an intent id.
func StatusSubject(intentID string) string { return "pay.status." + SubjectToken(intentID) }

// SettledSubject is "pay.settled.<token>" for an intent id.
func SettledSubject(intentID string) string { return "pay.settled." + SubjectToken(intentID) }

// StatementEntrySubject is "stmt.entry.<account token>.<key token>" for an
// account (IBAN) and an entry key ([StatementEntry].EntryKey). Each booking
// has its own subject, so publishing with [HeaderExpectedLastSubjectSeq]
// "0" lets the stream refuse a second copy of an entry forever, not only
// within the duplicate window.
func StatementEntrySubject(account, entryKey string) string {
	return "stmt.entry." + SubjectToken(account) + "." + SubjectToken(entryKey)
}

// StatementEntriesOf is the filter of every entry of one account:
// "stmt.entry.<account token>.*".
func StatementEntriesOf(account string) string { return "stmt.entry." + SubjectToken(account) + ".*" }

// StatementUnmatchedSubject is "stmt.unmatched.<account token>.<key
// token>.<tx index>": one subject per transaction of an entry, so it too is
// published once, ever.
func StatementUnmatchedSubject(account, entryKey string, txIndex int) string {
	return "stmt.unmatched." + SubjectToken(account) + "." + SubjectToken(entryKey) + "." + strconv.Itoa(txIndex)
}

// StatementReportSubject is "stmt.report.<token>" for an account (IBAN).
func StatementReportSubject(account string) string { return "stmt.report." + SubjectToken(account) }

// StatementGapSubject is "stmt.gap.<token>" for an account (IBAN).
func StatementGapSubject(account string) string { return "stmt.gap." + SubjectToken(account) }

// DeadLetterSubject is "dlq.<token>" for a worker ("dlq.submitter").
func DeadLetterSubject(worker string) string { return "dlq." + SubjectToken(worker) }

// NATS and JetStream header names the gateway sets.
const (
	// HeaderMsgID is JetStream's de-duplication id, only honoured within
	// the stream's duplicate window.
	HeaderMsgID = "Nats-Msg-Id"
	// HeaderExpectedLastSubjectSeq makes a publish fail unless the last
	// message on its subject has this sequence; "0" means "no message yet".
	HeaderExpectedLastSubjectSeq = "Nats-Expected-Last-Subject-Sequence"
)

// A StreamSpec names a JetStream stream and the subjects it holds. The
// runtime adds storage, replicas and limits when it creates the stream.
type StreamSpec struct {
	Name        string
	Description string
	Subjects    []string
}

// Stream names.
const (
	StreamPayments   = "PAYMENTS"
	StreamStatements = "STATEMENTS"
	StreamDLQ        = "DLQ"
	StreamOps        = "OPS"
)

// Streams lists the gateway's JetStream streams. Their subject sets do not
// overlap.
var Streams = []StreamSpec{
	{Name: StreamPayments, Description: "payment intents, batches, statuses and settlements", Subjects: []string{"pay.>"}},
	{Name: StreamStatements, Description: "bank statement entries, reports and gaps", Subjects: []string{"stmt.>"}},
	{Name: StreamDLQ, Description: "messages a worker gave up on, with the error and attempts", Subjects: []string{"dlq.>"}},
	{Name: StreamOps, Description: "certificate and health events", Subjects: []string{"ops.>"}},
}

// Key-value buckets and the object store.
const (
	BucketBatches      = "batches" // batch state machine, keyed by batch id
	BucketIntents      = "intents" // intent id → the batch that claimed it, or its rejection
	BucketCursors      = "cursors" // last statement fetched per account and message type
	ObjectStoreArchive = "archive" // every XML file sent or received, by SHA-256
)
