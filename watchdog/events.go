package watchdog

import (
	"fmt"
	"strings"
	"time"

	"github.com/shardis/shardis/conf"
)

// Event is an input of the decision core (Core.Step). Every event is a
// plain value: the I/O loop builds them from ticks, probe replies,
// ZooKeeper session events, watcher snapshots and the results of the
// actions it ran.
type Event interface{ event() }

// Tick advances the core's clock. The core never reads a clock: Now is
// all it knows of time, and it changes only here.
type Tick struct{ Now time.Time }

// Probe is the result of one health probe of the local backend (INFO
// server + INFO replication, which also serve as PING).
type Probe struct {
	OK      bool
	Err     string      // why the probe failed, when !OK
	Info    BackendInfo // when OK
	Latency time.Duration
	// After is the number of backend batches the loop had seen complete
	// when the probe started: a probe older than the last batch is not
	// used to detect drift (it may predate the batch's changes).
	After uint64
}

// BackendInfo is what a probe learns about a backend.
type BackendInfo struct {
	Shardis    bool   // INFO server has shardis_version: (fencing and epochs are available)
	Version    string // redis_version or shardis_version
	RunID      string // changes when the backend restarts
	Role       string // "master" or "slave"
	MasterHost string // role slave: the master it is told to follow
	MasterPort int
	LinkUp     bool   // role slave: master_link_status:up
	Offset     int64  // replication offset applied (slave_repl_offset for a replica, else master_repl_offset)
	ReplID     string // master_replid
	Fenced     bool   // shardis-server: fenced:1
	Epoch      int64  // shardis-server: shardis_epoch
}

// MasterAddr is "host:port" of the master a replica follows, "" for a
// master.
func (b BackendInfo) MasterAddr() string {
	if b.Role != "slave" || b.MasterHost == "" {
		return ""
	}
	return joinHostPort(b.MasterHost, b.MasterPort)
}

// SessionChange is a ZooKeeper session event (conf.SessionEvent).
type SessionChange struct {
	Kind       conf.SessionEventKind
	SessionID  int64
	NewSession bool
}

// Member is one member of the shard as the core sees it: a registered
// watchdog and its published data.
type Member struct {
	Name    string // znode name
	Path    string // znode path
	Seq     int64  // sequence number; -1 when the name does not parse
	Addr    string // backend address
	Role    conf.Role
	Epoch   int64
	Offset  int64
	Version int32 // data version, for check-and-set
	Owner   int64 // ephemeral owner (ZooKeeper session)
	Valid   bool  // name and data parsed (only valid members count)
}

// Membership is a snapshot of the shard's members, lowest sequence first.
type Membership struct {
	Members []Member
	// Err is a failed or refused read; conf.ErrNoNode when the shard
	// znode does not exist.
	Err error
	// ID is the ActReadShard this answers, 0 for a watcher update. A read
	// the core asked for is "fresh": it was made after every ZooKeeper
	// operation the core issued before it.
	ID uint64
}

// MemberRef names the member this watchdog registered.
type MemberRef struct {
	Path    string
	Name    string
	Seq     int64
	Version int32
}

// Registered answers an ActRegister.
type Registered struct {
	ID     uint64
	Member MemberRef
	Err    error
}

// ZKDone answers an ActPublish, ActDeleteMember, ActHandover,
// ActUpdateRequest or ActDeleteRequest.
type ZKDone struct {
	ID      uint64
	Version int32 // the znode's new data version (ActPublish, ActUpdateRequest)
	Err     error
}

// BackendDone answers a backend batch (the actions sharing one ID).
type BackendDone struct {
	ID     uint64
	Done   int   // how many actions of the batch succeeded, in order
	Err    error // why the next one failed
	Offset int64 // ActReadOffset: the offset read
}

// PeerOffsets answers an ActQueryPeers.
type PeerOffsets struct {
	ID    uint64
	Self  PeerResult            // the local backend
	Peers map[string]PeerResult // by member name
}

// PeerResult is one backend's answer to a peer query.
type PeerResult struct {
	OK     bool
	Offset int64
	Err    string
}

// RequestUpdate is the state of the shard's failover request znode.
type RequestUpdate struct {
	Exists  bool
	Version int32
	Req     FailoverRequest
	Err     error // a refused request (treated as no request)
}

func (Tick) event()          {}
func (Probe) event()         {}
func (SessionChange) event() {}
func (Membership) event()    {}
func (Registered) event()    {}
func (ZKDone) event()        {}
func (BackendDone) event()   {}
func (PeerOffsets) event()   {}
func (RequestUpdate) event() {}

// ActionKind is what an Action asks the I/O loop to do.
type ActionKind int

