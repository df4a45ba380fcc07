package backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestBlockingWakeupAndTimeout: two go-redis clients. One blocks on an
// empty list and is woken by the other's push; a block on a key nobody
// pushes to times out after about its timeout; INFO counts the blocked
// client meanwhile.
func TestBlockingWakeupAndTimeout(t *testing.T) {
	s := startServer(t, nil)
	a, b := client(t, s.addr()), client(t, s.addr())
	ctx := context.Background()

	got := make(chan []string, 1)
	go func() {
		v, err := a.BLPop(ctx, 10*time.Second, "q").Result()
		if err != nil {
			v = []string{"error", err.Error()}
		}
		got <- v
	}()
	awaitBlocked(t, b, 1)
	if err := b.RPush(ctx, "q", "hello", "world").Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-got:
		if fmt.Sprint(v) != "[q hello]" {
			t.Fatalf("BLPOP = %v", v)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("BLPOP not woken by RPUSH")
	}
	if v := b.LRange(ctx, "q", 0, -1).Val(); fmt.Sprint(v) != "[world]" {
		t.Fatalf("list after serving: %v", v)
	}
	awaitBlocked(t, b, 0)

	start := time.Now()
	_, err := a.BRPop(ctx, 300*time.Millisecond, "nothing").Result()
	if !errors.Is(err, redis.Nil) {
		t.Fatalf("BRPOP on an empty list: %v", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 5*time.Second {
		t.Fatalf("BRPOP with timeout 0.3 s returned after %v", d)
	}

	// Fractional seconds and a sorted set.
	go func() {
		v, err := a.BZPopMin(ctx, 10*time.Second, "z1", "z2").Result()
		if err != nil {
			got <- []string{"error", err.Error()}
			return
		}
		got <- []string{v.Key, v.Member.(string), fmt.Sprint(v.Score)}
	}()
	awaitBlocked(t, b, 1)
	b.ZAdd(ctx, "z2", redis.Z{Score: 2.5, Member: "m"}, redis.Z{Score: 1.5, Member: "n"})
	if v := <-got; fmt.Sprint(v) != "[z2 n 1.5]" {
		t.Fatalf("BZPOPMIN = %v", v)
	}
	r := dialRaw(t, s.addr())
	start = time.Now()
	if v := r.do("BLMOVE", "none", "dst", "LEFT", "RIGHT", "0.05"); v != "*-1\r\n" {
		t.Fatalf("BLMOVE timeout reply %q", v)
	}
	if d := time.Since(start); d < 45*time.Millisecond {
		t.Fatalf("BLMOVE 0.05 returned after %v", d)
	}
}

// awaitBlocked waits until INFO reports n blocked clients.
func awaitBlocked(t *testing.T, c *redis.Client, n int) {
	t.Helper()
	want := fmt.Sprintf("blocked_clients:%d\r", n)
	for i := 0; i < 500; i++ {
		if strings.Contains(c.Info(context.Background(), "clients").Val(), want) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("blocked_clients never reached %d: %s", n, c.Info(context.Background(), "clients").Val())
}

// blockRaw sends a blocking command on a new raw connection and returns a
// channel with its reply.
func blockRaw(t *testing.T, addr string, args ...string) (*rawConn, chan string) {
	t.Helper()
	r := dialRaw(t, addr)
	r.send(encodeCommand(args...))
	ch := make(chan string, 1)
	go func() {
		_ = r.c.SetReadDeadline(time.Now().Add(20 * time.Second))
		b, err := readReply(r.br)
		if err != nil {
			ch <- "error: " + err.Error()
			return
		}
		ch <- string(b)
	}()
	return r, ch
}

func recv(t *testing.T, ch chan string) string {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("no reply from a blocked client")
	}
	return ""
}

// TestBlockingFairness: clients blocked on one key are served in the
// order they blocked, each with one element of a variadic push, and a
// client blocked on several keys is served by the first to get data.
func TestBlockingFairness(t *testing.T) {
	s := startServer(t, nil)
	ctl := client(t, s.addr())
	ctx := context.Background()
	var chans []chan string
	for i := 0; i < 3; i++ {
		_, ch := blockRaw(t, s.addr(), "BLPOP", "k", "other", "0")
		awaitBlocked(t, ctl, i+1)
		chans = append(chans, ch)
	}
	ctl.LPush(ctx, "k", "a", "b", "c") // list is [c b a]
	for i, want := range []string{"c", "b", "a"} {
		if v := recv(t, chans[i]); v != "*2\r\n$1\r\nk\r\n$1\r\n"+want+"\r\n" {
			t.Fatalf("client %d got %q, want %s", i, v, want)
		}
	}
	if n := ctl.Exists(ctx, "k").Val(); n != 0 {
		t.Fatal("list not deleted after being emptied by blocked clients")
	}
	// A push of two elements with three waiters: the third keeps waiting.
	for i := 0; i < 3; i++ {
		_, ch := blockRaw(t, s.addr(), "BRPOP", "k", "0")
		awaitBlocked(t, ctl, i+1)
		chans[i] = ch
	}
	ctl.RPush(ctx, "k", "x", "y")
	if v := recv(t, chans[0]); !strings.HasSuffix(v, "$1\r\ny\r\n") {
		t.Fatalf("first BRPOP got %q", v)
	}
	if v := recv(t, chans[1]); !strings.HasSuffix(v, "$1\r\nx\r\n") {
		t.Fatalf("second BRPOP got %q", v)
	}
	awaitBlocked(t, ctl, 1)
	ctl.RPush(ctx, "k", "z")
	if v := recv(t, chans[2]); !strings.HasSuffix(v, "$1\r\nz\r\n") {
		t.Fatalf("third BRPOP got %q", v)
	}
	// MULTI/EXEC is isolated: the blocked client sees the final state.
	_, ch := blockRaw(t, s.addr(), "BLPOP", "m", "0")
	awaitBlocked(t, ctl, 1)
	_, err := ctl.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.LPush(ctx, "m", "a")
		p.LPush(ctx, "m", "b")
		p.LPush(ctx, "m", "c")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if v := recv(t, ch); !strings.HasSuffix(v, "$1\r\nc\r\n") {
		t.Fatalf("BLPOP after EXEC got %q", v)
	}
	// LPUSH + DEL in one transaction wakes nobody.
	_, ch = blockRaw(t, s.addr(), "BLPOP", "d", "0")
	awaitBlocked(t, ctl, 1)
	ctl.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.LPush(ctx, "d", "a")
		p.Del(ctx, "d")
		p.Set(ctx, "d", "string now", 0)
		return nil
	})
	time.Sleep(50 * time.Millisecond)
	select {
	case v := <-ch:
		t.Fatalf("blocked client woken by LPUSH+DEL+SET: %q", v)
	default:
	}
	ctl.Del(ctx, "d")
	ctl.RPush(ctx, "d", "later")
	if v := recv(t, ch); !strings.HasSuffix(v, "$5\r\nlater\r\n") {
		t.Fatalf("BLPOP got %q", v)
	}
}

