package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/xmlcodec"
)

func init() {
	register(command{Name: "xml", Summary: "ISO 20022: encode pain.001/camt.060, decode camt.05x/pain.002 as JSON lines, validate", Run: runXML})
}

const xmlUsage = `usage: isogate xml encode   --profile P [--out-dir DIR] [--msg-id ID] [--now TIME] [--indent] [FILE|-]
       isogate xml decode   [--jsonl] [--reports] FILE...
       isogate xml validate [--profile P] [--xsd DIR] FILE...
       isogate xml request  --profile P --msg-id ID --account ACCT --from DATE [--to DATE] [--type camt.053]

encode    reads payment intents (JSON lines) and writes pain.001 to stdout, or
          one file per MsgId into --out-dir (required when the profile's
          transaction limit splits the batch), with no whitespace between
          elements unless the profile or --indent asks for an element a
          line. Every problem is listed on stderr as "ID: FIELD: reason";
          nothing is written then.
decode    reads camt.052/053/054 and pain.002 files; with --jsonl writes one
          JSON object per balance, entry or status on stdout (the stmt.entry
          contract), otherwise a summary per file.
validate  checks structure and arithmetic (NbOfTxs, CtrlSum), profile rules
          for pain.001 with --profile, and the official schema through
          xmllint with --xsd (Debian package libxml2-utils).
request   writes a camt.060 account reporting request in the profile's
          version to stdout.

Built-in profiles: %s. A path ending in .yaml names a profile file; files
NAME.yaml in --profiles-dir (or the configuration's profiles_dir) override
and extend the built-in profiles.
Exit status: 0 ok, 1 a problem in the input, 2 usage.
`

func runXML(ctx context.Context, env *cliEnv, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(env.Stderr, xmlUsage, strings.Join(xmlcodec.ProfileNames(), ", "))
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	switch args[0] {
	case "encode":
		return runXMLEncode(ctx, env, args[1:])
	case "decode":
		return runXMLDecode(ctx, env, args[1:])
	case "validate":
		return runXMLValidate(ctx, env, args[1:])
	case "request":
		return runXMLRequest(ctx, env, args[1:])
	}
	fmt.Fprintf(env.Stderr, "isogate xml: unknown subcommand %q\n\n", args[0])
	fmt.Fprintf(env.Stderr, xmlUsage, strings.Join(xmlcodec.ProfileNames(), ", "))
	return 2
}

// xmlLimitFlags adds the decoder limits shared by decode and validate.
func xmlLimitFlags(fs *flag.FlagSet) *xmlcodec.Limits {
	lim := xmlcodec.DefaultLimits()
	fs.Int64Var(&lim.MaxBytes, "max-bytes", lim.MaxBytes, "refuse inputs larger than this many `bytes`")
	fs.IntVar(&lim.MaxDepth, "max-depth", lim.MaxDepth, "refuse element nesting deeper than this")
	return &lim
}

func xmlOpenInput(env *cliEnv, name string) (io.ReadCloser, error) {
	if name == "-" {
		if env.Stdin == nil {
			return io.NopCloser(strings.NewReader("")), nil
		}
		return io.NopCloser(env.Stdin), nil
	}
	return os.Open(name)
}

