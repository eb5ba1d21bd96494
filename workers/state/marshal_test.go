package state

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"
)

// TestIntentMarshalMatchesJSON: the claim record is written byte for byte
// as encoding/json writes it, and a time encoding/json refuses is refused.
func TestIntentMarshalMatchesJSON(t *testing.T) {
	// marshal writes these fields: one added to Intent must be added there.
	var fields []string
	for f := range reflect.TypeFor[Intent]().Fields() {
		fields = append(fields, f.Tag.Get("json"))
	}
	if want := []string{"intent_id", "batch_id", "rejected,omitempty", "claimed_at", "-"}; !slices.Equal(fields, want) {
		t.Fatalf("Intent's JSON fields are %q: marshal writes %q", fields, want)
	}
	at := time.Date(2026, 11, 21, 23, 59, 59, 123456789, time.UTC)
	for _, r := range []Intent{
		{ID: "INV-1", BatchID: "B-1", ClaimedAt: at},
		{ID: "INV-<2>&\"3\"", BatchID: "", Rejected: true, ClaimedAt: at.In(time.FixedZone("", 2*3600)), Revision: 7},
		{ID: "Ā\u2028\xff\x01", BatchID: "B\\1", ClaimedAt: time.Time{}},
	} {
		got, err := r.marshal()
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(&r)
		if !bytes.Equal(got, want) {
			t.Errorf("marshal(%+v):\n got %s\nwant %s", r, got, want)
		}
	}
	bad := Intent{ID: "X", ClaimedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if b, err := bad.marshal(); err == nil {
		t.Errorf("year 10000 written: %s", b)
	}
}
