package encoder_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/isogate/isogate/internal/intentgen"
	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/workers"
	"github.com/isogate/isogate/workers/encoder"
	"github.com/isogate/isogate/workers/state"
)

// smallFiles overrides the built-in ekase profile's file limit, so that
// 1,000 intents fill batches by size as well as by time.
const smallFiles = "base: ekase\nlimits:\n  max_tx_per_file: 50\n"

func TestEncodeThousandIntents(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"ekase": smallFiles})
	intents := intentgen.Intents(1000, intentgen.Options{Prefix: "T", Debtors: 5, Seed: 1})
	byID := map[string]messages.PaymentIntent{}
	for _, in := range intents {
		byID[in.ID] = in
	}
	// The backlog is there before the encoder starts, and batches wait the
	// default 2s, so groups fill to the size limit before they time out.
	e.publishIntents(t, intents)
	cfg := testConfig()
	cfg.Wait = encoder.DefaultWait
	cfg.AckWait = 5 * time.Second
	e.start(t, cfg, nil)
	eventually(t, 30*time.Second, "all intents acked", func() bool { return e.drained(t) })

	encoded, owner := e.encodedBatches(t)
	if len(owner) != len(intents) {
		t.Fatalf("%d intents in encoded batches, want %d", len(owner), len(intents))
	}
	all, err := e.batches.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(encoded) {
		t.Errorf("%d batches, %d encoded: every batch should be encoded", len(all), len(encoded))
	}
	bySize := 0
	for _, b := range encoded {
		if len(b.IntentIDs) > 50 {
			t.Errorf("batch %s holds %d intents, the profile allows 50", b.ID, len(b.IntentIDs))
		}
		if len(b.IntentIDs) == 50 {
			bySize++
		}
		var amounts []string
		for _, id := range b.IntentIDs {
			in := byID[id]
			if in.Debtor.IBAN != b.DebtorIBAN || in.Currency != b.Currency || in.ExecutionDate != b.ExecutionDate || in.Profile != b.Profile {
				t.Errorf("intent %s (%s %s %s %s) in batch %s (%s %s %s %s)", id, in.Debtor.IBAN, in.Currency, in.ExecutionDate, in.Profile,
					b.ID, b.DebtorIBAN, b.Currency, b.ExecutionDate, b.Profile)
			}
			amounts = append(amounts, in.Amount)
		}
		if got, want := rat(t, b.CtrlSum), sum(amounts); got.Cmp(want) != 0 {
			t.Errorf("batch %s: CtrlSum %s, amounts sum to %s", b.ID, b.CtrlSum, want.FloatString(2))
		}
		if b.NbOfTxs != len(b.IntentIDs) || b.Message != "pain.001.001.03" || len(b.ID) > 35 {
			t.Errorf("batch %s: nb_of_txs %d for %d intents, message %s", b.ID, b.NbOfTxs, len(b.IntentIDs), b.Message)
		}
		data, doc := e.readArchived(t, b)
		if doc.MsgID != b.ID || doc.CtrlSum != b.CtrlSum || doc.NbOfTxs != strconv.Itoa(b.NbOfTxs) {
			t.Errorf("batch %s: file has MsgId %s, NbOfTxs %s, CtrlSum %s; record %d, %s", b.ID, doc.MsgID, doc.NbOfTxs, doc.CtrlSum, b.NbOfTxs, b.CtrlSum)
		}
		var e2e []string
		for _, p := range doc.Payments {
			e2e = append(e2e, p.ID)
		}
		if !slices.Equal(e2e, b.IntentIDs) {
			t.Errorf("batch %s: file EndToEndIds %v, record %v", b.ID, e2e, b.IntentIDs)
		}
		validateXSD(t, data, "pain.001.001.03")
		// The event says what the record says.
		m := e.lastMsg(t, messages.StreamPayments, messages.BatchEncodedSubject(b.ID))
		var ev messages.BatchEncoded
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.BatchID != b.ID || ev.CtrlSum != b.CtrlSum || !slices.Equal(ev.IntentIDs, b.IntentIDs) || ev.ArchiveSHA256 != b.Archive.SHA256 || ev.DebtorBIC != "TRELLV22" {
			t.Errorf("batch %s: event %+v does not match the record", b.ID, ev)
		}
		if m.Header.Get(messages.HeaderMsgID) != b.ID {
			t.Errorf("batch %s: event Nats-Msg-Id %q", b.ID, m.Header.Get(messages.HeaderMsgID))
		}
	}
	if bySize == 0 {
		t.Errorf("no batch closed at the size limit (50)")
	}
	groups := map[string]bool{}
	for _, in := range intents {
		groups[in.Debtor.IBAN+in.ExecutionDate] = true
	}
	if len(encoded) < len(groups) {
		t.Errorf("%d batches for %d groups", len(encoded), len(groups))
	}
	// Metrics: one batch size observation per batch.
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "isogate_encoder_batch_size" {
			if n := mf.GetMetric()[0].GetHistogram().GetSampleCount(); n != uint64(len(encoded)) {
				t.Errorf("batch size histogram has %d samples, want %d", n, len(encoded))
			}
		}
	}
	t.Logf("%d intents in %d batches (%d closed by size)", len(owner), len(encoded), bySize)
}

