package conf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shardis/shardis/hashring"
)

// The znode data codecs. Each Parse function accepts exactly what its
// Marshal writes and what an operator may type with zkCli, and refuses
// everything else with an error wrapping ErrBadZnodeData that names the
// field. Pool and shard data are typed by operators: unknown fields are
// errors (a typo must not silently change routing). Member and proxy data
// are written by programs: unknown fields are ignored so that a newer
// watchdog or proxy does not break an older reader during an upgrade.
//
// Empty data (what `create /path ''` leaves: nothing, '' or "" — zkCli of
// ZooKeeper 3.4 stores the two quote characters — or null) is accepted
// where it has a meaning: a pool with every setting inherited, a shard
// owning no slots, a member known only by its name (a candidate).

// Role is what a member's watchdog says its backend is.
type Role string

// The member roles.
const (
	RoleCandidate Role = "candidate" // registered, not yet following anyone
	RoleReplica   Role = "replica"   // replicating from the shard's master
	RoleMaster    Role = "master"    // the shard's master (if it is the lowest such member)
)

func (r Role) valid() bool { return r == RoleCandidate || r == RoleReplica || r == RoleMaster }

// PoolData is the data of a pool's cluster znode, {"slots":4096,
// "hash":"md5","hash_tag":"{}"}. Every field is optional: an absent one is
// inherited from the proxy's YAML pool (or the defaults).
type PoolData struct {
	Slots      int    // "slots": 1..65536, 0 when absent
	Hash       string // "hash": a twemproxy hash name, "" when absent
	HashTag    string // "hash_tag": "" or two characters
	HashTagSet bool   // "hash_tag" is present (then "" means no hash tag)
}

// ShardData is the data of a shard znode, {"weight":"0-2047[,c-d]"}, with
// an optional migration record while slots move to another shard:
// {"weight":"0-2047","migrating":{"slots":"100-511","to":"redis-0002"}}.
type ShardData struct {
	Ranges    []hashring.Range // "weight": the slots the shard owns; none for a new shard
	Migrating *Migration       // "migrating": nil when no migration runs
}

// Migration is a shard's migration record: Slots (a subset of the shard's
// ranges) are being moved to the shard To. The source keeps owning them
// until the migrator rewrites both shards' ranges and drops the record.
type Migration struct {
	Slots []hashring.Range // "slots"
	To    string           // "to": the target shard's name
}

// MemberData is the data of a member znode (one watchdog),
// {"addr":"10.0.0.1:6379","role":"replica","epoch":12,"offset":123456}.
type MemberData struct {
	Addr   string // "addr": the backend's "host:port" as others must dial it
	Role   Role   // "role"
	Epoch  int64  // "epoch": the shard epoch (master sequence) the member last followed or holds
	Offset int64  // "offset": the backend's replication offset when last published
}

// ProxyData is the data of a proxy's ephemeral znode,
// {"addr":"10.0.0.5:22121","pool":"icd","started":"2024-05-01T10:00:00Z","version":"0.1.0",
// "applied":{"redis-0000":7,"redis-0001":3}}.
type ProxyData struct {
	Addr    string    // "addr": where clients connect
	Pool    string    // "pool"
	Started time.Time // "started": RFC 3339; zero when absent
	Version string    // "version"
	// Applied ("applied") is the proxy's acknowledgement of the pool's
	// topology: for each shard of the topology it routes with, the data
	// version (Stat.Version) of the shard znode it was built from. A
	// migrator compares it with the version it wrote (AppliedShard).
	// nil when absent: a proxy that does not acknowledge (older, or not
	// following a ZooKeeper topology); empty ({}) for one that has not
	// applied a topology yet.
	Applied map[string]int32
}

// AppliedShard reports whether the proxy routes with shard's data at
// version or a later one, and the version it has (-1 when none).
func (d ProxyData) AppliedShard(shard string, version int32) (bool, int32) {
	v, ok := d.Applied[shard]
	if !ok {
		return false, -1
	}
	return v >= version, v
}

// isEmptyData reports whether data is one of the spellings of "nothing".
func isEmptyData(b []byte) bool {
	switch string(bytes.TrimSpace(b)) {
	case "", "''", `""`, "null":
		return true
	}
	return false
}

