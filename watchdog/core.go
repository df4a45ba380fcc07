package watchdog

import (
	"errors"
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

// ---- inputs ----

func (c *Core) onProbe(p Probe) {
	if !p.OK {
		c.failures++
		c.probeOK = false
		return
	}
	c.failures = 0
	c.probeOK = true
	restarted := c.haveInfo && p.Info.RunID != "" && c.info.RunID != "" && p.Info.RunID != c.info.RunID
	c.info, c.haveInfo = p.Info, true
	if p.Info.Role == "slave" && p.Info.LinkUp {
		c.lastLinkUp = c.now
	}
	if restarted {
		// A restart forgets REPLICAOF, fencing and the epoch, and an
		// in-memory master comes back empty: it must not stay master.
		c.applied = backendState{}
		switch {
		case c.state == StateMaster || c.state == StateFence:
			c.stepDown("backend restarted (run_id changed)")
		case c.state == StatePromote && c.promo.phase >= phaseBackend:
			c.stepDown("backend restarted (run_id changed) while promoting")
		}
		return
	}
	if c.bePending != 0 || p.After < c.batchesDone {
		return // the probe may predate the last batch's changes
	}
	// Drift: someone (or a restart we missed) changed the backend.
	switch c.applied.Role {
	case "master":
		if p.Info.Role != "master" {
			c.applied.Role = ""
		}
	case "replica":
		if p.Info.Role != "slave" || p.Info.MasterAddr() != c.applied.Master {
			c.applied.Role = ""
		}
	}
	if p.Info.Shardis {
		c.applied.Fenced = p.Info.Fenced
		if c.applied.Epoch != 0 && p.Info.Epoch != c.applied.Epoch {
			c.applied.Role = ""
		}
	}
}

func (c *Core) onSession(e SessionChange) {
	switch e.Kind {
	case conf.SessionConnected:
		newSession := c.session != 0 && e.SessionID != c.session
		c.connected = true
		c.session = e.SessionID
		if newSession {
			c.sessionLost("new ZooKeeper session (the old one expired)")
		}
	case conf.SessionDisconnected:
		c.connected = false
		switch {
		case c.state == StateMaster:
			c.transition(StateFence, "ZooKeeper disconnected: fencing writes")
		case c.state == StatePromote && c.promo.phase >= phaseBackend:
			c.transition(StateFence, "ZooKeeper disconnected while promoting: fencing writes")
		case c.state == StatePromote:
			c.promo = promotion{}
			c.transition(StateFollow, "ZooKeeper disconnected: promotion abandoned")
		}
	case conf.SessionExpired:
		c.connected = false
		c.sessionLost("ZooKeeper session expired")
	}
}

// sessionLost: the ephemeral member is gone with the session, and every
// operation of that session is void.
func (c *Core) sessionLost(reason string) {
	c.zkPending, c.needRead = 0, false
	c.promo = promotion{}
	c.ho = handover{}
	if c.me != nil || c.state != StateStart {
		c.lostMember(reason)
	}
}

func (c *Core) onMembership(e Membership) {
	fresh := false
	if e.ID != 0 {
		if e.ID != c.zkPending {
			return // an answer nobody waits for any more
		}
		c.zkPending = 0
		if e.Err != nil && !errors.Is(e.Err, conf.ErrNoNode) {
			c.needRead = true
			c.zkRetryAt = c.now.Add(c.cfg.RetryAfter)
			return
		}
		fresh = true
	}
	if e.Err != nil && !errors.Is(e.Err, conf.ErrNoNode) {
		return
	}
	if c.me != nil {
		mine, ok := findMember(e.Members, c.me.Name)
		switch {
		case !ok && fresh:
			c.adopt(e)
			c.lostMember("my member was deleted")
			return
		case !ok:
			// Older than my registration, or I was deleted: ask.
			c.needRead = true
			return
		case mine.Version < c.me.Version && !fresh:
			return // predates my last write
		}
		c.me.Version = mine.Version
		c.myData = conf.MemberData{Addr: mine.Addr, Role: mine.Role, Epoch: mine.Epoch, Offset: mine.Offset}
	}
	c.adopt(e)
	if fresh && c.state == StateFence && c.connected {
		c.fenceVerified = true
	}
	if fresh && c.ho.verifying {
		c.ho.verified = true
	}
}

func (c *Core) adopt(e Membership) {
	c.members = e.Members
	c.haveMembers = true
	c.membersErr = e.Err
	c.recompute()
}

// recompute finds the master: the lowest valid member whose role is master.
func (c *Core) recompute() {
	c.master = nil
	for i := range c.members {
		if m := c.members[i]; m.Valid && m.Role == conf.RoleMaster {
			c.master = &m
			return
		}
	}
}

// setLocal records a write of mine before the watcher reports it.
func (c *Core) setLocal(name string, d conf.MemberData, version int32) {
	ms := make([]Member, len(c.members))
	copy(ms, c.members)
	for i := range ms {
		if ms[i].Name == name {
			ms[i].Role, ms[i].Epoch, ms[i].Offset, ms[i].Version = d.Role, d.Epoch, d.Offset, version
		}
	}
	c.members = ms
	c.recompute()
}

func findMember(ms []Member, name string) (Member, bool) {
	for _, m := range ms {
		if m.Name == name {
			return m, true
		}
	}
	return Member{}, false
}

func (c *Core) memberByAddr(addr string) (Member, bool) {
	for _, m := range c.members {
		if m.Valid && m.Addr == addr {
			return m, true
		}
	}
	return Member{}, false
}

// knownEpoch is the highest epoch I know of: the last master I followed,
// and the epochs the members published.
func (c *Core) knownEpoch() int64 {
	e := c.followEpoch
	for _, m := range c.members {
		if m.Valid && m.Epoch > e {
			e = m.Epoch
		}
	}
	return e
}

// isLowest reports whether I am the lowest valid member.
func (c *Core) isLowest() bool {
	if c.me == nil {
		return false
	}
	for _, m := range c.members {
		if m.Valid {
			return m.Name == c.me.Name
		}
	}
	return false
}

func (c *Core) onRegistered(e Registered) {
	if e.ID != c.zkPending || e.ID == 0 {
		return
	}
	c.zkPending = 0
	if c.state != StateRegister {
		return
	}
	if e.Err != nil {
		c.zkRetryAt = c.now.Add(c.cfg.RetryAfter)
		c.transition(StateStart, "registration failed: "+e.Err.Error())
		return
	}
	m := e.Member
	c.me = &m
	c.myData = c.regData
	c.publishedAt = c.now
	c.needRead = true
	c.transition(StateFollow, fmt.Sprintf("registered as %s (sequence %d)", m.Name, m.Seq))
}

func (c *Core) onZKDone(e ZKDone) {
	if e.ID != c.zkPending || e.ID == 0 {
		return
	}
	c.zkPending = 0
	kind := c.zkKind
	if e.Err != nil && !errors.Is(e.Err, conf.ErrBadVersion) && !errors.Is(e.Err, conf.ErrNoNode) {
		c.zkRetryAt = c.now.Add(c.cfg.RetryAfter)
	}
	switch kind {
	case ActDeleteMember:
		if e.Err == nil {
			c.markGone()
		}
	case ActPublish:
		c.onPublished(e)
	case ActHandover:
		c.onHandoverDone(e)
	case ActUpdateRequest, ActDeleteRequest:
		c.onRequestOpDone(kind, e)
	}
}

func (c *Core) onPublished(e ZKDone) {
	if c.state == StatePromote && c.promo.opID == e.ID {
		c.promo.opID = 0
	}
	switch {
	case e.Err == nil:
		if c.me != nil {
			c.me.Version = e.Version
			c.myData = c.pendingData
			c.publishedAt = c.now
			c.setLocal(c.me.Name, c.pendingData, e.Version)
		}
		if c.state == StatePromote && c.promo.kind == promoAuto && c.pendingData.Role == conf.RoleMaster {
			c.becomeMaster(c.promo.reason, true)
		}
	case errors.Is(e.Err, conf.ErrBadVersion):
		c.needRead = true // someone else wrote my member: look before acting
	case errors.Is(e.Err, conf.ErrNoNode):
		c.lostMember("my member was deleted")
	}
}

func (c *Core) onBackendDone(e BackendDone) {
	if e.ID != c.bePending || e.ID == 0 {
		return
	}
	c.bePending = 0
	c.batchesDone++
	batch := c.beBatch
	c.beBatch = nil
	for i := 0; i < e.Done && i < len(batch); i++ {
		applyEffect(&c.applied, batch[i])
	}
	if e.Err != nil {
		c.beRetryAt = c.now.Add(c.cfg.RetryAfter)
		return
	}
	if len(batch) == 1 && batch[0].Kind == ActReadOffset {
		c.onOffsetRead(e.ID, e.Offset)
	}
}

func applyEffect(s *backendState, a Action) {
	switch a.Kind {
	case ActFence:
		s.Fenced = true
	case ActUnfence:
		s.Fenced = false
	case ActSetEpoch:
		s.Epoch = a.Epoch
	case ActReplicaOf:
		s.Role, s.Master = "replica", a.Addr
	case ActReplicaOfNoOne:
		s.Role, s.Master = "master", ""
	}
}

func (c *Core) onRequest(e RequestUpdate) {
	if e.Err != nil {
		e = RequestUpdate{}
	}
	if e.Exists && c.req.Exists && e.Req.ID == c.req.Req.ID && e.Version < c.req.Version {
		return // older than what I wrote
	}
	c.req = e
}

// ---- state changes shared by the states ----

// lostMember: my member is gone (deleted, or with its session); start
// over fenced.
func (c *Core) lostMember(reason string) {
	c.me = nil
	c.promo = promotion{}
	c.ho = handover{}
	c.target = targetState{}
	c.transition(StateStart, reason)
}

// stepDown gives up my member: the backend is fenced and the member
// deleted so that the next member takes over; I come back as a new
// member (a replica) once the backend is healthy.
func (c *Core) stepDown(reason string) {
	if c.me != nil {
		c.stale = append(c.stale, *c.me)
		c.me = nil
	}
	c.promo = promotion{}
	c.ho = handover{}
	c.target = targetState{}
	c.transition(StateStart, reason)
}

func (c *Core) becomeMaster(reason string, failedOver bool) {
	p := c.promo
	c.promo = promotion{}
	c.transition(StateMaster, reason)
	if failedOver {
		c.emit(Action{Kind: ActFailedOver, OldMaster: p.oldMaster, Addr: c.cfg.Addr, Manual: p.kind == promoHandover})
	}
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

// publishIfDue writes d as my member's data when its role or epoch
// differ from what ZooKeeper has, or its offset changed and PublishEvery
// has passed (at once with now).
func (c *Core) publishIfDue(d conf.MemberData, now bool) {
	if c.me == nil || !c.zkFree() || d == c.myData {
		return
	}
	same := d.Role == c.myData.Role && d.Epoch == c.myData.Epoch && d.Addr == c.myData.Addr
	if same && !now && c.now.Sub(c.publishedAt) < c.cfg.PublishEvery {
		return
	}
	c.pendingData = d
	c.issueZK(Action{Kind: ActPublish, Path: c.me.Path, Version: c.me.Version, Data: d})
}

func (c *Core) myMemberData(role conf.Role, epoch int64) conf.MemberData {
	return conf.MemberData{Addr: c.cfg.Addr, Role: role, Epoch: epoch, Offset: c.info.Offset}
}

func (c *Core) markGone() {
	// The delete in flight was the first stale member (or one found by
	// address); nextStale issues them in that order.
	if len(c.stale) > 0 {
		c.gone[c.stale[0].Name] = true
		c.stale = c.stale[1:]
		return
	}
	if m, ok := c.staleByAddr(); ok {
		c.gone[m.Name] = true
	}
}

// staleByAddr finds a member of my backend's address that is not my
// current member: one left by an earlier run of this watchdog.
func (c *Core) staleByAddr() (Member, bool) {
	for _, m := range c.members {
		if m.Addr == c.cfg.Addr && !c.gone[m.Name] && (c.me == nil || m.Name != c.me.Name) {
			return m, true
		}
	}
	return Member{}, false
}

func (c *Core) deleteStale() bool {
	if !c.zkFree() {
		return c.zkPending != 0
	}
	if len(c.stale) > 0 {
		c.issueZK(Action{Kind: ActDeleteMember, Path: c.stale[0].Path, Version: -1})
		return true
	}
	if m, ok := c.staleByAddr(); ok {
		c.issueZK(Action{Kind: ActDeleteMember, Path: m.Path, Version: -1})
		return true
	}
	return false
}

func (c *Core) reconcileStart() {
	c.want = backendState{Fenced: true}
	if !c.connected || !c.haveMembers {
		return
	}
	if c.deleteStale() {
		return
	}
	if c.membersErr != nil || !c.probeOK || !c.applied.Fenced || c.bePending != 0 || !c.zkFree() {
		return
	}
	d := c.myMemberData(conf.RoleCandidate, c.followEpoch)
	if c.info.Role == "slave" && c.followEpoch > 0 {
		d.Role = conf.RoleReplica
	}
	c.regData = d
	c.issueZK(Action{Kind: ActRegister, Data: d})
	c.transition(StateRegister, "backend fenced; registering")
}

func (c *Core) reconcileFollow() {
	if c.failures >= c.cfg.ProbeFailures {
		c.stepDown(fmt.Sprintf("backend failed %d probes", c.failures))
		return
	}
	m := c.master
	switch {
	case m != nil && m.Name == c.me.Name:
		c.startPromotion(promoExternal, "ZooKeeper names me master")
		return
	case m != nil && m.Addr == c.cfg.Addr:
		// A member of my backend from an earlier run of this watchdog
		// is master: delete it; the shard then elects its master.
		c.want = backendState{Fenced: true}
		c.deleteStale()
		return
	case m != nil:
		c.follow(*m)
		if c.target.reqID != "" || c.req.Exists {
			c.handoverTarget(*m)
		}
		return
	}
	// No master.
	c.want = backendState{Fenced: c.info.Role != "slave"}
	if c.isLowest() && c.probeOK && c.connected {
		if e := c.knownEpoch(); c.me.Seq < e {
			// My sequence would be an epoch older than the shard's
			// (members below a master remain after a manual
			// failover): take a new one first.
			c.yield(fmt.Sprintf("my sequence %d is below the shard's epoch %d", c.me.Seq, e))
			return
		}
		c.startPromotion(promoAuto, "no master, and I am the lowest member")
		return
	}
	if !c.lostAnnounced && c.zkFree() && c.me != nil {
		// Tell the lowest member how far I got.
		role := c.myData.Role
		c.publishIfDue(c.myMemberData(role, c.myData.Epoch), true)
		c.lostAnnounced = true
	}
}

func (c *Core) follow(m Member) {
	if c.followed.Name != m.Name {
		old := c.followed.Addr
		c.followed = m
		c.followEpoch = m.Seq
		c.emit(Action{Kind: ActTransition, From: StateFollow, To: StateFollow,
			Reason: fmt.Sprintf("following %s (%s, epoch %d); previous master %s", m.Addr, m.Name, m.Seq, orNone(old))})
	}
	c.followEpoch = m.Seq
	c.lostAnnounced = false
	c.want = backendState{Role: "replica", Master: m.Addr, Epoch: m.Seq}
	if c.backendSettled() {
		c.publishIfDue(c.myMemberData(conf.RoleReplica, m.Seq), false)
	}
}

func (c *Core) reconcileMaster() {
	if c.failures >= c.cfg.ProbeFailures {
		c.stepDown(fmt.Sprintf("backend failed %d probes: stepping down", c.failures))
		return
	}
	m := c.master
	if m == nil || m.Name != c.me.Name {
		c.ho = handover{}
		if m != nil {
			c.transition(StateFollow, fmt.Sprintf("demoted: %s (%s) is master", m.Name, m.Addr))
		} else {
			c.transition(StateFollow, "demoted: my member no longer says master")
		}
		return
	}
	c.want = backendState{Role: "master", Epoch: c.me.Seq, Fenced: c.ho.fence}
	c.masterHandover()
	if c.ho.reqID == "" && c.backendSettled() {
		c.publishIfDue(c.myMemberData(conf.RoleMaster, c.me.Seq), false)
	}
}

func (c *Core) reconcileFence() {
	if c.me == nil {
		c.transition(StateStart, "no member")
		return
	}
	c.want = backendState{Fenced: true, Role: "master", Epoch: c.me.Seq}
	if c.failures >= c.cfg.ProbeFailures {
		c.stepDown(fmt.Sprintf("backend failed %d probes while fenced", c.failures))
		return
	}
	if !c.connected {
		return
	}
	if !c.fenceVerified {
		if c.zkPending == 0 {
			c.needRead = true
		}
		return
	}
	m := c.master
	if m != nil && m.Name == c.me.Name {
		if c.promo.kind != 0 {
			c.becomeMaster("ZooKeeper session resumed: my promotion was published", true)
			return
		}
		c.transition(StateMaster, "ZooKeeper session resumed, still master: unfencing")
		return
	}
	c.promo = promotion{}
	c.transition(StateFollow, "ZooKeeper session resumed, no longer master")
}

// BatchesDone is the number of backend batches answered so far (see
// Probe.After).
func (c *Core) BatchesDone() uint64 { return c.batchesDone }
