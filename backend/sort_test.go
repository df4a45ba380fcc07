package backend

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/shardis/shardis/integration/harness"
)

// TestSortDifferential sends the same random SORT and SORT_RO commands to
// shardis-server and redis-server over lists, sets (intset and hashtable),
// sorted sets (listpack and skiplist), strings and missing keys: numeric
// and ALPHA, ASC/DESC, LIMIT (negative, huge, empty), BY with string and
// hash-field weights (missing keys and fields, weights that are not
// numbers: "One or more scores can't be converted into double"), BY
// nosort, GET # / string / hash field patterns, several GETs, STORE (read
// back with LRANGE), syntax errors. OBJECT ENCODING of the sorted set afterwards is compared too
// (SORT converts it to a skiplist).
//
// Normalised where Redis' order is arbitrary: the order of a hashtable
// set, and of a set's or sorted set's dict, shows in SORT BY nosort of a
// hashtable set (no STORE) and between equal ALPHA BY weights of a set or
// sorted set. For those the LIMIT and STORE options are dropped and the
// replies compared as multisets.
func TestSortDifferential(t *testing.T) {
	diffSeeds(t, 8, 3000, func(r *rand.Rand) func() []string { return (&sortGen{r: r}).next }, checkSort)
}

// checkSort compares one command, normalising SORTs whose order Redis
// leaves arbitrary.
func checkSort(d *differ, args []string) {
	d.t.Helper()
	name := strings.ToUpper(args[0])
	if name != "SORT" && name != "SORT_RO" {
		d.check(args)
		return
	}
	o, msg := parseSort(bargs(args), name == "SORT_RO")
	typ := parseRESP(d.ref.do("TYPE", args[1])).s
	enc := parseRESP(d.ref.do("OBJECT", "ENCODING", args[1])).s
	arbitrary := msg == "" && ((typ == "set" && enc == "hashtable" && o.dontsort && o.store == nil) ||
		((typ == "set" || typ == "zset") && o.alpha && o.by != nil && !o.dontsort))
	if !arbitrary {
		d.check(args)
		if msg == "" && typ == "zset" {
			d.same("OBJECT", "ENCODING", args[1])
		}
		return
	}
	var kept []string
	for i := 0; i < len(args); i++ {
		switch {
		case i >= 2 && strings.EqualFold(args[i], "limit") && i+2 < len(args):
			i += 2
		case i >= 2 && strings.EqualFold(args[i], "store") && i+1 < len(args):
			i++
		default:
			kept = append(kept, args[i])
		}
	}
	a, b := d.ref.do(kept...), d.got.do(kept...)
	if sortedReply(a) != sortedReply(b) {
		d.t.Fatalf("%q (as a multiset):\n redis:    %q\n shardis:  %q", kept, a, b)
	}
}

func bargs(args []string) [][]byte {
	out := make([][]byte, len(args))
	for i, a := range args {
		out[i] = []byte(a)
	}
	return out
}

// sortGen produces random SORT workloads.
type sortGen struct{ r *rand.Rand }

func (g *sortGen) pick(s ...string) string { return s[g.r.IntN(len(s))] }

// elem is an element of the sorted collections: numbers (some not
// integers, some with spaces or hex), words, and a few awkward ones.
func (g *sortGen) elem() string {
	switch g.r.IntN(12) {
	case 0:
		return g.pick("abc", "b", "B", "", " 3", "3 ", "0x1A", "1e3", "inf", "-inf", "nan", "a\x00b", "é")
	case 1, 2:
		return strconv.FormatFloat((g.r.Float64()-0.5)*100, 'f', g.r.IntN(3), 64)
	case 3, 4:
		return g.pick("apple", "banana", "cherry", "date", "elder", "fig", "grape")
	}
	return strconv.Itoa(g.r.IntN(30) - 5)
}

func (g *sortGen) weight() string {
	if g.r.IntN(6) == 0 {
		return g.pick("x", "", "1.5", "-2", "1e2", " 7", "nan", "10abc")
	}
	return strconv.Itoa(g.r.IntN(20))
}

func (g *sortGen) src() string { return g.pick("list", "iset", "hset", "zset", "bigz", "str", "none") }

