package messages

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// Valid account numbers, check digits computed (ISO 7064 mod 97-10).
const (
	debtorIBAN   = "LV55TREL9190000000001"
	creditorIBAN = "LV97HABA0012345678910"
)

// exampleIntent is the example of the intent issue, with real IBANs.
const exampleIntent = `{
  "id": "INV-2026-000123",
  "debtor": {"name": "Valsts iestāde", "iban": "LV55TREL9190000000001", "bic": "TRELLV22"},
  "creditor": {"name": "SIA Piegādātājs", "iban": "LV97HABA0012345678910", "bic": "HABALV22",
    "address": {"street": "Brīvības iela", "building": "1", "postcode": "LV-1050", "town": "Rīga", "country": "LV"}},
  "amount": "1234.50",
  "currency": "EUR",
  "execution_date": "2026-11-30",
  "remittance": "Rēķins Nr. 1",
  "creditor_reference": "RF18539007547034",
  "purpose": "SUPP",
  "ultimate_debtor": {"name": "Finanšu ministrija", "id": "90000014724", "address": {"town": "Rīga", "country": "LV"}},
  "ultimate_creditor": {"name": "SIA Apakšuzņēmējs", "address": {"lines": ["Elizabetes iela 2", "Rīga, LV-1010"], "country": "LV"}},
  "budget_code": "2279",
  "profile": "ekase"
}`

