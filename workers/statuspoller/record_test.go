package statuspoller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/isogate/isogate/bank"
	"github.com/isogate/isogate/internal/intentgen"
	"github.com/isogate/isogate/internal/natstest"
	"github.com/isogate/isogate/internal/provision"
	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/workers"
	"github.com/isogate/isogate/workers/archive"
	"github.com/isogate/isogate/workers/state"
	"github.com/isogate/isogate/xmlcodec"
)

// docChannel is a bank that answers every status query with one pain.002.
type docChannel struct{ doc []byte }

func (c *docChannel) Submit(context.Context, bank.File) (bank.Receipt, error) {
	return bank.Receipt{}, errors.New("docChannel: no uploads")
}

func (c *docChannel) Status(context.Context, string) (bank.Document, error) {
	return bank.Document{Message: "pain.002.001.03", Name: "test", Data: c.doc}, nil
}

func (c *docChannel) Reports(context.Context, []byte) ([]bank.Document, error) { return nil, nil }

// internalEnv is a JetStream with the gateway's streams and buckets, and a
// poller on it whose last-message reads are counted.
type internalEnv struct {
	js      jetstream.JetStream
	batches *state.Batches
	intents *state.Intents
	arch    *archive.Archive
	reads   atomic.Int64
	h       *Handler
}

