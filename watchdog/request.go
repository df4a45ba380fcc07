package watchdog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// The manual failover request (docs/failover.md). An operator's
// `shardis-admin failover` creates one EPHEMERAL znode per shard,
//
//	<root>/failover/<pool>/<shard>
//	{"id":"9f2c…","master":"127.0.0.1:7001-0000000003","target":"127.0.0.1:7002",
//	 "timeout_ms":10000,"state":"requested","offset":0}
//
// that the shard's watchdogs obey: the master's watchdog pauses writes and
// writes state "paused" with its offset; the target's watchdog waits until
// its backend has that offset, promotes it and switches both members'
// roles and deletes the request in one transaction. The znode belongs to
// the admin's session, so it goes away if the admin dies; the master's
// watchdog also gives up RequestGrace after timeout_ms on its own clock.

// Request states.
const (
	RequestRequested = "requested" // written by the admin
	RequestPaused    = "paused"    // written by the master's watchdog, with Offset
)

// MaxRequestTimeout bounds a request's timeout_ms.
const MaxRequestTimeout = 10 * time.Minute

// ErrBadRequest is a failover request znode whose data is refused.
var ErrBadRequest = errors.New("bad failover request")

// ErrNotShardPath is a --shard path that is not <root>/cluster/<pool>/<shard>.
var ErrNotShardPath = errors.New("not a shard path")

// FailoverRequest is the data of a failover request znode.
type FailoverRequest struct {
	ID      string        // "id": names this failover run
	Master  string        // "master": znode name of the master member the request is for
	Target  string        // "target": host:port of the backend to promote
	Timeout time.Duration // "timeout_ms": how long the master may stay paused
	State   string        // "state": RequestRequested or RequestPaused
	Offset  int64         // "offset": the master's replication offset once paused
}

type requestJSON struct {
	ID        *string `json:"id"`
	Master    *string `json:"master"`
	Target    *string `json:"target"`
	TimeoutMS *int64  `json:"timeout_ms"`
	State     *string `json:"state"`
	Offset    *int64  `json:"offset"`
}

// ParseFailoverRequest parses a request znode's data. Unknown fields are
// ignored (a newer admin may add some); missing or invalid known fields
// are errors wrapping ErrBadRequest.
func ParseFailoverRequest(b []byte) (FailoverRequest, error) {
	var j requestJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&j); err != nil {
		return FailoverRequest{}, fmt.Errorf("%w: not a JSON object: %v", ErrBadRequest, err)
	}
	if dec.More() {
		return FailoverRequest{}, fmt.Errorf("%w: data after the JSON object", ErrBadRequest)
	}
	if _, err := dec.Token(); err == nil {
		return FailoverRequest{}, fmt.Errorf("%w: data after the JSON object", ErrBadRequest)
	}
	var r FailoverRequest
	switch {
	case j.ID == nil || *j.ID == "":
		return r, fmt.Errorf("%w: missing \"id\"", ErrBadRequest)
	case j.Master == nil || *j.Master == "":
		return r, fmt.Errorf("%w: missing \"master\"", ErrBadRequest)
	case j.Target == nil:
		return r, fmt.Errorf("%w: missing \"target\"", ErrBadRequest)
	case j.TimeoutMS == nil:
		return r, fmt.Errorf("%w: missing \"timeout_ms\"", ErrBadRequest)
	case j.State == nil:
		return r, fmt.Errorf("%w: missing \"state\"", ErrBadRequest)
	}
	if _, _, err := splitAddr(*j.Target); err != nil {
		return r, fmt.Errorf("%w: \"target\": %v", ErrBadRequest, err)
	}
	if *j.TimeoutMS <= 0 || time.Duration(*j.TimeoutMS)*time.Millisecond > MaxRequestTimeout {
		return r, fmt.Errorf("%w: \"timeout_ms\" %d is not in 1..%d", ErrBadRequest, *j.TimeoutMS, MaxRequestTimeout.Milliseconds())
	}
	if *j.State != RequestRequested && *j.State != RequestPaused {
		return r, fmt.Errorf("%w: \"state\" %q is not %q or %q", ErrBadRequest, *j.State, RequestRequested, RequestPaused)
	}
	r = FailoverRequest{ID: *j.ID, Master: *j.Master, Target: *j.Target,
		Timeout: time.Duration(*j.TimeoutMS) * time.Millisecond, State: *j.State}
	if j.Offset != nil {
		if *j.Offset < 0 {
			return FailoverRequest{}, fmt.Errorf("%w: \"offset\" %d is negative", ErrBadRequest, *j.Offset)
		}
		r.Offset = *j.Offset
	}
	return r, nil
}

// Marshal encodes r as ParseFailoverRequest reads it.
func (r FailoverRequest) Marshal() []byte {
	b, err := json.Marshal(struct {
		ID        string `json:"id"`
		Master    string `json:"master"`
		Target    string `json:"target"`
		TimeoutMS int64  `json:"timeout_ms"`
		State     string `json:"state"`
		Offset    int64  `json:"offset"`
	}{r.ID, r.Master, r.Target, r.Timeout.Milliseconds(), r.State, r.Offset})
	if err != nil {
		panic("watchdog: json.Marshal of a plain struct: " + err.Error())
	}
	return b
}

// ShardPathParts splits a shard znode path <root>/cluster/<pool>/<shard>
// (e.g. /redis/cluster/icd/redis-0000) into the root, pool and shard.
func ShardPathParts(shardPath string) (root, pool, shard string, err error) {
	parts := strings.Split(shardPath, "/")
	n := len(parts)
	if !strings.HasPrefix(shardPath, "/") || n < 4 || parts[n-3] != "cluster" || parts[n-2] == "" || parts[n-1] == "" {
		return "", "", "", fmt.Errorf("%w: %q (want <root>/cluster/<pool>/<shard>, e.g. /redis/cluster/icd/redis-0000)", ErrNotShardPath, shardPath)
	}
	root = strings.Join(parts[:n-3], "/")
	if root == "" {
		root = "/"
	}
	return root, parts[n-2], parts[n-1], nil
}

// RequestPath is the failover request znode of the shard at shardPath:
// <root>/failover/<pool>/<shard>.
func RequestPath(shardPath string) (string, error) {
	root, pool, shard, err := ShardPathParts(shardPath)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(root, "/") + "/failover/" + pool + "/" + shard, nil
}

// splitAddr checks a "host:port" address.
func splitAddr(addr string) (string, int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	if host == "" {
		return "", 0, fmt.Errorf("address %q has no host", addr)
	}
	var p int
	if _, err := fmt.Sscanf(port, "%d", &p); err != nil || p <= 0 || p > 65535 || fmt.Sprint(p) != port {
		return "", 0, fmt.Errorf("address %q: bad port %q", addr, port)
	}
	return host, p, nil
}

func joinHostPort(host string, port int) string {
	return net.JoinHostPort(host, fmt.Sprint(port))
}
