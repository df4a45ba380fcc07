package backend

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/shardis/shardis/integration/harness"
)

// TestDifferentialTypes sends the same random sequences of hash, list,
// set, sorted set and transaction commands — with wrong types, bad
// arguments, out-of-range indexes, empty collections, negative counts,
// float scores (inf, 1.5e+20, 0.1+0.2...), LIMIT/WITHSCORES/BYLEX
// options, MULTI/EXEC with queued errors and WATCH — to shardis-server and
// to Debian's redis-server 7.0 and compares the raw RESP replies byte for
// byte. OBJECT ENCODING is compared too (the encoding conversions follow
// Redis').
//
// Normalised, because genuinely unordered or random in Redis:
//   - SMEMBERS/SINTER/SUNION/SDIFF and HKEYS/HVALS/HGETALL of a set or
//     hash in hashtable encoding: compared as multisets (Redis' dict order
//     is arbitrary). For intset and listpack encodings (checked with
//     OBJECT ENCODING on redis-server) the order must match exactly:
//     numeric for intsets, insertion order for small hashes.
//   - SRANDMEMBER/HRANDFIELD/ZRANDMEMBER: the number of elements, their
//     distinctness for a positive count, and membership.
//   - SPOP: the number of elements and membership; the key is then
//     deleted on both servers, since they popped different members.
//   - HSCAN/SSCAN/ZSCAN: cursors differ for hashtable/skiplist encodings;
//     a full iteration must return the same elements (and a compact
//     encoding's single reply must match as a multiset).
func TestDifferentialTypes(t *testing.T) {
	rd := harness.StartRedis(t)
	sh := startServer(t, nil)
	for seed := uint64(1); seed <= 12; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			d := &typeDiffer{differ: differ{t: t, ref: dialRaw(t, rd.Addr), got: dialRaw(t, sh.addr())}}
			d.same("FLUSHALL")
			g := &typeGen{r: rand.New(rand.NewPCG(seed, seed*31337))}
			for i := 0; i < 4000 && !t.Failed(); i++ {
				for _, cmd := range g.next() {
					d.checkType(cmd)
				}
			}
		})
	}
}

// TestDifferentialScores: score parsing and "%.17g" formatting, ZINCRBY
// and HINCRBYFLOAT precision, against redis-server.
func TestDifferentialScores(t *testing.T) {
	rd := harness.StartRedis(t)
	sh := startServer(t, nil)
	d := &differ{t: t, ref: dialRaw(t, rd.Addr), got: dialRaw(t, sh.addr())}
	scores := []string{"0", "-0", "0.1", "0.2", "0.3", "1.5e+20", "1e20", "1e-5", "1e-4", "123456789012345678", "1.7976931348623157e308",
		"inf", "-inf", "+inf", "Infinity", "nan", "1e400", "-1e400", "1e-400", "4e-320", " 1", "1 ", "", "abc", "0x10", "0x1p-2",
		"1e", ".5", "5.", "3.0", "100", "-2.5", "12345.6789", "9007199254740993", "0.30000000000000004", "1e16", "1e17", "1e-4", "0.0001", "0.00001"}
	for _, s := range scores {
		d.same("DEL", "z")
		d.same("ZADD", "z", s, "m")
		d.same("ZSCORE", "z", "m")
		d.same("ZINCRBY", "z", s, "m")
		d.same("ZINCRBY", "z", "0.1", "m")
		d.same("ZRANGE", "z", "0", "-1", "WITHSCORES")
		d.same("ZADD", "z", "INCR", s, "n")
		d.same("ZRANGEBYSCORE", "z", s, "+inf", "WITHSCORES")
		d.same("ZRANGEBYSCORE", "z", "("+s, s, "WITHSCORES")
		d.same("ZCOUNT", "z", "-inf", s)
		d.same("ZMSCORE", "z", "m", "n", "x")
		d.same("ZSCAN", "z", "0")
		d.same("HSET", "h", "f", s)
		d.same("HINCRBYFLOAT", "h", "f", "0.1")
		d.same("HINCRBYFLOAT", "h", "g", s)
		d.same("HGET", "h", "f")
		d.same("ZUNIONSTORE", "u", "2", "z", "z", "WEIGHTS", s, "2")
		d.same("ZRANGE", "u", "0", "-1", "WITHSCORES")
		d.same("ZINTER", "2", "z", "u", "AGGREGATE", "MAX", "WITHSCORES")
	}
	// Accumulated rounding: 0.1 added 30 times.
	d.same("DEL", "z", "h")
	for i := 0; i < 30; i++ {
		d.same("ZINCRBY", "z", "0.1", "m")
		d.same("HINCRBYFLOAT", "h", "f", "0.1")
	}
	d.same("ZADD", "z", "inf", "a", "-inf", "b")
	d.same("ZINCRBY", "z", "-inf", "a")
	d.same("ZINCRBY", "z", "inf", "b")
	d.same("ZRANGE", "z", "0", "-1", "WITHSCORES")
	d.same("ZUNIONSTORE", "u", "2", "z", "z", "WEIGHTS", "inf", "-inf")
	d.same("ZRANGE", "u", "0", "-1", "WITHSCORES")
	d.same("ZUNIONSTORE", "u", "1", "z", "WEIGHTS", "0")
	d.same("ZRANGE", "u", "0", "-1", "WITHSCORES")
}

