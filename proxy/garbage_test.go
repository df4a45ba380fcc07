package proxy

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// garbage returns a random malformed or half-formed input: random bytes,
// valid commands with corrupted lengths, absurd counts, endless lines.
func garbage(rnd *rand.Rand) []byte {
	switch rnd.IntN(8) {
	case 0:
		b := make([]byte, 1+rnd.IntN(4096))
		for i := range b {
			b[i] = byte(rnd.IntN(256))
		}
		return b
	case 1:
		c := []byte(cmd("SET", "g"+strconv.Itoa(rnd.IntN(100)), strings.Repeat("x", rnd.IntN(100))))
		c[rnd.IntN(len(c))] = byte(rnd.IntN(256))
		return c
	case 2:
		return []byte("*" + strconv.Itoa(rnd.IntN(1<<30)) + "\r\n")
	case 3:
		return []byte("*2\r\n$3\r\nGET\r\n$" + strconv.Itoa(rnd.IntN(1<<30)-(1<<29)) + "\r\nabc")
	case 4:
		return []byte(strings.Repeat("A", 70<<10)) // an inline line that never ends
	case 5:
		return []byte(cmd("MGET", "a", "b", "c")[:rnd.IntN(20)])
	case 6:
		return []byte(cmd(fmt.Sprintf("cmd%x", rnd.Uint32()), "x") + "\x00\xff\r\n")
	default:
		return []byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$-0\r\n\r\n")
	}
}

// TestGarbageDoesNotDisturbOthers throws garbage at a live proxy from many
// connections while a well-behaved client works: the client never sees an
// error or a wrong value, the proxy survives, and every garbage session
// ends once its connection closes.
func TestGarbageDoesNotDisturbOthers(t *testing.T) {
	backends := startBackends(t, backendKinds[0], 2)
	tp := startTestProxy(t, yamlPool("p", freeAddr(t), serverLines(backends, weight1), "timeout: 2000"))
	addr := tp.addrs["p"]
	ctx := context.Background()
	stop := make(chan struct{})
	goodErr := make(chan error, 1)
	var goodOps int
	go func() {
		defer close(goodErr)
		c := client(t, addr)
		for i := 0; ; i++ {
			select {
			case <-stop:
				goodOps = i
				return
			default:
			}
			k := "good:" + strconv.Itoa(i%50)
			if err := c.Set(ctx, k, i, 0).Err(); err != nil {
				goodErr <- err
				return
			}
			if v, err := c.Get(ctx, k).Int(); err != nil || v != i {
				goodErr <- fmt.Errorf("GET %s = %d, %v (want %d)", k, v, err, i)
				return
			}
		}
	}()
	rnd := rand.New(rand.NewPCG(11, 12))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	for w := 0; w < 8; w++ {
		seed := rnd.Uint64()
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, 1))
			for n := 0; n < 40; n++ {
				nc, err := net.Dial("tcp", addr)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				conns = append(conns, nc)
				mu.Unlock()
				go io.Copy(io.Discard, nc) // replies, until closed
				for k := 0; k < 1+r.IntN(4); k++ {
					if _, err := nc.Write(garbage(r)); err != nil {
						break // the proxy closed it: fine
					}
				}
				if r.IntN(2) == 0 {
					nc.Close()
				}
			}
		}()
	}
	wg.Wait()
	time.Sleep(200 * time.Millisecond)
	close(stop)
	if err := <-goodErr; err != nil {
		t.Fatalf("well-behaved client disturbed: %v", err)
	}
	if goodOps < 50 {
		t.Errorf("well-behaved client made only %d round trips", goodOps)
	}
	mu.Lock()
	for _, nc := range conns {
		nc.Close()
	}
	mu.Unlock()
	// Every garbage session ends.
	deadline := time.Now().Add(5 * time.Second)
	for tp.Pool("p").clients.Load() > 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions left after every garbage connection closed", tp.Pool("p").clients.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := dialRaw(t, addr).do("PING"); got != "+PONG\r\n" {
		t.Fatalf("proxy after the garbage: %q", got)
	}
}
