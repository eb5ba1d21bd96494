package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/isogate/isogate/internal/intentgen"
	"github.com/isogate/isogate/internal/natstest"
	"github.com/isogate/isogate/internal/provision"
	"github.com/isogate/isogate/messages"
)

// gateway starts a server and provisions it as `isogate serve` does.
func gateway(t *testing.T, window time.Duration) (*natstest.Server, *nats.Conn, jetstream.JetStream) {
	t.Helper()
	srv := natstest.Start(t)
	nc, js := srv.Connect()
	if _, err := provision.Apply(t.Context(), js, provision.Options{Replicas: 1, DuplicateWindow: window}); err != nil {
		t.Fatal(err)
	}
	return srv, nc, js
}

func jsonl(t *testing.T, intents []messages.PaymentIntent) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, p := range intents {
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

func publishBytes(t *testing.T, nc *nats.Conn, data []byte, f Format) Result {
	t.Helper()
	p, err := New(t.Context(), nc, Options{InFlight: 64})
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Publish(t.Context(), bytes.NewReader(data), f)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	return res
}

func TestPublishOnceAcrossRestarts(t *testing.T) {
	srv, nc, js := gateway(t, 2*time.Minute)
	data := jsonl(t, intentgen.Intents(500, intentgen.Options{Seed: 1}))

	res := publishBytes(t, nc, data, JSONLines)
	if res.Published != 500 || res.Duplicates != 0 || res.Invalid != 0 || res.Lines != 500 {
		t.Fatalf("first publish = %+v, want 500 published", res.Stats)
	}
	again := publishBytes(t, nc, data, JSONLines)
	if again.Published != 0 || again.Duplicates != 500 || again.Conflicts != 0 {
		t.Fatalf("second publish = %+v, want 500 duplicates", again.Stats)
	}

	srv.Restart()
	nc, js = srv.Connect()
	s, err := js.Stream(t.Context(), "PAYMENTS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 500 {
		t.Errorf("PAYMENTS holds %d messages after restart, want 500", info.State.Msgs)
	}
	// The stored intent is the canonical JSON with type and version.
	m, err := s.GetLastMsgForSubject(t.Context(), messages.IntentSubject("INV-000042"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := messages.ParseIntent(m.Data)
	if err != nil || got.ID != "INV-000042" || got.Type != messages.TypePaymentIntent || got.Version != 1 {
		t.Errorf("stored intent = %+v, %v", got, err)
	}
	if m.Header.Get(jetstream.MsgIDHeader) != "INV-000042" {
		t.Errorf("Nats-Msg-Id = %q", m.Header.Get(jetstream.MsgIDHeader))
	}
	after := publishBytes(t, nc, data, JSONLines)
	if after.Published != 0 || after.Duplicates != 500 {
		t.Fatalf("publish after restart = %+v, want 500 duplicates", after.Stats)
	}
}

func TestDuplicateAfterWindowIsStillRefused(t *testing.T) {
	const window = 200 * time.Millisecond
	_, nc, js := gateway(t, window)
	data := jsonl(t, intentgen.Intents(20, intentgen.Options{Seed: 2}))
	if res := publishBytes(t, nc, data, JSONLines); res.Published != 20 {
		t.Fatalf("first publish = %+v", res.Stats)
	}
	// Wait until JetStream's de-duplication has forgotten a probe id
	// published now: from then on only the per-subject guard is left.
	probe := func() bool {
		ack, err := js.Publish(t.Context(), "pay.probe", nil, jetstream.WithMsgID("probe"))
		if err != nil {
			t.Fatal(err)
		}
		return !ack.Duplicate
	}
	probe()
	deadline := time.Now().Add(10 * time.Second)
	for !probe() {
		if time.Now().After(deadline) {
			t.Fatal("duplicate window never passed")
		}
		time.Sleep(window / 4)
	}
	res := publishBytes(t, nc, data, JSONLines)
	if res.Published != 0 || res.Duplicates != 20 || res.Conflicts != 0 {
		t.Fatalf("publish after the window = %+v, want 20 duplicates", res.Stats)
	}
}

func TestConflictingDuplicateIsReported(t *testing.T) {
	_, nc, _ := gateway(t, 2*time.Minute)
	intents := intentgen.Intents(3, intentgen.Options{Seed: 3})
	publishBytes(t, nc, jsonl(t, intents), JSONLines)

	changed := intents[1]
	changed.Amount = "1.00"
	res := publishBytes(t, nc, jsonl(t, []messages.PaymentIntent{intents[0], changed}), JSONLines)
	if res.Duplicates != 2 || res.Conflicts != 1 || res.Published != 0 {
		t.Fatalf("publish = %+v, want 2 duplicates, 1 conflict", res.Stats)
	}
	if len(res.Errors) != 1 || res.Errors[0].Line != 2 || res.Errors[0].Field != "id" ||
		!strings.Contains(res.Errors[0].Reason, "different content") {
		t.Errorf("errors = %v", res.Errors)
	}
	// Within one file, the first of two intents with one id wins.
	twins := intentgen.Intents(1, intentgen.Options{Prefix: "TWIN", Seed: 4})
	twin := twins[0]
	twin.Amount = "2.00"
	res = publishBytes(t, nc, jsonl(t, []messages.PaymentIntent{twins[0], twin}), JSONLines)
	if res.Published != 1 || res.Duplicates != 1 || res.Conflicts != 1 {
		t.Errorf("twins = %+v, want 1 published, 1 conflicting duplicate", res.Stats)
	}
}

func TestInvalidLinesAreNamedAndValidOnesPublished(t *testing.T) {
	_, nc, _ := gateway(t, 2*time.Minute)
	good := jsonl(t, intentgen.Intents(2, intentgen.Options{Seed: 5}))
	lines := strings.Split(strings.TrimSpace(string(good)), "\n")
	input := strings.Join([]string{
		lines[0],
		`not json`,
		``,
		`{"id":"X-1","debtor":{"name":"A","iban":"LV55TREL9190000000001"},"creditor":{"name":"B","iban":"LV97HABA0012345678911"},"amount":12.5,"currency":"EUR"}`,
		`{"id":"X-2"`,
		`{"id":"X-3","debtor":{"name":"A","iban":"LV55TREL9190000000001"},"creditor":{"name":"B","iban":"LV97HABA0012345678910","address":{"country":"ZZ"}},"amount":"1.00","currency":"EUR","colour":"red"}`,
		`{"id":"` + strings.Repeat("x", maxLine) + `"}`,
		lines[1],
	}, "\r\n")
	res := publishBytes(t, nc, []byte(input), JSONLines)
	if res.Published != 2 || res.Invalid != 5 || res.Lines != 7 {
		t.Fatalf("publish = %+v, want 2 published, 5 invalid of 7 lines", res.Stats)
	}
	want := []string{
		"line 2: json:",
		"line 4: creditor.iban: ",
		"line 4: amount: must be a JSON string",
		"line 5: json:",
		"line 6: creditor.address.country: ",
		"line 6: colour: unknown field",
		"line 7: json: line longer than 65536 bytes",
	}
	var got []string
	for _, e := range res.Errors {
		got = append(got, e.String())
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || strings.HasPrefix(g, w)
		}
		if !found {
			t.Errorf("no error starting %q in:\n%s", w, strings.Join(got, "\n"))
		}
	}
}

func TestCSV(t *testing.T) {
	_, nc, js := gateway(t, 2*time.Minute)
	input := "\xEF\xBB\xBFid,debtor.name,debtor.iban,creditor.name,creditor.iban,creditor.address.town,creditor.address.lines[0],amount,currency,remittance\n" +
		"C-1,Valsts iestāde,LV55TREL9190000000001,\"SIA \"\"Ūdens\"\"\",LV97HABA0012345678910,Rīga,Brīvības iela 1,10.50,EUR,\"Rēķins, Nr. 1\"\n" +
		"C-2,Valsts iestāde,LV55TREL9190000000001,SIA B,LV97HABA0012345678910,,,10.505,EUR,\n" +
		"C-3,too,few\n"
	res := publishBytes(t, nc, []byte(input), CSV)
	if res.Published != 1 || res.Invalid != 2 {
		t.Fatalf("csv publish = %+v, errors %v", res.Stats, res.Errors)
	}
	if res.Errors[0].String() != "line 3: amount: EUR allows at most 2 decimal places" {
		t.Errorf("first error = %q", res.Errors[0])
	}
	if res.Errors[1].Line != 4 || res.Errors[1].Field != "csv" {
		t.Errorf("second error = %q", res.Errors[1])
	}
	s, _ := js.Stream(t.Context(), "PAYMENTS")
	m, err := s.GetLastMsgForSubject(t.Context(), messages.IntentSubject("C-1"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := messages.ParseIntent(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	if p.Creditor.Name != `SIA "Ūdens"` || p.Remittance != "Rēķins, Nr. 1" || p.Creditor.Address.Lines[0] != "Brīvības iela 1" {
		t.Errorf("stored intent from CSV = %+v", p)
	}
}

func TestCSVHeaderErrors(t *testing.T) {
	_, nc, _ := gateway(t, 2*time.Minute)
	p, err := New(t.Context(), nc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for header, want := range map[string]string{
		"id,creditor.ibna\n":  `column "creditor.ibna": unknown field`,
		"id,Amount\n":         `column 2 "Amount": not a field path`,
		"id,debtor,amount\n":  `column "debtor"`,
		"id,amount,amount\n":  `column "amount" appears twice`,
		"id,\"amount\n":       `csv header`,
		"id,creditor..iban\n": `not a field path`,
	} {
		_, err := p.Publish(t.Context(), strings.NewReader(header+"x,y,z\n"), CSV)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("header %q: error %v, want it to contain %q", header, err, want)
		}
	}
}

func TestMissingStreamIsClear(t *testing.T) {
	srv := natstest.Start(t)
	nc, _ := srv.Connect()
	_, err := New(t.Context(), nc, Options{})
	if err == nil || !strings.Contains(err.Error(), "stream PAYMENTS") || !strings.Contains(err.Error(), "isogate serve") {
		t.Errorf("New without provisioning: %v", err)
	}
}

func TestProgressIsReported(t *testing.T) {
	_, nc, _ := gateway(t, 2*time.Minute)
	var calls []Stats
	p, err := New(t.Context(), nc, Options{Progress: func(s Stats) { calls = append(calls, s) }, ProgressEvery: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	data := jsonl(t, intentgen.Intents(300, intentgen.Options{Seed: 6}))
	if _, err := p.Publish(t.Context(), bytes.NewReader(data), JSONLines); err != nil {
		t.Fatal(err)
	}
	if len(calls) == 0 || calls[len(calls)-1].Published != 300 {
		t.Fatalf("progress calls = %v, want the last to say 300 published", calls)
	}
}

func TestContextCancelStopsTheRun(t *testing.T) {
	_, nc, _ := gateway(t, 2*time.Minute)
	p, err := New(t.Context(), nc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = p.Publish(ctx, bytes.NewReader(jsonl(t, intentgen.Intents(10, intentgen.Options{}))), JSONLines)
	if err == nil {
		t.Error("Publish with a cancelled context returned nil")
	}
}

func TestDetectFormat(t *testing.T) {
	for in, want := range map[string]Format{"{\"id\"": JSONLines, "\xEF\xBB\xBF {": JSONLines, "\n\n{": JSONLines, "id,amount": CSV, "": CSV} {
		if got := DetectFormat([]byte(in)); got != want {
			t.Errorf("DetectFormat(%q) = %s, want %s", in, got, want)
		}
	}
}

func ExampleLineError() {
	fmt.Println(LineError{Line: 7, Field: "creditor.iban", Reason: "check digits do not match (mod 97)"})
	// Output: line 7: creditor.iban: check digits do not match (mod 97)
}
