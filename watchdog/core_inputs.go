package watchdog

import (
	"errors"
	"fmt"

	"github.com/shardis/shardis/conf"
)

// The core's handling of each kind of Event.

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
