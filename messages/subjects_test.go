package messages

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSubjectToken(t *testing.T) {
	tests := []struct{ in, want string }{
		{"INV-2026-000123", "INV-2026-000123"},
		{"LV55TREL9190000000001", "LV55TREL9190000000001"},
		{"a_b-C9", "a_b-C9"},
		{"a.b", "=YS5i"},
		{"", "="},
		{"~", "=fg"},
		{"*", "=Kg"},
		{">", "=Pg"},
		{"INV 1", "=SU5WIDE"},
		{"ā", "=xIE"},
	}
	for _, tt := range tests {
		if got := SubjectToken(tt.in); got != tt.want {
			t.Errorf("SubjectToken(%q) = %q, want %q", tt.in, got, tt.want)
		}
		back, err := ParseSubjectToken(tt.want)
		if err != nil || back != tt.in {
			t.Errorf("ParseSubjectToken(%q) = %q, %v, want %q", tt.want, back, err, tt.in)
		}
	}
	for _, bad := range []string{"", "a.b", "a b", "*", "=YWJj" /* "abc" is used as is */, "=@@", "=YR" /* non-zero padding bits */, "~YWJj" /* the old prefix */, "ā"} {
		if s, err := ParseSubjectToken(bad); err == nil {
			t.Errorf("ParseSubjectToken(%q) = %q, nil; want an error", bad, s)
		}
	}
}

// validToken reports whether tok can be one NATS subject token.
func validToken(tok string) bool {
	if tok == "" || tok == "*" || tok == ">" {
		return false
	}
	return !strings.ContainsAny(tok, ". \t\r\n*>")
}

// kvKey is the key syntax JetStream key-value buckets accept (nats.go
// jetstream validKeyRe): a token is also used as the key in the intents and
// batches buckets.
var kvKey = regexp.MustCompile(`^[-/_=\.a-zA-Z0-9]+$`)

func FuzzSubjectToken(f *testing.F) {
	for _, s := range []string{"INV-1", "a.b", "", "~", "=", "ā", "YWJj", "=YWJj", "\x00\xff"} {
		f.Add(s, "x")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ta, tb := SubjectToken(a), SubjectToken(b)
		if !validToken(ta) {
			t.Fatalf("SubjectToken(%q) = %q is not a subject token", a, ta)
		}
		if !kvKey.MatchString(ta) {
			t.Fatalf("SubjectToken(%q) = %q is not a JetStream KV key", a, ta)
		}
		if (ta == tb) != (a == b) {
			t.Fatalf("SubjectToken(%q) = %q, SubjectToken(%q) = %q: not injective", a, ta, b, tb)
		}
		back, err := ParseSubjectToken(ta)
		if err != nil || back != a {
			t.Fatalf("ParseSubjectToken(SubjectToken(%q)) = %q, %v", a, back, err)
		}
		// Whatever ParseSubjectToken accepts, SubjectToken gives back.
		if s, err := ParseSubjectToken(a); err == nil && SubjectToken(s) != a {
			t.Fatalf("ParseSubjectToken(%q) = %q, but SubjectToken gives %q", a, s, SubjectToken(s))
		}
		_ = utf8.ValidString(a)
	})
}

// matchSubject reports whether subject matches a NATS filter with * and >.
func matchSubject(filter, subject string) bool {
	f, s := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, tok := range f {
		if tok == ">" {
			return len(s) > i
		}
		if i >= len(s) || tok != "*" && tok != s[i] {
			return false
		}
	}
	return len(f) == len(s)
}

func TestSubjects(t *testing.T) {
	id := "INV.2026 *>" // needs encoding
	tests := []struct {
		subject, filter, stream string
	}{
		{IntentSubject(id), SubjectIntents, StreamPayments},
		{IntentRejectedSubject(id), SubjectIntentsRejected, StreamPayments},
		{BatchEncodedSubject("B-1"), SubjectBatchesEncoded, StreamPayments},
		{BatchSubmittedSubject("B-1"), SubjectBatchesSubmitted, StreamPayments},
		{BatchFailedSubject("B-1"), SubjectBatchesFailed, StreamPayments},
		{BatchInDoubtSubject("B-1"), SubjectBatchesInDoubt, StreamPayments},
		{StatusSubject(id), SubjectStatuses, StreamPayments},
		{SettledSubject(id), SubjectSettled, StreamPayments},
		{StatementEntrySubject(debtorIBAN, "ref/BSIM1"), SubjectStatementEntries, StreamStatements},
		{StatementUnmatchedSubject(debtorIBAN, "hash/00ff/2", 0), SubjectStatementUnmatched, StreamStatements},
		{StatementReportSubject(debtorIBAN), SubjectStatementReports, StreamStatements},
		{StatementGapSubject(debtorIBAN), SubjectStatementGaps, StreamStatements},
		{DeadLetterSubject("submitter"), SubjectDeadLetters, StreamDLQ},
		{SubjectCertExpiring, SubjectCertExpiring, StreamOps},
		{SubjectCertRenewed, SubjectCertRenewed, StreamOps},
		{SubjectCertRenewalFailed, SubjectCertRenewalFailed, StreamOps},
	}
	filters := map[string]bool{}
	for _, tt := range tests {
		filters[tt.filter] = true
	}
	for _, tt := range tests {
		for filter := range filters {
			if got, want := matchSubject(filter, tt.subject), filter == tt.filter; got != want {
				t.Errorf("filter %s matches %s = %v, want %v", filter, tt.subject, got, want)
			}
		}
		var in []string
		for _, s := range Streams {
			for _, f := range s.Subjects {
				if matchSubject(f, tt.subject) {
					in = append(in, s.Name)
				}
			}
		}
		if len(in) != 1 || in[0] != tt.stream {
			t.Errorf("subject %s is in streams %v, want [%s]", tt.subject, in, tt.stream)
		}
	}
	if got, want := IntentSubject("INV-2026-000123"), "pay.intent.INV-2026-000123"; got != want {
		t.Errorf("IntentSubject = %q, want %q", got, want)
	}
	if got, want := IntentRejectedSubject("rejected"), "pay.intent.rejected.rejected"; got != want {
		t.Errorf("IntentRejectedSubject = %q, want %q", got, want)
	}
	if got, err := LastToken(StatusSubject(id)); err != nil || got != id {
		t.Errorf("LastToken(StatusSubject(%q)) = %q, %v", id, got, err)
	}
}

