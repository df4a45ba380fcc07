package conf

import (
	"fmt"
	"strings"
)

// defaultZooKeeperPort is used for a zookeeper_host entry without a port.
const defaultZooKeeperPort = 2181

// parseZooKeeperHost splits zookeeper_host, "host:port[,host:port...][/chroot]"
// (ZooKeeper's connect string), into its servers and chroot. A server
// without a port gets 2181; a chroot of "/" is no chroot.
func parseZooKeeperHost(v string) (servers []string, chroot string, err error) {
	hosts := strings.TrimSpace(v)
	if i := strings.IndexByte(hosts, '/'); i >= 0 {
		hosts, chroot = hosts[:i], hosts[i:]
		if chroot == "/" {
			chroot = ""
		} else if err := checkZnodePath(chroot); err != nil {
			return nil, "", fmt.Errorf("chroot: %w", err)
		}
	}
	if strings.TrimSpace(hosts) == "" {
		return nil, "", fmt.Errorf("%w: %q has no ZooKeeper servers", ErrBadAddress, v)
	}
	for _, h := range strings.Split(hosts, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			return nil, "", fmt.Errorf("%w: empty server in %q", ErrBadAddress, v)
		}
		if !strings.Contains(h, ":") || strings.HasSuffix(h, "]") {
			h = joinHostPort(strings.Trim(h, "[]"), defaultZooKeeperPort)
		}
		host, port, err := splitHostPort(h, "zookeeper")
		if err != nil {
			return nil, "", err
		}
		servers = append(servers, joinHostPort(host, port))
	}
	return servers, chroot, nil
}

// checkZnodePath checks an absolute ZooKeeper path: it starts with '/',
// has no empty, "." or ".." component, no trailing '/', and no control
// characters (which ZooKeeper refuses).
func checkZnodePath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("%w: %q is not an absolute ZooKeeper path", ErrBadValue, p)
	}
	if p == "/" {
		return nil
	}
	for _, c := range strings.Split(p[1:], "/") {
		switch c {
		case "":
			return fmt.Errorf("%w: ZooKeeper path %q has an empty component", ErrBadValue, p)
		case ".", "..":
			return fmt.Errorf("%w: ZooKeeper path %q has a %q component", ErrBadValue, p, c)
		}
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || (r >= 0xd800 && r <= 0xf8ff) || r == 0xfff0 || r == 0xffff || r == 0xfffe {
			return fmt.Errorf("%w: ZooKeeper path %q contains character %U", ErrBadValue, p, r)
		}
	}
	return nil
}

// checkZooKeeperAuth checks zookeeper_auth, "user:password".
func checkZooKeeperAuth(v string) error {
	user, _, ok := strings.Cut(v, ":")
	if !ok || user == "" {
		return fmt.Errorf("%w: want \"user:password\"", ErrBadValue)
	}
	return nil
}
