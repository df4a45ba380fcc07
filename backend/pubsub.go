package backend

import (
	"sort"
	"sync"
	"sync/atomic"

	"github.com/tidwall/redcon"
)

// Pub/Sub: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, SSUBSCRIBE,
// SUNSUBSCRIBE, PUBLISH, SPUBLISH and PUBSUB (pubsub.c of Redis 7.0).
//
// The hub maps channels (and patterns, and shard channels) to their
// subscribers under one RWMutex: PUBLISH takes it for reading, so
// publishers run in parallel; (un)subscribing takes it for writing. A
// publisher appends the message to each receiver's outbox
// (pubsub_conn.go) and never writes to a socket: a slow subscriber costs
// it a copy, and a subscriber whose outbox passes
// client-output-buffer-limit pubsub is disconnected.
//
// Ordering. A subscriber's connection goroutine sends its replies through
// the outbox too, once it has subscribed. (Un)subscribing changes the hub
// and the client's sets under the hub's write lock; the confirmations go
// to the client's reply buffer, and messages published from then until
// that buffer reaches the outbox are held back (subscriber.hold) and
// queued after it. So a client sees "subscribe" before the channel's
// first message, and every message published before its "unsubscribe"
// before that reply, as with Redis.
//
// PUBLISH is not written to the replication stream (Redis 7 propagates
// it to replicas): the stream is also the AOF, which must not hold it,
// and a PUBLISH would then wait for the AOF and repl-ack-replicas like a
// write. Subscribers of a replica get what is published on that replica.

// Subscription kinds, each its own namespace.
const (
	kindChannel = iota // SUBSCRIBE / PUBLISH
	kindPattern        // PSUBSCRIBE
	kindShard          // SSUBSCRIBE / SPUBLISH
	numKinds
)

// Reply words by kind.
var (
	subscribeWord   = [numKinds]string{"subscribe", "psubscribe", "ssubscribe"}
	unsubscribeWord = [numKinds]string{"unsubscribe", "punsubscribe", "sunsubscribe"}
)

// pubsubHub is the server's subscription registry. The zero value is
// ready; limits are set by New and CONFIG SET.
type pubsubHub struct {
	mu   sync.RWMutex
	subs [numKinds]map[string]map[*subscriber]struct{}

	limits pubsubLimitsBox // client-output-buffer-limit pubsub (pubsub_conn.go)
	// limitDisconnects counts subscribers closed for their output buffer.
	limitDisconnects atomic.Int64
}

// counts returns the number of channels, patterns and shard channels with
// at least one subscriber (INFO stats).
func (h *pubsubHub) counts() (channels, patterns, shard int) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.subs[kindChannel]), len(h.subs[kindPattern]), len(h.subs[kindShard])
}

func (h *pubsubHub) add(kind int, name string, sb *subscriber) {
	m := h.subs[kind]
	if m == nil {
		m = map[string]map[*subscriber]struct{}{}
		h.subs[kind] = m
	}
	set := m[name]
	if set == nil {
		set = map[*subscriber]struct{}{}
		m[name] = set
	}
	set[sb] = struct{}{}
}

func (h *pubsubHub) remove(kind int, name string, sb *subscriber) {
	set := h.subs[kind][name]
	delete(set, sb)
	if len(set) == 0 {
		delete(h.subs[kind], name)
	}
}

// publish delivers msg on channel (kindChannel: also to matching
// patterns; kindShard: shard channels only) and returns the number of
// receivers, as Redis counts them: one per channel subscriber plus one
// per (pattern, subscriber) pair that matches.
func (h *pubsubHub) publish(kind int, channel, msg []byte) int {
	lim := h.limits.load()
	h.mu.RLock()
	defer h.mu.RUnlock()
	n := 0
	if set := h.subs[kind][bstr(channel)]; len(set) > 0 {
		word := "message"
		if kind == kindShard {
			word = "smessage"
		}
		b := redcon.AppendArray(nil, 3)
		b = redcon.AppendBulkString(b, word)
		b = redcon.AppendBulk(b, channel)
		b = redcon.AppendBulk(b, msg)
		for sb := range set {
			sb.deliver(b, lim)
			n++
		}
	}
	if kind != kindChannel {
		return n
	}
	ch := bstr(channel)
	for pat, set := range h.subs[kindPattern] {
		if !globMatch(pat, ch, false) {
			continue
		}
		b := redcon.AppendArray(nil, 4)
		b = redcon.AppendBulkString(b, "pmessage")
		b = redcon.AppendBulkString(b, pat)
		b = redcon.AppendBulk(b, channel)
		b = redcon.AppendBulk(b, msg)
		for sb := range set {
			sb.deliver(b, lim)
			n++
		}
	}
	return n
}

