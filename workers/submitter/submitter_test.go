package submitter_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/isogate/isogate/bank"
	"github.com/isogate/isogate/bank/channeltest"
	"github.com/isogate/isogate/bank/h2h"
	"github.com/isogate/isogate/banksim"
	"github.com/isogate/isogate/certstore"
	"github.com/isogate/isogate/internal/intentgen"
	"github.com/isogate/isogate/internal/natstest"
	"github.com/isogate/isogate/internal/provision"
	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/workers"
	"github.com/isogate/isogate/workers/archive"
	"github.com/isogate/isogate/workers/state"
	"github.com/isogate/isogate/workers/submitter"
	"github.com/isogate/isogate/xmlcodec"
)

// env is a real embedded JetStream with the gateway's streams and a
// banksim over HTTPS with client certificates, reached through h2h with
// XML signatures (so the Preparer path runs) and the client certificate
// served by certstore.
type env struct {
	nats    *natstest.Server
	js      jetstream.JetStream
	pub     *workers.Publisher
	batches *state.Batches
	arch    *archive.Archive
	bank    *banksim.Server
	ch      *h2h.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := natstest.Start(t)
	_, js := srv.Connect()
	ctx := t.Context()
	if _, err := provision.Apply(ctx, js, provision.Options{Replicas: 1, DuplicateWindow: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	batches, _, err := state.New(ctx, js, state.Options{Worker: "test"})
	if err != nil {
		t.Fatal(err)
	}
	arch, err := archive.Open(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	bsrv, err := banksim.Start(banksim.Config{Profile: "ekase", Seed: 1, VerifySignature: true}, "127.0.0.1:0", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := bsrv.Close(); err != nil {
			t.Errorf("closing banksim: %v", err)
		}
	})
	src := channeltest.ClientSource(t, bsrv.TLS)
	pool, err := certstore.LoadCAPool(bsrv.TLS.CA)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := h2h.New(h2h.Config{BaseURL: bsrv.URL, TLS: src.ClientConfig(pool), Timeout: 2 * time.Second,
		Sign: h2h.SignXMLDSig, Signer: func() (*tls.Certificate, error) { c, _ := src.Certificate(); return c, nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Close() })
	return &env{nats: srv, js: js, pub: workers.NewPublisher(js, 5*time.Second), batches: batches, arch: arch, bank: bsrv, ch: ch}
}

func testLogger() *slog.Logger {
	if os.Getenv("SUBMITTER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newHandler returns a submitter with short timings: a fresh one stands for
// a restarted process.
func (e *env) newHandler(t *testing.T, crash func(string)) *submitter.Handler {
	t.Helper()
	h, err := submitter.New(submitter.Config{
		AckWait:       1500 * time.Millisecond,
		MaxDeliver:    20,
		Backoff:       []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond},
		Concurrency:   4,
		FetchBatch:    2,
		UploadTimeout: 2 * time.Second,
		StatusTimeout: 2 * time.Second,
		ClockSkew:     100 * time.Millisecond,
		Crash:         crash,
	}, submitter.Deps{JS: e.js, Publisher: e.pub, Batches: e.batches, Archive: e.arch, Channel: e.ch, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// start runs a router with h until stop (or the test's end). Stopping it
// with a handler blocked in a crash hook is a crash: after the drain
// timeout the handler is cancelled and its message is neither acked nor
// nacked.
func (e *env) start(t *testing.T, h *submitter.Handler) (stop func()) {
	t.Helper()
	r, err := workers.NewRouter(workers.RouterConfig{JS: e.js, Workers: []workers.Worker{h.Worker()}, Logger: testLogger(),
		DrainTimeout: 200 * time.Millisecond, PollWait: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background()) }()
	<-r.Running()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = r.Close()
			<-done
		})
	}
	t.Cleanup(stop)
	return stop
}

// testBatch is an encoded batch as the encoder leaves it.
type testBatch struct {
	ID        string
	IntentIDs []string
}

// newBatch encodes n payments under id, archives the pain.001, records the
// batch encoded and publishes pay.batch.encoded. corrupt breaks the first
// creditor IBAN's check digits in the archived XML, which banksim refuses.
func (e *env) newBatch(t *testing.T, id string, n int, corrupt bool) testBatch {
	t.Helper()
	ctx := t.Context()
	intents := intentgen.Intents(n, intentgen.Options{Prefix: id, Debtors: 1, Seed: uint64(len(id) + n)})
	pays := make([]xmlcodec.Payment, len(intents))
	for i, in := range intents {
		pays[i] = xmlcodec.Payment{ID: in.ID, Amount: in.Amount, Currency: in.Currency, ExecutionDate: in.ExecutionDate,
			Remittance: in.Remittance, CreditorReference: in.CreditorReference, Purpose: in.Purpose, BudgetCode: in.BudgetCode,
			Debtor:   xmlcodec.Account{Name: in.Debtor.Name, IBAN: in.Debtor.IBAN, BIC: in.Debtor.BIC},
			Creditor: xmlcodec.Account{Name: in.Creditor.Name, IBAN: in.Creditor.IBAN, BIC: in.Creditor.BIC}}
	}
	res, err := e.bank.Bank.Profile().EncodePain001(xmlcodec.Pain001Request{MsgID: id, Payments: pays})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) != 1 {
		t.Fatalf("encoded %d files, want 1", len(res.Files))
	}
	f := res.Files[0]
	data := f.Data
	if corrupt {
		good := intents[0].Creditor.IBAN
		bad := good[:2] + fmt.Sprintf("%02d", (int(good[2]-'0')*10+int(good[3]-'0')+1)%97) + good[4:]
		if !bytes.Contains(data, []byte(good)) {
			t.Fatalf("creditor IBAN %s not in the file", good)
		}
		data = bytes.Replace(data, []byte(good), []byte(bad), 1)
	}
	obj, err := e.arch.Put(ctx, data, map[string]string{archive.MetaKind: "pain.001", archive.MetaBatchID: id, archive.MetaMsgID: id})
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.batches.Create(ctx, state.Batch{ID: id, State: state.Encoded, Profile: "ekase", Message: "pain.001.001.03",
		DebtorIBAN: intents[0].Debtor.IBAN, Currency: "EUR", IntentIDs: f.PaymentIDs, NbOfTxs: f.NbOfTxs, CtrlSum: f.CtrlSum,
		Archive: &state.Object{Name: obj.Name, SHA256: obj.SHA256, Size: obj.Size}})
	if err != nil {
		t.Fatal(err)
	}
	ev := messages.BatchEncoded{BatchID: id, Profile: b.Profile, Message: b.Message, CreatedAt: b.CreatedAt,
		DebtorIBAN: b.DebtorIBAN, Currency: "EUR", NbOfTxs: f.NbOfTxs, CtrlSum: f.CtrlSum, IntentIDs: f.PaymentIDs,
		ArchiveObject: obj.Name, ArchiveSHA256: obj.SHA256, ArchiveSize: obj.Size}
	if _, err := e.pub.PublishEvent(ctx, ev, id); err != nil {
		t.Fatal(err)
	}
	return testBatch{ID: id, IntentIDs: f.PaymentIDs}
}

// waitStates polls until every batch is in want.
func (e *env) waitStates(t *testing.T, want state.State, within time.Duration, bs ...testBatch) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		var notYet []string
		for _, b := range bs {
			rec, err := e.batches.Get(t.Context(), b.ID)
			if err != nil { // the server may be restarting
				notYet = append(notYet, b.ID+": "+err.Error())
				continue
			}
			if rec.State != want {
				notYet = append(notYet, b.ID+"="+string(rec.State))
			}
		}
		if len(notYet) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, batches not %s: %s", within, want, strings.Join(notYet, ", "))
		}
		<-tick.C
	}
}

