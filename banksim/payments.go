package banksim

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"regexp"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/isogate/isogate/xmlcodec"
)

// A file is one pain.001 the bank has recorded under its MsgId.
type file struct {
	msgID      string
	msgName    string // pain.001.001.03 …
	sha        string
	receivedAt time.Time
	nbOfTxs    string
	ctrlSum    string
	rejected   []reason // file-level rejection (GrpSts RJCT)
	// blocks are the transaction details until they are written to disk
	// (details), which Bank.blocks reads back.
	blocks      []*block
	details     record
	accepted    int
	total       int
	settleAt    time.Time
	acceptAt    time.Time
	processedAt time.Time
}

type block struct {
	id, nbOfTxs, ctrlSum string
	txs                  []tx
}

type tx struct {
	e2e, amount, ccy string
	rejected         *reason
	seq              uint32 // the booking's AcctSvcrRef number (at the file's settleAt); 0 when rejected
}

type reason struct{ code, info string }

// A receipt is the 202 answer to an upload.
type receipt struct {
	MsgID      string `json:"msg_id"`
	ReceivedAt string `json:"received_at"`
	SHA256     string `json:"sha256"`
}

// An uploadResult is what the bank answers an upload: 202 with a receipt,
// 400 or 409 with a pain.002.
type uploadResult struct {
	code    int
	msgID   string
	receipt receipt
	pain002 []byte
	booked  int
}

// Limits on an uploaded pain.001.
const maxUpload = 64 << 20

var (
	max35    = regexp.MustCompile(`^\S(.{0,33}\S)?$`)
	ccyRE    = regexp.MustCompile(`^[A-Z]{3}$`)
	decRE    = regexp.MustCompile(`^[0-9]{1,18}(\.[0-9]{1,17})?$`)
	msgIDRE  = regexp.MustCompile(`<(?:\w+:)?MsgId>([^<]{1,35})</(?:\w+:)?MsgId>`)
	simRjct  = regexp.MustCompile(`^SIMRJCT:([A-Z0-9]{4})\b`)
	bicRE    = regexp.MustCompile(`^[A-Z]{6}[A-Z2-9][A-NP-Z0-9]([A-Z0-9]{3})?$`)
	txLimit  = int64(100_000_000_000) // 1,000,000,000.00 in cents
	feeMinor = int64(15)              // charge per accepted transaction, minor units
)

// upload processes one pain.001 like a strict bank. peer is the TLS
// client's certificate (nil from the folders front end).
func (b *Bank) upload(data []byte, peer *x509.Certificate) uploadResult {
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])
	var sigErr *reason
	if b.cfg.VerifySignature {
		sigErr = b.checkSignature(data, peer)
	}
	// Parsing needs no bank state: done before taking the lock.
	var doc *xmlcodec.Pain001Document
	var err error
	if sigErr == nil && len(data) <= maxUpload {
		doc, err = xmlcodec.ReadPain001(bytes.NewReader(data), xmlcodec.Limits{MaxBytes: maxUpload})
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.cfg.Now()
	b.generate(now)
	b.received++
	guessID := "NOTPROVIDED"
	// The guess is echoed in the pain.002: only text XML can carry (no
	// control characters, valid UTF-8), or the answer names another MsgId.
	if m := msgIDRE.FindSubmatch(data); m != nil && max35.Match(m[1]) && utf8.Valid(m[1]) && !bytes.ContainsFunc(m[1], unicode.IsControl) {
		guessID = string(m[1])
	}
	if sigErr != nil {
		// Not recorded: an unauthenticated file must not take a MsgId.
		b.log.Warn("upload refused: signature", slog.String("msg_id", guessID), slog.String("reason", sigErr.info))
		return b.refuse(400, guessID, b.prof.Messages.Pain001, now, *sigErr)
	}
	if len(data) > maxUpload {
		return b.refuse(400, guessID, b.prof.Messages.Pain001, now, reason{"FF01", "file larger than 64 MiB"})
	}
	if err != nil {
		return b.refuse(400, guessID, b.prof.Messages.Pain001, now, reason{"FF01", err.Error()})
	}
	if !max35.MatchString(doc.MsgID) {
		return b.refuse(400, guessID, doc.Info.Message, now, reason{"FF01", "GrpHdr/MsgId must be 1 to 35 characters"})
	}
	if f, dup := b.files[doc.MsgID]; dup {
		b.duplicates++
		b.log.Info("duplicate upload", slog.String("msg_id", doc.MsgID), slog.Bool("same_bytes", f.sha == sha))
		return b.refuse(409, doc.MsgID, doc.Info.Message, now, reason{"DUPL", "MsgId " + doc.MsgID + " already received at " + f.receivedAt.UTC().Format(time.RFC3339)})
	}
	f := &file{msgID: doc.MsgID, msgName: doc.Info.Message, sha: sha, receivedAt: now, nbOfTxs: doc.NbOfTxs, ctrlSum: doc.CtrlSum}
	f.acceptAt = now.Add(b.cfg.Delays.Accept)
	f.processedAt = f.acceptAt.Add(b.cfg.Delays.Process)
	f.settleAt = f.processedAt.Add(b.cfg.Delays.Settle)
	b.files[f.msgID] = f
	if rs := b.checkFile(doc); len(rs) > 0 {
		f.rejected = rs
		b.log.Info("file rejected", slog.String("msg_id", f.msgID), slog.String("reason", rs[0].code))
		return uploadResult{code: 400, msgID: f.msgID, pain002: b.pain002Of(f, now, nil)}
	}
	b.spillFile(f, b.book(f, doc))
	b.log.Info("file accepted", slog.String("msg_id", f.msgID), slog.Int("transactions", f.total), slog.Int("accepted", f.accepted))
	return uploadResult{code: 202, msgID: f.msgID, booked: f.accepted,
		receipt: receipt{MsgID: f.msgID, ReceivedAt: now.UTC().Format(time.RFC3339Nano), SHA256: sha}}
}

