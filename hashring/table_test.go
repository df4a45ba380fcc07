package hashring

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func servers(weights ...int) []Server {
	out := make([]Server, len(weights))
	for i, w := range weights {
		out[i] = Server{Addr: fmt.Sprintf("127.0.0.1:%d", 7000+i), Weight: w}
	}
	return out
}

func keys(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, "key:%d", i)
	}
	return out
}

func TestContinuumName(t *testing.T) {
	cases := []struct {
		s    Server
		want string
	}{
		{Server{Addr: "127.0.0.1:6379"}, "127.0.0.1:6379"},
		{Server{Addr: "127.0.0.1:6379", Name: "server1"}, "server1"},
		{Server{Addr: "127.0.0.1:11211"}, "127.0.0.1"}, // libmemcached compatibility
		{Server{Addr: "127.0.0.1:112110"}, "127.0.0.1:112110"},
		{Server{Addr: "/tmp/redis.sock"}, "/tmp/redis.sock:"},
		{Server{Addr: "/tmp/redis.sock", Name: "r"}, "r"},
	}
	for _, c := range cases {
		if got := c.s.ContinuumName(); got != c.want {
			t.Errorf("%+v.ContinuumName() = %q, want %q", c.s, got, c.want)
		}
	}
}

func TestKetamaPointCount(t *testing.T) {
	cases := []struct {
		weight, total uint32
		nlive         int
		want          uint32
	}{
		{1, 1, 1, 160},
		{1, 4, 4, 160},
		{1, 6, 3, 80}, // weights 1/2/3
		{2, 6, 3, 160},
		{3, 6, 3, 240},
		{100000, 100001, 2, 316}, // the Debian sample's "omega" pool
		{1, 100001, 2, 0},
		{1, 3, 3, 160},
		{7, 10, 2, 224},
	}
	for _, c := range cases {
		if got := ketamaPointCount(c.weight, c.total, c.nlive); got != c.want {
			t.Errorf("ketamaPointCount(%d, %d, %d) = %d, want %d", c.weight, c.total, c.nlive, got, c.want)
		}
	}
}

func TestKetamaLayout(t *testing.T) {
	tb, err := New(Spec{Servers: servers(1, 2, 3)})
	if err != nil {
		t.Fatal(err)
	}
	if len(tb.points) != 480 {
		t.Fatalf("%d points, want 480", len(tb.points))
	}
	if !slices.IsSorted(tb.points) {
		t.Fatal("continuum not sorted")
	}
	count := map[int32]int{}
	for _, o := range tb.owners {
		count[o]++
	}
	if count[0] != 80 || count[1] != 160 || count[2] != 240 {
		t.Fatalf("points per server %v, want 80/160/240", count)
	}
	// The first point of the first server: MD5("127.0.0.1:7000-0")[0:4].
	first := ketamaPoints([]byte("127.0.0.1:7000-0"))[0]
	i := slices.Index(tb.points, first)
	if i < 0 || tb.owners[i] != 0 {
		t.Fatalf("point %d of 127.0.0.1:7000-0 missing or not owned by server 0", first)
	}
	// Lookups go to the first point at or after the hash, wrapping.
	if got := tb.LookupHash(tb.points[10]); got != int(tb.owners[10]) {
		t.Fatalf("LookupHash(point 10) = %d, want %d", got, tb.owners[10])
	}
	if got := tb.LookupHash(tb.points[10] + 1); got != int(tb.owners[11]) {
		t.Fatalf("LookupHash(point 10 + 1) = %d, want %d", got, tb.owners[11])
	}
	if last := tb.points[len(tb.points)-1]; last < ^uint32(0) {
		if got := tb.LookupHash(last + 1); got != int(tb.owners[0]) {
			t.Fatalf("LookupHash past the last point = %d, want wrap to %d", got, tb.owners[0])
		}
	}
}

