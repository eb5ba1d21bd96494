package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/big"
	"net"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	dto "github.com/prometheus/client_model/go"

	"github.com/isogate/isogate/internal/config"
	"github.com/isogate/isogate/internal/intentgen"
	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/workers/encoder"
	"github.com/isogate/isogate/workers/reconciler"
	"github.com/isogate/isogate/workers/statements"
	"github.com/isogate/isogate/workers/statuspoller"
	"github.com/isogate/isogate/workers/submitter"
)

// The bad-input catalogue, intent half (issue 7): malformed and hostile
// payment intents, published raw on pay.intent.<token> the way a non-Go
// producer would, between valid ones, into one whole gateway. Each case
// states its documented outcome and the test reads that outcome from the
// streams.

// intentCatKind is the documented outcome of one catalogue case.
type intentCatKind int

const (
	// intentCatPaid: a valid intent, batched once and settled once.
	intentCatPaid intentCatKind = iota
	// intentCatRejected: one pay.intent.rejected.<id> (source encoder)
	// naming field, with reason in its text.
	intentCatRejected
	// intentCatDeadLetter: one dead letter on dlq.encoder for the stored
	// message (by stream sequence), its error containing reason and its
	// data the bytes published.
	intentCatDeadLetter
	// intentCatRefused: the publish fails and the stream stores nothing:
	// JetStream err_code code, or (code 0) an error containing reason.
	intentCatRefused
	// intentCatDuplicate: the publish is acknowledged as a duplicate
	// (PubAck.Duplicate) and the stream stores nothing new.
	intentCatDuplicate
	// intentCatIgnored: stored as a second message on a known id's
	// subject; the encoder acks it as a duplicate: no event, no payment.
	intentCatIgnored
)

// intentCatCase is one entry of the catalogue.
type intentCatCase struct {
	name string
	// id is the intent id the encoder reads (rejected and paid cases, and
	// duplicates); "" when the body has no readable id.
	id string
	// subject defaults to messages.IntentSubject(id), or to a subject of
	// the case's own when id is "".
	subject string
	// msgID is the Nats-Msg-Id; default the id, or the subject's token.
	msgID string
	// noExpect publishes without Nats-Expected-Last-Subject-Sequence: 0.
	noExpect bool
	// rawSocket publishes over a plain TCP connection speaking the NATS
	// protocol, as a producer without a NATS library.
	rawSocket bool
	body      []byte
	want      intentCatKind
	field     string // rejected: the field path
	reason    string // rejected: reason substring; dead letter: error substring; refused: error text
	code      int    // refused: JetStream API err_code
	amount    string // paid: the amount that must be settled (default: the body's)
	noData    bool   // dead letter: without the data, which stays in PAYMENTS

	// Filled in by publishing.
	seq    uint64
	pubErr error
	dup    bool
}

func (c *intentCatCase) subj() string {
	if c.subject != "" {
		return c.subject
	}
	return messages.IntentSubject(c.id)
}

