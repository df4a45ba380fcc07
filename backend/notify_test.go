package backend

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/shardis/shardis/integration/harness"
)

// notifyDiffer runs commands on redis-server and shardis-server, each with
// a subscriber to every keyspace notification, and compares the replies
// and, after each command, the messages the subscribers received, in
// order.
type notifyDiffer struct {
	typeDiffer
	subRef, subGot *rawConn
	last           []string // recent commands, for the failure message
	messages       int      // notifications compared
}

func newNotifyDiffer(t *testing.T, refAddr, gotAddr, flags string) *notifyDiffer {
	d := &notifyDiffer{typeDiffer: typeDiffer{differ: differ{t: t, ref: dialRaw(t, refAddr), got: dialRaw(t, gotAddr)}}}
	d.same("CONFIG", "SET", "notify-keyspace-events", flags)
	d.same("CONFIG", "GET", "notify-keyspace-events")
	d.subRef, d.subGot = dialRaw(t, refAddr), dialRaw(t, gotAddr)
	a, b := d.subRef.do("PSUBSCRIBE", "__key*__:*"), d.subGot.do("PSUBSCRIBE", "__key*__:*")
	if a != b {
		t.Fatalf("PSUBSCRIBE: %q / %q", a, b)
	}
	d.same("FLUSHALL")
	d.events()
	return d
}

// events publishes a marker and returns what each subscriber received
// before it.
func (d *notifyDiffer) events() {
	d.t.Helper()
	d.same("PUBLISH", "__keymark__:end", "end")
	drain := func(c *rawConn) []string {
		var out []string
		for {
			m := c.reply()
			if strings.Contains(m, "__keymark__:end") {
				return out
			}
			out = append(out, m)
		}
	}
	a, b := drain(d.subRef), drain(d.subGot)
	if len(d.last) > 8 {
		d.last = d.last[len(d.last)-8:]
	}
	d.messages += len(a)
	if strings.Join(a, "") != strings.Join(b, "") {
		d.t.Fatalf("after %q:\n redis:   %q\n shardis: %q", d.last, a, b)
	}
}

func (d *notifyDiffer) run(cmd []string) {
	d.t.Helper()
	d.last = append(d.last, strings.Join(cmd, " "))
	d.checkType(cmd)
}

// TestNotifyDifferential sends the random command sequences of
// TestDifferential (strings, keys, expiries) and TestDifferentialTypes
// (hashes, lists, sets, sorted sets, MULTI/EXEC) to redis-server and
// shardis-server with several notify-keyspace-events settings and
// compares the notifications message by message, after every command.
func TestNotifyDifferential(t *testing.T) {
	rd := harness.StartRedis(t)
	sh := startServer(t, nil)
	for fi, flags := range []string{"KEA", "KEAn", "Kg$", "El", "Ksz", "Eh", "KExn", "AK"} {
		t.Run(flags, func(t *testing.T) {
			d := newNotifyDiffer(t, rd.Addr, sh.addr(), flags)
			seed := uint64(fi + 1)
			g := newCmdGen(seed)
			tg := &typeGen{r: rand.New(rand.NewPCG(seed, seed*31337))}
			for i := 0; i < 1500 && !t.Failed(); i++ {
				if i%2 == 0 {
					c := g.next()
					d.last = append(d.last, strings.Join(c, " "))
					d.check(c)
				} else {
					for _, c := range tg.next() {
						d.run(c)
					}
				}
				d.events()
			}
			t.Logf("%d commands, %d notifications compared", d.n, d.messages)
		})
	}
}

// TestNotifyConfig compares CONFIG SET/GET notify-keyspace-events with
// redis-server: canonical strings and rejected characters.
func TestNotifyConfig(t *testing.T) {
	rd := harness.StartRedis(t)
	sh := startServer(t, nil)
	d := &differ{t: t, ref: dialRaw(t, rd.Addr), got: dialRaw(t, sh.addr())}
	d.same("CONFIG", "GET", "notify-keyspace-events")
	for _, v := range []string{"", "K", "E", "A", "KEA", "AKE", "g$lshzxetdn", "Ag", "gKEm", "m", "$", "KEx", "n", "x", "Ax", "KEAmn",
		"Kq", "a", "KEA ", "lshz$gxetd", "EKzyx", "t"} {
		d.same("CONFIG", "SET", "notify-keyspace-events", v)
		d.same("CONFIG", "GET", "notify-keyspace-events")
	}
	_ = fmt.Sprint()
}