// TestBlockingMoveChain: BLMOVE chains pass an element along, a circular
// pair settles, a wrong-typed destination gets the waiter an error and
// leaves the element, RENAME into a waited key wakes it, and the pops are
// in the AOF as LMOVE/LPOP.
func TestBlockingMoveChain(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, aofConfig(dir))
	ctl := client(t, s.addr())
	ctx := context.Background()
	_, ch1 := blockRaw(t, s.addr(), "BLMOVE", "list1", "list2", "RIGHT", "LEFT", "0")
	awaitBlocked(t, ctl, 1)
	_, ch2 := blockRaw(t, s.addr(), "BLMOVE", "list2", "list3", "LEFT", "LEFT", "0")
	awaitBlocked(t, ctl, 2)
	ctl.RPush(ctx, "list1", "foo")
	if v := recv(t, ch1); v != "$3\r\nfoo\r\n" {
		t.Fatalf("first BLMOVE got %q", v)
	}
	if v := recv(t, ch2); v != "$3\r\nfoo\r\n" {
		t.Fatalf("second BLMOVE got %q", v)
	}
	if v := ctl.LRange(ctx, "list3", 0, -1).Val(); fmt.Sprint(v) != "[foo]" {
		t.Fatalf("list3 = %v", v)
	}
	if n := ctl.Exists(ctx, "list1", "list2").Val(); n != 0 {
		t.Fatalf("%d source lists left", n)
	}

	// Circular.
	_, ch1 = blockRaw(t, s.addr(), "BRPOPLPUSH", "c1", "c2", "0")
	awaitBlocked(t, ctl, 1)
	_, ch2 = blockRaw(t, s.addr(), "BRPOPLPUSH", "c2", "c1", "0")
	awaitBlocked(t, ctl, 2)
	ctl.RPush(ctx, "c1", "foo")
	recv(t, ch1)
	recv(t, ch2)
	if v := ctl.LRange(ctx, "c1", 0, -1).Val(); fmt.Sprint(v) != "[foo]" {
		t.Fatalf("c1 = %v", v)
	}
	if n := ctl.Exists(ctx, "c2").Val(); n != 0 {
		t.Fatal("c2 left")
	}

	// Wrong-typed destination: the waiter gets WRONGTYPE, the element
	// stays; the next waiter is served.
	ctl.Set(ctx, "target", "nolist", 0)
	_, ch1 = blockRaw(t, s.addr(), "BRPOPLPUSH", "bl", "target", "0")
	awaitBlocked(t, ctl, 1)
	_, ch2 = blockRaw(t, s.addr(), "BRPOPLPUSH", "bl", "ok", "0")
	awaitBlocked(t, ctl, 2)
	ctl.RPush(ctx, "bl", "foo")
	if v := recv(t, ch1); !strings.HasPrefix(v, "-WRONGTYPE") {
		t.Fatalf("wrong destination: %q", v)
	}
	if v := recv(t, ch2); v != "$3\r\nfoo\r\n" {
		t.Fatalf("second waiter: %q", v)
	}

	// RENAME into the waited key.
	_, ch1 = blockRaw(t, s.addr(), "BLPOP", "moved", "0")
	awaitBlocked(t, ctl, 1)
	ctl.RPush(ctx, "src", "v")
	ctl.Rename(ctx, "src", "moved")
	if v := recv(t, ch1); !strings.HasSuffix(v, "$1\r\nv\r\n") {
		t.Fatalf("BLPOP after RENAME: %q", v)
	}

	ctl.Do(ctx, "PING")
	b, _ := os.ReadFile(filepath.Join(dir, "appendonly.aof"))
	aof := string(b)
	for _, want := range []string{
		string(encodeCommand("LMOVE", "list1", "list2", "RIGHT", "LEFT")),
		string(encodeCommand("LMOVE", "list2", "list3", "LEFT", "LEFT")),
		string(encodeCommand("LPOP", "moved")),
	} {
		if !strings.Contains(aof, want) {
			t.Fatalf("AOF lacks %q:\n%q", want, aof)
		}
	}
}

