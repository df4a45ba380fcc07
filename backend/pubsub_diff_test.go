package backend

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/shardis/shardis/integration/harness"
)

// TestPubSubDifferential runs one Pub/Sub script (several connections:
// subscribers, a publisher) against Debian's redis-server and against
// shardis-server and compares every reply and pushed message byte for
// byte. Where Redis' order is a hash table's (UNSUBSCRIBE without
// arguments over several channels, PUBSUB CHANNELS), the script sorts.
func TestPubSubDifferential(t *testing.T) {
	rd := harness.StartRedis(t)
	sh := startServer(t, nil)
	ref := runPubSubScript(t, rd.Addr)
	got := runPubSubScript(t, sh.addr())
	for i := 0; i < max(len(ref), len(got)); i++ {
		var a, b string
		if i < len(ref) {
			a = ref[i]
		}
		if i < len(got) {
			b = got[i]
		}
		if a != b {
			t.Fatalf("step %d:\n redis:    %q\n shardis:  %q", i, a, b)
		}
	}
}

// pubsubScript records what each step receives, labelled.
type pubsubScript struct {
	t     *testing.T
	conns map[string]*rawConn
	addr  string
	out   []string
}

func (s *pubsubScript) conn(name string) *rawConn {
	if c := s.conns[name]; c != nil {
		return c
	}
	c := dialRaw(s.t, s.addr)
	s.conns[name] = c
	return c
}

// do sends a command on conn and records one reply.
func (s *pubsubScript) do(conn string, args ...string) {
	s.t.Helper()
	s.out = append(s.out, fmt.Sprintf("%s %q -> %s", conn, args, s.conn(conn).do(args...)))
}

// send sends a command without reading.
func (s *pubsubScript) send(conn string, args ...string) {
	s.t.Helper()
	s.conn(conn).send(encodeCommand(args...))
}

// read records n frames received on conn.
func (s *pubsubScript) read(conn string, n int) {
	s.t.Helper()
	for i := 0; i < n; i++ {
		s.out = append(s.out, fmt.Sprintf("%s <- %s", conn, s.conn(conn).reply()))
	}
}

// readSorted records n frames received on conn, sorted.
func (s *pubsubScript) readSorted(conn string, n int) {
	s.t.Helper()
	var fr []string
	for i := 0; i < n; i++ {
		fr = append(fr, s.conn(conn).reply())
	}
	sort.Strings(fr)
	s.out = append(s.out, fmt.Sprintf("%s <- sorted %q", conn, fr))
}

// readUnsubscribeAll records n unsubscribe confirmations in hash order:
// the channels sorted, the counts as received.
func (s *pubsubScript) readUnsubscribeAll(conn string, n int) {
	s.t.Helper()
	var names, counts []string
	for i := 0; i < n; i++ {
		v := parseRESP(s.conn(conn).reply())
		if len(v.arr) != 3 {
			s.out = append(s.out, fmt.Sprintf("%s <- bad confirmation %+v", conn, v))
			return
		}
		names = append(names, v.arr[0].s+" "+v.arr[1].s)
		counts = append(counts, v.arr[2].s)
	}
	sort.Strings(names)
	s.out = append(s.out, fmt.Sprintf("%s <- %q counts %q", conn, names, counts))
}

// doSorted records a reply whose array elements are in hash order.
func (s *pubsubScript) doSorted(conn string, args ...string) {
	s.t.Helper()
	s.out = append(s.out, fmt.Sprintf("%s %q -> sorted %s", conn, args, sortedReply(s.conn(conn).do(args...))))
}

// infoPubsub records INFO stats' pubsub lines.
func (s *pubsubScript) infoPubsub(conn string) {
	s.t.Helper()
	v := parseRESP(s.conn(conn).do("INFO", "stats"))
	var lines []string
	for _, l := range strings.Split(v.s, "\r\n") {
		if strings.HasPrefix(l, "pubsub") {
			lines = append(lines, l)
		}
	}
	s.out = append(s.out, conn+" INFO stats pubsub: "+strings.Join(lines, " "))
}

