package proxy

// dispatch routes one command: it answers it locally, completes it with an
// error, forwards it to the shard owning its keys, or splits it over
// several shards. It runs on the session's reader goroutine, with the
// batch's route table in s.tbl.
func (s *session) dispatch(req *request, c *command) {
	args := c.args
	ci := s.pool.proxy.cmds.lookup(args[0])
	if s.slowOn {
		req.noteSlowlog(s, ci, args)
	}
	if s.x != nil && s.x.settleNext {
		s.x.settleNext = false
		s.settle()
	}
	if s.tbl.migr != nil && ci != nil && s.authed && !s.migrateKeys(req, ci, c) {
		return // a key of a migrating slot could not be moved (migrate.go)
	}
	if s.x != nil && s.intercept(req, ci, c) {
		return // inside MULTI, or subscribed (multi.go, pubsub.go)
	}
	if ci == nil {
		s.pool.stats.unknown.Add(1)
		if !s.authOK() {
			req.setError(msgNoAuth)
			return
		}
		req.setError(msgUnknown(lowerName(args[0])))
		return
	}
	req.cmd = ci
	if !ci.noAuth && !s.authOK() {
		req.setError(msgNoAuth)
		return
	}
	if !ci.arityOK(len(args)) {
		req.setError(msgArity(ci.name))
		return
	}
	switch ci.kind {
	case kindLocal:
		s.local(req, ci, args)
	case kindSingle:
		key := args[ci.first]
		if ci.keys == keysSubcommand {
			key = args[2]
		}
		s.forward(req, s.tbl.Lookup(key), c.raw)
	case kindSameShard:
		if ci.keys == keysStreams {
			if _, block := streamBlock(ci, args); block {
				s.blocking(req, ci, c) // XREAD ... BLOCK ms
				return
			}
		}
		s.sameShard(req, ci, c)
	case kindMGet, kindMSet, kindSum:
		s.split(req, ci, c)
	case kindPublish:
		s.forward(req, s.tbl.Lookup(args[1]), c.raw)
	case kindTx:
		s.txCommand(req, ci, c)
	case kindBlocking:
		s.blocking(req, ci, c)
	case kindPubSub:
		s.pubsubCommand(req, ci, c)
	case kindScan:
		s.scan(req, ci, c)
	case kindFanout:
		s.fanout(req, ci, c)
	case kindPubSubQuery:
		s.pubsubQuery(req, ci, c)
	}
}

// forward sends the command's raw bytes to sh's master (or, for a read
// under read_from, to a replica: see target in readfrom.go).
func (s *session) forward(req *request, sh *Shard, raw []byte) {
	if s.x != nil && s.x.tx.conn != nil && sh.master == s.x.tx.conn.srv && sh.errReply == nil {
		// WATCH pinned the session to this server: its commands go on the
		// pinned connection, in order with the WATCH (multi.go).
		s.sendPinned(req, raw, nil)
		return
	}
	sv, errReply := s.target(req, sh)
	if errReply != nil {
		req.setReply(errReply)
		return
	}
	req.forwarded = true
	conn := sv.connFor(s.id)
	if conn.enqueue(req, raw) {
		s.touch(conn)
	}
}

// sameShard forwards a command whose keys must share a shard, or answers
// -CROSSSLOT.
func (s *session) sameShard(req *request, ci *cmdInfo, c *command) {
	idx, msg := keyIndexes(ci, c.args, s.keyIdx[:0])
	s.keyIdx = idx
	if msg != "" {
		req.setError(msg)
		return
	}
	if len(idx) == 0 {
		s.forward(req, s.tbl.Lookup(nil), c.raw)
		return
	}
	shard := s.tbl.lookupIndex(c.args[idx[0]])
	for _, i := range idx[1:] {
		if s.tbl.lookupIndex(c.args[i]) != shard {
			s.pool.stats.crossSlot.Add(1)
			req.setError(msgCrossSlot)
			return
		}
	}
	s.forward(req, s.tbl.Shard(shard), c.raw)
}
