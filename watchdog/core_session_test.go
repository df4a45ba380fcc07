package watchdog

import (
	"testing"
	"time"

	"github.com/shardis/shardis/conf"
)

func TestMasterFencesOnDisconnectAndResumes(t *testing.T) {
	h := newTH(t)
	run(t, h, asMaster())
	run(t, h, []step{
		{"disconnected", disconnected(), []string{"state MASTER -> FENCE", "fence"}, nil},
		{"fenced", beOK(), nil, nil},
		{"probe", probeMaster(10), nil, wantState(StateFence)},
		// The same session comes back: read the shard before unfencing.
		{"reconnected", connected(sess1), []string{"read-shard"}, nil},
		// A watcher update is not enough (it may predate the outage).
		{"watcher", snapshot(mem(addrA, 1, conf.RoleMaster, 1, 0, 1)), nil, wantState(StateFence)},
		{"read", read(mem(addrA, 1, conf.RoleMaster, 1, 0, 1)), []string{"state FENCE -> MASTER", "unfence"}, nil},
		{"unfenced", beOK(), nil, wantState(StateMaster)},
	})
}

func TestMasterDemotesAfterSessionExpiry(t *testing.T) {
	h := newTH(t)
	run(t, h, asMaster())
	run(t, h, []step{
		{"disconnected", disconnected(), []string{"state MASTER -> FENCE", "fence"}, nil},
		{"fenced", beOK(), nil, nil},
		{"expired", expired(), []string{"state FENCE -> START"}, nil},
		// B took over meanwhile (the watcher reads once the new session is up).
		{"new session", func(h *th) Event {
			return SessionChange{Kind: conf.SessionConnected, SessionID: sess2, NewSession: true}
		}, []string{"delete-member " + nameA1 + " v=-1"}, nil},
		{"deleted (it was gone already)", zkOK(0), []string{"register role=candidate epoch=0 offset=0", "state START -> REGISTER"}, nil},
		{"B master", snapshot(mem(addrB, 2, conf.RoleMaster, 2, 0, 1)), nil, nil},
		{"registered", registered(3), []string{"state REGISTER -> FOLLOW", "state FOLLOW -> FOLLOW",
			"set-epoch 2", "replicaof 10.0.0.2:6379", "unfence", "read-shard"}, nil},
	})
}

func TestExpiryWhileFollowingReRegisters(t *testing.T) {
	h := newTH(t)
	run(t, h, asReplica())
	run(t, h, []step{
		{"disconnected", disconnected(), nil, wantState(StateFollow)},
		{"expired", expired(), []string{"state FOLLOW -> START", "fence"}, nil},
		{"fenced", beOK(), nil, nil},
		{"new session", connected(sess2), []string{"delete-member " + nameA2 + " v=-1"}, nil},
		// It was replicating B: it registers as a replica.
		{"deleted", zkOK(0), []string{"register role=replica epoch=1 offset=100", "state START -> REGISTER"}, nil},
	})
}

func TestBackendRestartMakesMasterStepDown(t *testing.T) {
	h := newTH(t)
	run(t, h, asMaster())
	run(t, h, []step{
		{"restarted, empty", func(h *th) Event { h.runID = "run2"; return probeMaster(0)(h) },
			[]string{"state MASTER -> START", "delete-member " + nameA1 + " v=-1", "fence"}, nil},
	})
}

func TestReplicaRepairsDrift(t *testing.T) {
	h := newTH(t)
	run(t, h, asReplica())
	run(t, h, []step{
		// Someone ran REPLICAOF NO ONE on the backend.
		{"became master", probeMaster(100), []string{"set-epoch 1", "replicaof 10.0.0.2:6379"}, nil},
		{"repaired", beOK(), nil, nil},
		// A probe that started before the batch is not drift.
		{"old probe", func(h *th) Event {
			return Probe{OK: true, Info: BackendInfo{Role: "master", RunID: h.runID}, After: h.c.BatchesDone() - 1}
		}, nil, nil},
		// A restart of the replica: follow again.
		{"restarted", func(h *th) Event { h.runID = "run2"; return probeMaster(0)(h) },
			[]string{"set-epoch 1", "replicaof 10.0.0.2:6379"}, nil},
	})
}

func TestStartDeletesMembersOfAnEarlierRun(t *testing.T) {
	h := newTH(t)
	old := mem(addrA, 0, conf.RoleMaster, 0, 10, 4)
	old.Owner = 99
	run(t, h, []step{
		{"session", connected(sess1), nil, nil},
		{"fenced", beOK(), nil, nil},
		{"probe", probeMaster(10), nil, nil},
		{"shard", snapshot(old, mem(addrB, 1, conf.RoleReplica, 0, 10, 1)), []string{"delete-member 10.0.0.1:6379-0000000000 v=-1"}, nil},
		{"deleted", zkOK(0), []string{"register role=candidate epoch=0 offset=10", "state START -> REGISTER"}, nil},
	})
}

func TestPublishConflictRereads(t *testing.T) {
	h := newTH(t)
	run(t, h, asReplica())
	run(t, h, []step{
		{"3 s later", tick(3 * time.Second), []string{"publish role=replica epoch=1 offset=100 v=1"}, nil},
		{"conflict", zkErr(conf.ErrBadVersion), []string{"read-shard"}, nil},
		{"read", read(mem(addrB, 1, conf.RoleMaster, 1, 50, 3), mem(addrA, 2, conf.RoleReplica, 1, 0, 5)),
			[]string{"publish role=replica epoch=1 offset=100 v=5"}, nil},
		{"published", zkOK(6), nil, wantState(StateFollow)},
	})
}

func TestMissingMemberIsVerified(t *testing.T) {
	h := newTH(t)
	run(t, h, asReplica())
	run(t, h, []step{
		{"watcher without me", snapshot(mem(addrB, 1, conf.RoleMaster, 1, 50, 3)), []string{"read-shard"}, wantState(StateFollow)},
		{"read without me", read(mem(addrB, 1, conf.RoleMaster, 1, 50, 3)), []string{"state FOLLOW -> START", "fence"}, nil},
	})
}

func TestReplicaStepsDownAfterFailedProbes(t *testing.T) {
	h := newTH(t)
	run(t, h, asReplica())
	run(t, h, []step{
		{"1", probeFail(), nil, nil},
		{"2", probeFail(), nil, nil},
		{"3", probeFail(), []string{"state FOLLOW -> START", "delete-member " + nameA2 + " v=-1", "fence"}, nil},
	})
}

func TestFenceResumedButNoLongerMaster(t *testing.T) {
	h := newTH(t)
	run(t, h, asMaster())
	run(t, h, []step{
		{"disconnected", disconnected(), []string{"state MASTER -> FENCE", "fence"}, nil},
		{"fenced", beOK(), nil, nil},
		{"reconnected", connected(sess1), []string{"read-shard"}, nil},
		// (An operator changed the data meanwhile.)
		{"read", read(mem(addrA, 1, conf.RoleReplica, 1, 0, 2), mem(addrB, 2, conf.RoleMaster, 2, 0, 1)),
			[]string{"state FENCE -> FOLLOW", "state FOLLOW -> FOLLOW", "set-epoch 2", "replicaof 10.0.0.2:6379", "unfence"}, nil},
	})
}
