package watchdog

import (
	"fmt"

	"github.com/shardis/shardis/conf"
)

// What each state wants, and the changes of state they share.

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
