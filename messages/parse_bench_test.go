package messages

import "testing"

func BenchmarkParseIntent(b *testing.B) {
	data := []byte(exampleIntent)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseIntent(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSubjectToken(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = SubjectToken("GEN-000123-abcdef")
	}
}

// BenchmarkMarshalStatus: one pay.status event, as the status poller
// writes one per intent.
func BenchmarkMarshalStatus(b *testing.B) {
	ev := PaymentStatus{IntentID: "INV-2026-000123", BatchID: "B20261121T090000-0001", Status: "ACSC", Final: true}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Marshal(ev); err != nil {
			b.Fatal(err)
		}
	}
}