func runXMLEncode(_ context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("isogate xml encode", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	profile := fs.String("profile", "", "bank `profile` (name or .yaml file); required")
	profiles := addProfileFlags(fs)
	outDir := fs.String("out-dir", "", "write each pain.001 file as `DIR`/<MsgId>.xml instead of stdout")
	msgID := fs.String("msg-id", "", "pain.001 MsgId (default: derived from the clock and the intent ids)")
	initiator := fs.String("initiator", "", "initiating party name (default: the first debtor's name)")
	nowFlag := fs.String("now", "", "clock for CreDtTm and default execution date, RFC 3339 (default: now)")
	indent := fs.Bool("indent", false, "write each element on its own line, indented (the profile's indent: true)")
	files, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if *profile == "" || len(files) > 1 {
		fmt.Fprintln(env.Stderr, "isogate xml encode: --profile and at most one FILE (default stdin) are required")
		return 2
	}
	prof, err := profiles.load(env, *profile)
	if err != nil {
		fmt.Fprintf(env.Stderr, "isogate xml encode: %v\n", err)
		return 2
	}
	if *indent && !prof.Indent {
		indented := *prof // a copy: the loaded profile stays as it was
		indented.Indent = true
		prof = &indented
	}
	now := time.Now
	if *nowFlag != "" {
		t, err := time.Parse(time.RFC3339, *nowFlag)
		if err != nil {
			fmt.Fprintf(env.Stderr, "isogate xml encode: --now: %v\n", err)
			return 2
		}
		now = func() time.Time { return t }
	}
	name := "-"
	if len(files) == 1 {
		name = files[0]
	}
	in, err := xmlOpenInput(env, name)
	if err != nil {
		fmt.Fprintf(env.Stderr, "isogate xml encode: %v\n", err)
		return 1
	}
	pays, bad := xmlReadIntents(in, prof.Name, env.Stderr)
	in.Close()
	if bad {
		return 1
	}
	if len(pays) == 0 {
		fmt.Fprintln(env.Stderr, "isogate xml encode: no intents in input")
		return 1
	}
	res, err := prof.EncodePain001(xmlcodec.Pain001Request{MsgID: *msgID, Now: now, Payments: pays,
		InitiatingParty: xmlcodec.Party{Name: *initiator}})
	if res != nil {
		for _, c := range res.Changes {
			fmt.Fprintf(env.Stderr, "transliterated %s: %s: %q -> %q\n", c.ID, c.Field, c.From, c.To)
		}
	}
	if err != nil {
		var ve xmlcodec.ValidationErrors
		if errors.As(err, &ve) {
			for _, e := range ve {
				fmt.Fprintln(env.Stderr, e.Error())
			}
			fmt.Fprintf(env.Stderr, "isogate xml encode: %d problem(s); nothing written\n", len(ve))
		} else {
			fmt.Fprintf(env.Stderr, "isogate xml encode: %v\n", err)
		}
		return 1
	}
	if *outDir == "" {
		if len(res.Files) > 1 {
			fmt.Fprintf(env.Stderr, "isogate xml encode: profile %s splits %d payments into %d files: use --out-dir\n",
				prof.Name, len(pays), len(res.Files))
			return 1
		}
		if _, err := env.Stdout.Write(res.Files[0].Data); err != nil {
			fmt.Fprintf(env.Stderr, "isogate xml encode: %v\n", err)
			return 1
		}
	} else {
		if err := os.MkdirAll(*outDir, 0o755); err != nil {
			fmt.Fprintf(env.Stderr, "isogate xml encode: %v\n", err)
			return 1
		}
		for _, f := range res.Files {
			path := filepath.Join(*outDir, f.MsgID+".xml")
			if err := xmlWriteOnce(path, f.Data); err != nil {
				fmt.Fprintf(env.Stderr, "isogate xml encode: %v\n", err)
				return 1
			}
			fmt.Fprintln(env.Stdout, path)
		}
	}
	for _, f := range res.Files {
		fmt.Fprintf(env.Stderr, "%s: %s, %d transactions, CtrlSum %s\n", f.MsgID, prof.Messages.Pain001, f.NbOfTxs, f.CtrlSum)
	}
	return 0
}

// xmlWriteOnce creates path with data; an existing file is accepted only when
// it already holds exactly data (a re-run is byte-identical, never a
// different file under the same MsgId).
func xmlWriteOnce(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		old, rerr := os.ReadFile(path)
		if rerr == nil && bytes.Equal(old, data) {
			return nil
		}
		return fmt.Errorf("%s exists with different content: refusing to overwrite", path)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// xmlReadIntents reads JSON lines of payment intents. Problems are printed as
// "line N: field: reason"; bad reports whether there were any.
func xmlReadIntents(r io.Reader, profile string, stderr io.Writer) (pays []xmlcodec.Payment, bad bool) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), messages.MaxIntentSize+1)
	line := 0
	for sc.Scan() {
		line++
		data := bytes.TrimSpace(sc.Bytes())
		if len(data) == 0 {
			continue
		}
		in, err := messages.ParseIntent(data)
		if err != nil {
			bad = true
			for _, fe := range messages.RejectionErrors(err) {
				fmt.Fprintf(stderr, "line %d: %s\n", line, fe.Error())
			}
			continue
		}
		if in.Profile != "" && in.Profile != profile {
			bad = true
			fmt.Fprintf(stderr, "line %d: profile: intent %s asks for profile %q, encoding for %q\n", line, in.ID, in.Profile, profile)
			continue
		}
		pays = append(pays, xmlPayment(in))
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(stderr, "line %d: %v\n", line+1, err)
		bad = true
	}
	return pays, bad
}