type typeDiffer struct{ differ }

func (d *typeDiffer) checkType(args []string) {
	d.t.Helper()
	d.n++
	name := strings.ToUpper(args[0])
	a, b := d.ref.do(args...), d.got.do(args...)
	if os.Getenv("DIFFTRACE") != "" && strings.Contains(strings.Join(args, " "), os.Getenv("DIFFTRACE")) {
		d.t.Logf("%q -> %.200q (enc %s)", args, a, d.ref.do("OBJECT", "ENCODING", os.Getenv("DIFFTRACE")))
	}
	if a == b {
		return
	}
	ok := false
	switch name {
	case "SMEMBERS", "SINTER", "SUNION", "SDIFF", "HKEYS", "HVALS":
		ok = sortedReply(a) == sortedReply(b) && !d.compactOrder(args, name)
	case "HGETALL":
		ok = sortedPairs(a) == sortedPairs(b) && !d.compactOrder(args, name)
	case "SRANDMEMBER", "HRANDFIELD", "ZRANDMEMBER":
		ok = d.sameRandom(args, a, b)
	case "SPOP":
		ok = sameShape(a, b)
	case "HSCAN", "SSCAN", "ZSCAN":
		ok = strings.HasPrefix(a, "*2\r\n") && strings.HasPrefix(b, "*2\r\n")
	}
	if !ok {
		d.t.Fatalf("command #%d %q (redis encoding %q):\n redis:    %q\n shardis:  %q", d.n, args,
			parseRESP(d.ref.do("OBJECT", "ENCODING", args[min(1, len(args)-1)])).s, a, b)
	}
	switch name {
	case "SPOP":
		d.same("DEL", args[1])
	case "HSCAN", "SSCAN", "ZSCAN":
		d.fullCollectionScan(args)
	}
}

// compactOrder reports whether the key's encoding on redis-server makes
// the order significant (listpack hashes, intsets).
func (d *typeDiffer) compactOrder(args []string, name string) bool {
	if len(args) != 2 {
		return false
	}
	enc := parseRESP(d.ref.do("OBJECT", "ENCODING", args[1])).s
	switch name {
	case "SMEMBERS":
		return enc == "intset"
	case "HKEYS", "HVALS", "HGETALL":
		return enc == "listpack"
	}
	return false
}

func sortedPairs(raw string) string {
	v := parseRESP(raw)
	var p []string
	for i := 0; i+1 < len(v.arr); i += 2 {
		p = append(p, v.arr[i].s+"\x00"+v.arr[i+1].s)
	}
	sort.Strings(p)
	return string(v.kind) + strings.Join(p, "\x01")
}

func sameShape(a, b string) bool {
	va, vb := parseRESP(a), parseRESP(b)
	return va.kind == vb.kind && va.null == vb.null && len(va.arr) == len(vb.arr) && (va.kind != '-' || va.s == vb.s)
}