// edit decodes exampleIntent, applies the changes (a path such as
// "creditor.address.town" to a value, or to del to remove it) and returns
// the JSON.
func edit(t testing.TB, changes ...any) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(exampleIntent), &m); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(changes); i += 2 {
		path := strings.Split(changes[i].(string), ".")
		obj := m
		for _, k := range path[:len(path)-1] {
			next, ok := obj[k].(map[string]any)
			if !ok {
				next = map[string]any{}
				obj[k] = next
			}
			obj = next
		}
		last := path[len(path)-1]
		if changes[i+1] == del {
			delete(obj, last)
		} else {
			obj[last] = changes[i+1]
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type deleted struct{}

var del = deleted{}

func TestParseIntentExample(t *testing.T) {
	p, err := ParseIntent([]byte(exampleIntent))
	if err != nil {
		t.Fatalf("ParseIntent(example) = %v", err)
	}
	want := PaymentIntent{
		ID:     "INV-2026-000123",
		Debtor: Account{Name: "Valsts iestāde", IBAN: debtorIBAN, BIC: "TRELLV22"},
		Creditor: Account{Name: "SIA Piegādātājs", IBAN: creditorIBAN, BIC: "HABALV22",
			Address: &Address{Street: "Brīvības iela", Building: "1", Postcode: "LV-1050", Town: "Rīga", Country: "LV"}},
		Amount: "1234.50", Currency: "EUR", ExecutionDate: "2026-11-30", Remittance: "Rēķins Nr. 1",
		CreditorReference: "RF18539007547034", Purpose: "SUPP",
		UltimateDebtor: &Party{Name: "Finanšu ministrija", ID: "90000014724", Address: &Address{Town: "Rīga", Country: "LV"}},
		UltimateCreditor: &Party{Name: "SIA Apakšuzņēmējs",
			Address: &Address{Lines: []string{"Elizabetes iela 2", "Rīga, LV-1010"}, Country: "LV"}},
		BudgetCode: "2279", Profile: "ekase",
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("ParseIntent(example) =\n%+v\nwant\n%+v", p, want)
	}
}

func TestParseIntentGood(t *testing.T) {
	minimal := `{"id":"1","debtor":{"name":"A","iban":"` + debtorIBAN + `"},"creditor":{"name":"B","iban":"` + creditorIBAN + `"},"amount":"0.01","currency":"EUR"}`
	tests := []struct {
		name  string
		input string
	}{
		{"example", exampleIntent},
		{"minimal", minimal},
		{"type and version", edit(t, "type", "pay.intent", "version", 1)},
		{"nulls are absent", edit(t, "debtor.bic", nil, "remittance", nil, "ultimate_debtor", nil, "creditor.address", nil)},
		{"140-rune remittance of ā", edit(t, "remittance", strings.Repeat("ā", 140))},
		{"140-rune creditor name", edit(t, "creditor.name", strings.Repeat("Ž", 140))},
		{"35-char id", edit(t, "id", strings.Repeat("x", 35))},
		{"id with dots and spaces", edit(t, "id", "INV 2026.1/ā")},
		{"JPY whole amount", edit(t, "currency", "JPY", "amount", "150000")},
		{"BHD three decimals", edit(t, "currency", "BHD", "amount", "1.125")},
		{"CLF four decimals", edit(t, "currency", "CLF", "amount", "0.0001")},
		{"fewer decimals than allowed", edit(t, "amount", "5")},
		{"18 digits", edit(t, "amount", "1234567890123456.78")},
		{"zero before point", edit(t, "amount", "0.50")},
		{"free-form creditor reference", edit(t, "creditor_reference", "Invoice 17/2026")},
		{"BIC with branch", edit(t, "creditor.bic", "HABALV22XXX")},
		{"Kosovo address", edit(t, "creditor.address.country", "XK")},
		{"seven address lines", edit(t, "creditor.address", map[string]any{"lines": []string{"1", "2", "3", "4", "5", "6", "7"}})},
		{"German creditor", edit(t, "creditor.iban", "DE89370400440532013000", "creditor.bic", "COBADEFFXXX")},
		{"leap day", edit(t, "execution_date", "2028-02-29")},
		{"budget code with point", edit(t, "budget_code", "21.1-A")},
		{"profile with underscore", edit(t, "profile", "iso_2019-x")},
		{"whitespace around object", " \n\t" + exampleIntent + "\n "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseIntent([]byte(tt.input))
			if err != nil {
				t.Fatalf("ParseIntent(%s) = %v, want no error", tt.name, err)
			}
			if err := p.Validate(); err != nil {
				t.Errorf("Validate() after ParseIntent = %v", err)
			}
		})
	}
}

func TestParseIntentBad(t *testing.T) {
	big := `{"id":"` + strings.Repeat("x", MaxIntentSize) + `"}`
	tests := []struct {
		name   string
		input  string
		field  string // "" for a *JSONError
		reason string // substring of the reason
	}{
		// Required fields and free text.
		{"missing id", edit(t, "id", del), "id", "required"},
		{"null id", edit(t, "id", nil), "id", "required"},
		{"empty id", edit(t, "id", ""), "id", "required"},
		{"36-char id", edit(t, "id", strings.Repeat("7", 36)), "id", "at most 35 characters, got 36"},
		{"36-rune id", edit(t, "id", strings.Repeat("ā", 36)), "id", "at most 35 characters, got 36"},
		{"id with control character", edit(t, "id", "INV\u00011"), "id", "control characters"},
		{"blank id", edit(t, "id", "   "), "id", "must not be blank"},
		{"id with trailing space", edit(t, "id", "INV-1 "), "id", "must not start or end with spaces"},
		{"missing debtor", edit(t, "debtor", del), "debtor", "required"},
		{"null debtor", edit(t, "debtor", nil), "debtor", "required"},
		{"empty debtor", edit(t, "debtor", map[string]any{}), "debtor", "required: an object with name and iban"},
		{"debtor is a string", edit(t, "debtor", "Valsts kase"), "debtor", "must be an object, not a string"},
		{"debtor is an array", edit(t, "debtor", []string{}), "debtor", "must be an object, not an array"},
		{"missing debtor name", edit(t, "debtor.name", del), "debtor.name", "required"},
		{"missing debtor iban", edit(t, "debtor.iban", del), "debtor.iban", "required"},
		{"missing creditor name", edit(t, "creditor.name", del), "creditor.name", "required"},
		{"missing creditor iban", edit(t, "creditor.iban", del), "creditor.iban", "required"},
		{"141-rune creditor name", edit(t, "creditor.name", strings.Repeat("ņ", 141)), "creditor.name", "at most 140 characters, got 141"},
		{"blank creditor name", edit(t, "creditor.name", " \u00a0 "), "creditor.name", "blank"},
		{"creditor name with tab", edit(t, "creditor.name", "SIA\tX"), "creditor.name", "control characters"},
		{"creditor name is a number", edit(t, "creditor.name", 7), "creditor.name", "must be a JSON string, not a number"},
		{"creditor name is a boolean", edit(t, "creditor.name", true), "creditor.name", "must be a JSON string, not a boolean"},

		// Amount.
		{"missing amount", edit(t, "amount", del), "amount", "required"},
		{"amount as number", edit(t, "amount", 1234.5), "amount", "must be a JSON string, not a number"},
		{"amount as raw number", strings.Replace(exampleIntent, `"1234.50"`, `1234.50`, 1), "amount", "must be a JSON string, not a number"},
		{"amount 1e3", edit(t, "amount", "1e3"), "amount", "without an exponent"},
		{"amount -5.00", edit(t, "amount", "-5.00"), "amount", "without a sign"},
		{"amount +5.00", edit(t, "amount", "+5.00"), "amount", "without a sign"},
		{"amount 0.00", edit(t, "amount", "0.00"), "amount", "must be greater than 0"},
		{"amount 0", edit(t, "amount", "0"), "amount", "must be greater than 0"},
		{"amount 12.345 EUR", edit(t, "amount", "12.345"), "amount", "EUR allows at most 2 decimal places"},
		{"amount 1.500 EUR", edit(t, "amount", "1.500"), "amount", "EUR allows at most 2 decimal places"},
		{"amount 1.5 JPY", edit(t, "amount", "1.5", "currency", "JPY"), "amount", "JPY allows no decimal places"},
		{"amount 1.1234 BHD", edit(t, "amount", "1.1234", "currency", "BHD"), "amount", "BHD allows at most 3 decimal places"},
		{"amount of 19 digits", edit(t, "amount", "1234567890123456789"), "amount", "at most 18 digits in total, got 19"},
		{"amount of 19 digits with fraction", edit(t, "amount", "12345678901234567.89"), "amount", "at most 18 digits in total, got 19"},
		{"amount with leading zero", edit(t, "amount", "01.50"), "amount", "leading zeros"},
		{"amount with space", edit(t, "amount", "1 234.50"), "amount", "without spaces"},
		{"amount with comma", edit(t, "amount", "1234,50"), "amount", "point as the decimal separator"},
		{"amount .5", edit(t, "amount", ".5"), "amount", "decimal string"},
		{"amount 5.", edit(t, "amount", "5."), "amount", "decimal string"},
		{"amount with currency sign", edit(t, "amount", "€5"), "amount", "decimal string"},

		// Currency.
		{"missing currency", edit(t, "currency", del), "currency", "required"},
		{"unknown currency EUX", edit(t, "currency", "EUX"), "currency", "unknown currency EUX"},
		{"withdrawn currency HRK", edit(t, "currency", "HRK"), "currency", "unknown currency HRK"},
		{"non-currency XAU", edit(t, "currency", "XAU"), "currency", "unknown currency XAU"},
		{"lower-case currency", edit(t, "currency", "eur"), "currency", "must be upper case: EUR"},
		{"currency of 4 letters", edit(t, "currency", "EURO"), "currency", "three upper-case letters"},
		{"currency as number", edit(t, "currency", 978), "currency", "must be a JSON string, not a number"},

		// IBAN and BIC.
		{"bad IBAN check digits", edit(t, "creditor.iban", "LV98HABA0012345678910"), "creditor.iban", "check digits do not match (mod 97)"},
		{"IBAN one digit changed", edit(t, "debtor.iban", "LV55TREL9190000000002"), "debtor.iban", "check digits do not match"},
		{"IBAN check digits 00 (97 mod 97)", edit(t, "creditor.iban", "LV00HABA0012345678910"), "creditor.iban", "check digits 00 are never issued"},
		{"IBAN check digits 99 (02 mod 97)", edit(t, "creditor.iban", "GB99WEST12345698765514"), "creditor.iban", "check digits 99 are never issued"},
		{"IBAN too short for LV", edit(t, "creditor.iban", "LV97HABA001234567891"), "creditor.iban", "LV IBANs have 21 characters, got 20"},
		{"IBAN too long for DE", edit(t, "creditor.iban", "DE893704004405320130001"), "creditor.iban", "DE IBANs have 22 characters, got 23"},
		{"lower-case IBAN", edit(t, "creditor.iban", "lv97haba0012345678910"), "creditor.iban", "must be upper case"},
		{"IBAN with spaces", edit(t, "creditor.iban", "LV97 HABA 0012 3456 7891 0"), "creditor.iban", "without spaces"},
		{"IBAN of a country without IBANs", edit(t, "creditor.iban", "US12345678901234567890"), "creditor.iban", "country US does not use IBANs"},
		{"IBAN with punctuation", edit(t, "creditor.iban", "LV97HABA-012345678910"), "creditor.iban", "letters and digits only"},
		{"IBAN as object", edit(t, "creditor.iban", map[string]any{}), "creditor.iban", "must be a JSON string, not an object"},
		{"BIC of 9 chars", edit(t, "debtor.bic", "TRELLV22X"), "debtor.bic", "must be 8 or 11 characters, got 9"},
		{"BIC of unknown country", edit(t, "creditor.bic", "HABAQQ22"), "creditor.bic", "unknown country code QQ"},
		{"lower-case BIC", edit(t, "creditor.bic", "habalv22"), "creditor.bic", "must be upper case"},
		{"BIC with digit in bank code", edit(t, "creditor.bic", "HAB1LV22"), "creditor.bic", "4 letters (bank)"},

		// Dates, texts and codes.
		{"execution date 2026-02-30", edit(t, "execution_date", "2026-02-30"), "execution_date", "2026-02-30 is not a calendar date"},
		{"execution date 2026-13-01", edit(t, "execution_date", "2026-13-01"), "execution_date", "not a calendar date"},
		{"execution date in Latvian format", edit(t, "execution_date", "30.11.2026"), "execution_date", "YYYY-MM-DD"},
		{"execution date with time", edit(t, "execution_date", "2026-11-30T00:00:00Z"), "execution_date", "YYYY-MM-DD"},
		{"141-rune remittance", edit(t, "remittance", strings.Repeat("ā", 141)), "remittance", "at most 140 characters, got 141"},
		{"remittance with newline", edit(t, "remittance", "Rēķins\nNr. 1"), "remittance", "control characters"},
		{"RF reference with bad check digits", edit(t, "creditor_reference", "RF19539007547034"), "creditor_reference", "RF check digits do not match"},
		{"RF reference with spaces", edit(t, "creditor_reference", "RF18 5390 0754 7034"), "creditor_reference", "ISO 11649"},
		{"36-char creditor reference", edit(t, "creditor_reference", strings.Repeat("1", 36)), "creditor_reference", "at most 35 characters"},
		{"purpose of 5 chars", edit(t, "purpose", "SUPPL"), "purpose", "1 to 4 upper-case letters or digits"},
		{"lower-case purpose", edit(t, "purpose", "supp"), "purpose", "purpose code"},
		{"budget code with space", edit(t, "budget_code", "22 79"), "budget_code", "letters, digits, points or hyphens"},
		{"36-char budget code", edit(t, "budget_code", strings.Repeat("2", 36)), "budget_code", "1 to 35"},
		{"upper-case profile", edit(t, "profile", "eKase"), "profile", "lower-case"},
		{"33-char profile", edit(t, "profile", strings.Repeat("a", 33)), "profile", "1 to 32"},

		// Addresses and ultimate parties.
		{"unknown address country", edit(t, "creditor.address.country", "QZ"), "creditor.address.country", "unknown country code QZ"},
		{"lower-case address country", edit(t, "creditor.address.country", "lv"), "creditor.address.country", "two upper-case letters"},
		{"71-char street", edit(t, "creditor.address.street", strings.Repeat("s", 71)), "creditor.address.street", "at most 70 characters, got 71"},
		{"17-char building", edit(t, "creditor.address.building", strings.Repeat("1", 17)), "creditor.address.building", "at most 16 characters"},
		{"17-char postcode", edit(t, "creditor.address.postcode", strings.Repeat("1", 17)), "creditor.address.postcode", "at most 16 characters"},
		{"36-char town", edit(t, "creditor.address.town", strings.Repeat("R", 36)), "creditor.address.town", "at most 35 characters"},
		{"8 address lines", edit(t, "creditor.address.lines", []string{"1", "2", "3", "4", "5", "6", "7", "8"}), "creditor.address.lines", "at most 7 lines, got 8"},
		{"71-char address line", edit(t, "creditor.address.lines", []string{"ok", strings.Repeat("l", 71)}), "creditor.address.lines[1]", "at most 70 characters, got 71"},
		{"empty address line", edit(t, "ultimate_creditor.address.lines", []string{"ok", ""}), "ultimate_creditor.address.lines[1]", "must not be empty"},
		{"address line is a number", edit(t, "creditor.address.lines", []any{"ok", 5}), "creditor.address.lines[1]", "must be a JSON string, not a number"},
		{"address line is null", edit(t, "creditor.address.lines", []any{nil}), "creditor.address.lines[0]", "must be a JSON string, not null"},
		{"address lines is a string", edit(t, "creditor.address.lines", "Rīga"), "creditor.address.lines", "must be an array of strings"},
		{"address is a string", edit(t, "creditor.address", "Rīga"), "creditor.address", "must be an object"},
		{"ultimate debtor without name", edit(t, "ultimate_debtor.name", del), "ultimate_debtor.name", "required"},
		{"141-rune ultimate debtor name", edit(t, "ultimate_debtor.name", strings.Repeat("ē", 141)), "ultimate_debtor.name", "at most 140"},
		{"36-char ultimate creditor id", edit(t, "ultimate_creditor.id", strings.Repeat("9", 36)), "ultimate_creditor.id", "at most 35 characters"},
		{"ultimate debtor address country", edit(t, "ultimate_debtor.address.country", "ZZ"), "ultimate_debtor.address.country", "unknown country code ZZ"},
		{"ultimate creditor is an array", edit(t, "ultimate_creditor", []any{}), "ultimate_creditor", "must be an object, not an array"},

		// Type and version.
		{"other type", edit(t, "type", "pay.status"), "type", `must be "pay.intent"`},
		{"empty type", edit(t, "type", ""), "type", `must be "pay.intent"`},
		{"version 2", edit(t, "version", 2), "version", "unsupported version 2, this gateway reads version 1"},
		{"version 0", edit(t, "version", 0), "version", "unsupported version 0"},
		{"version as string", edit(t, "version", "1"), "version", "must be a JSON number, not a string"},
		{"version 1.5", edit(t, "version", 1.5), "version", "must be the integer 1"},
		{"huge version", strings.Replace(exampleIntent, `"id"`, `"version":123456789012345678901234567890,"id"`, 1), "version", "unsupported version 12345678901234567890…, this gateway reads version 1"},

		// JSON shape.
		{"unknown top-level field", edit(t, "foo", 1), "foo", "unknown field"},
		{"field of other case", edit(t, "Amount", "1.00"), "Amount", "unknown field"},
		{"unknown field in creditor", edit(t, "creditor.foo", "x"), "creditor.foo", "unknown field"},
		{"unknown field in address", edit(t, "creditor.address.floor", "3"), "creditor.address.floor", "unknown field"},
		{"unknown field in ultimate creditor", edit(t, "ultimate_creditor.iban", creditorIBAN), "ultimate_creditor.iban", "unknown field"},
		{"unknown null field", edit(t, "bar", nil), "bar", "unknown field"},
		{"odd key quoted in path", edit(t, "creditor.a b", 1), `creditor["a b"]`, "unknown field"},
		{"duplicate amount", strings.Replace(exampleIntent, `"amount": "1234.50"`, `"amount": "1.00", "amount": "1234.50"`, 1), "amount", "duplicate field"},
		{"duplicate amount, same value", strings.Replace(exampleIntent, `"amount": "1234.50"`, `"amount": "1234.50", "amount": "1234.50"`, 1), "amount", "duplicate field"},
		{"duplicate null", strings.Replace(exampleIntent, `"amount": "1234.50"`, `"amount": null, "amount": "1234.50"`, 1), "amount", "duplicate field"},
		{"duplicate creditor iban", strings.Replace(exampleIntent, `"iban": "LV97HABA0012345678910"`, `"iban": "LV97HABA0012345678910", "iban": "LV80BANK0000435195001"`, 1), "creditor.iban", "duplicate field"},
		{"duplicate creditor", strings.Replace(exampleIntent, `"amount"`, `"creditor": {"name":"X","iban":"LV80BANK0000435195001"}, "amount"`, 1), "creditor", "duplicate field"},

		// Not one JSON object.
		{"not JSON", `xyz`, "", "json: invalid character 'x' looking for beginning of value"},
		{"empty input", ``, "", "json: unexpected end of input"},
		{"only spaces", "  \n", "", "json: unexpected end of input"},
		{"truncated", exampleIntent[:len(exampleIntent)/2], "", "json: unexpected end of input"},
		{"truncated after key", `{"id"`, "", "json: unexpected end of input"},
		{"missing comma", `{"id":"1" "amount":"2"}`, "", "json: invalid character"},
		{"trailing data", exampleIntent + ` {}`, "", "json: trailing data after the object"},
		{"trailing garbage", exampleIntent + `x`, "", "json: trailing data after the object"},
		{"two objects", `{}{}`, "", "json: trailing data after the object"},
		{"array instead of object", `[` + exampleIntent + `]`, "", "json: the intent must be a JSON object, not an array"},
		{"string instead of object", `"INV-1"`, "", "json: the intent must be a JSON object, not a string"},
		{"null instead of object", `null`, "", "json: the intent must be a JSON object, not null"},
		{"number instead of object", `12`, "", "json: the intent must be a JSON object, not a number"},
		{"larger than 64 KiB", big, "", "json: input of " + strconv.Itoa(len(big)) + " bytes is larger than the 65536 bytes allowed"},
		{"invalid UTF-8", `{"id":"` + "\xff" + `"}`, "", "json: input is not valid UTF-8"},
		{"nested too deep", edit(t, "creditor.address.lines", []any{[]any{"x"}}), "", "json: nesting deeper than the intent allows (4 levels) at creditor.address.lines[0]"},
		{"deep garbage", `{"foo":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`, "", "json: nesting deeper than the intent allows"},
	}
	if len(tests) < 40 {
		t.Fatalf("only %d bad intents", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseIntent([]byte(tt.input))
			if err == nil {
				t.Fatalf("ParseIntent(%s) = nil error, want %s: %s", tt.name, tt.field, tt.reason)
			}
			if tt.field == "" {
				var je *JSONError
				if !errors.As(err, &je) {
					t.Fatalf("ParseIntent(%s) = %T %v, want *JSONError", tt.name, err, err)
				}
				if !strings.HasPrefix(err.Error(), tt.reason) {
					t.Errorf("ParseIntent(%s) = %q, want prefix %q", tt.name, err, tt.reason)
				}
				return
			}
			var ve ValidationErrors
			if !errors.As(err, &ve) {
				t.Fatalf("ParseIntent(%s) = %T %v, want ValidationErrors", tt.name, err, err)
			}
			for _, fe := range ve {
				if fe.Field == tt.field && strings.Contains(fe.Reason, tt.reason) {
					if len(ve) != 1 {
						t.Errorf("ParseIntent(%s) reported more than the one problem: %v", tt.name, err)
					}
					return
				}
			}
			t.Errorf("ParseIntent(%s) = %v, want %s: …%s…", tt.name, err, tt.field, tt.reason)
		})
	}
}

