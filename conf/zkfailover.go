package conf

import (
	"fmt"
	"time"
)

// The manual failover request (docs/failover.md). An operator's
// `shardis-admin failover` creates one EPHEMERAL znode per shard,
// Layout.FailoverPath(pool, shard):
//
//	<root>/failover/<pool>/<shard>
//	{"id":"9f2c…","master":"127.0.0.1:7001-0000000003","target":"127.0.0.1:7002",
//	 "timeout_ms":10000,"state":"requested","offset":0}
//
// that the shard's watchdogs obey: the master's watchdog pauses writes and
// writes state "paused" with its offset; the target's watchdog waits until
// its backend has that offset, promotes it, switches both members' roles
// and deletes the request in one transaction. The znode belongs to the
// admin's session, so it goes away if the admin dies.

// Failover request states.
const (
	FailoverRequested = "requested" // written by the admin
	FailoverPaused    = "paused"    // written by the master's watchdog, with Offset
)

// MaxFailoverTimeout bounds a failover request's timeout_ms.
const MaxFailoverTimeout = 10 * time.Minute

// ErrBadFailoverRequest is failover request data that
// ParseFailoverRequest refuses. It wraps ErrBadZnodeData.
var ErrBadFailoverRequest = fmt.Errorf("%w: failover request", ErrBadZnodeData)

// FailoverRequest is the data of a failover request znode.
type FailoverRequest struct {
	ID      string        // "id": names this failover run
	Master  string        // "master": znode name of the master member the request is for
	Target  string        // "target": host:port of the backend to promote
	Timeout time.Duration // "timeout_ms": how long the master may stay paused
	State   string        // "state": FailoverRequested or FailoverPaused
	Offset  int64         // "offset": the master's replication offset once paused
}

// requestErr marks an error of the shared JSON helpers (whose text
// already reads "bad znode data: failover request: ...") as
// ErrBadFailoverRequest too.
type requestErr struct{ err error }

func (e requestErr) Error() string   { return e.err.Error() }
func (e requestErr) Unwrap() []error { return []error{ErrBadFailoverRequest, e.err} }

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadFailoverRequest, fmt.Sprintf(format, args...))
}

// ParseFailoverRequest parses a failover request znode's data. Unknown
// fields are ignored (a newer admin may add some); "offset" is optional;
// a missing or invalid known field is an error wrapping
// ErrBadFailoverRequest (and so ErrBadZnodeData).
func ParseFailoverRequest(b []byte) (FailoverRequest, error) {
	const what = "failover request"
	if isEmptyData(b) {
		return FailoverRequest{}, badRequest("empty")
	}
	fields, err := decodeObject(what, b)
	if err != nil {
		return FailoverRequest{}, requestErr{err}
	}
	var r FailoverRequest
	var has struct{ id, master, target, timeout, state bool }
	for _, f := range fields {
		switch f.Key {
		case "id", "master", "target", "state":
			s, err := jsonString(what, f.Key, f.Raw)
			if err != nil {
				return FailoverRequest{}, requestErr{err}
			}
			switch f.Key {
			case "id":
				r.ID, has.id = s, s != ""
			case "master":
				r.Master, has.master = s, s != ""
			case "target":
				if _, _, err := splitHostPort(s, "target"); err != nil {
					return FailoverRequest{}, badRequest("\"target\": %v", err)
				}
				r.Target, has.target = s, true
			case "state":
				if s != FailoverRequested && s != FailoverPaused {
					return FailoverRequest{}, badRequest("\"state\" %q is not %q or %q", s, FailoverRequested, FailoverPaused)
				}
				r.State, has.state = s, true
			}
		case "timeout_ms":
			n, err := jsonInt(what, f.Key, f.Raw, 1, MaxFailoverTimeout.Milliseconds())
			if err != nil {
				return FailoverRequest{}, requestErr{err}
			}
			r.Timeout, has.timeout = time.Duration(n)*time.Millisecond, true
		case "offset":
			n, err := jsonInt(what, f.Key, f.Raw, 0, 1<<63-1)
			if err != nil {
				return FailoverRequest{}, requestErr{err}
			}
			r.Offset = n
		}
	}
	switch {
	case !has.id:
		return FailoverRequest{}, badRequest("missing \"id\"")
	case !has.master:
		return FailoverRequest{}, badRequest("missing \"master\"")
	case !has.target:
		return FailoverRequest{}, badRequest("missing \"target\"")
	case !has.timeout:
		return FailoverRequest{}, badRequest("missing \"timeout_ms\"")
	case !has.state:
		return FailoverRequest{}, badRequest("missing \"state\"")
	}
	return r, nil
}

// Marshal encodes r as ParseFailoverRequest reads it.
func (r FailoverRequest) Marshal() []byte {
	return mustJSON(struct {
		ID        string `json:"id"`
		Master    string `json:"master"`
		Target    string `json:"target"`
		TimeoutMS int64  `json:"timeout_ms"`
		State     string `json:"state"`
		Offset    int64  `json:"offset"`
	}{r.ID, r.Master, r.Target, r.Timeout.Milliseconds(), r.State, r.Offset})
}