func xmlPayment(in messages.PaymentIntent) xmlcodec.Payment {
	return xmlcodec.Payment{
		ID:                in.ID,
		Debtor:            xmlAccount(in.Debtor),
		Creditor:          xmlAccount(in.Creditor),
		Amount:            in.Amount,
		Currency:          in.Currency,
		ExecutionDate:     in.ExecutionDate,
		Remittance:        in.Remittance,
		CreditorReference: in.CreditorReference,
		Purpose:           in.Purpose,
		UltimateDebtor:    xmlParty(in.UltimateDebtor),
		UltimateCreditor:  xmlParty(in.UltimateCreditor),
		BudgetCode:        in.BudgetCode,
	}
}

func xmlAccount(a messages.Account) xmlcodec.Account {
	return xmlcodec.Account{Name: a.Name, IBAN: a.IBAN, BIC: a.BIC, Address: xmlAddress(a.Address)}
}

func xmlParty(p *messages.Party) *xmlcodec.Party {
	if p == nil {
		return nil
	}
	return &xmlcodec.Party{Name: p.Name, ID: p.ID, Address: xmlAddress(p.Address)}
}

func xmlAddress(a *messages.Address) *xmlcodec.Address {
	if a == nil {
		return nil
	}
	return &xmlcodec.Address{Street: a.Street, Building: a.Building, Postcode: a.Postcode, Town: a.Town,
		Country: a.Country, Lines: append([]string(nil), a.Lines...)}
}

