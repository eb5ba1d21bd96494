package xmlcodec

import (
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// An amountSum adds decimal amount strings exactly, like decimalSum, but in
// a uint64 while the sum fits (every pain.001 CtrlSum does: at most 18
// digits), so the encoder adds 10,000 amounts without an allocation. It
// falls back to decimalSum on overflow. The zero value is an empty sum.
type amountSum struct {
	v     uint64 // the sum × 10^scale, while slow is nil
	scale int
	slow  *decimalSum
}

var pow10u64 = [...]uint64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

// mulPow10 returns v × 10^k and whether it fits in a uint64.
func mulPow10(v uint64, k int) (uint64, bool) {
	if k >= len(pow10u64) {
		return 0, v == 0
	}
	hi, lo := bits.Mul64(v, pow10u64[k])
	return lo, hi == 0
}

// add adds s; like decimalSum.Add it ignores a string that is not a
// decimal number (callers validate first).
func (a *amountSum) add(s string) {
	if a.slow != nil {
		a.slow.Add(s)
		return
	}
	// One pass: digits (leading zeros not counted), one '.' with digits on
	// both sides (splitDecimal's syntax).
	var x uint64
	sig, frac, dot := 0, 0, -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '.' {
			if dot >= 0 || i == 0 || i == len(s)-1 {
				return
			}
			dot = i
			continue
		}
		if c < '0' || c > '9' {
			return
		}
		if sig > 0 || c != '0' {
			sig++
		}
		x = x*10 + uint64(c-'0')
		if dot >= 0 {
			frac++
		}
	}
	if len(s) == 0 {
		return
	}
	if sig > 19 {
		a.toSlow(s)
		return
	}
	if frac > a.scale {
		v, ok := mulPow10(a.v, frac-a.scale)
		if !ok {
			a.toSlow(s)
			return
		}
		a.v, a.scale = v, frac
	} else if frac < a.scale {
		var ok bool
		if x, ok = mulPow10(x, a.scale-frac); !ok {
			a.toSlow(s)
			return
		}
	}
	if a.v > math.MaxUint64-x {
		a.toSlow(s)
		return
	}
	a.v += x
}

// toSlow moves the sum to a decimalSum and adds s there.
func (a *amountSum) toSlow(s string) {
	cur := a.String()
	a.slow = &decimalSum{}
	a.slow.Add(cur)
	a.slow.Add(s)
}

// String formats the sum as decimalSum.String(0) does.
func (a *amountSum) String() string {
	if a.slow != nil {
		return a.slow.String(0)
	}
	s := strconv.FormatUint(a.v, 10)
	if a.scale == 0 {
		return s
	}
	if len(s) <= a.scale {
		s = strings.Repeat("0", a.scale-len(s)+1) + s
	}
	return s[:len(s)-a.scale] + "." + s[len(s)-a.scale:]
}

// isPurposeCode reports whether s is an ExternalPurpose1Code in form: four
// capital letters (purposeRE without the regexp machinery).
func isPurposeCode(s string) bool {
	if len(s) != 4 {
		return false
	}
	for i := 0; i < 4; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}
