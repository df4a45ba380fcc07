package proxy

// The command table (Codis' "mapper"): every Redis command the proxy
// serves, with Redis 7.0's arity, flags and legacy key positions (as
// COMMAND INFO reports them), and how the proxy routes it. A command not
// in the table gets "-ERR unknown or unsupported command '<name>'".

// cmdKind is how a command is served.
type cmdKind uint8

const (
	// kindLocal commands are answered by the proxy itself.
	kindLocal cmdKind = iota
	// kindSingle commands have one key (args[first]) and are forwarded
	// unchanged to the shard owning it.
	kindSingle
	// kindSameShard commands have several keys that must all map to one
	// shard: forwarded unchanged if they do, else -CROSSSLOT.
	kindSameShard
	// kindMGet is split into one MGET per shard; the arrays are merged
	// back in key order.
	kindMGet
	// kindMSet is split into one MSET per shard; the reply is +OK once
	// every shard said OK.
	kindMSet
	// kindSum is split into one command per shard; the reply is the sum
	// of the integer replies (DEL, UNLINK, TOUCH, EXISTS).
	kindSum
	// kindTx are the transaction commands (MULTI, EXEC, DISCARD, WATCH,
	// UNWATCH) and RESET: the session pins a dedicated connection
	// (multi.go).
	kindTx
	// kindBlocking commands (BLPOP, ...) have keys that must share a
	// shard and run on a dedicated connection (blocking.go).
	kindBlocking
	// kindPubSub are SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE
	// (pubsub.go).
	kindPubSub
	// kindPublish is PUBLISH: forwarded to the shard of its channel.
	kindPublish
	// kindScan is SCAN over every shard (scan.go).
	kindScan
	// kindFanout commands go to every shard and their replies are merged
	// as fan says (KEYS, DBSIZE, RANDOMKEY, FLUSHALL, FLUSHDB; scan.go).
	kindFanout
	// kindPubSubQuery is PUBSUB: fanned out as its subcommand says
	// (pubsub_query.go).
	kindPubSubQuery
)

// fanKind is how the replies of a kindFanout command are merged.
type fanKind uint8

const (
	fanSum    fanKind = iota // integers added (DBSIZE)
	fanConcat                // arrays concatenated (KEYS)
	fanAllOK                 // +OK once every shard said OK (FLUSHALL, FLUSHDB)
	fanRandom                // one non-nil reply picked at random (RANDOMKEY)
	fanUnion                 // arrays of names merged, each name once (PUBSUB CHANNELS)
	fanNumsub                // name/count arrays with the counts added (PUBSUB NUMSUB)
	fanMax                   // the largest integer (PUBSUB NUMPAT)
)

// keyFinder says where a command's keys are.
type keyFinder uint8

const (
	// keysRange: args[first], then every step-th argument up to last
	// (last < 0 counts from the end, -1 being the last argument).
	keysRange keyFinder = iota
	// keysNumkeys: args[numkeys] is a key count and that many keys
	// follow it; withDest adds args[1] (a destination key).
	keysNumkeys
	// keysStore: args[1], plus the argument after a STORE or STOREDIST
	// option found from args[numkeys] on (SORT, GEORADIUS*).
	keysStore
	// keysStreams: the first half of the arguments after STREAMS,
	// searched from args[numkeys] on (XREAD, XREADGROUP); a BLOCK option
	// before it makes the command blocking (served as kindBlocking is).
	keysStreams
	// keysSubcommand: a container command (OBJECT, XINFO, XGROUP) whose
	// subcommands take their key at args[2].
	keysSubcommand
)

// cmdInfo describes one command. Entries are immutable.
type cmdInfo struct {
	name  string // lower case
	arity int    // Redis' arity: n exactly n arguments (name included), -n at least n
	flags string // Redis' flags, comma separated, for COMMAND
	// Redis' legacy key specification, for COMMAND.
	first, last, step int

	kind     cmdKind
	keys     keyFinder
	numkeys  int  // keysNumkeys: index of the key count; keysStore/keysStreams: where the option search starts
	withDest bool // keysNumkeys: args[1] is a key too
	fan      fanKind
	admin    bool // refused unless the pool has allow_admin_commands

	id       int  // index in commandTable, for statistics
	readonly bool // flags has "readonly" (read_from may send it to a replica)
	skipSlow bool // flags has "blocking" or "skip_slowlog": never in the slowlog
	noAuth   bool // flags has "no_auth": allowed before AUTH
}

