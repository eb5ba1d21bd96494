package messages

import (
	"bufio"
	"bytes"
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

// The regular expressions the byte loops of scan.go replaced. Each loop must
// accept exactly the language of its expression.
var (
	amountPattern     = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)
	currencyPattern   = regexp.MustCompile(`^[A-Z]{3}$`)
	ibanPattern       = regexp.MustCompile(`^[A-Z]{2}[0-9]{2}[A-Z0-9]+$`)
	bicPattern        = regexp.MustCompile(`^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$`)
	datePattern       = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
	rfPattern         = regexp.MustCompile(`^RF[0-9]{2}[A-Z0-9]{1,21}$`)
	purposePattern    = regexp.MustCompile(`^[A-Z0-9]{1,4}$`)
	budgetCodePattern = regexp.MustCompile(`^[A-Za-z0-9.-]{1,35}$`)
	profilePattern    = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)
	countryPattern    = regexp.MustCompile(`^[A-Z]{2}$`)
	plainKeyPattern   = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
	integerPattern    = regexp.MustCompile(`^-?[0-9]+$`)
)

func TestPatternsMatchRegexps(t *testing.T) {
	tests := []struct {
		name string
		re   *regexp.Regexp
		f    func(string) bool
		// alphabet draws strings that reach the expression's edges.
		alphabet string
	}{
		{"amount", amountPattern, isAmount, "09.5a-"},
		{"currency", currencyPattern, isCurrencyCode, "AZEa0"},
		{"iban", ibanPattern, isIBANShape, "LVZ09a "},
		{"bic", bicPattern, isBICShape, "HAZ29a"},
		{"date", datePattern, isDateShape, "20-9/a"},
		{"rf", rfPattern, isRFShape, "RF18Za"},
		{"purpose", purposePattern, isPurposeCode, "SZ09a"},
		{"budget", budgetCodePattern, isBudgetCode, "aZ09.-_"},
		{"profile", profilePattern, isProfileName, "az09_-A."},
		{"country", countryPattern, isCountryShape, "LVa0"},
		{"plain key", plainKeyPattern, isPlainKey, "aZ09_-."},
		{"integer", integerPattern, isIntegerLiteral, "09-+.e"},
	}
	fixed := []string{"", "\n", "a\n", "EUR\n", "\nEUR", "ā", "EUR\x00", "LV55TREL9190000000001", "TRELLV22", "TRELLV22XXX",
		"2026-11-30", "RF18539007547034", "1234.50", "0.01", ".5", "5.", "1..2", "-1", "--1", "ekase", "2279", "21.1-A", "SUPP"}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inputs := append([]string(nil), fixed...)
			// Every string of up to 4 characters of the alphabet.
			var grow func(prefix string)
			grow = func(prefix string) {
				inputs = append(inputs, prefix)
				if len(prefix) == 4 {
					return
				}
				for i := 0; i < len(tt.alphabet); i++ {
					grow(prefix + tt.alphabet[i:i+1])
				}
			}
			grow("")
			// Longer random strings, mostly of the alphabet, at lengths
			// around every bound (1, 2, 3, 4, 8, 11, 25, 32, 35, 36).
			for range 30000 {
				n := rng.IntN(40)
				b := make([]byte, n)
				for i := range b {
					if rng.IntN(20) == 0 {
						b[i] = byte(rng.IntN(256))
					} else {
						b[i] = tt.alphabet[rng.IntN(len(tt.alphabet))]
					}
				}
				inputs = append(inputs, string(b))
			}
			// Strings the expression accepts, found among the random ones,
			// with one byte changed.
			for _, s := range inputs {
				if tt.re.MatchString(s) && s != "" {
					b := []byte(s)
					b[rng.IntN(len(b))] = byte(rng.IntN(256))
					inputs = append(inputs, string(b), s+"\n", s+"A", s+"0")
				}
			}
			matched := 0
			for _, s := range inputs {
				want := tt.re.MatchString(s)
				if got := tt.f(s); got != want {
					t.Errorf("%s(%q) = %v, regexp %s says %v", tt.name, s, got, tt.re, want)
				}
				if want {
					matched++
				}
			}
			if matched == 0 || matched == len(inputs) {
				t.Fatalf("%d of %d inputs match: the comparison covers one outcome only", matched, len(inputs))
			}
		})
	}
}

