package xmlcodec

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ibanLengths is the IBAN length per country (SWIFT IBAN registry).
var ibanLengths = map[string]int{
	"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
	"BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
	"EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
	"GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
	"IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21,
	"LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28,
	"NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22,
	"RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
	"SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}

// ibanLengthTable is ibanLengths indexed by the two letters (0: unknown),
// so checking an IBAN needs no map lookup.
var ibanLengthTable = func() (t [26 * 26]uint8) {
	for cc, n := range ibanLengths {
		t[int(cc[0]-'A')*26+int(cc[1]-'A')] = uint8(n)
	}
	return t
}()

func ibanLength(cc string) (int, bool) {
	if len(cc) != 2 || cc[0] < 'A' || cc[0] > 'Z' || cc[1] < 'A' || cc[1] > 'Z' {
		return 0, false
	}
	n := ibanLengthTable[int(cc[0]-'A')*26+int(cc[1]-'A')]
	return int(n), n != 0
}

// mod97 computes the ISO 7064 MOD 97-10 remainder of s, where letters count
// as 10..35 (IBAN and ISO 11649 check digits). ok is false on any other
// character.
func mod97(s string) (rem int, ok bool) { return mod97From(0, s) }

// mod97From continues a MOD 97-10 computation from rem (so a rotated IBAN
// needs no concatenation).
func mod97From(rem int, s string) (int, bool) {
	// Reduce only when the accumulator nears 2^50: 100× that still fits.
	r := uint64(rem)
	for i := 0; i < len(s); i++ {
		c := s[i]
		m := mod97Mul[c]
		if m == 0 {
			return 0, false
		}
		r = r*uint64(m) + uint64(mod97Val[c])
		if r >= 1<<50 {
			r %= 97
		}
	}
	return int(r % 97), true
}

// mod97Mul and mod97Val give, per byte, what appending it does to the
// number: × 10 + digit, × 100 + letter value (A = 10 … Z = 35), or 0 for
// a byte mod97 refuses.
var mod97Mul, mod97Val = func() (mul, val [256]uint8) {
	for c := '0'; c <= '9'; c++ {
		mul[c], val[c] = 10, uint8(c-'0')
	}
	for c := 'A'; c <= 'Z'; c++ {
		mul[c], val[c] = 100, uint8(c-'A'+10)
	}
	return mul, val
}()

// checkIBAN returns why iban is not a valid IBAN, or "" if it is. It expects
// the electronic form: upper case, no spaces.
func checkIBAN(iban string) string {
	if len(iban) < 5 {
		return "too short for an IBAN"
	}
	cc := iban[:2]
	want, ok := ibanLength(cc)
	if !ok {
		return "unknown IBAN country " + quote(cc)
	}
	if len(iban) != want {
		return "IBAN for " + cc + " must have " + itoa(want) + " characters, has " + itoa(len(iban))
	}
	if iban[2] < '0' || iban[2] > '9' || iban[3] < '0' || iban[3] > '9' {
		return "IBAN check digits must be numeric"
	}
	rem, ok := mod97(iban[4:])
	if ok {
		rem, ok = mod97From(rem, iban[:4])
	}
	if !ok {
		return "IBAN may hold only A-Z and 0-9 (electronic form, no spaces)"
	}
	if rem != 1 {
		return "IBAN check digits do not match (mod 97)"
	}
	// 00, 01 and 99 pass mod 97 when another pair would; ISO 13616 only
	// issues 02 to 98.
	if cd := iban[2:4]; cd == "00" || cd == "01" || cd == "99" {
		return "IBAN check digits " + cd + " are never issued (ISO 13616 uses 02 to 98)"
	}
	return ""
}

// bicRE is ISO 9362 (BICIdentifier of pain.001.001.03, which is stricter
// than the BICFIDec2014Identifier of .09).
var bicRE = regexp.MustCompile(`^[A-Z]{6}[A-Z2-9][A-NP-Z0-9]([A-Z0-9]{3})?$`)

func checkBIC(bic string) string {
	if !isBIC(bic) {
		return "not a BIC (ISO 9362: 8 or 11 characters, AAAABBCCDDD)"
	}
	return ""
}

// checkCreditorReference validates an ISO 11649 structured creditor
// reference ("RF" + 2 check digits + up to 21 alphanumerics).
func checkCreditorReference(ref string) string {
	if len(ref) < 5 || len(ref) > 25 {
		return "ISO 11649 reference must have 5 to 25 characters"
	}
	if ref[2] < '0' || ref[2] > '9' || ref[3] < '0' || ref[3] > '9' {
		return "ISO 11649 check digits must be numeric"
	}
	rem, ok := mod97(strings.ToUpper(ref[4:]))
	if ok {
		rem, ok = mod97From(rem, ref[:4])
	}
	if !ok {
		return "ISO 11649 reference may hold only A-Z and 0-9"
	}
	if rem != 1 {
		return "ISO 11649 check digits do not match (mod 97)"
	}
	return ""
}

// isBIC is bicRE without the regexp machinery (TestIsBIC compares them).
func isBIC(s string) bool {
	if len(s) != 8 && len(s) != 11 {
		return false
	}
	for i := 0; i < 6; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	if c := s[6]; !(c >= 'A' && c <= 'Z' || c >= '2' && c <= '9') {
		return false
	}
	if c := s[7]; !(c >= 'A' && c <= 'N' || c >= 'P' && c <= 'Z' || c >= '0' && c <= '9') {
		return false
	}
	for i := 8; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// isUpperCode reports whether s is n capital letters A-Z (currencyRE,
// countryRE, purposeRE without the regexp machinery).
func isUpperCode(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < n; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

var (
	currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)
	countryRE  = regexp.MustCompile(`^[A-Z]{2}$`)
	dateRE     = regexp.MustCompile(`^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$`)
	purposeRE  = regexp.MustCompile(`^[A-Z]{4}$`)
)

// Character sets a profile may allow (Profile.Charset.Allowed).
const (
	CharsetSEPA    = "sepa"    // EPC basic Latin: a-z A-Z 0-9 / - ? : ( ) . , ' + space
	CharsetLatvian = "latvian" // sepa plus the Latvian letters ĀČĒĢĪĶĻŅŠŪŽ āčēģīķļņšūž
	CharsetUnicode = "unicode" // any printable character XML 1.0 allows
)

// Charset policies (Profile.Charset.OnInvalid).
const (
	CharsetReject        = "reject"        // a character outside the set is a validation error
	CharsetTransliterate = "transliterate" // replaced where a mapping exists, each change reported
)

const latvianLetters = "ĀČĒĢĪĶĻŅŠŪŽāčēģīķļņšūž"

func sepaRune(r rune) bool {
	return r < utf8.RuneSelf && sepaASCII[r]
}

// sepaASCII is the SEPA set as a table.
var sepaASCII = func() (t [utf8.RuneSelf]bool) {
	for r := range t {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			t[r] = true
		}
	}
	for _, r := range "/-?:().,'+ " {
		t[r] = true
	}
	return t
}()

// latvianBits marks the Latvian letters among U+0100-U+017F.
var latvianBits = func() (b [2]uint64) {
	for _, r := range latvianLetters {
		off := r - 0x100
		b[off>>6] |= 1 << (off & 63)
	}
	return b
}()

func latvianRune(r rune) bool {
	switch r {
	case 'Ā', 'Č', 'Ē', 'Ģ', 'Ī', 'Ķ', 'Ļ', 'Ņ', 'Š', 'Ū', 'Ž', 'ā', 'č', 'ē', 'ģ', 'ī', 'ķ', 'ļ', 'ņ', 'š', 'ū', 'ž':
		return true
	}
	return false
}

// allowedRune reports whether r belongs to the named character set.
func allowedRune(set string, r rune) bool {
	switch set {
	case CharsetSEPA:
		return sepaRune(r)
	case CharsetLatvian:
		return sepaRune(r) || latvianRune(r)
	default:
		return xmlPrintable(r)
	}
}

// xmlPrintable: a character XML 1.0 allows that is not a control character
// (tab, CR and LF are refused too: they do not survive whitespace
// normalisation in banks' parsers).
func xmlPrintable(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= 0x20 && r != 0x7F
	}
	if r == utf8.RuneError || unicode.IsControl(r) {
		return false
	}
	return (r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)
}

