package messages

import (
	"encoding/json"
	"time"
)

// Event type names, the value of each event's "type" field. Every event of
// this package is at [Version1].
const (
	TypeIntentRejected     = "pay.intent.rejected"
	TypeBatchEncoded       = "pay.batch.encoded"
	TypeBatchSubmitted     = "pay.batch.submitted"
	TypeBatchFailed        = "pay.batch.failed"
	TypeBatchInDoubt       = "pay.batch.in_doubt"
	TypePaymentStatus      = "pay.status"
	TypePaymentSettled     = "pay.settled"
	TypeStatementEntry     = "stmt.entry"
	TypeStatementReport    = "stmt.report"
	TypeStatementGap       = "stmt.gap"
	TypeStatementUnmatched = "stmt.unmatched"
	TypeDeadLetter         = "dlq.message"
	TypeCertExpiring       = "ops.cert.expiring"
	TypeCertRenewed        = "ops.cert.renewed"
	TypeCertRenewalFailed  = "ops.cert.renewal_failed"
)

// Rejection sources: which step refused an intent.
const (
	SourcePublish = "publish" // the publishing client (isogate publish) or the intake
	SourceEncoder = "encoder" // the encoder worker, before batching
)

// IntentRejected says an intent will not be paid because it is invalid
// (event "pay.intent.rejected", on [IntentRejectedSubject]). It is a
// terminal event: the intent id is spent.
type IntentRejected struct {
	Type       string    `json:"type"`
	Version    int       `json:"version"`
	IntentID   string    `json:"intent_id,omitempty" doc:"id of the intent as read, when it could be read; it may itself be invalid"`
	RejectedAt time.Time `json:"rejected_at"`
	Source     string    `json:"source" schema:"minLength=1" doc:"the step that refused the intent: publish or encoder"`
	// Errors lists every problem found ([RejectionErrors] builds it).
	Errors []FieldError `json:"errors" schema:"minItems=1"`
	// Intent is the intent as received; use [RawJSON] to fill it, which
	// keeps input that is not JSON as a JSON string.
	Intent json.RawMessage `json:"intent,omitempty" doc:"the intent as received: the JSON value, or a string when it was not JSON"`
}

// BatchEncoded says a batch of intents was encoded into one pain.001 file,
// archived before this event was published (event "pay.batch.encoded").
type BatchEncoded struct {
	Type      string    `json:"type"`
	Version   int       `json:"version"`
	BatchID   string    `json:"batch_id" schema:"minLength=1,maxLength=35" doc:"pain.001 GrpHdr/MsgId"`
	Profile   string    `json:"profile" schema:"pattern=^[a-z0-9_-]{1,32}$"`
	Message   string    `json:"message" schema:"minLength=1" doc:"ISO 20022 message id, such as pain.001.001.03"`
	CreatedAt time.Time `json:"created_at" doc:"pain.001 GrpHdr/CreDtTm"`
	// DebtorIBAN and DebtorBIC are the account all payments leave from.
	DebtorIBAN string `json:"debtor_iban" schema:"pattern=^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$"`
	DebtorBIC  string `json:"debtor_bic,omitempty" schema:"pattern=^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$"`
	Currency   string `json:"currency" schema:"pattern=^[A-Z]{3}$"`
	NbOfTxs    int    `json:"nb_of_txs" schema:"minimum=1" doc:"pain.001 GrpHdr/NbOfTxs"`
	CtrlSum    string `json:"ctrl_sum" schema:"pattern=^(0|[1-9][0-9]*)(\\.[0-9]+)?$" doc:"pain.001 GrpHdr/CtrlSum: the exact sum of the amounts"`
	// IntentIDs are the intents in the batch, in file order.
	IntentIDs     []string `json:"intent_ids" schema:"minItems=1,items.minLength=1,items.maxLength=35"`
	ArchiveObject string   `json:"archive_object" schema:"minLength=1" doc:"object name of the pain.001 file in the archive object store"`
	ArchiveSHA256 string   `json:"archive_sha256" schema:"pattern=^[0-9a-f]{64}$"`
	ArchiveSize   int64    `json:"archive_size" schema:"minimum=1"`
}