// counts returns the number of messages per subject in stream under filter.
func (e *env) counts(t *testing.T, stream, filter string) map[string]uint64 {
	t.Helper()
	s, err := e.js.Stream(t.Context(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context(), jetstream.WithSubjectFilter(filter))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects
}

// wantEvents checks the batch events of b: submitted, in_doubt and failed
// counts.
func (e *env) wantEvents(t *testing.T, b testBatch, submitted, inDoubt, failed uint64) {
	t.Helper()
	c := e.counts(t, messages.StreamPayments, "pay.batch.>")
	got := [3]uint64{c[messages.BatchSubmittedSubject(b.ID)], c[messages.BatchInDoubtSubject(b.ID)], c[messages.BatchFailedSubject(b.ID)]}
	if want := [3]uint64{submitted, inDoubt, failed}; got != want {
		t.Errorf("batch %s events (submitted, in_doubt, failed) = %v, want %v", b.ID, got, want)
	}
}

// wantLedger checks the bank's ledger: each MsgId once, every payment
// booked once, no duplicate upload.
func (e *env) wantLedger(t *testing.T, batches, txs int) banksim.Ledger {
	t.Helper()
	l := e.bank.Bank.Ledger()
	if l.UniqueMsgIDs != batches || l.TransactionsBooked != txs || l.EndToEndIDsBookedTwice != 0 || l.DuplicateUploads != 0 {
		t.Errorf("ledger unique_msg_ids=%d transactions_booked=%d end_to_end_ids_booked_twice=%d duplicate_uploads=%d, want %d, %d, 0, 0",
			l.UniqueMsgIDs, l.TransactionsBooked, l.EndToEndIDsBookedTwice, l.DuplicateUploads, batches, txs)
	}
	t.Logf("ledger: files_received=%d unique_msg_ids=%d transactions_booked=%d end_to_end_ids_booked_twice=%d duplicate_uploads=%d",
		l.FilesReceived, l.UniqueMsgIDs, l.TransactionsBooked, l.EndToEndIDsBookedTwice, l.DuplicateUploads)
	return l
}

// wantPrepared checks the batch was uploaded as its recorded, archived,
// signed file and the submitted event names that file.
func (e *env) wantPrepared(t *testing.T, b testBatch) *state.Batch {
	t.Helper()
	rec, err := e.batches.Get(t.Context(), b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Upload == nil || rec.Upload.SHA256 == rec.Archive.SHA256 {
		t.Fatalf("batch %s: upload %+v, want the signed file recorded beside archive %+v", b.ID, rec.Upload, rec.Archive)
	}
	data, err := e.arch.Get(t.Context(), rec.Upload.Name)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte("SignatureValue")) {
		t.Errorf("batch %s: the recorded upload is not signed", b.ID)
	}
	return rec
}

func TestHappyPath(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(t, e.newHandler(t, nil))
	var bs []testBatch
	for i := range 6 {
		bs = append(bs, e.newBatch(t, fmt.Sprintf("HAPPY-%02d", i), 3, false))
	}
	e.waitStates(t, state.Submitted, 20*time.Second, bs...)
	for _, b := range bs {
		e.wantEvents(t, b, 1, 0, 0)
		rec := e.wantPrepared(t, b)
		if rec.Attempts != 1 || rec.Receipt == nil {
			t.Errorf("batch %s: attempts %d, receipt %+v; want 1 and a receipt", b.ID, rec.Attempts, rec.Receipt)
		}
	}
	e.wantLedger(t, 6, 18)
	if res, err := e.newHandler(t, nil).Recover(t.Context()); err != nil || len(res.Found) != 0 {
		t.Errorf("Recover = %+v, %v; want nothing to do", res, err)
	}
}

// TestCrash stops the submitter at each crash point — blocked there, then
// its router torn down, so its message is neither acked nor nacked — and
// starts a fresh one (a restarted process: new handler, Recover, new
// router). Nothing reaches the bank twice, every batch ends submitted, and
// the events are exactly those expected.
func TestCrash(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		point    string
		fault    banksim.Fault // on the first upload
		inDoubt  uint64        // in_doubt events of the crashed batch
		attempts int           // uploads started for it
	}{
		{submitter.CrashAfterCAS, "", 1, 2},    // found submitting → in_doubt → unknown → sent (once)
		{submitter.CrashAfterUpload, "", 1, 1}, // found submitting → in_doubt → found by status
		// in_doubt after a dropped answer, stopped before the status query.
		{submitter.CrashAfterInDoubt, banksim.FaultDropAfterAccept, 1, 1},
		{submitter.CrashBeforeAck, "", 0, 1}, // submitted and published: the redelivery only acks
	} {
		t.Run(tt.point, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			reached := make(chan struct{})
			release := make(chan struct{})
			t.Cleanup(func() { close(release) })
			var crashed atomic.Bool
			crash := func(p string) {
				if p == tt.point && crashed.CompareAndSwap(false, true) {
					close(reached)
					<-release // blocked until the test ends: the process is gone
				}
			}
			if tt.fault != "" {
				e.bank.Bank.FailNext(tt.fault, 1)
			}
			stop := e.start(t, e.newHandler(t, crash))
			victim := e.newBatch(t, "CRASH-"+strings.ToUpper(tt.point), 4, false)
			select {
			case <-reached:
			case <-time.After(15 * time.Second):
				t.Fatal("crash point not reached")
			}
			stop() // the crash
			others := []testBatch{e.newBatch(t, "OTHER-1", 2, false), e.newBatch(t, "OTHER-2", 2, false)}

			h := e.newHandler(t, nil)
			recovered := make(chan error, 1)
			go func() { _, err := h.Recover(t.Context()); recovered <- err }()
			e.start(t, h)
			if err := <-recovered; err != nil {
				t.Errorf("Recover: %v", err)
			}
			all := append([]testBatch{victim}, others...)
			e.waitStates(t, state.Submitted, 20*time.Second, all...)
			e.waitAcked(t, 10*time.Second)
			e.wantEvents(t, victim, 1, tt.inDoubt, 0)
			for _, b := range others {
				e.wantEvents(t, b, 1, 0, 0)
			}
			for _, b := range all {
				e.wantPrepared(t, b)
			}
			if rec := e.wantPrepared(t, victim); rec.Attempts != tt.attempts {
				t.Errorf("crashed batch: attempts = %d, want %d", rec.Attempts, tt.attempts)
			}
			e.wantLedger(t, 3, 8)
		})
	}
}