func TestParseIntentReportsEveryProblem(t *testing.T) {
	in := `{"id":"` + strings.Repeat("x", 36) + `",
	  "debtor":"Valsts kase",
	  "creditor":{"name":"","iban":"LV98HABA0012345678910","bic":"HABALV2","colour":"red"},
	  "amount":"12.345","amount":"1",
	  "currency":"EUX",
	  "execution_date":"2026-02-30",
	  "version":2}`
	_, err := ParseIntent([]byte(in))
	var ve ValidationErrors
	if !errors.As(err, &ve) {
		t.Fatalf("ParseIntent = %T %v, want ValidationErrors", err, err)
	}
	want := ValidationErrors{
		{"debtor", "must be an object, not a string"},
		{"creditor.colour", "unknown field"},
		{"amount", "duplicate field: a key may appear only once"},
		{"version", "unsupported version 2, this gateway reads version 1"},
		{"id", "at most 35 characters, got 36"},
		{"creditor.name", "required"},
		{"creditor.iban", "check digits do not match (mod 97)"},
		{"creditor.bic", "must be 8 or 11 characters, got 7"},
		{"currency", "unknown currency EUX (not an active ISO 4217 code)"},
		{"execution_date", "2026-02-30 is not a calendar date"},
	}
	if !reflect.DeepEqual(ve, want) {
		t.Errorf("ParseIntent =\n%v\nwant\n%v", ve, want)
	}
	if got := err.Error(); !strings.HasPrefix(got, "debtor: must be an object, not a string; creditor.colour: unknown field; ") {
		t.Errorf("Error() = %q, want problems joined by \"; \"", got)
	}
}

