package backend

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/shardis/shardis/integration/harness"
)

// TestBitopsDifferential sends the same random sequences of bit commands
// and LCS — mixed with SET/APPEND/SETRANGE/DEL of the same keys, a hash
// key (wrong type), missing keys, bad offsets, types, units, options and
// arities — to shardis-server and redis-server and compares the raw
// replies byte for byte, then the whole keyspace.
func TestBitopsDifferential(t *testing.T) {
	rd := harness.StartRedis(t)
	sh := startServer(t, nil)
	for seed := uint64(1); seed <= 8; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			d := &differ{t: t, ref: dialRaw(t, rd.Addr), got: dialRaw(t, sh.addr())}
			d.same("FLUSHALL")
			d.same("HSET", "hk", "f", "v")
			g := &bitGen{r: rand.New(rand.NewPCG(seed, seed*104729))}
			for i := 0; i < 3000 && !t.Failed(); i++ {
				d.check(g.next())
			}
			sameDump(t, "keyspace", replDump(t, client(t, rd.Addr)), replDump(t, client(t, sh.addr())))
		})
	}
}

// TestBitopsEdges compares fixed sequences with redis-server: the offset
// limit (also after CONFIG SET proto-max-bulk-len), TTLs kept by SETBIT
// and BITFIELD and dropped by BITOP, BITOP deleting its destination,
// BITFIELD FAIL, NUL bytes in option names, LCS examples, and
// transactions.
func TestBitopsEdges(t *testing.T) {
	rd := harness.StartRedis(t)
	sh := startServer(t, nil)
	d := &differ{t: t, ref: dialRaw(t, rd.Addr), got: dialRaw(t, sh.addr())}
	for _, c := range [][]string{
		{"GETBIT", "big", "4294967295"}, {"GETBIT", "big", "4294967296"}, {"SETBIT", "big", "4294967296", "1"},
		{"BITFIELD", "big", "GET", "u8", "4294967295"}, {"BITFIELD", "big", "GET", "i64", "#67108863"},
		{"BITFIELD", "big", "GET", "i64", "#67108864"}, {"BITFIELD", "big", "SET", "u8", "#9223372036854775807", "1"},
		{"BITFIELD_RO", "big", "GET", "u8", "4294967296"},
		{"CONFIG", "SET", "proto-max-bulk-len", "1048576"},
		{"SETBIT", "big", "8388608", "1"}, {"SETBIT", "big", "8388607", "1"}, {"STRLEN", "big"},
		{"BITFIELD", "big", "SET", "i64", "8388607", "-1"}, {"STRLEN", "big"}, {"BITCOUNT", "big"},
		{"BITPOS", "big", "1"}, {"BITPOS", "big", "0", "-1"}, {"BITCOUNT", "big", "-1", "-1", "BIT"},
		{"CONFIG", "SET", "proto-max-bulk-len", "536870912"},
		{"BITOP", "AND", "dst", "big", "nokey"}, {"STRLEN", "dst"}, {"BITCOUNT", "dst"},
		{"BITOP", "OR", "dst", "nokey", "nokey2"}, {"EXISTS", "dst"},
		{"SET", "t", "abc", "EX", "1000"}, {"SETBIT", "t", "100", "1"}, {"TTL", "t"},
		{"BITFIELD", "t", "SET", "u8", "200", "7"}, {"TTL", "t"}, {"GET", "t"},
		{"BITOP", "NOT", "t", "t"}, {"TTL", "t"}, {"GET", "t"},
		{"BITFIELD", "f", "OVERFLOW", "FAIL", "INCRBY", "u2", "0", "10", "GET", "u2", "0"}, {"EXISTS", "f"}, {"GET", "f"},
		{"BITFIELD", "f", "OVERFLOW", "FAIL", "SET", "i8", "100", "200"}, {"STRLEN", "f"},
		{"BITFIELD", "f", "INCRBY", "i64", "0", "9223372036854775807", "INCRBY", "i64", "0", "9223372036854775807"},
		{"BITFIELD", "f", "OVERFLOW", "SAT", "INCRBY", "i64", "0", "9223372036854775807", "INCRBY", "i64", "0", "-9223372036854775808"},
		{"BITFIELD", "f", "OVERFLOW", "SAT", "INCRBY", "u63", "0", "-9223372036854775808", "INCRBY", "u63", "0", "9223372036854775807"},
		{"BITFIELD", "f", "SET", "u63", "0", "-1", "GET", "u63", "0", "GET", "i64", "0"},
		{"BITOP", "and\x00x", "x", "t"}, {"BITOP", "NOT", "x", "t", "t"}, {"BITOP", "nand", "x", "t"}, {"BITOP", "NOT", "x"},
		{"BITCOUNT", "t", "0", "-1", "bit\x00"}, {"BITFIELD", "t", "get\x00", "i8\x00z", "0"}, {"BITFIELD", "t", "GET", "u", "0"},
		{"MSET", "s1", "ohmytext", "s2", "mynewtext"}, {"LCS", "s1", "s2"}, {"LCS", "s1", "s2", "LEN"},
		{"LCS", "s1", "s2", "IDX"}, {"LCS", "s1", "s2", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"},
		{"LCS", "s1", "s2", "IDX", "LEN"}, {"LCS", "s1", "nokey", "IDX"}, {"LCS", "hk", "s1"}, {"LCS", "s1", "s2", "MINMATCHLEN"},
		{"LCS", "s1", "s2", "MINMATCHLEN", "-5", "IDX"}, {"LCS", "s1", "s2", "MINMATCHLEN", "x"},
		{"SET", "la", strings.Repeat("ab", 40000)}, {"SET", "lb", strings.Repeat("ba", 40000)}, {"LCS", "la", "lb", "LEN"},
		{"MULTI"}, {"SETBIT", "m", "3", "1"}, {"BITOP", "XOR", "m2", "m", "t"}, {"BITFIELD", "m", "INCRBY", "u4", "0", "3"},
		{"LCS", "m", "m2"}, {"GETBIT", "m", "x"}, {"EXEC"}, {"GET", "m2"},
	} {
		d.same(c...)
	}
	d.same("HSET", "hk", "f", "v")
	// A write that changes nothing does not touch a WATCHed key.
	ref2, got2 := dialRaw(t, rd.Addr), dialRaw(t, sh.addr())
	both := func(args ...string) {
		if a, b := ref2.do(args...), got2.do(args...); a != b {
			t.Fatalf("%q on the second connection:\n redis:   %q\n shardis: %q", args, a, b)
		}
	}
	for _, w := range [][]string{
		{"SETBIT", "w", "5", "0"}, {"SETBIT", "w", "5", "1"}, {"BITFIELD", "w", "SET", "u8", "0", "4"},
		{"BITFIELD", "w", "INCRBY", "u8", "0", "0"}, {"BITOP", "AND", "w", "nokey"}, {"BITOP", "AND", "nokey3", "nokey"},
	} {
		d.same("SET", "w", "\x04")
		d.same("WATCH", "w", "nokey3")
		both(w...)
		d.same("MULTI")
		d.same("GET", "w")
		d.same("EXEC")
	}
}

// bitGen produces random bit-command sequences over a few keys.
type bitGen struct{ r *rand.Rand }

func (g *bitGen) pick(s ...string) string { return s[g.r.IntN(len(s))] }

func (g *bitGen) key() string { return g.pick("b1", "b2", "b3", "{b}4", "b1", "b2", "hk", "nokey", "") }

func (g *bitGen) val() string {
	if g.r.IntN(4) == 0 {
		b := make([]byte, g.r.IntN(40))
		for i := range b {
			b[i] = byte(g.r.IntN(256))
		}
		return string(b)
	}
	return g.pick("", "a", "foobar", "\x00\xff\x0f", "1234", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", "ohmytext", "mynewtext",
		"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01", "-1", "0")
}

// offset is a bit offset that never grows a string much (writes).
func (g *bitGen) offset() string {
	if g.r.IntN(3) == 0 {
		return strconv.Itoa(g.r.IntN(200))
	}
	return g.pick("0", "1", "7", "8", "9", "15", "63", "64", "100", "-1", "abc", "", "4294967296", "9223372036854775807",
		"1.5", " 1", "+1", "01", "-9223372036854775808")
}

// readOffset may also be huge and valid (reads only).
func (g *bitGen) readOffset() string {
	if g.r.IntN(8) == 0 {
		return g.pick("4294967295", "536870911", "12345678")
	}
	return g.offset()
}

func (g *bitGen) index() string {
	if g.r.IntN(3) == 0 {
		return strconv.Itoa(g.r.IntN(90) - 45)
	}
	return g.pick("0", "-1", "1", "2", "-2", "5", "-100", "100", "abc", "9223372036854775807", "-9223372036854775808", "")
}

func (g *bitGen) unit() string { return g.pick("BIT", "BYTE", "bit", "bYte", "foo", "") }

// rangeArgs: no range, start, start end, start end unit, or too many.
func (g *bitGen) rangeArgs() []string {
	switch g.r.IntN(6) {
	case 0:
		return nil
	case 1:
		return []string{g.index()}
	case 2:
		return []string{g.index(), g.index()}
	case 5:
		return []string{g.index(), g.index(), g.unit(), g.pick("x", "BIT")}
	}
	return []string{g.index(), g.index(), g.unit()}
}

func (g *bitGen) bfType() string {
	return g.pick("i1", "i8", "u8", "i16", "u3", "i64", "u63", "u64", "i65", "i0", "x8", "I8", "u", "i5", "u1", "i32", "u16", "i-1", "i08")
}

func (g *bitGen) bfValue() string {
	if g.r.IntN(3) == 0 {
		return strconv.Itoa(g.r.IntN(600) - 300)
	}
	return g.pick("0", "1", "-1", "127", "128", "255", "-128", "9223372036854775807", "-9223372036854775808", "abc", "100", "-100", "")
}

func (g *bitGen) bfOffset(write bool) string {
	if g.r.IntN(4) == 0 {
		return g.pick("#0", "#1", "#3", "#", "#-1", "#x", "#100")
	}
	if write {
		return g.offset()
	}
	return g.readOffset()
}

func (g *bitGen) bitfieldArgs(ro bool) []string {
	var a []string
	for i := g.r.IntN(5); i > 0; i-- {
		switch n := g.r.IntN(12); {
		case n < 4 || (ro && n < 9):
			a = append(a, g.pick("GET", "get"), g.bfType(), g.bfOffset(false))
		case n < 6:
			a = append(a, g.pick("SET", "set"), g.bfType(), g.bfOffset(true), g.bfValue())
		case n < 9:
			a = append(a, g.pick("INCRBY", "incrby"), g.bfType(), g.bfOffset(true), g.bfValue())
		case n < 11:
			a = append(a, "OVERFLOW", g.pick("WRAP", "SAT", "FAIL", "fail", "sat", "foo"))
		default:
			a = append(a, g.pick("FOO", "GET", "SET", "OVERFLOW"))
		}
	}
	if len(a) > 0 && g.r.IntN(10) == 0 {
		a = a[:g.r.IntN(len(a))]
	}
	return a
}

func (g *bitGen) next() []string {
	r := g.r
	switch r.IntN(30) {
	case 0, 1:
		return []string{"SET", g.key(), g.val()}
	case 2:
		return []string{"APPEND", g.key(), g.val()}
	case 3:
		return []string{"SETRANGE", g.key(), g.pick("0", "1", "3", "10", "-1"), g.val()}
	case 4:
		return []string{"GET", g.key()}
	case 5:
		return []string{g.pick("DEL", "STRLEN"), g.key()}
	case 6, 7, 8:
		return []string{"SETBIT", g.key(), g.offset(), g.pick("0", "1", "1", "0", "2", "-1", "abc", "01", "")}
	case 9, 10:
		return []string{"GETBIT", g.key(), g.readOffset()}
	case 11, 12:
		return append([]string{"BITCOUNT", g.key()}, g.rangeArgs()...)
	case 13, 14:
		return append([]string{"BITPOS", g.key(), g.pick("0", "1", "0", "1", "2", "-1", "x", "")}, g.rangeArgs()...)
	case 15, 16, 17:
		c := []string{"BITOP", g.pick("AND", "or", "XOR", "NOT", "not", "nand", "Xor"), g.key()}
		for i := r.IntN(4); i >= 0; i-- {
			c = append(c, g.key())
		}
		if r.IntN(10) == 0 {
			c = c[:3]
		}
		return c
	case 18, 19, 20, 21:
		return append([]string{"BITFIELD", g.key()}, g.bitfieldArgs(false)...)
	case 22, 23:
		return append([]string{"BITFIELD_RO", g.key()}, g.bitfieldArgs(r.IntN(4) != 0)...)
	case 24, 25, 26:
		c := []string{"LCS", g.key(), g.key()}
		for i := r.IntN(4); i > 0; i-- {
			switch r.IntN(6) {
			case 0:
				c = append(c, g.pick("IDX", "idx"))
			case 1:
				c = append(c, "LEN")
			case 2:
				c = append(c, g.pick("WITHMATCHLEN", "withmatchlen"))
			case 3:
				c = append(c, "MINMATCHLEN", g.pick("0", "1", "2", "3", "-1", "x", "100"))
			case 4:
				c = append(c, "MINMATCHLEN")
			default:
				c = append(c, g.pick("FOO", "IDX", "LEN"))
			}
		}
		return c
	case 27:
		return []string{"HSET", "hk", "f", "v"}
	case 28:
		// Wrong arity.
		return []string{g.pick("SETBIT", "GETBIT", "BITCOUNT", "BITPOS", "BITOP", "BITFIELD", "BITFIELD_RO", "LCS"), g.key()}[:1+r.IntN(2)]
	}
	return []string{g.pick("BITCOUNT", "GETBIT", "STRLEN"), g.key(), "0"}
}
