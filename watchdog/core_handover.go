package watchdog

import (
	"errors"
	"fmt"
	"time"

	"github.com/shardis/shardis/conf"
)

// Manual failover (docs/failover.md), as the core sees it. The request
// znode (RequestUpdate) names the master member it is for and the target
// backend's address.
//
// Master side (StateMaster, masterHandover):
//  1. when the target is a replica of mine with a higher sequence, fence
//     the backend (pause writes);
//  2. read the backend's offset (ActReadOffset): every acknowledged write
//     is at or below it;
//  3. write state "paused" and the offset into the request (check-and-set);
//  4. stay fenced until ZooKeeper names another master (then follow it) or
//     the request goes away; RequestGrace after the request's timeout (on
//     my clock) delete it myself. Before unfencing after a withdrawn request, read the
//     shard afresh: the target's transaction deletes the request and
//     demotes me at once, and the two watchers may report it in either
//     order.
//
// Target side (StateFollow, handoverTarget):
//  1. if my sequence is below the master's, re-register first (the new
//     epoch, my sequence, must be higher than the old one);
//  2. when the request says "paused", read my backend's offset until it
//     reaches the request's offset;
//  3. promote the backend (fence, set epoch, REPLICAOF NO ONE) and switch
//     in one transaction (ActHandover): old master → replica, me → master,
//     request deleted. If the request is gone first, follow the old master
//     again.

// RequestGrace is how long after a request's timeout the master's
// watchdog withdraws it itself: normally the admin does, at the timeout;
// this covers an admin that died (its ephemeral request lingers until its
// session expires).
const RequestGrace = time.Second

// handover is the master side's progress on a request.
type handover struct {
	reqID      string
	seen       time.Time // when I first saw the request (my clock)
	fence      bool      // writes paused for it
	readID     uint64    // ActReadOffset in flight
	offset     int64
	haveOffset bool
	writeID    uint64 // ActUpdateRequest in flight
	deleting   bool   // ActDeleteRequest in flight
	timedOut   bool
	verifying  bool // the request is gone; waiting for a fresh read
	verified   bool
}

// targetState is the target side's progress.
type targetState struct {
	reqID      string
	readID     uint64
	offset     int64
	haveOffset bool
	readAt     time.Time
	// reregistered is the request for which I re-registered; kept across
	// registrations so that it happens once.
	reregistered string
}

func (c *Core) masterHandover() {
	r := c.req
	active := r.Exists && r.Req.Master == c.me.Name
	if !active {
		if c.ho.reqID == "" {
			return
		}
		if c.ho.fence && !c.ho.verified {
			if !c.ho.verifying {
				c.ho.verifying = true
				c.needRead = true
			}
			c.want.Fenced = true
			return
		}
		why := "manual failover withdrawn"
		if c.ho.timedOut {
			why = "manual failover timed out"
		}
		c.ho = handover{}
		c.want.Fenced = false
		c.emit(Action{Kind: ActTransition, From: StateMaster, To: StateMaster, Reason: why + "; still master: resuming writes"})
		return
	}
	if c.ho.reqID != r.Req.ID {
		c.ho = handover{reqID: r.Req.ID, seen: c.now}
		c.emit(Action{Kind: ActTransition, From: StateMaster, To: StateMaster,
			Reason: fmt.Sprintf("manual failover to %s requested (%s, timeout %v)", r.Req.Target, r.Req.ID, r.Req.Timeout)})
	}
	if c.ho.deleting {
		return
	}
	if c.now.Sub(c.ho.seen) > r.Req.Timeout+RequestGrace {
		if c.zkFree() {
			c.ho.deleting, c.ho.timedOut = true, true
			c.issueZK(Action{Kind: ActDeleteRequest, RequestVersion: r.Version})
		}
		return
	}
	if !c.ho.fence {
		t, ok := c.memberByAddr(r.Req.Target)
		if !ok || t.Name == c.me.Name || t.Seq < c.me.Seq || t.Role != conf.RoleReplica || t.Epoch != c.me.Seq {
			return // the target is not (yet) a replica of mine behind me
		}
		c.ho.fence = true
		c.want.Fenced = true
		return
	}
	if !c.ho.haveOffset {
		if c.ho.readID == 0 && c.applied.Fenced && c.bePending == 0 {
			c.ho.readID = c.issueBackend(Action{Kind: ActReadOffset})
		}
		return
	}
	if r.Req.State == RequestRequested && c.ho.writeID == 0 && c.zkFree() {
		req := r.Req
		req.State, req.Offset = RequestPaused, c.ho.offset
		c.ho.writeID = c.issueZK(Action{Kind: ActUpdateRequest, Request: req, RequestVersion: r.Version})
	}
}

