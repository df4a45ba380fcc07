package backend

import (
	"errors"
	"math"
	"net"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/shardis/shardis/hashring"
)

// Slot migration (online resharding, docs/resharding.md). shardis-admin
// moves a pool's slot range from one shard's master (this server) to
// another's with SHARDIS.MIGRATESLOTS, batch after batch; proxies move a
// key of a migrating slot just before they send a request for it to the
// target, with SHARDIS.MIGRATEKEY.
//
// A key moves under its keyspace shard's lock: DUMP, RESTORE on the
// target (absolute expiry, over a cached connection, migrate_target.go),
// then, on the target's OK, delete it here and emit DEL to the write
// stream (AOF and replicas follow). A client of this server waits on the
// lock for the round trip, so it sees the key either here, before, or —
// through the proxy, which asks this server to move the key first — on
// the target, after: never on both sides, never on neither.
//
// The target wins: RESTORE is sent without REPLACE, and a BUSYKEY answer
// means the target already holds the key. Once a slot is migrating, any
// copy on the target was moved there or written there afterwards, so the
// local copy is stale (e.g. brought back by a failover that lost the DEL)
// and is dropped.
//
// The pool's key→slot function (hash, hash tag, slot count) is given with
// each command rather than configured once: a master promoted in the
// middle of a migration needs no setup, and a server may hold keys of
// several pools. Keys of a slot range are found by walking the keyspace
// in hash order (SCAN's order) with a cursor, rather than by a per-slot
// index: an index would cost memory and a second update on every write
// of every pool, all the time, for the sake of a rare operation; the walk
// costs one hash per key examined, about the cost of moving it.

func migrateCommands() []*cmdSpec {
	const g = "shardis"
	return []*cmdSpec{
		{name: "shardis.migratekey", handler: cmdMigrateKey, arity: -5, flags: flagWrite | flagNoMulti | flagNoScript, first: 3, last: 3, step: 1, group: g, since: "0.1.0", summary: "Moves one key (value and expiry) to another server atomically (resharding).", complexity: "O(N) to serialize the value"},
		{name: "shardis.migrateslots", handler: cmdMigrateSlots, arity: -8, flags: flagWrite | flagNoMulti | flagNoScript, group: g, since: "0.1.0", summary: "Moves a batch of keys of a slot range to another server (resharding).", complexity: "O(N) in the keys examined and moved"},
		{name: "shardis.countslots", handler: cmdCountSlots, arity: -3, flags: flagReadonly | flagNoScript, group: g, since: "0.1.0", summary: "Counts the keys of a slot range (resharding).", complexity: "O(N) where N is the number of keys"},
	}
}

// SlotSpec is a pool's key→slot function and a slot range: the options
// HASH name, TAG tag (two characters, or "" for none), SLOTS count and
// RANGE lo hi of the SHARDIS.* migration commands.
type SlotSpec struct {
	Hash   string
	Tag    string
	Slots  int
	Lo, Hi int
	// Auth is the target's password (option AUTH), "" for none.
	Auth string

	hf hashring.HashFunc
}

// errNoRange is the reply to migration options without RANGE.
var errNoRange = errors.New("ERR RANGE lo hi is required")