// sameRandom checks a random-members reply: same shape, members of the
// collection, distinct for a positive count.
func (d *typeDiffer) sameRandom(args []string, a, b string) bool {
	if !sameShape(a, b) {
		return false
	}
	vb := parseRESP(b)
	if vb.kind != '*' {
		return true
	}
	pairs := len(args) == 4
	step := 1
	if pairs {
		step = 2
	}
	count, _ := strconv.Atoi(args[2])
	seen := map[string]bool{}
	for i := 0; i < len(vb.arr); i += step {
		m := vb.arr[i].s
		if count > 0 && seen[m] {
			return false
		}
		seen[m] = true
		var in string
		switch strings.ToUpper(args[0]) {
		case "SRANDMEMBER":
			in = d.ref.do("SISMEMBER", args[1], m)
		case "HRANDFIELD":
			in = d.ref.do("HEXISTS", args[1], m)
		case "ZRANDMEMBER":
			in = d.ref.do("ZSCORE", args[1], m)
			if in != "$-1\r\n" {
				in = ":1\r\n"
			}
		}
		if in != ":1\r\n" {
			return false
		}
	}
	return true
}

// fullCollectionScan compares complete HSCAN/SSCAN/ZSCAN iterations.
func (d *typeDiffer) fullCollectionScan(args []string) {
	d.t.Helper()
	collect := func(r *rawConn) []string {
		cursor := "0"
		var out []string
		for i := 0; i < 100000; i++ {
			v := parseRESP(r.do(append([]string{args[0], args[1], cursor}, args[3:]...)...))
			if len(v.arr) != 2 {
				return []string{"error: " + v.s}
			}
			cursor = v.arr[0].s
			for _, e := range v.arr[1].arr {
				out = append(out, e.s)
			}
			if cursor == "0" {
				break
			}
		}
		sort.Strings(out)
		return out
	}
	a, b := collect(d.ref), collect(d.got)
	if strings.Join(a, "\x00") != strings.Join(b, "\x00") {
		d.t.Fatalf("%q full iteration:\n redis:   %.300q\n shardis: %.300q", args, a, b)
	}
}

// typeGen produces random collection commands, including malformed ones.
type typeGen struct {
	r     *rand.Rand
	multi bool // inside a generated MULTI block (no unordered replies)
}

func (g *typeGen) pick(s ...string) string { return s[g.r.IntN(len(s))] }

// key: mostly keys of one type per prefix, sometimes any key (wrong
// types), sometimes a string key.
func (g *typeGen) key(prefix string) string {
	switch g.r.IntN(12) {
	case 0:
		return g.pick("h1", "l1", "s1", "z1", "str")
	case 1:
		return prefix + "9" // often missing
	}
	return prefix + strconv.Itoa(1+g.r.IntN(3))
}

func (g *typeGen) member() string {
	switch g.r.IntN(20) {
	case 0:
		return strings.Repeat("long", 17) // 68 bytes: past listpack values
	case 1:
		return ""
	case 2:
		return g.pick("007", "-0", "+1", "1.0", "9223372036854775807", "-9223372036854775808", "18446744073709551616")
	}
	return g.pick("a", "b", "c", "d", "e", "1", "2", "3", "-4", "10", "x y", "\x00z")
}

func (g *typeGen) members(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = g.member()
	}
	return out
}

func (g *typeGen) index() string {
	return g.pick("0", "1", "-1", "2", "-2", "5", "-5", "100", "-100", "abc", "9223372036854775807", "-9223372036854775808", "1.5", "")
}

func (g *typeGen) count() string {
	return g.pick("0", "1", "2", "3", "-1", "-3", "10", "-10", "abc", "-9223372036854775808", "9223372036854775807", "")
}

func (g *typeGen) score() string {
	return g.pick("0", "1", "2", "-1", "0.5", "1.5e+20", "inf", "-inf", "+inf", "0.1", "0.2", "3", "1e-300", "abc", "nan", "", "10", "-0")
}

func (g *typeGen) scoreBound() string {
	return g.pick("-inf", "+inf", "inf", "0", "(0", "1", "(1", "2.5", "(2.5", "10", "(-1", "abc", "(", "((1", "1e400", " 1", "nan")
}

func (g *typeGen) lexBound() string {
	return g.pick("-", "+", "[a", "(a", "[c", "(c", "[", "(", "a", "", "[b", "(z", "-x", "+x")
}

func (g *typeGen) timeout() string {
	return g.pick("0.01", "0.01", "0.001", "-1", "abc", "inf", "0.02")
}

