package conf

import (
	"errors"
	"strings"
	"testing"
)

// pool builds a one-pool configuration from key lines (without the
// two-space indent), after "p:" on line 1.
func pool(lines ...string) string {
	var sb strings.Builder
	sb.WriteString("p:\n")
	for _, l := range lines {
		sb.WriteString("  " + l + "\n")
	}
	return sb.String()
}

const okServers = "servers:\n   - 127.0.0.1:6379:1"

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want []string // every error, in order
		kind error    // of the first
	}{
		{"unknown key", pool("listen: 127.0.0.1:22121", "timout: 400", okServers),
			[]string{`t.yml:3: pool p: unknown key "timout" (did you mean "timeout"?)`}, ErrUnknownKey},
		{"unknown key, no suggestion", pool("listen: 127.0.0.1:22121", "sentinels: x", okServers),
			[]string{`t.yml:3: pool p: unknown key "sentinels"`}, ErrUnknownKey},
		{"unknown key with dash", pool("listen: 127.0.0.1:22121", "read-from: replica", okServers),
			[]string{`t.yml:3: pool p: unknown key "read-from" (did you mean "read_from"?)`}, ErrUnknownKey},
		{"duplicate key", pool("listen: 127.0.0.1:22121", "timeout: 400", "timeout: 500", okServers),
			[]string{`t.yml:4: pool p: timeout: repeated (first at line 3)`}, ErrDuplicateKey},
		{"duplicate pool", pool("listen: 127.0.0.1:22121", okServers) + pool("listen: 127.0.0.1:22122", okServers),
			[]string{`t.yml:5: pool p: pool p is already defined at line 1`}, ErrDuplicatePool},
		{"number type", pool("listen: 127.0.0.1:22121", "timeout: 4s", okServers),
			[]string{`t.yml:3: pool p: timeout: bad value: "4s" is not a whole number`}, ErrBadValue},
		{"negative number", pool("listen: 127.0.0.1:22121", "backlog: -1", okServers),
			[]string{`t.yml:3: pool p: backlog: bad value: "-1" is not a whole number`}, ErrBadValue},
		{"bool type", pool("listen: 127.0.0.1:22121", "redis: yes", okServers),
			[]string{`t.yml:3: pool p: redis: bad value: "yes" is not true or false`}, ErrBadValue},
		{"list for a scalar", pool("listen:", "   - 127.0.0.1:22121", okServers),
			[]string{`t.yml:3: pool p: listen: bad value: want a single value, not a list`}, ErrBadValue},
		{"empty value", pool("listen: 127.0.0.1:22121", "redis_auth:", okServers),
			[]string{`t.yml:3: pool p: redis_auth: bad value: want a single value, not a empty value`}, ErrBadValue},
		{"scalar for servers", pool("listen: 127.0.0.1:22121", "servers: 127.0.0.1:6379:1"),
			[]string{`t.yml:3: pool p: servers: bad value: want a list of "host:port:weight [name]", not a single value`}, ErrBadValue},
		{"bad hash", pool("listen: 127.0.0.1:22121", "hash: sha1", okServers),
			[]string{`t.yml:3: pool p: hash: bad value: unknown hash "sha1" (want one of [one_at_a_time md5 crc16 crc32 crc32a fnv1_64 fnv1a_64 fnv1_32 fnv1a_32 hsieh murmur jenkins])`}, ErrBadValue},
		{"bad distribution", pool("listen: 127.0.0.1:22121", "distribution: consistent", okServers),
			[]string{`t.yml:3: pool p: distribution: bad value: unknown distribution "consistent" (want ketama, modula, random or slots)`}, ErrBadValue},
		{"bad hash tag", pool("listen: 127.0.0.1:22121", `hash_tag: "{"`, okServers),
			[]string{`t.yml:3: pool p: hash_tag: bad value: "{" is not two characters, such as "{}"`}, ErrBadValue},
		{"bad read_from", pool("listen: 127.0.0.1:22121", "read_from: slave", okServers),
			[]string{`t.yml:3: pool p: read_from: bad value: "slave" is not master, replica or prefer-replica`}, ErrBadValue},
		{"slots 0", pool("listen: 127.0.0.1:22121", "slots: 0", okServers),
			[]string{`t.yml:3: pool p: slots: bad value: 0 is not in 1..65536`}, ErrBadValue},
		{"server_connections 0", pool("listen: 127.0.0.1:22121", "server_connections: 0", okServers),
			[]string{`t.yml:3: pool p: server_connections: bad value: 0 is not in 1..2147483647`}, ErrBadValue},
		{"listen without port", pool("listen: 127.0.0.1", okServers),
			[]string{`t.yml:2: pool p: listen: bad address: "127.0.0.1" is not "host:port"`}, ErrBadAddress},
		{"listen bad port", pool("listen: 127.0.0.1:99999", okServers),
			[]string{`t.yml:2: pool p: listen: bad address: "127.0.0.1:99999": port 99999 is not in 1-65535`}, ErrBadAddress},
		{"listen bad host", pool("listen: bad_host!:22121", okServers),
			[]string{`t.yml:2: pool p: listen: bad address: "bad_host!:22121": "bad_host!" is not a host name or IP address`}, ErrBadAddress},
		{"listen bad permissions", pool("listen: /tmp/x.sock 0999", okServers),
			[]string{`t.yml:2: pool p: listen: bad address: "0999" is not an octal file permission (0000-0777) in "/path permissions"`}, ErrBadAddress},
		{"listen relative socket", pool("listen: tmp/x.sock", okServers),
			[]string{`t.yml:2: pool p: listen: bad address: "tmp/x.sock" is not "host:port"`}, ErrBadAddress},
		{"missing listen", pool(okServers),
			[]string{`t.yml:1: pool p: listen: missing: every pool needs a listen address ("host:port" or "/path/to/socket [permissions]")`}, ErrMissingKey},
		{"missing servers", pool("listen: 127.0.0.1:22121"),
			[]string{`t.yml:1: pool p: servers: no servers: a pool needs servers unless zookeeper_host and zookeeper_redis_path give its topology`}, ErrMissingKey},
		{"server without weight", pool("listen: 127.0.0.1:22121", "servers:", "   - 127.0.0.1:6379"),
			[]string{`t.yml:4: pool p: servers: bad address: "127.0.0.1:6379" has no weight: write "host:port:weight [name]" (e.g. 127.0.0.1:6379:1)`}, ErrBadAddress},
		{"server bad port", pool("listen: 127.0.0.1:22121", "servers:", "   - 127.0.0.1:6379:1", "   - 127.0.0.1:0:1"),
			[]string{`t.yml:5: pool p: servers: bad address: "127.0.0.1:0": port 0 is not in 1-65535`}, ErrBadAddress},
		{"server too many fields", pool("listen: 127.0.0.1:22121", "servers:", "   - 127.0.0.1:6379:1 a b"),
			[]string{`t.yml:4: pool p: servers: bad address: "127.0.0.1:6379:1 a b" is not "host:port:weight [name]"`}, ErrBadAddress},
		{"weight 0", pool("listen: 127.0.0.1:22121", "servers:", "   - 127.0.0.1:6379:1", "   - 127.0.0.1:6380:0 second"),
			[]string{`t.yml:5: pool p: servers: bad weight: "127.0.0.1:6380:0 second": weight is 0 (a server needs a weight of at least 1)`}, ErrBadWeight},
		{"weight not a number", pool("listen: 127.0.0.1:22121", "servers:", "   - 127.0.0.1:6379:x"),
			[]string{`t.yml:4: pool p: servers: bad weight: "127.0.0.1:6379:x": weight "x" is not a number or slot ranges "a-b[,c-d]"`}, ErrBadWeight},
		{"several bad servers", pool("listen: 127.0.0.1:22121", "servers:", "   - 127.0.0.1:6379:0", "   - 127.0.0.1:6380:1", "   - 127.0.0.1:6381"),
			[]string{
				`t.yml:4: pool p: servers: bad weight: "127.0.0.1:6379:0": weight is 0 (a server needs a weight of at least 1)`,
				`t.yml:6: pool p: servers: bad address: "127.0.0.1:6381" has no weight: write "host:port:weight [name]" (e.g. 127.0.0.1:6381:1)`,
			}, ErrBadWeight},
		{"duplicate server names", pool("listen: 127.0.0.1:22121", "servers:", "   - 127.0.0.1:6379:1 a", "   - 127.0.0.1:6380:1 a"),
			[]string{`t.yml:5: pool p: servers: server "127.0.0.1:6380:1 a" has the same name "a" as "127.0.0.1:6379:1 a" at line 4 (twemproxy requires unique names)`}, ErrDuplicateServer},
		{"overlapping ranges", pool("listen: 127.0.0.1:22121", "servers:", "   - 127.0.0.1:7001:0-2047", "   - 127.0.0.1:7002:2000-4095"),
			[]string{`t.yml:5: pool p: servers: slots 2000-2047 are in 127.0.0.1:7001 and 127.0.0.1:7002 (slots: 4096)`}, ErrSlotRanges},
		{"missing ranges", pool("listen: 127.0.0.1:22121", "servers:", "   - 127.0.0.1:7001:0-2047", "   - 127.0.0.1:7002:2051-4095"),
			[]string{`t.yml:3: pool p: servers: slots 2048-2050 are not covered (slots: 4096)`}, ErrSlotRanges},
		{"ranges beyond slots", pool("listen: 127.0.0.1:22121", "slots: 16", "servers:", "   - 127.0.0.1:7001:0-7 a", "   - 127.0.0.1:7002:8-16 b"),
			[]string{`t.yml:6: pool p: servers: slot 16 of b is outside 0-15 (slots: 16)`}, ErrSlotRanges},
		{"bad range", pool("listen: 127.0.0.1:22121", "servers:", "   - 127.0.0.1:7001:0-99,50-60"),
			[]string{`t.yml:4: pool p: servers: bad slot ranges: "127.0.0.1:7001:0-99,50-60": overlapping slot ranges 0-99 and 50-60`}, ErrSlotRanges},
		{"weights and ranges mixed", pool("listen: 127.0.0.1:22121", "servers:", "   - 127.0.0.1:7001:0-4095", "   - 127.0.0.1:7002:1"),
			[]string{`t.yml:5: pool p: servers: server "127.0.0.1:7002:1" has a weight but server "127.0.0.1:7001:0-4095" has slot ranges: in a pool every server has slot ranges, or none`}, ErrSlotRanges},
		{"slots distribution with weights", pool("listen: 127.0.0.1:22121", "distribution: slots", okServers),
			[]string{`t.yml:3: pool p: distribution: slots distribution but server "127.0.0.1:6379:1" has a weight, not slot ranges "a-b[,c-d]"`}, ErrSlotRanges},
		{"two pools on one listen", pool("listen: 127.0.0.1:22121", okServers) + "q:\n  listen: 127.0.0.1:22121\n  " + okServers + "\n",
			[]string{`t.yml:6: pool q: listen: 127.0.0.1:22121 has the same listen address as pool p (127.0.0.1:22121 at t.yml:2)`}, ErrDuplicateListen},
		{"two pools on one socket", pool("listen: /tmp/a.sock", okServers) + "q:\n  listen: /tmp//a.sock 0600\n  " + okServers + "\n",
			[]string{`t.yml:6: pool q: listen: /tmp//a.sock 0600 has a listen address that overlaps pool p (/tmp/a.sock at t.yml:2)`}, ErrDuplicateListen},
		{"zookeeper path without host", pool("listen: 127.0.0.1:22121", "zookeeper_path: /redis/proxy/p", okServers),
			[]string{`t.yml:3: pool p: zookeeper_path: needs zookeeper_host`}, ErrMissingKey},
		{"bad zookeeper path", pool("listen: 127.0.0.1:22121", "zookeeper_host: 127.0.0.1:2181", "zookeeper_redis_path: redis/cluster/p", okServers),
			[]string{`t.yml:4: pool p: zookeeper_redis_path: bad value: "redis/cluster/p" is not an absolute ZooKeeper path`}, ErrBadValue},
		{"bad zookeeper host", pool("listen: 127.0.0.1:22121", "zookeeper_host: 127.0.0.1:2181,,x:1", okServers),
			[]string{`t.yml:3: pool p: zookeeper_host: bad address: empty server in "127.0.0.1:2181,,x:1"`}, ErrBadAddress},
		{"bad zookeeper chroot", pool("listen: 127.0.0.1:22121", "zookeeper_host: 127.0.0.1:2181/a//b", okServers),
			[]string{`t.yml:3: pool p: zookeeper_host: chroot: bad value: ZooKeeper path "/a//b" has an empty component`}, ErrBadValue},
		{"bad zookeeper auth", pool("listen: 127.0.0.1:22121", "zookeeper_host: 127.0.0.1:2181", "zookeeper_auth: secret", okServers),
			[]string{`t.yml:4: pool p: zookeeper_auth: bad value: want "user:password"`}, ErrBadValue},
		{"alias", "base: &b\n  listen: 127.0.0.1:22121\n  " + okServers + "\np:\n  listen: *b\n",
			[]string{`t.yml:6: pool p: listen: bad value: aliases are not supported (twemproxy refuses them too)`}, ErrBadValue},
		{"pool not a mapping", "p: 1\n", []string{`t.yml:1: pool p: a pool must be a mapping of keys, not a single value`}, ErrStructure},
		{"top level list", "- p\n- q\n", []string{`t.yml:1: the top level must map pool names to their keys, not be a list`}, ErrStructure},
		{"empty file", "", []string{`t.yml: no pools`}, ErrNoPools},
		{"only a comment", "# nothing\n", []string{`t.yml: no pools`}, ErrNoPools},
		{"two documents", pool("listen: 127.0.0.1:22121", okServers) + "---\nq: {}\n",
			[]string{`t.yml:5: a second YAML document: a configuration file holds exactly one`}, ErrStructure},
		{"yaml syntax", "p:\n  listen: 127.0.0.1:22121\n servers: [\n",
			[]string{`t.yml:2: YAML: did not find expected key`}, ErrSyntax},
		{"tab indent", "p:\n\tlisten: 127.0.0.1:22121\n", []string{`t.yml:2: YAML: found character that cannot start any token`}, ErrSyntax},
		{"several errors", pool("listen: 127.0.0.1", "hash: nope", "redis: maybe", "colour: blue", okServers),
			[]string{
				`t.yml:2: pool p: listen: bad address: "127.0.0.1" is not "host:port"`,
				`t.yml:3: pool p: hash: bad value: unknown hash "nope" (want one of [one_at_a_time md5 crc16 crc32 crc32a fnv1_64 fnv1a_64 fnv1_32 fnv1a_32 hsieh murmur jenkins])`,
				`t.yml:4: pool p: redis: bad value: "maybe" is not true or false`,
				`t.yml:5: pool p: unknown key "colour"`,
			}, ErrBadAddress},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pools, err := Parse("t.yml", []byte(c.yaml))
			if err == nil {
				t.Fatalf("no error; pools %+v", pools)
			}
			if pools != nil {
				t.Errorf("pools returned with an error")
			}
			errs := Errors(err)
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("errors:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(c.want, "\n  "))
			}
			if !errors.Is(errs[0], c.kind) {
				t.Errorf("first error %v is not %v", errs[0], c.kind)
			}
			if !errors.Is(err, c.kind) {
				t.Errorf("joined error is not %v", c.kind)
			}
		})
	}
}