func runPubSubScript(t *testing.T, addr string) []string {
	s := &pubsubScript{t: t, conns: map[string]*rawConn{}, addr: addr}
	// Commands and arities.
	s.do("p", "SUBSCRIBE")
	s.do("p", "PUBLISH", "a")
	s.do("p", "PUBLISH", "nobody", "x")
	s.do("p", "PUBSUB")
	s.do("p", "PUBSUB", "FOO")
	s.do("p", "PUBSUB", "HELP")
	s.do("p", "PUBSUB", "HELP", "x")
	s.do("p", "PUBSUB", "NUMPAT", "x")
	s.do("p", "PUBSUB", "CHANNELS", "a", "b")
	s.do("p", "PUBSUB", "NUMSUB")
	s.do("p", "UNSUBSCRIBE")
	s.do("p", "PUNSUBSCRIBE", "x")
	s.do("p", "SUNSUBSCRIBE")
	s.infoPubsub("p")
	s.do("p", "CONFIG", "GET", "client-output-buffer-limit")
	s.do("p", "CONFIG", "SET", "client-output-buffer-limit", "pubsub 1mb")
	s.do("p", "CONFIG", "SET", "client-output-buffer-limit", "foo 1 1 1")
	s.do("p", "CONFIG", "SET", "client-output-buffer-limit", "pubsub x 1 1")
	s.do("p", "CONFIG", "SET", "client-output-buffer-limit", "pubsub 64mb 16mb 30 normal 0 0 0")
	s.do("p", "CONFIG", "GET", "client-output-buffer-limit")
	s.do("p", "CONFIG", "SET", "client-output-buffer-limit", "pubsub 32mb 8mb 60")
	for _, cmd := range []string{"subscribe", "unsubscribe", "psubscribe", "punsubscribe", "publish", "ssubscribe", "sunsubscribe", "spublish"} {
		s.do("p", "COMMAND", "INFO", cmd)
	}

	// A channel subscriber.
	s.send("s1", "SUBSCRIBE", "a", "b", "a")
	s.read("s1", 3)
	s.do("p", "PUBLISH", "a", "hello")
	s.read("s1", 1)
	s.do("s1", "PING")
	s.do("s1", "PING", "x")
	s.do("s1", "PING", "x", "y")
	s.do("s1", "GET", "a")
	s.do("s1", "CLIENT", "LIST")
	s.do("s1", "CLIENT", "NOPE")
	s.do("s1", "NOSUCHCOMMAND")
	s.do("s1", "MULTI")
	s.do("s1", "SET", "k", "v")
	s.do("s1", "PUBLISH", "a", "x")
	s.do("s1", "PUBSUB", "NUMPAT")
	s.do("s1", "SELECT", "0")
	s.do("s1", "ECHO", "x")

	// A pattern subscriber.
	s.send("s2", "PSUBSCRIBE", "h*", "a?", "[ab]", "h*", "h\\*", "*[^x]")
	s.read("s2", 6)
	s.do("p", "PUBLISH", "a", "m1")
	s.read("s1", 1)
	s.readSorted("s2", 2)
	s.do("p", "PUBLISH", "hello", "m2")
	s.readSorted("s2", 2)
	s.do("p", "PUBLISH", "h*", "m3")
	s.readSorted("s2", 3)
	s.do("p", "PUBLISH", "x", "m4")
	s.do("p", "PUBLISH", "", "m5")
	s.do("p", "PUBLISH", "ab", "")
	s.readSorted("s2", 2)
	s.do("p", "PUBSUB", "NUMSUB", "a", "b", "c", "a")
	s.do("p", "PUBSUB", "NUMPAT")
	s.doSorted("p", "PUBSUB", "CHANNELS")
	s.doSorted("p", "PUBSUB", "CHANNELS", "[a]*")
	s.doSorted("p", "PUBSUB", "CHANNELS", "zz")
	s.infoPubsub("p")

	// Channel and pattern on one client: message then pmessage.
	s.send("s3", "SUBSCRIBE", "hx")
	s.read("s3", 1)
	s.send("s3", "PSUBSCRIBE", "hx*")
	s.read("s3", 1)
	s.do("p", "PUBLISH", "hx", "both")
	s.read("s3", 2)
	s.read("s2", 1)
	s.send("s3", "UNSUBSCRIBE", "hx")
	s.read("s3", 1)
	s.send("s3", "PUNSUBSCRIBE", "hx*")
	s.read("s3", 1)
	s.do("s3", "PING")

	// Unsubscribing.
	s.send("s1", "UNSUBSCRIBE", "a", "zz")
	s.read("s1", 2)
	s.do("p", "PUBLISH", "a", "gone")
	s.readSorted("s2", 2)
	s.send("s1", "UNSUBSCRIBE")
	s.read("s1", 1)
	s.send("s1", "UNSUBSCRIBE")
	s.read("s1", 1)
	s.do("s1", "GET", "a")
	s.do("s1", "PING")
	s.send("s2", "PUNSUBSCRIBE", "a?", "nope")
	s.read("s2", 2)
	s.send("s2", "PUNSUBSCRIBE")
	s.read("s2", 4) // in subscription order (Redis 7.0: a list)
	s.send("s2", "PUNSUBSCRIBE")
	s.read("s2", 1)
	s.do("s2", "PING")
	s.do("p", "PUBSUB", "NUMPAT")
	s.infoPubsub("p")

	// Several channels at once, unsubscribed in hash order.
	s.send("s1", "SUBSCRIBE", "c1", "c2", "c3")
	s.read("s1", 3)
	s.send("s1", "UNSUBSCRIBE")
	s.readUnsubscribeAll("s1", 3)

	// RESET leaves subscribed mode without replies for the channels.
	s.send("s1", "SUBSCRIBE", "r")
	s.read("s1", 1)
	s.do("s1", "RESET")
	s.do("s1", "PING")
	s.do("p", "PUBLISH", "r", "x")

	// Shard channels.
	s.send("s4", "SSUBSCRIBE", "sa", "sb")
	s.read("s4", 2)
	s.send("s4", "SUBSCRIBE", "sa")
	s.read("s4", 1)
	s.do("p", "SPUBLISH", "sa", "m")
	s.read("s4", 1)
	s.do("p", "PUBLISH", "sa", "m")
	s.read("s4", 1)
	s.do("p", "PUBSUB", "SHARDNUMSUB", "sa", "x")
	s.doSorted("p", "PUBSUB", "SHARDCHANNELS")
	s.doSorted("p", "PUBSUB", "SHARDCHANNELS", "*b")
	s.infoPubsub("p")
	s.send("s4", "SUNSUBSCRIBE", "sa")
	s.read("s4", 1)
	s.send("s4", "UNSUBSCRIBE")
	s.read("s4", 1)
	s.do("s4", "GET", "a") // still subscribed to sb
	s.send("s4", "SUNSUBSCRIBE")
	s.read("s4", 1)
	s.send("s4", "SUNSUBSCRIBE")
	s.read("s4", 1)
	s.do("s4", "GET", "a")

	// Transactions: SUBSCRIBE queued, SSUBSCRIBE refused inside EXEC.
	s.do("s5", "MULTI")
	s.do("s5", "SUBSCRIBE", "t")
	s.do("s5", "PING")
	s.do("s5", "SSUBSCRIBE", "t")
	s.do("s5", "EXEC")
	s.do("p", "PUBLISH", "t", "after exec")
	s.read("s5", 1)
	s.do("s5", "EXEC")
	s.do("s5", "RESET")

	// Pipelined: replies before the subscription, then messages.
	s.send("s6", "SET", "pk", "1")
	s.send("s6", "SUBSCRIBE", "pipe")
	s.send("s6", "GET", "pk")
	s.send("s6", "PING")
	s.read("s6", 4)
	s.do("p", "PUBLISH", "pipe", "x")
	s.read("s6", 1)
	s.send("s6", "UNSUBSCRIBE")
	s.send("s6", "GET", "pk")
	s.read("s6", 2)
	s.do("p", "DEL", "pk")
	s.infoPubsub("p")

	// QUIT while subscribed: +OK, then the connection closes.
	s.send("s7", "SUBSCRIBE", "q")
	s.read("s7", 1)
	s.do("s7", "QUIT")
	if _, err := s.conn("s7").br.ReadByte(); err == nil {
		s.out = append(s.out, "s7: data after QUIT")
	}
	s.infoPubsub("p")
	return s.out
}