func badData(what, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrBadZnodeData, what, fmt.Sprintf(format, args...))
}

// jsonField is one member of a JSON object, in the order written.
type jsonField struct {
	Key string
	Raw json.RawMessage
}

// decodeObject reads b as one JSON object with no repeated key and nothing
// after it.
func decodeObject(what string, b []byte) ([]jsonField, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, badData(what, "not JSON: %v", jsonMsg(err))
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, badData(what, "want a JSON object, got %s", jsonKind(tok))
	}
	var fields []jsonField
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, badData(what, "not JSON: %v", jsonMsg(err))
		}
		key, ok := tok.(string)
		if !ok {
			return nil, badData(what, "not JSON: object key is %s", jsonKind(tok))
		}
		if slices.ContainsFunc(fields, func(f jsonField) bool { return f.Key == key }) {
			return nil, badData(what, "field %q is repeated", key)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, badData(what, "field %q: not JSON: %v", key, jsonMsg(err))
		}
		fields = append(fields, jsonField{key, raw})
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, badData(what, "not JSON: %v", jsonMsg(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badData(what, "data after the JSON object")
	}
	return fields, nil
}

func jsonMsg(err error) string {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of data"
	}
	return err.Error()
}

func jsonKind(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '[' {
			return "an array"
		}
		return fmt.Sprintf("%q", string(v))
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", tok)
}

func jsonString(what, key string, raw json.RawMessage) (string, error) {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", badData(what, "%q must be a string, got %s", key, clip(raw))
	}
	return s, nil
}

func jsonInt(what, key string, raw json.RawMessage, lo, hi int64) (int64, error) {
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, badData(what, "%q must be an integer, got %s", key, clip(raw))
	}
	if n < lo || n > hi {
		return 0, badData(what, "%q is %d, want %d..%d", key, n, lo, hi)
	}
	return n, nil
}

// clip quotes raw JSON for an error message, shortened.
func clip(raw []byte) string {
	s := string(raw)
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strconv.Quote(s)
}

func unknownField(what, key string, known ...string) error {
	return badData(what, "unknown field %q (known: %s)", key, strings.Join(known, ", "))
}

// ParsePoolData parses a pool's cluster znode data. Empty data is a pool
// with every setting inherited.
func ParsePoolData(b []byte) (PoolData, error) {
	const what = "pool data"
	var d PoolData
	if isEmptyData(b) {
		return d, nil
	}
	fields, err := decodeObject(what, b)
	if err != nil {
		return PoolData{}, err
	}
	for _, f := range fields {
		switch f.Key {
		case "slots":
			n, err := jsonInt(what, f.Key, f.Raw, 1, hashring.MaxSlots)
			if err != nil {
				return PoolData{}, err
			}
			d.Slots = int(n)
		case "hash":
			s, err := jsonString(what, f.Key, f.Raw)
			if err != nil {
				return PoolData{}, err
			}
			if _, err := hashring.HashByName(s); err != nil {
				return PoolData{}, badData(what, "\"hash\": %v (known: %s)", err, strings.Join(hashring.HashNames(), ", "))
			}
			d.Hash = s
		case "hash_tag":
			s, err := jsonString(what, f.Key, f.Raw)
			if err != nil {
				return PoolData{}, err
			}
			if s != "" && len(s) != 2 {
				return PoolData{}, badData(what, "\"hash_tag\" %q is not two characters, such as \"{}\"", s)
			}
			d.HashTag, d.HashTagSet = s, true
		default:
			return PoolData{}, unknownField(what, f.Key, "slots", "hash", "hash_tag")
		}
	}
	return d, nil
}

// Marshal encodes d as ParsePoolData reads it ({} when nothing is set).
func (d PoolData) Marshal() []byte {
	v := struct {
		Slots   int     `json:"slots,omitempty"`
		Hash    string  `json:"hash,omitempty"`
		HashTag *string `json:"hash_tag,omitempty"`
	}{Slots: d.Slots, Hash: d.Hash}
	if d.HashTagSet {
		v.HashTag = &d.HashTag
	}
	return mustJSON(v)
}