func TestParseIntentBoundsErrors(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{`)
	for i := range 1000 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"k` + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + `":` + "0")
	}
	b.WriteString(`}`)
	_, err := ParseIntent([]byte(b.String()))
	var ve ValidationErrors
	if !errors.As(err, &ve) {
		t.Fatalf("ParseIntent = %v, want ValidationErrors", err)
	}
	if len(ve) != maxReported+1 || !strings.HasPrefix(ve[maxReported].Reason, "and ") {
		t.Errorf("ParseIntent reported %d problems, last %q; want %d and a count of the rest", len(ve), ve[len(ve)-1], maxReported+1)
	}
}

func TestValidateTyped(t *testing.T) {
	good := PaymentIntent{
		ID:       "A-1",
		Debtor:   Account{Name: "Valsts kase", IBAN: debtorIBAN},
		Creditor: Account{Name: "SIA X", IBAN: creditorIBAN},
		Amount:   "10.00", Currency: "EUR",
	}
	if err := good.Validate(); err != nil {
		t.Fatalf("Validate(good) = %v", err)
	}
	bad := good
	bad.Version = 3
	bad.Creditor = Account{}
	bad.UltimateDebtor = &Party{}
	err := bad.Validate()
	want := ValidationErrors{
		{"version", "unsupported version 3, this gateway reads version 1"},
		{"creditor", "required: an object with name and iban"},
		{"ultimate_debtor.name", "required"},
	}
	var ve ValidationErrors
	if !errors.As(err, &ve) || !reflect.DeepEqual(ve, want) {
		t.Errorf("Validate(bad) = %v, want %v", err, want)
	}
}

