package backend

import (
	"encoding/binary"
	"errors"
	"math"
	"strconv"
)

// DUMP and RESTORE with Redis' serialization format, so that values move
// between shardis-server and redis-server in both directions:
//
//	payload = type byte, value (RDB encoding), RDB version (2 bytes LE),
//	          CRC64-Jones of everything before (8 bytes LE)
//
// DUMP writes the plain RDB types every Redis version loads: string (0),
// list (1), set (2), hash (4), sorted set with binary scores (5), RDB
// version 10 (Redis 7.0). RESTORE also reads what redis-server 7.x
// writes: integer and LZF-compressed strings, listpacks, ziplists,
// intsets and quicklists (dump_rdb.go). Streams and modules are refused
// ("Bad data format").
//
// Moving a key between servers with its TTL (resharding) over the wire:
//
//	source: WATCH k; DUMP k; PEXPIRETIME k
//	target: RESTORE k <pexpiretime or 0> <payload> REPLACE ABSTTL
//	source: MULTI; DEL k; EXEC   (nil: k changed since WATCH — start over)
//
// In the write stream a RESTORE becomes RESTORE key <absolute ms or 0>
// payload REPLACE ABSTTL: replaying it recreates exactly the value and the
// expiry.

const (
	rdbVersion = 10

	rdbTypeString         = 0
	rdbTypeList           = 1
	rdbTypeSet            = 2
	rdbTypeZset           = 3
	rdbTypeHash           = 4
	rdbTypeZset2          = 5
	rdbTypeHashZipmap     = 9
	rdbTypeListZiplist    = 10
	rdbTypeSetIntset      = 11
	rdbTypeZsetZiplist    = 12
	rdbTypeHashZiplist    = 13
	rdbTypeListQuicklist  = 14
	rdbTypeHashListpack   = 16
	rdbTypeZsetListpack   = 17
	rdbTypeListQuicklist2 = 18
	rdbTypeSetListpack    = 20

	// Special string encodings (length prefix 11xxxxxx).
	rdbEncInt8, rdbEncInt16, rdbEncInt32, rdbEncLZF = 0, 1, 2, 3
)

// ErrBadDump is wrapped by every payload decoding error.
var ErrBadDump = errors.New("backend: bad DUMP payload")

const (
	errBadDumpVersion = "ERR DUMP payload version or checksum are wrong"
	errBadDataFormat  = "ERR Bad data format"
	errBusyKey        = "BUSYKEY Target key name already exists."
)

func dumpCommands() []*cmdSpec {
	const g = "generic"
	return []*cmdSpec{
		{name: "dump", handler: cmdDump, arity: 2, flags: flagReadonly, first: 1, last: 1, step: 1, group: g, since: "2.6.0", summary: "Returns a serialized representation of the value stored at a key.", complexity: "O(1) to access the key and additional O(N*M) to serialize it, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1)."},
		{name: "restore", handler: cmdRestore, arity: -4, flags: flagWrite | flagDenyOOM, first: 1, last: 1, step: 1, group: g, since: "2.6.0", summary: "Creates a key from the serialized representation of a value.", complexity: "O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1). However for sorted set values the complexity is O(N*M*log(N)) because inserting values into sorted sets is O(log(N))."},
	}
}

// dumpValue serializes the value of a stored entry (DUMP's payload).
func dumpValue(e entry) []byte {
	var b []byte
	if !e.isObject() {
		b = append(b, rdbTypeString)
		b = appendRDBString(b, e.str())
	} else {
		switch o := e.rec().obj.(type) {
		case *listObj:
			b = append(b, rdbTypeList)
			b = appendRDBLen(b, uint64(o.Len()))
			o.t.Ascend(0, func(_ int, v string) bool { b = appendRDBString(b, v); return true })
		case *setObj:
			b = append(b, rdbTypeSet)
			b = appendRDBLen(b, uint64(o.Len()))
			o.each(func(m string) bool { b = appendRDBString(b, m); return true })
		case *hashObj:
			b = append(b, rdbTypeHash)
			b = appendRDBLen(b, uint64(o.Len()))
			o.each(func(f, v string) bool {
				b = appendRDBString(b, f)
				b = appendRDBString(b, v)
				return true
			})
		case *zsetObj:
			b = append(b, rdbTypeZset2)
			b = appendRDBLen(b, uint64(o.Len()))
			// Highest score first, as Redis writes it.
			o.ord.Descend(o.Len()-1, func(_ int, it zitem) bool {
				b = appendRDBString(b, it.m)
				b = binary.LittleEndian.AppendUint64(b, math.Float64bits(it.score))
				return true
			})
		default:
			return nil
		}
	}
	b = binary.LittleEndian.AppendUint16(b, rdbVersion)
	return binary.LittleEndian.AppendUint64(b, crc64Jones(0, b))
}

// appendRDBLen is rdbSaveLen.
func appendRDBLen(b []byte, n uint64) []byte {
	switch {
	case n < 1<<6:
		return append(b, byte(n))
	case n < 1<<14:
		return append(b, byte(n>>8)|0x40, byte(n))
	case n <= math.MaxUint32:
		b = append(b, 0x80)
		return binary.BigEndian.AppendUint32(b, uint32(n))
	}
	b = append(b, 0x81)
	return binary.BigEndian.AppendUint64(b, n)
}