// BatchSubmitted says the bank accepted the upload of a batch file (event
// "pay.batch.submitted"); the payment status follows in [PaymentStatus].
type BatchSubmitted struct {
	Type          string    `json:"type"`
	Version       int       `json:"version"`
	BatchID       string    `json:"batch_id" schema:"minLength=1,maxLength=35"`
	SubmittedAt   time.Time `json:"submitted_at"`
	Channel       string    `json:"channel" schema:"minLength=1" doc:"bank channel adapter, such as h2h or filedrop"`
	BankRef       string    `json:"bank_ref,omitempty" doc:"the bank's reference for the upload, when it gives one"`
	Attempt       int       `json:"attempt" schema:"minimum=1"`
	ArchiveSHA256 string    `json:"archive_sha256" schema:"pattern=^[0-9a-f]{64}$"`
}

// BatchFailed says a batch could not be delivered or was refused as a
// whole (event "pay.batch.failed"). With Permanent set, no retry will
// follow and its intents end here.
type BatchFailed struct {
	Type      string    `json:"type"`
	Version   int       `json:"version"`
	BatchID   string    `json:"batch_id" schema:"minLength=1,maxLength=35"`
	FailedAt  time.Time `json:"failed_at"`
	Reason    string    `json:"reason" schema:"minLength=1"`
	Permanent bool      `json:"permanent"`
	IntentIDs []string  `json:"intent_ids" schema:"items.minLength=1,items.maxLength=35"`
}

// BatchInDoubt says an upload's outcome is unknown (a timeout after the
// request was sent). Nothing is re-sent until a status query settles it
// (event "pay.batch.in_doubt").
type BatchInDoubt struct {
	Type    string    `json:"type"`
	Version int       `json:"version"`
	BatchID string    `json:"batch_id" schema:"minLength=1,maxLength=35"`
	Since   time.Time `json:"since"`
	Reason  string    `json:"reason" schema:"minLength=1"`
}

// TxStatus is an ISO 20022 payment status code
// (ExternalPaymentTransactionStatus1Code, and the group status codes of
// pain.002 GrpSts).
type TxStatus string

// Payment status codes used by pain.002.
const (
	TxStatusRCVD TxStatus = "RCVD" // received
	TxStatusPDNG TxStatus = "PDNG" // pending
	TxStatusACTC TxStatus = "ACTC" // accepted technical validation
	TxStatusACCP TxStatus = "ACCP" // accepted customer profile
	TxStatusACFC TxStatus = "ACFC" // accepted, funds checked
	TxStatusACSP TxStatus = "ACSP" // accepted, settlement in process
	TxStatusACWC TxStatus = "ACWC" // accepted with change
	TxStatusACWP TxStatus = "ACWP" // accepted without posting
	TxStatusPATC TxStatus = "PATC" // partially accepted technical
	TxStatusPART TxStatus = "PART" // partially accepted (group status)
	TxStatusACSC TxStatus = "ACSC" // accepted, settlement completed (debtor side)
	TxStatusACCC TxStatus = "ACCC" // accepted, settlement completed (creditor side)
	TxStatusRJCT TxStatus = "RJCT" // rejected
	TxStatusCANC TxStatus = "CANC" // cancelled
)

// Final reports whether a transaction with this status will not change
// any more: ACSC, ACCC, RJCT or CANC.
func (s TxStatus) Final() bool {
	switch s {
	case TxStatusACSC, TxStatusACCC, TxStatusRJCT, TxStatusCANC:
		return true
	}
	return false
}

// A StatusReason is one pain.002 StsRsnInf: a reason code
// (ExternalStatusReason1Code, such as AC01), or a proprietary one, with
// the bank's additional information.
type StatusReason struct {
	Code        string   `json:"code,omitempty" schema:"maxLength=4"`
	Proprietary string   `json:"proprietary,omitempty" schema:"maxLength=35"`
	Info        []string `json:"info,omitempty" schema:"items.maxLength=105"`
}

// PaymentStatus is the bank's status of one intent from a pain.002 (event
// "pay.status", on [StatusSubject]). Final marks the terminal status.
type PaymentStatus struct {
	Type          string         `json:"type"`
	Version       int            `json:"version"`
	IntentID      string         `json:"intent_id" schema:"minLength=1,maxLength=35" doc:"the intent id, pain.002 OrgnlEndToEndId"`
	BatchID       string         `json:"batch_id" schema:"minLength=1,maxLength=35" doc:"pain.002 OrgnlMsgId"`
	PmtInfID      string         `json:"pmt_inf_id,omitempty" schema:"maxLength=35"`
	TxID          string         `json:"tx_id,omitempty" schema:"maxLength=35"`
	Status        TxStatus       `json:"status" schema:"pattern=^[A-Z]{4}$"`
	Final         bool           `json:"final"`
	GroupStatus   TxStatus       `json:"group_status,omitempty" schema:"pattern=^[A-Z]{4}$"`
	Reasons       []StatusReason `json:"reasons,omitempty"`
	ReceivedAt    time.Time      `json:"received_at"`
	ArchiveSHA256 string         `json:"archive_sha256" schema:"pattern=^[0-9a-f]{64}$" doc:"SHA-256 of the archived pain.002"`
}