func TestValidIBAN(t *testing.T) {
	for _, iban := range []string{
		debtorIBAN, creditorIBAN, "LV80BANK0000435195001", "DE89370400440532013000", "EE382200221020145685",
		"NO9386011117947", "GB29NWBK60161331926819", "FR1420041010050500013M02606", "BE68539007547034",
		"CH9300762011623852957", "LT121000011101001000", "FI2112345600000785",
	} {
		if err := ValidIBAN(iban); err != nil {
			t.Errorf("ValidIBAN(%s) = %v, want nil", iban, err)
		}
	}
	for iban, reason := range map[string]string{
		"":                       "required",
		"LV80BANK0000435195002":  "check digits",
		"LV00BANK0000435195001":  "check digits",
		"NO938601111794":         "NO IBANs have 15 characters, got 14",
		"XX80BANK0000435195001":  "country XX does not use IBANs",
		"LVAABANK0000435195001":  "two check digits",
		"LV80BANK000043519500Ā":  "letters and digits only",
		"GB29 NWBK 6016 1331 92": "without spaces",
	} {
		if err := ValidIBAN(iban); err == nil || !strings.Contains(err.Error(), reason) {
			t.Errorf("ValidIBAN(%q) = %v, want …%s…", iban, err, reason)
		}
	}
}

