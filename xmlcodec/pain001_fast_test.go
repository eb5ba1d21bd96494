package xmlcodec

import (
	"bytes"
	"fmt"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// encodeBoth encodes req with the byte writer and with the etree reference
// and fails unless every file is byte-identical (and the metadata agrees).
func encodeBoth(t *testing.T, p *Profile, req Pain001Request) *Pain001Result {
	t.Helper()
	fast, ferr := p.EncodePain001(req)
	dom, derr := p.encodePain001(req, p.encodeFileDOM)
	if (ferr == nil) != (derr == nil) {
		t.Fatalf("fast error %v, DOM error %v", ferr, derr)
	}
	if ferr != nil {
		if ferr.Error() != derr.Error() {
			t.Fatalf("fast error %v, DOM error %v", ferr, derr)
		}
		t.Logf("not encoded: %v", ferr)
		return nil
	}
	if len(fast.Files) != len(dom.Files) {
		t.Fatalf("fast wrote %d files, DOM %d", len(fast.Files), len(dom.Files))
	}
	for i := range fast.Files {
		f, d := fast.Files[i], dom.Files[i]
		if !bytes.Equal(f.Data, d.Data) {
			t.Fatalf("file %d: fast and DOM output differ at byte %d:\nfast: %q\n DOM: %q", i, firstDiff(f.Data, d.Data),
				around(f.Data, firstDiff(f.Data, d.Data)), around(d.Data, firstDiff(f.Data, d.Data)))
		}
		if f.MsgID != d.MsgID || f.NbOfTxs != d.NbOfTxs || f.CtrlSum != d.CtrlSum || strings.Join(f.PaymentIDs, ",") != strings.Join(d.PaymentIDs, ",") {
			t.Fatalf("file %d: metadata differs: fast %s %d %s, DOM %s %d %s", i, f.MsgID, f.NbOfTxs, f.CtrlSum, d.MsgID, d.NbOfTxs, d.CtrlSum)
		}
	}
	return fast
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func around(b []byte, i int) string { return string(b[max(0, i-80):min(len(b), i+80)]) }

// edgePayments are payments whose text exercises escaping and the
// character sets: markup characters in every free-text field, Latvian
// letters, maximum lengths, astral-plane characters, U+FFFD written as
// such, address lines, ultimate parties with ids.
func edgePayments() []Payment {
	long140 := strings.Repeat("Ā&<>\"'x", 20)
	long35 := strings.Repeat("ž<", 17) + "&"
	addr := &Address{Street: `Brīvības "iela" & <Co>`, Building: "1'A>", Postcode: "LV-1010", Town: "Rīga & Jūrmala", Country: "LV",
		Lines: []string{"c/o <Ozols & 'Liepa'>", `"Ēkas" korpuss 2`}}
	base := func(i int) Payment {
		return Payment{
			ID:       fmt.Sprintf("EDGE-%03d", i),
			Debtor:   Account{Name: `Finanšu "ministrija" & <Co>`, IBAN: makeIBAN("LV", "TREL2190456001000")},
			Creditor: Account{Name: "O'Brien & Šķēle <SIA>", IBAN: makeIBAN("LV", fmt.Sprintf("HABA%013d", 1000+i))},
			Amount:   fmt.Sprintf("%d.%02d", 1+i*13, i%100),
			Currency: "EUR", ExecutionDate: "2026-11-23",
		}
	}
	var out []Payment
	for i := range 40 {
		p := base(i)
		switch i % 10 {
		case 0:
			p.Remittance = long140
		case 1:
			p.Purpose = long35
		case 2:
			p.Creditor.Address = addr
			p.Debtor.Address = addr
		case 3:
			p.UltimateDebtor = &Party{Name: "Ultimate <&> \"debtor\"", ID: "ID&<1>", Address: addr}
			p.UltimateCreditor = &Party{Name: "Ultimate 'creditor'", Address: &Address{Lines: []string{"a & b"}, Country: "LV"}}
		case 4:
			p.CreditorReference = makeRF("ABC123")
			p.Remittance = "Rēķins > 100 < 200 & \"citāts\""
		case 5:
			p.CreditorReference = "INV-2026/&'x'"
			p.BudgetCode = "2231"
		case 6:
			p.Purpose = "SALA"
			p.Creditor.BIC = "HABALV22"
		case 7:
			p.Amount = "123456789012.5"
			p.Remittance = "ĀČĒĢĪĶĻŅŠŪŽ āčēģīķļņšūž"
		case 8:
			p.Amount = "0.01"
			p.Purpose = "Dotācija & <atbalsts>"
		case 9:
			p.Remittance = "'" + strings.Repeat(`"`, 138) + "'"
		}
		out = append(out, p)
	}
	return out
}

// unicodePayments adds what only the unicode charset allows: astral
// characters, U+FFFD written as such, other scripts, and other currencies.
func unicodePayments() []Payment {
	pays := edgePayments()
	for i := range pays {
		switch i % 5 {
		case 0:
			pays[i].Remittance = "emoji 😀 math 𝔘 cjk 支払い ok"
		case 1:
			pays[i].Creditor.Name = "Ελληνικά & Русский <текст>"
		case 2:
			pays[i].Currency, pays[i].Amount = "JPY", fmt.Sprint(1000+i)
		case 3:
			pays[i].Currency, pays[i].Amount = "KWD", "1.125"
		}
	}
	return pays
}

// randomPayments builds n valid payments from random pieces (seeded).
func randomPayments(r *rand.Rand, n int, unicode bool) []Payment {
	words := []string{"Jānis", "Bērziņš", "SIA", "&", "<AS>", `"Rīga"`, "O'Neil", "Ķekava", "Žanis", "Ēķis", "ĻOĻA", "maksājums", "par", "līgums", ">", "2026/11"}
	if unicode {
		words = append(words, "😀", "支払い", "Ελλάδα")
	}
	text := func(maxRunes int) string {
		var b strings.Builder
		for k := r.IntN(6) + 1; k > 0; k-- {
			w := words[r.IntN(len(words))]
			if len([]rune(b.String()))+len([]rune(w))+1 > maxRunes {
				break
			}
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(w)
		}
		if b.Len() == 0 {
			return "x"
		}
		return b.String()
	}
	debtors := []Account{
		{Name: "Finanšu ministrija", IBAN: makeIBAN("LV", "TREL2190456001000")},
		{Name: "Valsts <kase> & co", IBAN: makeIBAN("LV", "TREL9800000123450"), Address: &Address{Street: "Smilšu iela", Building: "1", Town: "Rīga", Country: "LV"}},
	}
	out := make([]Payment, n)
	for i := range out {
		p := Payment{
			ID:            fmt.Sprintf("R-%d-%d", i, r.IntN(1000)),
			Debtor:        debtors[r.IntN(len(debtors))],
			Creditor:      Account{Name: text(70), IBAN: makeIBAN("LV", fmt.Sprintf("HABA%013d", r.IntN(1e12)))},
			Amount:        fmt.Sprintf("%d.%02d", r.IntN(1e9)+1, r.IntN(100)),
			Currency:      "EUR",
			ExecutionDate: fmt.Sprintf("2026-12-%02d", 1+r.IntN(3)),
		}
		if r.IntN(2) == 0 {
			p.Remittance = text(140)
		}
		if r.IntN(3) == 0 {
			p.CreditorReference = makeRF(fmt.Sprintf("R%d", r.IntN(1e9)))
		}
		switch r.IntN(4) {
		case 0:
			p.Purpose = "SUPP"
		case 1:
			p.Purpose = text(35)
		}
		if r.IntN(3) == 0 {
			p.BudgetCode = []string{"2231", "1100", "3262"}[r.IntN(3)]
		}
		if r.IntN(4) == 0 {
			p.Creditor.BIC = "HABALV22"
			p.Creditor.Address = &Address{Street: text(70), Building: "5", Postcode: "LV-1000", Town: text(35), Country: "LV"}
		}
		if r.IntN(7) == 0 {
			p.UltimateDebtor = &Party{Name: text(70), ID: "9000&0022"}
		}
		if r.IntN(9) == 0 {
			p.UltimateCreditor = &Party{Name: text(70), Address: &Address{Lines: []string{text(70), text(70)}, Country: "LV"}}
		}
		out[i] = p
	}
	return out
}

// fitPayment applies f to every free-text field of x.
func fitPayment(x *Payment, f func(string) string) {
	fitAddr := func(a *Address) *Address {
		if a == nil {
			return nil
		}
		out := Address{Street: f(a.Street), Building: f(a.Building), Postcode: f(a.Postcode), Town: f(a.Town), Country: a.Country}
		for _, l := range a.Lines {
			out.Lines = append(out.Lines, f(l))
		}
		return &out
	}
	fitParty := func(p *Party) *Party {
		if p == nil {
			return nil
		}
		return &Party{Name: f(p.Name), ID: f(p.ID), Address: fitAddr(p.Address)}
	}
	x.Debtor.Name, x.Debtor.Address = f(x.Debtor.Name), fitAddr(x.Debtor.Address)
	x.Creditor.Name, x.Creditor.Address = f(x.Creditor.Name), fitAddr(x.Creditor.Address)
	x.Remittance, x.Purpose = f(x.Remittance), f(x.Purpose)
	if !strings.HasPrefix(x.CreditorReference, "RF") {
		// an identifier: never transliterated
		x.CreditorReference = strings.NewReplacer("<", "(", ">", ")", "&", "+", `"`, "'").Replace(x.CreditorReference)
	}
	x.UltimateDebtor, x.UltimateCreditor = fitParty(x.UltimateDebtor), fitParty(x.UltimateCreditor)
}

// TestPain001FastMatchesDOM proves the byte writer and the etree
// reference produce the same bytes, for both profiles and the profile
// options that change the document, on edge-case and random payments.
func TestPain001FastMatchesDOM(t *testing.T) {
	mods := []struct {
		name string
		mod  func(*Profile)
	}{
		{"default", func(*Profile) {}},
		{"lines", func(p *Profile) { p.AddressMode = "lines" }},
		{"no addresses", func(p *Profile) { p.AddressMode = "none" }},
		{"budget as purpose", func(p *Profile) { p.BudgetCode.Placement = "purpose_proprietary" }},
		{"budget in remittance", func(p *Profile) { p.BudgetCode.Placement = "additional_remittance" }},
		{"group by", func(p *Profile) { p.GroupBy = []string{"budget_code", "purpose"} }},
		{"service level", func(p *Profile) { p.ServiceLevel, p.ChargeBearer = "SEPA", "SLEV" }},
		{"split", func(p *Profile) { p.Limits.MaxTxPerFile, p.Limits.MaxTxPerPmtInf = 17, 5 }},
		{"sepa transliterated", func(p *Profile) { p.Charset.Allowed, p.Charset.OnInvalid = CharsetSEPA, CharsetTransliterate }},
		{"nothing required", func(p *Profile) { p.Required = nil; p.Currencies = nil }},
		{"indented", func(p *Profile) { p.Indent = true }},
		{"indented, lines, split", func(p *Profile) {
			p.Indent, p.AddressMode, p.Limits.MaxTxPerFile, p.Limits.MaxTxPerPmtInf = true, "lines", 17, 5
		}},
	}
	r := rand.New(rand.NewPCG(8, 20022))
	for _, profile := range []string{"ekase", "iso2019"} {
		for _, m := range mods {
			t.Run(profile+"/"+m.name, func(t *testing.T) {
				p := mustProfile(t, profile)
				m.mod(p)
				inputs := [][]Payment{variedPayments(300), edgePayments(), randomPayments(r, 400, false)}
				if p.Charset.Allowed == CharsetUnicode {
					inputs = append(inputs, unicodePayments(), randomPayments(r, 400, true))
				}
				// The latvian and sepa sets refuse markup characters
				// (the apostrophe excepted; sepa transliterates & and ").
				fit := strings.NewReplacer("<", "(", ">", ")")
				if p.Charset.OnInvalid != CharsetTransliterate {
					fit = strings.NewReplacer("<", "(", ">", ")", "&", "+", `"`, "'")
				}
				for k, pays := range inputs {
					if p.Charset.Allowed != CharsetUnicode {
						for i := range pays {
							fitPayment(&pays[i], fit.Replace)
						}
					}
					if p.BudgetCode.Placement == "purpose_proprietary" {
						for i := range pays {
							if pays[i].BudgetCode != "" {
								pays[i].Purpose = ""
							}
						}
					}
					req := Pain001Request{MsgID: fmt.Sprintf("CMP-%d", k), Now: fixedClock, Payments: pays,
						InitiatingParty: Party{Name: "Init & <Co> 'x'", ID: "ID\"1\""}}
					if p.Charset.Allowed != CharsetUnicode {
						req.InitiatingParty = Party{Name: fit.Replace(req.InitiatingParty.Name), ID: fit.Replace(req.InitiatingParty.ID)}
					}
					if k == 1 {
						req.MsgID = "" // generated MsgId
						req.InitiatingParty = Party{}
					}
					res := encodeBoth(t, p, req)
					if res == nil {
						t.Fatalf("input %d did not encode", k)
					}
				}
			})
		}
	}
}

// TestPain001FastMatchesDOMEmptyParty: a profile that requires no
// creditor name writes an empty <Cdtr/> in both paths.
func TestPain001FastMatchesDOMEmptyParty(t *testing.T) {
	p := mustProfile(t, "iso2019")
	p.Required = nil
	pays := variedPayments(5)
	for i := range pays {
		pays[i].Creditor.Name = ""
	}
	res := encodeBoth(t, p, Pain001Request{MsgID: "EMPTY", Now: fixedClock, Payments: pays})
	if res == nil || !bytes.Contains(res.Files[0].Data, []byte("<Cdtr/>")) {
		t.Fatal("no <Cdtr/> written")
	}
}

// TestAppendEscapedMatchesEtree compares the writer's escaping with
// etree's for text and attributes, including what validation refuses
// (control characters, invalid UTF-8, non-characters).
func TestAppendEscapedMatchesEtree(t *testing.T) {
	cases := []string{"", "plain", "a&b<c>d\"e'f", "&&&", "<<>>", "tab\there", "nl\nand\rcr", "nul\x00x", "bell\x07",
		"del\x7f", "bad utf8 \xff\xfe end", "trunc \xe2\x82", "\uFFFD legit", "\uFFFE\uFFFF non-chars", "surrogate \xed\xa0\x80",
		"astral 😀𝔘", "ĀČĒĢĪĶĻŅŠŪŽāčēģīķļņšūž", strings.Repeat("x&", 300), "]]> cdata end", "\u0085 next line"}
	r := rand.New(rand.NewPCG(1, 2))
	// Bytes around UTF-8's boundaries: lead bytes, continuations,
	// surrogates (ED A0..), U+FFFE/U+FFFF (EF BF BE/BF).
	edges := []byte{0xC0, 0xC1, 0xC2, 0xC4, 0xC5, 0xDF, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0x80, 0x9F, 0xA0, 0xBE, 0xBF, 'a', '&', '<', 0x01}
	for k := range 4000 {
		b := make([]byte, r.IntN(24))
		for i := range b {
			if k%2 == 0 {
				b[i] = byte(r.IntN(256))
			} else {
				b[i] = edges[r.IntN(len(edges))]
			}
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		doc := etree.NewDocument()
		e := doc.CreateElement("T")
		e.CreateAttr("a", s)
		e.SetText(s)
		want, err := doc.WriteToString()
		if err != nil {
			t.Fatal(err)
		}
		w := xmlWriter{}
		tT := newTag("T")
		w.start(tT)
		w.attr("a", s)
		if s == "" {
			w.end(tT)
		} else {
			w.text(tT, s)
		}
		got := strings.TrimPrefix(string(w.b), "\n")
		if s == "" {
			want = `<T a=""/>`
		}
		if got != want {
			t.Errorf("escape(%q) = %q, etree %q", s, got, want)
		}
	}
}

// TestAmountSum checks the uint64 sum against decimalSum, across scales
// and past the uint64 range.
func TestAmountSum(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for k := range 300 {
		var a amountSum
		var d decimalSum
		for range r.IntN(50) + 1 {
			var s string
			switch r.IntN(5) {
			case 0:
				s = fmt.Sprint(r.Uint64())
			case 1:
				s = fmt.Sprintf("%d.%03d", r.IntN(1e6), r.IntN(1000))
			case 2:
				s = fmt.Sprintf("%d.%02d", r.Uint64N(1e16), r.IntN(100))
			case 3:
				s = "0.0001"
			default:
				s = fmt.Sprintf("00%d.5", r.IntN(100))
			}
			if k%7 == 0 {
				s = "9999999999999999.99"
			}
			if k%5 == 0 {
				s = []string{"", ".5", "5.", "1.2.3", "a", "1,5", "-1", "0000000000000000000000001.5", "1e3"}[r.IntN(9)]
			}
			a.add(s)
			d.Add(s)
		}
		if got, want := a.String(), d.String(0); got != want {
			t.Fatalf("amountSum = %s, decimalSum = %s", got, want)
		}
	}
	var z amountSum
	if z.String() != "0" {
		t.Errorf("empty sum = %q, want 0", z.String())
	}
}

// finishBoth finishes w and returns what etree writes for doc in w's
// layout.
func finishBoth(t *testing.T, w *xmlWriter, doc *etree.Document) string {
	t.Helper()
	w.finish()
	if !w.flat {
		doc.Indent(2)
	}
	want, err := doc.WriteToString()
	if err != nil {
		t.Fatal(err)
	}
	return want
}

// TestXMLWriterDeep compares deep nesting (past the indent constant) and
// empty elements with etree's output, indented and flat.
func TestXMLWriterDeep(t *testing.T) {
	for _, flat := range []bool{false, true} {
		doc := etree.NewDocument()
		doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
		e := doc.CreateElement("L0")
		w := xmlWriter{flat: flat}
		w.header()
		w.start(newTag("L0"))
		for i := 1; i < 45; i++ {
			name := fmt.Sprintf("L%d", i)
			e = e.CreateElement(name)
			w.start(newTag(name))
			if i%7 == 0 {
				e.CreateElement("Empty")
				w.start(newTag("Empty"))
				w.end(newTag("Empty"))
				addText(e, "Leaf", "x<y")
				w.leaf(newTag("Leaf"), "x<y")
			}
		}
		for i := 44; i >= 0; i-- {
			w.end(newTag(fmt.Sprintf("L%d", i)))
		}
		if want := finishBoth(t, &w, doc); string(w.b) != want {
			t.Errorf("flat %v:\nwriter:\n%s\netree:\n%s", flat, w.b, want)
		}
	}
}

// TestIsBIC compares the hand-written BIC check with bicRE, and the
// code checks with their regexps.
func TestIsBIC(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	alphabet := "ABNOPZ0129az-"
	cases := []string{"TRELLV22", "HABALV22XXX", "HABALV2", "HABALV22XX", "HABALV1A", "HABALVO2", "HABALV2O", "habalv22"}
	for range 20000 {
		n := []int{7, 8, 9, 11, 12}[r.IntN(5)]
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		if got, want := isBIC(s), bicRE.MatchString(s); got != want {
			t.Errorf("isBIC(%q) = %v, regexp says %v", s, got, want)
		}
		if got, want := isUpperCode(s[:3], 3), currencyRE.MatchString(s[:3]); got != want {
			t.Errorf("isUpperCode(%q, 3) = %v, regexp says %v", s[:3], got, want)
		}
		if got, want := isPurposeCode(s[:4]), purposeRE.MatchString(s[:4]); got != want {
			t.Errorf("isPurposeCode(%q) = %v, regexp says %v", s[:4], got, want)
		}
	}
}

// TestNormalAmount: whatever the fast path accepts, the full
// normalisation returns unchanged.
func TestNormalAmount(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	alphabet := "0000123456789.."
	cases := []string{"0.50", "0.00", "00.50", "12.5", "12.50", "12.500", "1", "1.", ".50", "100", "0", "12.50.", "1234567890123456.78", "12345678901234567.89"}
	for range 50000 {
		b := make([]byte, 1+r.IntN(8))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		for _, ccy := range []string{"EUR", "JPY", "KWD"} {
			fast := normalAmount(s, currencyExponent(ccy), 18)
			got, err := normalizeAmountSlow(s, ccy, 18)
			if fast && (err != nil || got != s) {
				t.Errorf("normalAmount(%q, %s) = true, but normalizeAmount = %q, %v", s, ccy, got, err)
			}
			if !fast && err == nil && got == s {
				t.Logf("slow path only: %q %s", s, ccy)
			}
		}
	}
}

// TestXMLChain compares element chains, written in one piece, with etree
// at every depth (past the precomputed ones too), indented and flat, with
// text that needs escaping and with empty text.
func TestXMLChain(t *testing.T) {
	c := newChain(newTag("A"), newTag("B"), newTag("C"))
	for _, flat := range []bool{false, true} {
		for depth := range tagDepths + 3 {
			for _, text := range []string{"x & <y>", ""} {
				doc := etree.NewDocument()
				e := doc.CreateElement("L0")
				w := xmlWriter{flat: flat}
				w.start(newTag("L0"))
				for i := 1; i <= depth; i++ {
					e = e.CreateElement(fmt.Sprintf("L%d", i))
					w.start(newTag(fmt.Sprintf("L%d", i)))
				}
				addText(e.CreateElement("A").CreateElement("B"), "C", text)
				w.chain(c, text, false)
				for i := depth; i >= 0; i-- {
					w.end(newTag(fmt.Sprintf("L%d", i)))
				}
				want := finishBoth(t, &w, doc)
				// Indented, the root starts on a new line: etree writes
				// no newline before the first element.
				if got := strings.TrimPrefix(string(w.b), "\n"); got != want {
					t.Errorf("flat %v, depth %d, text %q:\nwriter: %s\netree:  %s", flat, depth, text, got, want)
				}
			}
		}
	}
}

// groupKeyRef is the grouping key as the encoder first wrote it.
func (p *Profile) groupKeyRef(x Payment) string {
	var b strings.Builder
	addr := func(a *Address) {
		if a != nil {
			fmt.Fprintf(&b, "%q", *a)
		}
		b.WriteByte(0)
	}
	for _, s := range []string{x.Debtor.Name, x.Debtor.IBAN, x.Debtor.BIC, x.ExecutionDate, x.Currency} {
		b.WriteString(s)
		b.WriteByte(0)
	}
	addr(x.Debtor.Address)
	for _, g := range p.GroupBy {
		switch g {
		case "budget_code":
			b.WriteString(x.BudgetCode)
		case "purpose":
			b.WriteString(x.Purpose)
		}
		b.WriteByte(0)
	}
	return b.String()
}

// TestGroupMatchesReference: the field-comparing grouping makes the same
// PmtInf blocks, in the same order, as grouping by the original key, with
// equal addresses behind different pointers and group_by keys.
func TestGroupMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, groupBy := range [][]string{nil, {"budget_code"}, {"purpose", "budget_code"}} {
		p := mustProfile(t, "iso2019")
		p.GroupBy = groupBy
		pays := make([]Payment, 3000)
		for i := range pays {
			x := &pays[i]
			x.ID = fmt.Sprint(i)
			x.Debtor = Account{Name: []string{"A", "B", "A "}[r.IntN(3)], IBAN: []string{"LV1", "LV2"}[r.IntN(2)], BIC: []string{"", "X"}[r.IntN(2)]}
			switch r.IntN(4) {
			case 1:
				x.Debtor.Address = &Address{Town: "Rīga", Country: "LV"}
			case 2:
				x.Debtor.Address = &Address{Town: "Rīga", Country: "LV", Lines: []string{"a"}}
			case 3:
				x.Debtor.Address = &Address{Lines: []string{"a", []string{"b", ""}[r.IntN(2)]}}
			}
			x.ExecutionDate = []string{"2026-01-01", "2026-01-02"}[r.IntN(2)]
			x.Currency = []string{"EUR", "USD"}[r.IntN(2)]
			x.BudgetCode = []string{"", "1", "2"}[r.IntN(3)]
			x.Purpose = []string{"", "SALA"}[r.IntN(2)]
		}
		var want [][]string
		idx := map[string]int{}
		for _, x := range pays {
			k := p.groupKeyRef(x)
			i, ok := idx[k]
			if !ok {
				i = len(want)
				idx[k] = i
				want = append(want, nil)
			}
			want[i] = append(want[i], x.ID)
		}
		var got [][]string
		for _, g := range p.group(pays) {
			var ids []string
			for _, x := range g {
				ids = append(ids, x.ID)
			}
			got = append(got, ids)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("group_by %v: %d groups, reference %d (or members differ)", groupBy, len(got), len(want))
		}
	}
}

// TestMod97 compares mod97 with the number written out in math/big.
func TestMod97(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	alphabet := "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	for range 5000 {
		b := make([]byte, 1+r.IntN(40))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		var digits strings.Builder
		for _, c := range b {
			if c <= '9' {
				digits.WriteByte(c)
			} else {
				fmt.Fprint(&digits, int(c-'A')+10)
			}
		}
		n, _ := new(big.Int).SetString(digits.String(), 10)
		want := int(new(big.Int).Mod(n, big.NewInt(97)).Int64())
		if got, ok := mod97(string(b)); !ok || got != want {
			t.Fatalf("mod97(%s) = %d, %v; want %d", b, got, ok, want)
		}
	}
	if _, ok := mod97("12a4"); ok {
		t.Error("mod97 accepted a lower-case letter")
	}
}

// TestAllRunes compares the charset scan with allowedRune rune by rune.
func TestAllRunes(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	pieces := []string{"a", "Z", "0", " ", "'", "&", "\t", "\x7f", "Ā", "ž", "Ž", "ą", "Ė", "ő", "Ĳ", "ſ", "ĀČĒ", "😀", "\uFFFD", "\xc4", "\xc5\x80", "\xc4\x41", "Ω", "\u00a0"}
	for range 20000 {
		var b strings.Builder
		for range r.IntN(6) {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		s := b.String()
		for _, set := range []string{CharsetSEPA, CharsetLatvian, CharsetUnicode} {
			want := true
			for _, c := range s {
				if !allowedRune(set, c) {
					want = false
				}
			}
			if got := allRunes(set, s); got != want {
				t.Fatalf("allRunes(%s, %q) = %v, want %v", set, s, got, want)
			}
		}
	}
}

// TestFileSizer checks the buffer estimate: the first file of a layout is
// sized on the default bytes a transaction, later ones on the last file of
// at least learnMinTx transactions, 1/16 more; a file that outgrows its
// estimate (longer payments after short ones) still matches the etree
// reference.
func TestFileSizer(t *testing.T) {
	s := fileSizer{firstTry: 640}
	if got, want := s.capacity(1000), 4096+1000*640+1000*640/16; got != want {
		t.Fatalf("capacity before learning %d, want %d", got, want)
	}
	s.learn(437_001, 1000)
	if got, want := s.capacity(1000), 4096+1000*438+1000*438/16; got != want {
		t.Fatalf("capacity after a 437,001-byte file of 1,000 transactions: %d, want %d", got, want)
	}
	s.learn(100_000, learnMinTx-1)
	if got := s.perTx.Load(); got != 438 {
		t.Fatalf("a file of %d transactions changed the estimate to %d", learnMinTx-1, got)
	}

	saved := [2]int64{fileSizers[0].perTx.Load(), fileSizers[1].perTx.Load()}
	t.Cleanup(func() { fileSizers[0].perTx.Store(saved[0]); fileSizers[1].perTx.Store(saved[1]) })
	for _, indent := range []bool{false, true} {
		p := mustProfile(t, "ekase")
		p.Indent = indent
		req := Pain001Request{MsgID: "SIZED", Now: fixedClock, Payments: variedPayments(2000)}
		encodeBoth(t, p, req)
		res := encodeBoth(t, p, req)
		data := res.Files[0].Data
		// The estimate rounds a transaction's bytes up, and the runtime
		// rounds a large allocation up to its 8 KiB pages.
		if limit := 4096 + len(data) + len(data)/16 + 2*2000 + 8192; cap(data) > limit || cap(data) < len(data) {
			t.Errorf("indent %v: a file of %d bytes written into %d bytes of capacity, want %d to %d (sized on the file before)",
				indent, len(data), cap(data), len(data), limit)
		}
		long := variedPayments(500)
		for i := range long {
			long[i].Remittance = strings.Repeat("Garš maksājuma mērķis ", 6)
			long[i].Creditor.Address = &Address{Street: "Krišjāņa Valdemāra iela", Building: "123", Postcode: "LV-1010", Town: "Rīga", Country: "LV"}
		}
		estimate := sizerFor(indent).capacity(len(long))
		res = encodeBoth(t, p, Pain001Request{MsgID: "LONGER", Now: fixedClock, Payments: long})
		if data := res.Files[0].Data; len(data) <= estimate {
			t.Errorf("indent %v: the longer payments took %d bytes, no more than the estimate %d: the test does not grow the buffer", indent, len(data), estimate)
		}
	}
}