func TestEventSubjects(t *testing.T) {
	filters := map[string]string{
		TypePaymentIntent:      SubjectIntents,
		TypeIntentRejected:     SubjectIntentsRejected,
		TypeBatchEncoded:       SubjectBatchesEncoded,
		TypeBatchSubmitted:     SubjectBatchesSubmitted,
		TypeBatchFailed:        SubjectBatchesFailed,
		TypeBatchInDoubt:       SubjectBatchesInDoubt,
		TypePaymentStatus:      SubjectStatuses,
		TypePaymentSettled:     SubjectSettled,
		TypeStatementEntry:     SubjectStatementEntries,
		TypeStatementReport:    SubjectStatementReports,
		TypeStatementGap:       SubjectStatementGaps,
		TypeStatementUnmatched: SubjectStatementUnmatched,
		TypeDeadLetter:         SubjectDeadLetters,
		TypeCertExpiring:       SubjectCertExpiring,
		TypeCertRenewed:        SubjectCertRenewed,
		TypeCertRenewalFailed:  SubjectCertRenewalFailed,
	}
	if len(filters) != len(schemaEvents) {
		t.Fatalf("%d filters for %d events", len(filters), len(schemaEvents))
	}
	for _, ev := range schemaEvents {
		e := fill(reflect.TypeOf(ev.event)).Interface().(Event)
		if f := filters[e.EventType()]; !matchSubject(f, e.EventSubject()) {
			t.Errorf("%T: subject %s does not match %s", e, e.EventSubject(), f)
		}
	}
}

func TestComposeIBAN(t *testing.T) {
	for _, tt := range []struct{ country, bban, want string }{
		{"LV", "BANK0000435195001", "LV80BANK0000435195001"},
		{"LV", "TREL9190000000001", "LV55TREL9190000000001"},
		{"GB", "WEST12345698765514", "GB02WEST12345698765514"},
		{"RF", "539007547034", "RF18539007547034"}, // ISO 11649 uses the same scheme
	} {
		got := ComposeIBAN(tt.country, tt.bban)
		if got != tt.want {
			t.Errorf("ComposeIBAN(%s, %s) = %s, want %s", tt.country, tt.bban, got, tt.want)
		}
		if tt.country != "RF" {
			if err := ValidIBAN(got); err != nil {
				t.Errorf("ValidIBAN(%s) = %v", got, err)
			}
		}
	}
}

// plainTokenRegexp is the regular expression plainToken replaced; the test
// below holds the byte loop to the same language.
var plainTokenRegexp = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func TestPlainTokenMatchesRegexp(t *testing.T) {
	var inputs []string
	// Every byte alone, after a plain prefix and before a plain suffix
	// (including "\n", which a Perl-style $ would accept before the end).
	for c := range 256 {
		b := string([]byte{byte(c)})
		inputs = append(inputs, b, "INV-1"+b, b+"INV-1", "a"+b+"b")
	}
	inputs = append(inputs, "", "INV-2026-000123", "a_b-C9", "ā", "=YS5i", "abc\n", "\nabc", "a\x00")
	// The fuzz corpora of this package, every quoted string or []byte in them.
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no fuzz corpus files found")
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			for _, prefix := range []string{"string(", "[]byte("} {
				if q, ok := strings.CutPrefix(line, prefix); ok {
					s, err := strconv.Unquote(strings.TrimSuffix(q, ")"))
					if err != nil {
						t.Fatalf("%s: %q: %v", name, line, err)
					}
					inputs = append(inputs, s)
					// The intent corpus holds JSON: its ids and other fields
					// are what SubjectToken sees in production.
					for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == '"' || r == ':' || r == ',' }) {
						inputs = append(inputs, f)
					}
				}
			}
		}
	}
	// Random strings, drawn mostly from the plain alphabet so that both
	// outcomes occur often.
	rng := rand.New(rand.NewPCG(1, 2))
	const plain = "abcxyzABCXYZ0189_-"
	for range 20000 {
		n := rng.IntN(40)
		b := make([]byte, n)
		for i := range b {
			if rng.IntN(8) == 0 {
				b[i] = byte(rng.IntN(256))
			} else {
				b[i] = plain[rng.IntN(len(plain))]
			}
		}
		inputs = append(inputs, string(b))
	}
	var matched int
	for _, s := range inputs {
		want := plainTokenRegexp.MatchString(s)
		if got := plainToken(s); got != want {
			t.Errorf("plainToken(%q) = %v, want %v (the regexp)", s, got, want)
		}
		if want {
			matched++
		}
	}
	if matched == 0 || matched == len(inputs) {
		t.Fatalf("%d of %d inputs plain: the comparison covers one outcome only", matched, len(inputs))
	}
}
