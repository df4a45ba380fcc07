package backend

import (
	"strconv"
	"unsafe"
)

// Helpers shared by the collection families (hashes, lists, sets, sorted
// sets).

// lookupObject looks key up for a command on type T. found reports that
// the key exists; wrong that it holds another type (WRONGTYPE). Read
// commands pass read to count keyspace hits and misses.
func lookupObject[T Object](tx *Tx, key []byte, read bool) (obj T, e entry, sh *shard, found, wrong bool) {
	if read {
		e, sh, found = tx.lookupRead(key)
	} else {
		e, sh, found = tx.lookup(key)
	}
	if !found {
		return obj, e, sh, false, false
	}
	if !e.isObject() {
		return obj, e, sh, true, true
	}
	obj, ok := e.rec().obj.(T)
	return obj, e, sh, true, !ok
}

// mutable returns the live entry's object for modification (a private
// copy when a snapshot shares it).
func mutable[T Object](tx *Tx, sh *shard, e entry) T {
	return tx.mutableObject(sh, e).(T)
}

// dropIfEmpty deletes key when its collection became empty, as Redis
// deletes empty collections; it reports whether it did.
func dropIfEmpty(tx *Tx, key []byte, obj Object) bool {
	if obj.Len() > 0 {
		return false
	}
	if e, sh, ok := tx.find(key); ok {
		tx.remove(sh, e)
	}
	return true
}

// parseIndex parses a Redis "long" argument (an index, a count): the
// error is errNotInteger.
func parseIndex(b []byte) (int64, bool) { return parseInt(b) }

// rangeBounds is Redis' start/stop normalisation for LRANGE, ZRANGE and
// friends: negative counts from the end; returns an empty range as ok
// false.
func rangeBounds(start, end int64, n int) (int, int, bool) {
	ln := int64(n)
	if start < 0 {
		start += ln
	}
	if end < 0 {
		end += ln
	}
	if start < 0 {
		start = 0
	}
	if start > end || start >= ln {
		return 0, 0, false
	}
	if end >= ln {
		end = ln - 1
	}
	return int(start), int(end), true
}

// countArg parses a count argument that must be >= 0
// (getPositiveLongFromObjectOrReply): anything else, not a number
// included, is "value is out of range, must be positive".
func countArg(b []byte) (int64, string) {
	n, ok := parseInt(b)
	if !ok || n < 0 {
		return 0, errMustBePositive
	}
	return n, ""
}

const errMustBePositive = "ERR value is out of range, must be positive"

func itoa(n int) []byte { return strconv.AppendInt(nil, int64(n), 10) }

// sbytes views s as bytes without copying, for read-only uses (the
// arguments of an Object's Rewrite, which are copied into the output).
func sbytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
