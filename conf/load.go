package conf

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/shardis/shardis/hashring"
)

// MaxFileSize is the largest configuration file Load reads.
const MaxFileSize = 16 << 20

// Load reads the configuration at path: one YAML file of pools, or a
// directory whose *.yml and *.yaml files (not hidden, not in
// subdirectories, read in name order) each hold pools, typically one tenant
// per file. Pool names and listen addresses must be unique across all the
// files. Every pool is validated and has its defaults filled in.
//
// On error Load returns nil and every problem found (see Errors), each
// naming file:line, the pool and the key. It never panics on bad input.
func Load(path string) ([]*Pool, error) {
	files, err := configFiles(path)
	if err != nil {
		return nil, err
	}
	var (
		all  []*Pool
		errs []error
	)
	for _, f := range files {
		data, err := readFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		pools, perrs := parseFile(f, data)
		all = append(all, pools...)
		errs = append(errs, perrs...)
	}
	errs = append(errs, checkUnique(all, true)...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return all, nil
}

// configFiles lists the files Load reads for path.
func configFiles(path string) ([]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, &Error{File: path, Msg: err.Error(), Err: fmt.Errorf("%w: %w", ErrFile, err)}
	}
	if !fi.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, &Error{File: path, Msg: err.Error(), Err: fmt.Errorf("%w: %w", ErrFile, err)}
	}
	var files []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !(strings.HasSuffix(name, ".yml") || strings.HasSuffix(name, ".yaml")) {
			continue
		}
		full := filepath.Join(path, name)
		if st, err := os.Stat(full); err != nil || st.IsDir() {
			continue // a dangling link or a directory named *.yml
		}
		files = append(files, full)
	}
	if len(files) == 0 {
		return nil, &Error{File: path, Msg: "no *.yml or *.yaml files in the directory", Err: ErrNoPools}
	}
	slices.Sort(files)
	return files, nil
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{File: path, Msg: err.Error(), Err: fmt.Errorf("%w: %w", ErrFile, err)}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, &Error{File: path, Msg: err.Error(), Err: fmt.Errorf("%w: %w", ErrFile, err)}
	}
	if len(data) > MaxFileSize {
		return nil, &Error{File: path, Msg: fmt.Sprintf("larger than %d bytes", MaxFileSize), Err: ErrFile}
	}
	return data, nil
}

// checkUnique reports pools that share a name or a listen address. With
// crossFile it only reports pairs from different files (Parse has already
// compared the pools of one file).
func checkUnique(pools []*Pool, crossFile bool) []error {
	var errs []error
	skip := func(a, b *Pool) bool { return crossFile && a.File == b.File }
	names := map[string]*Pool{}
	for _, p := range pools {
		if first, dup := names[p.Name]; dup {
			if !skip(first, p) {
				errs = append(errs, &Error{File: p.File, Line: p.Line, Pool: p.Name,
					Msg: fmt.Sprintf("pool %s is already defined at %s", p.Name, where(first, "")), Err: ErrDuplicatePool})
			}
			continue
		}
		names[p.Name] = p
	}
	for i, p := range pools {
		for _, q := range pools[:i] {
			if skip(q, p) || !listenConflict(q.Listen, p.Listen) {
				continue
			}
			what := "the same listen address as"
			if q.Listen.Addr != p.Listen.Addr {
				what = "a listen address that overlaps"
			}
			errs = append(errs, &Error{File: p.File, Line: p.keyLine("listen"), Pool: p.Name, Key: "listen",
				Msg: fmt.Sprintf("%s has %s pool %s (%s at %s)", p.Listen.Raw, what, q.Name, q.Listen.Raw, where(q, "listen")), Err: ErrDuplicateListen})
			break
		}
	}
	return errs
}

// where formats the position of p's key (or of the pool) as file:line.
func where(p *Pool, key string) string {
	line := p.Line
	if key != "" {
		line = p.keyLine(key)
	}
	if p.File == "" {
		return "pool " + p.Name
	}
	return fmt.Sprintf("%s:%d", p.File, line)
}

// listenConflict reports whether two listen addresses cannot both be bound:
// the same socket path, or the same TCP port on the same host or on a
// wildcard address. Host names are compared as written (no DNS lookups).
func listenConflict(a, b Listen) bool {
	if a.Network != b.Network || a.Network == "" {
		return false
	}
	if a.Network == "unix" {
		return filepath.Clean(a.Addr) == filepath.Clean(b.Addr)
	}
	ah, ap, err1 := net.SplitHostPort(a.Addr)
	bh, bp, err2 := net.SplitHostPort(b.Addr)
	if err1 != nil || err2 != nil || ap != bp {
		return false
	}
	ah, bh = normHost(ah), normHost(bh)
	return ah == bh || ah == "*" || bh == "*"
}

// normHost canonicalises an IP literal or host name; "*" is a wildcard.
func normHost(h string) string {
	if h == "" {
		return "*"
	}
	if ip, err := netip.ParseAddr(h); err == nil {
		ip = ip.Unmap()
		if ip.IsUnspecified() {
			return "*"
		}
		return ip.String()
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// Warnings returns what an operator should know about a valid pool that
// does not make it invalid, each prefixed with its file:line: a pool that
// twemproxy would serve as memcached, a distribution overridden by slot
// ranges, and so on. shardis-proxy -t prints them.
func (p *Pool) Warnings() []string {
	var out []string
	warn := func(key, format string, args ...any) {
		prefix := ""
		if p.File != "" {
			prefix = fmt.Sprintf("%s:%d: ", p.File, p.keyLine(key))
		}
		out = append(out, prefix+"pool "+p.Name+": "+fmt.Sprintf(format, args...))
	}
	if !p.Redis {
		key := "redis"
		if p.src != nil {
			if _, ok := p.src.keys["redis"]; !ok {
				key = ""
			}
		}
		warn(key, "redis is false (memcached, twemproxy's default): shardis serves only the Redis protocol on this pool; add \"redis: true\"")
	}
	if p.src != nil && p.SlotBased() && p.src.distribution != "" && p.src.distribution != "slots" {
		warn("distribution", "distribution %s is ignored: the servers' slot ranges make the pool slot-based (slot = %s(key) %% %d)", p.src.distribution, p.Hash, p.Slots)
	}
	if p.SlotBased() && p.AutoEjectHosts {
		warn("auto_eject_hosts", "auto_eject_hosts does not move slots: keys of a failed server are answered with an error until it is back")
	}
	if p.Distribution == hashring.Ketama {
		for _, s := range p.Servers {
			if name := (hashring.Server{Addr: s.Addr, Name: s.Name}).ContinuumName(); len(name) > 80 {
				warn("servers", "server name %q is longer than 80 bytes: twemproxy truncates ketama point names at 85 bytes, so its placement may differ", name)
			}
		}
	}
	if p.ClientConnections > 0 {
		warn("client_connections", "client_connections %d is enforced (twemproxy 0.5 ignores it)", p.ClientConnections)
	}
	return out
}