// intentCatBase is the valid intent the catalogue edits, as a JSON object.
func intentCatBase(t *testing.T, id string) map[string]any {
	t.Helper()
	p := intentgen.Intents(1, intentgen.Options{Prefix: "CATBASE", Seed: 77})[0]
	p.ID = id
	data, err := messages.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// intentCatDel deletes a field in intentCatEdit.
type intentCatDel struct{}

// intentCatEdit returns the base intent with id, changed at each path
// ("creditor.iban") to the value that follows it (intentCatDel{} removes
// it), as JSON.
func intentCatEdit(t *testing.T, id string, changes ...any) []byte {
	t.Helper()
	m := intentCatBase(t, id)
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
		if _, ok := changes[i+1].(intentCatDel); ok {
			delete(obj, last)
		} else {
			obj[last] = changes[i+1]
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// intentCatReplace is the base intent with id as JSON, with the first old
// replaced by new: for inputs json.Marshal cannot write.
func intentCatReplace(t *testing.T, id, old, new string) []byte {
	t.Helper()
	b := intentCatEdit(t, id)
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("intentCatReplace: %q not in %s", old, b)
	}
	return bytes.Replace(b, []byte(old), []byte(new), 1)
}

// intentCatCases is the catalogue. Cases with an id use their own
// (CAT-<n>), so each outcome can be found by id.
func intentCatCases(t *testing.T) []*intentCatCase {
	n := 0
	id := func() string { n++; return fmt.Sprintf("CAT-%03d", n) }
	own := func() string { n++; return fmt.Sprintf("pay.intent.CAT-%03d", n) }
	edit := func(changes ...any) (string, []byte) {
		i := id()
		return i, intentCatEdit(t, i, changes...)
	}
	rejected := func(name, field, reason string, changes ...any) *intentCatCase {
		i, b := edit(changes...)
		return &intentCatCase{name: name, id: i, body: b, want: intentCatRejected, field: field, reason: reason}
	}
	dead := func(name, reason string, body []byte) *intentCatCase {
		return &intentCatCase{name: name, subject: own(), body: body, want: intentCatDeadLetter, reason: reason}
	}
	paid := func(name string, changes ...any) *intentCatCase {
		i, b := edit(changes...)
		return &intentCatCase{name: name, id: i, body: b, want: intentCatPaid}
	}
	mb := strings.Repeat("x", 1<<20)
	const controlChars = "control characters"
	const notString = "must be a JSON string, not "

	var cs []*intentCatCase
	add := func(c ...*intentCatCase) { cs = append(cs, c...) }

	// Wrong JSON types, one per field kind.
	add(
		rejected("amount as a number 1.5", "amount", notString+"a number", "amount", 1.5),
		rejected("amount as number 1e3", "amount", notString+"a number", "amount", json.Number("1e3")),
		rejected("amount as boolean", "amount", notString+"a boolean", "amount", true),
		rejected("currency as number", "currency", notString+"a number", "currency", 978),
		rejected("creditor name as object", "creditor.name", notString+"an object", "creditor.name", map[string]any{"x": 1}),
		rejected("creditor as string", "creditor", "must be an object, not a string", "creditor", "SIA X"),
		rejected("debtor as array", "debtor", "must be an object, not an array", "debtor", []any{}),
		rejected("address lines as string", "creditor.address.lines", "must be an array of strings", "creditor.address.lines", "Rīga"),
		rejected("address line as number", "creditor.address.lines[0]", notString+"a number", "creditor.address.lines", []any{7}),
		rejected("execution date as number", "execution_date", notString+"a number", "execution_date", 20261130),
		rejected("ultimate creditor as array", "ultimate_creditor", "must be an object, not an array", "ultimate_creditor", []any{"x"}),
	)
	// Amounts.
	add(
		rejected("amount of 19 digits", "amount", "at most 18 digits in total, got 19", "amount", "1234567890123456789"),
		rejected("negative amount", "amount", "without a sign", "amount", "-5.00"),
		rejected("zero amount", "amount", "must be greater than 0", "amount", "0.00"),
		rejected("three decimals in EUR", "amount", "EUR allows at most 2 decimal places", "amount", "12.345"),
		rejected("amount 1e3 as string", "amount", "without an exponent", "amount", "1e3"),
		rejected("amount with comma", "amount", "point as the decimal separator", "amount", "12,50"),
		rejected("amount with leading zero", "amount", "leading zeros", "amount", "012.50"),
		rejected("amount with NBSP", "amount", "without spaces", "amount", "1\u00a0000.00"),
		rejected("amount NaN", "amount", "must be a decimal string like 1234.50", "amount", "NaN"),
	)
	// Currency.
	add(
		rejected("unknown currency", "currency", "unknown currency EUX", "currency", "EUX"),
		rejected("lower-case currency", "currency", "must be upper case: EUR", "currency", "eur"),
		rejected("currency the profile does not allow", "currency", "profile ekase allows EUR", "currency", "USD", "amount", "10.00"),
	)
	// Accounts.
	add(
		rejected("bad IBAN check digits", "creditor.iban", "check digits do not match (mod 97)", "creditor.iban", "LV98HABA0012345678910"),
		rejected("IBAN with spaces", "creditor.iban", "without spaces", "creditor.iban", "LV97 HABA 0012 3456 7891 0"),
		rejected("lower-case IBAN", "creditor.iban", "must be upper case", "creditor.iban", "lv97haba0012345678910"),
		rejected("IBAN of a country without IBANs", "creditor.iban", "country US does not use IBANs", "creditor.iban", "US12345678901234567890"),
		rejected("debtor IBAN outside the Treasury", "debtor.iban", "profile ekase requires a debtor IBAN", "debtor.iban", "LV97HABA0012345678910", "debtor.bic", intentCatDel{}),
		rejected("BIC of 7 characters", "creditor.bic", "must be 8 or 11 characters, got 7", "creditor.bic", "HABALV2"),
		rejected("BIC of unknown country", "creditor.bic", "unknown country code QQ", "creditor.bic", "HABAQQ22"),
		rejected("debtor BIC other than the Treasury's", "debtor.bic", "profile ekase requires debtor BIC TRELLV22", "debtor.bic", "HABALV22"),
	)
	// Text: control characters, lengths, charset.
	add(
		rejected("NUL in remittance", "remittance", controlChars, "remittance", "Rēķins\x00"),
		rejected("ESC in creditor name", "creditor.name", controlChars, "creditor.name", "SIA \x1b[31mX"),
		rejected("U+0085 in remittance", "remittance", controlChars, "remittance", "Rēķins\u0085Nr. 1"),
		rejected("remittance over the limit (141)", "remittance", "at most 140 characters, got 141", "remittance", strings.Repeat("ā", 141)),
		rejected("creditor name over the profile's 70", "creditor.name", "71 characters, at most 70 allowed", "creditor.name", strings.Repeat("Ž", 71)),
		rejected("Cyrillic letters the profile refuses", "creditor.name", `characters not allowed by charset "latvian"`, "creditor.name", "ООО Поставщик"),
		rejected("execution date 30.11.2026", "execution_date", "YYYY-MM-DD", "execution_date", "30.11.2026"),
		rejected("execution date 2026-02-30", "execution_date", "2026-02-30 is not a calendar date", "execution_date", "2026-02-30"),
		rejected("RF reference with bad check digits", "creditor_reference", "RF check digits do not match", "creditor_reference", "RF19539007547034"),
		rejected("purpose of 5 characters", "purpose", "1 to 4 upper-case letters or digits", "purpose", "SUPPL"),
		rejected("budget code the profile refuses", "budget_code", "does not match", "budget_code", "2279-abc"),
		rejected("unknown address country", "creditor.address.country", "unknown country code QZ", "creditor.address.country", "QZ"),
		rejected("8 address lines", "creditor.address.lines", "at most 7 lines, got 8", "creditor.address.lines", []string{"1", "2", "3", "4", "5", "6", "7", "8"}),
		rejected("unknown profile", "profile", `unknown profile "nosuch"`, "profile", "nosuch"),
	)
	// Missing and unknown fields.
	add(
		rejected("missing amount", "amount", "required", "amount", intentCatDel{}),
		rejected("missing creditor", "creditor", "required", "creditor", intentCatDel{}),
		rejected("missing creditor iban", "creditor.iban", "required", "creditor.iban", intentCatDel{}),
		rejected("missing currency", "currency", "required", "currency", intentCatDel{}),
		rejected("unknown top-level field", "colour", "unknown field", "colour", "red"),
		rejected("field in other case", "Amount", "unknown field", "Amount", "1.00"),
		rejected("unknown field in creditor", "creditor.account_no", "unknown field", "creditor.account_no", "123"),
	)
	{
		i := id()
		add(&intentCatCase{name: "duplicate key amount", id: i, want: intentCatRejected, field: "amount", reason: "duplicate field",
			body: intentCatReplace(t, i, `"amount":"`, `"amount":"1.00","amount":"`)})
		i = id()
		many := map[string]any{}
		for k := range 150 {
			many[fmt.Sprintf("x%03d", k)] = k
		}
		b := intentCatEdit(t, i)
		b = append(b[:len(b)-1], ',')
		extra, _ := json.Marshal(many)
		b = append(b, extra[1:]...)
		add(&intentCatCase{name: "150 unknown fields (errors capped at 100)", id: i, body: b, want: intentCatRejected, field: "", reason: "and 50 more problems"})
		i = id()
		add(&intentCatCase{name: "unknown key with a dot", id: i, want: intentCatRejected, field: `["a.b"]`, reason: "unknown field",
			body: intentCatReplace(t, i, `{`, `{"a.b":1,`)})
		i = id()
		add(&intentCatCase{name: "lone surrogate escape in a name", id: i, want: intentCatRejected, field: "creditor.name", reason: "U+FFFD",
			body: intentCatReplace(t, i, `"name":"`, `"name":"\ud800`)})
		i = id()
		add(&intentCatCase{name: "amount as number 1e400", id: i, want: intentCatRejected, field: "amount", reason: notString + "a number",
			body: intentCatReplace(t, i, `"amount":"`, `"amount":1e400,"x":"`)})
		i = id()
		add(&intentCatCase{name: "duplicate key creditor iban", id: i, want: intentCatRejected, field: "creditor.iban", reason: "duplicate field",
			body: intentCatReplace(t, i, `"iban":"LV`, `"iban":"LV80BANK0000435195001","iban":"LV`)})
	}
	// Ids.
	{
		long := "CAT-LONG-" + strings.Repeat("9", 27) // 36
		add(&intentCatCase{name: "id of 36 characters", id: long, body: intentCatEdit(t, long), want: intentCatRejected,
			field: "id", reason: "at most 35 characters, got 36"})
		odd := "CAT ids.*>" // a subject token cannot hold it: base64 subject
		add(&intentCatCase{name: "id with subject characters . * > and space", id: odd, body: intentCatEdit(t, odd), want: intentCatRejected,
			field: "id", reason: `characters not allowed by charset "latvian": '*' (U+002A), '>' (U+003E)`})
		esc := "CAT-\x1b-ESC"
		add(&intentCatCase{name: "id with ESC", id: esc, body: intentCatEdit(t, esc), want: intentCatRejected,
			field: "id", reason: controlChars})
		add(dead("missing id", "has no readable id", intentCatEdit(t, "", "id", intentCatDel{})))
		add(dead("id as number", "has no readable id", intentCatEdit(t, "", "id", 42)))
		add(&intentCatCase{name: "blank id", id: "   ", body: intentCatEdit(t, "   "), want: intentCatRejected, field: "id", reason: "must not be blank"})
		add(&intentCatCase{name: "id with a trailing space", id: "CAT-SP ", body: intentCatEdit(t, "CAT-SP "), want: intentCatRejected,
			field: "id", reason: "must not start or end with spaces"})
		add(dead("empty id", "has no readable id", intentCatEdit(t, "")))
		kilo := strings.Repeat("K", 1000)
		add(&intentCatCase{name: "id of 1000 characters", id: kilo, body: intentCatEdit(t, kilo), want: intentCatRejected,
			field: "id", reason: "at most 35 characters, got 1000"})
		for _, n := range []int{1100, 4010} {
			long := strings.Repeat("L", n)
			add(&intentCatCase{name: fmt.Sprintf("id of %d characters on its own subject", n), id: long, body: intentCatEdit(t, long),
				want: intentCatDeadLetter, reason: fmt.Sprintf("its id of %d bytes is too long to name a subject", n)})
		}
		huge := strings.Repeat("H", 4100)
		add(&intentCatCase{name: "id of 4100 characters on its own subject (raw protocol)", id: huge, rawSocket: true, body: intentCatEdit(t, huge),
			want: intentCatRefused, reason: "-ERR 'maximum control line exceeded'"})
		add(&intentCatCase{name: "id with a dot, subject not encoded", id: "CAT.7", subject: "pay.intent.CAT.7", body: intentCatEdit(t, "CAT.7"),
			want: intentCatDeadLetter, reason: "an intent is published on pay.intent.<token>, a single token"})
		add(&intentCatCase{name: "subject pay.intent.a.b.c", id: "CAT-ABC", subject: "pay.intent.CAT.A.B", body: intentCatEdit(t, "CAT-ABC"),
			want: intentCatDeadLetter, reason: "a single token"})
		i := id()
		add(&intentCatCase{name: "id other than its subject's", id: i, subject: own(), body: intentCatEdit(t, i), want: intentCatDeadLetter,
			reason: "the subject must be pay.intent." + i})
		i = id()
		add(&intentCatCase{name: "non-canonical subject token", id: i, subject: "pay.intent.=" + base64.RawURLEncoding.EncodeToString([]byte(i)), body: intentCatEdit(t, i),
			want: intentCatDeadLetter, reason: "the subject must be pay.intent." + i})
	}
	// Schema type and version.
	add(
		dead("version 2", "is not a pay.intent this gateway reads", intentCatEdit(t, "CAT-V2", "version", 2)),
		dead("wrong type", "is not a pay.intent this gateway reads", intentCatEdit(t, "CAT-TYPE", "type", "pay.status")),
		dead("version as string", "is not a pay.intent this gateway reads", intentCatEdit(t, "CAT-VSTR", "version", "1")),
	)
	for _, c := range cs[len(cs)-3:] {
		var m struct{ ID string }
		_ = json.Unmarshal(c.body, &m)
		c.id, c.subject = m.ID, ""
	}
	// Not an intent at all.
	base := intentCatEdit(t, "CAT-BYTES")
	add(
		dead("not JSON", "json: invalid character 'P' looking for beginning of value", []byte("PAY 100 EUR TO LV97HABA0012345678910")),
		dead("empty body", "json: unexpected end of input", nil),
		dead("whitespace only", "json: unexpected end of input", []byte(" \r\n\t ")),
		dead("JSON array", "json: the intent must be a JSON object, not an array", append(append([]byte("["), base...), ']')),
		dead("JSON null", "json: the intent must be a JSON object, not null", []byte("null")),
		dead("JSON number", "json: the intent must be a JSON object, not a number", []byte("12.50")),
		dead("JSON string", "json: the intent must be a JSON object, not a string", []byte(`"CAT"`)),
		dead("deeply nested JSON", "json: nesting deeper than the intent allows", []byte(`{"id":"CAT-DEEP","x":`+strings.Repeat("[", 5000)+strings.Repeat("]", 5000)+`}`)),
		dead("trailing garbage", "json: trailing data after the object", append(slices.Clone(base), "}garbage"...)),
		dead("two objects", "json: trailing data after the object", append(slices.Clone(base), base...)),
		dead("UTF-8 BOM", "json: invalid character", append([]byte("\xef\xbb\xbf"), base...)),
		dead("invalid UTF-8", "json: input is not valid UTF-8", intentCatReplace(t, "CAT-BYTES", `"CAT-BYTES"`, "\"CAT-\xc3\x28\"")),
		dead("raw NUL byte in a string", `json: invalid character '\x00' in string literal`, intentCatReplace(t, "CAT-BYTES", `"CAT-BYTES"`, "\"CAT-\x00\"")),
		dead("truncated", "json: unexpected end of input", base[:len(base)/2]),
		dead("body over 64 KiB", "bytes is larger than the 65536 bytes allowed", intentCatEdit(t, "CAT-64K", "remittance", strings.Repeat("ā", 33<<10))),
	)
	// Stored, but too large to copy into a dead letter: its data stays in
	// the stream, where the dead letter points.
	huge := dead("body of 900 KB", "bytes is larger than the 65536 bytes allowed", intentCatEdit(t, "CAT-900K", "remittance", strings.Repeat("x", 900_000)))
	huge.noData = true
	add(huge)
	// Too large to store: refused at publish.
	add(
		&intentCatCase{name: "1 MiB remittance (nats.go)", subject: own(), body: intentCatEdit(t, "CAT-1M", "remittance", mb),
			want: intentCatRefused, reason: nats.ErrMaxPayload.Error()},
		&intentCatCase{name: "1 MiB remittance (raw protocol)", subject: own(), rawSocket: true, body: intentCatEdit(t, "CAT-1MRAW", "remittance", mb),
			want: intentCatRefused, reason: "-ERR 'Maximum Payload Violation'"},
	)
	// Valid input that must not be rejected.
	add(
		paid("Latvian letters everywhere", "creditor.name", "SIA Ķīmija ĀČĒĢĪĶĻŅŠŪŽ āčēģīķļņšūž", "remittance", "Rēķins Nr. 7 - ģērbtuve, Ķemeri"),
		paid("no type and version", "type", intentCatDel{}, "version", intentCatDel{}),
		paid("type and version given", "type", "pay.intent", "version", 1),
		paid("nulls for optional fields", "remittance", nil, "purpose", nil, "budget_code", nil, "creditor.address", nil),
		paid("amount without decimals", "amount", "7"),
		paid("amount with one decimal", "amount", "12.5"),
	)
	{
		lv := "RĒĶINS-Nr-1" // non-ASCII: base64 subject, allowed by the charset
		add(&intentCatCase{name: "id with Latvian letters", id: lv, body: intentCatEdit(t, lv), want: intentCatPaid})
		odd := "CAT 1.2 (odd)" // dots, spaces, brackets: base64 subject, allowed by the charset
		add(&intentCatCase{name: "id with dots and spaces", id: odd, body: intentCatEdit(t, odd), want: intentCatPaid})
		i := id()
		add(&intentCatCase{name: "no Nats-Msg-Id header", id: i, msgID: "-", body: intentCatEdit(t, i), want: intentCatPaid})
	}
	// Duplicates of ids published above.
	{
		i, b := edit("amount", "10.00")
		add(&intentCatCase{name: "original of the duplicates", id: i, body: b, want: intentCatPaid, amount: "10.00"},
			&intentCatCase{name: "same id, same content, same Nats-Msg-Id", id: i, body: b,
				want: intentCatRefused, code: int(jetstream.JSErrCodeStreamWrongLastSequence)},
			&intentCatCase{name: "same id, other content, same Nats-Msg-Id", id: i, body: intentCatEdit(t, i, "amount", "99999.00"),
				want: intentCatRefused, code: int(jetstream.JSErrCodeStreamWrongLastSequence)},
			&intentCatCase{name: "same id, same content, same Nats-Msg-Id, no expected sequence", id: i, body: b, noExpect: true,
				want: intentCatDuplicate},
			&intentCatCase{name: "same id, other content, same Nats-Msg-Id, no expected sequence", id: i, noExpect: true,
				body: intentCatEdit(t, i, "amount", "99999.00"), want: intentCatDuplicate},
			&intentCatCase{name: "same id, other content, other Nats-Msg-Id", id: i, msgID: i + "-v2", body: intentCatEdit(t, i, "amount", "99999.00"),
				want: intentCatRefused, code: int(jetstream.JSErrCodeStreamWrongLastSequence)},
		)
		// A producer that leaves out Nats-Expected-Last-Subject-Sequence
		// breaks the contract and gets a second message stored on the
		// id's subject. The copies below change neither amount, currency
		// nor debtor: the reconciler checks a booking against the last
		// message on pay.intent.<id>. (An invalid copy delivered while
		// its original waits for its batch: workers/encoder
		// TestHostileProducer.)
		j, b := edit("amount", "20.00")
		add(&intentCatCase{name: "original of the unguarded copies", id: j, body: b, want: intentCatPaid, amount: "20.00"},
			&intentCatCase{name: "same id, other remittance, no expected sequence", id: j, msgID: j + "-v2", noExpect: true,
				body: intentCatEdit(t, j, "amount", "20.00", "remittance", "Cits teksts"), want: intentCatIgnored},
			&intentCatCase{name: "same id, invalid copy, no expected sequence", id: j, msgID: j + "-v3", noExpect: true,
				body: intentCatEdit(t, j, "amount", "20.00", "remittance", "Rēķins\x1b"), want: intentCatIgnored},
		)
		r := cs[0] // rejected above: the id is spent
		add(&intentCatCase{name: "corrected intent for a rejected id", id: r.id, msgID: r.id + "-fixed", body: intentCatEdit(t, r.id),
			want: intentCatRefused, code: int(jetstream.JSErrCodeStreamWrongLastSequence)},
			&intentCatCase{name: "corrected intent for a rejected id, no expected sequence", id: r.id, msgID: r.id + "-sneaky", noExpect: true,
				body: intentCatEdit(t, r.id), want: intentCatIgnored})
	}
	return cs
}

// intentCatRawPublish publishes body to subject over a plain TCP
// connection to the server at url, speaking the NATS client protocol, and
// returns the server's error line, if any, for the PUB.
func intentCatRawPublish(ctx context.Context, url, subject string, body []byte) error {
	addr := strings.TrimPrefix(url, "nats://")
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline, ok := ctx.Deadline()
	if !ok || time.Until(deadline) > 10*time.Second {
		deadline = time.Now().Add(10 * time.Second)
	}
	_ = conn.SetDeadline(deadline)
	r := bufio.NewReader(conn)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "INFO ") {
		return fmt.Errorf("reading INFO: %q %v", line, err)
	}
	fmt.Fprintf(conn, "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"protocol\":1}\r\nPUB %s %d\r\n", subject, len(body))
	_, _ = conn.Write(body)
	_, _ = conn.Write([]byte("\r\nPING\r\n"))
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("reading the answer: %w", err)
		}
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "-ERR"):
			return errors.New(line)
		case line == "PONG":
			return nil
		}
	}
}

