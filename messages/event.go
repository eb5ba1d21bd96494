package messages

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// Event is implemented by every message type of this package: it names its
// type and the subject it is published on.
type Event interface {
	// EventType returns the event's type name, such as "pay.status".
	EventType() string
	// EventSubject returns the subject the event is published on.
	EventSubject() string
}

// Marshal encodes an event as JSON, filling in its type and version when
// they are empty. It refuses an event whose type or version is set to
// something else. A nil slice or map in a field the schema requires is
// written as empty ([] or {}; "" for bytes), not null, and an
// [IntentRejected] whose Intent is not valid JSON gets it through [RawJSON],
// so the output matches the event's JSON Schema.
func Marshal(e Event) ([]byte, error) {
	if b, ok := marshalFast(e); ok {
		return b, nil
	}
	return marshalReflect(e)
}

// marshalReflect is Marshal for any event, by reflection and
// encoding/json.
func marshalReflect(e Event) ([]byte, error) {
	if e == nil {
		return nil, fmt.Errorf("messages: marshalling a nil event")
	}
	src := reflect.Indirect(reflect.ValueOf(e))
	l := layoutOf(src.Type())
	if l.typ < 0 || l.ver < 0 {
		return nil, fmt.Errorf("messages: marshalling %s: %s has no Type or Version field", e.EventType(), src.Type())
	}
	v := reflect.New(src.Type()).Elem()
	v.Set(src)
	typ, ver := v.Field(l.typ), v.Field(l.ver)
	switch typ.String() {
	case "":
		typ.SetString(e.EventType())
	case e.EventType():
	default:
		return nil, fmt.Errorf("messages: marshalling %s: type field is %q", e.EventType(), typ.String())
	}
	switch ver.Int() {
	case 0:
		ver.SetInt(Version1)
	case Version1:
	default:
		return nil, fmt.Errorf("messages: marshalling %s: unsupported version %d", e.EventType(), ver.Int())
	}
	for _, i := range l.nilable {
		if fv := v.Field(i); fv.IsNil() {
			if fv.Kind() == reflect.Slice {
				fv.Set(reflect.MakeSlice(fv.Type(), 0, 0))
			} else {
				fv.Set(reflect.MakeMap(fv.Type()))
			}
		}
	}
	if r, ok := v.Addr().Interface().(*IntentRejected); ok && len(r.Intent) > 0 && !json.Valid(r.Intent) {
		r.Intent = RawJSON(r.Intent)
	}
	return json.Marshal(v.Interface())
}

// An eventLayout is what Marshal needs to know of an event's struct type,
// found once per type: the indices of its Type and Version fields (-1 when
// missing), and of the slice and map fields that are not omitempty (a nil
// one is written empty, not null).
type eventLayout struct {
	typ, ver int
	nilable  []int
}

var eventLayouts sync.Map // reflect.Type → *eventLayout

func layoutOf(t reflect.Type) *eventLayout {
	if l, ok := eventLayouts.Load(t); ok {
		return l.(*eventLayout)
	}
	l := &eventLayout{typ: -1, ver: -1}
	for i := range t.NumField() {
		f := t.Field(i)
		switch f.Name {
		case "Type":
			l.typ = i
		case "Version":
			l.ver = i
		}
		tag := f.Tag.Get("json")
		if !f.IsExported() || tag == "-" || strings.Contains(tag, ",omitempty") {
			continue
		}
		if k := f.Type.Kind(); k == reflect.Slice || k == reflect.Map {
			l.nilable = append(l.nilable, i)
		}
	}
	eventLayouts.Store(t, l)
	return l
}

// EventType returns "pay.intent".
func (PaymentIntent) EventType() string { return TypePaymentIntent }

// EventSubject returns [IntentSubject] of the intent's id.
func (p PaymentIntent) EventSubject() string { return IntentSubject(p.ID) }

// EventType returns "pay.intent.rejected".
func (IntentRejected) EventType() string { return TypeIntentRejected }