func pubsubCommands() []*cmdSpec {
	const g = "pubsub"
	const subFlags = flagPubSub | flagNoScript | flagLoading | flagStale
	const pubsubFlags = flagPubSub | flagLoading | flagStale
	return []*cmdSpec{
		{name: "subscribe", handler: subscribeCmd(kindChannel), arity: -2, flags: subFlags, group: g, since: "2.0.0", summary: "Listens for messages published to channels.", complexity: "O(N) where N is the number of channels to subscribe to."},
		{name: "unsubscribe", handler: unsubscribeCmd(kindChannel), arity: -1, flags: subFlags, group: g, since: "2.0.0", summary: "Stops listening to messages posted to channels.", complexity: "O(N) where N is the number of clients already subscribed to a channel."},
		{name: "psubscribe", handler: subscribeCmd(kindPattern), arity: -2, flags: subFlags, group: g, since: "2.0.0", summary: "Listens for messages published to channels that match one or more patterns.", complexity: "O(N) where N is the number of patterns to subscribe to."},
		{name: "punsubscribe", handler: unsubscribeCmd(kindPattern), arity: -1, flags: subFlags, group: g, since: "2.0.0", summary: "Stops listening to messages published to channels that match one or more patterns.", complexity: "O(N) where N is the number of patterns to unsubscribe."},
		{name: "ssubscribe", handler: subscribeCmd(kindShard), arity: -2, flags: subFlags, first: 1, last: -1, step: 1, group: g, since: "7.0.0", summary: "Listens for messages published to shard channels.", complexity: "O(N) where N is the number of shard channels to subscribe to."},
		{name: "sunsubscribe", handler: unsubscribeCmd(kindShard), arity: -1, flags: subFlags, first: 1, last: -1, step: 1, group: g, since: "7.0.0", summary: "Stops listening to messages posted to shard channels.", complexity: "O(N) where N is the number of clients already subscribed to a shard channel."},
		{name: "publish", handler: publishCmd(kindChannel), arity: 3, flags: pubsubFlags | flagFast | flagMayReplicate, group: g, since: "2.0.0", summary: "Posts a message to a channel.", complexity: "O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client)."},
		{name: "spublish", handler: publishCmd(kindShard), arity: 3, flags: pubsubFlags | flagFast | flagMayReplicate, first: 1, last: 1, step: 1, group: g, since: "7.0.0", summary: "Post a message to a shard channel", complexity: "O(N) where N is the number of clients subscribed to the receiving shard channel."},
		{name: "pubsub", arity: -2, group: g, since: "2.8.0", summary: "A container for Pub/Sub commands", complexity: "Depends on subcommand.",
			subs: subcommands("pubsub",
				&cmdSpec{name: "channels", handler: pubsubChannelsCmd(kindChannel), arity: -2, flags: pubsubFlags, group: g, since: "2.8.0", summary: "Returns the active channels.", complexity: "O(N) where N is the number of active channels, and assuming constant time pattern matching (relatively short channels and patterns)"},
				&cmdSpec{name: "numsub", handler: pubsubNumsubCmd(kindChannel), arity: -2, flags: pubsubFlags, group: g, since: "2.8.0", summary: "Returns a count of subscribers to channels.", complexity: "O(N) for the NUMSUB subcommand, where N is the number of requested channels"},
				&cmdSpec{name: "numpat", handler: cmdPubsubNumpat, arity: 2, flags: pubsubFlags, group: g, since: "2.8.0", summary: "Returns a count of unique pattern subscriptions.", complexity: "O(1)"},
				&cmdSpec{name: "shardchannels", handler: pubsubChannelsCmd(kindShard), arity: -2, flags: pubsubFlags, group: g, since: "7.0.0", summary: "Returns the active shard channels.", complexity: "O(N) where N is the number of active shard channels, and assuming constant time pattern matching (relatively short shard channels)."},
				&cmdSpec{name: "shardnumsub", handler: pubsubNumsubCmd(kindShard), arity: -2, flags: pubsubFlags, group: g, since: "7.0.0", summary: "Returns the count of subscribers of shard channels.", complexity: "O(N) for the SHARDNUMSUB subcommand, where N is the number of requested shard channels"},
				&cmdSpec{name: "help", handler: pubsubHelp([]string{
					"CHANNELS [<pattern>]",
					"    Return the currently active channels matching a <pattern> (default: '*').",
					"NUMPAT",
					"    Return number of subscriptions to patterns.",
					"NUMSUB [<channel> ...]",
					"    Return the number of subscribers for the specified channels, excluding",
					"    pattern subscriptions(default: no channels).",
					"SHARDCHANNELS [<pattern>]",
					"    Return the currently active shard level channels matching a <pattern> (default: '*').",
					"SHARDNUMSUB [<shardchannel> ...]",
					"    Return the number of subscribers for the specified shard level channel(s)",
				}), arity: 2, flags: flagLoading | flagStale, group: g, since: "6.2.0", summary: "Returns helpful text about the different subcommands.", complexity: "O(1)"},
			)},
	}
}