func TestRejectionsAndDeadLetters(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	valid := intentgen.Intents(8, intentgen.Options{Prefix: "R", Debtors: 1, Seed: 2})
	bad := func(i int, f func(*messages.PaymentIntent)) messages.PaymentIntent {
		in := valid[i]
		f(&in)
		return in
	}
	cases := []struct {
		in    messages.PaymentIntent
		field string
	}{
		{bad(3, func(p *messages.PaymentIntent) { p.Creditor.IBAN = "LV00HABA0000000000001" }), "creditor.iban"},
		{bad(4, func(p *messages.PaymentIntent) { p.Debtor.IBAN = intentgen.IBAN("LV", "HABA0000000000001") }), "debtor.iban"},
		{bad(5, func(p *messages.PaymentIntent) { p.Currency = "USD" }), "currency"},
		{bad(6, func(p *messages.PaymentIntent) { p.Profile = "nosuch" }), "profile"},
		{bad(7, func(p *messages.PaymentIntent) { p.Creditor.Name = "ООО Привет" }), "creditor.name"},
	}
	var pub []messages.PaymentIntent
	pub = append(pub, valid[:3]...)
	for _, c := range cases {
		pub = append(pub, c.in)
	}
	e.start(t, testConfig(), nil)
	e.publishIntents(t, pub)
	// A body that is not JSON, and one of another type, go to dlq.encoder.
	notJSON := e.publishRaw(t, messages.IntentSubject("BAD-1"), []byte("id=BAD-1;amount=12.00"), map[string]string{messages.HeaderMsgID: "BAD-1"})
	e.publishRaw(t, messages.IntentSubject("BAD-2"), []byte(`{"type":"pay.other","id":"BAD-2"}`), map[string]string{messages.HeaderMsgID: "BAD-2"})
	eventually(t, 15*time.Second, "all intents handled", func() bool { return e.drained(t) })

	rejected := e.subjectCounts(t, messages.StreamPayments, "pay.intent.rejected.>")
	if len(rejected) != len(cases) {
		t.Errorf("rejections on %d subjects, want %d: %v", len(rejected), len(cases), rejected)
	}
	for _, c := range cases {
		subj := messages.IntentRejectedSubject(c.in.ID)
		if rejected[subj] != 1 {
			t.Errorf("%s: %d rejections, want 1", c.in.ID, rejected[subj])
			continue
		}
		m := e.lastMsg(t, messages.StreamPayments, subj)
		var ev messages.IntentRejected
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, fe := range ev.Errors {
			found = found || fe.Field == c.field
		}
		if !found || ev.Source != messages.SourceEncoder || ev.IntentID != c.in.ID || m.Header.Get(messages.HeaderMsgID) != "rejected:"+c.in.ID {
			t.Errorf("%s: rejection %+v (Nats-Msg-Id %s), want an error on %s", c.in.ID, ev, m.Header.Get(messages.HeaderMsgID), c.field)
		}
		if rec, err := e.intents.Get(t.Context(), c.in.ID); err != nil || !rec.Rejected || rec.BatchID != "" {
			t.Errorf("%s: rejected, yet its record is %+v, %v; want a rejection record", c.in.ID, rec, err)
		}
	}
	_, owner := e.encodedBatches(t)
	if len(owner) != 3 {
		t.Errorf("%d intents batched, want the 3 valid ones", len(owner))
	}

	dl := e.lastMsg(t, messages.StreamDLQ, messages.DeadLetterSubject(encoder.Name))
	if dl == nil {
		t.Fatal("no dead letter on dlq.encoder")
	}
	dls := e.subjectCounts(t, messages.StreamDLQ, "dlq.>")
	if dls[messages.DeadLetterSubject(encoder.Name)] != 2 {
		t.Errorf("dead letters %v, want 2 on dlq.encoder", dls)
	}
	// Find the dead letter of BAD-1 (the first one stored).
	s, err := e.js.Stream(t.Context(), messages.StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	var first messages.DeadLetter
	var firstSeq uint64
	for seq := uint64(1); seq <= dl.Sequence; seq++ {
		m, err := s.GetMsg(t.Context(), seq)
		if err != nil {
			continue
		}
		var d messages.DeadLetter
		if err := json.Unmarshal(m.Data, &d); err != nil {
			t.Fatal(err)
		}
		if d.Subject == messages.IntentSubject("BAD-1") {
			first, firstSeq = d, seq
		}
	}
	if firstSeq == 0 || first.StreamSeq != notJSON || !strings.Contains(first.Error, "json") {
		t.Fatalf("dead letter of the non-JSON intent: %+v", first)
	}

	// Replay it fixed, as `isogate dlq replay --data` does: it is batched.
	fixed := intentgen.Intents(1, intentgen.Options{Prefix: "X", Debtors: 1, Seed: 3})[0]
	fixed.ID = "BAD-1"
	body, err := json.Marshal(fixed)
	if err != nil {
		t.Fatal(err)
	}
	replay := func(msgID string) {
		e.publishRaw(t, first.Subject, body, map[string]string{
			messages.HeaderMsgID:   msgID,
			workers.HeaderReplayOf: strconv.FormatUint(firstSeq, 10),
		})
	}
	replay("replay:" + strconv.FormatUint(firstSeq, 10))
	eventually(t, 15*time.Second, "the replayed intent batched", func() bool {
		rec, err := e.intents.Get(t.Context(), "BAD-1")
		return err == nil && rec.BatchID != "" && e.drained(t)
	})
	before, owner := e.encodedBatches(t)
	if owner["BAD-1"] == "" {
		t.Fatal("the replayed intent is in no encoded batch")
	}
	// Replaying again does nothing more: the same replay id is dropped by
	// the stream; another copy (a second dead letter of it) is a no-op.
	replay("replay:" + strconv.FormatUint(firstSeq, 10))
	replay("replay:" + strconv.FormatUint(firstSeq+1000, 10))
	eventually(t, 15*time.Second, "the second replay handled", func() bool { return e.drained(t) })
	after, owner2 := e.encodedBatches(t)
	if len(after) != len(before) || owner2["BAD-1"] != owner["BAD-1"] {
		t.Errorf("replaying again changed the batches: %d → %d", len(before), len(after))
	}
	if n := e.subjectCounts(t, messages.StreamPayments, "pay.intent.rejected.>")[messages.IntentRejectedSubject("BAD-1")]; n != 0 {
		t.Errorf("the replayed intent was rejected %d times", n)
	}
	if n := e.subjectCounts(t, messages.StreamDLQ, "dlq.>")[messages.DeadLetterSubject(encoder.Name)]; n != 2 {
		t.Errorf("%d dead letters after the replays, want still 2", n)
	}
}

func TestDuplicateIntentBatchedOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	intents := intentgen.Intents(3, intentgen.Options{Prefix: "D", Debtors: 1, Seed: 4})
	e.start(t, testConfig(), nil)
	e.publishIntents(t, intents[:1])
	eventually(t, 15*time.Second, "first copy batched", func() bool { return e.drained(t) })
	_, owner := e.encodedBatches(t)
	if owner[intents[0].ID] == "" {
		t.Fatal("first copy not batched")
	}

	// The same intent again after the duplicate window: another
	// Nats-Msg-Id and no subject guard, so the stream stores it. Also an
	// invalid copy of it: never rejected, the id is being paid.
	data, _ := json.Marshal(intents[0])
	e.publishRaw(t, messages.IntentSubject(intents[0].ID), data, map[string]string{messages.HeaderMsgID: "late-copy"})
	broken := intents[0]
	broken.Creditor.IBAN = "LV00HABA0000000000001"
	data, _ = json.Marshal(broken)
	e.publishRaw(t, messages.IntentSubject(intents[0].ID), data, map[string]string{messages.HeaderMsgID: "late-broken-copy"})
	// Two copies of a new intent at once, both before its batch closes.
	data, _ = json.Marshal(intents[1])
	e.publishRaw(t, messages.IntentSubject(intents[1].ID), data, map[string]string{messages.HeaderMsgID: intents[1].ID})
	e.publishRaw(t, messages.IntentSubject(intents[1].ID), data, map[string]string{messages.HeaderMsgID: "copy-" + intents[1].ID})
	e.publishIntents(t, intents[2:])
	eventually(t, 15*time.Second, "copies handled", func() bool {
		rec, err := e.intents.Get(t.Context(), intents[2].ID)
		return err == nil && rec.BatchID != "" && e.drained(t)
	})
	encoded, owner2 := e.encodedBatches(t)
	if owner2[intents[0].ID] != owner[intents[0].ID] {
		t.Errorf("intent %s moved from batch %s to %s", intents[0].ID, owner[intents[0].ID], owner2[intents[0].ID])
	}
	if len(owner2) != 3 {
		t.Errorf("%d intents batched, want 3", len(owner2))
	}
	n := 0
	for _, b := range encoded {
		n += len(b.IntentIDs)
	}
	if n != 3 {
		t.Errorf("%d transactions in the files, want 3", n)
	}
	if r := e.subjectCounts(t, messages.StreamPayments, "pay.intent.rejected.>"); len(r) != 0 {
		t.Errorf("rejections %v, want none", r)
	}
}

