package conf

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/shardis/shardis/hashring"
)

// Parse parses the content of one configuration file, a YAML mapping of
// pool names to their keys (twemproxy's format), fills in defaults and
// validates every pool. name is the file name used in errors. On error it
// returns nil and every problem found, each an *Error naming name:line,
// the pool and the key, joined with errors.Join (see Errors).
func Parse(name string, data []byte) ([]*Pool, error) {
	pools, errs := parseFile(name, data)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return pools, nil
}

// parseFile is Parse returning the pools it could read along with the
// errors, so that Load can still compare them across files.
func parseFile(name string, data []byte) ([]*Pool, []error) {
	root, err := parseYAML(name, data)
	if err != nil {
		return nil, []error{err}
	}
	if root == nil {
		return nil, []error{&Error{File: name, Msg: "no pools", Err: ErrNoPools}}
	}
	var (
		pools []*Pool
		errs  []error
		names = map[string]int{}
	)
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag == "!!null" || strings.TrimSpace(k.Value) == "" {
			errs = append(errs, &Error{File: name, Line: k.Line, Msg: "a pool name must be a non-empty single value", Err: ErrStructure})
			continue
		}
		if first, dup := names[k.Value]; dup {
			errs = append(errs, &Error{File: name, Line: k.Line, Pool: k.Value, Msg: fmt.Sprintf("pool %s is already defined at line %d", k.Value, first), Err: ErrDuplicatePool})
			continue
		}
		names[k.Value] = k.Line
		if v.Kind != yaml.MappingNode {
			errs = append(errs, &Error{File: name, Line: v.Line, Pool: k.Value, Msg: "a pool must be a mapping of keys, not a " + kindName(v), Err: ErrStructure})
			continue
		}
		p, perrs := decodePool(name, k, v)
		if len(perrs) == 0 {
			perrs = Errors(p.Validate())
		}
		for _, e := range perrs {
			errs = append(errs, e)
		}
		pools = append(pools, p)
	}
	if len(root.Content) == 0 {
		errs = append(errs, &Error{File: name, Line: root.Line, Msg: "no pools", Err: ErrNoPools})
	}
	errs = append(errs, checkUnique(pools, false)...)
	return pools, errs
}

// decodePool reads one pool's keys.
func decodePool(file string, k, v *yaml.Node) (*Pool, []*Error) {
	p := NewPool(k.Value)
	p.File, p.Line = file, k.Line
	p.src = &source{file: file, keys: map[string]int{}}
	var errs []*Error
	for i := 0; i+1 < len(v.Content); i += 2 {
		kn, vn := v.Content[i], v.Content[i+1]
		if kn.Kind != yaml.ScalarNode || kn.Tag == "!!null" {
			errs = append(errs, &Error{File: file, Line: kn.Line, Pool: p.Name, Msg: "a key must be a single value, not a " + kindName(kn), Err: ErrStructure})
			continue
		}
		key := kn.Value
		if first, dup := p.src.keys[key]; dup {
			errs = append(errs, &Error{File: file, Line: kn.Line, Pool: p.Name, Key: key, Msg: fmt.Sprintf("repeated (first at line %d)", first), Err: ErrDuplicateKey})
			continue
		}
		p.src.keys[key] = kn.Line
		known, err := p.set(key, vn)
		if !known {
			msg := fmt.Sprintf("unknown key %q", key)
			if s := suggest(key); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			errs = append(errs, &Error{File: file, Line: kn.Line, Pool: p.Name, Msg: msg, Err: ErrUnknownKey})
			continue
		}
		if err == nil {
			continue
		}
		each := []error{err}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			each = j.Unwrap()
		}
		for _, err := range each {
			line := vn.Line
			if le, ok := err.(*lineError); ok {
				line, err = le.line, le.err
			}
			errs = append(errs, &Error{File: file, Line: line, Pool: p.Name, Key: key, Msg: err.Error(), Err: err})
		}
	}
	// Slot ranges make a pool slot-based whatever distribution: says.
	for _, s := range p.Servers {
		if len(s.Ranges) > 0 {
			p.Distribution = hashring.Slots
			break
		}
	}
	return p, errs
}

// lineError carries the line of one element of a list value.
type lineError struct {
	line int
	err  error
}

func (e *lineError) Error() string { return e.err.Error() }
func (e *lineError) Unwrap() error { return e.err }

// maxMillis bounds the millisecond keys (twemproxy reads them into an int).
const maxMillis = math.MaxInt32

