package xmlcodec

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// samplePin is what a real-world sample holds, counted with xmllint XPath
// (count(), sum()) when the sample was added — not from this package's
// output — and rechecked by hand where they disagreed: xmllint's sum()
// prints 135678.5 as "135678" (libxml2 number formatting), the reason money
// is never a float here.
type samplePin struct {
	reports, entries, txs, balances int
	credit, debit                   string // Σ Ntry/Amt by CdtDbtInd
	warned                          int    // entries kept with warnings
}

var camtPins = map[string]samplePin{
	"camt052_v02_de-gls_libeufin.xml":             {1, 4, 4, 0, "4.10", "3.10", 0},
	"camt052_v02_de_hbci4java.xml":                {1, 2, 2, 2, "10.50", "0.00", 0},
	"camt052_v02_de_ruecklastschrift.xml":         {1, 1, 1, 2, "0.00", "53.00", 0},
	"camt052_v02_fi_sample.xml":                   {2, 2, 2, 2, "2220.00", "0.00", 0},
	"camt052_v02_seb-ee-gateway_balances.xml":     {1, 0, 0, 5, "0.00", "0.00", 0},
	"camt052_v02_seb-ee-gateway_current.xml":      {1, 0, 0, 5, "0.00", "0.00", 0},
	"camt052_v06_lt-centrolink.xml":               {1, 0, 0, 12, "0.00", "0.00", 0},
	"camt052_v08_de_hbci4java.xml":                {1, 1, 1, 2, "0.00", "34.00", 0},
	"camt053_v02_ch-postfinance-dupl_gcamp6.xml":  {1, 5, 5, 2, "13010.00", "0.00", 0},
	"camt053_v02_de-gls_libeufin.xml":             {1, 4, 4, 0, "4.10", "3.10", 0},
	"camt053_v02_fi_sample.xml":                   {1, 10, 12, 4, "23075.00", "9430.17", 0},
	"camt053_v02_genkgo_multi-statement.xml":      {2, 2, 2, 4, "8.85", "7.00", 0},
	"camt053_v02_lt_simple.xml":                   {1, 4, 4, 2, "0.00", "181.01", 0},
	"camt053_v02_nl_jasperkrijgsman.xml":          {1, 3, 2, 2, "135678.50", "200000.00", 0},
	"camt053_v02_seb-ee-gateway_eod.xml":          {1, 0, 0, 2, "0.00", "0.00", 0},
	"camt053_v02_seb-ee-gateway_historical.xml":   {1, 1, 1, 2, "0.00", "1.00", 0},
	"camt053_v04_oca_txdtls-batch.xml":            {1, 1, 2, 2, "3483.00", "0.00", 0},
	"camt053_v08_ch-postfinance-testplatform.xml": {1, 5, 5, 4, "4733.72", "77.70", 0},
	"camt053_v08_ch-sps_redacted.xml":             {1, 1, 1, 3, "1284.30", "0.00", 0},
	"camt054_v02_fi_sample-reversal.xml":          {1, 6, 13, 0, "5600.00", "5230.05", 0},
	// The project trimmed the second Ntry's Amt and CdtDbtInd: kept, warned.
	"camt054_v08_ch-postfinance_libeufin.xml": {1, 3, 4, 0, "1.00", "3.00", 1},
	"camt054_v08_ch-six_return-batch.xml":     {1, 1, 1, 0, "400.00", "0.00", 0},
}

// painPins: the status of each line, in document order.
var painPins = map[string][]string{
	"pain002_v10_apiome_part.xml":          {"ACCP", "RJCT"},
	"pain002_v10_ch-six_A-level-ACTC.xml":  {"ACTC"},
	"pain002_v10_ch-six_A-level-RJCT.xml":  {"RJCT"},
	"pain002_v10_ch-six_B-level-ACCP.xml":  {"ACCP"},
	"pain002_v10_ch-six_BC-level-RJCT.xml": {"RJCT"},
	"pain002_v10_de_hbci4java_02.xml":      {"RVNM"},
}

// independentCount recomputes a pin with etree over the whole document.
func independentCount(t *testing.T, data []byte) samplePin {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(data); err != nil {
		t.Fatal(err)
	}
	var got samplePin
	var cr, db decimalSum
	for _, r := range doc.FindElements("/Document/*/*") {
		if r.Tag != "Stmt" && r.Tag != "Rpt" && r.Tag != "Ntfctn" {
			continue
		}
		got.reports++
		got.balances += len(r.SelectElements("Bal"))
		for _, n := range r.SelectElements("Ntry") {
			got.entries++
			got.txs += len(n.FindElements("./NtryDtls/TxDtls"))
			amt := n.FindElement("./Amt")
			switch n.FindElement("./CdtDbtInd").NotNil().Text() {
			case "CRDT":
				cr.Add(strings.TrimSpace(amt.Text()))
			case "DBIT":
				db.Add(strings.TrimSpace(amt.Text()))
			}
		}
	}
	got.credit, got.debit = cr.String(2), db.String(2)
	return got
}

