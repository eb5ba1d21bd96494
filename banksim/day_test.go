package banksim

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/xmlcodec"
)

// TestSeededDay is must-show 3: a seeded day (and a bit) of traffic in
// both profiles, the clock advanced through it. Every camt.053 balances
// (opening + Σ credits − Σ debits = closing, computed from the document),
// ElctrncSeqNb is contiguous per account, and every document the bank
// emits validates against its XSD and decodes without warnings.
func TestSeededDay(t *testing.T) {
	for _, profile := range []string{"ekase", "iso2019"} {
		t.Run(profile, func(t *testing.T) { seededDay(t, profile) })
	}
}

func seededDay(t *testing.T, profile string) {
	small := messages.ComposeIBAN("LV", "TREL9190000000099")
	accounts := append(DefaultAccounts()[:4], Account{IBAN: small, Currency: "EUR", Balance: "500.00"})
	srv, clk := startTest(t, Config{Profile: profile, Seed: 7, Accounts: accounts})
	c := mtlsClient(t, srv.TLS, true)
	p := srv.Bank.Profile()
	rng := rand.New(rand.NewPCG(42, uint64(len(profile))))

	var msgIDs, e2es []string
	emitted := map[string]int{}
	check := func(doc []byte) []xmlcodec.Record {
		t.Helper()
		m := messageOf(t, doc)
		emitted[m]++
		validateXSD(t, doc, m)
		return decodeAll(t, doc)
	}
	n := 0
	upload := func(day int) {
		n++
		var pays []xmlcodec.Payment
		for j := range 1 + rng.IntN(8) {
			id := fmt.Sprintf("%s-D%d-%03d-%d", profile, day, n, j)
			if len(e2es) > 0 && rng.IntN(20) == 0 {
				id = e2es[rng.IntN(len(e2es))] // a re-sent payment: DUPL
			}
			creditor := cred(fmt.Sprintf("HABA%013d", rng.Int64N(1e13)))
			switch rng.IntN(25) {
			case 0:
				creditor = cred("HABA0000000009999") // AC01
			case 1:
				creditor = cred("HABA0000000009998") // AC04
			}
			debtor := accounts[rng.IntN(len(accounts))].IBAN
			amount := fmt.Sprintf("%d.%02d", rng.IntN(20000), 1+rng.IntN(99))
			pp := pay(id, debtor, creditor, amount)
			if rng.IntN(30) == 0 {
				pp.Remittance = "SIMRJCT:AG01 on request"
			}
			dup := false
			for _, q := range pays {
				dup = dup || q.ID == id
			}
			if !dup {
				pays = append(pays, pp)
				e2es = append(e2es, id)
			}
		}
		id := fmt.Sprintf("%s-F%03d", profile, n)
		mustCall(t, c, "POST", srv.URL+"/v1/payments", encode(t, profile, id, clk.Now(), pays...), 202)
		msgIDs = append(msgIDs, id)
		if n%7 == 0 { // a status while the file is fresh
			check(mustCall(t, c, "GET", srv.URL+"/v1/payments/"+id+"/status", nil, 200))
		}
	}
	today := day0.Format("2006-01-02")
	for i := range 50 {
		clk.Advance(time.Duration(1+rng.IntN(15)) * time.Minute)
		upload(1)
		if i%10 == 9 {
			rpt := check(mustCall(t, c, "POST", srv.URL+"/v1/reports", camt060(t, profile, "REQ052-"+strconv.Itoa(i), "camt.052", acct1, today, ""), 200))
			checkBalances(t, rpt, "ITBD")
		}
	}
	// Past midnight: a few files on the second day, then close it too.
	clk.Advance(day0.Add(24*time.Hour + 30*time.Minute).Sub(clk.Now()))
	for range 10 {
		clk.Advance(time.Duration(1+rng.IntN(30)) * time.Minute)
		upload(2)
	}
	clk.Advance(day0.Add(48*time.Hour + time.Hour).Sub(clk.Now()))

	// Every file's final pain.002.
	booked, rejected := 0, map[string]int{}
	for _, id := range msgIDs {
		sts := mustCall(t, c, "GET", srv.URL+"/v1/payments/"+id+"/status", nil, 200)
		check(sts)
		g, tx := statuses(t, sts)
		if g != "ACSC" && g != "PART" && g != "RJCT" {
			t.Errorf("%s: final group status %s", id, g)
		}
		for _, s := range tx {
			if s == "ACSC" {
				booked++
			} else {
				rejected[s]++
			}
		}
	}
	for _, want := range []string{"RJCT/AC01", "RJCT/AC04", "RJCT/DUPL", "RJCT/AG01", "RJCT/AM04"} {
		if rejected[want] == 0 {
			t.Errorf("no %s in a seeded day (rejections %v)", want, rejected)
		}
	}
	l := ledgerOf(t, c, srv.URL)
	if l.TransactionsBooked != booked || l.EndToEndIDsBookedTwice != 0 || l.UniqueMsgIDs != len(msgIDs) {
		t.Errorf("ledger %+v; pain.002s show %d booked of %d files", l, booked, len(msgIDs))
	}

	// End-of-day statements of both days for every account.
	from, to := today, day0.Add(24*time.Hour).Format("2006-01-02")
	payDebits := 0
	codes := map[string]int{}
	for _, a := range accounts {
		doc := mustCall(t, c, "POST", srv.URL+"/v1/reports", camt060(t, profile, "REQ053", "camt.053", a.IBAN, from, to), 200)
		recs := check(doc)
		stmts := checkBalances(t, recs, "CLBD")
		if len(stmts) != 2 {
			t.Fatalf("%s: %d statements, want 2", a.IBAN, len(stmts))
		}
		for i, s := range stmts {
			if s.seq != strconv.Itoa(i+1) {
				t.Errorf("%s: statement %d has ElctrncSeqNb %s, want %d", a.IBAN, i, s.seq, i+1)
			}
			if i > 0 && s.opening != stmts[i-1].closing {
				t.Errorf("%s: day %d opens at %d, day %d closed at %d", a.IBAN, i+1, s.opening, i, stmts[i-1].closing)
			}
		}
		for _, r := range recs {
			if e, ok := r.(*xmlcodec.Entry); ok {
				codes[e.BankTxCode+"/"+e.CreditDebit]++
				if e.BankTxCode == "PMNT-ICDT-ESCT" {
					payDebits++
					if len(e.Transactions) != 1 || e.Transactions[0].EndToEndID == "" || e.Transactions[0].MsgID == "" || e.Transactions[0].PmtInfID == "" {
						t.Errorf("payment entry %s without its references: %+v", e.AcctSvcrRef, e.Transactions)
					}
				}
			}
		}
		// Asked again: the same statements, the same numbers.
		again := checkBalances(t, check(mustCall(t, c, "POST", srv.URL+"/v1/reports", camt060(t, profile, "REQ053B", "camt.053", a.IBAN, from, to), 200)), "CLBD")
		if fmt.Sprint(again) != fmt.Sprint(stmts) {
			t.Errorf("%s: statements differ when asked again: %v vs %v", a.IBAN, again, stmts)
		}
	}
	if codes["PMNT-RCDT-ESCT/CRDT"] == 0 || codes["ACMT-MDOP-CHRG/DBIT"] == 0 {
		t.Errorf("no seeded incoming credits or charges in the statements: %v", codes)
	}
	if payDebits != booked {
		t.Errorf("statements show %d payment debits, %d transactions booked", payDebits, booked)
	}
	// Notifications of the first day, and nothing for a day with no books.
	check(mustCall(t, c, "POST", srv.URL+"/v1/reports", camt060(t, profile, "REQ054", "camt.054", acct1, from, from), 200))
	mustCall(t, c, "POST", srv.URL+"/v1/reports", camt060(t, profile, "REQ054X", "camt.054", acct1, "2026-01-01", "2026-01-02"), 204)
	for _, m := range []string{p.Messages.Pain002, p.Messages.Camt052, p.Messages.Camt053, p.Messages.Camt054} {
		if emitted[m] == 0 {
			t.Errorf("no %s emitted", m)
		}
	}
	t.Logf("%s: %d files, %d booked, rejections %v, documents %v, statement entries %v", profile, len(msgIDs), booked, rejected, emitted, codes)
}