// ParseSlotSpec parses the options HASH, TAG, SLOTS, RANGE and AUTH, in
// any order, case-insensitively. HASH defaults to fnv1a_64, SLOTS to 4096;
// RANGE is required and must lie within the slots.
func ParseSlotSpec(args [][]byte) (SlotSpec, error) {
	sp := SlotSpec{Hash: hashring.DefaultHash, Slots: hashring.DefaultSlots, Lo: -1}
	for i := 0; i < len(args); i++ {
		name := strings.ToLower(string(args[i]))
		need := 1
		if name == "range" {
			need = 2
		}
		if i+need >= len(args) {
			return SlotSpec{}, errors.New(errSyntax)
		}
		v := args[i+1]
		switch name {
		case "hash":
			sp.Hash = strings.ToLower(string(v))
		case "tag":
			if len(v) != 0 && len(v) != 2 {
				return SlotSpec{}, errors.New("ERR TAG must be two characters or empty")
			}
			sp.Tag = string(v)
		case "slots":
			n, ok := parseInt(v)
			if !ok || n < 1 || n > 65536 {
				return SlotSpec{}, errors.New("ERR SLOTS must be 1..65536")
			}
			sp.Slots = int(n)
		case "range":
			lo, ok1 := parseInt(v)
			hi, ok2 := parseInt(args[i+2])
			if !ok1 || !ok2 || lo < 0 || hi < lo || hi > math.MaxInt32 {
				return SlotSpec{}, errors.New("ERR RANGE must be lo hi with 0 <= lo <= hi")
			}
			sp.Lo, sp.Hi = int(lo), int(hi)
		case "auth":
			sp.Auth = string(v)
		default:
			return SlotSpec{}, errors.New(errSyntax)
		}
		i += need
	}
	if sp.Lo < 0 {
		return SlotSpec{}, errNoRange
	}
	if sp.Hi >= sp.Slots {
		return SlotSpec{}, errors.New("ERR RANGE is outside the SLOTS")
	}
	hf, err := hashring.HashByName(sp.Hash)
	if err != nil {
		return SlotSpec{}, errors.New("ERR unknown HASH '" + sp.Hash + "'")
	}
	sp.hf = hf
	return sp, nil
}

// Slot returns key's slot.
func (sp *SlotSpec) Slot(key string) int {
	return hashring.KeySlot(sp.hf, sp.Tag, sp.Slots, unsafe.Slice(unsafe.StringData(key), len(key)))
}

func (sp *SlotSpec) contains(key string) bool {
	s := sp.Slot(key)
	return sp.Lo <= s && s <= sp.Hi
}

// parseTarget parses host, port and a timeout in milliseconds (as
// MIGRATE's); it returns the address and the timeout.
func parseTarget(host, port, timeout []byte) (string, time.Duration, string) {
	p, ok := parseInt(port)
	if !ok || p <= 0 || p > 65535 {
		return "", 0, "ERR Invalid port"
	}
	ms, ok := parseInt(timeout)
	if !ok {
		return "", 0, errNotInteger
	}
	if ms <= 0 {
		ms = 1000
	}
	return net.JoinHostPort(string(host), strconv.FormatInt(p, 10)), time.Duration(ms) * time.Millisecond, ""
}

// sendRestore buffers the RESTORE the target receives for the live entry
// e: with its absolute expiry, without REPLACE (the target wins, see
// above).
func (mc *migrateConn) sendRestore(e entry, payload []byte) {
	abs := int64(0)
	if e.hasTTL() {
		abs = e.exp
	}
	k := e.key()
	mc.sendBytes([]byte("RESTORE"), unsafe.Slice(unsafe.StringData(k), len(k)), strconv.AppendInt(nil, abs, 10), payload, []byte("ABSTTL"))
}

// isBusyKey reports whether a target's error reply is BUSYKEY.
func isBusyKey(err error) bool {
	var te *errTargetReply
	return errors.As(err, &te) && strings.HasPrefix(te.msg, "BUSYKEY")
}

// ioErr is the reply to a failed exchange with the target, as MIGRATE's.
func ioErr(addr string, err error) string {
	var te *errTargetReply
	if errors.As(err, &te) {
		return "ERR Target instance replied with error: " + te.msg
	}
	return "IOERR error or timeout migrating to target instance " + addr + ": " + err.Error()
}

