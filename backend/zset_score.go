package backend

import (
	"math"
	"strconv"
	"strings"
)

// Scores (doubles) parsed and printed with Redis 7.0's exact rules.

// parseScore is Redis' string2d (ZADD, ZINCRBY, weights): strtod over the
// whole string, no leading space, no NaN, no overflow; an underflow to
// zero is refused, one to a denormal accepted (glibc's ERANGE rules).
// strtod also accepts "inf"/"infinity" and hex floats.
func parseScore(b []byte) (float64, bool) {
	if len(b) == 0 || isSpace(b[0]) {
		return 0, false
	}
	f, ok, erange := strtod(string(b))
	return f, ok && !erange
}

// parseRangeScore is zslParseRange's use of strtod: leading white space is
// skipped, an empty string is 0, overflow (±inf) and underflow are taken;
// trailing garbage and NaN are refused.
func parseRangeScore(s string) (float64, bool) {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	if s == "" {
		return 0, true
	}
	f, ok, _ := strtod(s)
	return f, ok
}

// strtod converts all of s as C's strtod would. ok is false for trailing
// garbage and NaN; erange reports an overflow (f is ±inf) or an underflow
// to zero.
func strtod(s string) (f float64, ok, erange bool) {
	i := 0
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	rest := s[i:]
	low := strings.ToLower(rest)
	switch {
	case low == "inf" || low == "infinity":
		if neg {
			return math.Inf(-1), true, false
		}
		return math.Inf(1), true, false
	case strings.HasPrefix(low, "nan"):
		return 0, false, false
	case strings.HasPrefix(low, "0x"):
		ld, ok := parseHexLongDouble(neg, low[2:])
		if !ok {
			return 0, false, false
		}
		f, _ := ld.f.Float64()
		return f, true, math.IsInf(f, 0) || (f == 0 && ld.f.Sign() != 0)
	}
	// Decimal: digits [. digits] [e [+-] digits], at least one digit.
	j, mant := 0, 0
	nonzero := false
	for j < len(rest) && isDigit(rest[j]) {
		nonzero = nonzero || rest[j] != '0'
		j++
		mant++
	}
	if j < len(rest) && rest[j] == '.' {
		j++
		for j < len(rest) && isDigit(rest[j]) {
			nonzero = nonzero || rest[j] != '0'
			j++
			mant++
		}
	}
	if mant == 0 {
		return 0, false, false
	}
	if j < len(rest) && (rest[j] == 'e' || rest[j] == 'E') {
		k := j + 1
		if k < len(rest) && (rest[k] == '+' || rest[k] == '-') {
			k++
		}
		ds := k
		for k < len(rest) && isDigit(rest[k]) {
			k++
		}
		if k == ds {
			return 0, false, false // "1e": strtod stops before the 'e'
		}
		j = k
	}
	if j != len(rest) {
		return 0, false, false
	}
	f, _ = strconv.ParseFloat(rest, 64)
	erange = math.IsInf(f, 0) || (f == 0 && nonzero)
	if neg {
		f = -f
	}
	return f, true, erange
}

// formatScore is Redis 7.0's addReplyDouble for RESP2: "%.17g", with inf
// and -inf spelled so.
func formatScore(f float64) string {
	return string(appendScore(nil, f))
}

// appendScore appends "%.17g" of f.
func appendScore(b []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(b, "inf"...)
	case math.IsInf(f, -1):
		return append(b, "-inf"...)
	case math.IsNaN(f):
		return append(b, "nan"...)
	}
	var tmp [32]byte
	e := strconv.AppendFloat(tmp[:0], f, 'e', 16, 64)
	p := len(e) - 1
	for e[p] != 'e' {
		p--
	}
	x, _ := strconv.Atoi(string(e[p+1:]))
	if x < -4 || x >= 17 {
		mant := trimFraction(e[:p])
		b = append(b, mant...)
		b = append(b, 'e')
		if x < 0 {
			b = append(b, '-')
			x = -x
		} else {
			b = append(b, '+')
		}
		if x < 10 {
			b = append(b, '0')
		}
		return strconv.AppendInt(b, int64(x), 10)
	}
	fixed := strconv.AppendFloat(tmp[:0], f, 'f', 16-x, 64)
	return append(b, trimFraction(fixed)...)
}

// trimFraction removes trailing zeros after a decimal point, and the point.
func trimFraction(s []byte) []byte {
	for _, c := range s {
		if c == '.' {
			for s[len(s)-1] == '0' {
				s = s[:len(s)-1]
			}
			if s[len(s)-1] == '.' {
				s = s[:len(s)-1]
			}
			return s
		}
	}
	return s
}

// scoreArg formats a score for the write stream and AOF rewrite: the
// shortest text that parses back to the same double.
func scoreArg(f float64) []byte { return appendScoreArg(nil, f) }

func appendScoreArg(b []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(b, "inf"...)
	case math.IsInf(f, -1):
		return append(b, "-inf"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

// listpackScore is how a score reads back from a listpack (ZSCAN of a
// small sorted set): Redis 7.0's d2string, which prints integral values in
// +-LLONG_MAX/2 as integers and the rest with "%.17g".
func listpackScore(f float64) string {
	if f >= -math.MaxInt64/2 && f <= math.MaxInt64/2 && f == math.Trunc(f) {
		return strconv.FormatInt(int64(f), 10)
	}
	return formatScore(f)
}