// TestCrashSafety stops an encoder at each point of a flush, as a kill -9
// would (the flush blocks for good, the router is torn down without acks,
// the connection closed), and runs a fresh one: every intent ends in
// exactly one encoded batch, with exactly one pay.batch.encoded each.
func TestCrashSafety(t *testing.T) {
	t.Parallel()
	points := []string{encoder.CrashCreated, encoder.CrashClaimed, encoder.CrashArchived,
		encoder.CrashTransitioned, encoder.CrashPublished, encoder.CrashAcking}
	for i, point := range points {
		t.Run(point, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			intents := intentgen.Intents(40, intentgen.Options{Prefix: fmt.Sprintf("C%d", i), Debtors: 2, Seed: uint64(10 + i)})

			reached := make(chan struct{})
			release := make(chan struct{})
			var crashed atomic.Bool
			cfg := testConfig()
			cfg.Crash = func(p string) {
				if p == point || crashed.Load() {
					if !crashed.Swap(true) {
						close(reached)
					}
					<-release // dead: never goes on while the process "runs"
				}
			}
			first := e.start(t, cfg, release)
			e.publishIntents(t, intents)
			select {
			case <-reached:
			case <-time.After(15 * time.Second):
				t.Fatalf("crash point %s not reached", point)
			}
			first.stop()

			second := e.start(t, testConfig(), nil)
			eventually(t, 20*time.Second, "every intent in an encoded batch", func() bool {
				if !e.drained(t) {
					return false
				}
				all, err := e.batches.List(t.Context(), state.Encoded)
				if err != nil {
					return false
				}
				n := 0
				for _, b := range all {
					n += len(b.IntentIDs)
				}
				return n >= len(intents)
			})
			_, owner := e.encodedBatches(t)
			for _, in := range intents {
				if owner[in.ID] == "" {
					t.Errorf("intent %s in no encoded batch", in.ID)
				}
			}
			if len(owner) != len(intents) {
				t.Errorf("%d intents in encoded batches, want %d", len(owner), len(intents))
			}
			// Recover leaves no batch open once the crashed one is stale.
			eventually(t, 10*time.Second, "no open batch left", func() bool {
				if _, err := second.h.Recover(t.Context()); err != nil {
					t.Log(err)
					return false
				}
				open, err := e.batches.List(t.Context(), state.Open)
				return err == nil && len(open) == 0
			})
			// And nothing changed meanwhile: still one event per batch.
			e.encodedBatches(t)
			// The crashed batch was completed the way the point implies.
			switch point {
			case encoder.CrashCreated, encoder.CrashClaimed, encoder.CrashArchived:
				if n := e.counter(t, "isogate_encoder_batches_abandoned_total"); n < 1 {
					t.Errorf("%v batches abandoned, want the crashed one", n)
				}
			case encoder.CrashTransitioned:
				if n := e.counter(t, "isogate_encoder_encoded_republished_total"); n < 1 {
					t.Errorf("%v pay.batch.encoded published again, want the crashed batch's", n)
				}
			}
		})
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	deps := encoder.Deps{JS: e.js, Batches: e.batches, Intents: e.intents, Archive: e.archive}
	tests := []struct {
		name string
		cfg  encoder.Config
		want string
	}{
		{"wait not under ack wait", encoder.Config{Wait: 5 * time.Second, AckWait: 2 * time.Second}, "shorter than ack wait"},
		{"stale too early", encoder.Config{Wait: time.Second, AckWait: 3 * time.Second, StaleAfter: 2 * time.Second}, "stale after"},
		{"unknown default profile", encoder.Config{DefaultProfile: "nosuch"}, "default profile"},
	}
	for _, tt := range tests {
		_, err := encoder.New(tt.cfg, deps)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%s) = %v, want an error about %q", tt.name, err, tt.want)
		}
	}
	if _, err := encoder.New(encoder.Config{}, encoder.Deps{}); err == nil {
		t.Error("New without dependencies: no error")
	}
	h, err := encoder.New(encoder.Config{}, deps)
	if err != nil {
		t.Fatal(err)
	}
	w := h.Spec()
	if w.Name != "encoder" || w.Concurrency != 10000 || w.MaxAckPending <= w.Concurrency || w.AckWait != 30*time.Second {
		t.Errorf("Spec() = %+v", w)
	}
}