// next returns one command, or a MULTI block.
func (g *typeGen) next() [][]string {
	r := g.r
	if !g.multi && r.IntN(40) == 0 {
		return g.multiBlock()
	}
	if !g.multi && r.IntN(60) == 0 {
		k := g.key(g.pick("h", "l", "s", "z"))
		block := [][]string{{"WATCH", k}}
		if r.IntN(2) == 0 {
			block = append(block, g.next()...)
		}
		return append(block, g.multiBlock()...)
	}
	var c []string
	switch r.IntN(4) {
	case 0:
		c = g.hashCmd()
	case 1:
		c = g.listCmd()
	case 2:
		c = g.setCmd()
	default:
		c = g.zsetCmd()
	}
	if len(c) < 2 {
		return [][]string{c}
	}
	switch r.IntN(30) {
	case 0:
		// Wrong arity.
		if len(c) > 2 {
			c = c[:1+r.IntN(len(c)-1)]
		}
	case 1:
		c = []string{g.pick("TYPE", "OBJECT"), c[1]}
		if c[0] == "OBJECT" {
			c = []string{"OBJECT", "ENCODING", c[1]}
		}
	case 2:
		c = []string{g.pick("DEL", "EXISTS", "TTL"), g.key(g.pick("h", "l", "s", "z"))}
	case 3:
		c = []string{"SET", "str", g.member()}
	case 4:
		c = []string{g.pick("RENAME", "RENAMENX"), g.key(g.pick("h", "l", "s", "z")), g.key(g.pick("h", "l", "s", "z"))}
	case 5:
		c = []string{"OBJECT", "ENCODING", g.key(g.pick("h", "l", "s", "z"))}
	}
	return [][]string{c}
}

func (g *typeGen) multiBlock() [][]string {
	g.multi = true
	defer func() { g.multi = false }()
	block := [][]string{{"MULTI"}}
	for i := g.r.IntN(5); i >= 0; i-- {
		switch g.r.IntN(12) {
		case 0:
			block = append(block, []string{"NOSUCHCMD", "x"})
		case 1:
			block = append(block, []string{"LPUSH", "l1"}) // wrong arity: EXECABORT
		case 2:
			block = append(block, []string{"MULTI"})
		case 3:
			block = append(block, []string{"WATCH", "l1"})
		default:
			block = append(block, g.next()...)
		}
	}
	return append(block, []string{g.pick("EXEC", "EXEC", "EXEC", "DISCARD")})
}

// ordered reports whether a command's reply is deterministic and ordered
// (what a MULTI block may contain).
func (g *typeGen) ordered(c []string) []string {
	if !g.multi {
		return c
	}
	switch strings.ToUpper(c[0]) {
	case "SMEMBERS", "SINTER", "SUNION", "SDIFF", "HKEYS", "HVALS", "HGETALL", "SRANDMEMBER", "HRANDFIELD", "ZRANDMEMBER", "SPOP", "HSCAN", "SSCAN", "ZSCAN":
		return []string{"PING"}
	}
	return c
}

func (g *typeGen) hashCmd() []string {
	r := g.r
	k := g.key("h")
	var c []string
	switch r.IntN(18) {
	case 0, 1, 2:
		c = []string{g.pick("HSET", "HMSET"), k}
		for i := 1 + r.IntN(3); i > 0; i-- {
			c = append(c, g.member(), g.member())
		}
		if r.IntN(20) == 0 {
			c = c[:len(c)-1] // odd: arity error
		}
	case 3:
		c = []string{"HSETNX", k, g.member(), g.member()}
	case 4:
		c = []string{"HGET", k, g.member()}
	case 5:
		c = append([]string{"HMGET", k}, g.members(1+r.IntN(3))...)
	case 6:
		c = append([]string{"HDEL", k}, g.members(1+r.IntN(3))...)
	case 7:
		c = []string{g.pick("HEXISTS", "HSTRLEN"), k, g.member()}
	case 8:
		c = []string{"HLEN", k}
	case 9:
		c = []string{g.pick("HKEYS", "HVALS", "HGETALL"), k}
	case 10:
		c = []string{"HINCRBY", k, g.pick("n", "m", g.member()), g.pick("1", "-1", "100", "9223372036854775807", "-9223372036854775808", "abc", "1.5")}
	case 11:
		c = []string{"HINCRBYFLOAT", k, g.pick("f", "n", g.member()), g.pick("0.1", "-0.2", "1e3", "inf", "abc", "1.5e+20", "3")}
	case 12:
		c = []string{"HRANDFIELD", k}
		if r.IntN(3) > 0 {
			c = append(c, g.count())
			if r.IntN(2) == 0 {
				c = append(c, g.pick("WITHVALUES", "withvalues", "FOO"))
			}
		}
	case 13:
		c = []string{"HSCAN", k, g.pick("0", "0", "abc", "-1")}
		if r.IntN(2) == 0 {
			c = append(c, "MATCH", g.pick("*", "a*", "[0-9]"))
		}
		if r.IntN(2) == 0 {
			c = append(c, "COUNT", g.pick("1", "2", "0", "x"))
		}
	case 14:
		// Cross the listpack entries threshold.
		c = []string{"HSET", k}
		for i := 0; i < 70; i++ {
			c = append(c, "f"+strconv.Itoa(r.IntN(200)), strconv.Itoa(i))
		}
	default:
		c = []string{"HSET", k, g.pick("n", "f"), g.pick("1", "2.5", "x", "-3")}
	}
	return g.ordered(c)
}

