package state

import (
	"reflect"
	"testing"
	"time"
)

// TestBatchCloneSharesNothing: Update and Transition mutate a clone of the
// record they read, so a clone must share no slice or pointer with the
// original. The sample sets every such field: a field added to Batch
// without a place here (and in clone) fails the test.
func TestBatchCloneSharesNothing(t *testing.T) {
	now := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	b := &Batch{
		ID: "B-1", State: Submitted, IntentIDs: []string{"I-1", "I-2"},
		PmtInfs:  []PmtInf{{ID: "B-1-1", Count: 2}},
		Archive:  &Object{Name: "sha256/aa", SHA256: "aa", Size: 1},
		Receipt:  &Receipt{ReceivedAt: now, BankRef: "R-1"},
		Upload:   &Object{Name: "sha256/bb", SHA256: "bb", Size: 2},
		History:  []Transition{{To: Open, At: now, Reason: "created"}},
		Attempts: 1, CreatedAt: now, UpdatedAt: now,
	}
	c := b.clone()
	if !reflect.DeepEqual(b, c) {
		t.Fatalf("clone differs:\n got %+v\nwant %+v", c, b)
	}
	bv, cv := reflect.ValueOf(b).Elem(), reflect.ValueOf(c).Elem()
	for i := range bv.NumField() {
		name := bv.Type().Field(i).Name
		f, g := bv.Field(i), cv.Field(i)
		switch f.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map:
			if f.IsNil() || (f.Kind() != reflect.Pointer && f.Len() == 0) {
				t.Errorf("%s: the sample leaves it empty; set it so the test covers it", name)
				continue
			}
			if f.Pointer() == g.Pointer() {
				t.Errorf("%s: the clone shares it with the original", name)
			}
		}
	}
}
