package backend

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shardis/shardis/integration/harness"
)

// frame reads one pushed or replied frame from r as parsed RESP.
func (r *rawConn) frame() respVal {
	r.t.Helper()
	return parseRESP(r.reply())
}

// TestPubSubConcurrent: many publishers, many subscribers (channel,
// pattern, both), clients (un)subscribing and introspecting meanwhile.
// Every subscriber gets every message exactly once per subscription, in
// each publisher's order, and PUBLISH counts the receivers.
func TestPubSubConcurrent(t *testing.T) {
	s := startServer(t, nil)
	const publishers, perPublisher = 4, 300
	type sub struct {
		rc               *rawConn
		channel, pattern bool
	}
	var subs []*sub
	for i := 0; i < 6; i++ {
		sb := &sub{rc: dialRaw(t, s.addr()), channel: i%3 != 1, pattern: i%3 != 0}
		n := 0
		if sb.channel {
			sb.rc.send(encodeCommand("SUBSCRIBE", "news"))
			n++
		}
		if sb.pattern {
			sb.rc.send(encodeCommand("PSUBSCRIBE", "n*s"))
			n++
		}
		for j := 0; j < n; j++ {
			if v := sb.rc.frame(); len(v.arr) != 3 || v.arr[2].s != strconv.Itoa(j+1) {
				t.Fatalf("confirmation %+v", v)
			}
		}
		subs = append(subs, sb)
	}
	receivers := 0
	for _, sb := range subs {
		if sb.channel {
			receivers++
		}
		if sb.pattern {
			receivers++
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	var churn sync.WaitGroup
	for i := 0; i < 2; i++ { // churn on other channels, and introspection
		churn.Add(1)
		go func() {
			defer churn.Done()
			c := client(t, s.addr())
			ps := c.Subscribe(ctx, "other")
			defer ps.Close()
			for ctx.Err() == nil {
				_ = ps.Subscribe(ctx, "other2")
				_ = ps.PSubscribe(ctx, "o*")
				_ = ps.Unsubscribe(ctx, "other2")
				_ = ps.PUnsubscribe(ctx, "o*")
				c.PubSubNumSub(ctx, "news")
				c.Info(ctx, "stats")
			}
		}()
	}

	errs := make(chan error, publishers+len(subs))
	var wg sync.WaitGroup
	for p := 0; p < publishers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := client(t, s.addr())
			for i := 0; i < perPublisher; i++ {
				n, err := c.Publish(context.Background(), "news", fmt.Sprintf("%d:%d", p, i)).Result()
				if err != nil || n != int64(receivers) {
					errs <- fmt.Errorf("PUBLISH = %d, %v; want %d", n, err, receivers)
					return
				}
			}
		}()
	}
	for _, sb := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// next[kind][publisher] is the next sequence number expected.
			var next [2][publishers]int
			want := 0
			if sb.channel {
				want += publishers * perPublisher
			}
			if sb.pattern {
				want += publishers * perPublisher
			}
			pings := 0
			for got := 0; got < want; {
				if got%100 == 0 {
					sb.rc.c.Write(encodeCommand("PING", strconv.Itoa(got)))
					pings++
				}
				_ = sb.rc.c.SetReadDeadline(time.Now().Add(20 * time.Second))
				raw, err := readReply(sb.rc.br)
				if err != nil {
					errs <- err
					return
				}
				v := parseRESP(string(raw))
				var kind int
				var payload string
				switch {
				case len(v.arr) == 2 && v.arr[0].s == "pong":
					pings--
					continue
				case len(v.arr) == 3 && v.arr[0].s == "message" && sb.channel:
					kind, payload = 0, v.arr[2].s
				case len(v.arr) == 4 && v.arr[0].s == "pmessage" && sb.pattern && v.arr[1].s == "n*s":
					kind, payload = 1, v.arr[3].s
				default:
					errs <- fmt.Errorf("unexpected frame %q", raw)
					return
				}
				ps, is, _ := strings.Cut(payload, ":")
				p, _ := strconv.Atoi(ps)
				i, _ := strconv.Atoi(is)
				if p < 0 || p >= publishers || next[kind][p] != i {
					errs <- fmt.Errorf("kind %d publisher %d: got %d, want %d", kind, p, i, next[kind][p])
					return
				}
				next[kind][p]++
				got++
			}
			for ; pings > 0; pings-- {
				raw, err := readReply(sb.rc.br)
				if v := parseRESP(string(raw)); err != nil || len(v.arr) != 2 || v.arr[0].s != "pong" {
					errs <- fmt.Errorf("want pong, got %q, %v", raw, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	cancel()
	churn.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestPubSubSubscribeOrdering: while a publisher publishes without pause,
// a client subscribes and unsubscribes in a loop. Its first frame after
// SUBSCRIBE is the confirmation, and no message follows the UNSUBSCRIBE
// confirmation.
func TestPubSubSubscribeOrdering(t *testing.T) {
	s := startServer(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for p := 0; p < 3; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := client(t, s.addr())
			for ctx.Err() == nil {
				pl := c.Pipeline()
				for j := 0; j < 10; j++ {
					pl.Publish(ctx, "ord", "m")
					pl.Publish(ctx, "ord2", "m")
				}
				_, _ = pl.Exec(ctx)
			}
		}()
	}
	defer func() { cancel(); wg.Wait() }()
	rc := dialRaw(t, s.addr())
	messages := 0
	for i := 0; i < 30; i++ {
		kind, ch := "subscribe", "ord"
		if i%2 == 1 {
			kind, ch = "psubscribe", "ord*"
		}
		// The channel that gets messages first, then others: every
		// confirmation comes before the first message.
		args := []string{strings.ToUpper(kind), ch}
		for j := 0; j < 100; j++ {
			args = append(args, "filler"+strconv.Itoa(j))
		}
		// PINGs in the same batch keep the confirmations in the reply
		// buffer longer (messages are held meanwhile).
		batch := encodeCommand(args...)
		for j := 0; j < 1000; j++ {
			batch = append(batch, encodeCommand("PING")...)
		}
		rc.send(batch)
		for j := 1; j < len(args); j++ {
			if v := rc.frame(); len(v.arr) != 3 || v.arr[0].s != kind || v.arr[2].s != strconv.Itoa(j) {
				t.Fatalf("round %d: frame %d after %s: %+v", i, j, kind, v)
			}
		}
		for pongs := 0; pongs < 1000; {
			v := rc.frame()
			if len(v.arr) == 2 && v.arr[0].s == "pong" {
				pongs++
				continue
			}
			if len(v.arr) < 3 || !strings.HasSuffix(v.arr[0].s, "message") {
				t.Fatalf("round %d: %+v", i, v)
			}
			messages++
		}
		rc.send(encodeCommand("P"[:i%2]+"UNSUBSCRIBE", ch))
		for {
			v := rc.frame()
			if len(v.arr) == 3 && strings.HasSuffix(v.arr[0].s, "unsubscribe") {
				if v.arr[2].s != "100" {
					t.Fatalf("unsubscribe count %+v", v)
				}
				break
			}
			messages++
		}
		rc.send(encodeCommand("P"[:i%2] + "UNSUBSCRIBE"))
		for j := 0; j < 100; j++ {
			if v := rc.frame(); len(v.arr) != 3 || !strings.HasSuffix(v.arr[0].s, "unsubscribe") {
				t.Fatalf("round %d: after unsubscribing %+v", i, v)
			}
		}
		// Out of subscribed mode: ordinary replies, no more messages.
		if got := rc.do("ECHO", "x"); got != "$1\r\nx\r\n" {
			t.Fatalf("round %d: after unsubscribe %q", i, got)
		}
	}
	t.Logf("%d messages received in between", messages)
}

// TestPubSubDisconnectCleanup: a subscriber that goes away (closes, is
// killed) leaves no channel, pattern or receiver behind.
func TestPubSubDisconnectCleanup(t *testing.T) {
	s := startServer(t, nil)
	ctl := client(t, s.addr())
	ctx := context.Background()
	for round, how := range []string{"close", "kill"} {
		rc := dialRaw(t, s.addr())
		rc.send(encodeCommand("SUBSCRIBE", "a", "b"))
		rc.send(encodeCommand("PSUBSCRIBE", "a*"))
		rc.send(encodeCommand("SSUBSCRIBE", "s"))
		for i := 0; i < 4; i++ {
			rc.frame()
		}
		list := ctl.ClientList(ctx).Val()
		if !strings.Contains(list, "flags=P db=0 sub=2 psub=1 ssub=1") {
			t.Fatalf("CLIENT LIST:\n%s", list)
		}
		if n := ctl.Publish(ctx, "a", "x").Val(); n != 2 {
			t.Fatalf("round %d: PUBLISH = %d", round, n)
		}
		switch how {
		case "close":
			rc.c.Close()
		case "kill":
			if n := ctl.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Val(); n != int64(1) {
				t.Fatalf("CLIENT KILL TYPE pubsub = %v", n)
			}
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			c, p, sh := s.pubsub.counts()
			if c == 0 && p == 0 && sh == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: still %d channels, %d patterns, %d shard channels", round, c, p, sh)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if n := ctl.Publish(ctx, "a", "x").Val(); n != 0 {
			t.Fatalf("PUBLISH after disconnect = %d", n)
		}
		if n := ctl.PubSubNumPat(ctx).Val(); n != 0 {
			t.Fatalf("NUMPAT = %d", n)
		}
	}
}

// TestPubSubSlowSubscriber: a subscriber that does not read is
// disconnected once its output buffer passes the pubsub hard limit; the
// publisher is not held up and a reading subscriber gets everything.
func TestPubSubSlowSubscriber(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	ctl := client(t, s.addr())
	if err := ctl.ConfigSet(ctx, "client-output-buffer-limit", "pubsub 1mb 0 0").Err(); err != nil {
		t.Fatal(err)
	}
	// The slow one: a small receive buffer, never read.
	nc, err := net.Dial("tcp", s.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.(*net.TCPConn).SetReadBuffer(4096)
	slow := &rawConn{t: t, c: nc, br: bufio.NewReader(nc)}
	slow.do("SUBSCRIBE", "flood")

	fast := dialRaw(t, s.addr())
	fast.do("SUBSCRIBE", "flood")
	payload := strings.Repeat("x", 64<<10)
	pub := client(t, s.addr())
	sent, dropped := 0, -1
	// The fast subscriber reads each message before the next is
	// published, so only the slow one's buffer grows.
	for ; sent < 600; sent++ {
		n, err := pub.Publish(ctx, "flood", payload).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 && dropped < 0 {
			dropped = sent
		}
		if n != 1 && n != 2 || n == 2 && dropped >= 0 {
			t.Fatalf("PUBLISH = %d", n)
		}
		_ = fast.c.SetReadDeadline(time.Now().Add(20 * time.Second))
		raw, err := readReply(fast.br)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(string(raw), payload+"\r\n") {
			t.Fatalf("bad message %.40q", raw)
		}
	}
	if dropped < 0 {
		t.Fatal("the slow subscriber was never disconnected")
	}
	if got := s.pubsub.limitDisconnects.Load(); got != 1 {
		t.Fatalf("%d limit disconnections", got)
	}
	t.Logf("slow subscriber disconnected after %d messages of 64 KB", dropped)
	// The server closed its connection (the client, whose tiny receive
	// window makes the kernel drain the rest slowly, need not read it).
	if list := ctl.ClientList(ctx).Val(); strings.Contains(list, "addr="+nc.LocalAddr().String()+" ") {
		t.Fatalf("slow subscriber still connected:\n%s", list)
	}
}

// TestPubSubSoftLimit: over the soft limit for longer than its seconds
// disconnects.
func TestPubSubSoftLimit(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	ctl := client(t, s.addr())
	if err := ctl.ConfigSet(ctx, "client-output-buffer-limit", "pubsub 0 256kb 1").Err(); err != nil {
		t.Fatal(err)
	}
	nc, err := net.Dial("tcp", s.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.(*net.TCPConn).SetReadBuffer(4096)
	slow := &rawConn{t: t, c: nc, br: bufio.NewReader(nc)}
	slow.do("SUBSCRIBE", "soft")
	payload := strings.Repeat("y", 64<<10)
	// Fill the socket buffers and pass the soft limit.
	start := time.Now()
	for i := 0; i < 200; i++ {
		ctl.Publish(ctx, "soft", payload)
	}
	if time.Since(start) < time.Second && s.pubsub.limitDisconnects.Load() != 0 {
		t.Fatal("disconnected before the soft limit's seconds")
	}
	time.Sleep(1100 * time.Millisecond)
	ctl.Publish(ctx, "soft", payload)
	ctl.Publish(ctx, "soft", payload)
	if s.pubsub.limitDisconnects.Load() != 1 {
		t.Fatal("not disconnected after the soft limit's seconds")
	}
}

// TestPubSubNoIdleTimeout: timeout does not close subscribers (Redis).
func TestPubSubNoIdleTimeout(t *testing.T) {
	s := startServer(t, func(c *Config) { c.Timeout = 1 })
	rc := dialRaw(t, s.addr())
	rc.do("SUBSCRIBE", "idle")
	time.Sleep(1500 * time.Millisecond) // past the 1 s timeout
	if n := client(t, s.addr()).Publish(context.Background(), "idle", "still here").Val(); n != 1 {
		t.Fatalf("PUBLISH = %d", n)
	}
	if v := rc.frame(); len(v.arr) != 3 || v.arr[2].s != "still here" {
		t.Fatalf("got %+v", v)
	}
}

// BenchmarkPublish: PUBLISH of 64 bytes to a channel with 10 subscribers
// (each read by its own goroutine), one publisher pipelining 16
// commands, until every subscriber read every message; shardis-server and
// redis-server for comparison.
func BenchmarkPublish(b *testing.B) {
	b.Run("shardis-server", func(b *testing.B) { benchPublish(b, startServer(b, nil).addr()) })
	b.Run("redis-server", func(b *testing.B) { benchPublish(b, harness.StartRedis(b).Addr) })
}

func benchPublish(b *testing.B, addr string) {
	const subscribers, pipeline = 10, 16
	var wg sync.WaitGroup
	for i := 0; i < subscribers; i++ {
		rc := dialRaw(b, addr)
		rc.do("SUBSCRIBE", "bench")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < b.N; n++ {
				if _, err := readReply(rc.br); err != nil {
					return
				}
			}
		}()
	}
	pub := dialRaw(b, addr)
	cmd := encodeCommand("PUBLISH", "bench", strings.Repeat("m", 64))
	var batch []byte
	b.ResetTimer()
	for n := 0; n < b.N; {
		k := min(pipeline, b.N-n)
		batch = batch[:0]
		for j := 0; j < k; j++ {
			batch = append(batch, cmd...)
		}
		pub.send(batch)
		for j := 0; j < k; j++ {
			pub.reply()
		}
		n += k
	}
	wg.Wait()
}