// ParseShardData parses a shard znode's data. Empty data, or an empty
// "weight", is a shard that owns no slots.
func ParseShardData(b []byte) (ShardData, error) {
	const what = "shard data"
	var d ShardData
	if isEmptyData(b) {
		return d, nil
	}
	fields, err := decodeObject(what, b)
	if err != nil {
		return ShardData{}, err
	}
	for _, f := range fields {
		switch f.Key {
		case "weight":
			s, err := jsonString(what, f.Key, f.Raw)
			if err != nil {
				return ShardData{}, err
			}
			if strings.TrimSpace(s) == "" {
				continue
			}
			r, err := hashring.ParseRanges(s)
			if err != nil {
				return ShardData{}, badData(what, "\"weight\": %v", err)
			}
			d.Ranges = r
		case "migrating":
			if string(f.Raw) == "null" {
				continue
			}
			m, err := parseMigration(f.Raw)
			if err != nil {
				return ShardData{}, err
			}
			d.Migrating = m
		default:
			return ShardData{}, unknownField(what, f.Key, "weight", "migrating")
		}
	}
	if m := d.Migrating; m != nil {
		for _, r := range m.Slots {
			if !coveredBy(r, d.Ranges) {
				return ShardData{}, badData(what, "\"migrating\": slots %s are not all in the shard's weight %q", r, hashring.FormatRanges(d.Ranges))
			}
		}
	}
	return d, nil
}

// coveredBy reports whether every slot of r is in one of rs (which do not
// overlap).
func coveredBy(r hashring.Range, rs []hashring.Range) bool {
	n := 0
	for _, x := range rs {
		lo, hi := max(r.Lo, x.Lo), min(r.Hi, x.Hi)
		if lo <= hi {
			n += hi - lo + 1
		}
	}
	return n == r.Len()
}

func parseMigration(raw json.RawMessage) (*Migration, error) {
	const what = "shard data: \"migrating\""
	fields, err := decodeObject(what, raw)
	if err != nil {
		return nil, err
	}
	var m Migration
	for _, f := range fields {
		switch f.Key {
		case "slots":
			s, err := jsonString(what, f.Key, f.Raw)
			if err != nil {
				return nil, err
			}
			r, err := hashring.ParseRanges(s)
			if err != nil {
				return nil, badData(what, "\"slots\": %v", err)
			}
			m.Slots = r
		case "to":
			s, err := jsonString(what, f.Key, f.Raw)
			if err != nil {
				return nil, err
			}
			if err := CheckShardName(s); err != nil {
				return nil, badData(what, "\"to\": %v", err)
			}
			m.To = s
		default:
			return nil, unknownField(what, f.Key, "slots", "to")
		}
	}
	if m.Slots == nil {
		return nil, badData(what, "missing \"slots\"")
	}
	if m.To == "" {
		return nil, badData(what, "missing \"to\"")
	}
	return &m, nil
}

// Marshal encodes d as ParseShardData reads it; a shard with no slots is
// {"weight":""}.
func (d ShardData) Marshal() []byte {
	type mig struct {
		Slots string `json:"slots"`
		To    string `json:"to"`
	}
	v := struct {
		Weight    string `json:"weight"`
		Migrating *mig   `json:"migrating,omitempty"`
	}{Weight: hashring.FormatRanges(d.Ranges)}
	if d.Migrating != nil {
		v.Migrating = &mig{hashring.FormatRanges(d.Migrating.Slots), d.Migrating.To}
	}
	return mustJSON(v)
}

// ParseMemberData parses a member znode's data. Empty data is a candidate
// whose address is only in its name (Addr ""); otherwise "addr" and "role"
// are required.
func ParseMemberData(b []byte) (MemberData, error) {
	const what = "member data"
	d := MemberData{Role: RoleCandidate}
	if isEmptyData(b) {
		return d, nil
	}
	fields, err := decodeObject(what, b)
	if err != nil {
		return MemberData{}, err
	}
	var hasAddr, hasRole bool
	for _, f := range fields {
		switch f.Key {
		case "addr":
			s, err := jsonString(what, f.Key, f.Raw)
			if err != nil {
				return MemberData{}, err
			}
			if _, _, err := splitHostPort(s, "member"); err != nil {
				return MemberData{}, badData(what, "\"addr\": %v", err)
			}
			d.Addr, hasAddr = s, true
		case "role":
			s, err := jsonString(what, f.Key, f.Raw)
			if err != nil {
				return MemberData{}, err
			}
			if !Role(s).valid() {
				return MemberData{}, badData(what, "\"role\" %q is not candidate, replica or master", s)
			}
			d.Role, hasRole = Role(s), true
		case "epoch", "offset":
			n, err := jsonInt(what, f.Key, f.Raw, 0, 1<<63-1)
			if err != nil {
				return MemberData{}, err
			}
			if f.Key == "epoch" {
				d.Epoch = n
			} else {
				d.Offset = n
			}
		}
	}
	if !hasAddr {
		return MemberData{}, badData(what, "missing \"addr\"")
	}
	if !hasRole {
		return MemberData{}, badData(what, "missing \"role\"")
	}
	return d, nil
}

