package backend

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A subscribed connection. On its first (P|S)SUBSCRIBE a client gets a
// subscriber: an outbox and a writer goroutine that copies the outbox to
// the socket. The client's reply writer then writes into the outbox
// instead of the socket, so replies and published messages reach the
// client in one order; publishers only append to the outbox (under its
// mutex) and never wait for the socket.
//
// The outbox is bounded by client-output-buffer-limit pubsub: bytes
// queued or being written at or over the hard limit, or over the soft
// limit for longer than its seconds, disconnect the client, as Redis does
// (checked whenever bytes are added).
//
// Ownership: the connection goroutine owns the subscriber's sets and
// counts (changed under the hub's write lock, so publishers see a
// consistent hub); the writer goroutine is started by the connection
// goroutine and ends when it drained the outbox after the client left
// subscribed mode (every subscription gone; the connection goroutine
// waits for it and writes to the socket directly again), or when the
// connection fails or closes (pubsubGone waits for it).

// errSubscriberClosed is what the reply writer gets once the outbox is
// closed (limit exceeded, socket error).
var errSubscriberClosed = errors.New("subscriber connection closed")

// nameSet is a client's channels (or patterns) in subscription order
// (PUNSUBSCRIBE without arguments replies in that order, as Redis 7.0).
type nameSet struct {
	m   map[string]uint64
	seq uint64
}

func (s *nameSet) add(name string) bool {
	if _, ok := s.m[name]; ok {
		return false
	}
	if s.m == nil {
		s.m = map[string]uint64{}
	}
	s.seq++
	s.m[name] = s.seq
	return true
}

func (s *nameSet) remove(name string) bool {
	if _, ok := s.m[name]; !ok {
		return false
	}
	delete(s.m, name)
	return true
}

// names returns the names in subscription order.
func (s *nameSet) names() []string {
	out := make([]string, 0, len(s.m))
	for n := range s.m {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return s.m[out[i]] < s.m[out[j]] })
	return out
}

type subscriber struct {
	c *Client

	sets [numKinds]nameSet      // connection goroutine, under hub.mu
	n    [numKinds]atomic.Int32 // len(sets[k]); read by CLIENT LIST

	mu   sync.Mutex
	cond sync.Cond // on mu: outbox changed, writer idle, closed
	out  []byte    // queued for the writer
	// While hold is set, published messages go to held: the connection
	// goroutine changed subscriptions and its confirmations are still in
	// its reply buffer; Write queues them, then held.
	held      []byte
	hold      bool
	inflight  int  // bytes the writer is writing
	dead      bool // closed: nothing more is queued or written
	stopping  bool // the writer ends once out is empty
	softSince time.Time
	done      chan struct{} // closed when the writer goroutine ends
}

// subscribedMode reports whether c is in RESP2 subscribed mode (Redis'
// CLIENT_PUBSUB: at least one subscription of any kind).
func (c *Client) subscribedMode() bool {
	sb := c.ps.Load()
	return sb != nil && sb.total() > 0
}

func (sb *subscriber) total() int {
	return int(sb.n[kindChannel].Load() + sb.n[kindPattern].Load() + sb.n[kindShard].Load())
}

// count is the number a (un)subscribe reply of kind shows: channels and
// patterns together, shard channels apart.
func (sb *subscriber) count(kind int) int {
	if kind == kindShard {
		return int(sb.n[kindShard].Load())
	}
	return int(sb.n[kindChannel].Load() + sb.n[kindPattern].Load())
}

func subscriberCount(sb *subscriber, kind int) int {
	if sb == nil {
		return 0
	}
	return sb.count(kind)
}

func (sb *subscriber) counted(kind int, d int32) { sb.n[kind].Add(d) }

// subscriberForSubscribe returns c's subscriber, creating it (and its
// writer goroutine) on the first subscription.
func (c *Client) subscriberForSubscribe() *subscriber {
	if sb := c.ps.Load(); sb != nil {
		return sb
	}
	sb := &subscriber{c: c, done: make(chan struct{})}
	sb.cond.L = &sb.mu
	go sb.writeLoop(c.nc) // ends as described in the file comment
	c.w.w = sb
	c.ps.Store(sb)
	return sb
}

// holdMessages makes publishers hold messages back until the connection
// goroutine's next Write (call with the hub locked for writing).
func (sb *subscriber) holdMessages() {
	sb.mu.Lock()
	sb.hold = true
	sb.mu.Unlock()
}

