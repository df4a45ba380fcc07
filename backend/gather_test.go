package backend

import (
	"strconv"
	"strings"
	"testing"
)

// TestGatherReuse: LRANGE, HGETALL, HKEYS, HVALS and ZRANGE gather their
// replies in slices reused per client; pipelined one after the other,
// large (beyond what is kept) and small, empty and missing, every reply
// is whole and none carries another's strings or scores.
func TestGatherReuse(t *testing.T) {
	s := startServer(t, nil)
	c := dialRaw(t, s.addr())
	var list, hash []string
	for i := range 5000 {
		list = append(list, "e"+strconv.Itoa(i))
	}
	for i := range 300 {
		hash = append(hash, "f"+strconv.Itoa(i), "v"+strconv.Itoa(i))
	}
	c.do(append([]string{"RPUSH", "l"}, list...)...)
	c.do(append([]string{"HSET", "h"}, hash...)...)
	c.do("HSET", "small", "a", "1")
	zadd := []string{"ZADD", "z"}
	var members, withScores []string
	for i := range 5000 {
		m := "m" + strconv.Itoa(i)
		zadd = append(zadd, strconv.Itoa(i), m)
		members = append(members, m)
		withScores = append(withScores, m, strconv.Itoa(i))
	}
	c.do(zadd...)

	bulks := func(items []string) string {
		var b strings.Builder
		b.WriteString("*" + strconv.Itoa(len(items)) + "\r\n")
		for _, it := range items {
			b.WriteString("$" + strconv.Itoa(len(it)) + "\r\n" + it + "\r\n")
		}
		return b.String()
	}
	// The tree-form hash's order is its own: take it from HGETALL once.
	all := c.do("HGETALL", "h")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"LRANGE", "l", "0", "-1"}, bulks(list)},
		{[]string{"LRANGE", "l", "0", "2"}, bulks(list[:3])},
		{[]string{"HGETALL", "h"}, all},
		{[]string{"HGETALL", "small"}, bulks([]string{"a", "1"})},
		{[]string{"LRANGE", "l", "4998", "10000"}, bulks(list[4998:])},
		{[]string{"HKEYS", "small"}, bulks([]string{"a"})},
		{[]string{"LRANGE", "nosuch", "0", "-1"}, "*0\r\n"},
		{[]string{"HVALS", "small"}, bulks([]string{"1"})},
		{[]string{"LRANGE", "l", "5", "1"}, "*0\r\n"},
		{[]string{"HGETALL", "nosuch"}, "*0\r\n"},
		{[]string{"LRANGE", "l", "10", "11"}, bulks(list[10:12])},
		{[]string{"ZRANGE", "z", "0", "-1", "WITHSCORES"}, bulks(withScores)},
		{[]string{"ZRANGE", "z", "0", "2"}, bulks(members[:3])},
		{[]string{"ZREVRANGE", "z", "0", "1", "WITHSCORES"}, bulks([]string{"m4999", "4999", "m4998", "4998"})},
		{[]string{"ZRANGEBYSCORE", "z", "10", "12"}, bulks(members[10:13])},
		{[]string{"ZRANGE", "nosuch", "0", "-1"}, "*0\r\n"},
		{[]string{"ZRANGE", "z", "(4997", "+inf", "BYSCORE", "WITHSCORES"}, bulks(withScores[2*4998:])},
		{[]string{"ZRANGESTORE", "dst", "z", "0", "1"}, ":2\r\n"},
		{[]string{"ZRANGE", "dst", "0", "-1", "WITHSCORES"}, bulks(withScores[:4])},
	}
	if !strings.HasPrefix(all, "*600\r\n") {
		t.Fatalf("HGETALL h: %.40q", all)
	}
	for round := range 2 {
		var batch []byte
		for _, tc := range cases {
			batch = append(batch, encodeCommand(tc.args...)...)
		}
		c.send(batch)
		for _, tc := range cases {
			if got := c.reply(); got != tc.want {
				t.Fatalf("round %d, %v: %.80q, want %.80q", round, tc.args, got, tc.want)
			}
		}
	}
}