func (g *typeGen) listCmd() []string {
	r := g.r
	k := g.key("l")
	var c []string
	switch r.IntN(22) {
	case 0, 1, 2:
		c = append([]string{g.pick("LPUSH", "RPUSH", "LPUSHX", "RPUSHX")}, k)
		c = append(c, g.members(1+r.IntN(4))...)
	case 3:
		c = []string{g.pick("LPOP", "RPOP"), k}
		if r.IntN(2) == 0 {
			c = append(c, g.count())
		}
	case 4:
		c = []string{"LLEN", k}
	case 5, 6:
		c = []string{"LRANGE", k, g.index(), g.index()}
	case 7:
		c = []string{"LINDEX", k, g.index()}
	case 8:
		c = []string{"LSET", k, g.index(), g.member()}
	case 9:
		c = []string{"LREM", k, g.count(), g.member()}
	case 10:
		c = []string{"LTRIM", k, g.index(), g.index()}
	case 11:
		c = []string{"LINSERT", k, g.pick("BEFORE", "AFTER", "before", "middle"), g.member(), g.member()}
	case 12:
		c = []string{"LPOS", k, g.member()}
		for i := r.IntN(3); i > 0; i-- {
			c = append(c, g.pick("RANK", "COUNT", "MAXLEN", "rank", "FOO"), g.pick("1", "-1", "0", "2", "-2", "abc", "-9223372036854775808", "5"))
		}
	case 13:
		c = []string{"RPOPLPUSH", k, g.key("l")}
	case 14:
		c = []string{"LMOVE", k, g.key("l"), g.pick("LEFT", "RIGHT", "left", "up"), g.pick("LEFT", "RIGHT")}
	case 15:
		c = []string{"LMPOP", g.pick("1", "2", "0", "-1", "x", "5"), k, g.key("l"), g.pick("LEFT", "RIGHT", "MIDDLE")}
		if r.IntN(2) == 0 {
			c = append(c, "COUNT", g.count())
		}
	case 16:
		c = []string{g.pick("BLPOP", "BRPOP"), k, g.key("l"), g.timeout()}
	case 17:
		c = []string{"BLMOVE", k, g.key("l"), g.pick("LEFT", "RIGHT"), g.pick("LEFT", "RIGHT", "x"), g.timeout()}
	case 18:
		c = []string{"BRPOPLPUSH", k, g.key("l"), g.timeout()}
	case 19:
		c = []string{"BLMPOP", g.timeout(), g.pick("1", "2", "0"), k, g.key("l"), g.pick("LEFT", "RIGHT")}
		if r.IntN(2) == 0 {
			c = append(c, "COUNT", g.count())
		}
	default:
		c = []string{"RPUSH", k}
		for i := 0; i < 20; i++ {
			c = append(c, g.member())
		}
	}
	return g.ordered(c)
}