// cmdMigrateKey: SHARDIS.MIGRATEKEY host port key timeout [AUTH password].
// +OK: the key moved (or the target already had it and the local copy was
// dropped); +NOKEY: there is no such key here (nothing to do).
func cmdMigrateKey(c *Client, args [][]byte) {
	addr, timeout, msg := parseTarget(args[1], args[2], args[4])
	if msg != "" {
		c.err(msg)
		return
	}
	password := ""
	if len(args) > 5 {
		if len(args) != 7 || !eqFold(args[5], "auth") {
			c.err(errSyntax)
			return
		}
		password = string(args[6])
	}
	key := args[3]
	tx := c.begin()
	tx.lockKey(key)
	e, sh, ok := tx.lookup(key)
	if !ok {
		// The caller routes the key to addr from now on: a client that
		// still comes here for it gets TRYAGAIN (migrate_guard.go).
		c.s.migr.guard.tomb(key, addr)
		c.commit()
		// The key may have just been moved by a batch whose DEL is not
		// yet on a replica (repl-ack-replicas) or in the AOF: the reply
		// waits for what was written so far, like a write's, so that a
		// failover cannot bring the key back after the caller wrote it
		// on the target.
		if off := c.s.ks.stream.Offset(); off > c.pendingOff {
			c.pendingOff = off
		}
		c.status("NOKEY")
		return
	}
	payload := dumpValue(e)
	if payload == nil {
		c.commit()
		c.err("ERR the value of this key cannot be migrated")
		return
	}
	mc, err := c.s.migr.take(addr, password, timeout)
	if err != nil {
		c.commit()
		c.err(ioErr(addr, err))
		return
	}
	mc.sendRestore(e, payload)
	_, err = mc.flushRead(timeout, 1)
	var te *errTargetReply
	c.s.migr.give(mc, err == nil || errors.As(err, &te))
	if err != nil && !isBusyKey(err) {
		c.commit()
		c.err(ioErr(addr, err))
		return
	}
	tx.remove(sh, e)
	tx.notify(notifyGeneric, "del", key)
	tx.emit([]byte("DEL"), key)
	c.s.migr.guard.tomb(key, addr)
	c.commit()
	c.s.stats.migratedKeys.Add(1)
	c.ok()
}

// cmdMigrateSlots: SHARDIS.MIGRATESLOTS host port timeout cursor count
// [HASH name] [TAG tag] [SLOTS n] RANGE lo hi [AUTH password].
//
// It walks the keyspace from cursor (a position in hash order, "0" to
// start) and moves the keys whose slot is in the range, at most count
// keys and migrateBatchBytes per keyspace shard and exchange, until about
// count keys (or migrateBatchBytes) moved or 10*count keys were examined. The reply is [next cursor ("0": the walk
// is over), keys moved, bytes moved, stale keys dropped (BUSYKEY on the
// target)]. Expired keys are deleted, not moved.
func cmdMigrateSlots(c *Client, args [][]byte) {
	addr, timeout, msg := parseTarget(args[1], args[2], args[3])
	if msg != "" {
		c.err(msg)
		return
	}
	cursor, err := strconv.ParseUint(string(args[4]), 10, 64)
	if err != nil {
		c.err("ERR invalid cursor")
		return
	}
	count, ok := parseInt(args[5])
	if !ok || count < 1 {
		c.err("ERR COUNT must be > 0")
		return
	}
	count = min(count, 10000)
	sp, err := ParseSlotSpec(args[6:])
	if err != nil {
		c.err(err.Error())
		return
	}
	// Before any key of the range moves: a client that comes here for a
	// missing key of it gets TRYAGAIN (migrate_guard.go).
	c.s.migr.guard.addRange(&sp, addr)
	r, err := c.s.migrateSlots(c, addr, timeout, &sp, cursor, int(count))
	if err != nil {
		c.err(ioErr(addr, err))
		return
	}
	c.s.stats.migratedKeys.Add(int64(r.moved))
	c.array(4)
	c.bulkString(strconv.FormatUint(r.next, 10))
	c.int(int64(r.moved))
	c.int(r.bytes)
	c.int(int64(r.dropped))
}

// migrateBatchBytes bounds the payload of one exchange with the target
// (one keyspace lock held for its round trip) and, roughly, of one call:
// a batch of large values is cut short.
const migrateBatchBytes = 4 << 20

type migrateResult struct {
	next           uint64
	moved, dropped int
	bytes          int64
}

