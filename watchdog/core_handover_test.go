package watchdog

import (
	"testing"
	"time"

	"github.com/shardis/shardis/conf"
)

func req(state string, master, target string, off int64) FailoverRequest {
	return FailoverRequest{ID: "r1", Master: master, Target: target, Timeout: 5 * time.Second, State: state, Offset: off}
}

// masterWithReplicaB: A (1) is master, B (2) its replica.
func masterWithReplicaB() []step {
	return append(asMaster(), step{"B joins", snapshot(mem(addrA, 1, conf.RoleMaster, 1, 0, 1), mem(addrB, 2, conf.RoleReplica, 1, 0, 1)), nil, nil})
}

func TestHandoverMasterSide(t *testing.T) {
	h := newTH(t)
	run(t, h, masterWithReplicaB())
	run(t, h, []step{
		{"request", request(0, req(RequestRequested, nameA1, addrB, 0)), []string{"state MASTER -> MASTER", "fence"}, nil},
		{"paused", beOK(), []string{"read-offset"}, nil},
		{"offset", beOffset(500), []string{"update-request paused offset=500 v=0"}, nil},
		{"written", zkOK(1), nil, nil},
		{"watcher: paused", request(1, req(RequestPaused, nameA1, addrB, 500)), nil, wantState(StateMaster)},
		// The target's transaction: A replica, B master, request deleted.
		{"switched", snapshot(mem(addrA, 1, conf.RoleReplica, 2, 500, 2), mem(addrB, 2, conf.RoleMaster, 2, 500, 2)),
			[]string{"state MASTER -> FOLLOW", "state FOLLOW -> FOLLOW", "set-epoch 2", "replicaof 10.0.0.2:6379", "unfence"}, nil},
		{"request gone", noRequest(), nil, wantState(StateFollow)},
	})
}

// The request vanishes before the shard update: the master must not
// unfence before a fresh read says it is still master.
func TestHandoverMasterSideRequestGoneFirst(t *testing.T) {
	h := newTH(t)
	run(t, h, masterWithReplicaB())
	run(t, h, []step{
		{"request", request(0, req(RequestRequested, nameA1, addrB, 0)), []string{"state MASTER -> MASTER", "fence"}, nil},
		{"paused", beOK(), []string{"read-offset"}, nil},
		{"offset", beOffset(500), []string{"update-request paused offset=500 v=0"}, nil},
		{"written", zkOK(1), nil, nil},
		{"request gone", noRequest(), []string{"read-shard"}, nil},
		{"read: switched", read(mem(addrA, 1, conf.RoleReplica, 2, 500, 2), mem(addrB, 2, conf.RoleMaster, 2, 500, 2)),
			[]string{"state MASTER -> FOLLOW", "state FOLLOW -> FOLLOW", "set-epoch 2", "replicaof 10.0.0.2:6379", "unfence"}, nil},
	})
}

func TestHandoverAbortedKeepsMaster(t *testing.T) {
	h := newTH(t)
	run(t, h, masterWithReplicaB())
	run(t, h, []step{
		{"request", request(0, req(RequestRequested, nameA1, addrB, 0)), []string{"state MASTER -> MASTER", "fence"}, nil},
		{"paused", beOK(), []string{"read-offset"}, nil},
		{"offset", beOffset(500), []string{"update-request paused offset=500 v=0"}, nil},
		{"written", zkOK(1), nil, nil},
		{"admin gave up", noRequest(), []string{"read-shard"}, nil},
		{"read: still master", read(mem(addrA, 1, conf.RoleMaster, 1, 0, 1), mem(addrB, 2, conf.RoleReplica, 1, 400, 1)),
			[]string{"state MASTER -> MASTER", "unfence"}, nil},
		{"unfenced", beOK(), nil, wantState(StateMaster)},
	})
}

func TestHandoverTimesOutOnTheMastersClock(t *testing.T) {
	h := newTH(t)
	run(t, h, masterWithReplicaB())
	run(t, h, []step{
		{"request", request(0, req(RequestRequested, nameA1, addrB, 0)), []string{"state MASTER -> MASTER", "fence"}, nil},
		{"paused", beOK(), []string{"read-offset"}, nil},
		{"offset", beOffset(500), []string{"update-request paused offset=500 v=0"}, nil},
		{"written", zkOK(1), nil, nil},
		{"5.9 s", tick(5900 * time.Millisecond), nil, nil},
		{"6.1 s (timeout + grace)", tick(200 * time.Millisecond), []string{"delete-request v=1"}, nil},
		{"deleted", zkOK(0), []string{"read-shard"}, nil},
		{"read: still master", read(mem(addrA, 1, conf.RoleMaster, 1, 0, 1), mem(addrB, 2, conf.RoleReplica, 1, 400, 1)),
			[]string{"state MASTER -> MASTER", "unfence"}, nil},
	})
}

// The master waits (unfenced) until the target is a replica of it.
func TestHandoverWaitsForAnEligibleTarget(t *testing.T) {
	h := newTH(t)
	run(t, h, asMaster())
	run(t, h, []step{
		{"B candidate", snapshot(mem(addrA, 1, conf.RoleMaster, 1, 0, 1), mem(addrB, 2, conf.RoleCandidate, 0, 0, 0)), nil, nil},
		{"request", request(0, req(RequestRequested, nameA1, addrB, 0)), []string{"state MASTER -> MASTER"}, nil},
		{"B replica", snapshot(mem(addrA, 1, conf.RoleMaster, 1, 0, 1), mem(addrB, 2, conf.RoleReplica, 1, 0, 1)), []string{"fence"}, nil},
	})
}

