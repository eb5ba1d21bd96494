package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/isogate/isogate/internal/natstest"
	"github.com/isogate/isogate/internal/provision"
	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/workers/state"
)

const (
	statusDebtorIBAN   = "LV80TREL0000435195001"
	statusCreditorIBAN = "LV97HABA0012345678910"
	statusSHA          = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

// statusServer is a provisioned embedded JetStream server filled by hand.
type statusServer struct {
	url     string
	js      jetstream.JetStream
	batches *state.Batches
	intents *state.Intents
}

func newStatusServer(t *testing.T) *statusServer {
	t.Helper()
	srv := natstest.Start(t)
	_, js := srv.Connect()
	if _, err := provision.Apply(t.Context(), js, provision.Options{Replicas: 1, DuplicateWindow: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	b, in, err := state.New(t.Context(), js, state.Options{Worker: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return &statusServer{url: srv.ClientURL(), js: js, batches: b, intents: in}
}

func (s *statusServer) publish(t *testing.T, e messages.Event) {
	t.Helper()
	data, err := messages.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.js.Publish(t.Context(), e.EventSubject(), data); err != nil {
		t.Fatal(err)
	}
}

func (s *statusServer) intent(t *testing.T, id string) {
	t.Helper()
	s.publish(t, messages.PaymentIntent{
		ID:       id,
		Debtor:   messages.Account{Name: "Valsts kase", IBAN: statusDebtorIBAN, BIC: "TRELLV22"},
		Creditor: messages.Account{Name: "SIA Piegādātājs", IBAN: statusCreditorIBAN},
		Amount:   "1234.50", Currency: "EUR", ExecutionDate: "2026-11-23", Profile: "ekase",
	})
}

// runStatusCmd runs `isogate status ARGS...` in process.
func runStatusCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &cliEnv{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	code = run(t.Context(), env, append([]string{"status"}, args...))
	return code, out.String(), errb.String()
}

func TestStatusIntent(t *testing.T) {
	t.Parallel()
	s := newStatusServer(t)
	ctx := t.Context()
	s.intent(t, "INV-1")
	s.intent(t, "INV-2")
	if _, ok, err := s.intents.Claim(ctx, "INV-1", "MSG-1"); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if _, ok, err := s.intents.Claim(ctx, "INV-2", "MSG-1"); err != nil || !ok {
		t.Fatal(ok, err)
	}
	_, err := s.batches.Create(ctx, state.Batch{ID: "MSG-1", State: state.Encoded, Profile: "ekase", Message: "pain.001.001.03",
		DebtorIBAN: statusDebtorIBAN, Currency: "EUR", ExecutionDate: "2026-11-23", IntentIDs: []string{"INV-1", "INV-2"},
		NbOfTxs: 2, CtrlSum: "2469.00", Archive: &state.Object{Name: "pain001/MSG-1.xml", SHA256: statusSHA, Size: 2048}})
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []state.State{state.Submitting, state.Submitted} {
		if _, err := s.batches.Transition(ctx, "MSG-1", to, "step to "+string(to), nil); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	s.publish(t, messages.PaymentStatus{IntentID: "INV-1", BatchID: "MSG-1", Status: "ACSP", GroupStatus: "ACSP",
		ReceivedAt: at, ArchiveSHA256: statusSHA})

	t.Run("text", func(t *testing.T) {
		code, out, errOut := runStatusCmd(t, "intent", "INV-1", "--nats-url", s.url)
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, errOut)
		}
		for _, want := range []string{
			"intent INV-1: status ACSP\n",
			"1234.50 EUR", "LV80 **** 5001, TRELLV22", "LV97 **** 8910", "S*** P***", "2026-11-23",
			"MSG-1, submitted since", "isogate status batch MSG-1",
			"ACSP, not final", "group ACSP",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		for _, iban := range []string{statusDebtorIBAN, statusCreditorIBAN} {
			if strings.Contains(out, iban) {
				t.Errorf("output shows the full IBAN %s:\n%s", iban, out)
			}
		}
	})

	// A settlement comes in; the JSON has every part.
	s.publish(t, messages.PaymentSettled{IntentID: "INV-1", BatchID: "MSG-1", Account: statusDebtorIBAN, Amount: "1234.50",
		Currency: "EUR", CreditDebit: messages.Debit, BookingDate: "2026-11-22", AcctSvcrRef: "KV-123",
		StatementMsgID: "STMT-1", SettledAt: at.Add(time.Hour)})
	t.Run("json", func(t *testing.T) {
		code, out, errOut := runStatusCmd(t, "--json", "intent", "INV-1", "--nats-url", s.url)
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, errOut)
		}
		if strings.Count(out, "\n") != 1 || strings.Contains(out, statusDebtorIBAN) {
			t.Errorf("want one JSON line without full IBANs, got:\n%s", out)
		}
		var got struct {
			ID      string
			Summary string
			Intent  struct {
				Amount        string
				DebtorIBAN    string `json:"debtor_iban"`
				ExecutionDate string `json:"execution_date"`
				Sequence      uint64
			}
			Record struct {
				BatchID string `json:"batch_id"`
			}
			Batch   struct{ ID, State string }
			Status  struct{ Status string }
			Settled struct {
				AcctSvcrRef string `json:"acct_svcr_ref"`
				BookingDate string `json:"booking_date"`
			}
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if got.ID != "INV-1" || got.Summary != "settled on 2026-11-22" || got.Intent.DebtorIBAN != "LV80 **** 5001" ||
			got.Intent.ExecutionDate != "2026-11-23" || got.Intent.Sequence == 0 || got.Record.BatchID != "MSG-1" ||
			got.Batch.State != "submitted" || got.Status.Status != "ACSP" ||
			got.Settled.AcctSvcrRef != "KV-123" || got.Settled.BookingDate != "2026-11-22" {
			t.Errorf("JSON = %+v\n%s", got, out)
		}
	})

	t.Run("not batched yet", func(t *testing.T) {
		s.intent(t, "INV-3")
		code, out, _ := runStatusCmd(t, "intent", "INV-3", "--nats-url", s.url)
		if code != 0 || !strings.HasPrefix(out, "intent INV-3: published, not batched yet\n") {
			t.Errorf("exit %d\n%s", code, out)
		}
	})

	t.Run("unreadable event", func(t *testing.T) {
		if _, err := s.js.Publish(ctx, messages.IntentSubject("INV-5"), []byte("not json")); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := runStatusCmd(t, "intent", "INV-5", "--nats-url", s.url)
		if code != 0 || !strings.HasPrefix(out, "intent INV-5: stored events not readable\n") ||
			!strings.Contains(out, "problem:  pay.intent.INV-5 (PAYMENTS sequence") {
			t.Errorf("exit %d\n%s%s", code, out, errOut)
		}
	})

	t.Run("id with dots", func(t *testing.T) {
		s.intent(t, "INV.4 x")
		code, out, errOut := runStatusCmd(t, "intent", "INV.4 x", "--nats-url", s.url)
		if code != 0 || !strings.Contains(out, "1234.50 EUR") {
			t.Errorf("exit %d\n%s%s", code, out, errOut)
		}
	})
}

func TestStatusIntentRejected(t *testing.T) {
	t.Parallel()
	s := newStatusServer(t)
	bad := fmt.Sprintf(`{"id":"INV-9","debtor":{"name":"X","iban":%q},"amount":"-1"}`, statusDebtorIBAN)
	s.publish(t, messages.IntentRejected{IntentID: "INV-9", Source: messages.SourcePublish,
		RejectedAt: time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC), Intent: json.RawMessage(bad),
		Errors: []messages.FieldError{{Field: "amount", Reason: "must be greater than 0"}, {Field: "creditor", Reason: "required"}}})
	for _, args := range [][]string{{"intent", "INV-9"}, {"intent", "INV-9", "--json"}} {
		code, out, errOut := runStatusCmd(t, append(args, "--nats-url", s.url)...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, code, errOut)
		}
		if strings.Contains(out, statusDebtorIBAN) {
			t.Errorf("%v shows the rejected input's IBAN:\n%s", args, out)
		}
		for _, want := range []string{"rejected by publish", "must be greater than 0", "creditor"} {
			if !strings.Contains(out, want) {
				t.Errorf("%v: output lacks %q:\n%s", args, want, out)
			}
		}
	}
}

func TestStatusBatch(t *testing.T) {
	t.Parallel()
	s := newStatusServer(t)
	ctx := t.Context()
	ids := make([]string, 12)
	for i := range ids {
		ids[i] = fmt.Sprintf("INV-%d", i)
	}
	if _, err := s.batches.Create(ctx, state.Batch{ID: "MSG-7", State: state.Encoded, Profile: "ekase", Message: "pain.001.001.03",
		DebtorIBAN: statusDebtorIBAN, Currency: "EUR", ExecutionDate: "2026-11-23", IntentIDs: ids, NbOfTxs: len(ids),
		CtrlSum: "120.00", Archive: &state.Object{Name: "pain001/MSG-7.xml", SHA256: statusSHA, Size: 4096}}); err != nil {
		t.Fatal(err)
	}
	sub := s.batches.WithWorker("submitter")
	for _, step := range []struct {
		to     state.State
		reason string
	}{
		{state.Submitting, "upload 1"},
		{state.InDoubt, "timeout after the request was sent"},
		{state.Submitted, "status query: the bank has MSG-7"},
	} {
		if _, err := sub.Transition(ctx, "MSG-7", step.to, step.reason, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sub.Update(ctx, "MSG-7", func(b *state.Batch) error {
		b.Receipt = &state.Receipt{ReceivedAt: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC), BankRef: "VK-42"}
		b.GroupStatus = messages.TxStatusACTC
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runStatusCmd(t, "batch", "MSG-7", "--nats-url", s.url)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	for _, want := range []string{
		"batch MSG-7: submitted since ", "ekase (pain.001.001.03)", "LV80 **** 5001, EUR, execution 2026-11-23",
		"12, control sum 120.00 EUR", "… and 2 more", "pain001/MSG-7.xml (4096 bytes, sha256 " + statusSHA + ")",
		"upload attempts:  1", "ref VK-42", "group status:     ACTC", "history:",
		"→ encoded", "encoded → submitting", "submitting → in_doubt", "in_doubt → submitted",
		"submitter", "timeout after the request was sent",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, statusDebtorIBAN) {
		t.Errorf("output shows the full IBAN:\n%s", out)
	}

	code, out, errOut = runStatusCmd(t, "batch", "MSG-7", "--json", "--nats-url", s.url)
	if code != 0 {
		t.Fatalf("--json: exit %d\n%s", code, errOut)
	}
	var got struct {
		ID         string
		State      string
		DebtorIBAN string   `json:"debtor_iban"`
		IntentIDs  []string `json:"intent_ids"`
		Archive    struct{ Name, SHA256 string }
		Receipt    struct {
			BankRef string `json:"bank_ref"`
		}
		History  []struct{ From, To, Reason, Worker string }
		Revision uint64
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got.ID != "MSG-7" || got.State != "submitted" || got.DebtorIBAN != "LV80 **** 5001" || len(got.IntentIDs) != 12 ||
		got.Archive.SHA256 != statusSHA || got.Receipt.BankRef != "VK-42" || len(got.History) != 4 || got.Revision == 0 ||
		got.History[2].To != "in_doubt" || got.History[2].Worker != "submitter" {
		t.Errorf("JSON = %+v\n%s", got, out)
	}
}

func TestStatusErrors(t *testing.T) {
	t.Parallel()
	s := newStatusServer(t)
	empty := natstest.Start(t) // JetStream without the gateway's resources
	closed := serveFreePort(t)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"unknown intent", []string{"intent", "INV-1", "--nats-url", s.url}, 1, "isogate status: no intent INV-1 known to the gateway\n"},
		{"unknown batch", []string{"batch", "MSG-1", "--json", "--nats-url", s.url}, 1, "isogate status: no batch MSG-1 known to the gateway\n"},
		{"no server at url", []string{"intent", "INV-1", "--nats-url", fmt.Sprintf("nats://127.0.0.1:%d", closed)}, 1, "point at it with --nats-url"},
		{"no embedded server", []string{"intent", "INV-1", "--nats-port", fmt.Sprint(closed)}, 1, "is `isogate serve` running? or set --nats-url"},
		{"not provisioned", []string{"intent", "INV-1", "--nats-url", empty.ClientURL()}, 1, "isogate serve"},
		{"no id", []string{"intent"}, 2, "want `intent ID` or `batch ID`"},
		{"bad kind", []string{"payment", "X"}, 2, "want `intent ID` or `batch ID`"},
		{"help", []string{"-h"}, 0, "usage: isogate status intent ID"},
	}
	for _, tt := range tests {
		code, out, errOut := runStatusCmd(t, tt.args...)
		if code != tt.wantCode || !strings.Contains(errOut, tt.wantErr) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d and %q", tt.name, code, errOut, tt.wantCode, tt.wantErr)
		}
		if code != 0 && out != "" {
			t.Errorf("%s: stdout %q, want nothing", tt.name, out)
		}
	}
}
