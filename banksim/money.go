package banksim

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/isogate/isogate/messages"
)

// maxMinor bounds one amount or balance in minor units (10^16, 18 digits
// with the fraction), far below int64 overflow even summed over a file.
const maxMinor = 1e16

var errAmount = errors.New("not a non-negative decimal amount")

// parseMinor reads a decimal string ("12.5") as minor units of a currency
// with exp fraction digits (1250), refusing more precision than exp.
func parseMinor(s string, exp int) (int64, error) {
	ip, frac, dot := strings.Cut(s, ".")
	if ip == "" || (dot && frac == "") || len(ip) > 17 {
		return 0, errAmount
	}
	for _, p := range []string{ip, frac} {
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return 0, errAmount
			}
		}
	}
	frac = strings.TrimRight(frac, "0")
	if len(frac) > exp {
		return 0, fmt.Errorf("more than %d decimals", exp)
	}
	v, err := strconv.ParseInt(ip+frac+strings.Repeat("0", exp-len(frac)), 10, 64)
	if err != nil || v >= maxMinor {
		return 0, errors.New("amount too large")
	}
	return v, nil
}

// formatMinor writes minor units as a decimal string with exp fraction
// digits; a negative value gets a leading '-'.
func formatMinor(v int64, exp int) string {
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	s := strconv.FormatInt(v, 10)
	if exp == 0 {
		return sign + s
	}
	if len(s) <= exp {
		s = strings.Repeat("0", exp-len(s)+1) + s
	}
	return sign + s[:len(s)-exp] + "." + s[len(s)-exp:]
}

// abs returns |v| and whether v was negative.
func abs(v int64) (int64, bool) {
	if v < 0 {
		return -v, true
	}
	return v, false
}

// minorUnits is the ISO 4217 exponent of currencies whose exponent is not 2.
var minorUnits = map[string]int{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
	"RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
	"CLF": 4, "UYW": 4,
}

func currencyExponent(ccy string) int {
	if e, ok := minorUnits[ccy]; ok {
		return e
	}
	return 2
}

// validIBAN checks an IBAN's country length and mod-97 check digits,
// which ISO 13616 puts in 02..98: "00" passes the mod-97 test whenever
// "97" would, and messages.ValidIBAN does not refuse it.
func validIBAN(s string) error {
	if err := messages.ValidIBAN(s); err != nil {
		return err
	}
	if cd := s[2:4]; cd == "00" || cd == "01" || cd == "99" {
		return errors.New("check digits " + cd + " are never valid (ISO 13616: 02 to 98)")
	}
	return nil
}