// intentCatSeen is what the test read from the streams.
type intentCatSeen struct {
	mu       sync.Mutex
	rejected map[string][]messages.IntentRejected // intent id → its rejections
	batched  map[string][]string                  // intent id → batches holding it
	settled  map[string][]messages.PaymentSettled // intent id → its settlements
	final    map[string][]messages.PaymentStatus  // intent id → its final statuses
	failed   []messages.BatchFailed
	letters  map[uint64][]messages.DeadLetter // PAYMENTS stream sequence → dead letters
	others   []messages.DeadLetter            // dead letters of other workers or streams
	read     map[string]uint64                // stream → messages read
}

func (s *intentCatSeen) observe(t *testing.T, m jetstream.Msg) {
	s.mu.Lock()
	defer s.mu.Unlock()
	subj, data := m.Subject(), m.Data()
	if meta, err := m.Metadata(); err == nil {
		s.read[meta.Stream]++
	}
	decode := func(v any) bool {
		if err := json.Unmarshal(data, v); err != nil {
			t.Errorf("%s: undecodable event: %v", subj, err)
			return false
		}
		return true
	}
	switch {
	case strings.HasPrefix(subj, "pay.intent.rejected."):
		var ev messages.IntentRejected
		if decode(&ev) {
			s.rejected[ev.IntentID] = append(s.rejected[ev.IntentID], ev)
		}
	case strings.HasPrefix(subj, "pay.batch.encoded."):
		var ev messages.BatchEncoded
		if decode(&ev) {
			for _, id := range ev.IntentIDs {
				s.batched[id] = append(s.batched[id], ev.BatchID)
			}
		}
	case strings.HasPrefix(subj, "pay.batch.failed."):
		var ev messages.BatchFailed
		if decode(&ev) {
			s.failed = append(s.failed, ev)
		}
	case strings.HasPrefix(subj, "pay.status."):
		var ev messages.PaymentStatus
		if decode(&ev) && ev.Final {
			s.final[ev.IntentID] = append(s.final[ev.IntentID], ev)
		}
	case strings.HasPrefix(subj, "pay.settled."):
		var ev messages.PaymentSettled
		if decode(&ev) {
			s.settled[ev.IntentID] = append(s.settled[ev.IntentID], ev)
		}
	case strings.HasPrefix(subj, "dlq."):
		var ev messages.DeadLetter
		if !decode(&ev) {
			return
		}
		if ev.Worker == encoder.Name && ev.Stream == messages.StreamPayments {
			s.letters[ev.StreamSeq] = append(s.letters[ev.StreamSeq], ev)
		} else {
			s.others = append(s.others, ev)
		}
	}
}