// Marshal encodes d as ParseMemberData reads it. It does not check d: use
// Validate before writing data built in code.
func (d MemberData) Marshal() []byte {
	return mustJSON(struct {
		Addr   string `json:"addr"`
		Role   Role   `json:"role"`
		Epoch  int64  `json:"epoch"`
		Offset int64  `json:"offset"`
	}{d.Addr, d.Role, d.Epoch, d.Offset})
}

// Validate checks d as ParseMemberData would after a Marshal.
func (d MemberData) Validate() error {
	_, err := ParseMemberData(d.Marshal())
	return err
}

// ParseProxyData parses a proxy znode's data; "addr" is required.
func ParseProxyData(b []byte) (ProxyData, error) {
	const what = "proxy data"
	var d ProxyData
	if isEmptyData(b) {
		return d, badData(what, "empty")
	}
	fields, err := decodeObject(what, b)
	if err != nil {
		return ProxyData{}, err
	}
	for _, f := range fields {
		switch f.Key {
		case "addr", "pool", "version", "started":
			s, err := jsonString(what, f.Key, f.Raw)
			if err != nil {
				return ProxyData{}, err
			}
			switch f.Key {
			case "addr":
				if _, _, err := splitHostPort(s, "proxy"); err != nil {
					return ProxyData{}, badData(what, "\"addr\": %v", err)
				}
				d.Addr = s
			case "pool":
				d.Pool = s
			case "version":
				d.Version = s
			case "started":
				t, err := time.Parse(time.RFC3339Nano, s)
				if err != nil {
					return ProxyData{}, badData(what, "\"started\" %q is not an RFC 3339 time", s)
				}
				d.Started = t
			}
		case "applied":
			m, err := parseApplied(f.Raw)
			if err != nil {
				return ProxyData{}, err
			}
			d.Applied = m
		}
	}
	if d.Addr == "" {
		return ProxyData{}, badData(what, "missing \"addr\"")
	}
	return d, nil
}

// parseApplied reads a proxy's "applied": an object of shard names to
// data versions (0..2^31-1). null is absent.
func parseApplied(raw json.RawMessage) (map[string]int32, error) {
	const what = "proxy data: \"applied\""
	if string(raw) == "null" {
		return nil, nil
	}
	fields, err := decodeObject(what, raw)
	if err != nil {
		return nil, err
	}
	m := make(map[string]int32, len(fields))
	for _, f := range fields {
		if err := CheckShardName(f.Key); err != nil {
			return nil, badData(what, "%v", err)
		}
		n, err := jsonInt(what, f.Key, f.Raw, 0, 1<<31-1)
		if err != nil {
			return nil, err
		}
		m[f.Key] = int32(n)
	}
	return m, nil
}

// Marshal encodes d as ParseProxyData reads it ("applied" in shard name
// order, absent when nil).
func (d ProxyData) Marshal() []byte {
	v := struct {
		Addr    string            `json:"addr"`
		Pool    string            `json:"pool,omitempty"`
		Started string            `json:"started,omitempty"`
		Version string            `json:"version,omitempty"`
		Applied *map[string]int32 `json:"applied,omitempty"`
	}{Addr: d.Addr, Pool: d.Pool, Version: d.Version}
	if d.Applied != nil {
		v.Applied = &d.Applied
	}
	if !d.Started.IsZero() {
		v.Started = d.Started.UTC().Format(time.RFC3339Nano)
	}
	return mustJSON(v)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("conf: json.Marshal of a plain struct: " + err.Error())
	}
	return b
}