// CreditDebit is the ISO 20022 CreditDebitCode of an entry or balance.
type CreditDebit string

// Credit/debit indicators.
const (
	Credit CreditDebit = "CRDT"
	Debit  CreditDebit = "DBIT"
)

// PaymentSettled says a statement entry was matched to an intent: the
// money moved (event "pay.settled", on [SettledSubject]).
type PaymentSettled struct {
	Type           string      `json:"type"`
	Version        int         `json:"version"`
	IntentID       string      `json:"intent_id" schema:"minLength=1,maxLength=35"`
	BatchID        string      `json:"batch_id" schema:"minLength=1,maxLength=35"`
	Account        string      `json:"account" schema:"minLength=1,maxLength=34"`
	Amount         string      `json:"amount" schema:"pattern=^(0|[1-9][0-9]*)(\\.[0-9]+)?$"`
	Currency       string      `json:"currency" schema:"pattern=^[A-Z]{3}$"`
	CreditDebit    CreditDebit `json:"credit_debit" schema:"enum=CRDT|DBIT"`
	BookingDate    string      `json:"booking_date" schema:"format=date,pattern=^[0-9]{4}-[0-9]{2}-[0-9]{2}$"`
	ValueDate      string      `json:"value_date,omitempty" schema:"format=date,pattern=^[0-9]{4}-[0-9]{2}-[0-9]{2}$"`
	EntryRef       string      `json:"entry_ref,omitempty" schema:"maxLength=35"`
	AcctSvcrRef    string      `json:"acct_svcr_ref,omitempty" schema:"maxLength=35"`
	StatementMsgID string      `json:"statement_msg_id" schema:"minLength=1,maxLength=35"`
	EntryKey       string      `json:"entry_key,omitempty" doc:"the de-duplication key of the stmt.entry that settled the intent"`
	SettledAt      time.Time   `json:"settled_at"`
}

// EntryStatus is the status of a statement entry (BOOK, PDNG, INFO).
type EntryStatus string

// Entry statuses.
const (
	EntryBooked  EntryStatus = "BOOK"
	EntryPending EntryStatus = "PDNG"
	EntryInfo    EntryStatus = "INFO"
)

