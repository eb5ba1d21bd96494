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