func TestHandoverTargetSide(t *testing.T) {
	h := newTH(t)
	run(t, h, asReplica())
	run(t, h, []step{
		{"requested", request(0, req(RequestRequested, nameB1, addrA, 0)), nil, nil},
		{"paused", request(1, req(RequestPaused, nameB1, addrA, 120)), []string{"read-offset"}, nil},
		{"behind", beOffset(110), nil, nil},
		{"tick", tick(500 * time.Millisecond), []string{"read-offset"}, nil},
		{"caught up", beOffset(120), []string{"state FOLLOW -> PROMOTE", "fence", "set-epoch 2", "replicaof no one"}, nil},
		{"promoted", beOK(), []string{"handover old=" + nameB1 + "(v=3 role=replica epoch=2 offset=120) me(v=1 role=master epoch=2 offset=120) request v=1"}, nil},
		{"switched", zkOK(0), []string{"state PROMOTE -> MASTER", "manual-failover 10.0.0.2:6379 -> 10.0.0.1:6379", "unfence"}, nil},
		{"unfenced", beOK(), nil, wantState(StateMaster)},
		{"watcher", snapshot(mem(addrB, 1, conf.RoleReplica, 2, 120, 4), mem(addrA, 2, conf.RoleMaster, 2, 120, 2)), nil, wantState(StateMaster)},
	})
	if st := h.c.Status(); st.Master != addrA || st.Epoch != 2 {
		t.Fatalf("status %+v", st)
	}
}

// The request goes away while the target promotes its backend: it
// follows the old master again.
func TestHandoverTargetReverts(t *testing.T) {
	h := newTH(t)
	run(t, h, asReplica())
	run(t, h, []step{
		{"paused", request(1, req(RequestPaused, nameB1, addrA, 100)), []string{"read-offset"}, nil},
		{"caught up", beOffset(100), []string{"state FOLLOW -> PROMOTE", "fence", "set-epoch 2", "replicaof no one"}, nil},
		{"withdrawn", noRequest(), []string{"state PROMOTE -> FOLLOW"}, nil},
		{"promoted", beOK(), []string{"set-epoch 1", "replicaof 10.0.0.2:6379", "unfence"}, nil},
	})
}

// A target below the master in the queue re-registers first, so that the
// new epoch (its sequence) is higher than the old.
func TestHandoverTargetReRegistersBehindTheMaster(t *testing.T) {
	h := newTH(t)
	run(t, h, asReplica())
	nameB5 := memberName(addrB, 5)
	run(t, h, []step{
		{"B re-registered as 5, master", snapshot(mem(addrA, 2, conf.RoleReplica, 1, 0, 1), mem(addrB, 5, conf.RoleMaster, 5, 0, 1)),
			[]string{"state FOLLOW -> FOLLOW", "set-epoch 5", "replicaof 10.0.0.2:6379"}, nil},
		{"following", beOK(), []string{"publish role=replica epoch=5 offset=100 v=1"}, nil},
		{"published", zkOK(2), nil, nil},
		{"request", request(0, req(RequestRequested, nameB5, addrA, 0)), []string{"state FOLLOW -> START", "delete-member " + nameA2 + " v=-1", "fence"}, nil},
		{"deleted", zkOK(0), nil, nil},
		{"fenced", beOK(), []string{"register role=replica epoch=5 offset=100", "state START -> REGISTER"}, nil},
		{"registered", registered(6), []string{"state REGISTER -> FOLLOW", "unfence", "read-shard"}, nil},
	})
}

// After a manual failover, members below the new master remain. If the
// new master dies, the lowest of them must not promote with an older
// epoch: it takes a new sequence first.
func TestEpochOnlyGrowsAfterAManualFailover(t *testing.T) {
	h := newTH(t)
	run(t, h, asReplica()) // A (2) replica of B (1); C (3)
	run(t, h, []step{
		// C became master by a manual failover; A follows it.
		{"C master", snapshot(mem(addrB, 1, conf.RoleReplica, 3, 50, 4), mem(addrA, 2, conf.RoleReplica, 1, 0, 1), mem(addrC, 3, conf.RoleMaster, 3, 80, 2)),
			[]string{"state FOLLOW -> FOLLOW", "set-epoch 3", "replicaof 10.0.0.3:6379"}, nil},
		{"following", beOK(), []string{"publish role=replica epoch=3 offset=100 v=1"}, nil},
		{"published", zkOK(2), nil, nil},
		// C dies and B re-registered behind; A is the lowest member.
		{"C gone", snapshot(mem(addrA, 2, conf.RoleReplica, 3, 100, 2), mem(addrB, 4, conf.RoleReplica, 3, 50, 0)),
			[]string{"state FOLLOW -> START", "delete-member " + nameA2 + " v=-1", "fence"}, nil},
		{"deleted", zkOK(0), nil, nil},
		{"fenced", beOK(), []string{"register role=replica epoch=3 offset=100", "state START -> REGISTER"}, nil},
		{"registered", registered(5), []string{"state REGISTER -> FOLLOW", "unfence", "read-shard"}, nil},
		{"unfenced", beOK(), nil, nil},
		// B (4) is below the epoch too and re-registers; then A (5) is lowest.
		{"A lowest", read(mem(addrA, 5, conf.RoleReplica, 3, 100, 0), mem(addrB, 6, conf.RoleReplica, 3, 50, 0)),
			[]string{"query-peers [10.0.0.2:6379-0000000006]", "state FOLLOW -> PROMOTE"}, nil},
		{"offsets", peers(100, map[string]PeerResult{memberName(addrB, 6): {OK: true, Offset: 50}}),
			[]string{"fence", "set-epoch 5", "replicaof no one"}, nil},
	})
}