// EventSubject returns [IntentRejectedSubject] of the intent id.
func (e IntentRejected) EventSubject() string { return IntentRejectedSubject(e.IntentID) }

// EventType returns "pay.batch.encoded".
func (BatchEncoded) EventType() string { return TypeBatchEncoded }

// EventSubject returns [BatchEncodedSubject] of the batch id.
func (e BatchEncoded) EventSubject() string { return BatchEncodedSubject(e.BatchID) }

// EventType returns "pay.batch.submitted".
func (BatchSubmitted) EventType() string { return TypeBatchSubmitted }

// EventSubject returns [BatchSubmittedSubject] of the batch id.
func (e BatchSubmitted) EventSubject() string { return BatchSubmittedSubject(e.BatchID) }

// EventType returns "pay.batch.failed".
func (BatchFailed) EventType() string { return TypeBatchFailed }

// EventSubject returns [BatchFailedSubject] of the batch id.
func (e BatchFailed) EventSubject() string { return BatchFailedSubject(e.BatchID) }

// EventType returns "pay.batch.in_doubt".
func (BatchInDoubt) EventType() string { return TypeBatchInDoubt }

// EventSubject returns [BatchInDoubtSubject] of the batch id.
func (e BatchInDoubt) EventSubject() string { return BatchInDoubtSubject(e.BatchID) }

// EventType returns "pay.status".
func (PaymentStatus) EventType() string { return TypePaymentStatus }

// EventSubject returns [StatusSubject] of the intent id.
func (e PaymentStatus) EventSubject() string { return StatusSubject(e.IntentID) }

// EventType returns "pay.settled".
func (PaymentSettled) EventType() string { return TypePaymentSettled }

// EventSubject returns [SettledSubject] of the intent id.
func (e PaymentSettled) EventSubject() string { return SettledSubject(e.IntentID) }

// EventType returns "stmt.entry".
func (StatementEntry) EventType() string { return TypeStatementEntry }

// EventSubject returns [StatementEntrySubject] of the account and entry key.
func (e StatementEntry) EventSubject() string { return StatementEntrySubject(e.Account, e.EntryKey) }

// EventType returns "stmt.report".
func (StatementReport) EventType() string { return TypeStatementReport }

// EventSubject returns [StatementReportSubject] of the account.
func (e StatementReport) EventSubject() string { return StatementReportSubject(e.Account) }

// EventType returns "stmt.gap".
func (StatementGap) EventType() string { return TypeStatementGap }

// EventSubject returns [StatementGapSubject] of the account.
func (e StatementGap) EventSubject() string { return StatementGapSubject(e.Account) }

// EventType returns "stmt.unmatched".
func (StatementUnmatched) EventType() string { return TypeStatementUnmatched }

// EventSubject returns [StatementUnmatchedSubject] of the account, entry key and transaction.
func (e StatementUnmatched) EventSubject() string {
	return StatementUnmatchedSubject(e.Account, e.EntryKey, e.TxIndex)
}

// EventType returns "dlq.message".
func (DeadLetter) EventType() string { return TypeDeadLetter }

// EventSubject returns [DeadLetterSubject] of the worker.
func (e DeadLetter) EventSubject() string { return DeadLetterSubject(e.Worker) }

// EventType returns "ops.cert.expiring".
func (CertExpiring) EventType() string { return TypeCertExpiring }

// EventSubject returns [SubjectCertExpiring].
func (CertExpiring) EventSubject() string { return SubjectCertExpiring }

// EventType returns "ops.cert.renewed".
func (CertRenewed) EventType() string { return TypeCertRenewed }

// EventSubject returns [SubjectCertRenewed].
func (CertRenewed) EventSubject() string { return SubjectCertRenewed }

// EventType returns "ops.cert.renewal_failed".
func (CertRenewalFailed) EventType() string { return TypeCertRenewalFailed }

// EventSubject returns [SubjectCertRenewalFailed].
func (CertRenewalFailed) EventSubject() string { return SubjectCertRenewalFailed }
