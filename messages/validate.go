package messages

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Field limits of a payment intent, in characters (Unicode code points, so
// "ā" counts once). They follow the ISO 20022 pain.001 types the fields
// become: Max35Text, Max70Text, Max140Text, Max16Text.
const (
	MaxIDLength         = 35  // id, ultimate party id, creditor_reference (Max35Text)
	MaxNameLength       = 140 // party names (Max140Text)
	MaxRemittanceLength = 140 // unstructured remittance (Max140Text)
	MaxAmountDigits     = 18  // ActiveOrHistoricCurrencyAndAmount totalDigits
	MaxAddressLines     = 7   // AdrLine occurs at most 7 times
)

// Validate checks every field rule of a payment intent and returns a
// [ValidationErrors] listing each problem, or nil. It does not see the JSON
// the intent came from: unknown fields, duplicate keys and JSON types are
// checked by [ParseIntent], which calls Validate. An absent Type or Version
// (zero value) means "pay.intent" version 1.
func (p *PaymentIntent) Validate() error {
	var c checker
	if p.Type != "" && p.Type != TypePaymentIntent {
		c.add("type", fmt.Sprintf("must be %q when present", TypePaymentIntent))
	}
	if p.Version != 0 && p.Version != Version1 {
		c.add("version", fmt.Sprintf("unsupported version %d, this gateway reads version %d", p.Version, Version1))
	}
	if c.text("id", p.ID, MaxIDLength, true) {
		if strings.TrimSpace(p.ID) != p.ID {
			c.add("id", "must not start or end with spaces")
		}
	}
	c.account("debtor", &p.Debtor)
	c.account("creditor", &p.Creditor)

	// The currency decides the amount's decimal places: check it first,
	// report it second (field order).
	currencyErr := "required"
	if p.Currency != "" {
		currencyErr = ""
		if err := checkCurrency(p.Currency); err != nil {
			currencyErr = err.Error()
		}
	}
	minor, known := CurrencyMinorUnits(p.Currency)
	if p.Amount == "" {
		c.add("amount", "required")
	} else if err := checkAmount(p.Amount, p.Currency, minor, known); err != nil {
		c.add("amount", err.Error())
	}
	if currencyErr != "" {
		c.add("currency", currencyErr)
	}

	if p.ExecutionDate != "" {
		if err := checkDate(p.ExecutionDate); err != nil {
			c.add("execution_date", err.Error())
		}
	}
	c.text("remittance", p.Remittance, MaxRemittanceLength, false)
	if c.text("creditor_reference", p.CreditorReference, MaxIDLength, false) && strings.HasPrefix(p.CreditorReference, "RF") {
		if err := checkRF(p.CreditorReference); err != nil {
			c.add("creditor_reference", err.Error())
		}
	}
	if p.Purpose != "" && !isPurposeCode(p.Purpose) {
		c.add("purpose", "must be an ISO 20022 purpose code: 1 to 4 upper-case letters or digits, such as SUPP")
	}
	c.party("ultimate_debtor", p.UltimateDebtor)
	c.party("ultimate_creditor", p.UltimateCreditor)
	if p.BudgetCode != "" && !isBudgetCode(p.BudgetCode) {
		c.add("budget_code", "must be 1 to 35 letters, digits, points or hyphens")
	}
	if p.Profile != "" && !isProfileName(p.Profile) {
		c.add("profile", "must be 1 to 32 lower-case letters, digits, hyphens or underscores, such as ekase")
	}
	return c.err()
}

// checker collects field errors.
type checker struct{ errs ValidationErrors }

func (c *checker) add(field, reason string) {
	c.errs = append(c.errs, FieldError{Field: field, Reason: reason})
}

func (c *checker) err() error {
	if len(c.errs) == 0 {
		return nil
	}
	return c.errs
}

// text checks a free-text field: presence when required, not blank, at most
// max characters, no control characters. It reports whether s is non-empty
// and passed.
func (c *checker) text(field, s string, max int, required bool) bool {
	if s == "" {
		if required {
			c.add(field, "required")
		}
		return false
	}
	ok := true
	if strings.TrimSpace(s) == "" {
		c.add(field, "must not be blank")
		ok = false
	}
	if n := utf8.RuneCountInString(s); n > max {
		c.add(field, fmt.Sprintf("at most %d characters, got %d", max, n))
		ok = false
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		c.add(field, "must not contain control characters (tabs, line breaks and the like)")
		ok = false
	}
	return ok
}

func (c *checker) account(field string, a *Account) {
	if a.Name == "" && a.IBAN == "" && a.BIC == "" && a.Address == nil {
		c.add(field, "required: an object with name and iban")
		return
	}
	c.text(field+".name", a.Name, MaxNameLength, true)
	if a.IBAN == "" {
		c.add(field+".iban", "required")
	} else if err := ValidIBAN(a.IBAN); err != nil {
		c.add(field+".iban", err.Error())
	}
	if a.BIC != "" {
		if err := ValidBIC(a.BIC); err != nil {
			c.add(field+".bic", err.Error())
		}
	}
	c.address(field+".address", a.Address)
}

func (c *checker) party(field string, p *Party) {
	if p == nil {
		return
	}
	c.text(field+".name", p.Name, MaxNameLength, true)
	c.text(field+".id", p.ID, MaxIDLength, false)
	c.address(field+".address", p.Address)
}

// Address field limits (ISO 20022 PostalAddress6/24).
const (
	maxStreet   = 70
	maxBuilding = 16
	maxPostcode = 16
	maxTown     = 35
	maxLine     = 70
)

func (c *checker) address(field string, a *Address) {
	if a == nil {
		return
	}
	c.text(field+".street", a.Street, maxStreet, false)
	c.text(field+".building", a.Building, maxBuilding, false)
	c.text(field+".postcode", a.Postcode, maxPostcode, false)
	c.text(field+".town", a.Town, maxTown, false)
	if a.Country != "" {
		switch {
		case !isCountryShape(a.Country):
			c.add(field+".country", "must be an ISO 3166-1 alpha-2 country code: two upper-case letters, such as LV")
		case !KnownCountry(a.Country):
			c.add(field+".country", fmt.Sprintf("unknown country code %s (not in ISO 3166-1)", a.Country))
		}
	}
	if n := len(a.Lines); n > MaxAddressLines {
		c.add(field+".lines", fmt.Sprintf("at most %d lines, got %d", MaxAddressLines, n))
	}
	for i, l := range a.Lines {
		f := fmt.Sprintf("%s.lines[%d]", field, i)
		if l == "" {
			c.add(f, "must not be empty")
			continue
		}
		c.text(f, l, maxLine, true)
	}
}

// ValidIBAN checks an IBAN in electronic format (upper case, no spaces):
// two letters of a country in the SWIFT IBAN registry, two check digits,
// then letters and digits up to that country's IBAN length, and the ISO
// 7064 mod-97 check (the remainder must be 1). The error says which rule
// failed.
func ValidIBAN(s string) error {
	switch {
	case s == "":
		return errors.New("required")
	case strings.ContainsAny(s, " \t"):
		return errors.New("must be written without spaces (electronic format, such as LV80BANK0000435195001)")
	case strings.ToUpper(s) != s:
		return errors.New("must be upper case (electronic format, such as LV80BANK0000435195001)")
	case !isIBANShape(s):
		return errors.New("must be two letters, two check digits, then letters and digits only")
	}
	want, ok := IBANLength(s[:2])
	if !ok {
		return fmt.Errorf("country %s does not use IBANs (not in the SWIFT IBAN registry)", s[:2])
	}
	if len(s) != want {
		return fmt.Errorf("%s IBANs have %d characters, got %d", s[:2], want, len(s))
	}
	if mod97(s[4:]+s[:4]) != 1 {
		return errors.New("check digits do not match (mod 97)")
	}
	// Check digits 00, 01 and 99 pass mod 97 when another pair would, but
	// ISO 13616 only issues 02 to 98.
	if cd := s[2:4]; cd == "00" || cd == "01" || cd == "99" {
		return fmt.Errorf("check digits %s are never issued (ISO 13616 uses 02 to 98)", cd)
	}
	return nil
}

// mod97 returns the ISO 7064 MOD 97-10 remainder of s, a string of digits
// and upper-case letters, reading each letter as two digits (A = 10 … Z = 35).
func mod97(s string) int {
	r := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			r = (r*10 + int(c-'0')) % 97
		case c >= 'A' && c <= 'Z':
			r = (r*100 + int(c-'A'+10)) % 97
		}
	}
	return r
}