func runXMLDecode(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("isogate xml decode", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	jsonl := fs.Bool("jsonl", false, "write one JSON object per balance, entry or status (default: a summary per file)")
	reports := fs.Bool("reports", false, `with --jsonl, also write a {"kind":"report"} line before each statement's records`)
	lim := xmlLimitFlags(fs)
	files, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(files) == 0 {
		fmt.Fprintln(env.Stderr, "isogate xml decode: name at least one FILE (or - for stdin)")
		return 2
	}
	out := bufio.NewWriter(env.Stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	code := 0
	for _, name := range files {
		if ctx.Err() != nil {
			return 1
		}
		in, err := xmlOpenInput(env, name)
		if err != nil {
			fmt.Fprintf(env.Stderr, "%s: %v\n", name, err)
			code = 1
			continue
		}
		sum := xmlDecodeSummary{}
		d := xmlcodec.NewDecoder(bufio.NewReaderSize(in, 64<<10), *lim)
		for {
			rec, err := d.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				fmt.Fprintf(env.Stderr, "%s: %v\n", name, err)
				code = 1
				if xmlcodec.Recoverable(err) {
					sum.errors++
					continue
				}
				break
			}
			sum.add(rec)
			if !*jsonl {
				continue
			}
			if _, isReport := rec.(*xmlcodec.Report); isReport && !*reports {
				continue
			}
			if err := enc.Encode(rec); err != nil {
				fmt.Fprintf(env.Stderr, "isogate xml decode: %v\n", err)
				in.Close()
				return 1
			}
		}
		in.Close()
		info, _ := d.Message()
		for _, w := range sum.warnings {
			fmt.Fprintf(env.Stderr, "%s: warning: %s\n", name, w)
		}
		if !*jsonl {
			fmt.Fprintf(out, "%s: %s, %s\n", name, info.Message, sum.String())
		}
	}
	return code
}

type xmlDecodeSummary struct {
	reports, balances, entries, txs, statuses, errors int
	credit, debit                                     map[string]*xmlcodec.DecimalSum
	warnings                                          []string
}

func (s *xmlDecodeSummary) add(r xmlcodec.Record) {
	switch r := r.(type) {
	case *xmlcodec.Report:
		s.reports++
	case *xmlcodec.Balance:
		s.balances++
	case *xmlcodec.Entry:
		s.entries++
		s.txs += len(r.Transactions)
		for _, w := range r.Warnings {
			s.warnings = append(s.warnings, fmt.Sprintf("entry %s/%s: %s", r.ReportID, xmlFirst(r.AcctSvcrRef, r.EntryRef), w))
		}
		m := &s.credit
		if r.CreditDebit == "DBIT" {
			m = &s.debit
		} else if r.CreditDebit != "CRDT" {
			return
		}
		if *m == nil {
			*m = map[string]*xmlcodec.DecimalSum{}
		}
		if (*m)[r.Currency] == nil {
			(*m)[r.Currency] = &xmlcodec.DecimalSum{}
		}
		if err := (*m)[r.Currency].Add(r.Amount); err != nil {
			s.warnings = append(s.warnings, err.Error())
		}
	case *xmlcodec.Status:
		s.statuses++
	}
}

func (s *xmlDecodeSummary) String() string {
	if s.statuses > 0 {
		return fmt.Sprintf("%d status line(s), %d error(s)", s.statuses, s.errors)
	}
	return fmt.Sprintf("%d report(s), %d balance(s), %d entries, %d transactions, credit %s, debit %s, %d error(s), %d warning(s)",
		s.reports, s.balances, s.entries, s.txs, xmlSums(s.credit), xmlSums(s.debit), s.errors, len(s.warnings))
}

func xmlSums(m map[string]*xmlcodec.DecimalSum) string {
	if len(m) == 0 {
		return "0"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = m[k].String() + " " + k
	}
	return strings.Join(parts, " + ")
}

func xmlFirst(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func runXMLValidate(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("isogate xml validate", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	profile := fs.String("profile", "", "check files against this bank `profile` too (message versions; pain.001 business rules)")
	profiles := addProfileFlags(fs)
	xsdDir := fs.String("xsd", "", "validate against the official schema `DIR`/<message>.xsd with xmllint")
	lim := xmlLimitFlags(fs)
	files, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(files) == 0 {
		fmt.Fprintln(env.Stderr, "isogate xml validate: name at least one FILE")
		return 2
	}
	var prof *xmlcodec.Profile
	if *profile != "" {
		if prof, err = profiles.load(env, *profile); err != nil {
			fmt.Fprintf(env.Stderr, "isogate xml validate: %v\n", err)
			return 2
		}
	}
	code := 0
	for _, name := range files {
		problems, info, summary := xmlValidateFile(name, prof, *lim)
		if *xsdDir != "" && info.Message != "" {
			problems = append(problems, xmlXSDCheck(ctx, *xsdDir, info.Message, name)...)
		}
		if len(problems) == 0 {
			fmt.Fprintf(env.Stdout, "%s: ok (%s, %s)\n", name, info.Message, summary)
			continue
		}
		code = 1
		for _, p := range problems {
			fmt.Fprintf(env.Stdout, "%s: %s\n", name, p)
		}
	}
	return code
}

// xmlValidateFile returns every problem of one file, what it is, and a short
// summary.
func xmlValidateFile(name string, prof *xmlcodec.Profile, lim xmlcodec.Limits) (problems []string, info xmlcodec.MessageInfo, summary string) {
	f, err := os.Open(name)
	if err != nil {
		return []string{err.Error()}, info, ""
	}
	defer f.Close()
	info, err = xmlcodec.NewDecoder(f, lim).Message()
	if err != nil {
		return []string{err.Error()}, info, ""
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return []string{err.Error()}, info, ""
	}
	if info.Family == "pain.001" {
		doc, err := xmlcodec.ReadPain001(bufio.NewReader(f), lim)
		if err != nil {
			return []string{err.Error()}, info, ""
		}
		if err := doc.Check(); err != nil {
			problems = append(problems, strings.Split(err.Error(), "\n")...)
		}
		if prof != nil {
			if info.Message != prof.Messages.Pain001 {
				problems = append(problems, fmt.Sprintf("profile %s sends %s, file is %s", prof.Name, prof.Messages.Pain001, info.Message))
			}
			if _, changes, err := prof.ValidatePayments(doc.Payments); err != nil {
				var ve xmlcodec.ValidationErrors
				if errors.As(err, &ve) {
					for _, e := range ve {
						problems = append(problems, e.Error())
					}
				} else {
					problems = append(problems, err.Error())
				}
			} else {
				for _, c := range changes {
					problems = append(problems, fmt.Sprintf("%s: %s: %q needs transliteration to %q", c.ID, c.Field, c.From, c.To))
				}
			}
		}
		return problems, info, fmt.Sprintf("%d transactions in %d PmtInf, CtrlSum %s", len(doc.Payments), len(doc.PmtInfs), doc.CtrlSum)
	}
	if prof != nil {
		want := map[string]string{"camt.052": prof.Messages.Camt052, "camt.053": prof.Messages.Camt053,
			"camt.054": prof.Messages.Camt054, "pain.002": prof.Messages.Pain002}[info.Family]
		if want != "" && want != info.Message {
			problems = append(problems, fmt.Sprintf("profile %s expects %s, file is %s", prof.Name, want, info.Message))
		}
	}
	d := xmlcodec.NewDecoder(bufio.NewReader(f), lim)
	var s xmlDecodeSummary
	var rpt *xmlcodec.Report
	var sc xmlcodec.SummaryCheck
	checkSummary := func() {
		if rpt == nil {
			return
		}
		if err := sc.Check(rpt.Summary); err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				problems = append(problems, fmt.Sprintf("report %s: %s", rpt.ReportID, line))
			}
		}
	}
	for {
		rec, err := d.Next()
		if errors.Is(err, io.EOF) {
			checkSummary()
			break
		}
		if err != nil {
			problems = append(problems, err.Error())
			if xmlcodec.Recoverable(err) {
				continue
			}
			break
		}
		switch r := rec.(type) {
		case *xmlcodec.Report:
			checkSummary()
			rpt, sc = r, xmlcodec.SummaryCheck{}
		case *xmlcodec.Entry:
			sc.Add(r)
		}
		s.add(rec)
	}
	for _, w := range s.warnings {
		problems = append(problems, "warning: "+w)
	}
	return problems, info, s.String()
}

// xmlXSDCheck validates a file with xmllint against DIR/<message>.xsd.
func xmlXSDCheck(ctx context.Context, dir, message, file string) []string {
	xsd := filepath.Join(dir, message+".xsd")
	if _, err := os.Stat(xsd); err != nil {
		return []string{fmt.Sprintf("schema: no %s in %s", filepath.Base(xsd), dir)}
	}
	bin, err := exec.LookPath("xmllint")
	if err != nil {
		return []string{"schema: xmllint not found (Debian package libxml2-utils)"}
	}
	out, err := exec.CommandContext(ctx, bin, "--noout", "--nonet", "--schema", xsd, file).CombinedOutput()
	if err == nil {
		return nil
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" && !strings.HasSuffix(l, " fails to validate") {
			lines = append(lines, "schema: "+l)
		}
	}
	if len(lines) == 0 {
		lines = []string{fmt.Sprintf("schema: xmllint: %v", err)}
	}
	return lines
}