// refuse answers a file the bank does not record (or a duplicate) with a
// group-level RJCT pain.002.
func (b *Bank) refuse(code int, msgID, msgName string, now time.Time, r reason) uploadResult {
	f := &file{msgID: msgID, msgName: first(msgName, b.prof.Messages.Pain001), receivedAt: now, rejected: []reason{r},
		sha: fmt.Sprint("refusal-", b.received)} // a distinct pain.002 MsgId per refusal
	return uploadResult{code: code, msgID: msgID, pain002: b.pain002Of(f, now, nil)}
}

// checkFile returns every file-level problem: version, identifiers,
// counts, control sums, IBANs.
func (b *Bank) checkFile(doc *xmlcodec.Pain001Document) []reason {
	var rs []reason
	if doc.Info.Message != b.prof.Messages.Pain001 {
		rs = append(rs, reason{"FF01", fmt.Sprintf("message %s: this bank accepts %s", doc.Info.Message, b.prof.Messages.Pain001)})
	}
	if len(doc.Payments) == 0 {
		rs = append(rs, reason{"FF01", "no transactions"})
	}
	if doc.NbOfTxs != strconv.Itoa(len(doc.Payments)) {
		rs = append(rs, reason{"AM18", fmt.Sprintf("GrpHdr/NbOfTxs %q, file has %d transactions", doc.NbOfTxs, len(doc.Payments))})
	}
	var total big.Rat
	amountsOK := true
	for _, p := range doc.Payments {
		r, ok := rat(p.Amount)
		amountsOK = amountsOK && ok
		if ok {
			total.Add(&total, r)
		}
	}
	if doc.CtrlSum != "" && amountsOK {
		if r, ok := rat(doc.CtrlSum); !ok || r.Cmp(&total) != 0 {
			rs = append(rs, reason{"AM10", fmt.Sprintf("GrpHdr/CtrlSum %s, transactions sum to %s", doc.CtrlSum, total.FloatString(2))})
		}
	}
	i := 0
	seenPmtInf := map[string]bool{}
	for _, pi := range doc.PmtInfs {
		if !max35.MatchString(pi.ID) || seenPmtInf[pi.ID] {
			rs = append(rs, reason{"FF01", fmt.Sprintf("PmtInfId %q: want 1 to 35 characters, unique in the file", pi.ID)})
		}
		seenPmtInf[pi.ID] = true
		if pi.NbOfTxs != "" && pi.NbOfTxs != strconv.Itoa(pi.Count) {
			rs = append(rs, reason{"AM18", fmt.Sprintf("PmtInf %s: NbOfTxs %q, block has %d", pi.ID, pi.NbOfTxs, pi.Count)})
		}
		var sum big.Rat
		for _, p := range doc.Payments[i : i+pi.Count] {
			if r, ok := rat(p.Amount); ok {
				sum.Add(&sum, r)
			}
		}
		if pi.CtrlSum != "" && amountsOK {
			if r, ok := rat(pi.CtrlSum); !ok || r.Cmp(&sum) != 0 {
				rs = append(rs, reason{"AM10", fmt.Sprintf("PmtInf %s: CtrlSum %s, block sums to %s", pi.ID, pi.CtrlSum, sum.FloatString(2))})
			}
		}
		i += pi.Count
	}
	for _, p := range doc.Payments {
		if !max35.MatchString(p.ID) {
			rs = append(rs, reason{"FF01", fmt.Sprintf("EndToEndId %q: want 1 to 35 characters", p.ID)})
			continue
		}
		if !ccyRE.MatchString(p.Currency) {
			rs = append(rs, reason{"AM03", fmt.Sprintf("%s: currency %q", p.ID, p.Currency)})
		}
		if err := validIBAN(p.Debtor.IBAN); err != nil {
			rs = append(rs, reason{"AC02", fmt.Sprintf("%s: debtor IBAN %s: %v", p.ID, p.Debtor.IBAN, err)})
		}
		if err := validIBAN(p.Creditor.IBAN); err != nil {
			rs = append(rs, reason{"AC01", fmt.Sprintf("%s: creditor IBAN %s: %v", p.ID, p.Creditor.IBAN, err)})
		}
	}
	if len(rs) > 20 {
		n := len(rs) - 19
		rs = append(rs[:19], reason{rs[19].code, fmt.Sprintf("and %d more problems", n)})
	}
	return rs
}

