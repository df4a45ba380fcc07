package watchdog

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shardis/shardis/conf"
)

// The scenario tests drive a Core with events and compare the actions it
// returns, as short strings (Action.String; transitions as
// "state FROM -> TO"). Each step builds its event from the harness, so
// that it can answer the operation the core has in flight.

const (
	addrA = "10.0.0.1:6379" // the core under test
	addrB = "10.0.0.2:6379"
	addrC = "10.0.0.3:6379"
	shard = "/redis/cluster/icd/redis-0000"
	sess1 = int64(0x100)
	sess2 = int64(0x200)
)

var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

type th struct {
	t   *testing.T
	c   *Core
	now time.Time

	zk    Action // the ZooKeeper action in flight
	be    []Action
	query Action
	runID string
}

func newTH(t *testing.T) *th {
	h := &th{t: t, now: t0, runID: "run1", c: NewCore(CoreConfig{
		Addr: addrA, ProbeFailures: 3, FreshFor: 10 * time.Second,
		PublishEvery: 2 * time.Second, RetryAfter: 500 * time.Millisecond,
	})}
	acts := h.c.Step(Tick{Now: t0})
	if len(acts) != 1 || acts[0].Kind != ActFence {
		t.Fatalf("first tick: %v, want a fence", acts)
	}
	h.record(acts)
	return h
}

type step struct {
	name  string
	ev    func(h *th) Event
	want  []string // nil: no action
	check func(t *testing.T, h *th)
}

func run(t *testing.T, h *th, steps []step) {
	t.Helper()
	for i, s := range steps {
		ev := s.ev(h)
		acts := h.c.Step(ev)
		got := h.record(acts)
		if !equalStrings(got, s.want) {
			t.Fatalf("step %d (%s): event %T%+v\n got: %s\nwant: %s", i, s.name, ev, ev, fmtList(got), fmtList(s.want))
		}
		if s.check != nil {
			s.check(t, h)
		}
	}
}

func (h *th) record(acts []Action) []string {
	var out []string
	for _, a := range acts {
		switch {
		case a.IsZK():
			h.zk = a
		case a.IsBackend():
			if len(h.be) > 0 && h.be[0].ID != a.ID {
				h.be = nil
			}
			h.be = append(h.be, a)
		case a.Kind == ActQueryPeers:
			h.query = a
		}
		if a.Kind == ActTransition {
			out = append(out, fmt.Sprintf("state %s -> %s", a.From, a.To))
			continue
		}
		out = append(out, a.String())
	}
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func fmtList(l []string) string {
	if len(l) == 0 {
		return "(none)"
	}
	return "\n  " + strings.Join(l, "\n  ")
}

// ---- events ----

func tick(d time.Duration) func(h *th) Event {
	return func(h *th) Event {
		h.now = h.now.Add(d)
		return Tick{Now: h.now}
	}
}

func connected(id int64) func(h *th) Event {
	return func(h *th) Event { return SessionChange{Kind: conf.SessionConnected, SessionID: id} }
}

func disconnected() func(h *th) Event {
	return func(h *th) Event { return SessionChange{Kind: conf.SessionDisconnected} }
}

func expired() func(h *th) Event {
	return func(h *th) Event { return SessionChange{Kind: conf.SessionExpired} }
}

func probeMaster(off int64) func(h *th) Event {
	return func(h *th) Event {
		return Probe{OK: true, Info: BackendInfo{Role: "master", Offset: off, RunID: h.runID}, After: h.c.BatchesDone()}
	}
}

func probeReplica(master string, off int64, link bool) func(h *th) Event {
	return func(h *th) Event {
		host, port, _ := splitAddr(master)
		return Probe{OK: true, Info: BackendInfo{Role: "slave", MasterHost: host, MasterPort: port, LinkUp: link,
			Offset: off, RunID: h.runID}, After: h.c.BatchesDone()}
	}
}

func probeFail() func(h *th) Event {
	return func(h *th) Event { return Probe{Err: "i/o timeout"} }
}

// beOK answers the backend batch in flight: every action done.
func beOK() func(h *th) Event {
	return func(h *th) Event { return BackendDone{ID: h.be[0].ID, Done: len(h.be)} }
}

// beOffset answers an ActReadOffset.
func beOffset(off int64) func(h *th) Event {
	return func(h *th) Event { return BackendDone{ID: h.be[0].ID, Done: 1, Offset: off} }
}

func beFail(done int) func(h *th) Event {
	return func(h *th) Event { return BackendDone{ID: h.be[0].ID, Done: done, Err: errors.New("i/o timeout")} }
}

// registered answers ActRegister with member seq.
func registered(seq int64) func(h *th) Event {
	return func(h *th) Event {
		name := memberName(addrA, seq)
		return Registered{ID: h.zk.ID, Member: MemberRef{Path: shard + "/" + name, Name: name, Seq: seq}}
	}
}

func zkOK(version int32) func(h *th) Event {
	return func(h *th) Event { return ZKDone{ID: h.zk.ID, Version: version} }
}

func zkErr(err error) func(h *th) Event {
	return func(h *th) Event { return ZKDone{ID: h.zk.ID, Err: err} }
}

// snapshot is a watcher update.
func snapshot(ms ...Member) func(h *th) Event {
	return func(h *th) Event { return Membership{Members: ms} }
}

// read answers the ActReadShard in flight.
func read(ms ...Member) func(h *th) Event {
	return func(h *th) Event { return Membership{ID: h.zk.ID, Members: ms} }
}

func peers(self int64, others map[string]PeerResult) func(h *th) Event {
	return func(h *th) Event {
		return PeerOffsets{ID: h.query.ID, Self: PeerResult{OK: true, Offset: self}, Peers: others}
	}
}

func request(version int32, r FailoverRequest) func(h *th) Event {
	return func(h *th) Event { return RequestUpdate{Exists: true, Version: version, Req: r} }
}

func noRequest() func(h *th) Event {
	return func(h *th) Event { return RequestUpdate{} }
}

// ---- members ----

func memberName(addr string, seq int64) string { return fmt.Sprintf("%s-%010d", addr, seq) }

func mem(addr string, seq int64, role conf.Role, epoch, off int64, version int32) Member {
	name := memberName(addr, seq)
	return Member{Name: name, Path: shard + "/" + name, Seq: seq, Addr: addr, Role: role,
		Epoch: epoch, Offset: off, Version: version, Owner: 1, Valid: true}
}

func wantState(s State) func(t *testing.T, h *th) {
	return func(t *testing.T, h *th) {
		t.Helper()
		if got := h.c.Status().State; got != s {
			t.Fatalf("state %s, want %s", got, s)
		}
	}
}