type stmtFigures struct {
	seq              string
	opening, closing int64
	entries          int
}

// checkBalances recomputes each report's closing balance (closing code
// CLBD or ITBD) from its opening balance and entries, in minor units, and
// checks TxsSummry against the entries.
func checkBalances(t *testing.T, recs []xmlcodec.Record, closing string) []stmtFigures {
	t.Helper()
	var out []stmtFigures
	var cur *stmtFigures
	var rpt *xmlcodec.Report
	var sc xmlcodec.SummaryCheck
	var sum int64
	signed := func(amount, cd string) int64 {
		v, err := parseMinor(amount, 2)
		if err != nil {
			t.Fatalf("amount %q: %v", amount, err)
		}
		if cd == "DBIT" {
			return -v
		}
		return v
	}
	finish := func() {
		if cur == nil {
			return
		}
		if cur.opening+sum != cur.closing {
			t.Errorf("report %s: opening %d + entries %d != closing %d", rpt.ReportID, cur.opening, sum, cur.closing)
		}
		if err := sc.Check(rpt.Summary); err != nil {
			t.Errorf("report %s: %v", rpt.ReportID, err)
		}
		out = append(out, *cur)
	}
	for _, r := range recs {
		switch r := r.(type) {
		case *xmlcodec.Report:
			finish()
			rpt, cur, sc, sum = r, &stmtFigures{seq: r.ElectronicSeqNb}, xmlcodec.SummaryCheck{}, 0
		case *xmlcodec.Balance:
			switch r.Type {
			case "OPBD":
				cur.opening = signed(r.Amount, r.CreditDebit)
			case closing:
				cur.closing = signed(r.Amount, r.CreditDebit)
			default:
				t.Errorf("report %s: balance %s, want OPBD and %s", rpt.ReportID, r.Type, closing)
			}
		case *xmlcodec.Entry:
			sum += signed(r.Amount, r.CreditDebit)
			sc.Add(r)
			cur.entries++
		}
	}
	finish()
	return out
}
