// Package proxy is shardis' RESP proxy: one listener per pool (tenant),
// keys spread over the pool's shards exactly as twemproxy (nutcracker)
// spreads them, or by slot ranges, requests from many clients pipelined
// onto a few connections per server.
//
// # Data path
//
// A client connection is a session (session.go) with two goroutines, as
// in Codis:
//
//  1. The reader takes everything the client pipelined as one batch:
//     reqReader (resp.go) parses it without copying, enforcing Redis'
//     limits (MaxBulkLen, MaxArgs, MaxInlineLen) before it allocates, and
//     keeps a partial command's state so large commands parse in linear
//     time. Its buffer grows only as bytes arrive.
//  2. Each command is looked up in the command table (commands.go: arity,
//     key positions, read-only or write, how to route) and dispatched
//     (dispatch.go) on the batch's RouteTable: answered locally (PING,
//     AUTH, INFO, ...; local.go), refused (unknown command, wrong arity,
//     -CROSSSLOT, -NOAUTH), forwarded as the client's own bytes to the
//     shard owning its key, or split per shard (MGET, MSET, DEL, UNLINK,
//     TOUCH, EXISTS; multikey.go) with the replies merged in key order.
//  3. A forwarded request is appended, bytes and all, to one of its
//     server's connections (backendconn.go): requests from every client
//     queue on the same few connections; the connection's writer goroutine
//     writes whatever accumulated in one write, and its reader goroutine
//     matches replies to requests in FIFO order (replyScanner,
//     respreply.go, finds each reply's end without copying).
//  4. Replies go back strictly in arrival order: the goroutine that
//     completes a request (usually a connection's reader) writes every
//     reply ready at the head of the session's queue without blocking; a
//     full socket or a partly ready batch is left to the session's writer
//     goroutine (flat combining: one write per batch, no goroutine switch
//     for a lone request).
//
// # Beyond request/reply
//
// Commands that change the state of the server connection they run on
// cannot share the pipelined connections. Transactions (multi.go: WATCH
// or the first keyed command in MULTI pins the session to one shard) and
// blocking commands (blocking.go) lease a dedicated connection from a
// small per-server pool (blocking_conn.go) and hand it back once their
// replies are in; before leaving the pipelined path the session waits for
// its earlier replies (session.settle), and a blocked client's later
// commands wait for its blocking command, so a client's pipeline behaves
// as on one Redis connection. Pub/sub (pubsub.go, pubsub_conn.go) gives a
// subscribed session its own subscription connections: channels on the
// shard they hash to, patterns on every shard; messages are queued with
// the session's replies. SCAN walks the shards one after the other with a
// cursor holding the shard index; KEYS, DBSIZE, RANDOMKEY and FLUSH* go to
// every shard and are merged (scan.go). SLOWLOG (slowlog.go) and the
// latency histograms (hist.go) are per pool.
//
// # Route tables
//
// A Pool routes with an immutable RouteTable (route.go) held in an
// atomic.Pointer: key -> hash (hashring) -> shard -> its master's server.
// A table is built from a Topology, a plain list of ShardSpecs (name,
// master address or none, replicas, weight or slot ranges): StaticTopology
// makes one from a YAML pool; a ZooKeeper watcher can make one from a
// topology snapshot and call Pool.SetTopology. Building happens off to the
// side; installing is one atomic store; a request keeps the table it
// started with. Servers are keyed by address and survive swaps: a server a
// new table no longer uses keeps serving older requests for a grace
// period, then its connections close. A shard without a master answers
// -CLUSTERDOWN at once.
//
// # Failures
//
// Each server connection redials by itself with backoff; while it is down
// requests fail at once with "-ERR backend <addr>: <reason>". The pool's
// timeout bounds the wait for a reply: the oldest request's deadline is the
// connection's read deadline, and on expiry the connection is reset (FIFO
// matching is lost) and every request on it fails with "timeout". No
// request is ever retried. auto_eject_hosts follows twemproxy (eject.go),
// except that an ejected server returns only after a health check (PING).
//
// # Observability
//
// Counters are atomics owned by the Proxy, its pools and their servers
// (stats.go); the stats port serves them in nutcracker's JSON layout, INFO
// (info.go) Redis-style. Logs go to the slog.Logger of Options.
//
// # Goroutines
//
// Proxy.Serve owns one accept goroutine per pool, the idle-client sweepers
// and the stats goroutines, and ends them at shutdown. Each session owns
// its reader and writer; each server connection, started on first use,
// owns a run goroutine (dial, write, redial) and a reader per connection;
// an ejected server owns its health check. A leased dedicated connection
// has a reader that ends when it is handed back or breaks; a subscribed
// session owns a keeper (following route tables) and a reader per
// subscription connection, all ended when the session ends. All end when Serve's context is
// done and the pools have drained.
package proxy