// migrateSlots is one SHARDIS.MIGRATESLOTS call: a walk of the keyspace
// shards from cursor, one shard lock (and one exchange with the target)
// at a time.
func (s *Server) migrateSlots(c *Client, addr string, timeout time.Duration, sp *SlotSpec, cursor uint64, count int) (migrateResult, error) {
	var res migrateResult
	limit := max(10*count, 1000)
	examined := 0
	from := cursor
	var batch []entry
	var payloads [][]byte
	for i := shardIndex(cursor); i < numShards; i++ {
		if i != shardIndex(cursor) {
			from = uint64(i) << (64 - shardBits)
		}
		tx := c.begin()
		tx.lockShard(i)
		sh := &s.ks.shards[i]
		batch, payloads = batch[:0], payloads[:0]
		var last uint64
		stopped := false
		sh.keys.Ascend(from, func(e entry) bool {
			examined++
			if sp.contains(e.key()) {
				batch = append(batch, e)
			}
			if len(batch) >= count || examined >= limit {
				last, stopped = e.hash, true
				return false
			}
			return true
		})
		var live []entry
		size := 0
		for j, e := range batch {
			if tx.expired(sh, e) {
				tx.deleteExpired(sh, e)
			} else if p := dumpValue(e); p != nil { // nil: not serializable, left in place
				live = append(live, e)
				payloads = append(payloads, p)
				size += len(p)
			}
			if size >= migrateBatchBytes && j+1 < len(batch) {
				// Large values: the rest of the batch waits for the
				// next call, so one exchange stays bounded.
				last, stopped = e.hash, true
				break
			}
		}
		if len(live) > 0 {
			err := s.sendBatch(c, tx, sh, addr, sp.Auth, timeout, live, payloads, &res)
			if err != nil {
				c.commit()
				return res, err
			}
		}
		c.commit()
		if stopped {
			if last == math.MaxUint64 {
				res.next = 0 // the last possible position: the walk is over
			} else {
				res.next = last + 1
			}
			return res, nil
		}
		if res.moved+res.dropped >= count || res.bytes >= migrateBatchBytes {
			if i+1 < numShards {
				res.next = uint64(i+1) << (64 - shardBits)
				return res, nil
			}
		}
	}
	res.next = 0
	return res, nil
}

// sendBatch restores live on the target in one pipelined exchange and
// deletes here each key the target took (or already had). The caller
// holds the keys' shard lock.
func (s *Server) sendBatch(c *Client, tx *Tx, sh *shard, addr, password string, timeout time.Duration, live []entry, payloads [][]byte, res *migrateResult) error {
	mc, err := s.migr.take(addr, password, timeout)
	if err != nil {
		return err
	}
	for j, e := range live {
		mc.sendRestore(e, payloads[j])
	}
	replies, err := mc.flushRead(timeout, len(live))
	s.migr.give(mc, err == nil)
	if err != nil {
		return err
	}
	var firstErr error
	for j, e := range live {
		switch r := replies[j]; {
		case r == nil:
			res.moved++
			res.bytes += int64(len(payloads[j]))
		case isBusyKey(r):
			res.dropped++
		default:
			if firstErr == nil {
				firstErr = r
			}
			continue
		}
		k := e.key()
		tx.remove(sh, e)
		tx.notifyStr(notifyGeneric, "del", k)
		tx.emitStrings("DEL", k)
	}
	return firstErr
}

// cmdCountSlots: SHARDIS.COUNTSLOTS [HASH name] [TAG tag] [SLOTS n] RANGE
// lo hi — the number of live keys whose slot is in the range, counted on
// a snapshot (writers are not held up).
func cmdCountSlots(c *Client, args [][]byte) {
	sp, err := ParseSlotSpec(args[1:])
	if err != nil {
		c.err(err.Error())
		return
	}
	now := c.now()
	sn := c.s.ks.Snapshot(false)
	defer sn.Release()
	n := int64(0)
	sn.Range(0, func(it snapItem) bool {
		if (it.at < 0 || it.at >= now) && sp.contains(it.e.key()) {
			n++
		}
		return true
	})
	c.int(n)
}