func (c *Core) onOffsetRead(id uint64, off int64) {
	switch id {
	case c.ho.readID:
		c.ho.readID, c.ho.offset, c.ho.haveOffset = 0, off, true
	case c.target.readID:
		c.target.readID, c.target.offset, c.target.haveOffset, c.target.readAt = 0, off, true, c.now
	}
}

func (c *Core) onRequestOpDone(kind ActionKind, e ZKDone) {
	switch kind {
	case ActUpdateRequest:
		if c.ho.writeID != e.ID {
			return
		}
		c.ho.writeID = 0
		if e.Err == nil {
			c.req.Version = e.Version
			c.req.Req.State, c.req.Req.Offset = RequestPaused, c.ho.offset
		}
	case ActDeleteRequest:
		c.ho.deleting = false
		if e.Err == nil || errors.Is(e.Err, conf.ErrNoNode) {
			c.req = RequestUpdate{}
		}
	}
}

func (c *Core) handoverTarget(m Member) {
	r := c.req
	if !r.Exists || r.Req.Target != c.cfg.Addr || r.Req.Master != m.Name {
		c.target = targetState{reregistered: c.target.reregistered}
		return
	}
	if c.me.Seq < m.Seq {
		if c.target.reregistered != r.Req.ID {
			c.target.reregistered = r.Req.ID
			keep := c.target.reregistered
			c.yield(fmt.Sprintf("manual failover: re-registering behind the master %s so that the new epoch is higher", m.Name))
			c.target.reregistered = keep
		}
		return
	}
	if r.Req.State != RequestPaused || !c.probeOK || !c.backendSettled() || c.applied.Master != m.Addr {
		return
	}
	if c.target.reqID != r.Req.ID {
		c.target = targetState{reqID: r.Req.ID, reregistered: c.target.reregistered}
	}
	if c.target.readID != 0 {
		return
	}
	if !c.target.haveOffset || c.target.offset < r.Req.Offset {
		if !c.target.haveOffset || c.now.After(c.target.readAt) {
			c.target.readID = c.issueBackend(Action{Kind: ActReadOffset})
		}
		return
	}
	reason := fmt.Sprintf("manual failover: caught up with %s at offset %d (mine %d)", m.Addr, r.Req.Offset, c.target.offset)
	c.promo = promotion{kind: promoHandover, phase: phaseBackend, reason: reason,
		oldMaster: m.Addr, oldName: m.Name, reqID: r.Req.ID, offset: c.target.offset}
	c.target = targetState{reregistered: c.target.reregistered}
	c.transition(StatePromote, reason)
}

func (c *Core) issueHandover(m Member) {
	r := c.req
	old := conf.MemberData{Addr: m.Addr, Role: conf.RoleReplica, Epoch: c.me.Seq, Offset: r.Req.Offset}
	mine := conf.MemberData{Addr: c.cfg.Addr, Role: conf.RoleMaster, Epoch: c.me.Seq, Offset: c.promo.offset}
	c.pendingData = mine
	c.promo.opID = c.issueZK(Action{Kind: ActHandover,
		Path: m.Path, Version: m.Version, OldData: old,
		MyPath: c.me.Path, MyVersion: c.me.Version, Data: mine,
		RequestVersion: r.Version})
	c.hoOld = handoverOld{name: m.Name, data: old, version: m.Version + 1}
}

// handoverOld remembers the old master's data written by ActHandover.
type handoverOld struct {
	name    string
	data    conf.MemberData
	version int32
}

func (c *Core) onHandoverDone(e ZKDone) {
	if c.promo.opID == e.ID {
		c.promo.opID = 0
	}
	switch {
	case e.Err == nil:
		if c.me != nil {
			c.me.Version++
			c.myData = c.pendingData
			c.setLocal(c.hoOld.name, c.hoOld.data, c.hoOld.version)
			c.setLocal(c.me.Name, c.pendingData, c.me.Version)
		}
		if c.state == StatePromote && c.promo.kind == promoHandover {
			c.becomeMaster(c.promo.reason, true)
		}
	default:
		// A version conflict or a vanished znode: look again; the
		// reconciler retries or abandons.
		c.needRead = true
	}
}
