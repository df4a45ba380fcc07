package conf

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/shardis/shardis/hashring"
)

// maxUnixPath is the longest unix socket path Linux accepts (sun_path is
// 108 bytes including the terminating NUL).
const maxUnixPath = 107

// parseListen parses a listen: value the way twemproxy does: "host:port"
// (split at the last ':', so IPv6 may be written bare or in brackets), or a
// unix socket "/path" optionally followed by octal permissions.
func parseListen(v string) (Listen, error) {
	raw := v
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "/") {
		path, perm := v, ""
		if i := strings.LastIndexAny(v, " \t"); i >= 0 {
			path, perm = strings.TrimSpace(v[:i]), v[i+1:]
		}
		if err := checkSocketPath(path); err != nil {
			return Listen{}, err
		}
		l := Listen{Network: "unix", Addr: path, Raw: raw}
		if perm != "" {
			m, err := strconv.ParseUint(perm, 8, 32)
			if err != nil || m > 0o777 {
				return Listen{}, fmt.Errorf("%w: %q is not an octal file permission (0000-0777) in \"/path permissions\"", ErrBadAddress, perm)
			}
			l.Perm = os.FileMode(m)
		}
		return l, nil
	}
	host, port, err := splitHostPort(v, "listen")
	if err != nil {
		return Listen{}, err
	}
	return Listen{Network: "tcp", Addr: joinHostPort(host, port), Raw: raw}, nil
}

// splitHostPort splits "host:port" at the last ':' as twemproxy does and
// checks both halves. what names the value in errors.
func splitHostPort(v, what string) (string, int, error) {
	i := strings.LastIndexByte(v, ':')
	if i < 0 {
		return "", 0, fmt.Errorf("%w: %q is not \"host:port\"", ErrBadAddress, v)
	}
	host, ps := v[:i], v[i+1:]
	port, err := parsePort(ps)
	if err != nil {
		return "", 0, fmt.Errorf("%w: %q: %v", ErrBadAddress, v, err)
	}
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
		if _, err := netip.ParseAddr(host); err != nil {
			return "", 0, fmt.Errorf("%w: %q: [%s] is not an IPv6 address", ErrBadAddress, v, host)
		}
	}
	if err := checkHost(host, what); err != nil {
		return "", 0, fmt.Errorf("%w: %q: %v", ErrBadAddress, v, err)
	}
	return host, port, nil
}

func parsePort(s string) (int, error) {
	if s == "" || len(s) > 5 || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("port %q is not a number", s)
	}
	p, _ := strconv.Atoi(s)
	if p < 1 || p > 65535 {
		return 0, fmt.Errorf("port %d is not in 1-65535", p)
	}
	return p, nil
}

// checkHost accepts an IP address or a DNS name. An empty host is allowed
// only for listen (all interfaces, as twemproxy).
func checkHost(host, what string) error {
	if host == "" {
		if what == "listen" {
			return nil
		}
		return fmt.Errorf("missing host")
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	if len(host) > 253 {
		return fmt.Errorf("host name longer than 253 characters")
	}
	for _, label := range strings.Split(strings.TrimSuffix(host, "."), ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("%q is not a host name or IP address", host)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
			if !ok {
				return fmt.Errorf("%q is not a host name or IP address", host)
			}
		}
	}
	return nil
}

func checkSocketPath(path string) error {
	switch {
	case !strings.HasPrefix(path, "/"):
		return fmt.Errorf("%w: unix socket %q is not an absolute path", ErrBadAddress, path)
	case strings.ContainsAny(path, "\x00 \t\r\n"):
		return fmt.Errorf("%w: unix socket %q contains a blank or NUL", ErrBadAddress, path)
	case len(path) > maxUnixPath:
		return fmt.Errorf("%w: unix socket path %q is longer than %d bytes", ErrBadAddress, path, maxUnixPath)
	case strings.HasSuffix(path, "/"):
		return fmt.Errorf("%w: unix socket %q is a directory", ErrBadAddress, path)
	}
	return nil
}

func joinHostPort(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// parseServer parses one servers: entry the way twemproxy does, from the
// end: "host:port:weight [name]" or "/path/to/socket:weight [name]", where
// shardis also accepts slot ranges "a-b[,c-d...]" in place of the weight.
func parseServer(v string) (Server, error) {
	s := Server{Raw: v}
	fields := strings.Fields(v)
	switch len(fields) {
	case 1:
	case 2:
		s.Name = fields[1]
	default:
		return s, fmt.Errorf("%w: %q is not \"host:port:weight [name]\"", ErrBadAddress, v)
	}
	addrWeight := fields[0]
	i := strings.LastIndexByte(addrWeight, ':')
	if i < 0 {
		return s, fmt.Errorf("%w: %q is not \"host:port:weight [name]\"", ErrBadAddress, v)
	}
	weight := addrWeight[i+1:]
	s.Addr = addrWeight[:i]
	if strings.HasPrefix(s.Addr, "/") {
		s.Network = "unix"
		if err := checkSocketPath(s.Addr); err != nil {
			return s, err
		}
	} else {
		s.Network = "tcp"
		if !strings.Contains(s.Addr, ":") {
			return s, fmt.Errorf("%w: %q has no weight: write \"host:port:weight [name]\" (e.g. %s:1)", ErrBadAddress, v, addrWeight)
		}
		host, port, err := splitHostPort(s.Addr, "server")
		if err != nil {
			return s, err
		}
		s.Host, s.Port = host, port
	}
	if strings.ContainsAny(weight, "-,") {
		rs, err := hashring.ParseRanges(weight)
		if err != nil {
			return s, fmt.Errorf("%w: %q: %v", ErrSlotRanges, v, err)
		}
		s.Ranges = rs
		return s, nil
	}
	if weight == "" || strings.Trim(weight, "0123456789") != "" {
		return s, fmt.Errorf("%w: %q: weight %q is not a number or slot ranges \"a-b[,c-d]\"", ErrBadWeight, v, weight)
	}
	w, err := strconv.ParseInt(weight, 10, 64)
	if err != nil || w > math.MaxInt32 {
		return s, fmt.Errorf("%w: %q: weight %s is above %d", ErrBadWeight, v, weight, math.MaxInt32)
	}
	if w == 0 {
		return s, fmt.Errorf("%w: %q: weight is 0 (a server needs a weight of at least 1)", ErrBadWeight, v)
	}
	s.Weight = int(w)
	return s, nil
}
