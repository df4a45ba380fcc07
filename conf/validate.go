package conf

import (
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"

	"github.com/shardis/shardis/hashring"
)

// Validate checks every key of p and returns nil or all the problems found,
// each an *Error located at the key's line when p was loaded from a file
// (see Errors). Load and Parse validate the pools they return; call
// Validate on a Pool built or modified in code.
func (p *Pool) Validate() error {
	v := validator{p: p}
	v.check()
	return errors.Join(v.errs...)
}

type validator struct {
	p    *Pool
	errs []error
}

// fail records a problem with key (line: the key's, or the pool's).
func (v *validator) fail(key string, kind error, format string, args ...any) {
	v.failAt(v.p.keyLine(key), key, kind, format, args...)
}

func (v *validator) failAt(line int, key string, kind error, format string, args ...any) {
	v.errs = append(v.errs, &Error{File: v.p.File, Line: line, Pool: v.p.Name, Key: key, Msg: fmt.Sprintf(format, args...), Err: kind})
}

// keyLine returns the line of key in p's file, else the pool's line.
func (p *Pool) keyLine(key string) int {
	if p.src != nil {
		if l, ok := p.src.keys[key]; ok {
			return l
		}
	}
	return p.Line
}

func (v *validator) check() {
	p := v.p
	if strings.TrimSpace(p.Name) == "" {
		v.fail("", ErrStructure, "the pool has no name")
	} else if strings.ContainsFunc(p.Name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		v.fail("", ErrStructure, "the pool name %q contains control characters", p.Name)
	}
	v.checkListen()
	if _, err := hashring.HashByName(p.Hash); err != nil {
		v.fail("hash", ErrBadValue, "%v", err)
	}
	if p.HashTag != "" && len(p.HashTag) != 2 {
		v.fail("hash_tag", ErrBadValue, "%q is not two characters, such as \"{}\"", p.HashTag)
	}
	if p.Distribution > hashring.Slots {
		v.fail("distribution", ErrBadValue, "unknown distribution %v", p.Distribution)
	}
	for _, c := range []struct {
		key string
		bad bool
		msg string
	}{
		{"timeout", p.Timeout < 0, "is negative"},
		{"backlog", p.Backlog < 0, "is negative"},
		{"redis_db", p.RedisDB < 0, "is negative"},
		{"server_connections", p.ServerConnections < 1, "must be at least 1"},
		{"server_retry_timeout", p.ServerRetryTimeout < 0, "is negative"},
		{"server_failure_limit", p.ServerFailureLimit < 0, "is negative"},
		{"client_connections", p.ClientConnections < 0, "is negative"},
		{"zookeeper_session_timeout", p.ZooKeeperSessionTimeout <= 0, "must be positive"},
		{"zookeeper_refresh_interval", p.ZooKeeperRefreshInterval < 0, "is negative"},
		{"slots", p.Slots < 1 || p.Slots > hashring.MaxSlots, "must be in 1.." + strconv.Itoa(hashring.MaxSlots)},
		{"slowlog_max_len", p.SlowlogMaxLen < 0, "is negative"},
		{"client_idle_timeout", p.ClientIdleTimeout < 0, "is negative"},
	} {
		if c.bad {
			v.fail(c.key, ErrBadValue, "%s", c.msg)
		}
	}
	if err := checkReadFrom(p.ReadFrom); err != nil {
		v.fail("read_from", ErrBadValue, "%q is not master, replica or prefer-replica", string(p.ReadFrom))
	}
	v.checkZooKeeper()
	v.checkServers()
}

func (v *validator) checkListen() {
	l := v.p.Listen
	switch l.Network {
	case "tcp":
		host, port, err := net.SplitHostPort(l.Addr)
		if err == nil {
			_, err = parsePort(port)
		}
		if err == nil {
			err = checkHost(host, "listen")
		}
		if err != nil {
			v.fail("listen", ErrBadAddress, "%q: %v", l.Addr, err)
		}
	case "unix":
		if err := checkSocketPath(l.Addr); err != nil {
			v.fail("listen", ErrBadAddress, "%v", err)
		}
		if l.Perm&^0o777 != 0 {
			v.fail("listen", ErrBadAddress, "permissions %o are not in 0000-0777", l.Perm)
		}
	case "":
		v.fail("listen", ErrMissingKey, "missing: every pool needs a listen address (\"host:port\" or \"/path/to/socket [permissions]\")")
	default:
		v.fail("listen", ErrBadAddress, "network %q is not tcp or unix", l.Network)
	}
}

func (v *validator) checkZooKeeper() {
	p := v.p
	for _, s := range p.ZooKeeperServers {
		host, port, err := net.SplitHostPort(s)
		if err == nil {
			_, err = parsePort(port)
		}
		if err == nil {
			err = checkHost(host, "zookeeper")
		}
		if err != nil {
			v.fail("zookeeper_host", ErrBadAddress, "%q: %v", s, err)
		}
	}
	if p.ZooKeeperChroot != "" {
		if err := checkZnodePath(p.ZooKeeperChroot); err != nil {
			v.fail("zookeeper_host", ErrBadValue, "chroot: %v", err)
		}
	}
	for _, kp := range [...][2]string{{"zookeeper_path", p.ZooKeeperPath}, {"zookeeper_redis_path", p.ZooKeeperRedisPath}} {
		key, path := kp[0], kp[1]
		if path == "" {
			continue
		}
		if err := checkZnodePath(path); err != nil {
			v.fail(key, ErrBadValue, "%v", err)
		}
		if len(p.ZooKeeperServers) == 0 {
			v.fail(key, ErrMissingKey, "needs zookeeper_host")
		}
	}
	if p.ZooKeeperAuth != "" {
		if err := checkZooKeeperAuth(p.ZooKeeperAuth); err != nil {
			v.fail("zookeeper_auth", ErrBadValue, "%v", err)
		}
		if len(p.ZooKeeperServers) == 0 {
			v.fail("zookeeper_auth", ErrMissingKey, "needs zookeeper_host")
		}
	}
}

