package backend

import "math"

// LCS (lcsCommand in t_string.c): the longest common subsequence of two
// strings by the textbook dynamic programming table, its length, or the
// matching ranges (IDX, MINMATCHLEN, WITHMATCHLEN). The table is computed
// after the shard locks are released: stored strings are immutable.

const (
	errLCSType    = "ERR The specified keys must contain string values"
	errLCSLenIdx  = "ERR If you want both the length and indexes, please just use IDX."
	errLCSTooLong = "ERR String too long for LCS"
	errLCSMemory  = "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
)

// lcsMatch is one range of IDX: a[a0..a1] matches b[b0..b1].
type lcsMatch struct{ a0, a1, b0, b1 uint32 }

func cmdLCS(c *Client, args [][]byte) {
	tx := c.begin()
	tx.lockKeys(args[1], args[2])
	ea, _, fa := tx.lookupRead(args[1])
	eb, _, fb := tx.lookupRead(args[2])
	c.commit()
	if (fa && ea.isObject()) || (fb && eb.isObject()) {
		c.err(errLCSType)
		return
	}
	var a, b string
	if fa {
		a = ea.str()
	}
	if fb {
		b = eb.str()
	}
	var getlen, getidx, withmatchlen bool
	var minmatchlen int64
	for j := 3; j < len(args); j++ {
		opt := args[j]
		switch {
		case eqFoldC(opt, "idx"):
			getidx = true
		case eqFoldC(opt, "len"):
			getlen = true
		case eqFoldC(opt, "withmatchlen"):
			withmatchlen = true
		case eqFoldC(opt, "minmatchlen") && j+1 < len(args):
			v, ok := parseInt(args[j+1])
			if !ok {
				c.err(errNotInteger)
				return
			}
			minmatchlen = max(v, 0)
			j++
		default:
			c.err(errSyntax)
			return
		}
	}
	if getlen && getidx {
		c.err(errLCSLenIdx)
		return
	}
	if uint64(len(a)) >= math.MaxUint32-1 || uint64(len(b)) >= math.MaxUint32-1 {
		c.err(errLCSTooLong)
		return
	}
	if (uint64(len(a))+1)*(uint64(len(b))+1)*4 > uint64(c.s.protoMaxBulkLen.Load()) {
		c.err(errLCSMemory)
		return
	}
	lcs, matches, total := lcsCompute(a, b, getidx || !getlen, getidx, minmatchlen)
	switch {
	case getidx:
		c.array(4)
		c.bulkString("matches")
		c.array(len(matches))
		for _, m := range matches {
			if withmatchlen {
				c.array(3)
			} else {
				c.array(2)
			}
			c.array(2)
			c.int(int64(m.a0))
			c.int(int64(m.a1))
			c.array(2)
			c.int(int64(m.b0))
			c.int(int64(m.b1))
			if withmatchlen {
				c.int(int64(m.a1 - m.a0 + 1))
			}
		}
		c.bulkString("len")
		c.int(int64(total))
	case getlen:
		c.int(int64(total))
	default:
		c.bulk(lcs)
	}
}

// lcsCompute returns the LCS of a and b (when str), the matching ranges
// from the end of the strings backwards of at least minmatchlen bytes
// (when idx), and the LCS length. The backtracking is Redis' to the
// letter, so that the ranges are the same.
func lcsCompute(a, b string, str, idx bool, minmatchlen int64) ([]byte, []lcsMatch, uint32) {
	alen, blen := uint32(len(a)), uint32(len(b))
	w := blen + 1
	t := make([]uint32, (uint64(alen)+1)*uint64(w))
	for i := uint32(1); i <= alen; i++ {
		row, prev := t[i*w:(i+1)*w], t[(i-1)*w:i*w]
		for j := uint32(1); j <= blen; j++ {
			if a[i-1] == b[j-1] {
				row[j] = prev[j-1] + 1
			} else {
				row[j] = max(prev[j], row[j-1])
			}
		}
	}
	at := func(i, j uint32) uint32 { return t[i*w+j] }
	total := at(alen, blen)
	if !str {
		return nil, nil, total
	}
	result := make([]byte, total)
	var matches []lcsMatch
	n := total
	// arangeStart == alen means no range is open.
	arangeStart, arangeEnd, brangeStart, brangeEnd := alen, uint32(0), uint32(0), uint32(0)
	i, j := alen, blen
	for i > 0 && j > 0 {
		emit := false
		if a[i-1] == b[j-1] {
			result[n-1] = a[i-1]
			if arangeStart == alen {
				arangeStart, arangeEnd = i-1, i-1
				brangeStart, brangeEnd = j-1, j-1
			} else if arangeStart == i && brangeStart == j {
				arangeStart--
				brangeStart--
			} else {
				emit = true
			}
			if arangeStart == 0 || brangeStart == 0 {
				emit = true
			}
			n--
			i--
			j--
		} else {
			if at(i-1, j) > at(i, j-1) {
				i--
			} else {
				j--
			}
			if arangeStart != alen {
				emit = true
			}
		}
		if emit {
			matchLen := arangeEnd - arangeStart + 1
			if idx && (minmatchlen == 0 || int64(matchLen) >= minmatchlen) {
				matches = append(matches, lcsMatch{arangeStart, arangeEnd, brangeStart, brangeEnd})
			}
			arangeStart = alen
		}
	}
	return result, matches, total
}
