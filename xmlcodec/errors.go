package xmlcodec

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Decoders return them wrapped in a [*DecodeError]; test
// with errors.Is.
var (
	// ErrUnsupportedMessage: the document is not a message family this
	// package decodes (or its namespace and root element disagree).
	ErrUnsupportedMessage = errors.New("xmlcodec: unsupported message")
	// ErrDoctype: the document has a DOCTYPE (or another <!...> directive).
	// DTDs are never processed: they are how entity bombs and external
	// entity reads get in.
	ErrDoctype = errors.New("xmlcodec: DOCTYPE not allowed")
	// ErrTooDeep: element nesting exceeds Limits.MaxDepth.
	ErrTooDeep = errors.New("xmlcodec: nesting too deep")
	// ErrTooLarge: the input exceeds Limits.MaxBytes.
	ErrTooLarge = errors.New("xmlcodec: input too large")
	// ErrTokenTooLarge: one token (text, attribute list, name) exceeds
	// Limits.MaxTokenBytes.
	ErrTokenTooLarge = errors.New("xmlcodec: token too large")
	// ErrTooManyAttrs: an element has more than Limits.MaxAttrs attributes.
	ErrTooManyAttrs = errors.New("xmlcodec: too many attributes")
	// ErrTooManyElements: one entry, balance or status block has more than
	// Limits.MaxElements elements.
	ErrTooManyElements = errors.New("xmlcodec: too many elements in one block")
	// ErrTooManyTransactions: an entry has more than Limits.MaxTxPerEntry
	// TxDtls. The entry is skipped; decoding can go on.
	ErrTooManyTransactions = errors.New("xmlcodec: too many transactions in one entry")
	// ErrSyntax: the input is not well-formed XML (includes truncation).
	ErrSyntax = errors.New("xmlcodec: malformed XML")
	// ErrMissingElement: a field needed to use the record (amount,
	// currency, credit/debit indicator, status) is absent.
	ErrMissingElement = errors.New("xmlcodec: missing element")
	// ErrInvalidAmount: an amount is not a non-negative decimal number
	// ("1e3", "-5", "1,00" are refused).
	ErrInvalidAmount = errors.New("xmlcodec: invalid amount")
	// ErrInvalidValue: a coded value is not one the standard allows
	// (a CdtDbtInd other than CRDT/DBIT, a non-numeric count).
	ErrInvalidValue = errors.New("xmlcodec: invalid value")
	// ErrEncoding: the document declares a character encoding other than
	// UTF-8, US-ASCII or ISO-8859-1, or contains invalid UTF-8.
	ErrEncoding = errors.New("xmlcodec: unsupported character encoding")
)

// A DecodeError reports the element at which decoding failed.
//
// Errors wrapping [ErrMissingElement], [ErrInvalidAmount],
// [ErrInvalidValue] or [ErrTooManyTransactions] concern one record only: the [Decoder] has skipped that
// record and Next may be called again. Any other DecodeError is final.
type DecodeError struct {
	Path string // e.g. "BkToCstmrStmt/Stmt[1]/Ntry[3]/CdtDbtInd"
	Line int    // 1-based input line where it was noticed; 0 when unknown
	Err  error
}

func (e *DecodeError) Error() string {
	var b strings.Builder
	b.WriteString("xmlcodec: ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	b.WriteString(strings.TrimPrefix(e.Err.Error(), "xmlcodec: "))
	return b.String()
}

func (e *DecodeError) Unwrap() error { return e.Err }

// recoverable reports whether decoding can continue after err.
func recoverable(err error) bool {
	return errors.Is(err, ErrMissingElement) || errors.Is(err, ErrInvalidAmount) || errors.Is(err, ErrInvalidValue) ||
		errors.Is(err, ErrTooManyTransactions)
}

// A FieldError is one validation problem of one payment.
type FieldError struct {
	Index  int    // position of the payment in the batch (0-based); -1 for the batch itself
	ID     string // the payment's ID (EndToEndId)
	Field  string // JSON-style path, e.g. "creditor.iban"
	Reason string
}

func (e FieldError) Error() string {
	if e.Index < 0 {
		return e.Field + ": " + e.Reason
	}
	if e.ID == "" {
		return fmt.Sprintf("payment %d: %s: %s", e.Index, e.Field, e.Reason)
	}
	return e.ID + ": " + e.Field + ": " + e.Reason
}

// ValidationErrors lists every problem found in a batch, in input order.
type ValidationErrors []FieldError

// ErrValidation is matched by errors.Is on any [ValidationErrors].
var ErrValidation = errors.New("xmlcodec: validation failed")

func (v ValidationErrors) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "xmlcodec: %d validation error(s)", len(v))
	for i, e := range v {
		if i == 20 {
			fmt.Fprintf(&b, "; and %d more", len(v)-20)
			break
		}
		b.WriteString("; ")
		b.WriteString(e.Error())
	}
	return b.String()
}

func (v ValidationErrors) Is(target error) bool { return target == ErrValidation }