// set decodes one key into p. known is false for a key shardis does not
// know.
func (p *Pool) set(key string, n *yaml.Node) (known bool, err error) {
	var s string
	var v int64
	ms := func(lo int64) (time.Duration, error) {
		v, err := number(n, lo, maxMillis)
		return time.Duration(v) * time.Millisecond, err
	}
	switch key {
	// twemproxy's keys
	case "listen":
		if s, err = scalar(n); err == nil {
			p.Listen, err = parseListen(s)
		}
	case "hash":
		if s, err = scalar(n); err == nil {
			if _, err = hashring.HashByName(s); err != nil {
				err = fmt.Errorf("%w: %v", ErrBadValue, err)
			}
			p.Hash = s
		}
	case "hash_tag":
		if s, err = scalar(n); err == nil {
			if len(s) != 2 {
				err = fmt.Errorf("%w: %q is not two characters, such as \"{}\"", ErrBadValue, s)
			}
			p.HashTag = s
		}
	case "distribution":
		if s, err = scalar(n); err == nil {
			p.src.distribution = s
			if p.Distribution, err = hashring.ParseDistribution(s); err != nil {
				err = fmt.Errorf("%w: %v", ErrBadValue, err)
			}
		}
	case "timeout":
		p.Timeout, err = ms(0)
	case "backlog":
		v, err = number(n, 0, math.MaxInt32)
		p.Backlog = int(v)
	case "preconnect":
		p.Preconnect, err = boolean(n)
	case "redis":
		p.Redis, err = boolean(n)
	case "redis_auth":
		p.RedisAuth, err = scalar(n)
	case "redis_db":
		v, err = number(n, 0, math.MaxInt32)
		p.RedisDB = int(v)
	case "server_connections":
		v, err = number(n, 1, math.MaxInt32)
		p.ServerConnections = int(v)
	case "auto_eject_hosts":
		p.AutoEjectHosts, err = boolean(n)
	case "server_retry_timeout":
		p.ServerRetryTimeout, err = ms(0)
	case "server_failure_limit":
		v, err = number(n, 0, math.MaxInt32)
		p.ServerFailureLimit = int(v)
	case "servers":
		err = p.setServers(n)
	case "client_connections":
		v, err = number(n, 0, math.MaxInt32)
		p.ClientConnections = int(v)
	case "tcpkeepalive":
		p.TCPKeepalive, err = boolean(n)
	case "reuseport":
		p.Reuseport, err = boolean(n)

	// shardis' keys
	case "zookeeper_host":
		if s, err = scalar(n); err == nil {
			p.ZooKeeperHost = s
			p.ZooKeeperServers, p.ZooKeeperChroot, err = parseZooKeeperHost(s)
		}
	case "zookeeper_path":
		if s, err = scalar(n); err == nil {
			p.ZooKeeperPath, err = s, checkZnodePath(s)
		}
	case "zookeeper_redis_path":
		if s, err = scalar(n); err == nil {
			p.ZooKeeperRedisPath, err = s, checkZnodePath(s)
		}
	case "zookeeper_session_timeout":
		p.ZooKeeperSessionTimeout, err = ms(1)
	case "zookeeper_auth":
		if s, err = scalar(n); err == nil {
			p.ZooKeeperAuth, err = s, checkZooKeeperAuth(s)
		}
	case "zookeeper_refresh_interval":
		p.ZooKeeperRefreshInterval, err = ms(0)
	case "slots":
		v, err = number(n, 1, hashring.MaxSlots)
		p.Slots = int(v)
	case "read_from":
		if s, err = scalar(n); err == nil {
			p.ReadFrom = ReadFrom(s)
			err = checkReadFrom(p.ReadFrom)
		}
	case "allow_admin_commands":
		p.AllowAdminCommands, err = boolean(n)
	case "slowlog_slower_than":
		v, err = number(n, -1, math.MaxInt32)
		p.SlowlogSlowerThan = time.Duration(v) * time.Microsecond
	case "slowlog_max_len":
		v, err = number(n, 0, math.MaxInt32)
		p.SlowlogMaxLen = int(v)
	case "client_idle_timeout":
		p.ClientIdleTimeout, err = ms(0)
	default:
		return false, nil
	}
	return true, err
}

// setServers reads the servers: list, one "host:port:weight [name]" per
// entry; each bad entry is reported with its own line.
func (p *Pool) setServers(n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return fmt.Errorf("%w: want a list of \"host:port:weight [name]\", not a %s", ErrBadValue, kindName(n))
	}
	if len(n.Content) == 0 {
		return fmt.Errorf("%w: the list is empty", ErrMissingKey)
	}
	var errs []error
	for _, e := range n.Content {
		v, err := scalar(e)
		if err != nil {
			errs = append(errs, &lineError{e.Line, err})
			continue
		}
		s, err := parseServer(v)
		if err != nil {
			errs = append(errs, &lineError{e.Line, err})
			continue
		}
		s.Line = e.Line
		p.Servers = append(p.Servers, s)
	}
	return errors.Join(errs...)
}

func checkReadFrom(r ReadFrom) error {
	switch r {
	case ReadMaster, ReadReplica, ReadPreferReplica:
		return nil
	}
	return fmt.Errorf("%w: %q is not master, replica or prefer-replica", ErrBadValue, string(r))
}

// knownKeys lists every key of a pool, twemproxy's first.
func knownKeys() []string {
	return []string{
		"listen", "hash", "hash_tag", "distribution", "timeout", "backlog",
		"preconnect", "redis", "redis_auth", "redis_db", "server_connections",
		"auto_eject_hosts", "server_retry_timeout", "server_failure_limit",
		"servers", "client_connections", "tcpkeepalive", "reuseport",
		"zookeeper_host", "zookeeper_path", "zookeeper_redis_path",
		"zookeeper_session_timeout", "zookeeper_auth", "zookeeper_refresh_interval",
		"slots", "read_from", "allow_admin_commands", "slowlog_slower_than",
		"slowlog_max_len", "client_idle_timeout",
	}
}

// suggest returns the known key closest to key (edit distance at most 2,
// or differing only in '-' versus '_' and case), or "".
func suggest(key string) string {
	norm := strings.ToLower(strings.ReplaceAll(key, "-", "_"))
	best, bestD := "", 3
	for _, k := range knownKeys() {
		if k == norm {
			return k
		}
		if d := editDistance(norm, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b (bytes).
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