// Backend actions run in batches (the actions of one Step sharing an ID),
// in order, stopping at the first failure; one BackendDone answers the
// batch.
const (
	// ActFence stops the backend accepting writes: shardis-server
	// CONFIG SET fenced yes; redis-server CLIENT PAUSE <ms> WRITE, renewed
	// by the loop until ActUnfence.
	ActFence ActionKind = iota + 1
	// ActUnfence lifts the fence (CONFIG SET fenced no / CLIENT UNPAUSE).
	ActUnfence
	// ActSetEpoch: CONFIG SET shardis-epoch Epoch (shardis-server only;
	// a no-op for redis-server).
	ActSetEpoch
	// ActReplicaOf: REPLICAOF host port of Addr.
	ActReplicaOf
	// ActReplicaOfNoOne: REPLICAOF NO ONE.
	ActReplicaOfNoOne
	// ActReadOffset reads the backend's replication offset (into
	// BackendDone.Offset).
	ActReadOffset

	// ActRegister creates this watchdog's member (ephemeral-sequential)
	// with Data; answered by Registered.
	ActRegister
	// ActPublish writes Data to Path if its version is Version; ZKDone.
	ActPublish
	// ActDeleteMember deletes the member at Path (Version, -1: any); ZKDone.
	ActDeleteMember
	// ActReadShard syncs and reads the shard; answered by a Membership
	// with this ID.
	ActReadShard
	// ActHandover switches roles in one ZooKeeper transaction: the old
	// master's member (Path, Version) gets OldData, this member (MyPath,
	// MyVersion) gets Data, and the request znode (RequestVersion) is
	// deleted; ZKDone.
	ActHandover
	// ActUpdateRequest writes Request to the failover request znode if
	// its version is RequestVersion; ZKDone.
	ActUpdateRequest
	// ActDeleteRequest deletes the request znode if its version is
	// RequestVersion (-1: any); ZKDone.
	ActDeleteRequest

	// ActQueryPeers reads the replication offset of the local backend
	// and of each of Peers; answered by PeerOffsets.
	ActQueryPeers
	// ActFailedOver reports that this watchdog made its backend the
	// shard's master: count it, and run the --on-failover hook with
	// OldMaster and Addr (the new master).
	ActFailedOver
	// ActTransition reports a change of state (From → To, Reason), for
	// the status log line and the metrics.
	ActTransition
)

// Action is an output of the decision core.
type Action struct {
	Kind    ActionKind
	ID      uint64 // answers carry it; backend actions of one batch share it
	Session int64  // ZooKeeper actions: the session they were decided in

	Addr  string // ActReplicaOf: the master; ActFailedOver: the new master
	Epoch int64  // ActSetEpoch

	Path    string          // member znode (ActPublish, ActDeleteMember, ActHandover: the old master)
	Version int32           // its expected data version
	Data    conf.MemberData // ActRegister, ActPublish, ActHandover: my data
	OldData conf.MemberData // ActHandover: the old master's new data

	MyPath    string // ActHandover
	MyVersion int32  // ActHandover

	Request        FailoverRequest // ActUpdateRequest
	RequestVersion int32           // ActHandover, ActUpdateRequest, ActDeleteRequest

	Peers []Member // ActQueryPeers

	OldMaster string // ActFailedOver
	Manual    bool   // ActFailedOver: a manual failover (handover)

	From, To State  // ActTransition
	Reason   string // ActTransition
}

// IsBackend reports whether the action is run against the local backend
// (in a batch) rather than ZooKeeper or the loop itself.
func (a Action) IsBackend() bool { return a.Kind >= ActFence && a.Kind <= ActReadOffset }

// IsZK reports whether the action is a ZooKeeper operation.
func (a Action) IsZK() bool { return a.Kind >= ActRegister && a.Kind <= ActDeleteRequest }

// String is a short description, used by the scenario tests and logs.
func (a Action) String() string {
	switch a.Kind {
	case ActFence:
		return "fence"
	case ActUnfence:
		return "unfence"
	case ActSetEpoch:
		return fmt.Sprintf("set-epoch %d", a.Epoch)
	case ActReplicaOf:
		return "replicaof " + a.Addr
	case ActReplicaOfNoOne:
		return "replicaof no one"
	case ActReadOffset:
		return "read-offset"
	case ActRegister:
		return "register " + dataString(a.Data)
	case ActPublish:
		return fmt.Sprintf("publish %s v=%d", dataString(a.Data), a.Version)
	case ActDeleteMember:
		return fmt.Sprintf("delete-member %s v=%d", baseName(a.Path), a.Version)
	case ActReadShard:
		return "read-shard"
	case ActHandover:
		return fmt.Sprintf("handover old=%s(v=%d %s) me(v=%d %s) request v=%d",
			baseName(a.Path), a.Version, dataString(a.OldData), a.MyVersion, dataString(a.Data), a.RequestVersion)
	case ActUpdateRequest:
		return fmt.Sprintf("update-request %s offset=%d v=%d", a.Request.State, a.Request.Offset, a.RequestVersion)
	case ActDeleteRequest:
		return fmt.Sprintf("delete-request v=%d", a.RequestVersion)
	case ActQueryPeers:
		names := make([]string, len(a.Peers))
		for i, p := range a.Peers {
			names[i] = p.Name
		}
		return "query-peers [" + strings.Join(names, " ") + "]"
	case ActFailedOver:
		kind := "failover"
		if a.Manual {
			kind = "manual-failover"
		}
		return fmt.Sprintf("%s %s -> %s", kind, orNone(a.OldMaster), a.Addr)
	case ActTransition:
		return fmt.Sprintf("%s -> %s: %s", a.From, a.To, a.Reason)
	}
	return fmt.Sprintf("ActionKind(%d)", int(a.Kind))
}

func dataString(d conf.MemberData) string {
	return fmt.Sprintf("role=%s epoch=%d offset=%d", d.Role, d.Epoch, d.Offset)
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