// ValidBIC checks a BIC (ISO 9362): 8 or 11 upper-case characters, four
// letters for the bank, an ISO 3166 country code, two letters or digits for
// the location and an optional three-character branch code.
func ValidBIC(s string) error {
	if n := utf8.RuneCountInString(s); n != 8 && n != 11 {
		return fmt.Errorf("must be 8 or 11 characters, got %d", n)
	}
	if strings.ToUpper(s) != s {
		return errors.New("must be upper case, such as HABALV22")
	}
	if !isBICShape(s) {
		return errors.New("must be 4 letters (bank), 2 letters (country), 2 letters or digits (location) and an optional 3-character branch, such as HABALV22")
	}
	if !KnownCountry(s[4:6]) {
		return fmt.Errorf("unknown country code %s in positions 5-6", s[4:6])
	}
	return nil
}

// ValidAmount checks an amount in the given currency: a decimal string
// ("1234.50") with no sign, exponent, spaces or leading zeros, greater than
// zero, with at most as many decimal places as the currency's ISO 4217
// minor unit and at most 18 digits. The currency must be an active ISO 4217
// code.
func ValidAmount(amount, currency string) error {
	if err := checkCurrency(currency); err != nil {
		return fmt.Errorf("currency: %w", err)
	}
	minor, _ := CurrencyMinorUnits(currency)
	return checkAmount(amount, currency, minor, true)
}

