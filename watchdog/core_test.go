package watchdog

import (
	"testing"
	"time"

	"github.com/shardis/shardis/conf"
)

const (
	nameA1 = "10.0.0.1:6379-0000000001"
	nameA5 = "10.0.0.1:6379-0000000005"
)

// bootstrap: the first watchdog of an empty shard fences its backend,
// registers, finds itself alone and lowest, and becomes master.
var bootstrap = []step{
	// (newTH's first tick asked for the fence.)
	{"session", connected(sess1), nil, wantState(StateStart)},
	{"fenced", beOK(), nil, nil},
	{"probe", probeMaster(0), nil, nil},
	{"empty shard", snapshot(), []string{"register role=candidate epoch=0 offset=0", "state START -> REGISTER"}, nil},
	{"registered", registered(1), []string{"state REGISTER -> FOLLOW", "read-shard"}, nil},
	{"alone", read(mem(addrA, 1, conf.RoleCandidate, 0, 0, 0)), []string{"query-peers []", "state FOLLOW -> PROMOTE"}, nil},
	{"offsets", peers(0, nil), []string{"set-epoch 1", "replicaof no one"}, nil},
	{"promoted", beOK(), []string{"publish role=master epoch=1 offset=0 v=0"}, nil},
	{"published", zkOK(1), []string{"state PROMOTE -> MASTER", "failover (none) -> 10.0.0.1:6379", "unfence"}, nil},
	{"unfenced", beOK(), nil, wantState(StateMaster)},
}

func TestBootstrapMaster(t *testing.T) {
	h := newTH(t)
	run(t, h, bootstrap)
	st := h.c.Status()
	if st.Master != addrA || st.Epoch != 1 || st.Fenced || st.Role != "master" {
		t.Fatalf("status %+v", st)
	}
}

// asMaster is bootstrap followed by the watcher's view of it.
func asMaster() []step {
	return append(append([]step{}, bootstrap...),
		step{"watcher", snapshot(mem(addrA, 1, conf.RoleMaster, 1, 0, 1)), nil, wantState(StateMaster)})
}

func TestMasterStepsDownAfterFailedProbes(t *testing.T) {
	h := newTH(t)
	run(t, h, asMaster())
	run(t, h, []step{
		{"probe 1", probeFail(), nil, nil},
		{"probe 2", probeFail(), nil, wantState(StateMaster)},
		{"probe 3", probeFail(), []string{"state MASTER -> START", "delete-member " + nameA1 + " v=-1", "fence"}, nil},
		{"deleted", zkOK(0), nil, nil},
		{"fence times out", beFail(0), nil, nil},
		{"member gone", snapshot(), nil, wantState(StateStart)},
		{"tick: fence again", tick(500 * time.Millisecond), []string{"fence"}, nil},
		{"still down", probeFail(), nil, nil},
		{"fenced at last", beOK(), nil, nil},
		// A replica took over meanwhile.
		{"new master", snapshot(mem(addrB, 2, conf.RoleMaster, 2, 100, 1)), nil, nil},
		// The backend is back (restarted empty, so a new run id):
		// register at the back of the queue, as a candidate.
		{"backend back", func(h *th) Event { h.runID = "run2"; return probeMaster(0)(h) }, []string{"fence"}, nil},
		{"fenced", beOK(), []string{"register role=candidate epoch=0 offset=0", "state START -> REGISTER"}, nil},
		// It follows the master it knows of at once, and reads the shard.
		{"registered", registered(3), []string{"state REGISTER -> FOLLOW", "state FOLLOW -> FOLLOW",
			"set-epoch 2", "replicaof 10.0.0.2:6379", "unfence", "read-shard"}, nil},
		{"read", read(mem(addrB, 2, conf.RoleMaster, 2, 100, 1), mem(addrA, 3, conf.RoleCandidate, 0, 0, 0)), nil, nil},
		{"replica", beOK(), []string{"publish role=replica epoch=2 offset=0 v=0"}, nil},
		{"published", zkOK(1), nil, wantState(StateFollow)},
	})
	if st := h.c.Status(); st.Master != addrB || st.Epoch != 2 || st.Fenced {
		t.Fatalf("status %+v", st)
	}
}

const (
	nameA2 = "10.0.0.1:6379-0000000002"
	nameB1 = "10.0.0.2:6379-0000000001"
	nameC3 = "10.0.0.3:6379-0000000003"
)