func (g *typeGen) setCmd() []string {
	r := g.r
	k := g.key("s")
	var c []string
	switch r.IntN(18) {
	case 0, 1, 2:
		c = append([]string{"SADD", k}, g.members(1+r.IntN(4))...)
	case 3:
		c = append([]string{"SREM", k}, g.members(1+r.IntN(3))...)
	case 4:
		c = []string{"SMEMBERS", k}
	case 5:
		c = []string{"SISMEMBER", k, g.member()}
	case 6:
		c = append([]string{"SMISMEMBER", k}, g.members(1+r.IntN(3))...)
	case 7:
		c = []string{"SCARD", k}
	case 8:
		c = []string{"SPOP", k}
		if r.IntN(2) == 0 {
			c = append(c, g.pick("0", "1", "2", "100", "-1", "abc"))
		}
	case 9:
		c = []string{"SRANDMEMBER", k}
		if r.IntN(3) > 0 {
			c = append(c, g.count())
		}
	case 10:
		c = []string{"SMOVE", k, g.key("s"), g.member()}
	case 11:
		c = []string{g.pick("SINTER", "SUNION", "SDIFF"), k, g.key("s"), g.key("s")}
	case 12:
		c = []string{g.pick("SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"), g.key("s"), k, g.key("s")}
	case 13:
		c = []string{"SINTERCARD", g.pick("1", "2", "0", "3", "x"), k, g.key("s")}
		if r.IntN(2) == 0 {
			c = append(c, "LIMIT", g.pick("0", "1", "-1", "x"))
		}
	case 14:
		c = []string{"SSCAN", k, g.pick("0", "abc")}
		if r.IntN(2) == 0 {
			c = append(c, "COUNT", g.pick("1", "5", "0"))
		}
	case 15:
		// Cross the intset threshold or convert with a string.
		c = []string{"SADD", k}
		for i := 0; i < 60; i++ {
			c = append(c, strconv.Itoa(r.IntN(600)))
		}
	default:
		c = []string{"SADD", k, g.pick("1", "2", "3", "x")}
	}
	return g.ordered(c)
}

func (g *typeGen) zsetCmd() []string {
	r := g.r
	k := g.key("z")
	var c []string
	switch r.IntN(30) {
	case 0, 1, 2:
		c = []string{"ZADD", k}
		for i := r.IntN(3); i > 0; i-- {
			c = append(c, g.pick("NX", "XX", "GT", "LT", "CH", "INCR", "nx", "ch"))
		}
		for i := 1 + r.IntN(3); i > 0; i-- {
			c = append(c, g.score(), g.member())
		}
		if r.IntN(15) == 0 {
			c = c[:len(c)-1]
		}
	case 3:
		c = []string{"ZINCRBY", k, g.score(), g.member()}
	case 4:
		c = append([]string{"ZREM", k}, g.members(1+r.IntN(3))...)
	case 5:
		c = []string{"ZSCORE", k, g.member()}
	case 6:
		c = append([]string{"ZMSCORE", k}, g.members(1+r.IntN(3))...)
	case 7:
		c = []string{"ZCARD", k}
	case 8:
		c = []string{"ZCOUNT", k, g.scoreBound(), g.scoreBound()}
	case 9, 10:
		c = []string{g.pick("ZRANGE", "ZREVRANGE"), k, g.index(), g.index()}
		if r.IntN(2) == 0 {
			c = append(c, g.pick("WITHSCORES", "withscores", "LIMIT"))
		}
	case 11, 12:
		c = []string{g.pick("ZRANGEBYSCORE", "ZREVRANGEBYSCORE"), k, g.scoreBound(), g.scoreBound()}
		c = append(c, g.rangeOpts(false)...)
	case 13:
		c = []string{"ZRANGE", k, g.scoreBound(), g.scoreBound(), "BYSCORE"}
		c = append(c, g.rangeOpts(true)...)
	case 14:
		c = []string{g.pick("ZRANK", "ZREVRANK"), k, g.member()}
	case 15:
		c = []string{g.pick("ZREMRANGEBYRANK"), k, g.index(), g.index()}
	case 16:
		c = []string{"ZREMRANGEBYSCORE", k, g.scoreBound(), g.scoreBound()}
	case 17:
		c = []string{g.pick("ZPOPMIN", "ZPOPMAX"), k}
		if r.IntN(2) == 0 {
			c = append(c, g.count())
		}
	case 18:
		c = []string{"ZMPOP", g.pick("1", "2", "0"), k, g.key("z"), g.pick("MIN", "MAX", "min", "MID")}
		if r.IntN(2) == 0 {
			c = append(c, "COUNT", g.count())
		}
	case 19:
		c = []string{"ZRANDMEMBER", k}
		if r.IntN(3) > 0 {
			c = append(c, g.count())
			if r.IntN(2) == 0 {
				c = append(c, g.pick("WITHSCORES", "FOO"))
			}
		}
	case 20, 21:
		op := g.pick("ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE", "ZUNION", "ZINTER", "ZDIFF", "ZINTERCARD")
		c = []string{op}
		if strings.HasSuffix(op, "STORE") {
			c = append(c, g.key("z"))
		}
		n := g.pick("2", "2", "1", "3", "0", "-1", "x", "5")
		c = append(c, n, k, g.key(g.pick("z", "s")), g.key("z"))
		switch r.IntN(5) {
		case 0:
			c = append(c, "WEIGHTS", g.score(), g.score())
		case 1:
			c = append(c, "AGGREGATE", g.pick("SUM", "MIN", "MAX", "avg"))
		case 2:
			c = append(c, g.pick("WITHSCORES", "LIMIT"), g.pick("1", "0", "-1"))
		}
	case 22:
		c = []string{"ZSCAN", k, g.pick("0", "x")}
		if r.IntN(2) == 0 {
			c = append(c, "MATCH", g.pick("*", "a*", "1*"))
		}
	case 23:
		c = []string{"ZRANGESTORE", g.key("z"), k, g.index(), g.index()}
		if r.IntN(2) == 0 {
			c = []string{"ZRANGESTORE", g.key("z"), k, g.scoreBound(), g.scoreBound(), "BYSCORE"}
			c = append(c, g.rangeOpts(true)...)
		}
	case 24:
		c = []string{g.pick("BZPOPMIN", "BZPOPMAX"), k, g.key("z"), g.timeout()}
	case 25:
		c = []string{"BZMPOP", g.timeout(), "2", k, g.key("z"), g.pick("MIN", "MAX")}
	case 26, 27:
		return g.ordered(g.lexCmd())
	case 28:
		// Cross the listpack threshold.
		c = []string{"ZADD", k}
		for i := 0; i < 70; i++ {
			c = append(c, strconv.Itoa(r.IntN(50)), "m"+strconv.Itoa(r.IntN(200)))
		}
	default:
		c = []string{"ZADD", k, g.score(), g.member()}
	}
	return g.ordered(c)
}