func (g *sortGen) pattern(get bool) string {
	p := []string{"w_*", "h_*->f", "h_*->g", "w_*x", "nosort", "h_*->", "*", "#"}
	if !get {
		p = p[:len(p)-1]
	}
	return g.pick(p...)
}

func (g *sortGen) next() []string {
	switch g.r.IntN(12) {
	case 0:
		c := []string{g.pick("RPUSH", "LPUSH"), "list"}
		for range 1 + g.r.IntN(5) {
			c = append(c, g.elem())
		}
		return c
	case 1:
		return []string{"SADD", "iset", strconv.Itoa(g.r.IntN(40) - 5)}
	case 2:
		return []string{"SADD", "hset", g.elem()}
	case 3:
		k := g.pick("zset", "bigz")
		c := []string{"ZADD", k}
		for range 1 + g.r.IntN(3) {
			c = append(c, strconv.Itoa(g.r.IntN(10)), g.elem())
		}
		if k == "bigz" {
			for i := range 70 {
				c = append(c, strconv.Itoa(i), "big"+strconv.Itoa(i))
			}
		}
		return c
	case 4:
		return []string{"SET", "w_" + g.elem(), g.weight()}
	case 5:
		return []string{"HSET", "h_" + g.elem(), g.pick("f", "g"), g.weight()}
	case 6:
		if g.r.IntN(5) == 0 {
			return []string{"TYPE", g.pick("dst", "list")}
		}
		return []string{"LRANGE", g.pick("dst", "list"), "0", "-1"}
	case 7:
		return []string{"DEL", g.pick("list", "iset", "hset", "zset", "w_1", "h_2", "dst")}
	}
	name := g.pick("SORT", "SORT", "SORT_RO")
	c := []string{name, g.src()}
	for range g.r.IntN(6) {
		switch g.r.IntN(9) {
		case 0:
			c = append(c, g.pick("ASC", "DESC", "desc"))
		case 1, 2:
			c = append(c, "ALPHA")
		case 3:
			c = append(c, "LIMIT", g.pick("0", "1", "2", "-1", "100", "x"), g.pick("0", "1", "3", "-1", "10", "1000"))
		case 4:
			c = append(c, "BY", g.pattern(false))
		case 5, 6:
			c = append(c, "GET", g.pattern(true))
		case 7:
			c = append(c, "STORE", g.pick("dst", "dst", "list", "w_1"))
		default:
			c = append(c, g.pick("BOGUS", "LIMIT", "BY", "GET"))
		}
	}
	return c
}

// TestSortTransaction: SORT with BY/GET patterns inside MULTI/EXEC (EXEC
// locks every shard for it) and WATCH on a SORT ... STORE destination.
func TestSortTransaction(t *testing.T) {
	rd := harness.StartRedis(t)
	sh := startServer(t, nil)
	d := &differ{t: t, ref: dialRaw(t, rd.Addr), got: dialRaw(t, sh.addr())}
	d.same("FLUSHALL")
	d.same("RPUSH", "l", "3", "1", "2")
	for i := 1; i <= 3; i++ {
		d.same("SET", "w_"+strconv.Itoa(i), strconv.Itoa(10-i))
		d.same("HSET", "h_"+strconv.Itoa(i), "f", "v"+strconv.Itoa(i))
	}
	for _, c := range [][]string{
		{"MULTI"}, {"SORT", "l", "BY", "w_*", "GET", "#", "GET", "h_*->f"}, {"SORT", "l", "BY", "w_*", "STORE", "dst"},
		{"SORT_RO", "l", "GET", "h_*->f"}, {"LRANGE", "dst", "0", "-1"}, {"EXEC"},
		{"WATCH", "dst"}, {"MULTI"}, {"PING"}, {"EXEC"},
	} {
		d.same(c...)
	}
	// A SORT ... STORE by another client dirties a WATCHed destination.
	w, o := dialRaw(t, sh.addr()), dialRaw(t, sh.addr())
	w.do("WATCH", "dst")
	o.do("SORT", "l", "BY", "w_*", "STORE", "dst")
	w.do("MULTI")
	w.do("PING")
	if got := w.do("EXEC"); got != "*-1\r\n" {
		t.Fatalf("EXEC after SORT STORE onto the watched key: %q", got)
	}
	w.do("WATCH", "dst")
	o.do("SORT", "l", "BY", "w_*") // no STORE: not a write
	w.do("MULTI")
	w.do("PING")
	if got := w.do("EXEC"); got != "*1\r\n+PONG\r\n" {
		t.Fatalf("EXEC after a SORT without STORE: %q", got)
	}
}

