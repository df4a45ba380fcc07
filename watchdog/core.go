package watchdog

import (
	"fmt"
	"time"

	"github.com/shardis/shardis/conf"
)

// State is a state of the watchdog (DESIGN.md §4).
type State int

// The states.
const (
	// StateStart: the backend is fenced (read-only); waiting for a
	// ZooKeeper session, a healthy backend and the shard's membership;
	// old members of this backend are deleted first.
	StateStart State = iota + 1
	// StateRegister: the ephemeral-sequential member is being created.
	StateRegister
	// StateFollow: registered and not master: replicating from the
	// shard's master, or waiting for one.
	StateFollow
	// StatePromote: becoming master (freshness check, REPLICAOF NO ONE,
	// publish role=master with a check-and-set).
	StatePromote
	// StateMaster: the shard's master.
	StateMaster
	// StateFence: master, but the ZooKeeper connection is lost: writes
	// are refused until the same session comes back still master.
	StateFence
)

var stateNames = [...]string{"", "START", "REGISTER", "FOLLOW", "PROMOTE", "MASTER", "FENCE"}

func (s State) String() string {
	if s > 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// States lists every state, for metrics.
func States() []State {
	return []State{StateStart, StateRegister, StateFollow, StatePromote, StateMaster, StateFence}
}

// CoreConfig configures the decision core.
type CoreConfig struct {
	// Addr is the backend's address as the other members and proxies
	// dial it (--announce).
	Addr string
	// ProbeFailures is how many consecutive failed probes make the
	// watchdog give up its member (a master steps down).
	ProbeFailures int
	// FreshFor: a replica whose replication link was up this recently
	// counts as in sync with the old master when it is the lowest member
	// and the members ahead of it cannot be reached.
	FreshFor time.Duration
	// PublishEvery is the least interval between two publications that
	// only change the offset.
	PublishEvery time.Duration
	// RetryAfter is the pause after a failed operation before it is tried
	// again.
	RetryAfter time.Duration
}

// backendState is what the core wants of, or believes it applied to, the
// backend. Role "" means unknown (applied) or "leave it" (wanted).
type backendState struct {
	Fenced bool
	Role   string // "", "master", "replica"
	Master string // Role "replica": the master's address
	Epoch  int64  // shardis-epoch set with the role (a sequence number, 0 included)
}

type promoKind int

const (
	promoAuto     promoKind = iota + 1 // the master is gone and I am the lowest member
	promoHandover                      // a manual failover names me the target
	promoExternal                      // ZooKeeper already names me master
)

type promoPhase int

const (
	phaseQuery   promoPhase = iota + 1 // asking every backend for its offset
	phaseBackend                       // fence, set epoch, REPLICAOF NO ONE
	phasePublish                       // publish role=master (or the handover transaction)
)

type promotion struct {
	kind      promoKind
	phase     promoPhase
	queryID   uint64
	opID      uint64 // the publish / handover operation in flight
	offset    int64  // my offset when the promotion was decided
	reason    string
	oldMaster string // address of the master I followed
	oldName   string // promoHandover: the old master's member name
	reqID     string // promoHandover: the request served
}

// Core is the watchdog's decision logic: a deterministic state machine
// with no I/O, no goroutines and no clock. Step feeds it one Event and
// returns the Actions the I/O loop must carry out; the results come back
// as later events. It is not safe for concurrent use: one goroutine (the
// loop) owns it.
type Core struct {
	cfg   CoreConfig
	now   time.Time
	state State

	connected bool
	session   int64

	probeOK     bool
	failures    int
	info        BackendInfo
	haveInfo    bool
	lastLinkUp  time.Time
	batchesDone uint64

	applied   backendState
	want      backendState
	bePending uint64
	beBatch   []Action
	beRetryAt time.Time

	me          *MemberRef
	myData      conf.MemberData // my member's data as last known in ZooKeeper
	pendingData conf.MemberData // data of the ActPublish in flight
	regData     conf.MemberData // data of the ActRegister in flight
	publishedAt time.Time
	stale       []MemberRef     // my old members still to delete
	gone        map[string]bool // member names already deleted

	members       []Member
	haveMembers   bool
	membersErr    error
	master        *Member // the lowest member whose role is master
	followed      Member  // the last other master I followed
	followEpoch   int64
	lostAnnounced bool // published my offset since the master went away

	zkPending     uint64
	zkKind        ActionKind
	zkRetryAt     time.Time
	needRead      bool
	fenceVerified bool

	promo  promotion
	ho     handover
	hoOld  handoverOld
	req    RequestUpdate
	target targetState

	nextID uint64
	out    []Action
}

// NewCore returns a core in StateStart: its first wish is a fenced
// backend.
func NewCore(cfg CoreConfig) *Core {
	if cfg.ProbeFailures <= 0 {
		cfg.ProbeFailures = DefaultProbeFailures
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = DefaultProbeInterval
	}
	return &Core{cfg: cfg, state: StateStart, want: backendState{Fenced: true}, gone: map[string]bool{}}
}

// Status is a summary of the core for logs, metrics and tests.
type Status struct {
	State     State
	Member    string // my member's name, "" when not registered
	Seq       int64
	Master    string // the shard master's address, "" when none
	Epoch     int64  // the shard master's sequence, -1 when none
	Role      string // backend role wanted: "master", "replica" or ""
	Fenced    bool   // the backend is (believed) fenced
	Offset    int64  // backend offset from the last probe
	Failures  int    // consecutive failed probes
	Connected bool   // ZooKeeper session up
}

// Status returns the core's summary.
func (c *Core) Status() Status {
	s := Status{State: c.state, Epoch: -1, Role: c.want.Role, Fenced: c.applied.Fenced,
		Offset: c.info.Offset, Failures: c.failures, Connected: c.connected}
	if c.me != nil {
		s.Member, s.Seq = c.me.Name, c.me.Seq
	}
	if c.master != nil {
		s.Master, s.Epoch = c.master.Addr, c.master.Seq
	}
	return s
}

// Step applies one event and returns the actions to carry out, in order.
func (c *Core) Step(ev Event) []Action {
	c.out = nil
	switch e := ev.(type) {
	case Tick:
		if e.Now.After(c.now) {
			c.now = e.Now
		}
	case Probe:
		c.onProbe(e)
	case SessionChange:
		c.onSession(e)
	case Membership:
		c.onMembership(e)
	case Registered:
		c.onRegistered(e)
	case ZKDone:
		c.onZKDone(e)
	case BackendDone:
		c.onBackendDone(e)
	case PeerOffsets:
		c.onPeers(e)
	case RequestUpdate:
		c.onRequest(e)
	}
	c.reconcile()
	out := c.out
	c.out = nil
	return out
}

func (c *Core) emit(a Action) { c.out = append(c.out, a) }

func (c *Core) newID() uint64 {
	c.nextID++
	return c.nextID
}

func (c *Core) transition(to State, reason string) {
	from := c.state
	c.state = to
	if to == StateFence {
		c.fenceVerified = false
	}
	c.emit(Action{Kind: ActTransition, From: from, To: to, Reason: reason})
}

// ---- the reconciler ----

func (c *Core) reconcile() {
	for i := 0; i < 6; i++ {
		s := c.state
		switch s {
		case StateStart:
			c.reconcileStart()
		case StateRegister:
			// waiting for Registered
		case StateFollow:
			c.reconcileFollow()
		case StatePromote:
			c.reconcilePromote()
		case StateMaster:
			c.reconcileMaster()
		case StateFence:
			c.reconcileFence()
		}
		if c.state == s {
			break
		}
	}
	c.driveBackend()
	c.issueRead()
}

// zkFree reports whether a ZooKeeper operation may be issued now.
func (c *Core) zkFree() bool {
	return c.zkPending == 0 && c.connected && !c.now.Before(c.zkRetryAt) && !c.needRead
}

func (c *Core) issueZK(a Action) uint64 {
	a.ID = c.newID()
	a.Session = c.session
	c.zkPending, c.zkKind = a.ID, a.Kind
	c.emit(a)
	return a.ID
}

func (c *Core) issueRead() {
	if !c.needRead || c.zkPending != 0 || !c.connected || c.now.Before(c.zkRetryAt) {
		return
	}
	c.needRead = false
	c.issueZK(Action{Kind: ActReadShard})
}

// driveBackend issues one batch taking the backend from what was applied
// to what is wanted, in the contract's order: fence, epoch and role,
// unfence.
func (c *Core) driveBackend() {
	if c.bePending != 0 || c.now.Before(c.beRetryAt) {
		return
	}
	w, a := c.want, c.applied
	var acts []Action
	if w.Fenced && !a.Fenced {
		acts = append(acts, Action{Kind: ActFence})
	}
	switch w.Role {
	case "master":
		if a.Role != "master" || a.Epoch != w.Epoch {
			acts = append(acts, Action{Kind: ActSetEpoch, Epoch: w.Epoch}, Action{Kind: ActReplicaOfNoOne})
		}
	case "replica":
		if a.Role != "replica" || a.Master != w.Master || a.Epoch != w.Epoch {
			acts = append(acts, Action{Kind: ActSetEpoch, Epoch: w.Epoch}, Action{Kind: ActReplicaOf, Addr: w.Master})
		}
	}
	if !w.Fenced && a.Fenced {
		acts = append(acts, Action{Kind: ActUnfence})
	}
	c.issueBackend(acts...)
}

func (c *Core) issueBackend(acts ...Action) uint64 {
	if len(acts) == 0 || c.bePending != 0 {
		return 0
	}
	id := c.newID()
	for i := range acts {
		acts[i].ID = id
		c.emit(acts[i])
	}
	c.bePending, c.beBatch = id, acts
	return id
}

// backendSettled reports whether the backend is as wanted.
func (c *Core) backendSettled() bool {
	if c.bePending != 0 {
		return false
	}
	w, a := c.want, c.applied
	if w.Fenced != a.Fenced {
		return false
	}
	switch w.Role {
	case "master":
		return a.Role == "master" && a.Epoch == w.Epoch
	case "replica":
		return a.Role == "replica" && a.Master == w.Master && a.Epoch == w.Epoch
	}
	return true
}

// BatchesDone is the number of backend batches answered so far (see
// Probe.After).
func (c *Core) BatchesDone() uint64 { return c.batchesDone }