// translit maps characters outside the SEPA set to SEPA characters
// (EPC guidance on character-set conversion; Latvian letters first).
var translit = map[rune]string{
	'Ā': "A", 'Č': "C", 'Ē': "E", 'Ģ': "G", 'Ī': "I", 'Ķ': "K", 'Ļ': "L", 'Ņ': "N", 'Š': "S", 'Ū': "U", 'Ž': "Z",
	'ā': "a", 'č': "c", 'ē': "e", 'ģ': "g", 'ī': "i", 'ķ': "k", 'ļ': "l", 'ņ': "n", 'š': "s", 'ū': "u", 'ž': "z",
	'Ä': "A", 'Ö': "O", 'Ü': "U", 'Õ': "O", 'Å': "A", 'Æ': "AE", 'Ø': "O", 'ä': "a", 'ö': "o", 'ü': "u", 'õ': "o",
	'å': "a", 'æ': "ae", 'ø': "o", 'ß': "ss", 'À': "A", 'Á': "A", 'Â': "A", 'Ã': "A", 'Ç': "C", 'È': "E", 'É': "E",
	'Ê': "E", 'Ë': "E", 'Ì': "I", 'Í': "I", 'Î': "I", 'Ï': "I", 'Ñ': "N", 'Ò': "O", 'Ó': "O", 'Ô': "O", 'Ù': "U",
	'Ú': "U", 'Û': "U", 'Ý': "Y", 'à': "a", 'á': "a", 'â': "a", 'ã': "a", 'ç': "c", 'è': "e", 'é': "e", 'ê': "e",
	'ë': "e", 'ì': "i", 'í': "i", 'î': "i", 'ï': "i", 'ñ': "n", 'ò': "o", 'ó': "o", 'ô': "o", 'ù': "u", 'ú': "u",
	'û': "u", 'ý': "y", 'ÿ': "y", 'Ą': "A", 'ą': "a", 'Ę': "E", 'ę': "e", 'Ė': "E", 'ė': "e", 'Į': "I", 'į': "i",
	'Ų': "U", 'ų': "u", 'Ł': "L", 'ł': "l", 'Ń': "N", 'ń': "n", 'Ś': "S", 'ś': "s", 'Ź': "Z", 'ź': "z", 'Ż': "Z",
	'ż': "z", 'Ć': "C", 'ć': "c", 'Ř': "R", 'ř': "r", 'Ě': "E", 'ě': "e", 'Ů': "U", 'ů': "u", 'Ď': "D", 'ď': "d",
	'Ť': "T", 'ť': "t", 'Ň': "N", 'ň': "n",
	'&': "+", '"': "'", ';': ",", '_': "-", '–': "-", '—': "-", '‘': "'", '’': "'", '“': "'", '”': "'", '„': "'",
	'«': "'", '»': "'", '#': " ", '\u00A0': " ",
}

