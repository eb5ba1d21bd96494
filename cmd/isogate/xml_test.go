package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/isogate/isogate/messages"
)

func runXMLCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &cliEnv{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	code = run(context.Background(), env, append([]string{"xml"}, args...))
	return code, out.String(), errb.String()
}

func xmlRepoRoot(t *testing.T) string {
	t.Helper()
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		if filepath.Dir(dir) == dir {
			t.Fatal("go.mod not found")
		}
		dir = filepath.Dir(dir)
	}
}

func xmlLintOrSkip(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("xmllint")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("xmllint required in CI (Debian package libxml2-utils)")
		}
		t.Skip("xmllint not installed")
	}
	return bin
}

func xmlTestIBAN(cc, bban string) string {
	rem := 0
	for _, c := range bban + cc + "00" {
		if c >= 'A' && c <= 'Z' {
			rem = (rem*100 + int(c-'A') + 10) % 97
		} else {
			rem = (rem*10 + int(c-'0')) % 97
		}
	}
	return fmt.Sprintf("%s%02d%s", cc, 98-rem, bban)
}

// xmlTestIntents writes n varied, valid intents: three Treasury debtors,
// Latvian letters, purposes, budget codes, references, ultimate parties.
func xmlTestIntents(t *testing.T, n int) string {
	t.Helper()
	debtors := []messages.Account{
		{Name: "Finanšu ministrija", IBAN: xmlTestIBAN("LV", "TREL2190456001000")},
		{Name: "Rīgas valstspilsētas pašvaldība", IBAN: xmlTestIBAN("LV", "TREL9800000123450"),
			Address: &messages.Address{Street: "Rātslaukums", Building: "1", Postcode: "LV-1050", Town: "Rīga", Country: "LV"}},
		{Name: "Valsts ieņēmumu dienests", IBAN: xmlTestIBAN("LV", "TREL1060000000001"), BIC: "TRELLV22"},
	}
	names := []string{"SIA Ķekava Būve", "Jānis Bērziņš", "AS Latvijas Gāze", "Žanis Ēķis", "Ģirts Ļoļa", "Čaklā bite"}
	purposes := []string{"", "SALA", "SUPP", "GOVT", "TAXS"}
	budget := []string{"", "2231", "1100", "2279", "3262"}
	var b strings.Builder
	for i := range n {
		in := messages.PaymentIntent{
			ID:            fmt.Sprintf("INT-%06d", i+1),
			Debtor:        debtors[i%len(debtors)],
			Creditor:      messages.Account{Name: names[i%len(names)], IBAN: xmlTestIBAN("LV", fmt.Sprintf("HABA%013d", 550000000+i*7919))},
			Amount:        fmt.Sprintf("%d.%02d", 1+(i*7919)%250000, (i*37)%100),
			Currency:      "EUR",
			ExecutionDate: fmt.Sprintf("2026-11-%02d", 23+(i/3)%3),
			Purpose:       purposes[i%len(purposes)],
			BudgetCode:    budget[i%len(budget)],
		}
		if i%2 == 0 {
			in.Remittance = fmt.Sprintf("Rēķins Nr. %d, līgums %d/2026 (piegāde)", 1000+i, i%97)
		}
		if i%5 == 0 {
			in.Creditor.BIC = "HABALV22"
			in.Creditor.Address = &messages.Address{Street: "Brīvības iela", Building: fmt.Sprint(1 + i%200), Postcode: "LV-1010", Town: "Rīga", Country: "LV"}
		}
		if i%11 == 0 {
			in.UltimateDebtor = &messages.Party{Name: "Izglītības un zinātnes ministrija", ID: "90000022399"}
		}
		line, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := messages.ParseIntent(line); err != nil {
			t.Fatalf("test intent %d invalid: %v", i, err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// TestXMLEncode1500 is must-show 1 through the CLI.
func TestXMLEncode1500(t *testing.T) {
	lint := xmlLintOrSkip(t)
	root := xmlRepoRoot(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "intents.jsonl")
	if err := os.WriteFile(in, []byte(xmlTestIntents(t, 1500)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ profile, xsd string }{{"ekase", "pain.001.001.03"}, {"iso2019", "pain.001.001.09"}} {
		t.Run(tt.profile, func(t *testing.T) {
			code, out, errs := runXMLCLI(t, "", "encode", "--profile", tt.profile, "--now", "2026-11-21T09:30:00+02:00", in)
			if code != 0 {
				t.Fatalf("xml encode = %d\n%s", code, errs)
			}
			if !strings.Contains(errs, "1500 transactions") || strings.Count(out, "<CdtTrfTxInf>") != 1500 {
				t.Errorf("stderr %q; %d transactions", errs, strings.Count(out, "<CdtTrfTxInf>"))
			}
			cmd := exec.Command(lint, "--noout", "--nonet", "--schema", filepath.Join(root, "xmlcodec", "xsd", tt.xsd+".xsd"), "-")
			cmd.Stdin = strings.NewReader(out)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("xmllint: %v\n%s", err, b)
			}
			file := filepath.Join(dir, tt.profile+".xml")
			if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
			code, vout, verr := runXMLCLI(t, "", "validate", "--profile", tt.profile, "--xsd", filepath.Join(root, "xmlcodec", "xsd"), file)
			if code != 0 || !strings.Contains(vout, "ok (") {
				t.Errorf("xml validate = %d\n%s%s", code, vout, verr)
			}
			_, again, _ := runXMLCLI(t, "", "encode", "--profile", tt.profile, "--now", "2026-11-21T09:30:00+02:00", in)
			if again != out {
				t.Error("second encode differs: output not deterministic")
			}
			// Flat by default; --indent writes the same document an
			// element a line.
			code, indented, errs := runXMLCLI(t, "", "encode", "--profile", tt.profile, "--now", "2026-11-21T09:30:00+02:00", "--indent", in)
			if code != 0 {
				t.Fatalf("xml encode --indent = %d\n%s", code, errs)
			}
			if n := strings.Count(out, "\n"); n > 1 {
				t.Errorf("flat output has %d lines", n)
			}
			if n := strings.Count(indented, "\n"); n < 1500*10 {
				t.Errorf("--indent output has %d lines", n)
			}
			if squeezed := regexp.MustCompile(`>\s+<`).ReplaceAllString(indented, "><"); strings.TrimSpace(squeezed) != strings.TrimSpace(out) {
				t.Error("--indent wrote another document than the flat one, whitespace apart")
			}
		})
	}
}

func TestXMLEncodeSplitAndErrors(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "intents.jsonl")
	if err := os.WriteFile(in, []byte(xmlTestIntents(t, 1200)), 0o644); err != nil {
		t.Fatal(err)
	}
	prof := filepath.Join(dir, "small.yaml")
	if err := os.WriteFile(prof, []byte("name: small\nmessages: {pain001: pain.001.001.09}\nlimits: {max_tx_per_file: 500}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runXMLCLI(t, "", "encode", "--profile", prof, "--msg-id", "B1", in)
	if code != 1 || !strings.Contains(errs, "--out-dir") {
		t.Errorf("split without --out-dir = %d %q", code, errs)
	}
	out := filepath.Join(dir, "out")
	code, stdout, errs := runXMLCLI(t, "", "encode", "--profile", prof, "--msg-id", "B1", "--out-dir", out, "--now", "2026-11-21T09:30:00Z", in)
	if code != 0 || strings.Count(stdout, "\n") != 3 {
		t.Fatalf("encode --out-dir = %d\n%s%s", code, stdout, errs)
	}
	for _, n := range []string{"B1-1", "B1-2", "B1-3"} {
		if _, err := os.Stat(filepath.Join(out, n+".xml")); err != nil {
			t.Error(err)
		}
	}
	// A re-run writes the same bytes: accepted. A different batch under
	// the same MsgId is refused.
	if code, _, errs := runXMLCLI(t, "", "encode", "--profile", prof, "--msg-id", "B1", "--out-dir", out, "--now", "2026-11-21T09:30:00Z", in); code != 0 {
		t.Errorf("identical re-run = %d %s", code, errs)
	}
	if code, _, errs := runXMLCLI(t, "", "encode", "--profile", prof, "--msg-id", "B1", "--out-dir", out, "--now", "2026-11-22T09:30:00Z", in); code != 1 || !strings.Contains(errs, "refusing") {
		t.Errorf("different content re-run = %d %s", code, errs)
	}

	bad := `{"id":"A1","debtor":{"name":"X","iban":"LV00TREL0000000000000"},"creditor":{"name":"Y","iban":"` + xmlTestIBAN("LV", "HABA0551012345678") + `"},"amount":"1.00","currency":"EUR"}
{"id":"A2","debtor":{"name":"X","iban":"` + xmlTestIBAN("LV", "HABA0551012345678") + `"},"creditor":{"name":"Y","iban":"` + xmlTestIBAN("LV", "HABA0551012345679") + `"},"amount":"1.00","currency":"EUR"}
not json
`
	code, stdout, errs = runXMLCLI(t, bad, "encode", "--profile", "ekase", "-")
	if code != 1 || stdout != "" {
		t.Errorf("bad input = %d, stdout %q", code, stdout)
	}
	if !strings.Contains(errs, "line 1: debtor.iban") || !strings.Contains(errs, "line 3: ") {
		t.Errorf("stderr does not list the bad lines:\n%s", errs)
	}
	// Valid intents, but the profile refuses the debtor.
	code, _, errs = runXMLCLI(t, strings.SplitAfter(bad, "\n")[1], "encode", "--profile", "ekase", "-")
	if code != 1 || !strings.Contains(errs, "A2: debtor.iban: profile ekase requires") {
		t.Errorf("profile rule = %d:\n%s", code, errs)
	}
	if code, _, _ := runXMLCLI(t, "", "encode", in); code != 2 {
		t.Errorf("encode without --profile = %d, want 2", code)
	}
	if code, _, _ := runXMLCLI(t, "", "frobnicate"); code != 2 {
		t.Errorf("unknown subcommand = %d, want 2", code)
	}
}

func TestXMLDecode(t *testing.T) {
	samples := filepath.Join(xmlRepoRoot(t), "..", "shared", "iso20022", "samples")
	if _, err := os.Stat(samples); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("samples folder required in CI")
		}
		t.Skip("samples absent")
	}
	code, out, errs := runXMLCLI(t, "", "decode", "--jsonl",
		filepath.Join(samples, "camt053_v02_fi_sample.xml"), filepath.Join(samples, "pain002_v10_apiome_part.xml"))
	if code != 0 {
		t.Fatalf("decode = %d\n%s", code, errs)
	}
	kinds := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %s", line)
		}
		kinds[m["kind"].(string)]++
		if m["kind"] == "entry" {
			for _, k := range []string{"message", "msg_id", "report_id", "account", "entry_ref", "acct_svcr_ref", "amount", "currency",
				"credit_debit", "status", "booking_date", "value_date", "reversal", "bank_tx_code", "batch_count", "transactions"} {
				if _, ok := m[k]; !ok {
					t.Errorf("entry line lacks %q", k)
				}
			}
		}
		if m["kind"] == "status" {
			for _, k := range []string{"message", "original_msg_id", "group_status", "payment_info_id", "payment_info_status", "end_to_end_id", "tx_id", "status", "reasons"} {
				if _, ok := m[k]; !ok {
					t.Errorf("status line lacks %q", k)
				}
			}
		}
	}
	if kinds["entry"] != 10 || kinds["balance"] != 4 || kinds["status"] != 2 || kinds["report"] != 0 {
		t.Errorf("kinds = %v, want 10 entries, 4 balances, 2 statuses", kinds)
	}
	code, out, _ = runXMLCLI(t, "", "decode", filepath.Join(samples, "camt053_v02_fi_sample.xml"))
	if code != 0 || !strings.Contains(out, "10 entries, 12 transactions, credit 23075.00 EUR, debit 9430.17 EUR") {
		t.Errorf("summary = %d %q", code, out)
	}
	hostile := filepath.Join(t.TempDir(), "bomb.xml")
	if err := os.WriteFile(hostile, []byte(`<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa">]><Document>&a;</Document>`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs = runXMLCLI(t, "", "decode", "--jsonl", hostile)
	if code != 1 || !strings.Contains(errs, "DOCTYPE not allowed") {
		t.Errorf("decode DOCTYPE = %d %q", code, errs)
	}
	// A statement whose TxsSummry disagrees with its entries.
	fi, err := os.ReadFile(filepath.Join(samples, "camt053_v02_fi_sample.xml"))
	if err != nil {
		t.Fatal(err)
	}
	tampered := filepath.Join(t.TempDir(), "tampered.xml")
	if err := os.WriteFile(tampered, bytes.Replace(fi, []byte("<Sum>9430.17</Sum>"), []byte("<Sum>9430.18</Sum>"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runXMLCLI(t, "", "validate", tampered)
	if code != 1 || !strings.Contains(out, "TxsSummry/TtlDbtNtries/Sum = 9430.18, entries sum to 9430.17") {
		t.Errorf("validate tampered = %d %q", code, out)
	}
	code, out, _ = runXMLCLI(t, "", "validate", hostile, filepath.Join(samples, "camt054_v08_ch-postfinance_libeufin.xml"))
	if code != 1 || !strings.Contains(out, "DOCTYPE") || !strings.Contains(out, "warning: ") {
		t.Errorf("validate = %d %q", code, out)
	}
}

func TestXMLRequest(t *testing.T) {
	code, out, errs := runXMLCLI(t, "", "request", "--profile", "ekase", "--msg-id", "R1", "--account", xmlTestIBAN("LV", "TREL2190456001000"),
		"--from", "2026-11-01", "--to", "2026-11-20", "--now", "2026-11-21T09:30:00Z")
	if code != 0 || !strings.Contains(out, "<ReqdMsgNmId>camt.053.001.02</ReqdMsgNmId>") {
		t.Fatalf("xml request = %d\n%s%s", code, out, errs)
	}
	lint := xmlLintOrSkip(t)
	cmd := exec.Command(lint, "--noout", "--nonet", "--schema", filepath.Join(xmlRepoRoot(t), "xmlcodec", "xsd", "camt.060.001.03.xsd"), "-")
	cmd.Stdin = strings.NewReader(out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("xmllint: %v\n%s", err, b)
	}
	if code, _, errs := runXMLCLI(t, "", "request", "--profile", "ekase", "--account", "x", "--from", "nope"); code != 1 || !strings.Contains(errs, "from_date") {
		t.Errorf("bad request = %d %s", code, errs)
	}
}

// TestXMLProfilesDir checks that a profile file in --profiles-dir, in the
// configuration's profiles_dir or in ISOGATE_PROFILES_DIR overrides the
// built-in profile of the same name.
func TestXMLProfilesDir(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "intents.jsonl")
	if err := os.WriteFile(in, []byte(xmlTestIntents(t, 30)), 0o644); err != nil {
		t.Fatal(err)
	}
	profiles := filepath.Join(dir, "profiles")
	if err := os.Mkdir(profiles, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(profiles, "ekase.yaml"), []byte("base: ekase\nlimits: {max_tx_per_file: 10}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "isogate.yaml")
	if err := os.WriteFile(cfgFile, []byte("profiles_dir: "+profiles+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Built in, 30 payments fit one file.
	if code, _, errs := runXMLCLI(t, "", "encode", "--profile", "ekase", in); code != 0 {
		t.Fatalf("built-in ekase: exit %d\n%s", code, errs)
	}
	for _, args := range [][]string{
		{"encode", "--profile", "ekase", "--profiles-dir", profiles, in},
		{"encode", "--profile", "ekase", "--config", cfgFile, in},
	} {
		code, _, errs := runXMLCLI(t, "", args...)
		if code != 1 || !strings.Contains(errs, "splits 30 payments into 3 files") {
			t.Errorf("%v: exit %d, %q; want the overridden limit of 10 per file", args, code, errs)
		}
	}
	var stdout, stderr strings.Builder
	env := &cliEnv{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr,
		Getenv: func(k string) string { return map[string]string{"ISOGATE_PROFILES_DIR": profiles}[k] }}
	if code := run(t.Context(), env, []string{"xml", "encode", "--profile", "ekase", in}); code != 1 || !strings.Contains(stderr.String(), "3 files") {
		t.Errorf("ISOGATE_PROFILES_DIR: exit %d, %q", code, stderr.String())
	}
	code, _, errs := runXMLCLI(t, "", "encode", "--profile", "ekasse", "--profiles-dir", profiles, in)
	if code != 2 || !strings.Contains(errs, "unknown profile") || !strings.Contains(errs, "ekase, iso2019") {
		t.Errorf("unknown profile: exit %d, %q", code, errs)
	}
}