func TestParseAccepts(t *testing.T) {
	cases := []struct {
		name  string
		yaml  string
		check func(*Pool) bool
	}{
		{"quoted numbers as twemproxy", pool("listen: 127.0.0.1:22121", `timeout: "400"`, `redis: "true"`, okServers),
			func(p *Pool) bool { return p.Timeout.Milliseconds() == 400 && p.Redis }},
		{"IPv6 listen bare", pool("listen: ::1:22121", okServers),
			func(p *Pool) bool { return p.Listen.Addr == "[::1]:22121" }},
		{"IPv6 listen bracketed", pool("listen: '[::1]:22121'", okServers),
			func(p *Pool) bool { return p.Listen.Addr == "[::1]:22121" }},
		{"all interfaces", pool("listen: 0.0.0.0:22121", okServers),
			func(p *Pool) bool { return p.Listen.Addr == "0.0.0.0:22121" }},
		{"host name", pool("listen: proxy-1.example.com:22121", "servers:", "   - redis-1.example.com:6379:1 r1"),
			func(p *Pool) bool {
				return p.Servers[0].Host == "redis-1.example.com" && p.Servers[0].DialAddr() == "redis-1.example.com:6379"
			}},
		{"unix socket server", pool("listen: 127.0.0.1:22121", "servers:", "   - /var/run/redis.sock:2 local"),
			func(p *Pool) bool {
				s := p.Servers[0]
				return s.Network == "unix" && s.Addr == "/var/run/redis.sock" && s.Weight == 2 && s.Name == "local" && s.DialAddr() == "/var/run/redis.sock"
			}},
		{"IPv6 server", pool("listen: 127.0.0.1:22121", "servers:", "   - '[::1]:6379:1'", "   - ::1:6380:1"),
			func(p *Pool) bool {
				return p.Servers[0].Addr == "[::1]:6379" && p.Servers[0].Host == "::1" && p.Servers[1].Addr == "::1:6380" && p.Servers[1].DialAddr() == "[::1]:6380"
			}},
		{"several ranges", pool("listen: 127.0.0.1:22121", "slots: 1024", "servers:", "   - 127.0.0.1:7001:0-99,200-1023 a", "   - 127.0.0.1:7002:100-199 b"),
			func(p *Pool) bool { return p.SlotBased() && len(p.Servers[0].Ranges) == 2 && p.Servers[1].Name == "b" }},
		{"distribution slots", pool("listen: 127.0.0.1:22121", "redis: true", "distribution: slots", "servers:", "   - 127.0.0.1:7001:0-4095"),
			func(p *Pool) bool { return p.SlotBased() && len(p.Warnings()) == 0 }},
		{"flow style", "p: {listen: '127.0.0.1:22121', redis: true, servers: ['127.0.0.1:6379:1']}\n",
			func(p *Pool) bool { return p.Redis && len(p.Servers) == 1 }},
		{"booleans YAML 1.2", pool("listen: 127.0.0.1:22121", "redis: True", "preconnect: FALSE", okServers),
			func(p *Pool) bool { return p.Redis && !p.Preconnect }},
		{"zookeeper without servers", pool("listen: 127.0.0.1:22121", "zookeeper_host: '[::1]:2181,zk'", "zookeeper_redis_path: /redis/cluster/p"),
			func(p *Pool) bool {
				return p.UsesZooKeeper() && len(p.ZooKeeperServers) == 2 && p.ZooKeeperServers[1] == "zk:2181"
			}},
		{"slowlog off", pool("listen: 127.0.0.1:22121", "slowlog_slower_than: -1", "slowlog_slower_than_extra: 1", okServers), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pools, err := Parse("t.yml", []byte(c.yaml))
			if c.check == nil {
				if err == nil {
					t.Fatal("accepted an unknown key")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !c.check(pools[0]) {
				t.Fatalf("pool %+v", pools[0])
			}
		})
	}
}