// TestBlockingInMulti: inside MULTI a blocking command does not block.
func TestBlockingInMulti(t *testing.T) {
	s := startServer(t, nil)
	r := dialRaw(t, s.addr())
	r.do("MULTI")
	r.do("BLPOP", "e", "0")
	r.do("BRPOPLPUSH", "e", "x", "0")
	r.do("BZPOPMAX", "e", "0")
	if v := r.do("EXEC"); v != "*3\r\n*-1\r\n$-1\r\n*-1\r\n" {
		t.Fatalf("EXEC = %q", v)
	}
}

// TestBlockedClientShutdown: a client blocked forever does not hold up a
// graceful shutdown; its connection is closed.
func TestBlockedClientShutdown(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Port, cfg.Dir = 0, t.TempDir()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.logH.setWriter(io.Discard)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	<-s.Ready()
	conn, err := net.Dial("tcp", s.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write(encodeCommand("BLPOP", "forever", "0"))
	awaitBlocked(t, client(t, s.addr()), 1)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("shutdown held up by a blocked client")
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(make([]byte, 16)); err == nil {
		t.Fatal("blocked client's connection still open")
	}
}

// TestBlockingUnblockAndDisconnect: CLIENT UNBLOCK ends a block as a
// timeout or an error; a blocked client that disconnects is withdrawn and
// takes no element; commands pipelined after a blocking one run after it.
func TestBlockingUnblockAndDisconnect(t *testing.T) {
	s := startServer(t, nil)
	ctl := client(t, s.addr())
	ctx := context.Background()
	r, ch := blockRaw(t, s.addr(), "BLPOP", "u", "0")
	awaitBlocked(t, ctl, 1)
	id := clientID(t, ctl, "blpop")
	if n := ctl.Do(ctx, "CLIENT", "UNBLOCK", id, "ERROR").Val(); n != int64(1) {
		t.Fatalf("CLIENT UNBLOCK = %v", n)
	}
	if v := recv(t, ch); v != "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n" {
		t.Fatalf("unblocked reply %q", v)
	}
	r.send(encodeCommand("BLPOP", "u", "0"))
	awaitBlocked(t, ctl, 1)
	ctl.Do(ctx, "CLIENT", "UNBLOCK", id)
	if v := r.reply(); v != "*-1\r\n" {
		t.Fatalf("unblocked as timeout: %q", v)
	}
	if n := ctl.Do(ctx, "CLIENT", "UNBLOCK", id).Val(); n != int64(0) {
		t.Fatal("CLIENT UNBLOCK of a client not blocked")
	}

	// Pipelined behind a block.
	r.send(append(encodeCommand("BLPOP", "p", "0"), encodeCommand("ECHO", "after")...))
	awaitBlocked(t, ctl, 1)
	ctl.RPush(ctx, "p", "x")
	if v := r.reply(); !strings.HasSuffix(v, "$1\r\nx\r\n") {
		t.Fatalf("BLPOP %q", v)
	}
	if v := r.reply(); v != "$5\r\nafter\r\n" {
		t.Fatalf("pipelined command after the block: %q", v)
	}

	// A client that goes away while blocked takes nothing.
	gone, _ := blockRaw(t, s.addr(), "BLPOP", "g", "0")
	awaitBlocked(t, ctl, 1)
	gone.c.Close()
	awaitBlocked(t, ctl, 0)
	ctl.RPush(ctx, "g", "kept")
	if v := ctl.LRange(ctx, "g", 0, -1).Val(); fmt.Sprint(v) != "[kept]" {
		t.Fatalf("element taken by a departed client: %v", v)
	}
}

func clientID(t *testing.T, c *redis.Client, cmd string) string {
	t.Helper()
	for _, line := range strings.Split(c.ClientList(context.Background()).Val(), "\n") {
		if strings.Contains(line, "cmd="+cmd) {
			for _, f := range strings.Fields(line) {
				if strings.HasPrefix(f, "id=") {
					return f[3:]
				}
			}
		}
	}
	t.Fatalf("no client running %s", cmd)
	return ""
}

// TestBlockingConcurrentProducers: many producers and blocked consumers;
// every element is delivered exactly once.
func TestBlockingConcurrentProducers(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	const producers, consumers, per = 4, 6, 300
	var wg sync.WaitGroup
	seen := make(chan string, producers*per)
	for i := 0; i < consumers; i++ {
		c := client(t, s.addr())
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				v, err := c.BLPop(ctx, 2*time.Second, "work1", "work2").Result()
				if err != nil {
					return
				}
				seen <- v[1]
			}
		}()
	}
	var pw sync.WaitGroup
	for p := 0; p < producers; p++ {
		c := client(t, s.addr())
		pw.Add(1)
		go func() {
			defer pw.Done()
			for i := 0; i < per; i++ {
				key := "work1"
				if i%3 == 0 {
					key = "work2"
				}
				c.RPush(ctx, key, fmt.Sprintf("%d-%d", p, i))
			}
		}()
	}
	pw.Wait()
	wg.Wait()
	close(seen)
	got := map[string]int{}
	for v := range seen {
		got[v]++
	}
	if len(got) != producers*per {
		t.Fatalf("%d distinct elements delivered, want %d", len(got), producers*per)
	}
	for v, n := range got {
		if n != 1 {
			t.Fatalf("%s delivered %d times", v, n)
		}
	}
}