// arityOK reports whether a command of n arguments (its name included)
// has a valid arity.
func (c *cmdInfo) arityOK(n int) bool {
	if c.arity >= 0 {
		return n == c.arity
	}
	return n >= -c.arity
}

// commandTable lists the commands served, sorted by name. Indexes into it
// are command ids.
var commandTable = [...]cmdInfo{
	{name: "append", arity: 3, flags: "write,denyoom,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "auth", arity: -2, flags: "noscript,loading,stale,fast,no_auth,allow_busy", first: 0, last: 0, step: 0, kind: kindLocal},
	{name: "bitcount", arity: -2, flags: "readonly", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "bitfield", arity: -2, flags: "write,denyoom", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "bitfield_ro", arity: -2, flags: "readonly,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "bitop", arity: -4, flags: "write,denyoom", first: 2, last: -1, step: 1, kind: kindSameShard},
	{name: "bitpos", arity: -3, flags: "readonly", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "blmove", arity: 6, flags: "write,denyoom,noscript,blocking", first: 1, last: 2, step: 1, kind: kindBlocking},
	{name: "blmpop", arity: -5, flags: "write,blocking,movablekeys", first: 0, last: 0, step: 0, kind: kindBlocking, keys: keysNumkeys, numkeys: 2},
	{name: "blpop", arity: -3, flags: "write,noscript,blocking", first: 1, last: -2, step: 1, kind: kindBlocking},
	{name: "brpop", arity: -3, flags: "write,noscript,blocking", first: 1, last: -2, step: 1, kind: kindBlocking},
	{name: "brpoplpush", arity: 4, flags: "write,denyoom,noscript,blocking", first: 1, last: 2, step: 1, kind: kindBlocking},
	{name: "bzmpop", arity: -5, flags: "write,blocking,movablekeys", first: 0, last: 0, step: 0, kind: kindBlocking, keys: keysNumkeys, numkeys: 2},
	{name: "bzpopmax", arity: -3, flags: "write,noscript,blocking,fast", first: 1, last: -2, step: 1, kind: kindBlocking},
	{name: "bzpopmin", arity: -3, flags: "write,noscript,blocking,fast", first: 1, last: -2, step: 1, kind: kindBlocking},
	{name: "client", arity: -2, flags: "", first: 0, last: 0, step: 0, kind: kindLocal},
	{name: "command", arity: -1, flags: "loading,stale", first: 0, last: 0, step: 0, kind: kindLocal},
	{name: "copy", arity: -3, flags: "write,denyoom", first: 1, last: 2, step: 1, kind: kindSameShard},
	{name: "dbsize", arity: 1, flags: "readonly,fast", first: 0, last: 0, step: 0, kind: kindFanout, fan: fanSum},
	{name: "decr", arity: 2, flags: "write,denyoom,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "decrby", arity: 3, flags: "write,denyoom,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "del", arity: -2, flags: "write", first: 1, last: -1, step: 1, kind: kindSum},
	{name: "discard", arity: 1, flags: "noscript,loading,stale,fast,allow_busy", first: 0, last: 0, step: 0, kind: kindTx},
	{name: "dump", arity: 2, flags: "readonly", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "echo", arity: 2, flags: "loading,stale,fast", first: 0, last: 0, step: 0, kind: kindLocal},
	{name: "eval", arity: -3, flags: "noscript,stale,skip_monitor,no_mandatory_keys,movablekeys", first: 0, last: 0, step: 0, kind: kindSameShard, keys: keysNumkeys, numkeys: 2, withDest: false},
	{name: "eval_ro", arity: -3, flags: "readonly,noscript,stale,skip_monitor,no_mandatory_keys,movablekeys", first: 0, last: 0, step: 0, kind: kindSameShard, keys: keysNumkeys, numkeys: 2, withDest: false},
	{name: "evalsha", arity: -3, flags: "noscript,stale,skip_monitor,no_mandatory_keys,movablekeys", first: 0, last: 0, step: 0, kind: kindSameShard, keys: keysNumkeys, numkeys: 2, withDest: false},
	{name: "evalsha_ro", arity: -3, flags: "readonly,noscript,stale,skip_monitor,no_mandatory_keys,movablekeys", first: 0, last: 0, step: 0, kind: kindSameShard, keys: keysNumkeys, numkeys: 2, withDest: false},
	{name: "exec", arity: 1, flags: "noscript,loading,stale,skip_slowlog", first: 0, last: 0, step: 0, kind: kindTx},
	{name: "exists", arity: -2, flags: "readonly,fast", first: 1, last: -1, step: 1, kind: kindSum},
	{name: "expire", arity: -3, flags: "write,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "expireat", arity: -3, flags: "write,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "expiretime", arity: 2, flags: "readonly,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "fcall", arity: -3, flags: "noscript,stale,skip_monitor,no_mandatory_keys,movablekeys", first: 0, last: 0, step: 0, kind: kindSameShard, keys: keysNumkeys, numkeys: 2, withDest: false},
	{name: "fcall_ro", arity: -3, flags: "readonly,noscript,stale,skip_monitor,no_mandatory_keys,movablekeys", first: 0, last: 0, step: 0, kind: kindSameShard, keys: keysNumkeys, numkeys: 2, withDest: false},
	{name: "flushall", arity: -1, flags: "write", first: 0, last: 0, step: 0, kind: kindFanout, fan: fanAllOK, admin: true},
	{name: "flushdb", arity: -1, flags: "write", first: 0, last: 0, step: 0, kind: kindFanout, fan: fanAllOK, admin: true},
	{name: "geoadd", arity: -5, flags: "write,denyoom", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "geodist", arity: -4, flags: "readonly", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "geohash", arity: -2, flags: "readonly", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "geopos", arity: -2, flags: "readonly", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "georadius", arity: -6, flags: "write,denyoom,movablekeys", first: 1, last: 1, step: 1, kind: kindSameShard, keys: keysStore, numkeys: 6},
	{name: "georadius_ro", arity: -6, flags: "readonly", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "georadiusbymember", arity: -5, flags: "write,denyoom,movablekeys", first: 1, last: 1, step: 1, kind: kindSameShard, keys: keysStore, numkeys: 5},
	{name: "georadiusbymember_ro", arity: -5, flags: "readonly", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "geosearch", arity: -7, flags: "readonly", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "geosearchstore", arity: -8, flags: "write,denyoom", first: 1, last: 2, step: 1, kind: kindSameShard},
	{name: "get", arity: 2, flags: "readonly,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "getbit", arity: 3, flags: "readonly,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "getdel", arity: 2, flags: "write,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "getex", arity: -2, flags: "write,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "getrange", arity: 4, flags: "readonly", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "getset", arity: 3, flags: "write,denyoom,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "hdel", arity: -3, flags: "write,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "hello", arity: -1, flags: "noscript,loading,stale,fast,no_auth,allow_busy", first: 0, last: 0, step: 0, kind: kindLocal},
	{name: "hexists", arity: 3, flags: "readonly,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "hget", arity: 3, flags: "readonly,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "hgetall", arity: 2, flags: "readonly", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "hincrby", arity: 4, flags: "write,denyoom,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "hincrbyfloat", arity: 4, flags: "write,denyoom,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "hkeys", arity: 2, flags: "readonly", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "hlen", arity: 2, flags: "readonly,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "hmget", arity: -3, flags: "readonly,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "hmset", arity: -4, flags: "write,denyoom,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "hrandfield", arity: -2, flags: "readonly", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "hscan", arity: -3, flags: "readonly", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "hset", arity: -4, flags: "write,denyoom,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "hsetnx", arity: 4, flags: "write,denyoom,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "hstrlen", arity: 3, flags: "readonly,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "hvals", arity: 2, flags: "readonly", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "incr", arity: 2, flags: "write,denyoom,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "incrby", arity: 3, flags: "write,denyoom,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "incrbyfloat", arity: 3, flags: "write,denyoom,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "info", arity: -1, flags: "loading,stale", first: 0, last: 0, step: 0, kind: kindLocal},
	{name: "keys", arity: 2, flags: "readonly", first: 0, last: 0, step: 0, kind: kindFanout, fan: fanConcat, admin: true},
	{name: "lcs", arity: -3, flags: "readonly", first: 1, last: 2, step: 1, kind: kindSameShard},
	{name: "lindex", arity: 3, flags: "readonly", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "linsert", arity: 5, flags: "write,denyoom", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "llen", arity: 2, flags: "readonly,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "lmove", arity: 5, flags: "write,denyoom", first: 1, last: 2, step: 1, kind: kindSameShard},
	{name: "lmpop", arity: -4, flags: "write,movablekeys", first: 0, last: 0, step: 0, kind: kindSameShard, keys: keysNumkeys, numkeys: 1, withDest: false},
	{name: "lpop", arity: -2, flags: "write,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "lpos", arity: -3, flags: "readonly", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "lpush", arity: -3, flags: "write,denyoom,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "lpushx", arity: -3, flags: "write,denyoom,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "lrange", arity: 4, flags: "readonly", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "lrem", arity: 4, flags: "write", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "lset", arity: 4, flags: "write,denyoom", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "ltrim", arity: 4, flags: "write", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "mget", arity: -2, flags: "readonly,fast", first: 1, last: -1, step: 1, kind: kindMGet},
	{name: "mset", arity: -3, flags: "write,denyoom", first: 1, last: -1, step: 2, kind: kindMSet},
	{name: "msetnx", arity: -3, flags: "write,denyoom", first: 1, last: -1, step: 2, kind: kindSameShard},
	{name: "multi", arity: 1, flags: "noscript,loading,stale,fast,allow_busy", first: 0, last: 0, step: 0, kind: kindTx},
	{name: "object", arity: -3, flags: "", first: 2, last: 2, step: 1, kind: kindSingle, keys: keysSubcommand},
	{name: "persist", arity: 2, flags: "write,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "pexpire", arity: -3, flags: "write,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "pexpireat", arity: -3, flags: "write,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "pexpiretime", arity: 2, flags: "readonly,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "pfadd", arity: -2, flags: "write,denyoom,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "pfcount", arity: -2, flags: "readonly", first: 1, last: -1, step: 1, kind: kindSameShard},
	{name: "pfmerge", arity: -2, flags: "write,denyoom", first: 1, last: -1, step: 1, kind: kindSameShard},
	{name: "ping", arity: -1, flags: "fast", first: 0, last: 0, step: 0, kind: kindLocal},
	{name: "psetex", arity: 4, flags: "write,denyoom", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "psubscribe", arity: -2, flags: "pubsub,noscript,loading,stale", first: 0, last: 0, step: 0, kind: kindPubSub},
	{name: "pttl", arity: 2, flags: "readonly,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "publish", arity: 3, flags: "pubsub,loading,stale,fast", first: 0, last: 0, step: 0, kind: kindPublish},
	{name: "pubsub", arity: -2, flags: "", first: 0, last: 0, step: 0, kind: kindPubSubQuery},
	{name: "punsubscribe", arity: -1, flags: "pubsub,noscript,loading,stale", first: 0, last: 0, step: 0, kind: kindPubSub},
	{name: "quit", arity: -1, flags: "noscript,loading,stale,fast,no_auth,allow_busy", first: 0, last: 0, step: 0, kind: kindLocal},
	{name: "randomkey", arity: 1, flags: "readonly", first: 0, last: 0, step: 0, kind: kindFanout, fan: fanRandom},
	{name: "rename", arity: 3, flags: "write", first: 1, last: 2, step: 1, kind: kindSameShard},
	{name: "renamenx", arity: 3, flags: "write,fast", first: 1, last: 2, step: 1, kind: kindSameShard},
	{name: "reset", arity: 1, flags: "noscript,loading,stale,fast,no_auth,allow_busy", first: 0, last: 0, step: 0, kind: kindTx},
	{name: "restore", arity: -4, flags: "write,denyoom", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "rpop", arity: -2, flags: "write,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "rpoplpush", arity: 3, flags: "write,denyoom", first: 1, last: 2, step: 1, kind: kindSameShard},
	{name: "rpush", arity: -3, flags: "write,denyoom,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "rpushx", arity: -3, flags: "write,denyoom,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "sadd", arity: -3, flags: "write,denyoom,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "scan", arity: -2, flags: "readonly", first: 0, last: 0, step: 0, kind: kindScan},
	{name: "scard", arity: 2, flags: "readonly,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "sdiff", arity: -2, flags: "readonly", first: 1, last: -1, step: 1, kind: kindSameShard},
	{name: "sdiffstore", arity: -3, flags: "write,denyoom", first: 1, last: -1, step: 1, kind: kindSameShard},
	{name: "select", arity: 2, flags: "loading,stale,fast", first: 0, last: 0, step: 0, kind: kindLocal},
	{name: "set", arity: -3, flags: "write,denyoom", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "setbit", arity: 4, flags: "write,denyoom", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "setex", arity: 4, flags: "write,denyoom", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "setnx", arity: 3, flags: "write,denyoom,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "setrange", arity: 4, flags: "write,denyoom", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "sinter", arity: -2, flags: "readonly", first: 1, last: -1, step: 1, kind: kindSameShard},
	{name: "sintercard", arity: -3, flags: "readonly,movablekeys", first: 0, last: 0, step: 0, kind: kindSameShard, keys: keysNumkeys, numkeys: 1, withDest: false},
	{name: "sinterstore", arity: -3, flags: "write,denyoom", first: 1, last: -1, step: 1, kind: kindSameShard},
	{name: "sismember", arity: 3, flags: "readonly,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "slowlog", arity: -2, flags: "", first: 0, last: 0, step: 0, kind: kindLocal},
	{name: "smembers", arity: 2, flags: "readonly", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "smismember", arity: -3, flags: "readonly,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "smove", arity: 4, flags: "write,fast", first: 1, last: 2, step: 1, kind: kindSameShard},
	{name: "sort", arity: -2, flags: "write,denyoom,movablekeys", first: 1, last: 1, step: 1, kind: kindSameShard, keys: keysStore, numkeys: 2},
	{name: "sort_ro", arity: -2, flags: "readonly,movablekeys", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "spop", arity: -2, flags: "write,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "srandmember", arity: -2, flags: "readonly", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "srem", arity: -3, flags: "write,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "sscan", arity: -3, flags: "readonly", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "strlen", arity: 2, flags: "readonly,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "subscribe", arity: -2, flags: "pubsub,noscript,loading,stale", first: 0, last: 0, step: 0, kind: kindPubSub},
	{name: "substr", arity: 4, flags: "readonly", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "sunion", arity: -2, flags: "readonly", first: 1, last: -1, step: 1, kind: kindSameShard},
	{name: "sunionstore", arity: -3, flags: "write,denyoom", first: 1, last: -1, step: 1, kind: kindSameShard},
	{name: "touch", arity: -2, flags: "readonly,fast", first: 1, last: -1, step: 1, kind: kindSum},
	{name: "ttl", arity: 2, flags: "readonly,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "type", arity: 2, flags: "readonly,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "unlink", arity: -2, flags: "write,fast", first: 1, last: -1, step: 1, kind: kindSum},
	{name: "unsubscribe", arity: -1, flags: "pubsub,noscript,loading,stale", first: 0, last: 0, step: 0, kind: kindPubSub},
	{name: "unwatch", arity: 1, flags: "noscript,loading,stale,fast,allow_busy", first: 0, last: 0, step: 0, kind: kindTx},
	{name: "watch", arity: -2, flags: "noscript,loading,stale,fast,allow_busy", first: 1, last: -1, step: 1, kind: kindTx},
	{name: "xack", arity: -4, flags: "write,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "xadd", arity: -5, flags: "write,denyoom,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "xautoclaim", arity: -6, flags: "write,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "xclaim", arity: -6, flags: "write,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "xdel", arity: -3, flags: "write,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "xgroup", arity: -3, flags: "", first: 2, last: 2, step: 1, kind: kindSingle, keys: keysSubcommand},
	{name: "xinfo", arity: -3, flags: "", first: 2, last: 2, step: 1, kind: kindSingle, keys: keysSubcommand},
	{name: "xlen", arity: 2, flags: "readonly,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "xpending", arity: -3, flags: "readonly", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "xrange", arity: -4, flags: "readonly", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "xread", arity: -4, flags: "readonly,blocking,movablekeys", first: 0, last: 0, step: 0, kind: kindSameShard, keys: keysStreams, numkeys: 1},
	{name: "xreadgroup", arity: -7, flags: "write,blocking,movablekeys", first: 0, last: 0, step: 0, kind: kindSameShard, keys: keysStreams, numkeys: 4},
	{name: "xrevrange", arity: -4, flags: "readonly", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "xsetid", arity: -3, flags: "write,denyoom,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "xtrim", arity: -4, flags: "write", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "zadd", arity: -4, flags: "write,denyoom,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "zcard", arity: 2, flags: "readonly,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "zcount", arity: 4, flags: "readonly,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "zdiff", arity: -3, flags: "readonly,movablekeys", first: 0, last: 0, step: 0, kind: kindSameShard, keys: keysNumkeys, numkeys: 1, withDest: false},
	{name: "zdiffstore", arity: -4, flags: "write,denyoom,movablekeys", first: 1, last: 1, step: 1, kind: kindSameShard, keys: keysNumkeys, numkeys: 2, withDest: true},
	{name: "zincrby", arity: 4, flags: "write,denyoom,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "zinter", arity: -3, flags: "readonly,movablekeys", first: 0, last: 0, step: 0, kind: kindSameShard, keys: keysNumkeys, numkeys: 1, withDest: false},
	{name: "zintercard", arity: -3, flags: "readonly,movablekeys", first: 0, last: 0, step: 0, kind: kindSameShard, keys: keysNumkeys, numkeys: 1, withDest: false},
	{name: "zinterstore", arity: -4, flags: "write,denyoom,movablekeys", first: 1, last: 1, step: 1, kind: kindSameShard, keys: keysNumkeys, numkeys: 2, withDest: true},
	{name: "zlexcount", arity: 4, flags: "readonly,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "zmpop", arity: -4, flags: "write,movablekeys", first: 0, last: 0, step: 0, kind: kindSameShard, keys: keysNumkeys, numkeys: 1, withDest: false},
	{name: "zmscore", arity: -3, flags: "readonly,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "zpopmax", arity: -2, flags: "write,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "zpopmin", arity: -2, flags: "write,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "zrandmember", arity: -2, flags: "readonly", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "zrange", arity: -4, flags: "readonly", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "zrangebylex", arity: -4, flags: "readonly", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "zrangebyscore", arity: -4, flags: "readonly", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "zrangestore", arity: -5, flags: "write,denyoom", first: 1, last: 2, step: 1, kind: kindSameShard},
	{name: "zrank", arity: 3, flags: "readonly,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "zrem", arity: -3, flags: "write,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "zremrangebylex", arity: 4, flags: "write", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "zremrangebyrank", arity: 4, flags: "write", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "zremrangebyscore", arity: 4, flags: "write", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "zrevrange", arity: -4, flags: "readonly", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "zrevrangebylex", arity: -4, flags: "readonly", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "zrevrangebyscore", arity: -4, flags: "readonly", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "zrevrank", arity: 3, flags: "readonly,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "zscan", arity: -3, flags: "readonly", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "zscore", arity: 3, flags: "readonly,fast", first: 1, last: 1, step: 1, kind: kindSingle},
	{name: "zunion", arity: -3, flags: "readonly,movablekeys", first: 0, last: 0, step: 0, kind: kindSameShard, keys: keysNumkeys, numkeys: 1, withDest: false},
	{name: "zunionstore", arity: -4, flags: "write,denyoom,movablekeys", first: 1, last: 1, step: 1, kind: kindSameShard, keys: keysNumkeys, numkeys: 2, withDest: true},
}

// unknownCommandID is the statistics slot of commands not in the table.
var unknownCommandID = len(commandTable)

// commandSet is the lookup structure of the command table, built once by
// newCommandSet and then only read.
type commandSet struct {
	byName map[string]*cmdInfo
	list   []*cmdInfo
}

func newCommandSet() *commandSet {
	cs := &commandSet{byName: make(map[string]*cmdInfo, len(commandTable))}
	for i := range commandTable {
		c := commandTable[i] // a copy: the table itself is never written
		c.id = i
		c.readonly = hasFlag(c.flags, "readonly")
		c.noAuth = hasFlag(c.flags, "no_auth")
		c.skipSlow = hasFlag(c.flags, "blocking") || hasFlag(c.flags, "skip_slowlog")
		cs.byName[c.name] = &c
		cs.list = append(cs.list, &c)
	}
	return cs
}

// maxCommandName is the longest command name looked up; longer names are
// unknown.
const maxCommandName = 32

// lookup finds the command named name (any case) without allocating.
func (cs *commandSet) lookup(name []byte) *cmdInfo {
	if len(name) > maxCommandName {
		return nil
	}
	var lower [maxCommandName]byte
	for i, c := range name {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	return cs.byName[string(lower[:len(name)])]
}

func hasFlag(flags, flag string) bool {
	for len(flags) > 0 {
		f := flags
		if i := indexByteString(flags, ','); i >= 0 {
			f, flags = flags[:i], flags[i+1:]
		} else {
			flags = ""
		}
		if f == flag {
			return true
		}
	}
	return false
}

func indexByteString(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}
