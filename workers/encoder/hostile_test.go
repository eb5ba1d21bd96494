package encoder_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/isogate/isogate/internal/intentgen"
	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/workers/encoder"
)

// TestHostileProducer covers what a producer that breaks the publishing
// contract can store on pay.intent (the whole-gateway catalogue is
// internal/app's TestCatalogueIntents): an invalid copy of an id whose
// valid original waits for its batch, an id with dots on a subject of two
// tokens, and an id too long for the subjects and keys the encoder would
// name with it.
func TestHostileProducer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	cfg := testConfig()
	cfg.Wait = time.Second // the invalid copy comes while the original waits
	cfg.AckWait = 5 * time.Second
	e.start(t, cfg, nil)
	in := intentgen.Intents(4, intentgen.Options{Prefix: "H", Debtors: 1, Seed: 9})
	body := func(p any) []byte {
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	orig := in[0]
	e.publishRaw(t, messages.IntentSubject(orig.ID), body(orig),
		map[string]string{messages.HeaderMsgID: orig.ID, messages.HeaderExpectedLastSubjectSeq: "0"})
	// Once the original waits for its batch (delivered, not acked), an
	// invalid copy: it shares the original's outcome. (Delivered together,
	// the copy that takes the id's lock first decides for both.)
	eventually(t, 10*time.Second, "the original delivered", func() bool {
		c, err := e.js.Consumer(t.Context(), messages.StreamPayments, encoder.Name)
		if err != nil {
			return false
		}
		info, err := c.Info(t.Context())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 1
	})
	broken := orig
	broken.Remittance = "Rēķins\x1b"
	e.publishRaw(t, messages.IntentSubject(orig.ID), body(broken), map[string]string{messages.HeaderMsgID: "broken-copy"})

	dotted := in[1]
	dotted.ID = "H.1"
	dottedSeq := e.publishRaw(t, "pay.intent.H.1", body(dotted), map[string]string{messages.HeaderMsgID: "H.1"})
	long := in[2]
	long.ID = strings.Repeat("L", 4010)
	longSeq := e.publishRaw(t, messages.IntentSubject(long.ID), body(long), map[string]string{messages.HeaderMsgID: "long"})
	usd := in[3]
	usd.Currency = "USD"
	e.publishIntents(t, []messages.PaymentIntent{usd})
	eventually(t, 15*time.Second, "all handled", func() bool { return e.drained(t) })

	// The encoder still works: a valid intent published now is batched.
	later := intentgen.Intents(1, intentgen.Options{Prefix: "HL", Debtors: 1, Seed: 10})
	e.publishIntents(t, later)
	eventually(t, 15*time.Second, "the later intent batched", func() bool {
		rec, err := e.intents.Get(t.Context(), later[0].ID)
		return err == nil && rec.BatchID != "" && e.drained(t)
	})

	// The two copies of orig's id end in one outcome, whichever copy
	// took the id's lock first: the original batched (the invalid copy
	// acked as a duplicate), or the invalid copy rejected (the original
	// then acked as a duplicate of a rejected id) — never both. The test
	// sees when the original is delivered, not when its handler has the
	// lock, so either may happen.
	_, owner := e.encodedBatches(t)
	rejected := e.subjectCounts(t, messages.StreamPayments, "pay.intent.rejected.>")
	origBatched, origRejected := owner[orig.ID] != "", rejected[messages.IntentRejectedSubject(orig.ID)] == 1
	if origBatched == origRejected {
		t.Errorf("intent %s: batched %v, rejected %v; want exactly one of the two", orig.ID, origBatched, origRejected)
	}
	if owner[later[0].ID] == "" || len(owner) != map[bool]int{true: 2, false: 1}[origBatched] {
		t.Errorf("batched %v, want %s (and %s unless rejected)", owner, later[0].ID, orig.ID)
	}
	if rejected[messages.IntentRejectedSubject(usd.ID)] != 1 || len(rejected) != map[bool]int{true: 2, false: 1}[origRejected] {
		t.Errorf("rejections %v, want %s's (and %s's if not batched)", rejected, usd.ID, orig.ID)
	}
	s, err := e.js.Stream(t.Context(), messages.StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	letters := map[uint64]messages.DeadLetter{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && seq > 0; seq++ {
		m, err := s.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatal(err)
		}
		var d messages.DeadLetter
		if err := json.Unmarshal(m.Data, &d); err != nil {
			t.Fatal(err)
		}
		letters[d.StreamSeq] = d
	}
	for seq, want := range map[uint64]string{
		dottedSeq: "an intent is published on pay.intent.<token>, a single token",
		longSeq:   "its id of 4010 bytes is too long to name a subject",
	} {
		if d := letters[seq]; d.Worker != encoder.Name || !strings.Contains(d.Error, want) {
			t.Errorf("dead letter of PAYMENTS seq %d = %+v, want one from the encoder: …%s…", seq, d, want)
		}
	}
	if len(letters) != 2 {
		t.Errorf("%d dead letters, want 2", len(letters))
	}
}