// unsubscribeAll removes every subscription of kind; with notify it
// replies one confirmation per name. It returns how many there were.
func (sb *subscriber) unsubscribeAll(kind int, notify bool) int {
	h := &sb.c.s.pubsub
	h.mu.Lock()
	defer h.mu.Unlock()
	names := sb.sets[kind].names()
	for _, name := range names {
		sb.sets[kind].remove(name)
		h.remove(kind, name, sb)
		sb.counted(kind, -1)
		if notify {
			sb.c.pubsubReply(unsubscribeWord[kind], []byte(name), false, sb.count(kind))
		}
	}
	return len(names)
}

// pubsubReset is RESET's part: every subscription dropped, no replies.
func (c *Client) pubsubReset() {
	if sb := c.ps.Load(); sb != nil {
		for k := 0; k < numKinds; k++ {
			sb.unsubscribeAll(k, false)
		}
	}
}

// pubsubGone cleans up when the connection ends (QUIT, protocol error,
// read error, killed): subscriptions removed, then the writer sends what
// is queued — the last replies, like QUIT's +OK, as the direct path
// does — and ends (at once if the connection is closed or broken).
// Called by the connection goroutine before it closes the connection.
func (c *Client) pubsubGone() {
	sb := c.ps.Load()
	if sb == nil {
		return
	}
	c.pubsubReset()
	sb.mu.Lock()
	sb.held = nil
	sb.stopping = true
	sb.cond.Broadcast()
	sb.mu.Unlock()
	<-sb.done
}

// close marks the outbox closed (mu held).
func (sb *subscriber) close() {
	sb.dead = true
	sb.out, sb.held = nil, nil
	sb.cond.Broadcast()
}

// deliver queues a published message (called by publishers, with the
// hub read-locked).
func (sb *subscriber) deliver(msg []byte, lim BufferLimit) {
	sb.mu.Lock()
	if sb.dead {
		sb.mu.Unlock()
		return
	}
	if sb.hold {
		sb.held = append(sb.held, msg...)
	} else {
		sb.out = append(sb.out, msg...)
		sb.cond.Broadcast()
	}
	over := sb.overLimit(lim)
	if over {
		sb.close()
	}
	sb.mu.Unlock()
	if over {
		sb.disconnect()
	}
}

// overLimit applies the output buffer limit to what is queued (mu held).
func (sb *subscriber) overLimit(lim BufferLimit) bool {
	used := int64(len(sb.out) + len(sb.held) + sb.inflight)
	if lim.Hard > 0 && used >= lim.Hard {
		return true
	}
	if lim.Soft > 0 && used >= lim.Soft {
		now := time.Now()
		if sb.softSince.IsZero() {
			sb.softSince = now
			return false
		}
		return now.Sub(sb.softSince) > time.Duration(lim.SoftSeconds)*time.Second
	}
	sb.softSince = time.Time{}
	return false
}

// disconnect closes the connection of a client over its limit.
func (sb *subscriber) disconnect() {
	c := sb.c
	c.s.pubsub.limitDisconnects.Add(1)
	c.s.log.Warn("Client scheduled to be closed ASAP for overcoming of output buffer limits.", "id", c.id, "addr", c.addr)
	c.kill()
}

// Write is the connection goroutine's reply path while it has a
// subscriber (the reply writer's io.Writer): it queues b, then what
// publishers held back. Once the client has no subscription left it
// waits for the outbox to drain, stops the writer and switches the reply
// writer back to the socket.
func (sb *subscriber) Write(b []byte) (int, error) {
	c := sb.c
	lim := c.s.pubsub.limits.load()
	sb.mu.Lock()
	if sb.dead {
		sb.mu.Unlock()
		return 0, errSubscriberClosed
	}
	sb.out = append(sb.out, b...)
	sb.out = append(sb.out, sb.held...)
	sb.held = sb.held[:0]
	sb.hold = false
	sb.cond.Broadcast()
	detach := sb.total() == 0
	if !detach && sb.overLimit(lim) {
		sb.close()
		sb.mu.Unlock()
		sb.disconnect()
		return 0, errSubscriberClosed
	}
	if !detach {
		sb.mu.Unlock()
		return len(b), nil
	}
	// No publisher can reach this client any more: drain, then stop.
	for !sb.dead && len(sb.out)+sb.inflight > 0 {
		sb.cond.Wait()
	}
	dead := sb.dead
	sb.stopping = true
	sb.cond.Broadcast()
	sb.mu.Unlock()
	<-sb.done
	if dead {
		return 0, errSubscriberClosed
	}
	c.ps.Store(nil)
	c.w.w = c.nc
	return len(b), nil
}

