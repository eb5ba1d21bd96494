package channeltest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/isogate/isogate/bank"
	"github.com/isogate/isogate/banksim"
	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/xmlcodec"
)

// Run runs the contract suite. newHarness is called once per case and
// must return a channel wired to a fresh bank whose clock is Harness.Clock
// (and clean both up with t.Cleanup). A channel that can meet
// banksim.FaultTimeout should use a short request timeout: the case waits
// for it.
//
// After every case the bank's ledger must show no EndToEndId booked twice.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	cases := []struct {
		name  string
		fault banksim.Fault
		run   func(t *testing.T, h *Harness)
	}{
		{"SubmitStatusReports", "", testSubmitStatusReports},
		{"UnknownMsgID", "", testUnknownMsgID},
		{"RejectedFile", "", testRejectedFile},
		{"Duplicate", "", testDuplicate},
		{"Concurrent", "", testConcurrent},
		{"LostReceipt", "", testLostReceipt},
		{"DropAfterAccept", banksim.FaultDropAfterAccept, testDropAfterAccept},
		{"ResetBeforeRequest", banksim.FaultReset, testReset},
		{"Timeout", banksim.FaultTimeout, testTimeout},
		{"ServerError", banksim.FaultError, testServerError},
		{"Malformed", banksim.FaultMalformed, testMalformed},
		{"SeededFaults", banksim.FaultError, testSeededFaults},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			if h.Profile == nil {
				h.Profile = h.Bank.Profile()
			}
			if c.fault != "" && !h.can(c.fault) {
				t.Skipf("the channel cannot meet fault %s", c.fault)
			}
			c.run(t, &h)
			if n := h.Bank.Ledger().EndToEndIDsBookedTwice; n != 0 {
				t.Errorf("ledger end_to_end_ids_booked_twice = %d, want 0", n)
			}
		})
	}
}

// testFile is one encoded pain.001 and the EndToEndIds it carries.
type testFile struct {
	bank.File
	IDs []string
}

// newFile encodes n valid payments from the bank's first account under
// msgID. amountCents varies the bytes for the same MsgId.
func newFile(t *testing.T, h *Harness, msgID string, n int, amountCents int) testFile {
	t.Helper()
	debtor := h.Bank.Ledger().Accounts[0].IBAN
	now := h.Clock.Now()
	var pays []xmlcodec.Payment
	for i := range n {
		pays = append(pays, xmlcodec.Payment{
			ID:            fmt.Sprintf("%s-%d", msgID, i+1),
			Debtor:        xmlcodec.Account{Name: "Finanšu ministrija", IBAN: debtor},
			Creditor:      xmlcodec.Account{Name: fmt.Sprintf("Piegādātājs %d", i+1), IBAN: messages.ComposeIBAN("LV", fmt.Sprintf("HABA%013d", 5510000000+i))},
			Amount:        fmt.Sprintf("%d.%02d", 100+i, amountCents%100),
			Currency:      "EUR",
			ExecutionDate: now.Format(time.DateOnly),
			Remittance:    "Rēķins " + msgID,
		})
	}
	res, err := h.Profile.EncodePain001(xmlcodec.Pain001Request{MsgID: msgID, Now: h.Clock.Now, Payments: pays})
	if err != nil {
		t.Fatalf("encoding %s: %v", msgID, err)
	}
	f := res.Files[0]
	return testFile{File: bank.File{MsgID: f.MsgID, Data: f.Data}, IDs: f.PaymentIDs}
}

// pain002 is a decoded status report.
type pain002 struct {
	group    string
	reasons  []string // group reason codes
	tx       map[string]string
	original string
}

func decodePain002(t *testing.T, data []byte) pain002 {
	t.Helper()
	_, recs, err := xmlcodec.DecodeAll(bytes.NewReader(data), xmlcodec.Limits{})
	if err != nil {
		t.Fatalf("decoding pain.002: %v\n%s", err, data)
	}
	p := pain002{tx: map[string]string{}}
	for _, r := range recs {
		s, ok := r.(*xmlcodec.Status)
		if !ok {
			continue
		}
		p.group, p.original = s.GroupStatus, s.OriginalMsgID
		if p.reasons == nil {
			for _, rs := range s.GroupReasons {
				p.reasons = append(p.reasons, rs.Code)
			}
		}
		if s.EndToEndID != "" {
			p.tx[s.EndToEndID] = s.Status
		}
	}
	return p
}

