package proxy

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardis/shardis/integration/harness"
)

// TestPubSubAcrossProxies: two proxies of the same 3-shard pool.
// Messages published through one reach subscribers of the other, for
// channels on every shard; a PSUBSCRIBE sees the channels of every shard,
// each message once; unsubscribing stops the messages.
func TestPubSubAcrossProxies(t *testing.T) {
	bs := startBackends(t, backendKinds[0], 3)
	servers := serverLines(bs, weight1)
	pa := startTestProxy(t, yamlPool("ps", freeAddr(t), servers, "timeout: 2000"))
	pb := startTestProxy(t, yamlPool("ps", freeAddr(t), servers, "timeout: 2000"))
	ctx := context.Background()
	sub := client(t, pa.addrs["ps"])
	pub := client(t, pb.addrs["ps"])

	tbl := pa.Pool("ps").Table()
	var chans []string
	shards := map[int]int{}
	for i := 0; len(shards) < 3 || shards[0] < 5 || shards[1] < 5 || shards[2] < 5; i++ {
		ch := fmt.Sprintf("channel:%d", i*7919)
		if sh := tbl.lookupIndex([]byte(ch)); shards[sh] < 10 {
			chans = append(chans, ch)
			shards[sh]++
		}
	}

	ps := sub.Subscribe(ctx, chans...)
	defer ps.Close()
	for range chans { // the confirmations
		if _, err := ps.ReceiveTimeout(ctx, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if err := ps.PSubscribe(ctx, "news.*"); err != nil {
		t.Fatal(err)
	}
	if m, err := ps.ReceiveTimeout(ctx, 5*time.Second); err != nil || m.(*redis.Subscription).Count != len(chans)+1 {
		t.Fatalf("PSUBSCRIBE confirmation %v %v", m, err)
	}

	// Channels: one message each, through the other proxy.
	for i, ch := range chans {
		n, err := pub.Publish(ctx, ch, fmt.Sprintf("m%d", i)).Result()
		if err != nil || n != 1 {
			t.Fatalf("PUBLISH %s: %d %v", ch, n, err)
		}
	}
	got := map[string]string{}
	for len(got) < len(chans) {
		m, err := ps.ReceiveTimeout(ctx, 5*time.Second)
		if err != nil {
			t.Fatalf("after %d messages: %v", len(got), err)
		}
		msg, ok := m.(*redis.Message)
		if !ok || msg.Pattern != "" {
			t.Fatalf("unexpected %#v", m)
		}
		if _, dup := got[msg.Channel]; dup {
			t.Fatalf("message on %s twice", msg.Channel)
		}
		got[msg.Channel] = msg.Payload
	}
	for i, ch := range chans {
		if got[ch] != fmt.Sprintf("m%d", i) {
			t.Errorf("%s: %q", ch, got[ch])
		}
	}

	// The pattern: channels of every shard, each message once.
	pshards := map[int]bool{}
	var news []string
	for i := 0; len(pshards) < 3 || len(news) < 12; i++ {
		ch := fmt.Sprintf("news.%d", i)
		news = append(news, ch)
		pshards[tbl.lookupIndex([]byte(ch))] = true
	}
	for _, ch := range news {
		if n, err := pub.Publish(ctx, ch, "p-"+ch).Result(); err != nil || n != 1 {
			t.Fatalf("PUBLISH %s: %d %v", ch, n, err)
		}
	}
	var seen []string
	for len(seen) < len(news) {
		m, err := ps.ReceiveTimeout(ctx, 5*time.Second)
		if err != nil {
			t.Fatalf("after %d pattern messages: %v", len(seen), err)
		}
		msg, ok := m.(*redis.Message)
		if !ok || msg.Pattern != "news.*" || msg.Payload != "p-"+msg.Channel {
			t.Fatalf("unexpected %#v", m)
		}
		seen = append(seen, msg.Channel)
	}
	sort.Strings(seen)
	want := append([]string(nil), news...)
	sort.Strings(want)
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("pattern messages on %v, want %v", seen, want)
	}

	// Unsubscribed: nothing more arrives, and PUBLISH counts nobody.
	if err := ps.Unsubscribe(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ps.PUnsubscribe(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(chans)+1; i++ {
		if _, err := ps.ReceiveTimeout(ctx, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := pub.Publish(ctx, chans[0], "late").Result(); err != nil || n != 0 {
		t.Errorf("PUBLISH after UNSUBSCRIBE: %d %v", n, err)
	}
	if n, err := pub.Publish(ctx, news[0], "late").Result(); err != nil || n != 0 {
		t.Errorf("PUBLISH after PUNSUBSCRIBE: %d %v", n, err)
	}
	if m, err := ps.ReceiveTimeout(ctx, 200*time.Millisecond); err == nil {
		t.Errorf("received %#v after unsubscribing", m)
	}
	// Subscribed to nothing: the subscription connections are closed.
	eventually(t, 5*time.Second, "the subscription connections closed", func() bool { return subscriptionConns(pa.Pool("ps")) == 0 })
}

// subscriptionConns counts the pool's subscription connections.
func subscriptionConns(p *Pool) int {
	p.routeMu.Lock()
	defer p.routeMu.Unlock()
	n := 0
	for _, sv := range p.servers {
		n += int(sv.dedicated.subs.Load())
	}
	return n
}

// TestPubSubRefused: a server without pub/sub refuses the subscription;
// the client gets the server's error and stays out of subscribed mode.
// (shardis-server has pub/sub now: a redis-server with SUBSCRIBE and
// PSUBSCRIBE disabled stands for a server without it.)
func TestPubSubRefused(t *testing.T) {
	bs := startBackends(t, backendKind{"redis-server without pub/sub", func(t testing.TB) *harness.Proc {
		return harness.StartRedis(t, "--rename-command", "SUBSCRIBE", "", "--rename-command", "PSUBSCRIBE", "")
	}, true}, 2)
	tp := startTestProxy(t, yamlPool("ps", freeAddr(t), serverLines(bs, weight1)))
	rc := dialRaw(t, tp.addrs["ps"])
	runExchanges(t, rc, []exchange{
		{[]string{"SUBSCRIBE", "a"}, "-ERR unknown command*"},
		{[]string{"PSUBSCRIBE", "a*"}, "-ERR unknown command*"},
		{[]string{"PING"}, "+PONG\r\n"},
		{[]string{"SET", "a", "x"}, "+OK\r\n"},
	})
}

// TestPubSubModeDifferential: what a subscribed connection may do, and
// the replies, as redis-server gives them.
func TestPubSubModeDifferential(t *testing.T) {
	bs := startBackends(t, backendKinds[0], 3)
	tp := startTestProxy(t, yamlPool("ps", freeAddr(t), serverLines(bs[:2], weight1)))
	type st struct {
		n    int // replies
		args []string
	}
	steps := []st{
		{1, []string{"UNSUBSCRIBE"}},
		{1, []string{"PUNSUBSCRIBE"}},
		{2, []string{"SUBSCRIBE", "a", "b"}},
		{1, []string{"SUBSCRIBE", "a"}},
		{1, []string{"GET", "x"}},
		{1, []string{"SET", "x", "1"}},
		{1, []string{"client", "setname", "x"}},
		{1, []string{"PING"}},
		{1, []string{"PING", "hello"}},
		{1, []string{"PSUBSCRIBE", "p*"}},
		{1, []string{"UNSUBSCRIBE", "a"}},
		{1, []string{"PUBLISH", "a", "x"}},
		{1, []string{"UNSUBSCRIBE", "nope"}},
		{1, []string{"GET"}},
		{2, []string{"PUNSUBSCRIBE", "p*", "q*"}},
		{1, []string{"UNSUBSCRIBE"}},
		{1, []string{"PING"}},
		{1, []string{"GET", "x"}},
		{1, []string{"SUBSCRIBE", "c"}},
		{1, []string{"RESET"}},
		{1, []string{"PING"}},
		{1, []string{"SUBSCRIBE", "d"}},
		{1, []string{"QUIT"}},
	}
	run := func(addr string) []string {
		rc := dialRaw(t, addr)
		var out []string
		for _, s := range steps {
			rc.send(cmd(s.args...))
			var b strings.Builder
			for i := 0; i < s.n; i++ {
				b.WriteString(rc.reply())
			}
			out = append(out, b.String())
		}
		return out
	}
	want := run(bs[2].Addr)
	got := run(tp.addrs["ps"])
	for i, s := range steps {
		if got[i] != want[i] {
			t.Errorf("%v: proxy %q, redis-server %q", s.args, got[i], want[i])
		}
	}
}

// TestPubSubFollowsTable: when a new route table moves a shard to another
// master (a failover), the subscriptions follow: the proxy subscribes on
// the new master and unsubscribes from the old one, and messages
// published through the proxy keep arriving.
func TestPubSubFollowsTable(t *testing.T) {
	bs := startBackends(t, backendKinds[0], 3)
	a, b, c := bs[0].Addr, bs[1].Addr, bs[2].Addr
	tp := startTestProxy(t, yamlPool("p", freeAddr(t), []string{a + ":0-511", b + ":512-1023"}, "slots: 1024", "hash: crc32a", `hash_tag: "{}"`))
	p := tp.Pool("p")
	ctx := context.Background()
	ks := keysOnShards(p.Table(), "chan", 1)
	ch0, ch1 := ks[0][0], ks[1][0]
	sub := client(t, tp.addrs["p"]).Subscribe(ctx, ch0, ch1)
	defer sub.Close()
	for i := 0; i < 2; i++ {
		if _, err := sub.ReceiveTimeout(ctx, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if err := sub.PSubscribe(ctx, "chan*"); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.ReceiveTimeout(ctx, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	numsub := func(addr, ch string) (int64, int64) {
		d := direct(t, addr)
		m, err := d.PubSubNumSub(ctx, ch).Result()
		if err != nil {
			t.Fatal(err)
		}
		n, err := d.PubSubNumPat(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		return m[ch], n
	}
	if s, pat := numsub(a, ch0); s != 1 || pat != 1 {
		t.Fatalf("on the first master: %d subscribers of %s, %d patterns", s, ch0, pat)
	}

	// Shard 0 moves to c.
	if err := p.SetTopology(slotTopology([]string{c, b}, []string{"0-511", "512-1023"})); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the subscriptions on the new master", func() bool {
		s, pat := numsub(c, ch0)
		return s == 1 && pat == 1
	})
	eventually(t, 5*time.Second, "the old master unsubscribed", func() bool {
		s, pat := numsub(a, ch0)
		return s == 0 && pat == 0
	})
	pub := client(t, tp.addrs["p"])
	if n, err := pub.Publish(ctx, ch0, "after").Result(); err != nil || n != 2 { // the channel and the pattern
		t.Fatalf("PUBLISH after the move: %d %v", n, err)
	}
	seen := map[string]bool{}
	for len(seen) < 2 {
		m, err := sub.ReceiveTimeout(ctx, 5*time.Second)
		if err != nil {
			t.Fatalf("after %v: %v", seen, err)
		}
		msg, ok := m.(*redis.Message)
		if !ok || msg.Channel != ch0 || msg.Payload != "after" {
			t.Fatalf("unexpected %#v", m)
		}
		seen[msg.Pattern] = true
	}
}
