package messages

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// checkSchema validates a decoded JSON value against the subset of JSON
// Schema the generator writes, returning the first violation.
func checkSchema(s map[string]any, v any, path string) error {
	if c, ok := s["const"]; ok && fmt.Sprint(c) != fmt.Sprint(v) {
		return fmt.Errorf("%s: %v is not the const %v", path, v, c)
	}
	if e, ok := s["enum"].([]any); ok {
		found := false
		for _, x := range e {
			found = found || x == v
		}
		if !found {
			return fmt.Errorf("%s: %v not in enum %v", path, v, e)
		}
	}
	num := func(k string) (int, bool) {
		f, ok := s[k].(float64)
		return int(f), ok
	}
	switch s["type"] {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: %T is not an object", path, v)
		}
		props, _ := s["properties"].(map[string]any)
		for _, r := range asSlice(s["required"]) {
			if _, ok := m[r.(string)]; !ok {
				return fmt.Errorf("%s: required %s missing", path, r)
			}
		}
		for k, x := range m {
			ps, ok := props[k].(map[string]any)
			if !ok {
				if ap, isSchema := s["additionalProperties"].(map[string]any); isSchema {
					ps = ap
				} else {
					return fmt.Errorf("%s: additional property %s", path, k)
				}
			}
			if err := checkSchema(ps, x, path+"."+k); err != nil {
				return err
			}
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: %T is not an array", path, v)
		}
		if n, ok := num("minItems"); ok && len(a) < n {
			return fmt.Errorf("%s: fewer than %d items", path, n)
		}
		if n, ok := num("maxItems"); ok && len(a) > n {
			return fmt.Errorf("%s: more than %d items", path, n)
		}
		for i, x := range a {
			if err := checkSchema(s["items"].(map[string]any), x, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s: %T is not a string", path, v)
		}
		if n, ok := num("minLength"); ok && utf8.RuneCountInString(str) < n {
			return fmt.Errorf("%s: shorter than %d", path, n)
		}
		if n, ok := num("maxLength"); ok && utf8.RuneCountInString(str) > n {
			return fmt.Errorf("%s: longer than %d", path, n)
		}
		if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(str) {
			return fmt.Errorf("%s: %q does not match %s", path, str, p)
		}
		if s["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				return fmt.Errorf("%s: %v", path, err)
			}
		}
	case "integer":
		f, ok := v.(float64)
		if !ok || f != float64(int64(f)) {
			return fmt.Errorf("%s: %v is not an integer", path, v)
		}
		if n, ok := num("minimum"); ok && int(f) < n {
			return fmt.Errorf("%s: %v below minimum %d", path, f, n)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: %T is not a boolean", path, v)
		}
	}
	return nil
}

func asSlice(v any) []any {
	a, _ := v.([]any)
	return a
}

func loadSchema(t *testing.T, eventType string) map[string]any {
	t.Helper()
	files, err := Schemas()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.Name == SchemaFileName(eventType) {
			var s map[string]any
			if err := json.Unmarshal(f.Data, &s); err != nil {
				t.Fatal(err)
			}
			return s
		}
	}
	t.Fatalf("no schema for %s", eventType)
	return nil
}

