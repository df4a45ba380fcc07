package backend

import "strings"

// Keyspace notifications (notify-keyspace-events; notify.c of Redis 7.0).
//
// A handler that changes a key calls tx.notify(class, event, key) with the
// event name and class Redis uses for the same change. With the classes of
// the event off (the default: no class at all) that is one atomic load and
// a branch. Otherwise the Tx records the event, and Tx.unlock publishes
// the recorded events, in order, through the pub/sub hub once the shard
// locks are released: before the command's reply is written (Redis
// publishes during the command), and for EXEC or a script (one Tx over all
// their commands) when the transaction ends. Each event is published as
// "__keyspace@0__:<key>" → event and "__keyevent@0__:<event>" → key,
// depending on the K and E flags.
//
// A replica applies its master's commands through the same handlers, so
// it notifies them too; it never deletes expired keys itself, so
// "expired" comes only from a master, as in Redis.

// Notification classes: Redis' NOTIFY_* bits.
const (
	notifyKeyspace = 1 << 0  // K
	notifyKeyevent = 1 << 1  // E
	notifyGeneric  = 1 << 2  // g
	notifyString   = 1 << 3  // $
	notifyList     = 1 << 4  // l
	notifySet      = 1 << 5  // s
	notifyHash     = 1 << 6  // h
	notifyZset     = 1 << 7  // z
	notifyExpired  = 1 << 8  // x
	notifyEvicted  = 1 << 9  // e
	notifyStream   = 1 << 10 // t
	notifyKeyMiss  = 1 << 11 // m (not part of A)
	notifyModule   = 1 << 13 // d
	notifyNew      = 1 << 14 // n
	notifyAll      = notifyGeneric | notifyString | notifyList | notifySet | notifyHash |
		notifyZset | notifyExpired | notifyEvicted | notifyStream | notifyModule
)

// parseNotifyFlags is keyspaceEventsStringToFlags: ok is false when a
// character is no class.
func parseNotifyFlags(s string) (flags int, ok bool) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case 'A':
			flags |= notifyAll
		case 'g':
			flags |= notifyGeneric
		case '$':
			flags |= notifyString
		case 'l':
			flags |= notifyList
		case 's':
			flags |= notifySet
		case 'h':
			flags |= notifyHash
		case 'z':
			flags |= notifyZset
		case 'x':
			flags |= notifyExpired
		case 'e':
			flags |= notifyEvicted
		case 'K':
			flags |= notifyKeyspace
		case 'E':
			flags |= notifyKeyevent
		case 't':
			flags |= notifyStream
		case 'm':
			flags |= notifyKeyMiss
		case 'd':
			flags |= notifyModule
		case 'n':
			flags |= notifyNew
		default:
			return 0, false
		}
	}
	return flags, true
}

// formatNotifyFlags is keyspaceEventsFlagsToString: the canonical string
// CONFIG GET returns.
func formatNotifyFlags(flags int) string {
	var b strings.Builder
	if flags&notifyAll == notifyAll {
		b.WriteByte('A')
	} else {
		for _, f := range [...]struct {
			bit int
			c   byte
		}{{notifyGeneric, 'g'}, {notifyString, '$'}, {notifyList, 'l'}, {notifySet, 's'},
			{notifyHash, 'h'}, {notifyZset, 'z'}, {notifyExpired, 'x'}, {notifyEvicted, 'e'},
			{notifyStream, 't'}, {notifyModule, 'd'}, {notifyNew, 'n'}} {
			if flags&f.bit != 0 {
				b.WriteByte(f.c)
			}
		}
	}
	if flags&notifyKeyspace != 0 {
		b.WriteByte('K')
	}
	if flags&notifyKeyevent != 0 {
		b.WriteByte('E')
	}
	if flags&notifyKeyMiss != 0 {
		b.WriteByte('m')
	}
	return b.String()
}

// notifyParam is the notify-keyspace-events parameter.
func notifyParam() param {
	return param{name: "notify-keyspace-events",
		get: func(c *Config) string { return formatNotifyFlags(c.NotifyKeyspaceEvents) },
		set: func(c *Config, v string) error {
			f, ok := parseNotifyFlags(v)
			if !ok {
				return paramError("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
			}
			c.NotifyKeyspaceEvents = f
			return nil
		}}
}

// keyEvent is one recorded notification.
type keyEvent struct {
	event string
	key   string
}

// notify records event on key when its class is enabled.
func (tx *Tx) notify(class int, event string, key []byte) {
	if tx.ks.notifyFlags.Load()&int32(class) == 0 {
		return
	}
	tx.events = append(tx.events, keyEvent{event, string(key)})
}

// notifyString is notify for a key held as a string.
func (tx *Tx) notifyStr(class int, event, key string) {
	if tx.ks.notifyFlags.Load()&int32(class) == 0 {
		return
	}
	tx.events = append(tx.events, keyEvent{event, key})
}

// publishEvents publishes and forgets the recorded events; the caller
// holds no shard lock.
func (tx *Tx) publishEvents() {
	hub := tx.ks.events
	flags := tx.ks.notifyFlags.Load()
	var ch []byte
	for i, ev := range tx.events {
		if hub != nil {
			if flags&notifyKeyspace != 0 {
				ch = append(append(ch[:0], "__keyspace@0__:"...), ev.key...)
				hub.publish(kindChannel, ch, []byte(ev.event))
			}
			if flags&notifyKeyevent != 0 {
				ch = append(append(ch[:0], "__keyevent@0__:"...), ev.event...)
				hub.publish(kindChannel, ch, []byte(ev.key))
			}
		}
		tx.events[i] = keyEvent{}
	}
	if cap(tx.events) > 4096 {
		tx.events = nil // a client keeps its Tx: not the backing array of one big command
	} else {
		tx.events = tx.events[:0]
	}
}

// SetNotifyFlags sets the enabled notification classes (Redis' NOTIFY_*
// bits, as parseNotifyFlags returns them).
func (ks *Keyspace) SetNotifyFlags(flags int) { ks.notifyFlags.Store(int32(flags)) }

// notifyDel records "del" for key when dropped (a command emptied the
// collection and removed it) and returns dropped.
func (tx *Tx) notifyDel(dropped bool, key []byte) bool {
	if dropped {
		tx.notify(notifyGeneric, "del", key)
	}
	return dropped
}

// setStoreEvent names the events of SINTERSTORE, SUNIONSTORE, SDIFFSTORE.
var setStoreEvent = map[int]string{setopInter: "sinterstore", setopUnion: "sunionstore", setopDiff: "sdiffstore"}

// The list events by end (listHead, listTail).
var (
	listPopEvent  = [2]string{"lpop", "rpop"}
	listPushEvent = [2]string{"lpush", "rpush"}
)

// Sorted set events.
var (
	zaddEvent      = [2]string{"zadd", "zincr"}
	zpopEvent      = [2]string{"zpopmin", "zpopmax"} // by zsetMin, zsetMax
	zsetStoreEvent = map[int]string{setopInter: "zinterstore", setopUnion: "zunionstore", setopDiff: "zdiffstore"}
	zremrangeEvent = map[int]string{rangeRank: "zremrangebyrank", rangeScore: "zremrangebyscore", rangeLex: "zremrangebylex"}
)

// geoStoreEvent is the event of GEOSEARCHSTORE or GEORADIUS... STORE.
func geoStoreEvent(flags int) string {
	if flags&geoSearch != 0 {
		return "geosearchstore"
	}
	return "georadiusstore"
}
