package xmlcodec

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// A Payment is one credit transfer to encode. It mirrors the v1 payment
// intent event field for field (the gateway converts one into the other);
// ID becomes the EndToEndId. Amount is a decimal string, never a float.
type Payment struct {
	ID                string
	Debtor            Account
	Creditor          Account
	Amount            string
	Currency          string
	ExecutionDate     string // YYYY-MM-DD; empty = the clock's date
	Remittance        string // unstructured remittance (Ustrd)
	CreditorReference string // ISO 11649 "RF…" reference (Strd/CdtrRefInf), or another creditor reference
	Purpose           string // ExternalPurpose1Code (4 capitals) or a proprietary purpose
	UltimateDebtor    *Party
	UltimateCreditor  *Party
	BudgetCode        string // budget/economic classification code (Latvian EKK)
}

// An Account is a party with the account money leaves from or goes to.
type Account struct {
	Name    string
	IBAN    string
	BIC     string
	Address *Address
}

// A Party is an ultimate debtor or creditor.
type Party struct {
	Name    string
	ID      string // organisation id, sent as Id/OrgId/Othr/Id
	Address *Address
}

// An Address is a postal address; see Profile.AddressMode.
type Address struct {
	Street   string
	Building string
	Postcode string
	Town     string
	Country  string
	Lines    []string
}

// validator collects the field errors and transliterations of one batch.
type validator struct {
	p       *Profile
	errs    ValidationErrors
	changes []Change
	index   int
	id      string
	// memo caches the outcome of pure checks of values that repeat in a
	// batch (debtor IBANs, dates, budget codes): key kind+value, value the
	// problem found ("" when none). Bounded by memoMax.
	memo map[string]string
	// recent holds the last memoized outcomes, checked before memo.
	recent     [4]memoEntry
	recentNext int
	// debtors remembers debtor accounts validated without a problem or a
	// change: a batch has a few debtors and many payments.
	debtors     [4]debtorMemo
	debtorsNext int
	// addrs remembers addresses validated without a problem or a change,
	// by input pointer: a batch repeats its debtors' addresses.
	addrs map[*Address]*Address
}

const memoMax = 256

type memoEntry struct {
	kind   byte
	s, why string
}

// memoized returns check(s), remembered per kind and value.
func (v *validator) memoized(kind byte, s string, check func(string) string) string {
	for i := range v.recent {
		if e := &v.recent[i]; e.kind == kind && e.s == s {
			return e.why
		}
	}
	why := v.memoizedMap(kind, s, check)
	v.recent[v.recentNext] = memoEntry{kind: kind, s: s, why: why}
	v.recentNext = (v.recentNext + 1) % len(v.recent)
	return why
}

func (v *validator) memoizedMap(kind byte, s string, check func(string) string) string {
	if len(s) > 64 {
		return check(s)
	}
	var kb [65]byte
	kb[0] = kind
	key := kb[:1+copy(kb[1:], s)]
	if why, ok := v.memo[string(key)]; ok {
		return why
	}
	why := check(s)
	if v.memo == nil {
		v.memo = make(map[string]string)
	}
	if len(v.memo) < memoMax {
		v.memo[string(key)] = why
	}
	return why
}

func (v *validator) fail(field, format string, a ...any) {
	v.errs = append(v.errs, FieldError{Index: v.index, ID: v.id, Field: field, Reason: fmt.Sprintf(format, a...)})
}

// text checks a free-text field: charset (transliterating under that
// policy), then length in characters. It returns the value to encode.
func (v *validator) text(field, s string, max int) string { return v.textIn("", field, s, max) }

// textIn is text for the field prefix+field, joined only when reported.
func (v *validator) textIn(prefix, field, s string, max int) string {
	if s == "" {
		return s
	}
	out, bad := fitCharset(v.p.Charset.Allowed, v.p.Charset.OnInvalid, s)
	if len(bad) > 0 {
		v.fail(prefix+field, "characters not allowed by charset %q: %s", v.p.Charset.Allowed, quoteRunes(bad))
		return s
	}
	if out != s {
		v.changes = append(v.changes, Change{ID: v.id, Field: prefix + field, From: s, To: out})
	}
	// Each rune takes at least one byte: no count needed when short enough.
	if len(out) > max {
		if n := utf8.RuneCountInString(out); n > max {
			v.fail(prefix+field, "%d characters, at most %d allowed", n, max)
		}
	}
	if blank(out) {
		v.fail(prefix+field, "blank")
	}
	return out
}

