package backend

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestCloneIsStructural: cloning a collection of a million elements
// copies nothing; the first write after it copies one root-to-leaf path
// (a handful of nodes), never the collection. This is what keeps a
// snapshot's copy-on-write cheap under the shard lock.
func TestCloneIsStructural(t *testing.T) {
	items := make([]int, 1_000_000)
	for i := range items {
		items[i] = 2 * i
	}
	orig := btreeFrom(items)
	c := orig.Clone()
	if owned := countOwned(c.root, c.owner); owned != 0 {
		t.Fatalf("clone owns %d nodes before any write", owned)
	}
	i, _ := c.Search(777_777, cmpInt)
	c.Insert(i, 777_777)
	owned := countOwned(c.root, c.owner)
	if owned == 0 || owned > 8 {
		t.Fatalf("one insert after a clone copied %d nodes", owned)
	}
	if orig.Len() != 1_000_000 || c.Len() != 1_000_001 {
		t.Fatalf("lengths %d %d", orig.Len(), c.Len())
	}
	if _, found := orig.Search(777_777, cmpInt); found {
		t.Fatal("the original sees the clone's insert")
	}
	if err := c.check(cmpInt); err != nil {
		t.Fatal(err)
	}
}

func cmpInt(a, b int) int { return a - b }

func countOwned[T any](n *bnode[T], o *btOwner) int {
	if n == nil {
		return 0
	}
	k := 0
	if n.owner == o {
		k = 1
	}
	for _, c := range n.kids {
		k += countOwned(c, o)
	}
	return k
}

// TestRewriteStall writes to a 1M-element sorted set, list and hash (and
// to small keys) from several clients while BGREWRITEAOF writes them out,
// and logs the worst command latency before and during the rewrite, per
// command: writes to the big keys are compared with PING, which takes no
// lock (what PING sees is the machine, not the keyspace). The figures are
// logged, not asserted (timings belong to benchmarks); the structural
// guarantee is TestCloneIsStructural.
func TestRewriteStall(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, aofConfig(dir))
	const n = 1_000_000
	loadBig(s, n)
	ctx := context.Background()
	ctl := client(t, s.addr())

	var during atomic.Bool
	var worstBefore, worstDuring atomic.Int64
	var ops atomic.Int64
	var kindMu sync.Mutex
	kindWorst := make([]int64, 6)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		c := client(t, s.addr())
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 9))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				var err error
				switch i % 6 {
				case 5:
					err = c.Ping(ctx).Err()
				case 0:
					err = c.ZAdd(ctx, "big:zset", redis.Z{Score: r.Float64() * n, Member: "w" + strconv.Itoa(r.IntN(n))}).Err()
				case 1:
					err = c.RPush(ctx, "big:list", "x").Err()
				case 2:
					err = c.LPop(ctx, "big:list").Err()
				case 3:
					err = c.HSet(ctx, "big:hash", "f"+strconv.Itoa(r.IntN(2*n)), "v").Err()
				case 4:
					err = c.Incr(ctx, "small:"+strconv.Itoa(w)).Err()
				}
				if err != nil {
					t.Error(err)
					return
				}
				d := int64(time.Since(start))
				worst := &worstBefore
				if during.Load() {
					worst = &worstDuring
					kindMu.Lock()
					if d > kindWorst[i%6] {
						kindWorst[i%6] = d
					}
					kindMu.Unlock()
				}
				for {
					cur := worst.Load()
					if d <= cur || worst.CompareAndSwap(cur, d) {
						break
					}
				}
				ops.Add(1)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	during.Store(true)
	start := time.Now()
	if err := ctl.BgRewriteAOF(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	opsAtStart := ops.Load()
	waitRewrite(t, ctl)
	took := time.Since(start)
	opsDuring := ops.Load() - opsAtStart
	close(stop)
	wg.Wait()
	t.Logf("rewrite of 3 collections of %d elements took %v; %d commands ran meanwhile; worst latency %v before, %v during",
		n, took.Round(time.Millisecond), opsDuring, time.Duration(worstBefore.Load()).Round(time.Microsecond),
		time.Duration(worstDuring.Load()).Round(time.Microsecond))
	t.Logf("worst latency during the rewrite per command: ZADD %v, RPUSH %v, LPOP %v, HSET %v (big keys), INCR %v (small key), PING %v (no lock)",
		time.Duration(kindWorst[0]), time.Duration(kindWorst[1]), time.Duration(kindWorst[2]), time.Duration(kindWorst[3]),
		time.Duration(kindWorst[4]), time.Duration(kindWorst[5]))
	if opsDuring == 0 {
		t.Fatal("no command completed during the rewrite: clients were stalled")
	}

	// The collections are in the rewritten file (TestTypesKill9AndRewrite
	// reloads rewritten collections; reloading three million elements here
	// would take most of the test budget under the race detector).
	st, err := os.Stat(filepath.Join(dir, "appendonly.aof"))
	if err != nil || st.Size() < int64(3*n*8) {
		t.Fatalf("rewritten AOF: %v, %d bytes", err, st.Size())
	}
}

// loadBig stores a sorted set, a list and a hash of n elements each,
// built directly (a million commands would take most of the test
// budget under the race detector).
func loadBig(s *Server, n int) {
	zitems := make([]zitem, n)
	list := make([]string, n)
	hitems := make([]hashEntry, n)
	for i := range zitems {
		m := "m" + strconv.Itoa(i)
		zitems[i] = zitem{float64(i), m}
		list[i] = m
		f := "f" + strconv.Itoa(i)
		hitems[i] = hashEntry{h: hashKeyString(f), f: f, v: m}
	}
	sort.Slice(hitems, func(i, j int) bool { return cmpHashEntry(hitems[i], hitems[j]) < 0 })
	objs := map[string]Object{
		"big:zset": zsetFromSorted(zitems, false),
		"big:list": &listObj{t: btreeFrom(list)},
		"big:hash": &hashObj{big: btreeFrom(hitems)},
	}
	c := s.newInternalClient()
	c.internal = false
	for k, o := range objs {
		tx := c.begin()
		tx.lockKey([]byte(k))
		tx.putObject([]byte(k), o, false) // not in the AOF until the rewrite
		c.commit()
	}
}
