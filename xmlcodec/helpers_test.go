package xmlcodec

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.xml")

// repoRoot walks up from the working directory to the folder holding go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// samplesDir returns ../shared/iso20022/samples (relative to the repository
// root): skipped when absent locally, a failure in CI.
func samplesDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "..", "shared", "iso20022", "samples")
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("samples folder %s required in CI: %v", dir, err)
		}
		t.Skipf("samples folder %s absent", dir)
	}
	return dir
}

// validateXSD runs xmllint against xmlcodec/xsd/<name>.xsd.
func validateXSD(t testing.TB, doc []byte, name string) {
	t.Helper()
	bin, err := exec.LookPath("xmllint")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("xmllint required in CI (Debian package libxml2-utils)")
		}
		t.Skip("xmllint not installed")
	}
	xsd := filepath.Join(repoRoot(t), "xmlcodec", "xsd", name+".xsd")
	cmd := exec.Command(bin, "--noout", "--nonet", "--schema", xsd, "-")
	cmd.Stdin = bytes.NewReader(doc)
	if out, err := cmd.CombinedOutput(); err != nil {
		if len(out) > 4000 {
			out = out[:4000]
		}
		t.Fatalf("xmllint --schema %s: %v\n%s", name, err, out)
	}
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run with -update): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden; run with -update", path)
	}
}

// makeIBAN computes the check digits for country cc and bban.
func makeIBAN(cc, bban string) string {
	rem, _ := mod97(bban + cc + "00")
	return fmt.Sprintf("%s%02d%s", cc, 98-rem, bban)
}

func makeRF(ref string) string {
	rem, _ := mod97(ref + "RF00")
	return fmt.Sprintf("RF%02d%s", 98-rem, ref)
}

var fixedClock = func() time.Time { return time.Date(2026, 11, 21, 9, 30, 0, 0, time.FixedZone("EET", 2*3600)) }

// variedPayments builds n deterministic, valid payments: several Treasury
// debtors, Latvian letters, purposes, budget codes, creditor references,
// ultimate parties, structured addresses, several dates.
func variedPayments(n int) []Payment {
	debtors := []Account{
		{Name: "Finanšu ministrija", IBAN: makeIBAN("LV", "TREL2190456001000")},
		{Name: "Rīgas valstspilsētas pašvaldība", IBAN: makeIBAN("LV", "TREL9800000123450"), Address: &Address{Street: "Rātslaukums", Building: "1", Postcode: "LV-1050", Town: "Rīga", Country: "LV"}},
		{Name: "Valsts ieņēmumu dienests", IBAN: makeIBAN("LV", "TREL1060000000001"), BIC: "TRELLV22"},
	}
	names := []string{"SIA Ķekava Būve", "Jānis Bērziņš", "AS Latvijas Gāze", "Žanis Ēķis", "Ģirts Ļoļa", "SIA Ūdens Ņirbas", "Acme Baltic SIA", "Čaklā bite"}
	purposes := []string{"", "SALA", "SUPP", "GOVT", "TAXS", "Dotācija 2026"}
	budget := []string{"", "2231", "1100", "2279", "3262"}
	out := make([]Payment, n)
	for i := range out {
		p := Payment{
			ID:            fmt.Sprintf("E2E-%06d", i+1),
			Debtor:        debtors[i%len(debtors)],
			Creditor:      Account{Name: names[i%len(names)], IBAN: makeIBAN("LV", fmt.Sprintf("HABA%013d", 550000000+i*7919))},
			Amount:        fmt.Sprintf("%d.%02d", 1+(i*7919)%250000, (i*37)%100),
			Currency:      "EUR",
			ExecutionDate: fmt.Sprintf("2026-11-%02d", 23+(i/3)%3),
			Purpose:       purposes[i%len(purposes)],
			BudgetCode:    budget[i%len(budget)],
		}
		switch i % 4 {
		case 0:
			p.Remittance = fmt.Sprintf("Rēķins Nr. %d, līgums %d/2026 (piegāde)", 1000+i, i%97)
		case 1:
			p.CreditorReference = makeRF(fmt.Sprintf("INV%08d", i))
		case 2:
			p.Remittance = strings.Repeat("Ā", 10) + " maksājums"
			p.CreditorReference = makeRF(fmt.Sprintf("X%d", i))
		}
		if i%5 == 0 {
			p.Creditor.BIC = "HABALV22"
			p.Creditor.Address = &Address{Street: "Brīvības iela", Building: fmt.Sprint(1 + i%200), Postcode: "LV-1010", Town: "Rīga", Country: "LV"}
		}
		if i%11 == 0 {
			p.UltimateDebtor = &Party{Name: "Izglītības un zinātnes ministrija", ID: "90000022399"}
		}
		if i%13 == 0 {
			p.UltimateCreditor = &Party{Name: "Pēteris Šķēle", Address: &Address{Lines: []string{"Daugavpils, Saules iela 5"}, Country: "LV"}}
		}
		out[i] = p
	}
	return out
}