// appendRDBString writes a raw string (integers as Redis' int encodings).
func appendRDBString(b []byte, s string) []byte {
	if len(s) <= 11 {
		if v, ok := parseIntString(s); ok {
			switch {
			case v >= math.MinInt8 && v <= math.MaxInt8:
				return append(b, 0xC0|rdbEncInt8, byte(int8(v)))
			case v >= math.MinInt16 && v <= math.MaxInt16:
				return binary.LittleEndian.AppendUint16(append(b, 0xC0|rdbEncInt16), uint16(int16(v)))
			case v >= math.MinInt32 && v <= math.MaxInt32:
				return binary.LittleEndian.AppendUint32(append(b, 0xC0|rdbEncInt32), uint32(int32(v)))
			}
		}
	}
	b = appendRDBLen(b, uint64(len(s)))
	return append(b, s...)
}

// checkPayload verifies the footer (version and CRC) and returns the body.
func checkPayload(p []byte) ([]byte, bool) {
	if len(p) < 10 {
		return nil, false
	}
	body := p[:len(p)-10]
	ver := binary.LittleEndian.Uint16(p[len(p)-10:])
	if ver > rdbVersion {
		return nil, false
	}
	crc := binary.LittleEndian.Uint64(p[len(p)-8:])
	if crc != 0 && crc != crc64Jones(0, p[:len(p)-8]) {
		return nil, false
	}
	return body, true
}

func cmdDump(c *Client, args [][]byte) {
	tx := c.begin()
	tx.lockKey(args[1])
	e, _, ok := tx.lookupRead(args[1])
	var p []byte
	if ok {
		p = dumpValue(e)
	}
	c.commit()
	if p == nil {
		c.null()
		return
	}
	c.bulk(p)
}

func cmdRestore(c *Client, args [][]byte) {
	key := args[1]
	// Errors come in Redis' order: options, then BUSYKEY, then the TTL,
	// then the payload. The TTL and payload are checked before the key is
	// locked; their errors are reported after the BUSYKEY check.
	replace, absTTL := false, false
	idle, freq := false, false
	for j := 4; j < len(args); j++ {
		more := j+1 < len(args)
		switch a := args[j]; {
		case eqFold(a, "replace"):
			replace = true
		case eqFold(a, "absttl"):
			absTTL = true
		case eqFold(a, "idletime") && more && !freq:
			idle = true
			j++
			v, ok := parseInt(args[j])
			if !ok {
				c.err(errNotInteger)
				return
			}
			if v < 0 {
				c.err("ERR Invalid IDLETIME value, must be >= 0")
				return
			}
		case eqFold(a, "freq") && more && !idle:
			freq = true
			j++
			v, ok := parseInt(args[j])
			if !ok {
				c.err(errNotInteger)
				return
			}
			if v < 0 || v > 255 {
				c.err("ERR Invalid FREQ value, must be >= 0 and <= 255")
				return
			}
		default:
			c.err(errSyntax)
			return
		}
	}
	ttl, ok := parseInt(args[2])
	var argErr string
	var val restoredValue
	switch body, okPayload := checkPayload(args[3]); {
	case !ok:
		argErr = errNotInteger
	case ttl < 0:
		argErr = "ERR Invalid TTL value, must be >= 0"
	case !okPayload:
		argErr = errBadDumpVersion
	default:
		v, err := decodeValue(body, &c.s.limits)
		if err != nil {
			argErr = errBadDataFormat
		}
		val = v
	}
	tx := c.begin()
	tx.lockKey(key)
	defer c.commit()
	old, sh, exists := tx.lookup(key)
	if exists && !replace {
		c.err(errBusyKey)
		return
	}
	if argErr != "" {
		c.err(argErr)
		return
	}
	at := int64(-1)
	if ttl > 0 {
		at = ttl
		if !absTTL {
			if ttl > math.MaxInt64-tx.now {
				c.err("ERR Invalid TTL value, must be >= 0")
				return
			}
			at = ttl + tx.now
		}
		if at <= tx.now && !tx.noExpire && !tx.hideExpired {
			// Already expired: the key is not created (and a replaced
			// one is gone).
			if exists {
				tx.remove(sh, old)
				tx.notify(notifyGeneric, "del", key)
				tx.emit([]byte("DEL"), key)
			}
			c.ok()
			return
		}
	}
	if exists {
		tx.remove(sh, old)
	}
	h := hashKey(key)
	var e entry
	if val.obj != nil {
		e = newObjectEntry(h, string(key), val.obj, sh.gen)
	} else {
		e = newStringEntry(h, key, val.str)
	}
	if at >= 0 {
		e = e.withExp(at)
	}
	tx.put(sh, e, false)
	tx.notify(notifyGeneric, "restore", key)
	abs := int64(0)
	if at >= 0 {
		abs = at
	}
	tx.emit([]byte("RESTORE"), key, strconv.AppendInt(nil, abs, 10), args[3], []byte("REPLACE"), []byte("ABSTTL"))
	c.ok()
}