// waitAcked polls until the submitter's consumer has nothing pending or
// unacknowledged.
func (e *env) waitAcked(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := e.js.Consumer(t.Context(), messages.StreamPayments, submitter.Name)
		if err != nil {
			t.Fatal(err)
		}
		info, err := c.Info(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if info.NumPending == 0 && info.NumAckPending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer still has %d pending, %d unacknowledged", info.NumPending, info.NumAckPending)
		}
		<-tick.C
	}
}

// TestNATSRestart restarts the NATS server right after an upload, before
// the handler records it.
func TestNATSRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var restarted atomic.Bool
	crash := func(p string) {
		if p == submitter.CrashAfterUpload && restarted.CompareAndSwap(false, true) {
			e.nats.Restart()
		}
	}
	e.start(t, e.newHandler(t, crash))
	var bs []testBatch
	for i := range 4 {
		bs = append(bs, e.newBatch(t, fmt.Sprintf("RESTART-%02d", i), 2, false))
	}
	e.waitStates(t, state.Submitted, 30*time.Second, bs...)
	if !restarted.Load() {
		t.Fatal("the server was not restarted")
	}
	e.waitAcked(t, 10*time.Second)
	for _, b := range bs {
		c := e.counts(t, messages.StreamPayments, "pay.batch.>")
		if n := c[messages.BatchSubmittedSubject(b.ID)]; n != 1 {
			t.Errorf("batch %s: %d submitted events, want 1", b.ID, n)
		}
		e.wantPrepared(t, b)
	}
	e.wantLedger(t, 4, 8)
}

