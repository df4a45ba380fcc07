package backend

import (
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Number parsing and formatting with Redis' exact rules. Redis is strict
// (no "+1", no "01", no spaces) and does float arithmetic in x87 long double
// (64-bit mantissa); INCRBYFLOAT replies are formatted with "%.17Lf" minus
// trailing zeros. Go has no long double, so longDouble emulates it with
// math/big at 64 bits of precision, round-to-nearest-even — the same
// rounding the x87 unit applies — which makes replies byte-identical.

// maxLongStrSize is Redis' LONG_STR_SIZE: strings this long or longer are
// never integers.
const maxLongStrSize = 21

// parseInt is Redis' string2ll: an optional '-', no leading zeros, no
// '+', no spaces, within int64.
func parseInt(b []byte) (int64, bool) {
	n := len(b)
	if n == 0 || n >= maxLongStrSize {
		return 0, false
	}
	if n == 1 && b[0] == '0' {
		return 0, true
	}
	i := 0
	neg := false
	if b[0] == '-' {
		neg = true
		i++
		if i == n {
			return 0, false
		}
	}
	if b[i] < '1' || b[i] > '9' {
		return 0, false
	}
	var v uint64 = uint64(b[i] - '0')
	i++
	for ; i < n; i++ {
		c := b[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if v > math.MaxUint64/10 {
			return 0, false
		}
		v *= 10
		if v > math.MaxUint64-uint64(c-'0') {
			return 0, false
		}
		v += uint64(c - '0')
	}
	if neg {
		if v > uint64(math.MaxInt64)+1 {
			return 0, false
		}
		return -int64(v), true
	}
	if v > math.MaxInt64 {
		return 0, false
	}
	return int64(v), true
}

// parseIntString is parseInt for a string.
func parseIntString(s string) (int64, bool) {
	return parseInt([]byte(s))
}

// Long double range of the x87 80-bit format, as binary exponents of
// big.Float's mantissa-in-[0.5,1) convention.
const (
	ldMaxExp = 16384  // 2^16384 overflows
	ldMinExp = -16444 // below the smallest subnormal
	ldPrec   = 64
	// maxLongDoubleChars is Redis' MAX_LONG_DOUBLE_CHARS.
	maxLongDoubleChars = 5 * 1024
)

// longDouble is an x87 extended-precision value (finite or ±inf).
type longDouble struct {
	f   *big.Float // nil when inf != 0
	inf int        // +1 / -1 for infinities
}

func (x longDouble) isInf() bool { return x.inf != 0 }

// parseLongDouble is Redis' string2ld: strtold over the whole string, no
// leading space, no NaN, no overflow/underflow (ERANGE). "inf" and hex
// floats are accepted because strtold accepts them.
func parseLongDouble(b []byte) (longDouble, bool) {
	if len(b) == 0 || len(b) >= maxLongDoubleChars {
		return longDouble{}, false
	}
	s := string(b)
	i := 0
	neg := false
	if s[0] == '+' || s[0] == '-' {
		neg = s[0] == '-'
		i++
	}
	rest := s[i:]
	low := strings.ToLower(rest)
	if low == "inf" || low == "infinity" {
		if neg {
			return longDouble{inf: -1}, true
		}
		return longDouble{inf: 1}, true
	}
	if strings.HasPrefix(low, "nan") {
		return longDouble{}, false
	}
	if strings.HasPrefix(low, "0x") {
		return parseHexLongDouble(neg, low[2:])
	}
	// Decimal: digits [. digits] [e [+-] digits], at least one digit.
	j := 0
	mant := 0
	for j < len(rest) && isDigit(rest[j]) {
		j++
		mant++
	}
	if j < len(rest) && rest[j] == '.' {
		j++
		for j < len(rest) && isDigit(rest[j]) {
			j++
			mant++
		}
	}
	if mant == 0 {
		return longDouble{}, false
	}
	numEnd := j
	exp := int64(0)
	if j < len(rest) && (rest[j] == 'e' || rest[j] == 'E') {
		k := j + 1
		eneg := false
		if k < len(rest) && (rest[k] == '+' || rest[k] == '-') {
			eneg = rest[k] == '-'
			k++
		}
		ds := k
		for k < len(rest) && isDigit(rest[k]) {
			if exp < 1e9 {
				exp = exp*10 + int64(rest[k]-'0')
			}
			k++
		}
		if k == ds {
			// "1e" parses as 1 with "e" left over: trailing garbage.
			return longDouble{}, false
		}
		if eneg {
			exp = -exp
		}
		j = k
	}
	if j != len(rest) {
		return longDouble{}, false
	}
	num := rest[:numEnd]
	// Exact value as a rational, unless the exponent is absurd: then it is
	// zero (all digits zero), an overflow or an underflow.
	allZero := strings.Trim(num, "0.") == ""
	if allZero {
		f := new(big.Float).SetPrec(ldPrec)
		if neg {
			f.Neg(f)
		}
		return longDouble{f: f}, true
	}
	if exp > 6000 || exp < -6000-int64(len(num)) {
		// Beyond long double range whatever the mantissa: ERANGE.
		return longDouble{}, false
	}
	r, ok := new(big.Rat).SetString(num + "e" + strconv.FormatInt(exp, 10))
	if !ok {
		return longDouble{}, false
	}
	f := new(big.Float).SetPrec(ldPrec).SetMode(big.ToNearestEven).SetRat(r)
	if neg {
		f.Neg(f)
	}
	return finiteOrRange(f)
}

func parseHexLongDouble(neg bool, s string) (longDouble, bool) {
	// hexdigits [. hexdigits] [p [+-] digits]
	j := 0
	var mant big.Int
	digits := 0
	fracDigits := 0
	for j < len(s) && isHex(s[j]) {
		mant.Lsh(&mant, 4)
		mant.Or(&mant, big.NewInt(int64(hexVal(s[j]))))
		j++
		digits++
	}
	if j < len(s) && s[j] == '.' {
		j++
		for j < len(s) && isHex(s[j]) {
			mant.Lsh(&mant, 4)
			mant.Or(&mant, big.NewInt(int64(hexVal(s[j]))))
			j++
			digits++
			fracDigits++
		}
	}
	if digits == 0 {
		// "0x" alone: strtold reads "0" and stops at 'x'.
		return longDouble{}, false
	}
	exp := int64(0)
	if j < len(s) && s[j] == 'p' {
		k := j + 1
		eneg := false
		if k < len(s) && (s[k] == '+' || s[k] == '-') {
			eneg = s[k] == '-'
			k++
		}
		ds := k
		for k < len(s) && isDigit(s[k]) {
			if exp < 1e9 {
				exp = exp*10 + int64(s[k]-'0')
			}
			k++
		}
		if k == ds {
			return longDouble{}, false
		}
		if eneg {
			exp = -exp
		}
		j = k
	}
	if j != len(s) {
		return longDouble{}, false
	}
	f := new(big.Float).SetPrec(ldPrec).SetMode(big.ToNearestEven).SetInt(&mant)
	if f.Sign() == 0 {
		if neg {
			f.Neg(f)
		}
		return longDouble{f: f}, true
	}
	e := exp - 4*int64(fracDigits)
	if e > 100000 || e < -100000 {
		return longDouble{}, false
	}
	f.SetMantExp(f, int(e))
	if neg {
		f.Neg(f)
	}
	return finiteOrRange(f)
}

// finiteOrRange rejects values outside the long double range, as strtold's
// ERANGE makes string2ld do.
func finiteOrRange(f *big.Float) (longDouble, bool) {
	if f.Sign() != 0 {
		e := f.MantExp(nil)
		if e > ldMaxExp || e < ldMinExp {
			return longDouble{}, false
		}
	}
	return longDouble{f: f}, true
}

// addLongDouble returns a+b rounded to long double; inf when it overflows
// or either operand is infinite; ok=false for NaN (inf + -inf).
func addLongDouble(a, b longDouble) (longDouble, bool) {
	switch {
	case a.inf != 0 && b.inf != 0:
		if a.inf != b.inf {
			return longDouble{}, false
		}
		return a, true
	case a.inf != 0:
		return a, true
	case b.inf != 0:
		return b, true
	}
	f := new(big.Float).SetPrec(ldPrec).SetMode(big.ToNearestEven)
	f.Add(a.f, b.f)
	if f.Sign() != 0 && f.MantExp(nil) > ldMaxExp {
		return longDouble{inf: f.Sign()}, true
	}
	return longDouble{f: f}, true
}

// formatLongDoubleHuman is Redis' ld2string(LD_STR_HUMAN): "%.17Lf",
// trailing zeros (and a trailing '.') removed, "-0" → "0".
func formatLongDoubleHuman(x longDouble) string {
	if x.inf > 0 {
		return "inf"
	}
	if x.inf < 0 {
		return "-inf"
	}
	s := x.f.Text('f', 17)
	if strings.IndexByte(s, '.') >= 0 {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func hexVal(c byte) int {
	switch {
	case isDigit(c):
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	default:
		return int(c-'A') + 10
	}
}