func TestValidBIC(t *testing.T) {
	for _, bic := range []string{"TRELLV22", "HABALV22", "COBADEFFXXX", "RBKOXKPR", "UNLALV2X"} {
		if err := ValidBIC(bic); err != nil {
			t.Errorf("ValidBIC(%s) = %v, want nil", bic, err)
		}
	}
	for _, bic := range []string{"", "TRELLV2", "TRELLV22X", "TRELLV22XXXX", "TREL1V22", "TRELQQ22", "trellv22", "TRELLV_2"} {
		if err := ValidBIC(bic); err == nil {
			t.Errorf("ValidBIC(%q) = nil, want an error", bic)
		}
	}
}

func TestValidAmountAndCurrency(t *testing.T) {
	tests := []struct {
		amount, currency string
		wantErr          string
	}{
		{"1234.50", "EUR", ""},
		{"1", "JPY", ""},
		{"1.0", "JPY", "JPY allows no decimal places"},
		{"0.001", "KWD", ""},
		{"0.0001", "KWD", "KWD allows at most 3 decimal places"},
		{"1.00", "XCG", ""},
		{"1.00", "ANG", "unknown currency ANG"},
		{"1.00", "BGN", "unknown currency BGN"},
		{"999999999999999999", "JPY", ""},
		{"1.00", "", "currency: must be an ISO 4217 code"},
	}
	for _, tt := range tests {
		err := ValidAmount(tt.amount, tt.currency)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("ValidAmount(%q, %q) = %v, want %q", tt.amount, tt.currency, err, tt.wantErr)
		}
	}
	for code, want := range map[string]int{"EUR": 2, "JPY": 0, "BHD": 3, "CLF": 4, "UYW": 4, "KRW": 0, "ISK": 0, "IQD": 3, "USD": 2} {
		if got, ok := CurrencyMinorUnits(code); !ok || got != want {
			t.Errorf("CurrencyMinorUnits(%s) = %d, %v, want %d, true", code, got, ok, want)
		}
	}
	if _, ok := CurrencyMinorUnits("EUX"); ok {
		t.Error("CurrencyMinorUnits(EUX) = true, want false")
	}
}

