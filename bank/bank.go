package bank

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/isogate/isogate/xmlcodec"
)

// A Channel carries files to one bank and answers from it. Implementations
// are safe for concurrent use.
type Channel interface {
	// Submit hands one pain.001 over to the bank. A nil error means the
	// bank (or, for a file drop, the hand-over folder) has the file.
	Submit(ctx context.Context, file File) (Receipt, error)
	// Status returns the bank's latest pain.002 for msgID, or an error
	// matching [ErrUnknownToBank] when the bank has nothing for it.
	Status(ctx context.Context, msgID string) (Document, error)
	// Reports sends a camt.060 account reporting request and returns the
	// camt.052/053/054 documents available for it (possibly none).
	Reports(ctx context.Context, camt060 []byte) ([]Document, error)
}

// A HealthChecker reports whether a channel can reach its bank now.
type HealthChecker interface {
	Health(ctx context.Context) error
}

// A Preparer returns the exact bytes a channel would upload for file (for
// h2h with sign: xmldsig, the signed document). Preparing a prepared file
// returns it unchanged, and Submit sends a prepared file as it is: a caller
// that archives the prepared bytes before the first Submit can re-send
// them byte for byte after a crash.
type Preparer interface {
	Prepare(ctx context.Context, file File) (File, error)
}

// A File is one document to upload: a pain.001 whose GrpHdr/MsgId is MsgID.
type File struct {
	MsgID string
	Data  []byte
}

// A Receipt acknowledges an upload.
type Receipt struct {
	MsgID      string
	ReceivedAt time.Time // when the bank (or the outbox) received the file
	SHA256     string    // hex SHA-256 of the bytes the bank received
	Raw        []byte    // the bank's raw answer (empty for a file drop)
}

// A Document is one ISO 20022 document received from the bank.
type Document struct {
	// Message is the message identifier from the document's namespace,
	// e.g. "pain.002.001.03" or "camt.053.001.02".
	Message string
	// Name says where the document came from: the request path (h2h) or
	// the file name (filedrop).
	Name string
	Data []byte
	// Statuses are a pain.002's status records as the channel's check
	// read them from Data ([CheckStatusDocument]), when it read every one;
	// nil otherwise — a reader then decodes Data itself. Read-only.
	Statuses []*xmlcodec.Status
}

// Errors of a Channel. Every error a Channel returns matches exactly one
// of them with errors.Is (through [*Error]); use errors.As for the details.
var (
	// ErrTransient: nothing happened at the bank that a retry could
	// duplicate; retry with backoff.
	ErrTransient = errors.New("bank: transient failure")
	// ErrPermanent: the bank refused the request and will refuse it
	// again; stop. Error.Body holds the bank's pain.002 when it sent one.
	ErrPermanent = errors.New("bank: permanent failure")
	// ErrOutcomeUnknown: the upload may or may not have arrived. Do not
	// re-send: put the batch in_doubt and settle it with Status first.
	ErrOutcomeUnknown = errors.New("bank: outcome unknown")
	// ErrDuplicate: the bank already has a file with this MsgId (it books
	// nothing for this upload). Settle with Status: when an earlier upload
	// of the same batch arrived, the batch is submitted.
	ErrDuplicate = errors.New("bank: duplicate MsgId")
	// ErrUnknownToBank: Status found nothing for this MsgId.
	ErrUnknownToBank = errors.New("bank: MsgId unknown to the bank")
)

// A Class is what a caller should do about an error.
type Class int

// Error classes; each has its sentinel error (Class.Err).
const (
	Transient      Class = iota + 1 // ErrTransient
	Permanent                       // ErrPermanent
	OutcomeUnknown                  // ErrOutcomeUnknown
	Duplicate                       // ErrDuplicate
	UnknownToBank                   // ErrUnknownToBank
)

// Err returns the sentinel error of c.
func (c Class) Err() error {
	switch c {
	case Transient:
		return ErrTransient
	case Permanent:
		return ErrPermanent
	case OutcomeUnknown:
		return ErrOutcomeUnknown
	case Duplicate:
		return ErrDuplicate
	case UnknownToBank:
		return ErrUnknownToBank
	}
	return nil
}

func (c Class) String() string {
	switch c {
	case Transient:
		return "transient"
	case Permanent:
		return "permanent"
	case OutcomeUnknown:
		return "outcome unknown"
	case Duplicate:
		return "duplicate"
	case UnknownToBank:
		return "unknown to bank"
	}
	return fmt.Sprintf("Class(%d)", int(c))
}

// Operations named in [Error].Op.
const (
	OpSubmit  = "submit"
	OpStatus  = "status"
	OpReports = "reports"
	OpHealth  = "health"
)

// An Error is a classified Channel failure.
type Error struct {
	Op     string // OpSubmit, OpStatus, OpReports or OpHealth
	MsgID  string // the file's (or camt.060's) MsgId, when known
	Class  Class
	Status int    // HTTP status code; 0 when there was no answer (or no HTTP)
	Body   []byte // the bank's answer, e.g. the pain.002 of a 400 or 409 (capped)
	Err    error  // the underlying cause
}

func (e *Error) Error() string {
	s := "bank: " + e.Op
	if e.MsgID != "" {
		s += " " + e.MsgID
	}
	s += ": " + e.Class.String()
	if e.Status != 0 {
		s += fmt.Sprintf(": HTTP %d", e.Status)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is the sentinel of e's class.
func (e *Error) Is(target error) bool { return target != nil && target == e.Class.Err() }

// ClassOf returns the class of err: that of the [*Error] it wraps, else
// (context cancellation, programming errors) 0.
func ClassOf(err error) Class {
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return 0
}