func errClass(err error) string {
	if err == nil {
		return "ok"
	}
	for _, s := range []error{bank.ErrTransient, bank.ErrPermanent, bank.ErrOutcomeUnknown, bank.ErrDuplicate, bank.ErrUnknownToBank} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	return fmt.Sprintf("unclassified (%v)", err)
}

func wantErr(t *testing.T, what string, err error, want ...error) *bank.Error {
	t.Helper()
	for _, w := range want {
		if errors.Is(err, w) {
			var be *bank.Error
			if !errors.As(err, &be) {
				t.Fatalf("%s: error %v is not a *bank.Error", what, err)
			}
			return be
		}
	}
	t.Fatalf("%s = %v (%s), want %v", what, err, errClass(err), want)
	return nil
}

func submit(t *testing.T, h *Harness, f bank.File) bank.Receipt {
	t.Helper()
	r, err := h.Channel.Submit(t.Context(), f)
	if err != nil {
		t.Fatalf("Submit(%s) = %v (%s), want a receipt", f.MsgID, err, errClass(err))
	}
	if r.MsgID != f.MsgID || len(r.SHA256) != 64 || r.ReceivedAt.IsZero() {
		t.Errorf("Submit(%s) receipt = %+v, want its MsgId, a SHA-256 and a time", f.MsgID, r)
	}
	if _, err := hex.DecodeString(r.SHA256); err != nil {
		t.Errorf("receipt SHA256 %q is not hex", r.SHA256)
	}
	return r
}

// status queries the bank, letting it process first.
func status(t *testing.T, h *Harness, msgID string) (bank.Document, error) {
	t.Helper()
	h.process(t)
	return h.Channel.Status(t.Context(), msgID)
}

// playOut advances the bank's clock past every delay and returns the
// final pain.002, which must answer msgID.
func playOut(t *testing.T, h *Harness, msgID string) pain002 {
	t.Helper()
	h.process(t) // the bank takes what was handed over, then time passes
	h.Clock.Advance(time.Hour)
	doc, err := status(t, h, msgID)
	if err != nil {
		t.Fatalf("Status(%s) after play-out = %v (%s)", msgID, err, errClass(err))
	}
	p := decodePain002(t, doc.Data)
	if p.original != msgID {
		t.Fatalf("Status(%s) answers OrgnlMsgId %q", msgID, p.original)
	}
	return p
}

func wantSettled(t *testing.T, h *Harness, f testFile) {
	t.Helper()
	p := playOut(t, h, f.MsgID)
	if p.group != xmlcodec.StatusACSC {
		t.Fatalf("%s group status %s, want ACSC", f.MsgID, p.group)
	}
	for _, id := range f.IDs {
		if s, ok := p.tx[id]; ok && s != xmlcodec.StatusACSC {
			t.Errorf("%s transaction %s status %s, want ACSC", f.MsgID, id, s)
		}
	}
}

