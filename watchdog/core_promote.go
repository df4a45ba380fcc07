package watchdog

import (
	"fmt"
	"strings"

	"github.com/shardis/shardis/conf"
)

// Promotion (DESIGN.md §4, step 4). The lowest member of a shard without
// a master asks every backend of the shard for its replication offset
// (ActQueryPeers) and promotes its own backend only when it is fresh:
//
//   - its offset is at least every other replica's (the live offset of
//     those that answer, the published one of those that do not); or
//   - its replication link to the old master was up within FreshFor and
//     every replica ahead of it failed to answer (a dead node's member
//     lingers until its session expires).
//
// Otherwise it yields: it deletes its member and registers again, at the
// back of the queue, and the next member runs the same check. A lowest
// member whose sequence is below the shard's epoch (members below the
// master remain after a manual failover) also registers again first: the
// epoch, the new master's sequence, must only grow. Replicas are
// compared, not candidates: a returning old master registers as a
// candidate and so never holds up (or wins) an election — it rejoins as a
// replica. Promoting the most advanced replica is what keeps every write
// acknowledged with repl-ack-replicas 1 (issue 9, scenario 7).

func (c *Core) startPromotion(kind promoKind, reason string) {
	c.promo = promotion{kind: kind, phase: phaseBackend, reason: reason, oldMaster: c.followed.Addr}
	if kind == promoAuto {
		c.promo.phase = phaseQuery
		c.promo.queryID = c.newID()
		c.emit(Action{Kind: ActQueryPeers, ID: c.promo.queryID, Peers: c.comparablePeers()})
	}
	c.transition(StatePromote, reason)
}

// comparablePeers are the other valid members that are replicas.
func (c *Core) comparablePeers() []Member {
	var out []Member
	for _, m := range c.members {
		if m.Valid && m.Role == conf.RoleReplica && m.Addr != c.cfg.Addr && (c.me == nil || m.Name != c.me.Name) {
			out = append(out, m)
		}
	}
	return out
}

func (c *Core) onPeers(e PeerOffsets) {
	if c.state != StatePromote || c.promo.phase != phaseQuery || e.ID != c.promo.queryID {
		return
	}
	c.promo.queryID = 0
	if !e.Self.OK {
		c.promo = promotion{}
		c.transition(StateFollow, "cannot read my backend's offset: "+e.Self.Err)
		return
	}
	my := e.Self.Offset
	type ahead struct {
		m         Member
		off       int64
		reachable bool
	}
	var aheads []ahead
	for _, p := range c.comparablePeers() {
		off, reachable := p.Offset, false
		if r, ok := e.Peers[p.Name]; ok && r.OK {
			off, reachable = r.Offset, true
		}
		if off > my {
			aheads = append(aheads, ahead{p, off, reachable})
		}
	}
	fresh, why := len(aheads) == 0, fmt.Sprintf("offset %d is the highest", my)
	if !fresh && c.recentlyInSync() {
		all := true
		for _, a := range aheads {
			all = all && !a.reachable
		}
		if all {
			fresh = true
			why = fmt.Sprintf("offset %d; in sync with the old master %v ago; the members ahead do not answer", my, c.now.Sub(c.lastLinkUp).Round(1e6))
		}
	}
	if !fresh {
		var parts []string
		for _, a := range aheads {
			src := "published"
			if a.reachable {
				src = "live"
			}
			parts = append(parts, fmt.Sprintf("%s has %d (%s)", a.m.Addr, a.off, src))
		}
		c.yield(fmt.Sprintf("not fresh: my offset %d < %s", my, strings.Join(parts, ", ")))
		return
	}
	c.promo.phase = phaseBackend
	c.promo.offset = my
	c.promo.reason = c.promo.reason + "; " + why
}

func (c *Core) recentlyInSync() bool {
	return !c.lastLinkUp.IsZero() && c.now.Sub(c.lastLinkUp) <= c.cfg.FreshFor
}

// yield re-registers at the back of the queue.
func (c *Core) yield(reason string) {
	c.stepDown("yielding: " + reason)
}

func (c *Core) abortPromotion(reason string) {
	c.promo = promotion{}
	c.transition(StateFollow, reason)
}

func (c *Core) reconcilePromote() {
	if c.failures >= c.cfg.ProbeFailures {
		c.stepDown(fmt.Sprintf("backend failed %d probes while promoting", c.failures))
		return
	}
	m := c.master
	switch c.promo.kind {
	case promoAuto:
		if m != nil && m.Name != c.me.Name {
			c.abortPromotion(fmt.Sprintf("%s (%s) became master", m.Name, m.Addr))
			return
		}
		if m == nil && !c.isLowest() {
			c.abortPromotion("no longer the lowest member")
			return
		}
	case promoHandover:
		r := c.req
		valid := r.Exists && r.Req.ID == c.promo.reqID && r.Req.State == RequestPaused
		switch {
		case m != nil && m.Name == c.me.Name:
			// The transaction is through (its answer may still come).
			c.becomeMaster(c.promo.reason, true)
			return
		case !valid || m == nil || m.Name != c.promo.oldName:
			c.abortPromotion("manual failover withdrawn; following the master again")
			return
		}
	case promoExternal:
		if m == nil || m.Name != c.me.Name {
			c.abortPromotion("ZooKeeper no longer names me master")
			return
		}
	}
	switch c.promo.phase {
	case phaseQuery:
		// Keep the backend as it is until the offsets are in.
		return
	case phaseBackend:
		c.want = backendState{Fenced: true, Role: "master", Epoch: c.me.Seq}
		if !c.backendSettled() {
			return
		}
		if c.promo.kind == promoExternal {
			c.becomeMaster(c.promo.reason+"; backend promoted", false)
			return
		}
		c.promo.phase = phasePublish
		fallthrough
	case phasePublish:
		c.want = backendState{Fenced: true, Role: "master", Epoch: c.me.Seq}
		if c.promo.opID != 0 || !c.zkFree() {
			return
		}
		if c.promo.kind == promoAuto {
			c.pendingData = c.myMemberData(conf.RoleMaster, c.me.Seq)
			c.pendingData.Offset = c.promo.offset
			c.promo.opID = c.issueZK(Action{Kind: ActPublish, Path: c.me.Path, Version: c.me.Version, Data: c.pendingData})
			return
		}
		c.issueHandover(*m)
	}
}