// TestSamples is must-show 2: every sample of a decoded family decodes, and
// its counts and sums match the pins, which also match an independent
// etree count.
func TestSamples(t *testing.T) {
	dir := samplesDir(t)
	files, err := filepath.Glob(filepath.Join(dir, "*.xml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples in %s: %v", dir, err)
	}
	summaries := 0 // reports whose TxsSummry was checked against their entries
	t.Cleanup(func() {
		if summaries != 9 {
			t.Errorf("checked %d TxsSummry blocks, want 9 (in 8 files)", summaries)
		}
	})
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			info, recs, err := DecodeAll(strings.NewReader(string(data)), Limits{})
			switch {
			case strings.HasPrefix(name, "camt"):
				pin, ok := camtPins[name]
				if !ok {
					t.Fatalf("no pin for %s: add its counts to camtPins", name)
				}
				if err != nil {
					t.Fatalf("DecodeAll(%s) = %v", name, err)
				}
				if ind := independentCount(t, data); ind != (samplePin{pin.reports, pin.entries, pin.txs, pin.balances, pin.credit, pin.debit, 0}) {
					t.Errorf("independent count %+v, pin %+v", ind, pin)
				}
				var got samplePin
				var cr, db decimalSum
				var rpt *Report
				var sc SummaryCheck
				checkSummary := func() {
					if rpt != nil && rpt.Summary != nil {
						summaries++
						if err := sc.Check(rpt.Summary); err != nil {
							t.Errorf("report %s: %v", rpt.ReportID, err)
						}
					}
				}
				for _, r := range recs {
					switch r := r.(type) {
					case *Report:
						checkSummary()
						rpt, sc = r, SummaryCheck{}
						got.reports++
					case *Balance:
						got.balances++
					case *Entry:
						sc.Add(r)
						got.entries++
						got.txs += len(r.Transactions)
						if len(r.Warnings) > 0 && (r.Amount == "" || r.CreditDebit == "") {
							got.warned++
						}
						switch r.CreditDebit {
						case "CRDT":
							cr.Add(r.Amount)
						case "DBIT":
							db.Add(r.Amount)
						}
					}
				}
				checkSummary()
				got.credit, got.debit = cr.String(2), db.String(2)
				if got != pin {
					t.Errorf("decoded %+v, want %+v", got, pin)
				}
				if !strings.HasPrefix(info.Message, name[:4]+"."+name[4:7]+".001.") {
					t.Errorf("message = %q", info.Message)
				}
			case strings.HasPrefix(name, "pain002"):
				want, ok := painPins[name]
				if !ok {
					t.Fatalf("no pin for %s", name)
				}
				if err != nil {
					t.Fatalf("DecodeAll(%s) = %v", name, err)
				}
				var got []string
				for _, r := range recs {
					got = append(got, r.(*Status).Status)
				}
				if !slices.Equal(got, want) {
					t.Errorf("statuses = %v, want %v", got, want)
				}
				doc := etree.NewDocument()
				if err := doc.ReadFromBytes(data); err != nil {
					t.Fatal(err)
				}
				n := len(doc.FindElements("//TxInfAndSts"))
				for _, pi := range doc.FindElements("//OrgnlPmtInfAndSts") {
					if pi.SelectElement("TxInfAndSts") == nil {
						n++
					}
				}
				if n == 0 {
					n = 1
				}
				if n != len(want) {
					t.Errorf("independent count %d lines, pin %d", n, len(want))
				}
			case strings.HasPrefix(name, "pain001"):
				if !errors.Is(err, ErrUnsupportedMessage) || info.Family != "pain.001" {
					t.Errorf("Decoder on pain.001 = %v (%+v), want ErrUnsupportedMessage", err, info)
				}
			default:
				t.Fatalf("sample of unknown family")
			}
		})
	}
}

func TestSampleDetails(t *testing.T) {
	dir := samplesDir(t)
	read := func(name string) []Record {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		_, recs, err := DecodeAll(f, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}
	entries := func(recs []Record) []*Entry {
		var out []*Entry
		for _, r := range recs {
			if e, ok := r.(*Entry); ok {
				out = append(out, e)
			}
		}
		return out
	}
	t.Run("v04 batch", func(t *testing.T) {
		e := entries(read("camt053_v04_oca_txdtls-batch.xml"))[0]
		if e.BatchCount == nil || *e.BatchCount != 2 || e.BankTxCode != "PMNT-RCDT-VCOM" || e.Status != "BOOK" {
			t.Errorf("entry = %+v", e)
		}
		if e.Transactions[0].Amount != "2187.00" || e.Transactions[0].AcctSvcrRef != "123456CHCAFEBABE" {
			t.Errorf("tx = %+v", e.Transactions[0])
		}
	})
	t.Run("v08 status code", func(t *testing.T) {
		for _, e := range entries(read("camt053_v08_ch-postfinance-testplatform.xml")) {
			if e.Status == "" || strings.ContainsAny(e.Status, " \n") {
				t.Errorf("status = %q", e.Status)
			}
		}
	})
	t.Run("reversal", func(t *testing.T) {
		n := 0
		for _, e := range entries(read("camt054_v02_fi_sample-reversal.xml")) {
			if e.Reversal {
				n++
			}
		}
		if n == 0 {
			t.Error("no reversal decoded")
		}
	})
	t.Run("missing amount warned", func(t *testing.T) {
		e := entries(read("camt054_v08_ch-postfinance_libeufin.xml"))[1]
		if !slices.Contains(e.Warnings, "Amt: missing") || !slices.Contains(e.Warnings, "CdtDbtInd: missing") || len(e.Transactions) != 2 {
			t.Errorf("entry = %+v", e)
		}
	})
	t.Run("pain002 reasons", func(t *testing.T) {
		recs := read("pain002_v10_apiome_part.xml")
		s := recs[1].(*Status)
		if s.EndToEndID != "SUP-0007-B" || s.OriginalMsgID != "MSG-20260824-0007" || s.GroupStatus != "PART" ||
			len(s.Reasons) != 1 || s.Reasons[0].Code != "AC01" || s.Reasons[0].Info == "" {
			t.Errorf("status = %+v", s)
		}
	})
}
