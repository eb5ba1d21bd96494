package messages

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// jsonPieces are the strings the fast writer must escape as encoding/json
// does, and some it must leave alone.
var jsonPieces = []string{
	"", "INV-2026-000123", "Ā Č Ē ģ ž", "<b>&amp;</b>", `"quoted"`, `back\slash`, "\x00\x01\x1f\x7f",
	"\b\f\n\r\t", "\u2028\u2029", "\xff", "\xc3", "\xed\xa0\x80", "😀", "\ufffd", "a\u00a0b", "'apos'",
}

func randomString(r *rand.Rand) string {
	var sb strings.Builder
	for range r.IntN(4) {
		sb.WriteString(jsonPieces[r.IntN(len(jsonPieces))])
	}
	return sb.String()
}

var jsonZones = []*time.Location{
	time.UTC, time.FixedZone("EET", 2*3600), time.FixedZone("", -(23*3600 + 59*60)),
	time.FixedZone("odd", 3600+30), time.FixedZone("late", 23*3600+59*60+59),
}

func randomStatus(r *rand.Rand) PaymentStatus {
	ev := PaymentStatus{
		IntentID: randomString(r), BatchID: randomString(r), PmtInfID: randomString(r), TxID: randomString(r),
		Status: TxStatus(randomString(r)), Final: r.IntN(2) == 0, GroupStatus: TxStatus(randomString(r)),
		ReceivedAt:    time.Unix(r.Int64N(300_000_000_000)-60_000_000_000, r.Int64N(1e9)).In(jsonZones[r.IntN(len(jsonZones))]),
		ArchiveSHA256: randomString(r),
	}
	if r.IntN(2) == 0 {
		ev.Type = TypePaymentStatus
	}
	if r.IntN(2) == 0 {
		ev.Version = Version1
	}
	switch r.IntN(3) {
	case 0: // nil
	case 1:
		ev.Reasons = []StatusReason{}
	default:
		for range 1 + r.IntN(3) {
			sr := StatusReason{Code: randomString(r), Proprietary: randomString(r)}
			switch r.IntN(3) {
			case 1:
				sr.Info = []string{}
			case 2:
				sr.Info = []string{randomString(r), randomString(r)}
			}
			ev.Reasons = append(ev.Reasons, sr)
		}
	}
	return ev
}

// checkFastMatches fails unless Marshal writes ev as marshalReflect does,
// by value and by pointer, and returns whether the fast path took it.
func checkFastMatches(t *testing.T, ev PaymentStatus) bool {
	t.Helper()
	want, werr := marshalReflect(ev)
	for _, e := range []Event{ev, &ev} {
		got, err := Marshal(e)
		if (err == nil) != (werr == nil) || err != nil && err.Error() != werr.Error() {
			t.Fatalf("Marshal(%+v): error %v, encoding/json: %v", ev, err, werr)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("Marshal(%+v):\n got %s\nwant %s", ev, got, want)
		}
	}
	_, fast := marshalFast(ev)
	return fast
}

// TestMarshalFastMatchesReflect: the hand-written pay.status writer and
// encoding/json agree byte for byte on events with every kind of string
// encoding/json escapes, invalid UTF-8, empty and nil reasons, times in
// odd zones, and type and version set or left for Marshal to fill.
func TestMarshalFastMatchesReflect(t *testing.T) {
	// appendJSON writes these fields, and randomStatus sets them: one added
	// to either type must be added there.
	for typ, want := range map[reflect.Type][]string{
		reflect.TypeFor[PaymentStatus](): {"type", "version", "intent_id", "batch_id", "pmt_inf_id,omitempty", "tx_id,omitempty",
			"status", "final", "group_status,omitempty", "reasons,omitempty", "received_at", "archive_sha256"},
		reflect.TypeFor[StatusReason](): {"code,omitempty", "proprietary,omitempty", "info,omitempty"},
	} {
		var fields []string
		for f := range typ.Fields() {
			fields = append(fields, f.Tag.Get("json"))
		}
		if !slices.Equal(fields, want) {
			t.Fatalf("%s's JSON fields are %q: the fast writer knows %q", typ, fields, want)
		}
	}
	r := rand.New(rand.NewPCG(8, 2026))
	fast := 0
	for range 20000 {
		if checkFastMatches(t, randomStatus(r)) {
			fast++
		}
	}
	if fast != 20000 {
		t.Fatalf("the fast path took %d of 20000 events it covers", fast)
	}
}

// TestMarshalFastRefusals: what the fast path leaves to encoding/json gets
// encoding/json's answer, errors included.
func TestMarshalFastRefusals(t *testing.T) {
	base := PaymentStatus{IntentID: "I-1", BatchID: "B-1", Status: "ACSC", Final: true, ReceivedAt: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)}
	cases := map[string]func(*PaymentStatus){
		"another type":        func(e *PaymentStatus) { e.Type = TypeBatchFailed },
		"another version":     func(e *PaymentStatus) { e.Version = 2 },
		"year 10000":          func(e *PaymentStatus) { e.ReceivedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"year -1":             func(e *PaymentStatus) { e.ReceivedAt = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) },
		"offset of 24 hours":  func(e *PaymentStatus) { e.ReceivedAt = e.ReceivedAt.In(time.FixedZone("", 24*3600)) },
		"offset of -24 hours": func(e *PaymentStatus) { e.ReceivedAt = e.ReceivedAt.In(time.FixedZone("", -24*3600)) },
	}
	for name, change := range cases {
		ev := base
		change(&ev)
		if checkFastMatches(t, ev) {
			t.Errorf("%s: taken by the fast path", name)
		}
		if _, err := Marshal(ev); err == nil {
			t.Errorf("%s: Marshal accepted it", name)
		}
	}
	// The edges that are still written.
	for _, tm := range []time.Time{time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		base.ReceivedAt.In(time.FixedZone("", 24*3600-1)), base.ReceivedAt.In(time.FixedZone("", -24*3600+1)), {}} {
		ev := base
		ev.ReceivedAt = tm
		if !checkFastMatches(t, ev) {
			t.Errorf("%v: not taken by the fast path", tm)
		}
	}
	var nilStatus *PaymentStatus
	if _, ok := marshalFast(nilStatus); ok {
		t.Error("a nil *PaymentStatus taken by the fast path")
	}
}

// FuzzMarshalFast compares the fast pay.status writer with encoding/json
// on any strings and times.
func FuzzMarshalFast(f *testing.F) {
	f.Add("INV-1", "B-1", "ACSC", "AC01", "bad <iban> & \u2028", int64(1795000000), int64(123456789), int32(7200), true)
	f.Add("\xff\xfe", "\x00", "", "", "", int64(-62167219200), int64(0), int32(-86399), false)
	f.Fuzz(func(t *testing.T, id, batch, status, code, info string, sec, nsec int64, off int32, final bool) {
		ev := PaymentStatus{IntentID: id, BatchID: batch, Status: TxStatus(status), Final: final, GroupStatus: TxStatus(code),
			ReceivedAt: time.Unix(sec, nsec).In(time.FixedZone("", int(off))), ArchiveSHA256: info}
		if code != "" || info != "" {
			ev.Reasons = []StatusReason{{Code: code, Info: []string{info}}, {Proprietary: id}}
		}
		checkFastMatches(t, ev)
		want, _ := json.Marshal(info)
		if got := AppendJSONString(nil, info); !bytes.Equal(got, want) {
			t.Fatalf("AppendJSONString(%q) = %s, encoding/json %s", info, got, want)
		}
	})
}