// blank reports whether strings.TrimSpace(s) == "", quickly when s starts
// with a visible ASCII character.
func blank(s string) bool {
	if s != "" && s[0] > ' ' && s[0] < utf8.RuneSelf {
		return false
	}
	return strings.TrimSpace(s) == ""
}

// ident checks an identifier: never transliterated (it is a key).
func (v *validator) ident(field, s string, max int) {
	if _, bad := fitCharset(v.p.Charset.Allowed, CharsetReject, s); len(bad) > 0 {
		v.fail(field, "characters not allowed by charset %q: %s", v.p.Charset.Allowed, quoteRunes(bad))
	}
	if len(s) > max {
		if n := utf8.RuneCountInString(s); n > max {
			v.fail(field, "%d characters, at most %d allowed", n, max)
		}
	}
	if s == "" || s[0] <= ' ' || s[len(s)-1] <= ' ' || s[0] >= utf8.RuneSelf || s[len(s)-1] >= utf8.RuneSelf {
		if strings.TrimSpace(s) != s || s == "" {
			v.fail(field, "empty or with leading/trailing spaces")
		}
	}
}

// quoteRunes lists the distinct runes of rs, at most five.
func quoteRunes(rs []rune) string {
	var b strings.Builder
	seen := map[rune]bool{}
	for _, r := range rs {
		if seen[r] {
			continue
		}
		if len(seen) == 5 {
			b.WriteString(", …")
			break
		}
		if len(seen) > 0 {
			b.WriteString(", ")
		}
		seen[r] = true
		fmt.Fprintf(&b, "%q (U+%04X)", r, r)
	}
	return b.String()
}

func (v *validator) address(field string, a *Address) *Address {
	if a == nil || v.p.AddressMode == "none" {
		return nil
	}
	if out, ok := v.addrs[a]; ok {
		return out
	}
	nErrs, nChanges := len(v.errs), len(v.changes)
	out := v.checkAddress(field, a)
	if len(v.errs) == nErrs && len(v.changes) == nChanges && len(v.addrs) < memoMax {
		if v.addrs == nil {
			v.addrs = make(map[*Address]*Address)
		}
		v.addrs[a] = out
	}
	return out
}

// addressField names the address of a party without concatenating.
func addressField(party string) string {
	switch party {
	case "debtor":
		return "debtor.address"
	case "creditor":
		return "creditor.address"
	case "ultimate_debtor":
		return "ultimate_debtor.address"
	case "ultimate_creditor":
		return "ultimate_creditor.address"
	}
	return party + ".address"
}

func (v *validator) checkAddress(field string, a *Address) *Address {
	out := Address{
		Street:   v.textIn(field, ".street", a.Street, 70),
		Building: v.textIn(field, ".building", a.Building, 16),
		Postcode: v.textIn(field, ".postcode", a.Postcode, 16),
		Town:     v.textIn(field, ".town", a.Town, 35),
		Country:  a.Country,
	}
	if a.Country != "" && !isUpperCode(a.Country, 2) {
		v.fail(field+".country", "not an ISO 3166 alpha-2 code")
	}
	for i, l := range a.Lines {
		out.Lines = append(out.Lines, v.textIn(field, lineField(i), l, 70))
	}
	if v.p.AddressMode == "lines" {
		var lines []string
		if s := strings.TrimSpace(out.Street + " " + out.Building); s != "" {
			lines = append(lines, s)
		}
		if s := strings.TrimSpace(out.Postcode + " " + out.Town); s != "" {
			lines = append(lines, s)
		}
		lines = append(lines, out.Lines...)
		for i, l := range lines {
			if utf8.RuneCountInString(l) > 70 {
				v.fail(fmt.Sprintf("%s.lines[%d]", field, i), "address line over 70 characters")
			}
		}
		out = Address{Country: out.Country, Lines: lines}
	}
	if len(out.Lines) > 7 {
		v.fail(field+".lines", "%d address lines, at most 7 allowed", len(out.Lines))
	}
	if out.Street == "" && out.Building == "" && out.Postcode == "" && out.Town == "" && out.Country == "" && len(out.Lines) == 0 {
		return nil
	}
	return &out
}