// StatementEntry is one transaction (TxDtls) of an entry (Ntry) of a
// camt.052/053/054 statement, or the entry itself when it has no TxDtls
// (event "stmt.entry", on [StatementEntrySubject] of the account and the
// entry key). The entry's own fields (amount, status, dates, references)
// are repeated in each transaction's event; Transactions holds that one
// transaction (empty for an entry without TxDtls). EntryKey identifies the
// booking for good: the statements worker publishes each key once, ever.
type StatementEntry struct {
	Type           string             `json:"type"`
	Version        int                `json:"version"`
	EntryKey       string             `json:"entry_key" schema:"minLength=1" doc:"de-duplication key: ref/<AcctSvcrRef>, e2e/<booking date>/<CRDT|DBIT>/<EndToEndId or TxId>, or hash/<content SHA-256>/<occurrence>; prefixed with <status>/ when not booked"`
	TxIndex        int                `json:"tx_index" schema:"minimum=0" doc:"position of the TxDtls in the entry (1-based); 0 for an entry without TxDtls"`
	TxCount        int                `json:"tx_count" schema:"minimum=0" doc:"number of TxDtls of the entry"`
	Message        string             `json:"message" schema:"minLength=1" doc:"ISO 20022 message id, such as camt.053.001.02"`
	MsgID          string             `json:"msg_id" schema:"minLength=1,maxLength=35" doc:"GrpHdr/MsgId of the statement"`
	ReportID       string             `json:"report_id" schema:"maxLength=35" doc:"Stmt/Id, Rpt/Id or Ntfctn/Id"`
	Account        string             `json:"account" schema:"minLength=1,maxLength=34"`
	EntryRef       string             `json:"entry_ref,omitempty" schema:"maxLength=35"`
	AcctSvcrRef    string             `json:"acct_svcr_ref,omitempty" schema:"maxLength=35"`
	Amount         string             `json:"amount" schema:"pattern=^(0|[1-9][0-9]*)(\\.[0-9]+)?$" doc:"the entry's amount (Ntry/Amt); the transaction's is in transactions"`
	Currency       string             `json:"currency" schema:"pattern=^[A-Z]{3}$"`
	CreditDebit    CreditDebit        `json:"credit_debit" schema:"enum=CRDT|DBIT"`
	Status         EntryStatus        `json:"status" schema:"minLength=1,maxLength=4"`
	BookingDate    string             `json:"booking_date,omitempty" schema:"format=date,pattern=^[0-9]{4}-[0-9]{2}-[0-9]{2}$"`
	ValueDate      string             `json:"value_date,omitempty" schema:"format=date,pattern=^[0-9]{4}-[0-9]{2}-[0-9]{2}$"`
	Reversal       bool               `json:"reversal,omitempty"`
	BankTxCode     string             `json:"bank_tx_code,omitempty" doc:"BkTxCd: Domn/Cd-Fmly/Cd-SubFmlyCd, or the proprietary code"`
	BatchCount     int                `json:"batch_count,omitempty" schema:"minimum=0"`
	AdditionalInfo string             `json:"additional_info,omitempty" doc:"AddtlNtryInf"`
	Transactions   []EntryTransaction `json:"transactions,omitempty" doc:"the one transaction this event is about; empty for an entry without TxDtls"`
	ArchiveSHA256  string             `json:"archive_sha256,omitempty" schema:"pattern=^[0-9a-f]{64}$" doc:"SHA-256 of the archived statement the entry was first read from"`
}

// An EntryTransaction is one transaction (TxDtls) of a statement entry.
type EntryTransaction struct {
	EndToEndID        string        `json:"end_to_end_id,omitempty" schema:"maxLength=35" doc:"the intent id for payments this gateway made"`
	TxID              string        `json:"tx_id,omitempty" schema:"maxLength=35"`
	MsgID             string        `json:"msg_id,omitempty" schema:"maxLength=35" doc:"Refs/MsgId: the batch id for payments this gateway made"`
	PmtInfID          string        `json:"pmt_inf_id,omitempty" schema:"maxLength=35"`
	AcctSvcrRef       string        `json:"acct_svcr_ref,omitempty" schema:"maxLength=35"`
	Amount            string        `json:"amount,omitempty" schema:"pattern=^(0|[1-9][0-9]*)(\\.[0-9]+)?$"`
	Currency          string        `json:"currency,omitempty" schema:"pattern=^[A-Z]{3}$"`
	Counterparty      *Counterparty `json:"counterparty,omitempty"`
	Remittance        string        `json:"remittance,omitempty"`
	CreditorReference string        `json:"creditor_reference,omitempty" schema:"maxLength=35"`
	BudgetCode        string        `json:"budget_code,omitempty" schema:"maxLength=35"`
}

// A Counterparty is the other side of a statement transaction.
type Counterparty struct {
	Name string `json:"name,omitempty" schema:"maxLength=140"`
	IBAN string `json:"iban,omitempty" schema:"maxLength=34"`
	BIC  string `json:"bic,omitempty" schema:"pattern=^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$"`
}

// BalanceType is an ISO 20022 balance type code (OPBD, CLBD, ITBD, CLAV …).
type BalanceType string

// Common balance types.
const (
	BalanceOpeningBooked    BalanceType = "OPBD"
	BalanceClosingBooked    BalanceType = "CLBD"
	BalanceInterimBooked    BalanceType = "ITBD"
	BalanceClosingAvailable BalanceType = "CLAV"
)

// A Balance is one balance of a statement.
type Balance struct {
	Type        BalanceType `json:"type" schema:"minLength=1,maxLength=4"`
	Amount      string      `json:"amount" schema:"pattern=^(0|[1-9][0-9]*)(\\.[0-9]+)?$"`
	Currency    string      `json:"currency" schema:"pattern=^[A-Z]{3}$"`
	CreditDebit CreditDebit `json:"credit_debit" schema:"enum=CRDT|DBIT"`
	Date        string      `json:"date" schema:"format=date,pattern=^[0-9]{4}-[0-9]{2}-[0-9]{2}$"`
}