func checkCurrency(code string) error {
	if !isCurrencyCode(code) {
		if _, ok := CurrencyMinorUnits(strings.ToUpper(code)); ok {
			return fmt.Errorf("must be upper case: %s", strings.ToUpper(code))
		}
		return errors.New("must be an ISO 4217 code: three upper-case letters, such as EUR")
	}
	if _, ok := CurrencyMinorUnits(code); !ok {
		return fmt.Errorf("unknown currency %s (not an active ISO 4217 code)", code)
	}
	return nil
}

// checkAmount checks the amount; known false (the currency is not an active
// ISO 4217 code, reported on its own) skips the decimal places rule.
func checkAmount(amount, currency string, minor int, known bool) error {
	const like = "must be a decimal string like 1234.50"
	if !isAmount(amount) {
		switch {
		case amount == "":
			return errors.New("required")
		case strings.ContainsAny(amount, "+-"):
			return errors.New(like + ", without a sign")
		case strings.ContainsAny(amount, "eE"):
			return errors.New(like + ", without an exponent")
		case strings.ContainsAny(amount, " \t\n\r\u00a0"):
			return errors.New(like + ", without spaces")
		case strings.Contains(amount, ","):
			return errors.New(like + ", with a point as the decimal separator and no thousands separators")
		default:
			return errors.New(like + ": digits, then optionally a point and more digits")
		}
	}
	intPart, frac, _ := strings.Cut(amount, ".")
	if len(intPart) > 1 && intPart[0] == '0' {
		return errors.New("must not have leading zeros")
	}
	if n := len(intPart) + len(frac); n > MaxAmountDigits {
		return fmt.Errorf("at most %d digits in total, got %d", MaxAmountDigits, n)
	}
	if strings.Trim(intPart+frac, "0") == "" {
		return errors.New("must be greater than 0")
	}
	if known && len(frac) > minor {
		if minor == 0 {
			return fmt.Errorf("%s allows no decimal places", currency)
		}
		return fmt.Errorf("%s allows at most %d decimal places", currency, minor)
	}
	return nil
}

func checkDate(s string) error {
	if !isDateShape(s) {
		return errors.New("must be a date written YYYY-MM-DD, such as 2026-11-30")
	}
	if _, err := time.Parse(time.DateOnly, s); err != nil {
		return fmt.Errorf("%s is not a calendar date", s)
	}
	return nil
}

// checkRF checks an ISO 11649 structured creditor reference: "RF", two
// check digits and 1 to 21 letters or digits, with mod 97 = 1.
func checkRF(s string) error {
	if !isRFShape(s) {
		return errors.New("an RF creditor reference must be RF, two check digits and 1 to 21 upper-case letters or digits (ISO 11649)")
	}
	if mod97(s[4:]+s[:4]) != 1 {
		return errors.New("RF check digits do not match (ISO 11649, mod 97)")
	}
	return nil
}

// ComposeIBAN returns the IBAN of country (two capitals) and bban (digits
// and capitals), computing its check digits (ISO 13616, mod 97-10). It does
// not check the country's length; [ValidIBAN] does.
func ComposeIBAN(country, bban string) string {
	return fmt.Sprintf("%s%02d%s", country, 98-mod97(bban+country+"00"), bban)
}