// TestPubSubDifferentialRandom sends random (un)subscriptions, publishes
// and introspection from several connections to both servers. After each
// command every subscriber connection is sent PING, and what it received
// up to the PING's reply is compared as a multiset (Redis delivers the
// pmessages of several matching patterns, and unsubscribes everything,
// in hash table order).
func TestPubSubDifferentialRandom(t *testing.T) {
	rd := harness.StartRedis(t)
	sh := startServer(t, nil)
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			const nconn = 4
			var ref, got [nconn]*rawConn
			for i := range ref {
				ref[i], got[i] = dialRaw(t, rd.Addr), dialRaw(t, sh.addr())
			}
			r := rand.New(rand.NewPCG(seed, 99))
			channels := []string{"a", "b", "ab", "news", "n1", "", "h*", "x[y]"}
			patterns := []string{"*", "a*", "?", "n[0-9]", "[^a]*", "h\\*", "x\\[y]", "*b", "n*s", "[a-"}
			pick := func(from []string, n int) []string {
				out := make([]string, n)
				for i := range out {
					out[i] = from[r.IntN(len(from))]
				}
				return out
			}
			for step := 0; step < 400; step++ {
				i := r.IntN(nconn)
				var args []string
				switch r.IntN(10) {
				case 0, 1:
					args = append([]string{"SUBSCRIBE"}, pick(channels, 1+r.IntN(3))...)
				case 2:
					args = append([]string{"UNSUBSCRIBE"}, pick(channels, r.IntN(3))...)
				case 3:
					args = append([]string{"PSUBSCRIBE"}, pick(patterns, 1+r.IntN(2))...)
				case 4:
					args = append([]string{"PUNSUBSCRIBE"}, pick(patterns, r.IntN(2))...)
				case 5, 6, 7:
					args = []string{"PUBLISH", pick(channels, 1)[0], fmt.Sprint("m", step)}
				case 8:
					args = []string{"SSUBSCRIBE", pick(channels, 1)[0]}
					if r.IntN(2) == 0 {
						args = []string{"SPUBLISH", pick(channels, 1)[0], fmt.Sprint("s", step)}
					}
				default:
					switch r.IntN(5) {
					case 0:
						args = append([]string{"PUBSUB", "NUMSUB"}, pick(channels, 2)...)
					case 1:
						args = []string{"PUBSUB", "NUMPAT"}
					case 2:
						args = []string{"GET", "k"}
					case 3:
						args = []string{"RESET"}
					default:
						args = []string{"SUNSUBSCRIBE"}
					}
				}
				ref[i].send(encodeCommand(args...))
				got[i].send(encodeCommand(args...))
				// The sender first: once its PING is answered, its command
				// ran (shardis-server runs connections in parallel).
				for k := 0; k < nconn; k++ {
					j := (i + k) % nconn
					ref[j].send(encodeCommand("PING", "sync"))
					got[j].send(encodeCommand("PING", "sync"))
					// Unsubscribing everything goes in hash order: the
					// counts then differ per frame, not as a whole.
					all := j == i && len(args) == 1 && strings.HasSuffix(args[0], "UNSUBSCRIBE")
					a, b := framesUntilPing(t, ref[j], all), framesUntilPing(t, got[j], all)
					if a != b {
						t.Fatalf("step %d: conn %d sent %q; conn %d received:\n redis:   %q\n shardis: %q", step, i, args, j, a, b)
					}
				}
			}
		})
	}
}

// framesUntilPing reads frames up to the reply of PING sync (either
// form) and returns them sorted, the PING reply last. With splitCounts
// the counts of (un)subscribe confirmations are sorted apart.
func framesUntilPing(t *testing.T, rc *rawConn, splitCounts bool) string {
	t.Helper()
	var fr, counts []string
	for {
		f := rc.reply()
		if f == "$4\r\nsync\r\n" || f == "*2\r\n$4\r\npong\r\n$4\r\nsync\r\n" {
			sort.Strings(fr)
			sort.Strings(counts)
			return strings.Join(fr, "") + strings.Join(counts, ",") + f
		}
		if i := strings.LastIndex(f, ":"); splitCounts && strings.Contains(f, "subscribe\r\n") && i > 0 {
			f, counts = f[:i], append(counts, f[i:])
		}
		fr = append(fr, f)
	}
}