func newInternalEnv(t *testing.T, ch bank.Channel) *internalEnv {
	t.Helper()
	srv := natstest.Start(t)
	_, js := srv.Connect()
	ctx := t.Context()
	if _, err := provision.Apply(ctx, js, provision.Options{Replicas: 1, DuplicateWindow: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	e := &internalEnv{js: js}
	var err error
	if e.batches, e.intents, err = state.New(ctx, js, state.Options{Worker: "test"}); err != nil {
		t.Fatal(err)
	}
	if e.arch, err = archive.Open(ctx, js); err != nil {
		t.Fatal(err)
	}
	if ch == nil {
		ch = &docChannel{}
	}
	e.h, err = New(Config{}, Deps{JS: natstest.CountLastReads(js, &e.reads), Publisher: workers.NewPublisher(js, 0),
		Batches: e.batches, Archive: e.arch, Channel: ch})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// lastStatus returns the last pay.status event of intent and its sequence.
func (e *internalEnv) lastStatus(t *testing.T, intent string) (messages.PaymentStatus, uint64) {
	t.Helper()
	s, err := e.js.Stream(t.Context(), messages.StreamPayments)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := s.GetLastMsgForSubject(t.Context(), messages.StatusSubject(intent))
	if err != nil {
		t.Fatalf("last status of %s: %v", intent, err)
	}
	var ev messages.PaymentStatus
	if err := json.Unmarshal(raw.Data, &ev); err != nil {
		t.Fatal(err)
	}
	return ev, raw.Sequence
}

// TestPmtInfFanOutFromBatchRecord: a batch record that lists its
// payment-information blocks needs no archived pain.001 to fan a block's
// status out — its archived file is absent here — and the events name
// each intent's block.
func TestPmtInfFanOutFromBatchRecord(t *testing.T) {
	t.Parallel()
	// pain002 answers OrgnlMsgId MSG1: block P1 rejected as a whole, block
	// P2 by transaction line, the group PART (which covers no intent).
	ch := &docChannel{doc: pain002("PART", "", pmt{id: "P1", sts: "RJCT", rsn: "AM04"},
		pmt{id: "P2", txs: []ptx{{e2e: "A3", sts: "ACSC"}}})}
	e := newInternalEnv(t, ch)
	ctx := t.Context()
	missing := strings.Repeat("0", 64)
	if _, err := e.arch.Get(ctx, "sha256/"+missing); !errors.Is(err, jetstream.ErrObjectNotFound) {
		t.Fatalf("archived pain.001: err = %v, want it absent", err)
	}
	ids := []string{"A1", "A2", "A3"}
	if _, err := e.batches.Create(ctx, state.Batch{ID: "MSG1", State: state.Encoded, Profile: "ekase", IntentIDs: ids, NbOfTxs: 3,
		CtrlSum: "3.00", PmtInfs: []state.PmtInf{{ID: "P1", Count: 2}, {ID: "P2", Count: 1}},
		Archive: &state.Object{Name: "sha256/" + missing, SHA256: missing, Size: 100}}); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if _, ok, err := e.intents.Claim(ctx, id, "MSG1"); err != nil || !ok {
			t.Fatalf("Claim(%s) = %v, %v", id, ok, err)
		}
	}
	if _, err := e.batches.Transition(ctx, "MSG1", state.Submitting, "uploading", nil); err != nil {
		t.Fatal(err)
	}
	b, err := e.batches.Transition(ctx, "MSG1", state.Submitted, "uploaded", nil)
	if err != nil {
		t.Fatal(err)
	}
	e.h.track(b)
	if err := e.h.poll(ctx, "MSG1"); err != nil {
		t.Fatalf("poll: %v", err)
	}
	for _, want := range []struct {
		intent, pmtInf string
		status         messages.TxStatus
		reason         string
	}{
		{"A1", "P1", messages.TxStatusRJCT, "AM04"},
		{"A2", "P1", messages.TxStatusRJCT, "AM04"},
		{"A3", "P2", messages.TxStatusACSC, ""},
	} {
		ev, _ := e.lastStatus(t, want.intent)
		reason := ""
		if len(ev.Reasons) > 0 {
			reason = ev.Reasons[0].Code
		}
		if ev.Status != want.status || ev.PmtInfID != want.pmtInf || reason != want.reason {
			t.Errorf("%s: event %s in block %q (reason %q), want %s in %s (%q)", want.intent, ev.Status, ev.PmtInfID, reason,
				want.status, want.pmtInf, want.reason)
		}
	}
	if b, err := e.batches.Get(ctx, "MSG1"); err != nil || b.State != state.PartiallyAccepted {
		t.Errorf("batch after the poll: %v, %v; want partially_accepted", b, err)
	}
}

// TestTxRefsSource: the batch record's blocks are used when their counts
// add up to its intents; otherwise — none recorded (batches from before
// they were), or counts that do not add up — the archived pain.001 is read.
func TestTxRefsSource(t *testing.T) {
	t.Parallel()
	e := newInternalEnv(t, nil)
	ctx := t.Context()
	p, err := xmlcodec.LookupProfile("ekase")
	if err != nil {
		t.Fatal(err)
	}
	p.Limits.MaxTxPerPmtInf = 2
	ins := intentgen.Intents(5, intentgen.Options{Prefix: "REFS", Debtors: 1, Seed: 5})
	pays := make([]xmlcodec.Payment, len(ins))
	for i, in := range ins {
		pays[i] = xmlcodec.Payment{ID: in.ID, Amount: in.Amount, Currency: in.Currency, ExecutionDate: in.ExecutionDate,
			Remittance: "Rēķins", Debtor: xmlcodec.Account{Name: in.Debtor.Name, IBAN: in.Debtor.IBAN, BIC: in.Debtor.BIC},
			Creditor: xmlcodec.Account{Name: in.Creditor.Name, IBAN: in.Creditor.IBAN, BIC: in.Creditor.BIC}}
	}
	res, err := p.EncodePain001(xmlcodec.Pain001Request{MsgID: "REFS-1", Payments: pays})
	if err != nil {
		t.Fatal(err)
	}
	f := res.Files[0]
	obj, err := e.arch.Put(ctx, f.Data, map[string]string{archive.MetaKind: "pain.001", archive.MetaBatchID: "REFS-1"})
	if err != nil {
		t.Fatal(err)
	}
	fromFile := make([]string, 0, len(f.PaymentIDs))
	for _, pi := range f.PmtInfs {
		for range pi.Count {
			fromFile = append(fromFile, pi.ID)
		}
	}
	if len(f.PmtInfs) != 3 {
		t.Fatalf("file has %d blocks, want 3", len(f.PmtInfs))
	}
	for _, tt := range []struct {
		name    string
		pmtInfs []state.PmtInf
		want    []string
	}{
		{"record", []state.PmtInf{{ID: "R1", Count: 4}, {ID: "R2", Count: 1}}, []string{"R1", "R1", "R1", "R1", "R2"}},
		{"none recorded", nil, fromFile},
		{"counts short", []state.PmtInf{{ID: "R1", Count: 4}}, fromFile},
		{"counts over", []state.PmtInf{{ID: "R1", Count: 4}, {ID: "R2", Count: 2}}, fromFile},
		{"empty block", []state.PmtInf{{ID: "R1", Count: 5}, {ID: "R2", Count: 0}}, fromFile},
	} {
		b := &state.Batch{ID: "REFS-1", IntentIDs: f.PaymentIDs, PmtInfs: tt.pmtInfs,
			Archive: &state.Object{Name: obj.Name, SHA256: obj.SHA256, Size: obj.Size}}
		refs, err := e.h.txRefs(ctx, b)
		if err != nil {
			t.Fatalf("txRefs(%s) = %v", tt.name, err)
		}
		var got []string
		for i, r := range refs {
			if r.IntentID != f.PaymentIDs[i] {
				t.Errorf("%s: ref %d is intent %s, want %s", tt.name, i, r.IntentID, f.PaymentIDs[i])
			}
			got = append(got, r.PmtInfID)
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("txRefs(%s) blocks %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestPublishStatusFromKnown drives publishStatus with what the poller
// knows of an intent's last event: nothing (an intent's first change, or
// any change after a restart), or the event it stored or read. A change is
// published without reading the subject, expecting the known event's
// sequence (0 when none is known); a poller behind its subject (a publish
// whose answer was lost, a restart, another poller) is caught by the
// expected sequence or the duplicate id, and the subject is read and
// decides, so no event is published twice; a status code back within the
// duplicate window still gets its own id.
func TestPublishStatusFromKnown(t *testing.T) {
	t.Parallel()
	e := newInternalEnv(t, nil)
	ctx := t.Context()
	at := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	ev := func(intent string, st messages.TxStatus, sec int) messages.PaymentStatus {
		return messages.PaymentStatus{IntentID: intent, BatchID: "B1", Status: st, Final: st.Final(),
			ReceivedAt: at.Add(time.Duration(sec) * time.Second), ArchiveSHA256: strings.Repeat("a", 64)}
	}
	last := func(st messages.TxStatus, sec int, seq uint64) *known {
		return &known{applied: applied{Status: st, Final: st.Final()}, Seq: seq, At: at.Add(time.Duration(sec) * time.Second)}
	}
	for i, step := range []struct {
		name     string
		ev       messages.PaymentStatus
		last     *known
		kept     messages.TxStatus
		seq      uint64
		addReads int64
	}{
		{"first status", ev("I1", messages.TxStatusACSP, 1), nil, messages.TxStatusACSP, 1, 0},
		{"again, its answer lost", ev("I1", messages.TxStatusACSP, 1), nil, messages.TxStatusACSP, 1, 1},
		{"next status", ev("I1", messages.TxStatusPDNG, 2), last(messages.TxStatusACSP, 1, 1), messages.TxStatusPDNG, 2, 0},
		{"known behind", ev("I1", messages.TxStatusACSC, 3), last(messages.TxStatusACSP, 1, 1), messages.TxStatusACSC, 3, 1},
		{"after a final", ev("I1", messages.TxStatusRJCT, 4), last(messages.TxStatusPDNG, 2, 2), messages.TxStatusACSC, 3, 1},
		{"other intent", ev("I2", messages.TxStatusACTC, 1), nil, messages.TxStatusACTC, 4, 0},
		{"after a restart", ev("I2", messages.TxStatusACSP, 2), nil, messages.TxStatusACSP, 5, 1},
		{"its next", ev("I2", messages.TxStatusPDNG, 3), last(messages.TxStatusACSP, 2, 5), messages.TxStatusPDNG, 6, 0},
		{"code back in the window", ev("I2", messages.TxStatusACSP, 4), last(messages.TxStatusPDNG, 3, 6), messages.TxStatusACSP, 7, 2},
	} {
		before := e.reads.Load()
		kept, seq, err := e.h.publishStatus(ctx, step.ev, step.last)
		if err != nil {
			t.Fatalf("step %d %s: publishStatus(%s) = %v", i, step.name, step.ev.Status, err)
		}
		var got messages.TxStatus
		if kept != nil {
			got = kept.Status
		}
		if got != step.kept || seq != step.seq {
			t.Errorf("step %d %s: publishStatus(%s) kept %q at %d, want %q at %d", i, step.name, step.ev.Status, got, seq, step.kept, step.seq)
		}
		if n := e.reads.Load() - before; n != step.addReads {
			t.Errorf("step %d %s: read the subject %d times, want %d", i, step.name, n, step.addReads)
		}
	}
	s, err := e.js.Stream(ctx, messages.StreamPayments)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for seq := uint64(1); ; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var ev messages.PaymentStatus
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s:%s@%d=%s", ev.IntentID, ev.Status, m.Sequence, m.Header.Get(jetstream.MsgIDHeader)))
	}
	want := []string{"I1:ACSP@1=status:I1:ACSP", "I1:PDNG@2=status:I1:PDNG", "I1:ACSC@3=status:I1:ACSC",
		"I2:ACTC@4=status:I2:ACTC", "I2:ACSP@5=status:I2:ACSP", "I2:PDNG@6=status:I2:PDNG", "I2:ACSP@7=status:I2:ACSP:6"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("status events:\n got %v\nwant %v", got, want)
	}
}
