// Package backend is shardis-server: the in-tree, Redis-compatible shard
// server (RESP2, database 0) with AOF persistence.
//
// # Data path
//
// Serve listens on every bind address; each accepted connection gets one
// goroutine (conn.go, serveConn). It reads into the client's buffer and
// parses requests in place (proto.go, a port of Redis' query buffer
// processing, including its protocol errors and limits), runs each complete
// command through dispatch (command.go: lookup in the command table, arity,
// AUTH, write admission, handler), and after the last complete command of a
// batch waits until the batch's writes are durable (appendfsync), then
// writes all replies with one syscall. Replies are encoded with redcon's
// RESP appenders; redcon's own connection loop is not used because its
// reader copies and allocates per command, drops the commands it parsed
// before a protocol error and buffers whatever a header announces.
//
// # Keyspace: why sharded locks
//
// Every client has its own goroutine, so a pipelined load from many
// clients runs on all cores at once. One keyspace lock would serialise
// them all (and a single-threaded event loop would cap the server at one
// core, as in Redis). The keyspace is therefore split into 256 shards by
// the top bits of a 64-bit xxhash of the key, each with its own mutex
// (keyspace.go); commands on different keys rarely meet on a lock, and
// multi-key commands lock their shards in ascending order (Tx), so they
// cannot deadlock. Per-shard statistics are kept under the shard lock;
// per-command counters are spread over cache lines.
//
// Each shard indexes its keys in a copy-on-write hash trie (htrie.go)
// ordered by (hash, key). Strings — most of the data — cost one allocation
// holding key and value (entry.go), immutable once stored, so a reader may
// keep the value after unlocking and snapshots share it. Expiries live in
// the entry (no second lookup on read); each shard also lists its keys
// with an expiry for the active expiry cycle.
//
// # The write stream
//
// Every applied write emits its deterministic, replayable form (Tx.emit):
// relative expiries become SET ... PXAT / PEXPIREAT, INCRBYFLOAT becomes
// SET ... KEEPTTL of the result, an expired key's deletion becomes DEL,
// GETEX becomes PEXPIREAT/DEL/PERSIST. Tx.unlock appends the command's
// bytes to the single Stream (stream.go) before it releases the shard
// locks, so for every key the stream order is the application order, and
// every write has a global byte offset (master_repl_offset). Readers use a
// Cursor, which retains the bytes it has not read; the AOF is one reader,
// replicas (backlog, PSYNC) will be others. With no reader the stream only
// counts bytes, without a lock. Commands that must be applied atomically
// together (EXEC) set Tx.wrap: their emissions are wrapped in MULTI/EXEC,
// which the AOF loader applies as one unit.
//
// # Snapshots
//
// Keyspace.Snapshot locks all shards in order, takes an O(1) copy of each
// trie, reads the stream offset and unlocks: microseconds, then writes go
// on while the snapshot is read (Range). The live tries copy a node before
// their first write to it; an Object (non-string value) is cloned before
// its first write by Tx.mutableObject. Users: AOF rewrite (snapshot + the
// stream after its offset), and — later — full resynchronisation of
// replicas and key listing for slot migration.
//
// # AOF
//
// aof.go writes the stream to appendonly.aof with group commit: the first
// client to finish a batch writes everything appended so far (and fsyncs
// with appendfsync always) before its replies go out; everysec fsyncs from
// the cron goroutine. BGREWRITEAOF and the automatic rewrite (growth over
// auto-aof-rewrite-percentage, above auto-aof-rewrite-min-size) write a new
// file from a snapshot, catch up with the stream, then switch atomically
// (rename) holding the AOF lock only for the last few bytes. Loading
// (aofload.go) replays the file through the command table; a truncated
// last command (or unterminated MULTI) is cut with a warning, bad bytes
// before the end are refused with their byte offset.
//
// # Expiry
//
// Lazy: a lookup of an expired key deletes it and emits DEL. Active: the
// cron goroutine samples keys with an expiry, shard by shard, as Redis'
// activeExpireCycle does (expire.go). Keyspace.SetReplicaExpiry switches
// to replica behaviour: expired keys read as missing but are not deleted,
// and the active cycle stops (the master's DELs arrive in its stream).
// Tx.noExpire makes a Tx apply writes without expiry checks (AOF loading;
// later the replication link).
//
// # Adding a command family or a type
//
// A family is one file with a func returning []*cmdSpec, added in
// newCommandTable: name, handler, arity (Redis' convention), flags (write,
// readonly, fast, admin, denyoom, blocking, no_multi...), key positions.
// COMMAND INFO/DOCS/COUNT/GETKEYS and INFO commandstats come from the
// table. A handler locks its keys through c.begin() and tx.lockKey(s),
// looks up with tx.lookup/lookupRead, writes with tx.put, tx.putObject,
// tx.remove, tx.setExpire, tx.mutableObject, emits its replayable form
// (c.emitSelf when the command as sent is deterministic, tx.emit
// otherwise), records its keyspace notifications (tx.notify with Redis'
// event name and class; notify.go publishes them when the Tx unlocks)
// and calls c.commit() before replying with c.ok/c.err/c.bulk...
// A type implements Object (entry.go): Type, Encoding, Len, Clone (cheap
// for large collections: share structure), MemoryUsage and Rewrite (the
// commands that recreate it, for the AOF and full sync). object_test.go
// has a minimal example. Handler arguments alias the read buffer: copy
// what you keep (e.g. commands queued by MULTI).
//
// Hooks: admitWrite (command.go) decides whether a write may run
// (MISCONF, then fencing, NOREPLICAS, READONLY on replicas; CLIENT PAUSE
// WRITE waits there); Server.endBatch is where a batch's replies wait for
// durability (AOF) and, with repl-ack-replicas, for replica
// acknowledgements (a batch without writes is never held);
// Client.atomically runs several handlers under one set of shard locks
// and emits them as MULTI/EXEC (EXEC); the command flags say what MULTI
// may queue and what a read-only replica refuses.
//
// # Collections, transactions, blocking
//
// Hashes, lists, sets and sorted sets (hash*.go, list*.go, set*.go,
// zset*.go) are Objects built on one copy-on-write counted B+tree
// (btree.go): Clone shares the root in O(1) and each tree copies a node
// the first time it writes to it, so the copy a snapshot forces under a
// shard lock never costs O(n). Small hashes and integer sets keep Redis'
// compact forms (insertion-ordered array, sorted intset) for Redis'
// reply order; the encoding thresholds are config parameters
// (encoding.go). In-place changes of a collection call Tx.modified
// (Redis' signalModifiedKey).
//
// A shard with WATCHed keys or blocked clients has hooks (watch.go); the
// Tx write primitives (put, remove, setExpire, persist, flush) and
// Tx.modified report every changed key to them: watchers get their dirty
// flag, and a key created while clients are blocked on it goes to
// Tx.ready, served by the writing client in Client.commit after it
// released its locks (blocking.go), before its reply. MULTI makes
// dispatch queue commands (multi.go, queueMulti); EXEC is
// Client.atomically over the keys of the queue plus the watched keys.
// Handlers run inside EXEC (c.atomic) must neither block nor lock shards
// by other means than the Tx.
//
// # Replication
//
// repl.go walks through it. A master's stream is the replication stream:
// each replica reads it through its own cursor — from a snapshot's offset
// (Keyspace.Snapshot(true), full resync) or from the offset it has, while
// the backlog (Stream.SetBacklog) still holds it (partial resync). A
// replica applies the master's commands through the command table and
// appends the master's bytes unchanged to its own stream (Tx.verbatim),
// so offsets match across a failover.
package backend