// A Change is one transliteration the encoder made under the
// "transliterate" charset policy.
type Change struct {
	ID    string `json:"id"`
	Field string `json:"field"`
	From  string `json:"from"`
	To    string `json:"to"`
}

// fitCharset checks s against the set. Under transliterate it returns the
// converted string; bad lists the characters it could not accept.
func fitCharset(set, policy, s string) (out string, bad []rune) {
	// Fast path: every character allowed (an invalid byte decodes as
	// U+FFFD, which no set allows, and takes the slow path).
	if allRunes(set, s) {
		return s, nil
	}
	if !utf8.ValidString(s) {
		return s, []rune{utf8.RuneError}
	}
	var b strings.Builder
	for _, r := range s {
		if allowedRune(set, r) {
			b.WriteRune(r)
			continue
		}
		if policy == CharsetTransliterate {
			if t, found := translit[r]; found && allRunes(set, t) {
				b.WriteString(t)
				continue
			}
		}
		bad = append(bad, r)
		b.WriteRune(r)
	}
	return b.String(), bad
}

func allRunes(set, s string) bool {
	switch set {
	case CharsetSEPA, CharsetLatvian:
		for i := 0; i < len(s); {
			if c := s[i]; c < utf8.RuneSelf {
				if !sepaASCII[c] {
					return false
				}
				i++
				continue
			}
			if set == CharsetSEPA {
				return false
			}
			// Latvian letters are U+0100-U+017F: two bytes, C4 or C5 and
			// a continuation byte.
			if c := s[i]; (c == 0xC4 || c == 0xC5) && i+1 < len(s) && s[i+1]&0xC0 == 0x80 {
				if off := uint(c&0x1F)<<6 | uint(s[i+1]&0x3F) - 0x100; latvianBits[off>>6]&(1<<(off&63)) != 0 {
					i += 2
					continue
				}
			}
			return false
		}
		return true
	}
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7F {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if !allowedRune(set, r) {
			return false
		}
		i += n
	}
	return true
}

func quote(s string) string { return "\"" + s + "\"" }
