package admin

import (
	"errors"
	"fmt"
	"net"

	"github.com/shardis/shardis/hashring"
)

// DefaultMaxLag is check's default bound on a replica's lag, in bytes of
// replication stream.
const DefaultMaxLag = 1 << 20

// CheckOptions bound what check accepts.
type CheckOptions struct {
	MaxLag int64 // bytes a replica may lag behind its master; negative: no bound
}

// Problem kinds.
const (
	ProblemUncovered   = "uncovered"   // slots no shard owns
	ProblemOverlap     = "overlap"     // slots two shards own
	ProblemTopology    = "topology"    // other invalid topology (bad znode data, no shards, ...)
	ProblemMasterless  = "masterless"  // a shard that needs a master has none
	ProblemUnreachable = "unreachable" // a backend did not answer INFO
	ProblemRole        = "role"        // a backend's own role contradicts ZooKeeper
	ProblemLinkDown    = "link-down"   // a replica's link to its master is down
	ProblemLag         = "lag"         // a replica lags more than the bound
	ProblemFollows     = "follows"     // a replica follows another master than the shard's
)

// Problem is one thing check found wrong.
type Problem struct {
	Kind    string `json:"kind"`
	Shard   string `json:"shard,omitempty"`
	Addr    string `json:"addr,omitempty"`
	Message string `json:"message"`
}

// CheckReport is check's verdict on a pool.
type CheckReport struct {
	Pool     string    `json:"pool"`
	Healthy  bool      `json:"healthy"`
	Problems []Problem `json:"problems"`
	Warnings []string  `json:"warnings,omitempty"`
	Probed   bool      `json:"probed"`
}

// Check turns a Status into problems: slots not covered or owned twice
// (and other invalid topology), shards without a master, and, for
// probed backends, those that do not answer, contradict their published
// role, have their replication link down, follow another master, or lag
// by more than opts.MaxLag bytes.
func Check(st *Status, opts CheckOptions) *CheckReport {
	r := &CheckReport{Pool: st.Pool, Problems: []Problem{}, Warnings: st.Warnings, Probed: st.Probed}
	add := func(kind, shard, addr, format string, args ...any) {
		r.Problems = append(r.Problems, Problem{Kind: kind, Shard: shard, Addr: addr, Message: fmt.Sprintf(format, args...)})
	}
	if t := st.topology; t != nil {
		if err := t.Validate(); err != nil {
			kind := ProblemTopology
			switch {
			case errors.Is(err, hashring.ErrSlotsNotCovered):
				kind = ProblemUncovered
			case errors.Is(err, hashring.ErrSlotsOverlap):
				kind = ProblemOverlap
			}
			add(kind, "", "", "%v", err)
		}
	} else if !st.Valid {
		add(ProblemTopology, "", "", "%s", st.Error)
	}
	for _, name := range st.Masterless {
		add(ProblemMasterless, name, "", "shard %s has no master: its keys get CLUSTERDOWN", name)
	}
	if st.Probed {
		for _, s := range st.Shards {
			checkShard(s, opts, add)
		}
	}
	r.Healthy = len(r.Problems) == 0
	return r
}

func checkShard(s ShardStatus, opts CheckOptions, add func(kind, shard, addr, format string, args ...any)) {
	if m := s.Master; m != nil {
		switch {
		case m.Backend == nil:
			add(ProblemUnreachable, s.Name, m.Addr, "shard %s: master %s does not answer: %s", s.Name, m.Addr, m.Error)
		case m.Backend.Role != "master":
			add(ProblemRole, s.Name, m.Addr, "shard %s: master %s reports role %q", s.Name, m.Addr, m.Backend.Role)
		}
	}
	for _, n := range s.Replicas {
		switch {
		case n.Backend == nil:
			add(ProblemUnreachable, s.Name, n.Addr, "shard %s: replica %s does not answer: %s", s.Name, n.Addr, n.Error)
		case n.Backend.Role != "slave":
			add(ProblemRole, s.Name, n.Addr, "shard %s: replica %s reports role %q", s.Name, n.Addr, n.Backend.Role)
		case n.Backend.LinkStatus != "" && n.Backend.LinkStatus != "up":
			add(ProblemLinkDown, s.Name, n.Addr, "shard %s: replica %s: master_link_status is %s", s.Name, n.Addr, n.Backend.LinkStatus)
		case s.Master != nil && !sameAddr(n.Backend.MasterAddr(), s.Master.Addr):
			add(ProblemFollows, s.Name, n.Addr, "shard %s: replica %s follows %s, not the master %s", s.Name, n.Addr, n.Backend.MasterAddr(), s.Master.Addr)
		case n.Lag != nil && opts.MaxLag >= 0 && *n.Lag > opts.MaxLag:
			add(ProblemLag, s.Name, n.Addr, "shard %s: replica %s lags %d bytes (more than %d)", s.Name, n.Addr, *n.Lag, opts.MaxLag)
		}
	}
}

// sameAddr compares two "host:port" addresses, allowing localhost for
// 127.0.0.1 and brackets around IPv6 hosts.
func sameAddr(a, b string) bool {
	if a == b {
		return true
	}
	norm := func(s string) string {
		h, p, err := net.SplitHostPort(s)
		if err != nil {
			return s
		}
		if h == "localhost" {
			h = "127.0.0.1"
		}
		return h + "|" + p
	}
	return norm(a) == norm(b)
}
