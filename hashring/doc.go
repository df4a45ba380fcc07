// Package hashring maps keys to servers exactly as twemproxy (nutcracker)
// does, plus shardis' slot ranges.
//
// # Data path
//
// A request key goes through three steps, all allocation-free:
//
//  1. HashTag: if the pool has a hash_tag such as "{}", only the text
//     between the first open character and the next close character is
//     hashed (twemproxy's rule; no close character or an empty tag means
//     the whole key).
//  2. A HashFunc turns those bytes into a uint32. Every twemproxy hash is
//     here, bit for bit, quirks included (HashByName): fnv1a_64 computed
//     with 32-bit arithmetic, crc16 not masked to 16 bits, crc32 being
//     libmemcached's 15-bit variant, the FNV and one_at_a_time functions
//     reading bytes as C's signed char, and so on. An empty key hashes to 0,
//     as twemproxy never calls the hash function for it.
//  3. A Table, built once from a Spec, turns the hash into the index of a
//     server in Spec.Servers: ketama (the consistent-hash continuum, 160
//     points per server at equal weights), modula (hash % total weight),
//     random, or slots (slot = hash % Spec.Slots, and the server whose slot
//     ranges contain the slot owns the key).
//
// A Table is immutable and safe for concurrent use. The proxy swaps whole
// tables atomically; building one is cheap (see BenchmarkNew*), so a
// topology change or an ejected server simply means a new Table
// (NewWithout rebuilds ketama/modula/random over the live servers only,
// exactly as twemproxy does after auto_eject_hosts ejects a server).
//
// twemproxy sorts a pool's servers by name (shorter names first, then
// byte order) before it builds its distribution; Table does the same
// internally, so a server's place in the continuum is twemproxy's, while the
// indexes Table returns always refer to Spec.Servers as given.
//
// # Slot ranges
//
// Range, ParseRanges, FormatRanges and CheckCoverage are shared by the YAML
// configuration (a server weight written "0-2047"), the ZooKeeper layout
// (znode data {"weight":"0-99,200-2047"}) and resharding. CheckCoverage
// returns a *CoverageError naming the first gap, overlap or out-of-range
// slot, e.g. "slots 2048-2050 are not covered" or
// "slot 100 is in redis-0000 and redis-0001".
//
// The package imports nothing of shardis and holds no mutable state.
package hashring