// asReplica: A joins a shard whose master is B (sequence 1) and becomes
// its replica (sequence 2); C (sequence 3) is another replica.
func asReplica() []step {
	return []step{
		{"session", connected(sess1), nil, nil},
		{"fenced", beOK(), nil, nil},
		{"probe", probeMaster(0), nil, nil},
		{"shard", snapshot(mem(addrB, 1, conf.RoleMaster, 1, 50, 3)), []string{"register role=candidate epoch=0 offset=0", "state START -> REGISTER"}, nil},
		{"registered", registered(2), []string{"state REGISTER -> FOLLOW", "state FOLLOW -> FOLLOW",
			"set-epoch 1", "replicaof 10.0.0.2:6379", "unfence", "read-shard"}, nil},
		{"read", read(mem(addrB, 1, conf.RoleMaster, 1, 50, 3), mem(addrA, 2, conf.RoleCandidate, 0, 0, 0)), nil, nil},
		{"replicating", beOK(), []string{"publish role=replica epoch=1 offset=0 v=0"}, nil},
		{"published", zkOK(1), nil, nil},
		{"in sync", probeReplica(addrB, 100, true), nil, wantState(StateFollow)},
		{"C joins", snapshot(mem(addrB, 1, conf.RoleMaster, 1, 50, 3), mem(addrA, 2, conf.RoleReplica, 1, 0, 1),
			mem(addrC, 3, conf.RoleReplica, 1, 80, 1)), nil, nil},
	}
}

// masterGone is the watcher's update after B's member went away.
func masterGone(cOffset int64) func(h *th) Event {
	return snapshot(mem(addrA, 2, conf.RoleReplica, 1, 0, 1), mem(addrC, 3, conf.RoleReplica, 1, cOffset, 1))
}

func TestReplicaPromotesWhenFreshest(t *testing.T) {
	h := newTH(t)
	run(t, h, asReplica())
	run(t, h, []step{
		{"master gone", masterGone(80), []string{"query-peers [" + nameC3 + "]", "state FOLLOW -> PROMOTE"}, nil},
		{"offsets", peers(100, map[string]PeerResult{nameC3: {OK: true, Offset: 100}}),
			[]string{"fence", "set-epoch 2", "replicaof no one"}, nil},
		{"promoted", beOK(), []string{"publish role=master epoch=2 offset=100 v=1"}, nil},
		{"published", zkOK(2), []string{"state PROMOTE -> MASTER", "failover 10.0.0.2:6379 -> 10.0.0.1:6379", "unfence"}, nil},
		{"unfenced", beOK(), nil, wantState(StateMaster)},
		// A watcher update older than my publication changes nothing.
		{"stale update", masterGone(80), nil, wantState(StateMaster)},
		{"watcher", snapshot(mem(addrA, 2, conf.RoleMaster, 2, 100, 2), mem(addrC, 3, conf.RoleReplica, 1, 80, 1)), nil, wantState(StateMaster)},
	})
}

func TestReplicaYieldsToAMoreAdvancedReplica(t *testing.T) {
	h := newTH(t)
	run(t, h, asReplica())
	run(t, h, []step{
		{"master gone", masterGone(80), []string{"query-peers [" + nameC3 + "]", "state FOLLOW -> PROMOTE"}, nil},
		// C answers with a higher offset: A must not promote (acknowledged
		// writes may exist only on C).
		{"offsets", peers(100, map[string]PeerResult{nameC3: {OK: true, Offset: 150}}),
			[]string{"state PROMOTE -> START", "delete-member " + nameA2 + " v=-1", "fence"}, nil},
		{"deleted", zkOK(0), nil, nil},
		{"fenced", beOK(), []string{"register role=replica epoch=1 offset=100", "state START -> REGISTER"}, nil},
		// No master: a replica needs no fence.
		{"registered", registered(4), []string{"state REGISTER -> FOLLOW", "unfence", "read-shard"}, nil},
		{"unfenced", beOK(), nil, nil},
		{"read", read(mem(addrC, 3, conf.RoleReplica, 1, 80, 1), mem(addrA, 4, conf.RoleReplica, 1, 100, 0)), nil, nil},
		// C promotes; A follows it.
		{"C master", snapshot(mem(addrC, 3, conf.RoleMaster, 3, 150, 2), mem(addrA, 4, conf.RoleReplica, 1, 100, 0)),
			[]string{"state FOLLOW -> FOLLOW", "set-epoch 3", "replicaof 10.0.0.3:6379"}, nil},
		{"replica", beOK(), []string{"publish role=replica epoch=3 offset=100 v=0"}, nil},
	})
}

