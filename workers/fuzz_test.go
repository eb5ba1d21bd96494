package workers

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/isogate/isogate/messages"
)

// decodeAs runs Decode for a T and checks its promises: every error is
// Permanent; what decodes has the type's own type and version (or none),
// and it decodes again identically from what messages.Marshal writes.
func decodeAs[T messages.Event](t *testing.T, body []byte) {
	t.Helper()
	msg := message.NewMessage("uuid", body)
	msg.Metadata.Set(MetaSubject, "pay.test.1")
	v, err := Decode[T](msg)
	if err != nil {
		if !IsPermanent(err) {
			t.Fatalf("Decode[%T] error %v is not permanent", v, err)
		}
		if !reflect.ValueOf(&v).Elem().IsZero() {
			t.Fatalf("Decode[%T] returned a value and %v", v, err)
		}
		return
	}
	rv := reflect.ValueOf(v)
	if typ := rv.FieldByName("Type").String(); typ != "" && typ != v.EventType() {
		t.Fatalf("Decode[%T] accepted type %q", v, typ)
	}
	if ver := rv.FieldByName("Version").Int(); ver != 0 && ver != messages.Version1 {
		t.Fatalf("Decode[%T] accepted version %d", v, ver)
	}
	b1, err := messages.Marshal(v)
	if err != nil {
		t.Fatalf("Marshal(Decode[%T](%q)) = %v", v, body, err)
	}
	w, err := Decode[T](message.NewMessage("uuid", b1))
	if err != nil {
		t.Fatalf("Decode[%T] of its own Marshal %s = %v", v, b1, err)
	}
	b2, err := messages.Marshal(w)
	if err != nil || !bytes.Equal(b1, b2) {
		t.Fatalf("%T does not round-trip (%v):\n%s\n%s", v, err, b1, b2)
	}
}

var decoders = []func(*testing.T, []byte){
	decodeAs[messages.PaymentIntent], decodeAs[messages.IntentRejected], decodeAs[messages.BatchEncoded],
	decodeAs[messages.BatchSubmitted], decodeAs[messages.BatchFailed], decodeAs[messages.BatchInDoubt],
	decodeAs[messages.PaymentStatus], decodeAs[messages.PaymentSettled], decodeAs[messages.StatementEntry],
	decodeAs[messages.StatementReport], decodeAs[messages.StatementGap], decodeAs[messages.StatementUnmatched],
	decodeAs[messages.DeadLetter], decodeAs[messages.CertExpiring], decodeAs[messages.CertRenewed],
	decodeAs[messages.CertRenewalFailed],
}

// FuzzDecode: the body of any message, read as any event type (the DLQ
// record included), is refused with a permanent error or round-trips.
func FuzzDecode(f *testing.F) {
	seeds := []messages.Event{
		messages.PaymentStatus{IntentID: "INV-1", BatchID: "B-1", Status: messages.TxStatusRJCT, Final: true,
			Reasons: []messages.StatusReason{{Code: "AC01", Info: []string{"Incorrect account number"}}}},
		messages.DeadLetter{Worker: "encoder", Subject: messages.IntentSubject("INV 1"), Headers: map[string][]string{"Nats-Msg-Id": {"INV 1"}},
			Data: []byte("{\"id\":1}\x00"), Error: "boom", Attempts: 5, Stream: messages.StreamPayments, StreamSeq: 7},
		messages.IntentRejected{IntentID: "INV-1", Errors: []messages.FieldError{{Field: "amount", Reason: "must be greater than 0"}}, Intent: messages.RawJSON([]byte("{"))},
		messages.StatementEntry{EntryKey: "ref/1", Amount: "1.00", Currency: "EUR", Transactions: []messages.EntryTransaction{{EndToEndID: "E"}}},
	}
	for i := range decoders {
		f.Add(uint8(i), []byte(`{"type":"x","version":1}`))
	}
	for _, ev := range seeds {
		b, err := messages.Marshal(ev)
		if err != nil {
			f.Fatal(err)
		}
		for i := range decoders {
			f.Add(uint8(i), b)
		}
	}
	f.Add(uint8(0), []byte(`{"id":"x"} {"id":"y"}`))
	f.Add(uint8(12), []byte(`{"version":2}`))
	f.Add(uint8(6), []byte(`{"final":"yes"}`))
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		if len(body) > 1<<16 {
			t.Skip()
		}
		decoders[int(which)%len(decoders)](t, body)
	})
}

// FuzzCorrelationIDs: the ids a dead letter names come from the headers
// when set, else from the subject, which gives back exactly the id it was
// made from; any other subject names none.
func FuzzCorrelationIDs(f *testing.F) {
	f.Add("INV-1", "", "", "pay.intent.INV-1")
	f.Add("INV 1.*>", "B-1", "", "pay.batch.encoded.x")
	f.Add("", "", "B-2", "")
	f.Add("=", "", "", "pay.status.=")
	f.Fuzz(func(t *testing.T, id, hdrIntent, hdrBatch, subject string) {
		for _, s := range []struct {
			subject       string
			intent, batch string
		}{
			{messages.IntentSubject(id), id, ""}, {messages.IntentRejectedSubject(id), id, ""},
			{messages.StatusSubject(id), id, ""}, {messages.SettledSubject(id), id, ""},
			{messages.BatchEncodedSubject(id), "", id}, {messages.BatchSubmittedSubject(id), "", id},
			{messages.BatchFailedSubject(id), "", id}, {messages.BatchInDoubtSubject(id), "", id},
		} {
			if in, b := correlationIDs(message.Metadata{}, s.subject); in != s.intent || b != s.batch {
				t.Fatalf("correlationIDs(%q) = %q, %q; want %q, %q", s.subject, in, b, s.intent, s.batch)
			}
		}
		meta := message.Metadata{}
		SetIDs(&message.Message{Metadata: meta}, hdrIntent, hdrBatch)
		in, b := correlationIDs(meta, subject)
		if hdrIntent != "" || hdrBatch != "" {
			if in != hdrIntent || b != hdrBatch {
				t.Fatalf("correlationIDs with headers %q, %q = %q, %q", hdrIntent, hdrBatch, in, b)
			}
			return
		}
		if in != "" && b != "" {
			t.Fatalf("correlationIDs(%q) = intent %q and batch %q", subject, in, b)
		}
	})
}