func runXMLRequest(_ context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("isogate xml request", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	profile := fs.String("profile", "", "bank `profile` (name or .yaml file); required")
	profiles := addProfileFlags(fs)
	var r xmlcodec.ReportRequest
	msgID := fs.String("msg-id", "", "camt.060 MsgId; required")
	fs.StringVar(&r.Message, "type", "camt.053", "report wanted: camt.052, camt.053 or camt.054 (optionally with version)")
	fs.StringVar(&r.Account, "account", "", "account IBAN (or other id); required")
	fs.StringVar(&r.AccountCurrency, "currency", "", "account currency")
	fs.StringVar(&r.OwnerName, "owner", "", "account owner name")
	fs.StringVar(&r.ServicerBIC, "servicer-bic", "", "account servicer BIC")
	fs.StringVar(&r.FromDate, "from", "", "first day, YYYY-MM-DD; required")
	fs.StringVar(&r.ToDate, "to", "", "last day, YYYY-MM-DD")
	fs.StringVar(&r.QueryType, "query", "ALLL", "ALLL, CHNG or MODF")
	nowFlag := fs.String("now", "", "clock for CreDtTm, RFC 3339 (default: now)")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if *profile == "" || len(rest) > 0 {
		fmt.Fprintln(env.Stderr, "isogate xml request: --profile is required and no FILE is taken")
		return 2
	}
	prof, err := profiles.load(env, *profile)
	if err != nil {
		fmt.Fprintf(env.Stderr, "isogate xml request: %v\n", err)
		return 2
	}
	req := xmlcodec.Camt060Request{MsgID: *msgID, Requests: []xmlcodec.ReportRequest{r}}
	if *nowFlag != "" {
		t, err := time.Parse(time.RFC3339, *nowFlag)
		if err != nil {
			fmt.Fprintf(env.Stderr, "isogate xml request: --now: %v\n", err)
			return 2
		}
		req.Now = func() time.Time { return t }
	}
	out, err := prof.EncodeCamt060(req)
	if err != nil {
		var ve xmlcodec.ValidationErrors
		if errors.As(err, &ve) {
			for _, e := range ve {
				fmt.Fprintf(env.Stderr, "%s: %s\n", e.Field, e.Reason)
			}
		} else {
			fmt.Fprintf(env.Stderr, "isogate xml request: %v\n", err)
		}
		return 1
	}
	if _, err := env.Stdout.Write(out); err != nil {
		fmt.Fprintf(env.Stderr, "isogate xml request: %v\n", err)
		return 1
	}
	return 0
}
