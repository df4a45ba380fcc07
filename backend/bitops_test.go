package backend

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

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
		{"SET", "ra", randomText(1, 3000)}, {"SET", "rb", randomText(2, 2500)}, {"LCS", "ra", "rb"},
		{"LCS", "ra", "rb", "IDX", "WITHMATCHLEN", "MINMATCHLEN", "3"}, {"LCS", "rb", "ra", "IDX"},
		{"MULTI"}, {"SETBIT", "m", "3", "1"}, {"BITOP", "XOR", "m2", "m", "t"}, {"BITFIELD", "m", "INCRBY", "u4", "0", "3"},
		{"LCS", "m", "m2"}, {"GETBIT", "m", "x"}, {"EXEC"}, {"GET", "m2"},
	} {
		d.same(c...)
	}
	d.same("HSET", "hk", "f", "v")
	// Keyspace hits and misses are counted by the same lookups as Redis'
	// (read lookups count, write lookups do not).
	d.same("CONFIG", "RESETSTAT")
	for _, c := range [][]string{
		{"GETBIT", "t", "1"}, {"GETBIT", "nokey", "1"}, {"BITCOUNT", "t"}, {"BITCOUNT", "nokey"}, {"BITPOS", "t", "1"},
		{"BITPOS", "nokey", "0"}, {"BITOP", "AND", "x", "t", "nokey", "s1"}, {"BITFIELD", "t", "GET", "u8", "0"},
		{"BITFIELD", "nokey", "GET", "u8", "0"}, {"BITFIELD", "t", "SET", "u8", "0", "1"}, {"BITFIELD_RO", "s1", "GET", "u8", "0"},
		{"SETBIT", "t", "1", "1"}, {"SETBIT", "nokey4", "1", "0"}, {"LCS", "s1", "nokey"}, {"GETBIT", "hk", "0"},
	} {
		d.same(c...)
	}
	for _, field := range []string{"keyspace_hits", "keyspace_misses"} {
		a, b := infoField(parseRESP(d.ref.do("INFO", "stats")).s, field), infoField(parseRESP(d.got.do("INFO", "stats")).s, field)
		if a != b || a <= 0 {
			t.Errorf("%s: redis %d, shardis %d", field, a, b)
		}
	}
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

// bitWrites sends n random bit commands (and the SET/APPEND/DEL mixed
// with them) of seed to every connection, comparing their replies.
func bitWrites(t *testing.T, seed uint64, n int, conns ...*rawConn) {
	t.Helper()
	g := &bitGen{r: rand.New(rand.NewPCG(seed, seed*7727))}
	for _, c := range conns {
		c.do("HSET", "hk", "f", "v")
	}
	// Then one of each kind of write on keys the random ones do not touch.
	// The expiry is absolute: the servers get the command a few ms apart.
	at := strconv.FormatInt(time.Now().Add(100000*time.Second).UnixMilli(), 10)
	fixed := [][]string{
		{"SET", "fx:del", "abc"}, {"BITOP", "OR", "fx:del", "fx:none", "fx:none"},
		{"BITFIELD", "fx:fail", "OVERFLOW", "FAIL", "INCRBY", "u2", "100", "7"},
		{"SET", "fx:same", "\x04", "PXAT", at}, {"SETBIT", "fx:same", "5", "1"}, {"BITFIELD", "fx:same", "SET", "u8", "0", "4"},
		{"SETBIT", "fx:grow", "5", "0"}, {"SETBIT", "fx:grow", "100", "0"}, {"SETBIT", "fx:grow", "3", "1"},
		{"BITFIELD", "fx:bf", "SET", "i5", "#3", "-7", "INCRBY", "u63", "1", "-1", "OVERFLOW", "SAT", "INCRBY", "i64", "64", "-1"},
		{"BITOP", "NOT", "fx:not", "fx:grow"}, {"BITOP", "XOR", "fx:grow", "fx:grow", "fx:bf"},
	}
	for i := 0; i < n+len(fixed); i++ {
		var cmd []string
		if i < n {
			cmd = g.next()
		} else {
			cmd = fixed[i-n]
		}
		want := conns[0].do(cmd...)
		for _, c := range conns[1:] {
			if got := c.do(cmd...); got != want {
				t.Fatalf("%q: %q, want %q", cmd, got, want)
			}
		}
	}
}