func (v *validator) checkServers() {
	p := v.p
	if len(p.Servers) == 0 {
		if !p.UsesZooKeeper() {
			v.fail("servers", ErrMissingKey, "no servers: a pool needs servers unless zookeeper_host and zookeeper_redis_path give its topology")
		}
		return
	}
	slotBased := p.Distribution == hashring.Slots
	var withRanges, withWeight *Server
	names := map[string]*Server{}
	var total uint64
	bad := false
	for i := range p.Servers {
		s := &p.Servers[i]
		line := s.Line
		if line == 0 {
			line = p.keyLine("servers")
		}
		switch s.Network {
		case "tcp":
			if s.Addr != joinHostPortRaw(s.Host, s.Port) && s.Addr != joinHostPort(s.Host, s.Port) {
				v.failAt(line, "servers", ErrBadAddress, "server %q: address %q does not match host %q and port %d", label(s), s.Addr, s.Host, s.Port)
				bad = true
			} else if _, err := parsePort(strconv.Itoa(s.Port)); err != nil {
				v.failAt(line, "servers", ErrBadAddress, "server %q: %v", label(s), err)
				bad = true
			} else if err := checkHost(s.Host, "server"); err != nil {
				v.failAt(line, "servers", ErrBadAddress, "server %q: %v", label(s), err)
				bad = true
			}
		case "unix":
			if err := checkSocketPath(s.Addr); err != nil {
				v.failAt(line, "servers", ErrBadAddress, "server %q: %v", label(s), err)
				bad = true
			}
		default:
			v.failAt(line, "servers", ErrBadAddress, "server %q: network %q is not tcp or unix", label(s), s.Network)
			bad = true
		}
		if len(s.Ranges) > 0 {
			if withRanges == nil {
				withRanges = s
			}
		} else {
			if withWeight == nil {
				withWeight = s
			}
			switch {
			case s.Weight < 1:
				v.failAt(line, "servers", ErrBadWeight, "server %q: weight %d (a server needs a weight of at least 1)", label(s), s.Weight)
				bad = true
			case s.Weight > math.MaxInt32:
				v.failAt(line, "servers", ErrBadWeight, "server %q: weight %d is above %d", label(s), s.Weight, math.MaxInt32)
				bad = true
			}
			total += uint64(max(s.Weight, 0))
		}
		name := hashring.Server{Addr: s.Addr, Name: s.Name}.ContinuumName()
		if prev, dup := names[name]; dup {
			v.failAt(line, "servers", ErrDuplicateServer, "server %q has the same name %q as %q at line %d (twemproxy requires unique names)", label(s), name, label(prev), prev.Line)
			bad = true
		}
		names[name] = s
	}
	switch {
	case withRanges != nil && withWeight != nil:
		v.failAt(withWeight.Line, "servers", ErrSlotRanges, "server %q has a weight but server %q has slot ranges: in a pool every server has slot ranges, or none", label(withWeight), label(withRanges))
		return
	case withRanges != nil && !slotBased:
		v.fail("distribution", ErrSlotRanges, "servers have slot ranges, so the distribution must be slots, not %v", p.Distribution)
		return
	case withWeight != nil && slotBased:
		v.fail("distribution", ErrSlotRanges, "slots distribution but server %q has a weight, not slot ranges \"a-b[,c-d]\"", label(withWeight))
		return
	}
	if total > math.MaxUint32 {
		v.fail("servers", ErrBadWeight, "the total weight %d is above %d", total, uint64(math.MaxUint32))
		return
	}
	if slotBased {
		owners := make([]hashring.Owner, len(p.Servers))
		for i, s := range p.Servers {
			owners[i] = hashring.Owner{Name: s.DisplayName(), Ranges: s.Ranges}
		}
		if err := hashring.CheckCoverage(p.Slots, owners); err != nil {
			line := p.keyLine("servers")
			var ce *hashring.CoverageError
			if errors.As(err, &ce) {
				for _, s := range p.Servers {
					if s.DisplayName() == ce.Other || (ce.Other == "" && s.DisplayName() == ce.Owner) {
						if s.Line > 0 {
							line = s.Line
						}
					}
				}
			}
			v.failAt(line, "servers", ErrSlotRanges, "%v (slots: %d)", err, p.Slots)
			return
		}
	}
	if bad {
		return
	}
	// Anything hashring still refuses is a bug here; report it rather than
	// hand the proxy a pool it cannot route.
	if _, err := hashring.New(p.Spec()); err != nil {
		v.fail("servers", ErrBadValue, "%v", err)
	}
}

// joinHostPortRaw joins host and port the way twemproxy configurations
// write them: without brackets around IPv6.
func joinHostPortRaw(host string, port int) string {
	return host + ":" + strconv.Itoa(port)
}

// label names a server in messages: the entry as written, else its name
// or address.
func label(s *Server) string {
	if s.Raw != "" {
		return s.Raw
	}
	return s.DisplayName()
}