// rat reads a decimal amount exactly.
func rat(s string) (*big.Rat, bool) {
	if !decRE.MatchString(s) {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}

// book decides each transaction of an accepted file, in document order,
// and books the accepted ones (and the file's charges) at its settlement
// time. An EndToEndId is booked at most once, ever. It returns the entries
// booked.
func (b *Bank) book(f *file, doc *xmlcodec.Pain001Document) []*entry {
	var booked []*entry
	earlier := bookedIn{f: {}}
	i := 0
	for _, pi := range doc.PmtInfs {
		bl := &block{id: pi.ID, nbOfTxs: pi.NbOfTxs, ctrlSum: pi.CtrlSum, txs: make([]tx, 0, pi.Count)}
		f.blocks = append(f.blocks, bl)
		accepted := map[*account]int{}
		var debtor *account
		for _, p := range doc.Payments[i : i+pi.Count] {
			t := tx{e2e: p.ID, amount: p.Amount, ccy: p.Currency}
			f.total++
			a := b.accounts[p.Debtor.IBAN]
			amt, amtErr := int64(0), error(nil)
			if a != nil {
				amt, amtErr = parseMinor(p.Amount, a.exp)
				if t.ccy == a.ccy {
					t.ccy = a.ccy // one string for every transaction in the account's currency
				}
			}
			key := b.e2eKey(p.ID)
			r := b.bookedBy(key, p.ID, earlier)
			switch cred := p.Creditor.IBAN; {
			case r != nil:
			case a == nil:
				r = &reason{"AC02", "debtor account " + p.Debtor.IBAN + " is not held at this bank"}
			case p.Currency != a.ccy:
				r = &reason{"AM03", fmt.Sprintf("currency %s, account %s is in %s", p.Currency, a.iban, a.ccy)}
			case amtErr != nil || amt == 0:
				r = &reason{"AM12", fmt.Sprintf("amount %s: invalid for %s", p.Amount, a.ccy)}
			case hasSuffix(cred, "9999"):
				r = &reason{"AC01", "creditor account " + cred + " incorrect (simulated: IBAN ends 9999)"}
			case hasSuffix(cred, "9998"):
				r = &reason{"AC04", "creditor account " + cred + " closed (simulated: IBAN ends 9998)"}
			case hasSuffix(cred, "9997"):
				r = &reason{"AC06", "creditor account " + cred + " blocked (simulated: IBAN ends 9997)"}
			case simRjct.MatchString(p.Remittance):
				r = &reason{simRjct.FindStringSubmatch(p.Remittance)[1], "rejected on request (remittance SIMRJCT:)"}
			case amt > txLimit:
				r = &reason{"AM02", "amount over the limit of 1000000000.00"}
			case amt > a.available(f.receivedAt):
				r = &reason{"AM04", "insufficient funds on " + a.iban}
			}
			if r != nil {
				t.rejected = r
			} else {
				texts := entryTexts{msgID: f.msgID, pmtInfID: pi.ID, e2e: p.ID, cpName: p.Creditor.Name, cpIBAN: p.Creditor.IBAN, remittance: p.Remittance}
				if bicRE.MatchString(p.Creditor.BIC) {
					texts.cpBIC = p.Creditor.BIC
				}
				e := &entry{at: f.settleAt, amount: amt, kind: kindPayment, key: key, texts: texts.join()}
				b.addEntry(a, e)
				booked = append(booked, e)
				t.seq = e.seq
				b.markBooked(e.key, p.ID, f)
				earlier[f][p.ID] = true
				b.txBooked++
				f.accepted++
				accepted[a]++
				debtor = a
			}
			bl.txs = append(bl.txs, t)
		}
		if debtor != nil {
			for _, iban := range b.order { // deterministic order
				a := b.accounts[iban]
				if n := accepted[a]; n > 0 {
					e := &entry{at: f.settleAt, amount: feeMinor * int64(n), kind: kindCharge,
						texts: entryTexts{msgID: f.msgID, pmtInfID: pi.ID, info: fmt.Sprintf("Komisija: %d maksājumi, %s", n, pi.ID)}.join()}
					b.addEntry(a, e)
					booked = append(booked, e)
				}
			}
		}
		i += pi.Count
	}
	return booked
}

// bookedIn holds, for one upload, the EndToEndIds booked by each file the
// upload's ids were found in: an earlier file's are read from its details
// once however many of them the upload repeats (a file re-sent under a new
// MsgId repeats them all), and the file being booked adds its own as it
// books them. A nil set is a file whose details could not be read back.
type bookedIn map[*file]map[string]bool

// bookedBy returns the DUPL reason for EndToEndId id (whose hash is key)
// if it is booked already, or nil. A hash hit is confirmed against the
// booking file's details; when they cannot be read back the id counts as
// booked: a bank that cannot check does not pay.
func (b *Bank) bookedBy(key uint64, id string, earlier bookedIn) *reason {
	dupl := func(f *file) *reason {
		return &reason{"DUPL", "EndToEndId " + id + " already booked (MsgId " + f.msgID + ")"}
	}
	if f := b.booked[key]; f != nil {
		ids, ok := earlier[f]
		if !ok {
			bs, err := b.blocks(f)
			if err != nil {
				b.log.Error("EndToEndId check: booking record unreadable, its ids refused", "msg_id", f.msgID, "error", err)
			} else {
				ids = map[string]bool{}
				for _, bl := range bs {
					for _, t := range bl.txs {
						if t.seq != 0 {
							ids[t.e2e] = true
						}
					}
				}
			}
			earlier[f] = ids // nil: unreadable
		}
		switch {
		case ids == nil:
			return &reason{"DUPL", "EndToEndId " + id + " may be booked already (MsgId " + f.msgID + "): the bank cannot read back its books"}
		case ids[id]:
			return dupl(f)
		}
	}
	if f := b.bookedExact[id]; f != nil {
		return dupl(f)
	}
	return nil
}

// markBooked registers id (whose hash is key) as booked by f.
func (b *Bank) markBooked(key uint64, id string, f *file) {
	if _, taken := b.booked[key]; taken {
		b.bookedExact[id] = f
		return
	}
	b.booked[key] = f
}

func hasSuffix(s, suf string) bool { return len(s) >= len(suf) && s[len(s)-len(suf):] == suf }

// errUnknownMsgID is returned by status for a MsgId the bank never
// recorded.
var errUnknownMsgID = errors.New("banksim: unknown MsgId")

// status returns the latest pain.002 of msgID at the bank's current time.
func (b *Bank) status(msgID string) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f, ok := b.files[msgID]
	if !ok {
		return nil, errUnknownMsgID
	}
	return b.pain002(f, b.cfg.Now())
}

// stage is the status of a file at t: its group status, its time, and
// whether transaction details are shown.
func (f *file) stage(t time.Time) (grp string, at time.Time, details bool) {
	switch {
	case len(f.rejected) > 0:
		return "RJCT", f.receivedAt, false
	case t.Before(f.acceptAt):
		return "RCVD", f.receivedAt, false
	case t.Before(f.processedAt):
		return "ACTC", f.acceptAt, false
	}
	settled := !t.Before(f.settleAt)
	at = f.processedAt
	if settled {
		at = f.settleAt
	}
	switch {
	case f.accepted == 0:
		return "RJCT", f.processedAt, true
	case f.accepted < f.total:
		return "PART", at, true
	case settled:
		return "ACSC", at, true
	}
	return "ACSP", at, true
}

// truncRunes cuts s to at most n characters.
func truncRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