// StatementReport summarises one statement (Stmt, Rpt or Ntfctn) of a
// camt.052/053/054 after its entries were published (event "stmt.report").
type StatementReport struct {
	Type            string    `json:"type"`
	Version         int       `json:"version"`
	Message         string    `json:"message" schema:"minLength=1"`
	MsgID           string    `json:"msg_id" schema:"minLength=1,maxLength=35"`
	ReportID        string    `json:"report_id" schema:"maxLength=35"`
	Account         string    `json:"account" schema:"minLength=1,maxLength=34"`
	CreatedAt       time.Time `json:"created_at"`
	From            time.Time `json:"from,omitzero" doc:"FrToDt/FrDtTm, when given"`
	To              time.Time `json:"to,omitzero" doc:"FrToDt/ToDtTm, when given"`
	Balances        []Balance `json:"balances,omitempty"`
	ElectronicSeqNb string    `json:"electronic_seq_nb,omitempty" doc:"ElctrncSeqNb"`
	Entries         int       `json:"entries" schema:"minimum=0" doc:"number of stmt.entry events published for this statement"`
	Duplicates      int       `json:"duplicates" schema:"minimum=0" doc:"transactions of this statement already published from an earlier one"`
	ArchiveSHA256   string    `json:"archive_sha256" schema:"pattern=^[0-9a-f]{64}$"`
}

// StatementGap says statements of an account are missing: the sequence or
// period received is not the one expected (event "stmt.gap").
type StatementGap struct {
	Type       string    `json:"type"`
	Version    int       `json:"version"`
	Account    string    `json:"account" schema:"minLength=1,maxLength=34"`
	Message    string    `json:"message" schema:"minLength=1"`
	Expected   string    `json:"expected" doc:"the sequence number or date expected next"`
	Got        string    `json:"got" doc:"the sequence number or date received"`
	DetectedAt time.Time `json:"detected_at"`
	Detail     string    `json:"detail,omitempty"`
}

// Reasons a statement entry is not matched to a payment
// ([StatementUnmatched].Reason).
const (
	UnmatchedIncomingCredit   = "incoming_credit"   // a credit: money received, not a payment we made
	UnmatchedCharge           = "charge"            // a bank charge (BkTxCd …-CHRG)
	UnmatchedUnknownReference = "unknown_reference" // a debit whose EndToEndId, MsgId and PmtInfId we never sent
	UnmatchedNoReference      = "no_reference"      // a debit with no reference to match on
	UnmatchedAmountMismatch   = "amount_mismatch"   // references match, the amount does not
	UnmatchedCurrencyMismatch = "currency_mismatch" // references match, the currency does not
	UnmatchedAccountMismatch  = "account_mismatch"  // references match, booked on another account than the debtor's
	UnmatchedAlreadySettled   = "already_settled"   // the intent was settled by another entry
	UnmatchedReversal         = "reversal"          // a reversal of a booking
	UnmatchedNotAccepted      = "not_accepted"      // booked for an intent the bank reported rejected
)

// StatementUnmatched says a booked statement entry (or one transaction of
// it) could not be matched to a payment this gateway made, and why (event
// "stmt.unmatched", on [StatementUnmatchedSubject]). An operator or a
// reconciliation service decides what it is.
type StatementUnmatched struct {
	Type           string      `json:"type"`
	Version        int         `json:"version"`
	Reason         string      `json:"reason" schema:"minLength=1" doc:"incoming_credit, charge, unknown_reference, no_reference, amount_mismatch, currency_mismatch, account_mismatch, already_settled, reversal or not_accepted"`
	Detail         string      `json:"detail,omitempty"`
	Account        string      `json:"account" schema:"minLength=1,maxLength=34"`
	EntryKey       string      `json:"entry_key" schema:"minLength=1"`
	TxIndex        int         `json:"tx_index" schema:"minimum=0"`
	IntentID       string      `json:"intent_id,omitempty" doc:"the intent the references name, when they name one"`
	BatchID        string      `json:"batch_id,omitempty" doc:"the batch the references name, when they name one"`
	EndToEndID     string      `json:"end_to_end_id,omitempty"`
	Amount         string      `json:"amount" schema:"pattern=^(0|[1-9][0-9]*)(\\.[0-9]+)?$"`
	Currency       string      `json:"currency" schema:"pattern=^[A-Z]{3}$"`
	Expected       string      `json:"expected,omitempty" doc:"what the payment says (amount and currency, account), for a mismatch"`
	CreditDebit    CreditDebit `json:"credit_debit" schema:"enum=CRDT|DBIT"`
	BookingDate    string      `json:"booking_date,omitempty" schema:"format=date,pattern=^[0-9]{4}-[0-9]{2}-[0-9]{2}$"`
	AcctSvcrRef    string      `json:"acct_svcr_ref,omitempty"`
	BankTxCode     string      `json:"bank_tx_code,omitempty"`
	StatementMsgID string      `json:"statement_msg_id" schema:"minLength=1"`
	DetectedAt     time.Time   `json:"detected_at"`
}

