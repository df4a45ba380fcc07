package backend

import (
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Client is the state of one connection, or of an internal client such as
// the AOF loader. Its connection goroutine owns every field not marked
// otherwise; CLIENT LIST/KILL and INFO read the marked ones from other
// goroutines.
type Client struct {
	s  *Server
	nc net.Conn // nil for internal clients
	w  *replyWriter
	rd reader
	tx Tx

	id       int64
	addr     string
	laddr    string
	fd       int
	created  time.Time
	authed   bool
	internal bool // AOF loading: no auth, no admission, no durability wait

	// raw is the current command in canonical RESP form (nil when the
	// client's bytes were not canonical); handlers emit it to the stream as
	// is when the command is replayable unchanged. raw and args alias the
	// read buffer: valid only while the handler runs.
	raw  []byte
	args [][]byte // the current command's arguments
	quit bool     // QUIT: close after the reply
	// strs gathers a reply's strings under the shard lock, to be written
	// after it (gather, bulkStrings); reused so that LRANGE, HGETALL...
	// allocate nothing: with a large keyspace each garbage collection
	// scans it all, and its frequency follows the allocations.
	strs   []string
	zitems []zitem // the same for ZRANGE and its variants
	num    []byte  // a formatted number of a reply (ZRANGE's scores)
	// failed is set when the current command replied with an error.
	failed bool
	atomic bool // inside atomically (EXEC)
	// fromScript: the running handler was called by a script (Redis'
	// CLIENT_SCRIPT: SORT then orders a set it would leave unsorted)
	fromScript bool
	// pendingOff is the stream offset the replies buffered in this batch
	// depend on: they are flushed once the AOF (later: replicas) holds it.
	pendingOff int64

	// mx is the MULTI/WATCH state (multi.go); bl the waiter while the
	// client is blocked (blocking.go), read by CLIENT UNBLOCK/LIST.
	mx multiState
	bl atomic.Pointer[waiter]
	// ps is the client's Pub/Sub state once it subscribed (pubsub_conn.go);
	// read by CLIENT LIST.
	ps atomic.Pointer[subscriber]

	// repl is the client's WAIT offset, write replies awaiting replica
	// acknowledgement, and a replica's handshake (wait.go).
	repl clientRepl

	// clock is read once per batch (when its bytes arrive): it is the
	// commands' "now" for expiry, like Redis' cached time, and their
	// durations are the batch's, split evenly (exact for unpipelined
	// commands). untimed lists the commands not yet charged.
	clock   time.Time
	untimed []*cmdSpec

	// Read by other goroutines.
	mu      sync.Mutex // guards name, libName, libVer
	name    string
	libName string
	libVer  string
	cmd     atomic.Pointer[cmdSpec] // last command
	lastAt  atomic.Int64            // unix ms of the last command
	killed  atomic.Bool
}

// now returns the time used for the current command's expiry decisions:
// the command's start, like Redis' command time snapshot.
func (c *Client) now() int64 { return c.clock.UnixMilli() }

// begin prepares c's Tx for a command at time now.
func (c *Client) begin() *Tx {
	tx := &c.tx
	tx.changedKeys = tx.changedKeys[:0] // a new command (also inside EXEC)
	if c.atomic {
		return tx // inside atomically: the locks are already held
	}
	tx.reset(c.s.ks, c.now())
	tx.noEmit = false
	tx.noExpire = false
	if c.internal {
		tx.noEmit = true
		tx.noExpire = true
	} else if c.s.repl.isReplica.Load() {
		// A writable replica's own writes stay local: its stream is its
		// master's, byte for byte (repl.go).
		tx.noEmit = true
	}
	return tx
}

// commit unlocks c's Tx and records the stream offset its writes reached.
func (c *Client) commit() {
	if c.atomic {
		return
	}
	if off := c.tx.unlock(); off > c.pendingOff {
		c.pendingOff = off
	}
	if len(c.tx.ready) > 0 {
		c.serveBlocked() // clients blocked on keys this command created
	}
}

// atomically runs fn — typically several command handlers, for EXEC —
// with the shards of keys (or all shards) locked for its whole duration,
// so no other client sees a partial result. The handlers' begin/commit
// calls become no-ops; their emissions reach the stream as one unit,
// wrapped in MULTI/EXEC when there are several. A handler that touches a
// shard not locked here panics (lock order): lock all when the keys of
// the commands are not all known from their key positions.
func (c *Client) atomically(all bool, keys [][]byte, fn func()) {
	tx := c.begin()
	if all {
		tx.lockAll()
	} else {
		tx.lockKeys(keys...)
	}
	tx.wrap = true
	c.atomic = true
	defer func() {
		c.atomic = false
		c.commit()
		tx.wrap = false
	}()
	fn()
}

// emitSelf emits the current command as sent: for commands whose effect
// is deterministic given the keyspace (INCR, APPEND, DEL...).
func (c *Client) emitSelf(tx *Tx) {
	if c.raw != nil {
		tx.emitRaw(c.raw)
	} else {
		tx.emit(c.args...)
	}
}

// Reply helpers.

func (c *Client) ok() { c.w.WriteString("OK") }
func (c *Client) err(msg string) {
	c.failed = true
	c.s.errs.add(msg)
	c.w.WriteError(msg)
}
func (c *Client) null()               { c.w.WriteNull() }
func (c *Client) nullArray()          { c.w.WriteRaw([]byte("*-1\r\n")) }
func (c *Client) int(n int64)         { c.w.WriteInt64(n) }
func (c *Client) bulk(b []byte)       { c.w.WriteBulk(b) }
func (c *Client) bulkString(s string) { c.w.WriteBulkString(s) }

// gather returns the client's reusable slice for a reply's strings,
// empty, with room for n.
func (c *Client) gather(n int) []string {
	if cap(c.strs) < n {
		c.strs = make([]string, 0, n)
	}
	return c.strs[:0]
}

// bulkStrings replies with out, an array of bulk strings from gather,
// and keeps its storage (not the strings) for the next reply.
func (c *Client) bulkStrings(out []string) {
	c.array(len(out))
	for _, s := range out {
		c.bulkString(s)
	}
	c.strs = reuse(out)
}

// reuse returns a reply's gathered slice emptied for the next reply,
// without references to what it held (so that can be freed), or nil if
// it grew too large to keep.
func reuse[T any](out []T) []T {
	clear(out)
	if cap(out) > 4096 {
		return nil
	}
	return out[:0]
}

func (c *Client) array(n int)     { c.w.WriteArray(n) }
func (c *Client) status(s string) { c.w.WriteString(s) }

func (c *Client) setName(n string) {
	c.mu.Lock()
	c.name = n
	c.mu.Unlock()
}

func (c *Client) getName() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.name
}