// TestCtrlSumCapClosesBatch: pain.001 CtrlSum has at most 18 digits, so a
// batch closes before an intent would take its sum past that, instead of
// failing to encode.
func TestCtrlSumCapClosesBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	intents := intentgen.Intents(3, intentgen.Options{Prefix: "S", Debtors: 1, Seed: 5})
	for i := range intents {
		intents[i].Amount = "6000000000000000.00" // 18 digits; two make 19
		intents[i].ExecutionDate = "2026-12-01"
	}
	e.publishIntents(t, intents)
	e.start(t, testConfig(), nil)
	eventually(t, 15*time.Second, "all intents acked", func() bool { return e.drained(t) })
	encoded, owner := e.encodedBatches(t)
	if len(owner) != 3 || len(encoded) != 3 {
		t.Fatalf("%d intents in %d batches, want 3 in 3", len(owner), len(encoded))
	}
	for _, b := range encoded {
		if b.CtrlSum != "6000000000000000.00" {
			t.Errorf("batch %s: CtrlSum %s", b.ID, b.CtrlSum)
		}
		data, _ := e.readArchived(t, b)
		validateXSD(t, data, "pain.001.001.03")
	}
}

// TestInvalidIntentClaimedByDeadBatch: an invalid intent whose id is held
// by an open batch whose encoder died (a crash after the claims) is not
// acked away: once the batch is stale it is abandoned, the claim released,
// and the intent rejected — one terminal event.
func TestInvalidIntentClaimedByDeadBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	in := intentgen.Intents(1, intentgen.Options{Prefix: "DEAD", Debtors: 1, Seed: 9})[0]
	if _, err := e.batches.Create(t.Context(), state.Batch{ID: "BDEAD", Profile: "ekase", IntentIDs: []string{in.ID}}); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := e.intents.Claim(t.Context(), in.ID, "BDEAD"); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	in.Creditor.IBAN = "LV00HABA0000000000001" // invalid: check digits never issued
	data, _ := json.Marshal(in)
	e.start(t, testConfig(), nil)
	e.publishRaw(t, messages.IntentSubject(in.ID), data, map[string]string{messages.HeaderMsgID: in.ID})
	eventually(t, 15*time.Second, "the intent rejected", func() bool {
		return len(e.subjectCounts(t, messages.StreamPayments, messages.IntentRejectedSubject(in.ID))) == 1
	})
	b, err := e.batches.Get(t.Context(), "BDEAD")
	if err != nil || b.State != state.Failed {
		t.Errorf("dead batch = %+v, %v; want failed (abandoned)", b, err)
	}
	if rec, err := e.intents.Get(t.Context(), in.ID); err != nil || !rec.Rejected || rec.BatchID != "" {
		t.Errorf("record of %s = %+v, %v; want the dead batch's claim replaced by a rejection", in.ID, rec, err)
	}
}