// TestPqsortPartial: pqsort leaves the ranks [l, r] sorted (as a full
// sort would), for random inputs with many ties.
func TestPqsortPartial(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 300; n++ {
		v := make([]int, n)
		for i := range v {
			v[i] = r.IntN(max(1, n/3))
		}
		want := slices.Clone(v)
		slices.Sort(want)
		if n == 0 {
			continue
		}
		lo := r.IntN(n)
		hi := lo + r.IntN(n-lo)
		pqsort(n, func(i, j int) int { return v[i] - v[j] }, func(i, j int) { v[i], v[j] = v[j], v[i] }, lo, hi)
		if !slices.Equal(v[lo:hi+1], want[lo:hi+1]) {
			t.Fatalf("n=%d [%d,%d]: %v, want %v", n, lo, hi, v[lo:hi+1], want[lo:hi+1])
		}
	}
}

// TestSortScores: the weights SORT accepts (strtod after white space, ""
// as 0, hex, inf, a NUL ending the number) and refuses (trailing
// garbage, NaN, overflow), as elements and as BY weights, against
// redis-server. After each overflow a ZADD resets redis-server's errno,
// which SORT does not clear itself (a later SORT would fail on any input:
// not reproduced).
func TestSortScores(t *testing.T) {
	rd := harness.StartRedis(t)
	sh := startServer(t, nil)
	d := &differ{t: t, ref: dialRaw(t, rd.Addr), got: dialRaw(t, sh.addr())}
	vals := []string{"1", "", " 3", "3 ", "\t-2.5", "0x1A", "1e3", "inf", "-inf", "nan", "1e400", "-1e400", "1e-400",
		"4e-320", "5\x00abc", "abc", "1_0", "+7", "--1", ".5", "5.", "1e", "Infinity"}
	for _, v := range vals {
		d.same("DEL", "l", "w_a", "w_b", "h_a")
		d.same("RPUSH", "l", "2", v, "10")
		d.same("SORT", "l")
		d.same("SORT", "l", "DESC", "LIMIT", "1", "1")
		d.same("ZADD", "errno", "0", "reset")
		d.same("DEL", "l")
		d.same("RPUSH", "l", "a", "b")
		d.same("SET", "w_a", v)
		d.same("HSET", "h_a", "f", v)
		d.same("SET", "w_b", "1")
		d.same("SORT", "l", "BY", "w_*")
		d.same("ZADD", "errno", "0", "reset")
		d.same("SORT", "l", "BY", "h_*->f", "GET", "#", "GET", "h_*->f", "GET", "w_*")
		d.same("ZADD", "errno", "0", "reset")
		d.same("SORT", "l", "BY", "w_*", "ALPHA", "STORE", "dst")
		d.same("LRANGE", "dst", "0", "-1")
	}
}

// TestStoreKeysInExec: random SORT (on a list: a deterministic order) and
// GEORADIUS/GEOSEARCHSTORE commands, valid or not, queued in MULTI and
// run by EXEC, which locks only the shards of their key positions (all
// shards for a SORT with patterns): the replies match redis-server's, so
// every key a handler touches was locked (an unlocked access panics).
func TestStoreKeysInExec(t *testing.T) {
	diffSeeds(t, 2, 400, func(r *rand.Rand) func() []string {
		sg, gg := &sortGen{r: r}, &geoGen{r: r}
		return func() []string {
			if r.IntN(2) == 0 {
				c := sg.next()
				if c[0] == "SORT" || c[0] == "SORT_RO" {
					c[1] = "list"
				}
				return c
			}
			return gg.next()
		}
	}, func(d *differ, args []string) {
		d.same("MULTI")
		d.same(args...)
		d.same("EXEC")
	})
}