// kill closes the client's connection from another goroutine; its handler
// goroutine then ends and the client is unregistered.
func (c *Client) kill() {
	if c.killed.Swap(true) || c.nc == nil {
		return
	}
	_ = c.nc.Close()
}

// info is the client's CLIENT LIST / CLIENT INFO line, in Redis' field
// order.
func (c *Client) info(now time.Time) string {
	c.mu.Lock()
	name, lib, ver := c.name, c.libName, c.libVer
	c.mu.Unlock()
	cmd := "NULL"
	if sp := c.cmd.Load(); sp != nil {
		cmd = sp.name
	}
	last := c.lastAt.Load()
	idle := int64(0)
	if last > 0 {
		idle = (now.UnixMilli() - last) / 1000
	}
	var b strings.Builder
	b.WriteString("id=" + strconv.FormatInt(c.id, 10))
	b.WriteString(" addr=" + c.addr)
	b.WriteString(" laddr=" + c.laddr)
	b.WriteString(" fd=" + strconv.Itoa(c.fd))
	b.WriteString(" name=" + name)
	b.WriteString(" age=" + strconv.FormatInt(int64(now.Sub(c.created)/time.Second), 10))
	b.WriteString(" idle=" + strconv.FormatInt(idle, 10))
	b.WriteString(" " + c.pubsubListFields() + " multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r")
	b.WriteString(" cmd=" + cmd)
	b.WriteString(" user=default redir=-1 resp=2")
	if lib != "" || ver != "" {
		b.WriteString(" lib-name=" + lib + " lib-ver=" + ver)
	}
	return b.String()
}

// clientRegistry holds the connected clients.
type clientRegistry struct {
	mu     sync.Mutex
	m      map[int64]*Client
	nextID atomic.Int64
}

func (r *clientRegistry) add(c *Client) {
	r.mu.Lock()
	if r.m == nil {
		r.m = map[int64]*Client{}
	}
	r.m[c.id] = c
	r.mu.Unlock()
}

func (r *clientRegistry) remove(c *Client) {
	r.mu.Lock()
	delete(r.m, c.id)
	r.mu.Unlock()
}

func (r *clientRegistry) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m)
}

// list returns the clients sorted by id.
func (r *clientRegistry) list() []*Client {
	r.mu.Lock()
	out := make([]*Client, 0, len(r.m))
	for _, c := range r.m {
		out = append(out, c)
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// newInternalClient returns a client whose replies are discarded (AOF
// loading applies commands through the command table with it).
func (s *Server) newInternalClient() *Client {
	return &Client{s: s, w: newReplyWriter(io.Discard), authed: true, internal: true,
		id: s.clients.nextID.Add(1), created: time.Now(), fd: -1}
}

// fdOf returns the file descriptor of a TCP connection, or -1.
func fdOf(nc net.Conn) int {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return -1
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	_ = raw.Control(func(u uintptr) { fd = int(u) })
	return fd
}