type debtorMemo struct {
	in, out Account
	ok      bool
}

// debtorAccount is account(field, a, true), remembered for the last few
// debtors when it found nothing to report.
func (v *validator) debtorAccount(a Account) Account {
	for i := range v.debtors {
		m := &v.debtors[i]
		if m.ok && m.in.Name == a.Name && m.in.IBAN == a.IBAN && m.in.BIC == a.BIC && m.in.Address == a.Address {
			return m.out
		}
	}
	nErrs, nChanges := len(v.errs), len(v.changes)
	out := v.account("debtor", a, true)
	if len(v.errs) == nErrs && len(v.changes) == nChanges {
		v.debtors[v.debtorsNext] = debtorMemo{in: a, out: out, ok: true}
		v.debtorsNext = (v.debtorsNext + 1) % len(v.debtors)
	}
	return out
}

func (v *validator) account(field string, a Account, debtor bool) Account {
	out := Account{Name: v.textIn(field, ".name", a.Name, v.p.Limits.NameMax), IBAN: a.IBAN, BIC: a.BIC}
	if a.IBAN != "" {
		var why string
		if debtor {
			why = v.memoized('D', a.IBAN, v.checkDebtorIBAN)
		} else {
			why = checkIBAN(a.IBAN)
		}
		if why != "" {
			v.fail(field+".iban", "%s", why)
		}
	} else {
		v.fail(field+".iban", "required (credit transfers need an account)")
	}
	if a.BIC != "" {
		if why := checkBIC(a.BIC); why != "" {
			v.fail(field+".bic", "%s", why)
		}
	}
	if debtor && v.p.Debtor.BIC != "" {
		if a.BIC == "" {
			out.BIC = v.p.Debtor.BIC
		} else if a.BIC != v.p.Debtor.BIC {
			v.fail(field+".bic", "profile %s requires debtor BIC %s", v.p.Name, v.p.Debtor.BIC)
		}
	}
	if a.Address != nil {
		out.Address = v.address(addressField(field), a.Address)
	}
	return out
}

var lineFields = [...]string{".lines[0]", ".lines[1]", ".lines[2]", ".lines[3]", ".lines[4]", ".lines[5]", ".lines[6]", ".lines[7]"}

// lineField is ".lines[i]", without formatting for the usual few lines.
func lineField(i int) string {
	if i < len(lineFields) {
		return lineFields[i]
	}
	return fmt.Sprintf(".lines[%d]", i)
}

// checkDebtorIBAN checks a debtor IBAN and the profile's pattern.
func (v *validator) checkDebtorIBAN(iban string) string {
	if why := checkIBAN(iban); why != "" {
		return why
	}
	if v.p.ibanRE != nil && !v.p.ibanRE.MatchString(iban) {
		return "profile " + v.p.Name + " requires a debtor IBAN matching " + v.p.Debtor.IBANPattern
	}
	return ""
}

func checkDate(s string) string {
	if _, err := time.Parse("2006-01-02", s); err != nil || !dateRE.MatchString(s) {
		return "not a date (YYYY-MM-DD)"
	}
	return ""
}

func (v *validator) party(field string, p *Party) *Party {
	if p == nil {
		return nil
	}
	out := &Party{Name: v.textIn(field, ".name", p.Name, v.p.Limits.NameMax)}
	if p.Name == "" {
		v.fail(field+".name", "required when %s is given", field)
	}
	if p.ID != "" {
		out.ID = v.textIn(field, ".id", p.ID, 35)
	}
	if p.Address != nil {
		out.Address = v.address(addressField(field), p.Address)
	}
	return out
}