// reports sends a camt.060 for camt.052 of today on account and returns
// the EndToEndIds of the debit entries reported.
func reports(t *testing.T, h *Harness, msgID, account string) map[string]string {
	t.Helper()
	req, err := h.Profile.EncodeCamt060(xmlcodec.Camt060Request{MsgID: msgID, Now: h.Clock.Now, Requests: []xmlcodec.ReportRequest{
		{Message: "camt.052", Account: account, AccountCurrency: "EUR", FromDate: h.Clock.Now().Format(time.DateOnly)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	docs, err := h.Channel.Reports(t.Context(), req)
	if err == nil && len(docs) == 0 && h.Process != nil {
		h.process(t)
		docs, err = h.Channel.Reports(t.Context(), req)
	}
	if err != nil {
		t.Fatalf("Reports(%s) = %v (%s)", msgID, err, errClass(err))
	}
	if len(docs) == 0 {
		t.Fatalf("Reports(%s) returned no document", msgID)
	}
	got := map[string]string{}
	for _, d := range docs {
		if !strings.HasPrefix(d.Message, "camt.05") {
			t.Errorf("Reports document %s is %q", d.Name, d.Message)
		}
		_, recs, err := xmlcodec.DecodeAll(bytes.NewReader(d.Data), xmlcodec.Limits{})
		if err != nil {
			t.Fatalf("decoding %s: %v", d.Name, err)
		}
		for _, r := range recs {
			if e, ok := r.(*xmlcodec.Entry); ok {
				for _, tx := range e.Transactions {
					if tx.EndToEndID != "" {
						got[tx.EndToEndID] = e.CreditDebit + " " + tx.Amount
					}
				}
			}
		}
	}
	return got
}

func testSubmitStatusReports(t *testing.T, h *Harness) {
	f := newFile(t, h, "CT-SUBMIT-1", 3, 0)
	if p, ok := h.Channel.(bank.Preparer); ok {
		// As the submitter does: prepare (sign) once, archive, submit.
		prepared, err := p.Prepare(t.Context(), f.File)
		if err != nil {
			t.Fatalf("Prepare(%s) = %v", f.MsgID, err)
		}
		again, err := p.Prepare(t.Context(), prepared)
		if err != nil || !bytes.Equal(again.Data, prepared.Data) {
			t.Errorf("preparing a prepared file changed it (err %v)", err)
		}
		f.File = prepared
	}
	r := submit(t, h, f.File)
	if sum := sha256.Sum256(f.Data); hex.EncodeToString(sum[:]) != r.SHA256 {
		t.Errorf("receipt SHA256 %s, want the SHA-256 of the bytes sent", r.SHA256)
	}
	doc, err := status(t, h, f.MsgID)
	if err != nil {
		t.Fatalf("Status(%s) right after Submit = %v (%s)", f.MsgID, err, errClass(err))
	}
	if !strings.HasPrefix(doc.Message, "pain.002") {
		t.Errorf("Status document is %q, want pain.002", doc.Message)
	}
	if first := decodePain002(t, doc.Data); first.group == xmlcodec.StatusRJCT {
		t.Fatalf("first status RJCT (reasons %v)", first.reasons)
	}
	wantSettled(t, h, f)
	debtor := h.Bank.Ledger().Accounts[0].IBAN
	got := reports(t, h, "CT-RPT-1", debtor)
	for _, id := range f.IDs {
		if v, ok := got[id]; !ok || !strings.HasPrefix(v, "DBIT") {
			t.Errorf("reports: entry for %s = %q, want a DBIT entry (got %d transactions)", id, v, len(got))
		}
	}
	l := h.Bank.Ledger()
	if l.TransactionsBooked != len(f.IDs) || l.UniqueMsgIDs != 1 || l.FilesReceived != 1 {
		t.Errorf("ledger = %+v, want 1 file, %d transactions booked", l, len(f.IDs))
	}
}

func testUnknownMsgID(t *testing.T, h *Harness) {
	_, err := status(t, h, "CT-NEVER-SENT")
	be := wantErr(t, "Status(unknown)", err, bank.ErrUnknownToBank)
	if be.Op != bank.OpStatus || be.MsgID != "CT-NEVER-SENT" {
		t.Errorf("error = %+v, want op status and the MsgId", be)
	}
}

func testRejectedFile(t *testing.T, h *Harness) {
	f := newFile(t, h, "CT-BADIBAN-1", 2, 0)
	good := messages.ComposeIBAN("LV", fmt.Sprintf("HABA%013d", 5510000000))
	bad := good[:2] + fmt.Sprintf("%02d", (int(good[2]-'0')*10+int(good[3]-'0')+1)%97) + good[4:]
	if !bytes.Contains(f.Data, []byte(good)) {
		t.Fatalf("creditor IBAN %s not in the file", good)
	}
	f.Data = bytes.Replace(f.Data, []byte(good), []byte(bad), 1)
	_, err := h.Channel.Submit(t.Context(), f.File)
	var p pain002
	if h.Deferred {
		if err != nil {
			t.Fatalf("Submit(bad IBAN) = %v, want the hand-over to succeed", err)
		}
		doc, err := status(t, h, f.MsgID)
		if err != nil {
			t.Fatalf("Status(%s) = %v (%s), want the RJCT pain.002", f.MsgID, err, errClass(err))
		}
		p = decodePain002(t, doc.Data)
	} else {
		be := wantErr(t, "Submit(bad IBAN)", err, bank.ErrPermanent)
		if len(be.Body) == 0 {
			t.Fatalf("ErrPermanent carries no pain.002")
		}
		p = decodePain002(t, be.Body)
	}
	if p.group != xmlcodec.StatusRJCT || p.original != f.MsgID {
		t.Errorf("pain.002 group %s for %q, want RJCT for %s", p.group, p.original, f.MsgID)
	}
	h.Clock.Advance(time.Hour)
	h.process(t)
	if l := h.Bank.Ledger(); l.TransactionsBooked != 0 {
		t.Errorf("ledger transactions_booked = %d after a refused file, want 0", l.TransactionsBooked)
	}
}

func testDuplicate(t *testing.T, h *Harness) {
	f := newFile(t, h, "CT-DUP-1", 2, 0)
	submit(t, h, f.File)
	wantSettled(t, h, f)

	// The same bytes again.
	_, err := h.Channel.Submit(t.Context(), f.File)
	if h.Deferred {
		if err != nil {
			t.Errorf("re-Submit(same bytes) = %v, want a no-op success", err)
		}
	} else {
		be := wantErr(t, "re-Submit(same bytes)", err, bank.ErrDuplicate)
		if p := decodePain002(t, be.Body); p.group != xmlcodec.StatusRJCT || !slices.Contains(p.reasons, "DUPL") {
			t.Errorf("409 pain.002 group %s reasons %v, want RJCT DUPL", p.group, p.reasons)
		}
	}
	// Other bytes under the same MsgId.
	other := newFile(t, h, "CT-DUP-1", 2, 55)
	_, err = h.Channel.Submit(t.Context(), other.File)
	wantErr(t, "Submit(same MsgId, other bytes)", err, bank.ErrDuplicate)

	if p := playOut(t, h, f.MsgID); p.group != xmlcodec.StatusACSC {
		t.Errorf("status after duplicates = %s, want the original's ACSC", p.group)
	}
	if l := h.Bank.Ledger(); l.TransactionsBooked != 2 || l.UniqueMsgIDs != 1 {
		t.Errorf("ledger = %+v, want 2 transactions of 1 file", l)
	}
}

func testConcurrent(t *testing.T, h *Harness) {
	const n = 8
	files := make([]testFile, n)
	for i := range files {
		files[i] = newFile(t, h, fmt.Sprintf("CT-CONC-%d", i+1), 2, i)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, f := range files {
		wg.Go(func() { _, errs[i] = h.Channel.Submit(t.Context(), f.File) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Submit(%s) = %v", files[i].MsgID, err)
		}
	}
	for _, f := range files {
		wantSettled(t, h, f)
	}
	if l := h.Bank.Ledger(); l.TransactionsBooked != 2*n || l.UniqueMsgIDs != n {
		t.Errorf("ledger = %+v, want %d files, %d transactions", l, n, 2*n)
	}
}

// settle resolves an upload that failed with err the way the submitter
// must: transient → send again; outcome unknown → ask for the status
// first and re-send (the very same bytes) only when the bank does not know
// the file. It returns whether a re-send happened.
func settle(t *testing.T, h *Harness, f testFile, err error) bool {
	t.Helper()
	if errors.Is(err, bank.ErrOutcomeUnknown) {
		_, serr := status(t, h, f.MsgID)
		if serr == nil {
			return false // the bank has it: submitted
		}
		wantErr(t, "Status(in doubt)", serr, bank.ErrUnknownToBank)
	} else {
		wantErr(t, "Submit", err, bank.ErrTransient)
	}
	submit(t, h, f.File)
	return true
}

func bookedOnce(t *testing.T, h *Harness, f testFile) {
	t.Helper()
	wantSettled(t, h, f)
	if l := h.Bank.Ledger(); l.TransactionsBooked != len(f.IDs) || l.UniqueMsgIDs != 1 {
		t.Errorf("ledger = %+v, want %d transactions booked once", l, len(f.IDs))
	}
}

// testLostReceipt: the gateway crashed after Submit returned and before
// it recorded the receipt, so on restart the batch is in doubt. The
// status query decides; where the bank does not know the file yet (a file
// drop cannot tell "not yet processed" from "never received"), the
// byte-identical re-send must be harmless.
func testLostReceipt(t *testing.T, h *Harness) {
	f := newFile(t, h, "CT-LOST-1", 2, 0)
	submit(t, h, f.File)
	_, err := h.Channel.Status(t.Context(), f.MsgID) // no processing in between
	switch {
	case err == nil:
	case errors.Is(err, bank.ErrUnknownToBank):
		if _, err := h.Channel.Submit(t.Context(), f.File); err != nil && !errors.Is(err, bank.ErrDuplicate) {
			t.Fatalf("re-Submit(in doubt) = %v (%s), want success or ErrDuplicate", err, errClass(err))
		}
	default:
		t.Fatalf("Status(in doubt) = %v (%s)", err, errClass(err))
	}
	bookedOnce(t, h, f)
}

func testDropAfterAccept(t *testing.T, h *Harness) {
	f := newFile(t, h, "CT-DROP-1", 2, 0)
	h.Bank.FailNext(banksim.FaultDropAfterAccept, 1)
	_, err := h.Channel.Submit(t.Context(), f.File)
	wantErr(t, "Submit(drop after accept)", err, bank.ErrOutcomeUnknown)
	if _, err := status(t, h, f.MsgID); err != nil {
		t.Fatalf("Status(in doubt) = %v (%s), want the bank to have the file", err, errClass(err))
	}
	// A re-send despite that never books twice.
	_, err = h.Channel.Submit(t.Context(), f.File)
	wantErr(t, "re-Submit(after drop)", err, bank.ErrDuplicate)
	bookedOnce(t, h, f)
}

func testReset(t *testing.T, h *Harness) {
	f := newFile(t, h, "CT-RESET-1", 2, 0)
	h.Bank.FailNext(banksim.FaultReset, 1)
	_, err := h.Channel.Submit(t.Context(), f.File)
	wantErr(t, "Submit(reset)", err, bank.ErrTransient, bank.ErrOutcomeUnknown)
	t.Logf("upload reset before the request was read: %s", errClass(err))
	_, serr := status(t, h, f.MsgID)
	wantErr(t, "Status(after reset)", serr, bank.ErrUnknownToBank)
	if !settle(t, h, f, err) {
		t.Fatal("settle did not re-send")
	}
	bookedOnce(t, h, f)
}

func testTimeout(t *testing.T, h *Harness) {
	f := newFile(t, h, "CT-TIMEOUT-1", 2, 0)
	h.Bank.FailNext(banksim.FaultTimeout, 1)
	start := time.Now()
	_, err := h.Channel.Submit(t.Context(), f.File)
	wantErr(t, "Submit(timeout)", err, bank.ErrOutcomeUnknown)
	t.Logf("upload timed out after %v", time.Since(start).Round(time.Millisecond))
	settle(t, h, f, err)
	h.Bank.FailNext(banksim.FaultTimeout, 1)
	_, err = h.Channel.Status(t.Context(), f.MsgID)
	wantErr(t, "Status(timeout)", err, bank.ErrTransient)
	bookedOnce(t, h, f)
}

func testServerError(t *testing.T, h *Harness) {
	f := newFile(t, h, "CT-5XX-1", 2, 0)
	h.Bank.FailNext(banksim.FaultError, 1)
	_, err := h.Channel.Submit(t.Context(), f.File)
	be := wantErr(t, "Submit(5xx)", err, bank.ErrOutcomeUnknown, bank.ErrTransient)
	if be.Status < 500 {
		t.Errorf("error status %d, want 5xx", be.Status)
	}
	t.Logf("upload answered 5xx: %s", errClass(err))
	settle(t, h, f, err)
	h.Bank.FailNext(banksim.FaultError, 1)
	_, err = h.Channel.Status(t.Context(), f.MsgID)
	wantErr(t, "Status(5xx)", err, bank.ErrTransient)
	req, _ := h.Profile.EncodeCamt060(xmlcodec.Camt060Request{MsgID: "CT-5XX-RPT", Now: h.Clock.Now, Requests: []xmlcodec.ReportRequest{
		{Message: "camt.052", Account: h.Bank.Ledger().Accounts[0].IBAN, FromDate: h.Clock.Now().Format(time.DateOnly)}}})
	h.Bank.FailNext(banksim.FaultError, 1)
	_, err = h.Channel.Reports(t.Context(), req)
	wantErr(t, "Reports(5xx)", err, bank.ErrTransient)
	bookedOnce(t, h, f)
}

func testMalformed(t *testing.T, h *Harness) {
	f := newFile(t, h, "CT-MALFORMED-1", 2, 0)
	h.Bank.FailNext(banksim.FaultMalformed, 1)
	_, err := h.Channel.Submit(t.Context(), f.File)
	wantErr(t, "Submit(malformed receipt)", err, bank.ErrOutcomeUnknown)
	if settle(t, h, f, err) {
		t.Error("the bank processed the upload whose receipt was malformed, yet Status did not find it")
	}
	h.Bank.FailNext(banksim.FaultMalformed, 1)
	_, err = h.Channel.Status(t.Context(), f.MsgID)
	wantErr(t, "Status(malformed)", err, bank.ErrTransient)
	bookedOnce(t, h, f)
	req, _ := h.Profile.EncodeCamt060(xmlcodec.Camt060Request{MsgID: "CT-MAL-RPT", Now: h.Clock.Now, Requests: []xmlcodec.ReportRequest{
		{Message: "camt.052", Account: h.Bank.Ledger().Accounts[0].IBAN, FromDate: h.Clock.Now().Format(time.DateOnly)}}})
	h.Bank.FailNext(banksim.FaultMalformed, 1)
	_, err = h.Channel.Reports(t.Context(), req)
	wantErr(t, "Reports(malformed)", err, bank.ErrTransient)
}

// testSeededFaults runs a small submitter against seeded random faults
// (5xx, drop after accept, reset, malformed answers; 15 % each, on every
// request including the status queries): every file ends booked exactly
// once.
func testSeededFaults(t *testing.T, h *Harness) {
	for _, f := range []banksim.Fault{banksim.FaultDropAfterAccept, banksim.FaultReset, banksim.FaultMalformed} {
		if !h.can(f) {
			t.Skipf("the channel cannot meet fault %s", f)
		}
	}
	const n = 20
	h.Bank.SetFaults(banksim.Faults{ErrorRate: 0.15, DropAfterAcceptRate: 0.15, ResetRate: 0.15, MalformedRate: 0.15})
	seen := map[string]int{}
	files := make([]testFile, n)
	for i := range files {
		files[i] = newFile(t, h, fmt.Sprintf("CT-SEEDED-%02d", i+1), 2, i)
		f := files[i]
		done := false
		for attempt := 0; !done; attempt++ {
			if attempt == 50 {
				t.Fatalf("%s not settled after 50 attempts", f.MsgID)
			}
			_, err := h.Channel.Submit(t.Context(), f.File)
			seen["submit "+strings.TrimPrefix(errClass(err), "bank: ")]++
			switch {
			case err == nil:
				done = true
			case errors.Is(err, bank.ErrTransient):
			case errors.Is(err, bank.ErrOutcomeUnknown), errors.Is(err, bank.ErrDuplicate):
				// In doubt: ask until the bank answers.
				for q := 0; ; q++ {
					if q == 50 {
						t.Fatalf("%s: no status answer after 50 queries", f.MsgID)
					}
					_, serr := h.Channel.Status(t.Context(), f.MsgID)
					seen["status "+strings.TrimPrefix(errClass(serr), "bank: ")]++
					if serr == nil {
						done = true
						break
					}
					if errors.Is(serr, bank.ErrUnknownToBank) {
						if errors.Is(err, bank.ErrDuplicate) {
							t.Fatalf("%s: ErrDuplicate, yet the bank does not know the file", f.MsgID)
						}
						break // re-send the same bytes
					}
					wantErr(t, "Status(in doubt)", serr, bank.ErrTransient)
				}
			default:
				t.Fatalf("Submit(%s) = %v (%s)", f.MsgID, err, errClass(err))
			}
		}
	}
	h.Bank.SetFaults(banksim.Faults{})
	for _, f := range files {
		wantSettled(t, h, f)
	}
	l := h.Bank.Ledger()
	if l.UniqueMsgIDs != n || l.TransactionsBooked != 2*n {
		t.Errorf("ledger = %+v, want %d files and %d transactions booked once", l, n, 2*n)
	}
	t.Logf("outcomes: %v; ledger: %d uploads, %d duplicate uploads refused, %d transactions booked",
		seen, l.FilesReceived, l.DuplicateUploads, l.TransactionsBooked)
}