// writeLoop is the writer goroutine.
func (sb *subscriber) writeLoop(nc net.Conn) {
	defer close(sb.done)
	var buf []byte
	for {
		sb.mu.Lock()
		for len(sb.out) == 0 && !sb.dead && !sb.stopping {
			sb.cond.Wait()
		}
		if sb.dead || len(sb.out) == 0 {
			sb.mu.Unlock()
			return
		}
		buf, sb.out = sb.out, buf[:0]
		sb.inflight = len(buf)
		sb.mu.Unlock()
		_, err := nc.Write(buf)
		sb.mu.Lock()
		sb.inflight = 0
		if err != nil {
			sb.close()
		}
		sb.cond.Broadcast()
		sb.mu.Unlock()
		if err != nil {
			sb.c.kill()
			return
		}
		if cap(buf) > 1<<20 {
			buf = nil
		}
	}
}

// clientType is CLIENT LIST/KILL's TYPE of an ordinary client.
func (c *Client) clientType() string {
	if c.subscribedMode() {
		return "pubsub"
	}
	return "normal"
}

// pubsubListFields are CLIENT LIST's flags and sub/psub/ssub fields.
func (c *Client) pubsubListFields() string {
	sb := c.ps.Load()
	if sb == nil || sb.total() == 0 {
		return "flags=N db=0 sub=0 psub=0 ssub=0"
	}
	return fmt.Sprintf("flags=P db=0 sub=%d psub=%d ssub=%d",
		sb.n[kindChannel].Load(), sb.n[kindPattern].Load(), sb.n[kindShard].Load())
}

// BufferLimit is one class of client-output-buffer-limit: disconnect at
// Hard bytes, or after more than SoftSeconds at Soft bytes or more (0 =
// no limit).
type BufferLimit struct {
	Hard, Soft  int64
	SoftSeconds int64
}

// OutputBufferLimits is client-output-buffer-limit. shardis-server
// enforces the pubsub class; normal and replica are reported and kept for
// CONFIG REWRITE (replicas use fixed limits, repl_master.go).
type OutputBufferLimits struct {
	Normal, Replica, PubSub BufferLimit
}

// DefaultOutputBufferLimits are Redis' defaults.
func DefaultOutputBufferLimits() OutputBufferLimits {
	return OutputBufferLimits{
		Replica: BufferLimit{Hard: 256 << 20, Soft: 64 << 20, SoftSeconds: 60},
		PubSub:  BufferLimit{Hard: 32 << 20, Soft: 8 << 20, SoftSeconds: 60},
	}
}

func (l OutputBufferLimits) String() string {
	f := func(b BufferLimit) string { return fmt.Sprintf("%d %d %d", b.Hard, b.Soft, b.SoftSeconds) }
	return "normal " + f(l.Normal) + " slave " + f(l.Replica) + " pubsub " + f(l.PubSub)
}

// parseOutputBufferLimits applies "class hard soft seconds ..." to l, as
// Redis' CONFIG SET client-output-buffer-limit (all or nothing).
func parseOutputBufferLimits(l OutputBufferLimits, v string) (OutputBufferLimits, error) {
	f := strings.Fields(v)
	if len(f)%4 != 0 {
		return l, paramError("Wrong number of arguments in buffer limit configuration.")
	}
	for i := 0; i < len(f); i += 4 {
		var dst *BufferLimit
		switch strings.ToLower(f[i]) {
		case "normal":
			dst = &l.Normal
		case "slave", "replica":
			dst = &l.Replica
		case "pubsub":
			dst = &l.PubSub
		default:
			return l, paramError("Invalid client class specified in buffer limit configuration.")
		}
		hard, ok1 := parseMemory(f[i+1])
		soft, ok2 := parseMemory(f[i+2])
		secs, err := strconv.ParseInt(f[i+3], 10, 64)
		if !ok1 || !ok2 || err != nil || secs < 0 {
			return l, paramError("Error in hard, soft or soft_seconds setting in buffer limit configuration.")
		}
		*dst = BufferLimit{Hard: hard, Soft: soft, SoftSeconds: secs}
	}
	return l, nil
}

// pubsubParams are the Pub/Sub configuration parameters.
func pubsubParams() []param {
	return []param{{name: "client-output-buffer-limit",
		get: func(c *Config) string { return c.ClientOutputBufferLimit.String() },
		set: func(c *Config, v string) error {
			l, err := parseOutputBufferLimits(c.ClientOutputBufferLimit, v)
			if err == nil {
				c.ClientOutputBufferLimit = l
			}
			return err
		}}}
}

// pubsubLimitsBox holds the pubsub class limit for lock-free reads.
type pubsubLimitsBox struct{ p atomic.Pointer[BufferLimit] }

func (b *pubsubLimitsBox) store(cfg Config) {
	l := cfg.ClientOutputBufferLimit.PubSub
	b.p.Store(&l)
}

func (b *pubsubLimitsBox) load() BufferLimit {
	if p := b.p.Load(); p != nil {
		return *p
	}
	return BufferLimit{}
}