// intentCatFollow reads stream from its start into seen until the test
// ends.
func intentCatFollow(t *testing.T, js jetstream.JetStream, stream string, filters []string, seen *intentCatSeen) {
	t.Helper()
	cons, err := js.OrderedConsumer(t.Context(), stream, jetstream.OrderedConsumerConfig{FilterSubjects: filters})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { seen.observe(t, m) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
}

// intentCatWait polls cond every 50 ms until it holds, failing the test
// with what() when ctx ends first.
func intentCatWait(t *testing.T, ctx context.Context, cond func() bool, what func() string) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting: %v: %s", ctx.Err(), what())
		case <-tick.C:
		}
	}
}

// intentCatStart starts the whole gateway in dir with the demo's short
// timings: embedded JetStream, every worker, the simulated bank.
func intentCatStart(t *testing.T) *Gateway {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.NATS.Embedded.Port = -1
	cfg.NATS.Embedded.MonitorPort = 0
	cfg.NATS.Embedded.SyncInterval = "1s" // thrown away at the end
	cfg.Ops.Listen = ""
	cfg.Log.Level = "error"
	cfg.Encoder.Wait = 300 * time.Millisecond
	cfg.Bank.Banksim.Seed = 7
	cfg.Bank.Banksim.Process = 100 * time.Millisecond
	cfg.Bank.Banksim.Settle = 200 * time.Millisecond
	cfg.Bank.H2H.Timeout = 3 * time.Second
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	opts := Options{
		Submitter: func(c *submitter.Config) {
			c.UploadTimeout = 10 * time.Second
			c.ClockSkew = time.Second
			c.Backoff = []time.Duration{200 * time.Millisecond, 500 * time.Millisecond, time.Second}
		},
		StatusPoller: func(c *statuspoller.Config) {
			c.Schedule = statuspoller.Schedule{FirstDelay: 200 * time.Millisecond, Interval: 200 * time.Millisecond,
				MaxInterval: time.Second, Multiplier: 2}
			c.ListInterval = 5 * time.Second
			c.StatusTimeout = 5 * time.Second
		},
		Statements: func(c *statements.Config) {
			c.Tick = 200 * time.Millisecond
			c.RequestTimeout = 5 * time.Second
			for i := range c.Accounts {
				c.Accounts[i].Schedule = statements.Schedule{Intraday: 500 * time.Millisecond, Retry: 500 * time.Millisecond}
			}
		},
		Reconciler: func(c *reconciler.Config) {
			c.Backoff = []time.Duration{200 * time.Millisecond, 500 * time.Millisecond}
			c.MaxDeliver = 200
		},
	}
	ctx, stop := context.WithCancel(context.WithoutCancel(t.Context()))
	g, err := StartWith(ctx, &cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), opts)
	if err != nil {
		stop()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("gateway shutdown: %v", err)
		}
	})
	return g
}