// ValidatePayments checks payments against the profile and returns them
// ready to encode (amounts normalised to the currency's minor units, text
// transliterated under that charset policy, the profile's debtor BIC filled
// in), every transliteration made, and every problem found. It never
// rewrites silently: a change is either reported in changes or refused.
func (p *Profile) ValidatePayments(payments []Payment) (out []Payment, changes []Change, err error) {
	v := &validator{p: p}
	seen := make(map[string]int, len(payments))
	out = make([]Payment, len(payments))
	for i := range payments {
		in := &payments[i]
		v.index, v.id = i, in.ID
		v.ident("id", in.ID, 35)
		if j, dup := seen[in.ID]; dup && in.ID != "" {
			v.fail("id", "duplicate of payment %d: an EndToEndId is paid once", j)
		}
		seen[in.ID] = i
		o := &out[i] // filled in place, field by field: a Payment is large, and out is zeroed already
		o.ID, o.Currency, o.ExecutionDate = in.ID, in.Currency, in.ExecutionDate
		if !isUpperCode(in.Currency, 3) {
			v.fail("currency", "not an ISO 4217 code")
		} else if len(p.Currencies) > 0 && !contains(p.Currencies, in.Currency) {
			v.fail("currency", "profile %s allows %s", p.Name, strings.Join(p.Currencies, ", "))
		}
		amt, aerr := normalizeAmount(in.Amount, in.Currency, 18)
		if aerr != nil {
			v.fail("amount", "%q %v", in.Amount, aerr)
		}
		o.Amount = amt
		if in.ExecutionDate != "" {
			if why := v.memoized('T', in.ExecutionDate, checkDate); why != "" {
				v.fail("execution_date", "%s", why)
			}
		}
		o.Debtor = v.debtorAccount(in.Debtor)
		o.Creditor = v.account("creditor", in.Creditor, false)
		o.Remittance = v.text("remittance", in.Remittance, p.Limits.RemittanceMax)
		if in.CreditorReference != "" {
			if strings.HasPrefix(in.CreditorReference, "RF") {
				if why := checkCreditorReference(in.CreditorReference); why != "" {
					v.fail("creditor_reference", "%s", why)
				}
			}
			o.CreditorReference = in.CreditorReference
			v.ident("creditor_reference", in.CreditorReference, 35)
		}
		if in.Purpose != "" {
			if isPurposeCode(in.Purpose) {
				o.Purpose = in.Purpose
			} else {
				o.Purpose = v.text("purpose", in.Purpose, 35)
			}
		}
		if in.BudgetCode != "" {
			o.BudgetCode = v.text("budget_code", in.BudgetCode, 35)
			if p.budgetRE != nil && v.memoized('B', in.BudgetCode, p.checkBudgetCode) != "" {
				v.fail("budget_code", "does not match %s", p.BudgetCode.Pattern)
			}
			if p.BudgetCode.Placement == "purpose_proprietary" && in.Purpose != "" {
				v.fail("purpose", "profile %s sends the budget code as Purp/Prtry: purpose must be empty", p.Name)
			}
		}
		o.UltimateDebtor = v.party("ultimate_debtor", in.UltimateDebtor)
		o.UltimateCreditor = v.party("ultimate_creditor", in.UltimateCreditor)
		for _, f := range p.Required {
			if !present(in, f) {
				v.fail(f, "required by profile %s", p.Name)
			}
		}
	}
	if len(v.errs) > 0 {
		return nil, v.changes, v.errs
	}
	return out, v.changes, nil
}

func (p *Profile) checkBudgetCode(s string) string {
	if !p.budgetRE.MatchString(s) {
		return "no match"
	}
	return ""
}

func present(p *Payment, field string) bool {
	switch field {
	case "debtor.name":
		return p.Debtor.Name != ""
	case "debtor.iban":
		return p.Debtor.IBAN != ""
	case "debtor.bic":
		return p.Debtor.BIC != ""
	case "creditor.name":
		return p.Creditor.Name != ""
	case "creditor.iban":
		return p.Creditor.IBAN != ""
	case "creditor.bic":
		return p.Creditor.BIC != ""
	case "creditor.address":
		return p.Creditor.Address != nil
	case "remittance":
		return p.Remittance != ""
	case "purpose":
		return p.Purpose != ""
	case "budget_code":
		return p.BudgetCode != ""
	case "execution_date":
		return p.ExecutionDate != ""
	case "creditor_reference":
		return p.CreditorReference != ""
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