// pubsubAllowed lists the commands a RESP2 client may run while
// subscribed (processCommand in Redis 7.0).
func pubsubAllowed(name string) bool {
	switch name {
	case "ping", "subscribe", "ssubscribe", "unsubscribe", "sunsubscribe",
		"psubscribe", "punsubscribe", "quit", "reset":
		return true
	}
	return false
}

// pubsubRefusal returns the error for cmd when c is subscribed and cmd is
// not allowed in that context, or "".
func (c *Client) pubsubRefusal(cmd *cmdSpec) string {
	if !c.subscribedMode() || pubsubAllowed(cmd.name) {
		return ""
	}
	msg := "Can't execute '" + cmd.name + "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
	if cmd.name == "exec" {
		// Redis' rejectCommand turns any refusal of EXEC into EXECABORT.
		return "EXECABORT Transaction discarded because of: " + msg
	}
	return "ERR " + msg
}

func subscribeCmd(kind int) func(c *Client, args [][]byte) {
	return func(c *Client, args [][]byte) {
		if c.atomic && kind == kindShard {
			// EXEC denies blocking, which SSUBSCRIBE refuses (SUBSCRIBE
			// and PSUBSCRIBE are let through for compatibility).
			c.err("ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client")
			return
		}
		if c.nc == nil {
			c.err("ERR " + subscribeWord[kind] + " is not allowed for an internal client")
			return
		}
		sb := c.subscriberForSubscribe()
		h := &c.s.pubsub
		h.mu.Lock()
		sb.holdMessages()
		for _, a := range args[1:] {
			name := string(a)
			if sb.sets[kind].add(name) {
				h.add(kind, name, sb)
				sb.counted(kind, 1)
			}
			c.pubsubReply(subscribeWord[kind], a, false, sb.count(kind))
		}
		h.mu.Unlock()
	}
}

func unsubscribeCmd(kind int) func(c *Client, args [][]byte) {
	return func(c *Client, args [][]byte) {
		sb := c.ps.Load()
		if len(args) == 1 {
			n := 0
			if sb != nil {
				n = sb.unsubscribeAll(kind, true)
			}
			if n == 0 {
				c.pubsubReply(unsubscribeWord[kind], nil, true, subscriberCount(sb, kind))
			}
			return
		}
		h := &c.s.pubsub
		if sb != nil {
			h.mu.Lock()
			defer h.mu.Unlock()
		}
		for _, a := range args[1:] {
			if sb != nil && sb.sets[kind].remove(string(a)) {
				h.remove(kind, string(a), sb)
				sb.counted(kind, -1)
			}
			c.pubsubReply(unsubscribeWord[kind], a, false, subscriberCount(sb, kind))
		}
	}
}

// pubsubReply writes a (un)subscribe confirmation: [word, name, count],
// name null when nil is set.
func (c *Client) pubsubReply(word string, name []byte, null bool, count int) {
	c.array(3)
	c.bulkString(word)
	if null {
		c.null()
	} else {
		c.bulk(name)
	}
	c.int(int64(count))
}

func publishCmd(kind int) func(c *Client, args [][]byte) {
	return func(c *Client, args [][]byte) {
		c.int(int64(c.s.pubsub.publish(kind, args[1], args[2])))
	}
}

func pubsubChannelsCmd(kind int) func(c *Client, args [][]byte) {
	return func(c *Client, args [][]byte) {
		if len(args) > 3 {
			c.err("ERR unknown subcommand or wrong number of arguments for '" + clip(string(args[1]), 128) + "'. Try PUBSUB HELP.")
			return
		}
		h := &c.s.pubsub
		var out []string
		h.mu.RLock()
		for ch := range h.subs[kind] {
			if len(args) == 2 || globMatch(string(args[2]), ch, false) {
				out = append(out, ch)
			}
		}
		h.mu.RUnlock()
		sort.Strings(out)
		c.array(len(out))
		for _, ch := range out {
			c.bulkString(ch)
		}
	}
}

func pubsubNumsubCmd(kind int) func(c *Client, args [][]byte) {
	return func(c *Client, args [][]byte) {
		h := &c.s.pubsub
		h.mu.RLock()
		defer h.mu.RUnlock()
		c.array(2 * (len(args) - 2))
		for _, a := range args[2:] {
			c.bulk(a)
			c.int(int64(len(h.subs[kind][bstr(a)])))
		}
	}
}

// pubsubHelp is PUBSUB HELP in Redis 7.0's words.
func pubsubHelp(lines []string) func(c *Client, args [][]byte) {
	return func(c *Client, _ [][]byte) {
		c.array(len(lines) + 3)
		c.status("PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
		for _, l := range lines {
			c.status(l)
		}
		c.status("HELP")
		c.status("    Prints this help.")
	}
}

// cmdPubsubNumpat is the number of distinct patterns subscribed (Redis
// 7.0 counts patterns, not subscriptions).
func cmdPubsubNumpat(c *Client, _ [][]byte) {
	_, n, _ := c.s.pubsub.counts()
	c.int(int64(n))
}