func TestCodeTables(t *testing.T) {
	if n := len(countries); n != 250 {
		t.Errorf("country table has %d codes, want 249 ISO 3166-1 codes plus XK", n)
	}
	if n := len(ibanLengths); n != 89 {
		t.Errorf("IBAN table has %d countries, want the registry's 89", n)
	}
	for c, n := range ibanLengths {
		if !KnownCountry(c) {
			t.Errorf("IBAN country %s is not a known country", c)
		}
		if n < 15 || n > 34 {
			t.Errorf("IBAN length of %s is %d, outside 15..34", c, n)
		}
	}
	for c, n := range currencyMinor {
		if !currencyPattern.MatchString(c) || n < 0 || n > 4 {
			t.Errorf("currency entry %s%d is malformed", c, n)
		}
	}
	if n := len(currencyMinor); n < 150 {
		t.Errorf("currency table has only %d codes", n)
	}
}

func TestMask(t *testing.T) {
	for in, want := range map[string]string{
		"LV80BANK0000435195001":       "LV80 **** 5001",
		"LV80 BANK 0000 4351 9500 1":  "LV80 **** 5001",
		"NO9386011117947":             "NO93 **** 7947",
		"LV80":                        "****",
		"":                            "",
		"LV80BANK00004351950āāāāāāāā": "****",
	} {
		if got := MaskIBAN(in); got != want {
			t.Errorf("MaskIBAN(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"SIA Piegādātājs": "S*** P***",
		"Ēriks  Ābols":    "Ē*** Ā***",
		"":                "",
	} {
		if got := MaskName(in); got != want {
			t.Errorf("MaskName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLogValueMasks(t *testing.T) {
	p, err := ParseIntent([]byte(exampleIntent))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("intent", "intent", p)
	out := buf.String()
	for _, secret := range []string{debtorIBAN, creditorIBAN, "Piegādātājs", "iestāde", "Brīvības"} {
		if strings.Contains(out, secret) {
			t.Errorf("log output %s shows %q", out, secret)
		}
	}
	for _, want := range []string{`"id":"INV-2026-000123"`, `"amount":"1234.50"`, `"currency":"EUR"`, `"creditor_iban":"LV97 **** 8910"`, `"creditor_name":"S*** P***"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log output %s lacks %s", out, want)
		}
	}
}

func TestRejectionErrors(t *testing.T) {
	_, err := ParseIntent([]byte(`[]`))
	got := RejectionErrors(err)
	if len(got) != 1 || got[0].Field != "" || !strings.HasPrefix(got[0].Reason, "json: ") {
		t.Errorf("RejectionErrors(%v) = %v", err, got)
	}
	_, err = ParseIntent([]byte(edit(t, "amount", "0", "currency", "EUX")))
	if got := RejectionErrors(err); len(got) != 2 || got[0].Field != "amount" || got[1].Field != "currency" {
		t.Errorf("RejectionErrors(%v) = %v", err, got)
	}
	if RejectionErrors(nil) != nil {
		t.Error("RejectionErrors(nil) != nil")
	}
}

func FuzzParseIntent(f *testing.F) {
	addIntentSeeds(f)
	f.Add([]byte(exampleIntent))
	f.Add([]byte(edit(f, "amount", "0.00", "creditor.foo", 1)))
	f.Add([]byte(edit(f, "creditor.address.lines", []any{"a", []any{"b"}})))
	f.Add([]byte(`{"id":"1","debtor":{"name":"A","iban":"LV55TREL9190000000001"},"creditor":{"name":"B","iban":"LV97HABA0012345678910"},"amount":"1","currency":"JPY"}`))
	f.Add([]byte(`{"amount":1e3,"amount":"1"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"id":"\u0000\ud800"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseIntent(data)
		if err != nil {
			var ve ValidationErrors
			var je *JSONError
			switch {
			case errors.As(err, &ve):
				if len(ve) == 0 {
					t.Fatal("empty ValidationErrors")
				}
				for _, fe := range ve {
					if fe.Reason == "" {
						t.Fatalf("field error without a reason: %v", ve)
					}
				}
			case errors.As(err, &je):
				if !strings.HasPrefix(je.Error(), "json: ") {
					t.Fatalf("JSONError %q lacks the json: prefix", je)
				}
			default:
				t.Fatalf("ParseIntent error %T %v is neither ValidationErrors nor *JSONError", err, err)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("ParseIntent accepted %q but Validate() = %v", data, err)
		}
		again, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		q, err := ParseIntent(again)
		if err != nil {
			t.Fatalf("re-marshalled intent %s does not parse: %v", again, err)
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("round trip changed the intent:\n%+v\n%+v", p, q)
		}
	})
}

// TestLargeObjectDuplicates: an object of more keys than the shape check
// scans pairwise reports each duplicate and each unknown field once.
func TestLargeObjectDuplicates(t *testing.T) {
	var b strings.Builder
	b.WriteString(strings.TrimSuffix(strings.TrimSpace(exampleIntent), "}"))
	for i := range 40 {
		fmt.Fprintf(&b, `, "x%d": 1`, i)
	}
	b.WriteString(`, "x5": 2, "amount": "1.00"}`)
	_, err := ParseIntent([]byte(b.String()))
	var ve ValidationErrors
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want field errors", err)
	}
	count := map[string]int{}
	for _, fe := range ve {
		count[fe.Field+": "+fe.Reason]++
	}
	for _, want := range []string{"x5: duplicate field: a key may appear only once", "amount: duplicate field: a key may appear only once", "x39: unknown field"} {
		if count[want] != 1 {
			t.Errorf("%q reported %d times, want once (all: %v)", want, count[want], count)
		}
	}
}

// TestParseIntentPooledArena: ParseIntent recycles its value arena; the
// result of an input must not depend on what was parsed before it.
func TestParseIntentPooledArena(t *testing.T) {
	var inputs []string
	inputs = append(inputs, exampleIntent, `{"id":"A"}`, `[]`, `{"id":"B","lines":[1,2]}`, `{"x":{"y":{"z":1}}}`)
	inputs = append(inputs, strings.Replace(exampleIntent, `"amount": "1234.50"`, `"amount": "1.00", "extra": [1, 2, 3]`, 1))
	var big strings.Builder
	big.WriteString(strings.TrimSuffix(strings.TrimSpace(exampleIntent), "}"))
	for i := range 300 {
		fmt.Fprintf(&big, `, "k%d": "v%d"`, i, i)
	}
	big.WriteString("}")
	inputs = append(inputs, big.String())
	type result struct {
		p   PaymentIntent
		err string
	}
	parse := func(s string) result {
		p, err := ParseIntent([]byte(s))
		r := result{p: p}
		if err != nil {
			r.err = err.Error()
		}
		return r
	}
	want := make([]result, len(inputs))
	for i, s := range inputs {
		want[i] = parse(s)
	}
	for round := range 3 {
		for i := len(inputs) - 1; i >= 0; i-- {
			parse(inputs[(i+round)%len(inputs)]) // something else first
			if got := parse(inputs[i]); !reflect.DeepEqual(got, want[i]) {
				t.Fatalf("input %d after input %d: %+v, want %+v", i, (i+round)%len(inputs), got, want[i])
			}
		}
	}
}