func TestReplicaInSyncPromotesWhenAheadMembersAreUnreachable(t *testing.T) {
	h := newTH(t)
	run(t, h, asReplica())
	run(t, h, []step{
		{"master gone", masterGone(150), []string{"query-peers [" + nameC3 + "]", "state FOLLOW -> PROMOTE"}, nil},
		// C published 150 but does not answer (its node is dead; its
		// member lingers until its session expires). A's link was up a
		// moment ago: promote.
		{"offsets", peers(100, map[string]PeerResult{nameC3: {Err: "connection refused"}}),
			[]string{"fence", "set-epoch 2", "replicaof no one"}, nil},
	})
}

func TestStaleReplicaYieldsWhenAheadMembersAreUnreachable(t *testing.T) {
	h := newTH(t)
	run(t, h, asReplica())
	run(t, h, []step{
		{"link down", probeReplica(addrB, 100, false), nil, nil},
		{"11 s later: publish the offset", tick(11 * time.Second), []string{"publish role=replica epoch=1 offset=100 v=1"}, nil},
		{"published", zkOK(2), nil, nil},
		{"master gone", snapshot(mem(addrA, 2, conf.RoleReplica, 1, 100, 2), mem(addrC, 3, conf.RoleReplica, 1, 150, 1)),
			[]string{"query-peers [" + nameC3 + "]", "state FOLLOW -> PROMOTE"}, nil},
		{"offsets", peers(100, map[string]PeerResult{nameC3: {Err: "connection refused"}}),
			[]string{"state PROMOTE -> START", "delete-member " + nameA2 + " v=-1", "fence"}, nil},
	})
}

// A returning old master registers as a candidate: it is not asked and
// cannot hold up the election.
func TestCandidatesDoNotTakePartInTheElection(t *testing.T) {
	h := newTH(t)
	run(t, h, asReplica())
	run(t, h, []step{
		{"master gone, back as candidate", snapshot(mem(addrA, 2, conf.RoleReplica, 1, 0, 1),
			mem(addrC, 3, conf.RoleReplica, 1, 80, 1), mem(addrB, 4, conf.RoleCandidate, 0, 900, 0)),
			[]string{"query-peers [" + nameC3 + "]", "state FOLLOW -> PROMOTE"}, nil},
		{"offsets", peers(100, map[string]PeerResult{nameC3: {OK: true, Offset: 100}}),
			[]string{"fence", "set-epoch 2", "replicaof no one"}, nil},
	})
}

// Only the lowest member acts; the others publish their offset once.
func TestNonLowestReplicaWaits(t *testing.T) {
	h := newTH(t)
	run(t, h, asReplica())
	run(t, h, []step{
		{"master gone, C lowest", snapshot(mem(addrC, 0, conf.RoleReplica, 1, 80, 1), mem(addrA, 2, conf.RoleReplica, 1, 0, 1)),
			[]string{"publish role=replica epoch=1 offset=100 v=1"}, wantState(StateFollow)},
		{"published", zkOK(2), nil, nil},
		{"tick", tick(time.Second), nil, wantState(StateFollow)},
		{"C promoted", snapshot(mem(addrC, 0, conf.RoleMaster, 0, 80, 2), mem(addrA, 2, conf.RoleReplica, 1, 100, 2)),
			[]string{"state FOLLOW -> FOLLOW", "set-epoch 0", "replicaof 10.0.0.3:6379"}, nil},
	})
}

// A master whose member another member overtook (two masters: the lowest
// wins) demotes itself.
func TestPromotionAbandonedWhenAMasterAppears(t *testing.T) {
	h := newTH(t)
	run(t, h, asReplica())
	run(t, h, []step{
		{"master gone", masterGone(80), []string{"query-peers [" + nameC3 + "]", "state FOLLOW -> PROMOTE"}, nil},
		{"B is back as master (stale view)", snapshot(mem(addrB, 1, conf.RoleMaster, 1, 50, 3), mem(addrA, 2, conf.RoleReplica, 1, 0, 1)),
			[]string{"state PROMOTE -> FOLLOW"}, nil},
		{"late offsets", peers(100, nil), nil, wantState(StateFollow)},
	})
}