func decodeAny(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestIntentSchemaAgreesWithParser checks that intents ParseIntent accepts
// pass the intent schema, and that the schema refuses some it rejects.
func TestIntentSchemaAgreesWithParser(t *testing.T) {
	s := loadSchema(t, TypePaymentIntent)
	good := []string{
		exampleIntent,
		edit(t, "type", "pay.intent", "version", 1),
		edit(t, "remittance", strings.Repeat("ā", 140)),
		edit(t, "currency", "BHD", "amount", "1.125"),
		edit(t, "creditor.address", map[string]any{"lines": []string{"1", "2", "3", "4", "5", "6", "7"}}),
	}
	for _, in := range good {
		if _, err := ParseIntent([]byte(in)); err != nil {
			t.Fatalf("ParseIntent(%s) = %v", in, err)
		}
		if err := checkSchema(s, decodeAny(t, []byte(in)), "$"); err != nil {
			t.Errorf("schema refuses a good intent: %v\n%s", err, in)
		}
	}
	bad := []string{
		edit(t, "foo", 1),
		edit(t, "creditor.foo", 1),
		edit(t, "amount", 12.5),
		edit(t, "amount", "-5.00"),
		edit(t, "amount", "01.5"),
		edit(t, "currency", "eur"),
		edit(t, "version", 2),
		edit(t, "type", "pay.status"),
		edit(t, "id", strings.Repeat("x", 36)),
		edit(t, "remittance", strings.Repeat("ā", 141)),
		edit(t, "creditor.iban", "lv97haba0012345678910"),
		edit(t, "debtor.bic", "TRELLV22X"),
		edit(t, "execution_date", "30.11.2026"),
		edit(t, "creditor.address.lines", []string{"1", "2", "3", "4", "5", "6", "7", "8"}),
		edit(t, "creditor.name", del),
		edit(t, "purpose", "SUPPLY"),
		edit(t, "profile", "eKase"),
	}
	for _, in := range bad {
		if _, err := ParseIntent([]byte(in)); err == nil {
			t.Fatalf("ParseIntent(%s) = nil error", in)
		}
		if err := checkSchema(s, decodeAny(t, []byte(in)), "$"); err == nil {
			t.Errorf("schema accepts a bad intent:\n%s", in)
		}
	}
}

// TestEventsValidateAgainstSchemas checks realistic events, as Marshal
// writes them, against their schemas.
func TestEventsValidateAgainstSchemas(t *testing.T) {
	at := time.Date(2026, 11, 21, 6, 30, 0, 0, time.UTC)
	sha := strings.Repeat("ab", 32)
	events := []Event{
		IntentRejected{IntentID: "INV-1", RejectedAt: at, Source: SourceEncoder,
			Errors: []FieldError{{Field: "amount", Reason: "must be greater than 0"}}, Intent: RawJSON([]byte("{"))},
		BatchEncoded{BatchID: "B-20261121-0001", Profile: "ekase", Message: "pain.001.001.03", CreatedAt: at,
			DebtorIBAN: debtorIBAN, DebtorBIC: "TRELLV22", Currency: "EUR", NbOfTxs: 2, CtrlSum: "1235.50",
			IntentIDs: []string{"INV-1", "INV-2"}, ArchiveObject: "sha256/" + sha, ArchiveSHA256: sha, ArchiveSize: 4096},
		BatchSubmitted{BatchID: "B-1", SubmittedAt: at, Channel: "h2h", Attempt: 1, ArchiveSHA256: sha},
		BatchFailed{BatchID: "B-1", FailedAt: at, Reason: "certificate expired", Permanent: true},
		BatchInDoubt{BatchID: "B-1", Since: at, Reason: "upload timed out"},
		PaymentStatus{IntentID: "INV-1", BatchID: "B-1", Status: TxStatusRJCT, Final: TxStatusRJCT.Final(), GroupStatus: TxStatusPART,
			Reasons: []StatusReason{{Code: "AC01", Info: []string{"Incorrect account number"}}}, ReceivedAt: at, ArchiveSHA256: sha},
		PaymentSettled{IntentID: "INV-1", BatchID: "B-1", Account: debtorIBAN, Amount: "1234.50", Currency: "EUR",
			CreditDebit: Debit, BookingDate: "2026-11-30", StatementMsgID: "S-1", SettledAt: at},
		StatementEntry{EntryKey: "ref/BSIM2026113000000001", TxIndex: 1, TxCount: 1, Message: "camt.053.001.02", MsgID: "S-1", ReportID: "R-1", Account: debtorIBAN, Amount: "1235.50",
			Currency: "EUR", CreditDebit: Debit, Status: EntryBooked, BookingDate: "2026-11-30", BatchCount: 2,
			Transactions: []EntryTransaction{{EndToEndID: "INV-1", MsgID: "B-1", Amount: "1234.50", Currency: "EUR",
				Counterparty: &Counterparty{Name: "SIA X", IBAN: creditorIBAN, BIC: "HABALV22"}}}},
		StatementReport{Message: "camt.053.001.02", MsgID: "S-1", ReportID: "R-1", Account: debtorIBAN, CreatedAt: at,
			Balances: []Balance{{Type: BalanceClosingBooked, Amount: "0", Currency: "EUR", CreditDebit: Credit, Date: "2026-11-30"}},
			Entries:  1, ArchiveSHA256: sha},
		StatementGap{Account: debtorIBAN, Message: "camt.053.001.02", Expected: "41", Got: "43", DetectedAt: at},
		StatementUnmatched{Reason: UnmatchedAmountMismatch, Account: debtorIBAN, EntryKey: "ref/BSIM2026113000000002", TxIndex: 1,
			IntentID: "INV-1", BatchID: "B-1", EndToEndID: "INV-1", Amount: "1234.51", Currency: "EUR", Expected: "1234.50 EUR",
			CreditDebit: Debit, BookingDate: "2026-11-30", StatementMsgID: "S-1", DetectedAt: at},
		DeadLetter{Worker: "encoder", Subject: IntentSubject("INV-1"), Headers: map[string][]string{HeaderMsgID: {"INV-1"}},
			Data: []byte("{}"), Error: "boom", Attempts: 5, FirstFailedAt: at, FailedAt: at, Stream: StreamPayments, StreamSeq: 7},
		CertExpiring{Org: "lv-treasury", Env: "prod", Purpose: "ekase", Subject: "CN=x", Serial: "01", NotAfter: at, DaysLeft: 20, ThresholdDays: 30},
		CertRenewed{Org: "o", Env: "test", Purpose: "vero", NewSerial: "02", NotAfter: at, ActiveFrom: at},
		CertRenewalFailed{Org: "o", Env: "test", Purpose: "vero", Error: "service unavailable"},
	}
	p, err := ParseIntent([]byte(exampleIntent))
	if err != nil {
		t.Fatal(err)
	}
	events = append(events, p)
	if len(events) != len(schemaEvents) {
		t.Fatalf("%d sample events for %d event types", len(events), len(schemaEvents))
	}
	for _, e := range events {
		b, err := Marshal(e)
		if err != nil {
			t.Fatalf("Marshal(%T) = %v", e, err)
		}
		if err := checkSchema(loadSchema(t, e.EventType()), decodeAny(t, b), "$"); err != nil {
			t.Errorf("%T does not match its schema: %v\n%s", e, err, b)
		}
	}
}