// rangeOpts are WITHSCORES/LIMIT options (REV too for ZRANGE).
func (g *typeGen) rangeOpts(rev bool) []string {
	var o []string
	for i := g.r.IntN(3); i > 0; i-- {
		switch g.r.IntN(4) {
		case 0:
			o = append(o, "WITHSCORES")
		case 1:
			o = append(o, "LIMIT", g.pick("0", "1", "-1", "2", "100", "x"), g.pick("1", "2", "-1", "0", "x"))
		case 2:
			if rev {
				o = append(o, "REV")
			} else {
				o = append(o, "LIMIT")
			}
		case 3:
			o = append(o, g.pick("BYLEX", "FOO"))
		}
	}
	return o
}

// lexCmd works on keys whose members all have score 0 (lexicographic
// ranges are only defined then).
func (g *typeGen) lexCmd() []string {
	r := g.r
	k := g.pick("lz1", "lz2", "lz9")
	switch r.IntN(8) {
	case 0, 1:
		c := []string{"ZADD", k}
		for i := 1 + r.IntN(4); i > 0; i-- {
			c = append(c, "0", g.pick("a", "b", "c", "d", "aa", "ab", "z", "", "B"))
		}
		return c
	case 2:
		return []string{g.pick("ZRANGEBYLEX", "ZREVRANGEBYLEX"), k, g.lexBound(), g.lexBound(), g.pick("LIMIT", "x"), g.pick("0", "1", "-1"), g.pick("1", "2", "-1")}
	case 3:
		return []string{g.pick("ZRANGEBYLEX", "ZREVRANGEBYLEX"), k, g.lexBound(), g.lexBound()}
	case 4:
		c := []string{"ZRANGE", k, g.lexBound(), g.lexBound(), "BYLEX"}
		if r.IntN(2) == 0 {
			c = append(c, "REV")
		}
		if r.IntN(3) == 0 {
			c = append(c, "WITHSCORES")
		}
		return c
	case 5:
		return []string{"ZLEXCOUNT", k, g.lexBound(), g.lexBound()}
	case 6:
		return []string{"ZREMRANGEBYLEX", k, g.lexBound(), g.lexBound()}
	default:
		return []string{"ZRANGESTORE", g.pick("lz1", "lz2"), k, g.lexBound(), g.lexBound(), "BYLEX", "LIMIT", "0", g.pick("1", "2", "-1")}
	}
}
