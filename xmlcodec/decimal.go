package xmlcodec

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// Money is an amount as a decimal string exactly as precise as its source,
// with its ISO 4217 currency. It is never a float.
type Money struct {
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
}

var (
	errAmountSyntax = errors.New("not a decimal number (digits, optional '.' and fraction; no sign, exponent or grouping)")
	errAmountZero   = errors.New("must be greater than zero")
)

// splitDecimal checks s against ^[0-9]+(\.[0-9]+)?$ and returns its integer
// and fraction digits.
func splitDecimal(s string) (intPart, frac string, err error) {
	intPart, frac, dot := strings.Cut(s, ".")
	if intPart == "" || (dot && frac == "") {
		return "", "", errAmountSyntax
	}
	for _, p := range [2]string{intPart, frac} {
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return "", "", errAmountSyntax
			}
		}
	}
	return intPart, frac, nil
}

// validDecimal reports whether s is a non-negative decimal number in the
// lexical form ISO 20022 amounts use.
func validDecimal(s string) bool {
	_, _, err := splitDecimal(s)
	return err == nil
}

// minorUnits is the ISO 4217 exponent of currencies whose exponent is not 2.
var minorUnits = map[string]int{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
	"RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
	"CLF": 4, "UYW": 4,
}

// currencyExponent returns the number of minor-unit digits of ccy (2 when
// the currency is not in the table).
func currencyExponent(ccy string) int {
	if e, ok := minorUnits[ccy]; ok {
		return e
	}
	return 2
}

// normalizeAmount writes amount with exactly the currency's minor-unit
// digits ("12.5" EUR → "12.50"), refusing more precision than the currency
// has, zero, and more than maxDigits significant digits in total.
func normalizeAmount(amount, ccy string, maxDigits int) (string, error) {
	if normalAmount(amount, currencyExponent(ccy), maxDigits) {
		return amount, nil
	}
	return normalizeAmountSlow(amount, ccy, maxDigits)
}

// normalizeAmountSlow is normalizeAmount without its fast path.
func normalizeAmountSlow(amount, ccy string, maxDigits int) (string, error) {
	ip, frac, err := splitDecimal(amount)
	if err != nil {
		return "", err
	}
	exp := currencyExponent(ccy)
	trimmed := strings.TrimRight(frac, "0")
	if len(trimmed) > exp {
		return "", errors.New("has more decimals than " + ccy + " allows")
	}
	ip = strings.TrimLeft(ip, "0")
	if ip == "" {
		ip = "0"
	}
	frac = trimmed + strings.Repeat("0", exp-len(trimmed))
	if strings.Trim(ip+frac, "0") == "" {
		return "", errAmountZero
	}
	digits := len(ip) + len(frac)
	if ip == "0" {
		digits = len(frac)
	}
	if digits > maxDigits {
		return "", errors.New("has more than " + itoa(maxDigits) + " digits")
	}
	if exp == 0 {
		return ip, nil
	}
	return ip + "." + frac, nil
}

// normalAmount reports whether amount is already what normalizeAmount
// would return: digits with exactly exp decimals after one '.', no leading
// zero (but "0.50"), not zero, at most maxDigits digits.
func normalAmount(amount string, exp, maxDigits int) bool {
	n := len(amount)
	if exp > 0 {
		if n < exp+2 || amount[n-exp-1] != '.' {
			return false
		}
	}
	ipLen := n
	if exp > 0 {
		ipLen = n - exp - 1
	}
	if ipLen > 1 && amount[0] == '0' {
		return false
	}
	nonzero := false
	for i := 0; i < n; i++ {
		c := amount[i]
		if i == ipLen {
			continue // the '.'
		}
		if c < '0' || c > '9' {
			return false
		}
		if c != '0' {
			nonzero = true
		}
	}
	digits := ipLen + exp
	if ipLen == 1 && amount[0] == '0' {
		digits = exp
	}
	return nonzero && digits <= maxDigits
}

// A decimalSum adds decimal strings exactly.
type decimalSum struct {
	v     big.Int
	scale int
}

// Add adds s, which must satisfy validDecimal.
func (d *decimalSum) Add(s string) {
	ip, frac, err := splitDecimal(s)
	if err != nil {
		return
	}
	if len(frac) > d.scale {
		d.v.Mul(&d.v, pow10(len(frac)-d.scale))
		d.scale = len(frac)
	}
	var x big.Int
	x.SetString(ip+frac+strings.Repeat("0", d.scale-len(frac)), 10)
	d.v.Add(&d.v, &x)
}

// String formats the sum with at least minScale fraction digits.
func (d *decimalSum) String(minScale int) string {
	v, scale := new(big.Int).Set(&d.v), d.scale
	if minScale > scale {
		v.Mul(v, pow10(minScale-scale))
		scale = minScale
	}
	s := v.String()
	if scale == 0 {
		return s
	}
	if len(s) <= scale {
		s = strings.Repeat("0", scale-len(s)+1) + s
	}
	return s[:len(s)-scale] + "." + s[len(s)-scale:]
}

func pow10(n int) *big.Int {
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
}

func itoa(n int) string { return big.NewInt(int64(n)).String() }

// A DecimalSum adds decimal amount strings exactly (no float). The zero
// value is an empty sum.
type DecimalSum struct{ s decimalSum }

// Add adds amount, which must be a non-negative decimal ("12.50").
func (d *DecimalSum) Add(amount string) error {
	if !validDecimal(amount) {
		return fmt.Errorf("%w: %q", ErrInvalidAmount, amount)
	}
	d.s.Add(amount)
	return nil
}

// String formats the sum with as many decimals as the most precise
// amount added ("0" for an empty sum).
func (d *DecimalSum) String() string { return d.s.String(0) }