// TestBitopsReplicaAndAOF: the writes of the random bit-command
// sequences — SETBIT, BITFIELD (with FAIL creating a key), BITOP deleting
// its destination, writes that change nothing — reach a replica and the
// AOF: the replica's keyspace, and the server's after kill -9 and restart
// and after an AOF rewrite and restart, equal redis-server's after the
// same commands.
func TestBitopsReplicaAndAOF(t *testing.T) {
	rd := harness.StartRedis(t)
	p := harness.StartShardisServer(t, "", "--appendonly", "yes", "--appendfsync", "always")
	master := startServer(t, nil)
	replica := startReplica(t, master.addr(), nil)
	// In sync before the writes, so that they reach it through the stream.
	waitSynced(t, client(t, master.addr()), client(t, replica.addr()))
	ref := dialRaw(t, rd.Addr)
	bitWrites(t, 11, 4000, ref, dialRaw(t, p.Addr), dialRaw(t, master.addr()))
	want := replDump(t, client(t, rd.Addr))
	if len(want) < 4 {
		t.Fatalf("only %d keys written", len(want))
	}
	waitSynced(t, client(t, master.addr()), client(t, replica.addr()))
	sameDump(t, "replica", want, replDump(t, client(t, replica.addr())))

	p.Kill()
	if err := p.Restart(); err != nil {
		t.Fatal(err)
	}
	sameDump(t, "after kill -9 and restart", want, replDump(t, client(t, p.Addr)))
	rdb := client(t, p.Addr)
	if err := rdb.BgRewriteAOF(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	awaitRewrites(t, rdb, 1)
	bitWrites(t, 12, 500, ref, dialRaw(t, p.Addr))
	want = replDump(t, client(t, rd.Addr))
	p.Kill()
	if err := p.Restart(); err != nil {
		t.Fatal(err)
	}
	sameDump(t, "after a rewrite, kill -9 and restart", want, replDump(t, client(t, p.Addr)))
}

// FuzzBitfieldArgs feeds arbitrary subcommand lists (arguments separated
// by spaces) to BITFIELD's parser and runs what it accepts on a buffer
// as large as the highest bit written: no panic, one reply per operation,
// every value within its type's range, and a SET read back by a GET of the
// same field gives the value the SET stored.
func FuzzBitfieldArgs(f *testing.F) {
	g := &bitGen{r: rand.New(rand.NewPCG(5, 6))}
	for i := 0; i < 64; i++ {
		f.Add(strings.Join(g.bitfieldArgs(false), " "))
	}
	f.Add("SET i64 #0 -9223372036854775808 GET i64 0 INCRBY i64 0 -1")
	f.Add("OVERFLOW SAT INCRBY u63 #1 9223372036854775807 OVERFLOW FAIL INCRBY u1 7 1 GET u63 63")
	f.Add("SET u8 #9223372036854775807 1 GET i8\x00 0 overflow wrap get u3 8191")
	f.Fuzz(func(t *testing.T, s string) {
		const limit = 1 << 10 // bytes an offset may address
		var args [][]byte
		for _, a := range strings.Split(s, " ") {
			args = append(args, []byte(a))
		}
		ops, readonly, highest, msg := parseBitfield(args, limit)
		if msg != "" {
			if ops != nil {
				t.Fatalf("%q: error %q with %d operations", s, msg, len(ops))
			}
			return
		}
		n := 0
		if !readonly {
			if highest >= limit*8+64 {
				t.Fatalf("%q: highest bit %d beyond the limit", s, highest)
			}
			n = int(highest>>3) + 1
		}
		p := make([]byte, n)
		var got []int64
		var oks []bool
		runBitfield(ops, p, func(v int64, ok bool) { got, oks = append(got, v), append(oks, ok) })
		if len(got) != len(ops) {
			t.Fatalf("%q: %d replies for %d operations", s, len(got), len(ops))
		}
		for i, op := range ops {
			if op.offset>>3 >= limit || op.bits < 1 || op.bits > 64 || (!op.signed && op.bits > 63) {
				t.Fatalf("%q: operation %+v out of range", s, op)
			}
			if !oks[i] {
				if op.opcode == bfGet || op.overflow != bfFail {
					t.Fatalf("%q: nil reply for %+v", s, op)
				}
				continue
			}
			v := got[i]
			if op.opcode == bfSet {
				continue // the previous value: checked by the GET range below when read
			}
			lo, hi := int64(0), int64(1)<<op.bits-1
			if op.signed {
				lo, hi = -1<<(op.bits-1), 1<<(op.bits-1)-1
				if op.bits == 64 {
					lo, hi = -1<<63, 1<<63-1
				}
			}
			if v < lo || v > hi {
				t.Fatalf("%q: %+v replied %d, outside [%d, %d]", s, op, v, lo, hi)
			}
		}
		// The last write to a field is what a GET of it reads.
		for i := len(ops) - 1; i >= 0; i-- {
			op := ops[i]
			if op.opcode == bfGet || !oks[i] {
				continue
			}
			read := getUnsignedBitfield(p, op.offset, op.bits)
			if op.signed {
				read = uint64(signExtend(read, op.bits))
			}
			if op.opcode == bfIncrBy && int64(read) != got[i] {
				t.Fatalf("%q: INCRBY %+v replied %d, the field holds %d", s, op, got[i], int64(read))
			}
			break
		}
	})
}

// randomText is n letters of a four-letter alphabet, so that two of them
// share long subsequences and many short runs.
func randomText(seed uint64, n int) string {
	r := rand.New(rand.NewPCG(seed, 99))
	b := make([]byte, n)
	for i := range b {
		b[i] = "acgt"[r.IntN(4)]
	}
	return string(b)
}
