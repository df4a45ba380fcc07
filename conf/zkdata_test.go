package conf

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shardis/shardis/hashring"
)

func TestParsePoolData(t *testing.T) {
	for _, c := range []struct {
		in   string
		want PoolData
	}{
		{"", PoolData{}},
		{"''", PoolData{}}, // zkCli 3.4's `create /redis/cluster/icd ''`
		{" null ", PoolData{}},
		{`{}`, PoolData{}},
		{`{"slots":4096,"hash":"md5","hash_tag":"{}"}`, PoolData{Slots: 4096, Hash: "md5", HashTag: "{}", HashTagSet: true}},
		{`{"hash_tag":""}`, PoolData{HashTagSet: true}},
		{`{"slots": 65536}`, PoolData{Slots: 65536}},
	} {
		got, err := ParsePoolData([]byte(c.in))
		if err != nil || got != c.want {
			t.Errorf("ParsePoolData(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
		back, err := ParsePoolData(got.Marshal())
		if err != nil || back != got {
			t.Errorf("round trip of %+v: %s → %+v, %v", got, got.Marshal(), back, err)
		}
	}
	for _, c := range []struct{ in, msg string }{
		{`{"slots":0}`, `"slots" is 0, want 1..65536`},
		{`{"slots":65537}`, `"slots" is 65537`},
		{`{"slots":4096.0}`, `"slots" must be an integer`},
		{`{"slots":"4096"}`, `"slots" must be an integer`},
		{`{"hash":"sha1"}`, `unknown hash`},
		{`{"hash_tag":"{"}`, `not two characters`},
		{`{"hash_tag":1}`, `"hash_tag" must be a string`},
		{`{"slot":4096}`, `unknown field "slot"`},
		{`{"slots":1,"slots":2}`, `field "slots" is repeated`},
		{`[1]`, `want a JSON object, got an array`},
		{`{"slots":1} x`, `data after the JSON object`},
		{`{"slots":1}{}`, `data after the JSON object`},
		{`{"slots":`, `unexpected end of data`},
		{`hello`, `not JSON`},
	} {
		_, err := ParsePoolData([]byte(c.in))
		if !errors.Is(err, ErrBadZnodeData) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("ParsePoolData(%q) = %v, want ErrBadZnodeData mentioning %q", c.in, err, c.msg)
		}
	}
}

func TestParseShardData(t *testing.T) {
	for _, c := range []struct {
		in   string
		want ShardData
	}{
		{"", ShardData{}},
		{"''", ShardData{}},
		{`{"weight":""}`, ShardData{}},
		{`{"weight":"0-2047"}`, ShardData{Ranges: mustRanges("0-2047")}},
		{`{"weight":"0-99,200-2047"}`, ShardData{Ranges: mustRanges("0-99,200-2047")}},
		{`{"weight":"0-2047","migrating":{"slots":"100-511","to":"redis-0002"}}`,
			ShardData{Ranges: mustRanges("0-2047"), Migrating: &Migration{Slots: mustRanges("100-511"), To: "redis-0002"}}},
		{`{"weight":"0-2047","migrating":null}`, ShardData{Ranges: mustRanges("0-2047")}},
	} {
		got, err := ParseShardData([]byte(c.in))
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseShardData(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
		back, err := ParseShardData(got.Marshal())
		if err != nil || !reflect.DeepEqual(back, got) {
			t.Errorf("round trip of %q: %s → %+v, %v", c.in, got.Marshal(), back, err)
		}
	}
	for _, c := range []struct{ in, msg string }{
		{`{"weight":"99-0"}`, `start after end`},
		{`{"weight":"0-10,5-20"}`, `overlapping`},
		{`{"weight":2047}`, `"weight" must be a string`},
		{`{"wieght":"0-1"}`, `unknown field "wieght"`},
		{`{"weight":"0-2047","migrating":{"slots":"3000-3001","to":"redis-0002"}}`, `not all in the shard's weight`},
		{`{"weight":"0-2047","migrating":{"slots":"1-2"}}`, `missing "to"`},
		{`{"weight":"0-2047","migrating":{"to":"redis-0001"}}`, `missing "slots"`},
		{`{"weight":"0-2047","migrating":{"slots":"1-2","to":"a/b"}}`, `contains '/'`},
		{`{"weight":"0-2047","migrating":{"slots":"1-2","to":"x","eta":1}}`, `unknown field "eta"`},
		{`{"weight":"0-2047","migrating":"1-2"}`, `want a JSON object, got a string`},
		{`"0-2047"`, `want a JSON object, got a string`},
	} {
		_, err := ParseShardData([]byte(c.in))
		if !errors.Is(err, ErrBadZnodeData) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("ParseShardData(%q) = %v, want ErrBadZnodeData mentioning %q", c.in, err, c.msg)
		}
	}
}

func TestParseMemberData(t *testing.T) {
	for _, c := range []struct {
		in   string
		want MemberData
	}{
		{"", MemberData{Role: RoleCandidate}},
		{`{"addr":"10.0.0.1:6379","role":"master","epoch":7,"offset":123}`, MemberData{"10.0.0.1:6379", RoleMaster, 7, 123}},
		{`{"addr":"[::1]:6379","role":"replica"}`, MemberData{Addr: "[::1]:6379", Role: RoleReplica}},
		// Written by a newer watchdog: unknown fields are ignored.
		{`{"addr":"h-1.example:6379","role":"candidate","epoch":0,"offset":0,"lag_ms":3}`, MemberData{Addr: "h-1.example:6379", Role: RoleCandidate}},
	} {
		got, err := ParseMemberData([]byte(c.in))
		if err != nil || got != c.want {
			t.Errorf("ParseMemberData(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	d := MemberData{"10.0.0.1:6379", RoleReplica, 3, 99}
	if back, err := ParseMemberData(d.Marshal()); err != nil || back != d {
		t.Errorf("round trip: %s → %+v, %v", d.Marshal(), back, err)
	}
	for _, c := range []struct{ in, msg string }{
		{`{"role":"master"}`, `missing "addr"`},
		{`{"addr":"10.0.0.1:6379"}`, `missing "role"`},
		{`{"addr":"10.0.0.1:6379","role":"slave"}`, `"role" "slave" is not candidate, replica or master`},
		{`{"addr":"10.0.0.1","role":"master"}`, `"addr"`},
		{`{"addr":"10.0.0.1:0","role":"master"}`, `port 0`},
		{`{"addr":"10.0.0.1:6379","role":"master","epoch":-1}`, `"epoch" is -1`},
		{`{"addr":"10.0.0.1:6379","role":"master","offset":1e3}`, `"offset" must be an integer`},
		{`{"addr":"10.0.0.1:6379","role":"master","offset":99999999999999999999}`, `"offset" must be an integer`},
	} {
		_, err := ParseMemberData([]byte(c.in))
		if !errors.Is(err, ErrBadZnodeData) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("ParseMemberData(%q) = %v, want ErrBadZnodeData mentioning %q", c.in, err, c.msg)
		}
	}
	if err := (MemberData{Addr: "x", Role: RoleMaster}).Validate(); err == nil {
		t.Error("Validate accepted a bad address")
	}
}

func TestParseProxyData(t *testing.T) {
	at := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	d := ProxyData{Addr: "10.0.0.5:22121", Pool: "icd", Started: at, Version: "0.1.0"}
	got, err := ParseProxyData(d.Marshal())
	if err != nil || !got.Started.Equal(at) || got.Addr != d.Addr || got.Pool != "icd" || got.Version != "0.1.0" {
		t.Errorf("round trip: %s → %+v, %v", d.Marshal(), got, err)
	}
	for _, c := range []struct{ in, msg string }{
		{``, `empty`},
		{`{"pool":"icd"}`, `missing "addr"`},
		{`{"addr":"x:1","started":"yesterday"}`, `not an RFC 3339 time`},
		{`{"addr":7}`, `must be a string`},
	} {
		_, err := ParseProxyData([]byte(c.in))
		if !errors.Is(err, ErrBadZnodeData) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("ParseProxyData(%q) = %v, want ErrBadZnodeData mentioning %q", c.in, err, c.msg)
		}
	}
}

func TestProxyDataApplied(t *testing.T) {
	d := ProxyData{Addr: "10.0.0.5:22121", Pool: "icd", Applied: map[string]int32{"redis-0001": 3, "redis-0000": 7}}
	b := d.Marshal()
	if want := `{"addr":"10.0.0.5:22121","pool":"icd","applied":{"redis-0000":7,"redis-0001":3}}`; string(b) != want {
		t.Errorf("Marshal = %s, want %s", b, want)
	}
	got, err := ParseProxyData(b)
	if err != nil || len(got.Applied) != 2 || got.Applied["redis-0000"] != 7 || got.Applied["redis-0001"] != 3 {
		t.Fatalf("round trip: %s → %+v, %v", b, got, err)
	}
	for _, c := range []struct {
		shard   string
		version int32
		ok      bool
		has     int32
	}{{"redis-0000", 7, true, 7}, {"redis-0000", 6, true, 7}, {"redis-0000", 8, false, 7}, {"redis-0002", 0, false, -1}} {
		if ok, has := got.AppliedShard(c.shard, c.version); ok != c.ok || has != c.has {
			t.Errorf("AppliedShard(%s, %d) = %v, %d; want %v, %d", c.shard, c.version, ok, has, c.ok, c.has)
		}
	}

	// Absent (an older proxy), null: nil. Empty: applied nothing yet.
	for _, in := range []string{`{"addr":"x:1"}`, `{"addr":"x:1","applied":null}`} {
		if d, err := ParseProxyData([]byte(in)); err != nil || d.Applied != nil {
			t.Errorf("ParseProxyData(%s) = %+v, %v; want Applied nil", in, d, err)
		}
	}
	empty, err := ParseProxyData([]byte(`{"addr":"x:1","applied":{}}`))
	if err != nil || empty.Applied == nil || len(empty.Applied) != 0 {
		t.Errorf("applied {}: %+v, %v; want an empty, non-nil map", empty, err)
	}
	if b := empty.Marshal(); string(b) != `{"addr":"x:1","applied":{}}` {
		t.Errorf("Marshal of an empty Applied = %s", b)
	}
	if ok, _ := empty.AppliedShard("redis-0000", 0); ok {
		t.Error("an empty Applied acknowledges a shard")
	}
	// Other unknown fields are still ignored (a newer proxy).
	if d, err := ParseProxyData([]byte(`{"addr":"x:1","applied":{"a":1},"future":{"x":[1]}}`)); err != nil || d.Applied["a"] != 1 {
		t.Errorf("unknown field next to applied: %+v, %v", d, err)
	}

	for _, c := range []struct{ in, msg string }{
		{`{"addr":"x:1","applied":[1]}`, `want a JSON object`},
		{`{"addr":"x:1","applied":"redis-0000:7"}`, `want a JSON object`},
		{`{"addr":"x:1","applied":{"redis-0000":-1}}`, `"redis-0000" is -1`},
		{`{"addr":"x:1","applied":{"redis-0000":2147483648}}`, `is 2147483648`},
		{`{"addr":"x:1","applied":{"redis-0000":"7"}}`, `must be an integer`},
		{`{"addr":"x:1","applied":{"redis-0000":7.5}}`, `must be an integer`},
		{`{"addr":"x:1","applied":{"a/b":1}}`, `contains '/'`},
		{`{"addr":"x:1","applied":{"":1}}`, `empty shard name`},
		{`{"addr":"x:1","applied":{"a":1,"a":2}}`, `repeated`},
	} {
		_, err := ParseProxyData([]byte(c.in))
		if !errors.Is(err, ErrBadZnodeData) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("ParseProxyData(%s) = %v, want ErrBadZnodeData mentioning %q", c.in, err, c.msg)
		}
	}
}

func mustRanges(s string) []hashring.Range {
	r, err := hashring.ParseRanges(s)
	if err != nil {
		panic(err)
	}
	return r
}
