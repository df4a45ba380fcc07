package watchdog

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrBadInfo is an INFO reply the watchdog cannot use.
var ErrBadInfo = errors.New("bad INFO reply")

// maxInfoLen bounds the INFO text parsed (a real one is a few KB).
const maxInfoLen = 1 << 20

// ParseInfo reads the text of an INFO reply ("# Section" headers and
// "key:value" lines, CRLF or LF) into a map. Lines without ':' (and
// headers, blank lines) are skipped; a repeated key keeps its first value.
func ParseInfo(s string) (map[string]string, error) {
	if len(s) > maxInfoLen {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadInfo, len(s))
	}
	m := map[string]string{}
	for len(s) > 0 {
		var line string
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			line, s = s[:i], s[i+1:]
		} else {
			line, s = s, ""
		}
		line = strings.TrimSuffix(line, "\r")
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || k == "" {
			continue
		}
		if _, dup := m[k]; !dup {
			m[k] = v
		}
	}
	return m, nil
}

// BackendInfoFrom builds a BackendInfo from the parsed INFO server and
// INFO replication sections (either may be nil). The role is required;
// numbers that do not parse are errors.
func BackendInfoFrom(server, repl map[string]string) (BackendInfo, error) {
	var b BackendInfo
	if v, ok := server["shardis_version"]; ok {
		b.Shardis, b.Version = true, v
	} else {
		b.Version = server["redis_version"]
	}
	b.RunID = server["run_id"]
	b.Role = repl["role"]
	if b.Role != "master" && b.Role != "slave" {
		return BackendInfo{}, fmt.Errorf("%w: role %q", ErrBadInfo, b.Role)
	}
	num := func(key string, dst *int64) error {
		v, ok := repl[key]
		if !ok {
			return nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%w: %s %q", ErrBadInfo, key, v)
		}
		*dst = n
		return nil
	}
	if err := num("master_repl_offset", &b.Offset); err != nil {
		return BackendInfo{}, err
	}
	if b.Role == "slave" {
		b.MasterHost = repl["master_host"]
		if v, ok := repl["master_port"]; ok {
			p, err := strconv.Atoi(v)
			if err != nil || p < 0 || p > 65535 {
				return BackendInfo{}, fmt.Errorf("%w: master_port %q", ErrBadInfo, v)
			}
			b.MasterPort = p
		}
		b.LinkUp = repl["master_link_status"] == "up"
		if err := num("slave_repl_offset", &b.Offset); err != nil {
			return BackendInfo{}, err
		}
	}
	b.ReplID = repl["master_replid"]
	b.Fenced = repl["fenced"] == "1" || repl["fenced"] == "yes"
	if err := num("shardis_epoch", &b.Epoch); err != nil {
		return BackendInfo{}, err
	}
	if b.Offset < 0 {
		return BackendInfo{}, fmt.Errorf("%w: negative offset %d", ErrBadInfo, b.Offset)
	}
	return b, nil
}