func TestKetamaShare(t *testing.T) {
	tb, err := New(Spec{Servers: servers(1, 2, 3), Hash: "md5"})
	if err != nil {
		t.Fatal(err)
	}
	n := map[int]int{}
	for _, k := range keys(60000) {
		n[tb.Lookup(k)]++
	}
	// Expected about 10000/20000/30000.
	for i, want := range []int{10000, 20000, 30000} {
		if n[i] < want*8/10 || n[i] > want*12/10 {
			t.Errorf("server %d got %d keys, want about %d", i, n[i], want)
		}
	}
}

func TestModula(t *testing.T) {
	// Names "b:1" and "a:1" have the same length, so twemproxy orders them
	// a:1, b:1: its continuum is [a:1, a:1, b:1] (a:1 has weight 2).
	tb, err := New(Spec{Distribution: Modula, Servers: []Server{{Addr: "b:1", Weight: 1}, {Addr: "a:1", Weight: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	for h, want := range []int{1, 1, 0, 1, 1, 0, 1} {
		if got := tb.LookupHash(uint32(h)); got != want {
			t.Errorf("LookupHash(%d) = %d, want %d", h, got, want)
		}
	}
	if got := tb.LookupHash(^uint32(0)); got != int([]int{1, 1, 0}[^uint32(0)%3]) {
		t.Errorf("LookupHash(max) = %d", got)
	}
}

func TestTwemproxyOrder(t *testing.T) {
	s := []Server{
		{Addr: "x:1", Name: "zz"},
		{Addr: "x:2", Name: "aaa"},
		{Addr: "x:3", Name: "b"},
		{Addr: "x:4", Name: "ab"},
		{Addr: "x:5", Name: "Z"},
	}
	// shorter first, then bytewise: "Z" < "b"; "ab" < "zz"; "aaa"
	want := []int{4, 2, 3, 0, 1}
	if got := twemproxyOrder(s); !slices.Equal(got, want) {
		t.Fatalf("twemproxyOrder = %v, want %v", got, want)
	}
}

func TestRandom(t *testing.T) {
	tb, err := NewWithout(Spec{Distribution: Random, Servers: servers(1, 1, 1, 1)}, []bool{false, true, false, false})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]int{}
	for range 4000 {
		seen[tb.Lookup([]byte("same key"))]++
	}
	if seen[1] != 0 || seen[0] == 0 || seen[2] == 0 || seen[3] == 0 || len(seen) != 3 {
		t.Fatalf("random lookups %v, want servers 0, 2 and 3 only", seen)
	}
}

func TestEjection(t *testing.T) {
	for _, d := range []Distribution{Ketama, Modula} {
		spec := Spec{Distribution: d, Servers: servers(1, 1, 1, 1, 1)}
		all, err := New(spec)
		if err != nil {
			t.Fatal(err)
		}
		ej := []bool{false, false, true, false, false}
		less, err := NewWithout(spec, ej)
		if err != nil {
			t.Fatal(err)
		}
		if less.Live(2) || !less.Live(0) || less.LiveCount() != 4 || less.Len() != 5 {
			t.Fatalf("%v: Live/LiveCount wrong", d)
		}
		moved := 0
		ks := keys(20000)
		for _, k := range ks {
			a, b := all.Lookup(k), less.Lookup(k)
			if b == 2 {
				t.Fatalf("%v: key %s goes to the ejected server", d, k)
			}
			if a != b {
				moved++
				if d == Ketama && a != 2 {
					t.Fatalf("ketama: key %s moved from live server %d to %d", k, a, b)
				}
			}
		}
		if d == Ketama && (moved < len(ks)/10 || moved > len(ks)*3/10) {
			t.Errorf("ketama: %d of %d keys moved, want about a fifth", moved, len(ks))
		}
		// Ejecting nothing is the same as New.
		same, _ := NewWithout(spec, make([]bool, 5))
		for _, k := range ks[:1000] {
			if same.Lookup(k) != all.Lookup(k) {
				t.Fatalf("%v: NewWithout(no ejections) differs from New", d)
			}
		}
		if _, err := NewWithout(spec, []bool{true, true, true, true, true}); !errors.Is(err, ErrNoLiveServers) {
			t.Fatalf("%v: all ejected: %v, want ErrNoLiveServers", d, err)
		}
	}
}

func TestKetamaEjectionPointCounts(t *testing.T) {
	// twemproxy recomputes points over live servers: with weights 1/2/3 and
	// the weight-3 server ejected, pct uses total 3 and nlive 2.
	tb, err := NewWithout(Spec{Servers: servers(1, 2, 3)}, []bool{false, false, true})
	if err != nil {
		t.Fatal(err)
	}
	count := map[int32]int{}
	for _, o := range tb.owners {
		count[o]++
	}
	if count[0] != int(ketamaPointCount(1, 3, 2)) || count[1] != int(ketamaPointCount(2, 3, 2)) || count[2] != 0 {
		t.Fatalf("points per server %v", count)
	}
}

func TestSlotsTable(t *testing.T) {
	spec := Spec{Distribution: Slots, Hash: "md5", HashTag: "{}", Servers: []Server{
		{Addr: "127.0.0.1:7001", Ranges: []Range{{0, 2047}}},
		{Addr: "127.0.0.1:7002", Ranges: []Range{{2048, 4095}}},
	}}
	tb, err := New(spec)
	if err != nil {
		t.Fatal(err)
	}
	if tb.Slots() != DefaultSlots {
		t.Fatalf("Slots() = %d", tb.Slots())
	}
	n := [2]int{}
	for _, k := range keys(10000) {
		s := tb.Slot(k)
		want := 0
		if s >= 2048 {
			want = 1
		}
		if got := tb.Lookup(k); got != want || tb.LookupSlot(s) != want {
			t.Fatalf("key %s slot %d: Lookup %d, LookupSlot %d, want %d", k, s, got, tb.LookupSlot(s), want)
		}
		if s != KeySlot(MD5, "{}", 4096, k) || uint32(s) != MD5(HashTag(k, "{}"))%4096 {
			t.Fatalf("Slot(%s) = %d disagrees with KeySlot/MD5", k, s)
		}
		n[want]++
	}
	if n[0] < 4000 || n[1] < 4000 {
		t.Fatalf("keys per server %v", n)
	}
	if tb.Slot([]byte("a{x}")) != tb.Slot([]byte("b{x}")) {
		t.Fatal("hash tag not applied to slots")
	}
	if tb.Slot(nil) != 0 || tb.Slot([]byte("{}")) != int(MD5([]byte("{}"))%4096) {
		t.Fatal("empty key must be slot 0")
	}
	if tb.LookupSlot(-1) != -1 || tb.LookupSlot(4096) != -1 {
		t.Fatal("LookupSlot out of range must be -1")
	}
	// Ejection moves nothing in a slots table.
	ej, err := NewWithout(spec, []bool{true, false})
	if err != nil || ej.Live(0) || ej.LookupSlot(0) != 0 {
		t.Fatalf("slots ejection: %v live0=%v owner0=%d", err, ej.Live(0), ej.LookupSlot(0))
	}
	kt, _ := New(Spec{Servers: servers(1)})
	if kt.Slot([]byte("x")) != -1 || kt.LookupSlot(0) != -1 {
		t.Fatal("Slot/LookupSlot on a ketama table must be -1")
	}
}

func TestNewErrors(t *testing.T) {
	cases := []struct {
		spec Spec
		kind error
		msg  string
	}{
		{Spec{}, ErrNoServers, "no servers"},
		{Spec{Hash: "sha1", Servers: servers(1)}, ErrUnknownHash, `unknown hash "sha1"`},
		{Spec{HashTag: "{", Servers: servers(1)}, ErrBadHashTag, "two characters"},
		{Spec{Distribution: 9, Servers: servers(1)}, ErrUnknownDistribution, "Distribution(9)"},
		{Spec{Servers: servers(1, 0)}, ErrBadWeight, "server 127.0.0.1:7001: weight must be at least 1"},
		{Spec{Servers: servers(1<<31, 1<<31)}, ErrWeightTotal, "total weight"},
		{Spec{Servers: []Server{{Addr: "a:1", Weight: 1, Name: "x"}, {Addr: "b:1", Weight: 1, Name: "x"}}}, ErrDuplicateServer, "server x: duplicate server name"},
		{Spec{Servers: []Server{{Addr: "a:1", Ranges: []Range{{0, 1}}, Weight: 1}}}, ErrRangesNeedSlots, "need the slots distribution"},
		{Spec{Distribution: Slots, Servers: []Server{{Addr: "a:1", Weight: 1}}}, ErrMissingRanges, "no slot ranges"},
		{Spec{Distribution: Slots, Slots: 16, Servers: []Server{{Addr: "a:1", Ranges: []Range{{0, 14}}}}}, ErrSlotsNotCovered, "slot 15 is not covered"},
		{Spec{Distribution: Slots, Slots: MaxSlots + 1, Servers: []Server{{Addr: "a:1", Ranges: []Range{{0, 14}}}}}, ErrBadSlotCount, "bad slot count"},
	}
	for _, c := range cases {
		_, err := New(c.spec)
		if err == nil || !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("New(%+v) = %v, want %v containing %q", c.spec, err, c.kind, c.msg)
		}
	}
	if _, err := NewWithout(Spec{Servers: servers(1, 1)}, []bool{true}); !errors.Is(err, ErrEjectedLength) {
		t.Errorf("NewWithout with short ejected: %v", err)
	}
}

func TestLookupNoAlloc(t *testing.T) {
	for _, d := range []Distribution{Ketama, Modula, Random, Slots} {
		spec := Spec{Distribution: d, Hash: "md5", HashTag: "{}", Servers: servers(1, 2, 3)}
		if d == Slots {
			spec.Servers[0].Ranges = []Range{{0, 999}}
			spec.Servers[1].Ranges = []Range{{1000, 2999}}
			spec.Servers[2].Ranges = []Range{{3000, 4095}}
		}
		tb, err := New(spec)
		if err != nil {
			t.Fatal(err)
		}
		key := []byte("user{1000}:profile")
		if n := testing.AllocsPerRun(200, func() { _ = tb.Lookup(key) }); n != 0 {
			t.Errorf("%v: Lookup allocates %.1f times", d, n)
		}
	}
}

func TestParseDistribution(t *testing.T) {
	for _, d := range []Distribution{Ketama, Modula, Random, Slots} {
		got, err := ParseDistribution(d.String())
		if err != nil || got != d {
			t.Errorf("ParseDistribution(%q) = %v, %v", d.String(), got, err)
		}
	}
	if _, err := ParseDistribution("Ketama"); !errors.Is(err, ErrUnknownDistribution) {
		t.Errorf("ParseDistribution(Ketama) = %v", err)
	}
}

// TestKetamaIndex: the bucket index finds, for every hash, the point the
// plain binary search over the whole continuum finds (twemproxy's
// ketama_dispatch): at each point, just before and after it, at bucket
// edges, at both ends of the hash space, and at random hashes, for rings
// from one server to hundreds (buckets from 2 to 2^16).
func TestKetamaIndex(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 3, 7, 16, 100, 500} {
		w := make([]int, n)
		for i := range w {
			w[i] = 1 + i%4
		}
		tb, err := New(Spec{Servers: servers(w...), Hash: "fnv1a_64"})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(tb.pidx) - 1; got < len(tb.points) && got < 1<<16 {
			t.Errorf("%d servers: %d buckets for %d points", n, got, len(tb.points))
		}
		check := func(h uint32) {
			if got, want := tb.ketamaFind(h), ketamaSearch(tb.points, h); got != want {
				t.Fatalf("%d servers: hash %#x: index finds point %d, the continuum search %d", n, h, got, want)
			}
		}
		for _, h := range []uint32{0, 1, ^uint32(0), ^uint32(0) - 1} {
			check(h)
		}
		for _, p := range tb.points {
			check(p)
			check(p - 1)
			check(p + 1)
		}
		for b := range uint32(len(tb.pidx) - 1) {
			check(b << tb.pshift)
			check(b<<tb.pshift - 1)
		}
		for range 100000 {
			check(rnd.Uint32())
		}
	}
}