// TestFaults injects banksim faults on the first upload.
func TestFaults(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		fault    banksim.Fault
		inDoubt  uint64 // in_doubt events
		attempts int    // uploads started
	}{
		// The bank books the file and drops the connection: in doubt; the
		// status query finds it; never re-sent.
		{"drop-after-accept", banksim.FaultDropAfterAccept, 1, 1},
		// Refused before the body (transient): nack; the redelivery finds
		// submitting, the status query says unknown, the same bytes go again.
		{"reset", banksim.FaultReset, 1, 2},
		{"503", banksim.FaultError, 1, 2},
		// No answer after the body: in doubt, unknown to the bank, re-sent.
		{"timeout", banksim.FaultTimeout, 1, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.bank.Bank.FailNext(tt.fault, 1)
			e.start(t, e.newHandler(t, nil))
			b := e.newBatch(t, "FAULT-"+strings.ToUpper(tt.name), 3, false)
			e.waitStates(t, state.Submitted, 20*time.Second, b)
			e.waitAcked(t, 10*time.Second)
			e.wantEvents(t, b, 1, tt.inDoubt, 0)
			rec := e.wantPrepared(t, b)
			if rec.Attempts != tt.attempts {
				t.Errorf("attempts = %d, want %d", rec.Attempts, tt.attempts)
			}
			e.wantLedger(t, 1, 3)
		})
	}
}

