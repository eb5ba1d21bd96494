// Package channeltest is the contract suite every [bank.Channel] runs
// against banksim, the simulated bank: [Run] with a constructor of a
// [Harness] that wires the channel under test to a fresh [banksim.Bank].
//
// Cases (each on a fresh bank; after each, the ledger's
// end_to_end_ids_booked_twice must be 0):
//
//   - SubmitStatusReports: prepare (when the channel is a [bank.Preparer]),
//     submit → receipt with the SHA-256 of the bytes sent → a pain.002 →
//     ACSC after play-out → a camt.052 reports every payment as a debit.
//   - UnknownMsgID: Status of a MsgId never sent → ErrUnknownToBank.
//   - RejectedFile: a bad creditor IBAN check digit → ErrPermanent with the
//     RJCT pain.002 (deferred channels: the RJCT pain.002 from Status);
//     nothing booked.
//   - Duplicate: the same bytes again → ErrDuplicate with a DUPL pain.002
//     (deferred: a no-op); other bytes under the MsgId → ErrDuplicate;
//     Status still shows the original's ACSC; booked once.
//   - Concurrent: eight files at once, all booked once.
//   - LostReceipt: the gateway forgets a receipt; the status query, and a
//     re-send where the bank does not know the file yet, book it once.
//   - DropAfterAccept: → ErrOutcomeUnknown; Status finds the file; a
//     re-send → ErrDuplicate; booked once.
//   - ResetBeforeRequest: → ErrTransient or ErrOutcomeUnknown; Status →
//     ErrUnknownToBank; the byte-identical re-send books it once.
//   - Timeout: upload → ErrOutcomeUnknown, settled by Status and a
//     re-send; a status query timing out → ErrTransient.
//   - ServerError: 5xx on upload → ErrTransient or ErrOutcomeUnknown (then
//     settled); on Status and Reports → ErrTransient.
//   - Malformed: a truncated receipt → ErrOutcomeUnknown and Status finds
//     the file; a truncated pain.002 or camt → ErrTransient.
//   - SeededFaults: twenty files through a small submitter (retry on
//     transient, status query when in doubt, re-send only when unknown)
//     against 15 % each of 5xx, drop-after-accept, reset and malformed
//     answers: all booked exactly once.
//
// The fault cases run only for the faults listed in Harness.Faults.
package channeltest

import (
	"sync"
	"testing"
	"time"

	"github.com/isogate/isogate/bank"
	"github.com/isogate/isogate/banksim"
	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/xmlcodec"
)

// A Harness is one channel under test and the bank behind it.
type Harness struct {
	// Channel is the channel under test.
	Channel bank.Channel
	// Bank is the simulated bank the channel talks to: the ledger, and
	// FailNext for faults. Create it with Clock.Now as its clock.
	Bank *banksim.Bank
	// Clock is the bank's clock; the suite advances it to play statuses out.
	Clock *Clock
	// Profile encodes the files; default the bank's profile.
	Profile *xmlcodec.Profile
	// Process lets the bank work on what the channel handed over and
	// write its answers (filedrop: one Bank.ProcessFolders pass). Nil when
	// the bank answers each request as it comes (h2h).
	Process func(t *testing.T)
	// Deferred says the bank's verdict on a file comes back later as a
	// pain.002 (filedrop) rather than as the answer to Submit (h2h): a
	// refused file is a RJCT pain.002 from Status, not ErrPermanent, and a
	// re-submit of the same bytes is a no-op rather than ErrDuplicate.
	Deferred bool
	// Faults are the faults the channel can meet (Bank.FailNext); the
	// fault cases for the others are skipped.
	Faults []banksim.Fault
}

// A Clock is a manual clock for the bank. The zero value is not usable;
// use NewClock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock set to t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// StartTime is the time a suite's clock starts at: 09:00 UTC tomorrow, so
// every case runs within one bank day, and after the wall-clock time the
// bank's certificates were made (banksim checks a signing certificate's
// validity at its own clock).
func StartTime() time.Time {
	y, m, d := time.Now().UTC().AddDate(0, 0, 1).Date()
	return time.Date(y, m, d, 9, 0, 0, 0, time.UTC)
}

func (h *Harness) can(f banksim.Fault) bool {
	for _, x := range h.Faults {
		if x == f {
			return true
		}
	}
	return false
}

func (h *Harness) process(t *testing.T) {
	t.Helper()
	if h.Process != nil {
		h.Process(t)
	}
}

// Accounts returns the accounts the suite's banks open with: two eKase
// debtor accounts (LVkk TREL …) with 1,000,000.00 EUR each.
func Accounts() []banksim.Account {
	return []banksim.Account{
		{IBAN: messages.ComposeIBAN("LV", "TREL9190000000001"), Currency: "EUR", Balance: "1000000.00"},
		{IBAN: messages.ComposeIBAN("LV", "TREL2190456001000"), Currency: "EUR", Balance: "1000000.00"},
	}
}