// DeadLetter is a message a worker gave up on, with what went wrong (event
// "dlq.message", on [DeadLetterSubject]). Data is the original payload;
// replaying republishes it to Subject with Headers.
type DeadLetter struct {
	Type          string              `json:"type"`
	Version       int                 `json:"version"`
	Worker        string              `json:"worker" schema:"minLength=1"`
	IntentID      string              `json:"intent_id,omitempty" doc:"the intent the message concerns, when the worker knows it"`
	BatchID       string              `json:"batch_id,omitempty" doc:"the batch the message concerns, when the worker knows it"`
	Subject       string              `json:"subject" schema:"minLength=1"`
	Headers       map[string][]string `json:"headers,omitempty"`
	Data          []byte              `json:"data"`
	Error         string              `json:"error" schema:"minLength=1"`
	Attempts      int                 `json:"attempts" schema:"minimum=1"`
	FirstFailedAt time.Time           `json:"first_failed_at"`
	FailedAt      time.Time           `json:"failed_at"`
	Stream        string              `json:"stream,omitempty"`
	StreamSeq     uint64              `json:"stream_seq,omitempty"`
}

// CertExpiring warns that a client certificate expires within the
// threshold (event "ops.cert.expiring").
type CertExpiring struct {
	Type          string    `json:"type"`
	Version       int       `json:"version"`
	Org           string    `json:"org" schema:"minLength=1"`
	Env           string    `json:"env" schema:"minLength=1"`
	Purpose       string    `json:"purpose" schema:"minLength=1"`
	Subject       string    `json:"subject" doc:"certificate subject distinguished name"`
	Serial        string    `json:"serial" schema:"minLength=1"`
	NotAfter      time.Time `json:"not_after"`
	DaysLeft      int       `json:"days_left"`
	ThresholdDays int       `json:"threshold_days" schema:"minimum=0"`
}

// CertRenewed says a certificate was renewed (event "ops.cert.renewed").
type CertRenewed struct {
	Type       string    `json:"type"`
	Version    int       `json:"version"`
	Org        string    `json:"org" schema:"minLength=1"`
	Env        string    `json:"env" schema:"minLength=1"`
	Purpose    string    `json:"purpose" schema:"minLength=1"`
	OldSerial  string    `json:"old_serial,omitempty"`
	NewSerial  string    `json:"new_serial" schema:"minLength=1"`
	NotAfter   time.Time `json:"not_after"`
	ActiveFrom time.Time `json:"active_from"`
}

// CertRenewalFailed says a renewal attempt failed (event
// "ops.cert.renewal_failed"); NextAttempt is when it will be retried.
type CertRenewalFailed struct {
	Type        string    `json:"type"`
	Version     int       `json:"version"`
	Org         string    `json:"org" schema:"minLength=1"`
	Env         string    `json:"env" schema:"minLength=1"`
	Purpose     string    `json:"purpose" schema:"minLength=1"`
	Serial      string    `json:"serial,omitempty"`
	Error       string    `json:"error" schema:"minLength=1"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
}

// RawJSON returns data as a JSON value for [IntentRejected.Intent]: data
// itself when it is valid JSON, otherwise a JSON string holding it (with
// invalid UTF-8 replaced by U+FFFD), so that an event about unreadable
// input can still be marshalled. Input over [MaxIntentSize] is cut to that
// size first.
func RawJSON(data []byte) json.RawMessage {
	if len(data) <= MaxIntentSize && json.Valid(data) {
		return append(json.RawMessage(nil), data...)
	}
	if len(data) > MaxIntentSize {
		data = data[:MaxIntentSize]
	}
	b, _ := json.Marshal(string(data)) // a string always marshals
	return b
}