// TestRecoverWithoutMessage: batches left submitting and in_doubt whose
// messages are gone are settled by Recover alone: one the bank has (found
// by status), one it does not (sent once, the recorded bytes).
func TestRecoverWithoutMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// Encoded batches without a running submitter; then their messages go.
	uploaded := e.newBatch(t, "GONE-UPLOADED", 2, false)
	never := e.newBatch(t, "GONE-NEVER", 3, false)
	s, err := e.js.Stream(t.Context(), messages.StreamPayments)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(t.Context(), jetstream.WithPurgeSubject(messages.SubjectBatchesEncoded)); err != nil {
		t.Fatal(err)
	}
	// uploaded: a process took it, uploaded it and died before recording it.
	rec, err := e.batches.Transition(t.Context(), uploaded.ID, state.Submitting, "uploading", nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := e.arch.Get(t.Context(), rec.Archive.Name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ch.Submit(t.Context(), bankFile(uploaded.ID, data)); err != nil {
		t.Fatal(err)
	}
	// never: in doubt after an upload that never arrived.
	if _, err := e.batches.Transition(t.Context(), never.ID, state.Submitting, "uploading", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.batches.Transition(t.Context(), never.ID, state.InDoubt, "upload outcome unknown: test", nil); err != nil {
		t.Fatal(err)
	}
	res, err := e.newHandler(t, nil).Recover(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Found) != 2 || len(res.Submitted) != 2 {
		t.Errorf("Recover = %+v, want both found and submitted", res)
	}
	e.waitStates(t, state.Submitted, time.Second, uploaded, never)
	e.wantEvents(t, uploaded, 1, 1, 0)
	e.wantEvents(t, never, 1, 1, 0)
	if rec := e.wantPrepared(t, never); rec.Attempts != 2 {
		t.Errorf("never: attempts = %d, want 2", rec.Attempts)
	}
	e.wantLedger(t, 2, 5)
}

// TestStatusQueryFails: the status query of an in-doubt batch fails
// (503): nack, and the next delivery resolves it; nothing is re-sent.
func TestStatusQueryFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.bank.Bank.FailNext(banksim.FaultDropAfterAccept, 1)
	var once atomic.Bool
	e.start(t, e.newHandler(t, func(p string) {
		if p == submitter.CrashAfterInDoubt && once.CompareAndSwap(false, true) {
			e.bank.Bank.FailNext(banksim.FaultError, 1) // the status query that follows
		}
	}))
	b := e.newBatch(t, "STATUS-503", 2, false)
	e.waitStates(t, state.Submitted, 20*time.Second, b)
	e.waitAcked(t, 10*time.Second)
	e.wantEvents(t, b, 1, 1, 0)
	if rec := e.wantPrepared(t, b); rec.Attempts != 1 {
		t.Errorf("attempts = %d, want 1", rec.Attempts)
	}
	e.wantLedger(t, 1, 2)
}

// TestRefusedFile: a file the bank refuses (a creditor IBAN with wrong
// check digits) → failed, pay.batch.failed with the intents and the bank's
// reasons, a dead letter on dlq.submitter.
func TestRefusedFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(t, e.newHandler(t, nil))
	bad := e.newBatch(t, "REFUSED-1", 3, true)
	good := e.newBatch(t, "GOOD-1", 2, false)
	e.waitStates(t, state.Failed, 20*time.Second, bad)
	e.waitStates(t, state.Submitted, 20*time.Second, good)
	e.waitAcked(t, 10*time.Second)
	e.wantEvents(t, bad, 0, 0, 1)
	e.wantEvents(t, good, 1, 0, 0)

	msg, err := e.js.Stream(t.Context(), messages.StreamPayments)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := msg.GetLastMsgForSubject(t.Context(), messages.BatchFailedSubject(bad.ID))
	if err != nil {
		t.Fatal(err)
	}
	var ev messages.BatchFailed
	if err := jsonUnmarshal(raw.Data, &ev); err != nil {
		t.Fatal(err)
	}
	if !ev.Permanent || strings.Join(ev.IntentIDs, ",") != strings.Join(bad.IntentIDs, ",") || !strings.Contains(ev.Reason, "bank reasons") {
		t.Errorf("pay.batch.failed = %+v, want permanent, intents %v and the bank's reasons", ev, bad.IntentIDs)
	}
	t.Logf("failed reason: %s", ev.Reason)
	if n := e.counts(t, messages.StreamDLQ, "dlq.>")[messages.DeadLetterSubject(submitter.Name)]; n != 1 {
		t.Errorf("dlq.submitter holds %d messages, want 1", n)
	}
	l := e.bank.Bank.Ledger()
	if l.TransactionsBooked != 2 || l.EndToEndIDsBookedTwice != 0 || l.DuplicateUploads != 0 {
		t.Errorf("ledger %+v: want 2 booked (the good batch), none twice, no duplicate upload", l)
	}
}

func bankFile(id string, data []byte) bank.File { return bank.File{MsgID: id, Data: data} }

func jsonUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