// jsonInputs returns the example intents of the repository (testdata/*.jsonl,
// the FuzzParseIntent corpus, exampleIntent) and hand-written edge cases.
func jsonInputs(t testing.TB) [][]byte {
	t.Helper()
	inputs := [][]byte{[]byte(exampleIntent)}
	files, err := filepath.Glob(filepath.Join("..", "testdata", "*.jsonl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no example intents in ../testdata: %v", err)
	}
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
				inputs = append(inputs, bytes.Clone(line))
			}
		}
	}
	corpus, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzParseIntent", "*"))
	if err != nil || len(corpus) == 0 {
		t.Fatalf("no FuzzParseIntent corpus: %v", err)
	}
	for _, p := range corpus {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if q, ok := strings.CutPrefix(strings.TrimSpace(line), "[]byte("); ok {
				s, err := strconv.Unquote(strings.TrimSuffix(q, ")"))
				if err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				inputs = append(inputs, []byte(s))
			}
		}
	}
	for _, s := range []string{
		``, ` `, `{}`, ` {} `, "\t{}\r\n", `{}{}`, `{} x`, `{},`, `[]`, `[1]`, `"x"`, `1`, `null`, `true`,
		`{"a":1}`, `{"a":-0}`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e5}`, `{"a":1E+5}`, `{"a":1e-5}`, `{"a":1e}`,
		`{"a":1e+}`, `{"a":-}`, `{"a":--1}`, `{"a":+1}`, `{"a":1x}`, `{"a":12345678901234567890123}`, `{"a":0.0}`,
		`{"a":tru}`, `{"a":true}`, `{"a":truex}`, `{"a":false}`, `{"a":null}`, `{"a":nul}`, `{"a":NaN}`, `{"a":Infinity}`,
		`{"a":[]}`, `{"a":[ ]}`, `{"a":{}}`, `{"a":{ }}`, `{,}`, `{"a":1,}`, `{"a" 1}`, `{"a":1 "b":2}`, `{"a"}`, `{a:1}`,
		`{'a':1}`, `{"a":[1,2,]}`, `{"a":[,1]}`, `{"a":[1 2]}`, `{"a":"x"`, `{"a":"x`, `{"a":`, `{"a"`, `{"`, `{`,
		`{"a":"\u00e9"}`, `{"a":"\""}`, `{"a":"x\ty"}`, "{\"a\":\"x\ty\"}", "{\"a\":\"x\x01\"}", `{"":""}`, `{"a":"ā"}`,
		`{"a":{"b":{"c":1}}}`, `{"a":{"b":{"c":{"d":1}}}}`, `{"a":{"b":{"c":[1]}}}`, `{"a":[[["x"]]]}`, `{"a":[[[["x"]]]]}`,
		`{"a":1,"a":2}`, `{"a" : 1 , "b" : [ 1 , "x" , null , true , { } ] }`, "{\"a\":\"\u2028\"}", "{\"a\":\"\x7f\"}",
		`{"a":"\ud800"}`, "\ufeff{}", `{"a":1}` + "\x00", `{"a":[1]]`, `{"a":{}}}`, `{"a":1]`, `{"a":[1}`,
	} {
		inputs = append(inputs, []byte(s))
	}
	return inputs
}

// TestFastReaderMatchesTokens checks that whatever the fast JSON reader
// accepts, the encoding/json token walk reads to the same values, over the
// example intents, edge cases and many mutations of them; and that it
// accepts the example intents, so the fast path is taken.
func TestFastReaderMatchesTokens(t *testing.T) {
	base := jsonInputs(t)
	inputs := append([][]byte(nil), base...)
	rng := rand.New(rand.NewPCG(5, 6))
	const interesting = "{}[],:\"\\ \t\n0123456789-+.eEtfnaAuxā\x01\x7f"
	for _, b := range base {
		if len(b) > 4096 {
			continue
		}
		for i := range len(b) + 1 {
			if i%7 == 0 || len(b) < 200 {
				inputs = append(inputs, b[:i]) // truncations
			}
		}
		for range 300 {
			m := bytes.Clone(b)
			for range 1 + rng.IntN(3) {
				if len(m) == 0 {
					break
				}
				p := rng.IntN(len(m))
				c := interesting[rng.IntN(len(interesting))]
				switch rng.IntN(4) {
				case 0:
					m[p] = c
				case 1:
					m = append(m[:p:p], append([]byte{c}, m[p:]...)...)
				case 2:
					m = append(m[:p:p], m[p+1:]...)
				case 3:
					q := p + rng.IntN(len(m)-p)
					m = append(m[:q:q], append(bytes.Clone(m[p:q]), m[q:]...)...) // duplicate a span
				}
			}
			inputs = append(inputs, m)
		}
	}
	fast, valid := 0, 0
	for _, in := range inputs {
		if !utf8.Valid(in) {
			continue // ParseIntent refuses it before reading
		}
		valid++
		want, werr := readJSONTokens(in)
		got, ok := fastRead(in)
		if !ok {
			continue
		}
		fast++
		if werr != nil {
			t.Errorf("fast reader accepted %q; the token walk says %v", in, werr)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("fast reader read %q differently from the token walk", in)
		}
	}
	t.Logf("%d inputs (%d valid UTF-8), %d taken by the fast reader", len(inputs), valid, fast)
	for _, in := range base[:2] {
		if _, ok := fastRead(in); !ok {
			t.Errorf("fast reader declined the example intent %q", in)
		}
	}
	if fast < len(base)/2 {
		t.Errorf("fast reader took %d inputs, fewer than half of the %d examples", fast, len(base))
	}
}

// FuzzFastReader holds the fast JSON reader to the token walk on any input.
func FuzzFastReader(f *testing.F) {
	for _, in := range jsonInputs(f) {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if !utf8.Valid(in) {
			return
		}
		got, ok := fastRead(in)
		if !ok {
			return
		}
		want, err := readJSONTokens(in)
		if err != nil {
			t.Fatalf("fast reader accepted %q; the token walk says %v", in, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("fast reader read %q differently from the token walk", in)
		}
	})
}

// fastRead is the fast reader as ParseIntent runs it, on a fresh arena.
func fastRead(in []byte) (*jsonValue, bool) {
	v, ok, _ := readJSONFastIn(in, make([]jsonValue, 0, maxJSONArena))
	return v, ok
}