// intentCatPublish publishes one case (or a valid intent) and records the
// outcome of the publish.
func intentCatPublish(ctx context.Context, js jetstream.JetStream, url string, c *intentCatCase) {
	if c.rawSocket {
		c.pubErr = intentCatRawPublish(ctx, url, c.subj(), c.body)
		return
	}
	msg := nats.NewMsg(c.subj())
	msg.Data = c.body
	switch {
	case c.msgID == "-":
	case c.msgID != "":
		msg.Header.Set(messages.HeaderMsgID, c.msgID)
	case c.id != "":
		msg.Header.Set(messages.HeaderMsgID, c.id)
	default:
		msg.Header.Set(messages.HeaderMsgID, c.subj())
	}
	if !c.noExpect {
		msg.Header.Set(messages.HeaderExpectedLastSubjectSeq, "0")
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ack, err := js.PublishMsg(pctx, msg)
	if err != nil {
		c.pubErr = err
		return
	}
	c.seq, c.dup = ack.Sequence, ack.Duplicate
}

// intentCatCounter returns the value of a counter of the registry with the
// given label value ("" for any).
func intentCatCounter(t *testing.T, g *Gateway, name, label string) float64 {
	t.Helper()
	mfs, err := g.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label != "" && !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetValue() == label }) {
				continue
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// TestCatalogueIntents publishes the bad-input catalogue between 200 valid
// intents into one running gateway and checks that each case ends in its
// documented outcome, that every valid intent is batched once, booked
// once and settled, and that the workers kept running throughout.
func TestCatalogueIntents(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Second)
	defer cancel()
	start := time.Now()
	g := intentCatStart(t)

	seen := &intentCatSeen{rejected: map[string][]messages.IntentRejected{}, batched: map[string][]string{},
		settled: map[string][]messages.PaymentSettled{}, final: map[string][]messages.PaymentStatus{}, letters: map[uint64][]messages.DeadLetter{},
		read: map[string]uint64{}}
	followed := map[string][]string{
		messages.StreamPayments: {messages.SubjectIntentsRejected, messages.SubjectBatchesEncoded,
			messages.SubjectBatchesFailed, messages.SubjectStatuses, messages.SubjectSettled},
		messages.StreamDLQ: {messages.SubjectDeadLetters},
	}
	for stream, filters := range followed {
		intentCatFollow(t, g.JS, stream, filters, seen)
	}

	// The producer has a connection of its own, over TCP.
	url := g.Embedded.ClientURL()
	nc, err := nats.Connect(url, nats.Name("catalogue producer"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}

	// What a stored intent may be: the stream has no size limit of its
	// own, so max_payload (1 MiB) is the limit.
	payments, err := g.JS.Stream(ctx, messages.StreamPayments)
	if err != nil {
		t.Fatal(err)
	}
	if got := payments.CachedInfo().Config.MaxMsgSize; got > 0 {
		t.Logf("PAYMENTS max_msg_size = %d", got)
	}
	if got := nc.MaxPayload(); got != 1<<20 {
		t.Errorf("max_payload = %d, want the 1 MiB default the catalogue assumes", got)
	}

	cases := intentCatCases(t)
	valid := intentgen.Intents(200, intentgen.Options{Prefix: "CATOK", Seed: 5})
	var before, after []*intentCatCase
	for i, p := range valid {
		data, err := messages.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		c := &intentCatCase{name: "valid " + p.ID, id: p.ID, body: data, want: intentCatPaid, amount: p.Amount}
		if i < len(valid)/2 {
			before = append(before, c)
		} else {
			after = append(after, c)
		}
	}
	// The copies published without the expected-sequence guard go last,
	// once everything else has its outcome: delivered together with their
	// original, whichever copy took the id first would decide for both.
	all := slices.Concat(before, cases, after)
	var late []*intentCatCase
	for _, c := range all {
		if c.noExpect {
			late = append(late, c)
			continue
		}
		intentCatPublish(ctx, js, url, c)
	}

	// Publish outcomes first: they are known now.
	for _, c := range all {
		if c.noExpect {
			continue
		}
		switch c.want {
		case intentCatRefused:
			if c.pubErr == nil {
				t.Errorf("%s: published at seq %d (duplicate %v), want refused", c.name, c.seq, c.dup)
				continue
			}
			var apiErr *jetstream.APIError
			switch {
			case c.code != 0 && !(errors.As(c.pubErr, &apiErr) && int(apiErr.ErrorCode) == c.code):
				t.Errorf("%s: publish error %v, want err_code %d", c.name, c.pubErr, c.code)
			case c.code == 0 && !strings.Contains(c.pubErr.Error(), c.reason):
				t.Errorf("%s: publish error %v, want %q", c.name, c.pubErr, c.reason)
			}
		default:
			if c.pubErr != nil || c.dup {
				t.Fatalf("%s: publish = duplicate %v, %v; want stored", c.name, c.dup, c.pubErr)
			}
		}
	}

	// Wait for every outcome.
	paid := map[string]*intentCatCase{}
	for _, c := range all {
		if c.want == intentCatPaid {
			paid[c.id] = c
		}
	}
	pending := func() []string {
		seen.mu.Lock()
		defer seen.mu.Unlock()
		var out []string
		for _, c := range all {
			switch {
			case c.want == intentCatPaid && len(seen.settled[c.id]) == 0:
				out = append(out, fmt.Sprintf("%s: not settled (batches %v, rejections %+v)", c.name, seen.batched[c.id], seen.rejected[c.id]))
			case c.want == intentCatRejected && len(seen.rejected[c.id]) == 0:
				out = append(out, c.name+": not rejected")
			case c.want == intentCatDeadLetter && len(seen.letters[c.seq]) == 0:
				out = append(out, c.name+": no dead letter")
			}
		}
		return out
	}
	intentCatWait(t, ctx, func() bool { return len(pending()) == 0 }, func() string {
		p := pending()
		return fmt.Sprintf("%d pending: %s", len(p), strings.Join(p[:min(len(p), 10)], "; "))
	})
	for _, c := range late {
		intentCatPublish(ctx, js, url, c)
	}
	for _, c := range late {
		if c.want == intentCatIgnored && (c.pubErr != nil || c.dup) {
			t.Fatalf("%s: publish = duplicate %v, %v; want stored", c.name, c.dup, c.pubErr)
		}
		if c.want == intentCatDuplicate && (c.pubErr != nil || !c.dup) {
			t.Errorf("%s: publish = seq %d duplicate %v, %v; want acknowledged as a duplicate", c.name, c.seq, c.dup, c.pubErr)
		}
	}
	// The encoder acknowledged everything: nothing waits or is stuck in
	// redelivery.
	cons, err := g.JS.Consumer(ctx, messages.StreamPayments, encoder.Name)
	if err != nil {
		t.Fatal(err)
	}
	var info *jetstream.ConsumerInfo
	intentCatWait(t, ctx, func() bool {
		info, err = cons.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	}, func() string { return fmt.Sprintf("encoder consumer: %+v, %v", info, err) })

	// And the test has read every event stored by now.
	stored := func(stream string) uint64 {
		s, err := g.JS.Stream(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		var n uint64
		for _, f := range followed[stream] {
			info, err := s.Info(ctx, jetstream.WithSubjectFilter(f))
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range info.State.Subjects {
				n += c
			}
		}
		return n
	}
	want := map[string]uint64{}
	for stream := range followed {
		want[stream] = stored(stream)
	}
	intentCatWait(t, ctx, func() bool {
		seen.mu.Lock()
		defer seen.mu.Unlock()
		return maps.Equal(seen.read, want)
	}, func() string { return fmt.Sprintf("read %v of %v events", seen.read, want) })

	seen.mu.Lock()
	defer seen.mu.Unlock()
	// Per case.
	for _, c := range all {
		switch c.want {
		case intentCatPaid:
			if b := seen.batched[c.id]; len(b) != 1 {
				t.Errorf("%s: in batches %v, want exactly one", c.name, b)
			}
			if s := seen.settled[c.id]; len(s) != 1 || (c.amount != "" && s[0].Amount != c.amount) {
				t.Errorf("%s: settlements %+v, want one of %s", c.name, s, c.amount)
			}
			if f := seen.final[c.id]; len(f) != 1 || f[0].Status == messages.TxStatusRJCT {
				t.Errorf("%s: final statuses %+v, want one, accepted", c.name, f)
			}
			if r := seen.rejected[c.id]; len(r) != 0 {
				t.Errorf("%s: also rejected: %+v", c.name, r)
			}
		case intentCatRejected:
			rs := seen.rejected[c.id]
			if len(rs) != 1 {
				t.Errorf("%s: %d rejections, want 1", c.name, len(rs))
				continue
			}
			r := rs[0]
			ok := slices.ContainsFunc(r.Errors, func(fe messages.FieldError) bool {
				return fe.Field == c.field && strings.Contains(fe.Reason, c.reason)
			})
			if !ok || r.Source != messages.SourceEncoder {
				t.Errorf("%s: rejected by %s with %v, want %s: …%s…", c.name, r.Source, r.Errors, c.field, c.reason)
			}
			if b := seen.batched[c.id]; len(b) != 0 {
				t.Errorf("%s: rejected and batched in %v", c.name, b)
			}
			// The rejection carries the intent as received.
			if !intentCatSameJSON(r.Intent, c.body) {
				t.Errorf("%s: the rejection holds %.200s, want the intent as published", c.name, r.Intent)
			}
		case intentCatDeadLetter:
			ls := seen.letters[c.seq]
			if len(ls) != 1 {
				t.Errorf("%s: %d dead letters, want 1", c.name, len(ls))
				continue
			}
			l := ls[0]
			data := c.body
			if c.noData {
				data = nil
				m, err := payments.GetMsg(ctx, c.seq)
				if err != nil || !bytes.Equal(m.Data, c.body) || l.StreamSeq != c.seq ||
					!strings.Contains(l.Error, fmt.Sprintf("read them from stream PAYMENTS, sequence %d", c.seq)) {
					t.Errorf("%s: the dead letter (error %q) does not point at the original, or PAYMENTS lost it: %v", c.name, l.Error, err)
				}
			}
			if !strings.Contains(l.Error, c.reason) || l.Subject != c.subj() || !bytes.Equal(l.Data, data) || l.Attempts != 1 {
				t.Errorf("%s: dead letter on %s after %d attempts, data equal %v, error %q; want %s, 1 attempt, the body, error …%s…",
					c.name, l.Subject, l.Attempts, bytes.Equal(l.Data, data), l.Error, c.subj(), c.reason)
			}
			if c.id != "" {
				if b := seen.batched[c.id]; len(b) != 0 {
					t.Errorf("%s: dead-lettered and batched in %v", c.name, b)
				}
				if r := seen.rejected[c.id]; len(r) != 0 {
					t.Errorf("%s: dead-lettered and rejected: %+v", c.name, r)
				}
			}
		}
	}
	// What each subject holds: a refused or duplicate publish stored
	// nothing; an unguarded copy is the second message on its subject.
	onSubject := func(subject string) uint64 {
		info, err := payments.Info(ctx, jetstream.WithSubjectFilter(subject))
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Subjects[subject]
	}
	held := map[string]uint64{}
	for _, c := range all {
		if c.want == intentCatRefused || c.want == intentCatDuplicate {
			held[c.subj()] += 0
			continue
		}
		held[c.subj()]++
	}
	for _, subj := range slices.Sorted(maps.Keys(held)) {
		if got := onSubject(subj); got != held[subj] {
			t.Errorf("%s holds %d messages, want %d", subj, got, held[subj])
		}
	}

	// Nothing else reached the bank, nothing twice, and every amount exactly.
	var batchedIDs []string
	for id := range seen.batched {
		if paid[id] == nil {
			batchedIDs = append(batchedIDs, id)
		}
	}
	if len(batchedIDs) > 0 {
		t.Errorf("intents batched that should not have been: %q", batchedIDs)
	}
	if len(seen.failed) > 0 || len(seen.others) > 0 {
		t.Errorf("batch failures %+v, other dead letters %+v; want none", seen.failed, seen.others)
	}
	l := g.Banksim.Bank.Ledger()
	if l.TransactionsBooked != len(paid) || l.EndToEndIDsBookedTwice != 0 {
		t.Errorf("bank booked %d transactions, %d EndToEndIds twice; want %d and 0", l.TransactionsBooked, l.EndToEndIDsBookedTwice, len(paid))
	}
	for _, c := range paid {
		var p struct {
			Debtor   struct{ IBAN string }
			Amount   string
			Currency string
		}
		if err := json.Unmarshal(c.body, &p); err != nil {
			t.Fatal(err)
		}
		if c.amount != "" && p.Amount != c.amount {
			t.Fatalf("%s: amount %s in body, %s in case", c.name, p.Amount, c.amount)
		}
		for _, st := range seen.settled[c.id] {
			if intentCatCents(t, st.Amount).Cmp(intentCatCents(t, p.Amount)) != 0 || st.Currency != p.Currency ||
				st.Account != p.Debtor.IBAN || st.CreditDebit != messages.Debit {
				t.Errorf("%s: settled %s %s %s on %s, want %s %s debit on %s", c.name, st.CreditDebit, st.Amount, st.Currency, st.Account,
					p.Amount, p.Currency, p.Debtor.IBAN)
			}
		}
	}

	// The workers kept running on the connection they started with, and
	// counted what they did.
	if !g.Router.IsRunning() {
		t.Error("the router stopped")
	}
	if !g.NC.IsConnected() || g.NC.Stats().Reconnects != 0 {
		t.Errorf("gateway connection %s after %d reconnects (last error %v), want connected throughout",
			g.NC.Status(), g.NC.Stats().Reconnects, g.NC.LastError())
	}
	var nRejected, nDead, nIgnored int
	for _, c := range cases {
		switch c.want {
		case intentCatRejected:
			nRejected++
		case intentCatDeadLetter:
			nDead++
		case intentCatIgnored:
			nIgnored++
		}
	}
	if got := intentCatCounter(t, g, "isogate_encoder_rejected_total", ""); int(got) != nRejected {
		t.Errorf("isogate_encoder_rejected_total = %v, want %d", got, nRejected)
	}
	if got := intentCatCounter(t, g, "isogate_encoder_duplicates_total", ""); int(got) < nIgnored {
		t.Errorf("isogate_encoder_duplicates_total = %v, want at least %d", got, nIgnored)
	}
	if got := intentCatCounter(t, g, "isogate_worker_dead_lettered_total", encoder.Name); int(got) != nDead {
		t.Errorf("isogate_worker_dead_lettered_total{worker=encoder} = %v, want %d", got, nDead)
	}
	t.Logf("%d catalogue cases (%d rejected, %d dead letters), %d intents paid, in %s",
		len(cases), nRejected, nDead, len(paid), time.Since(start).Round(time.Millisecond))
}

// intentCatCents reads a decimal amount with at most 2 decimals as cents.
func intentCatCents(t *testing.T, amount string) *big.Int {
	t.Helper()
	units, frac, _ := strings.Cut(amount, ".")
	frac = (frac + "00")[:2]
	v, ok := new(big.Int).SetString(units+frac, 10)
	if !ok {
		t.Fatalf("amount %q", amount)
	}
	return v
}

// intentCatSameJSON reports whether a and b hold the same JSON value
// (numbers compared as written).
func intentCatSameJSON(a, b []byte) bool {
	decode := func(data []byte) (any, bool) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var v any
		return v, dec.Decode(&v) == nil
	}
	x, ok1 := decode(a)
	y, ok2 := decode(b)
	return ok1 && ok2 && reflect.DeepEqual(x, y)
}
