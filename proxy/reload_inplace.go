package proxy

// A pool changed by a reload only in keys that apply in place keeps its
// listener and its clients (see reload.go and docs/proxy-admin.md).

// applyInPlace gives a running pool its new configuration (u.n): it
// stores it, so that every key read where it is used (timeout, redis_auth,
// client_connections, read_from, allow_admin_commands,
// server_retry_timeout, server_failure_limit...) applies to the next
// request, connection or check, then does what the other keys need.
// Called by commitReload with reloadMu held; it cannot fail (the route
// table was checked in prepareReload).
func (px *Proxy) applyInPlace(st *serveState, u inPlaceUpdate) {
	p, o, n := u.p, u.p.config(), u.n
	p.cfg.Store(n)
	switch {
	case u.renew:
		// New servers (new connections) for every address, with the
		// new table if the routing changed too.
		var t *Topology
		if u.routing {
			t = &u.topo
		}
		if err := p.renewServers(t); err != nil {
			p.log.Error("reload: cannot renew the server connections; keeping the old ones", "err", err)
		}
	case u.routing:
		if err := p.SetTopology(u.topo); err != nil {
			p.log.Error("reload: cannot install the new route table; keeping the old one", "err", err)
		}
	}
	if o.Timeout != n.Timeout {
		// Readers waiting for a reply arm their deadline again.
		p.routeMu.Lock()
		for _, sv := range p.servers {
			for _, c := range sv.conns {
				c.wakeReader()
			}
		}
		p.routeMu.Unlock()
	}
	if o.SlowlogSlowerThan != n.SlowlogSlowerThan || o.SlowlogMaxLen != n.SlowlogMaxLen {
		p.slowlog.configure(n.SlowlogSlowerThan, n.SlowlogMaxLen)
	}
	if o.AutoEjectHosts && !n.AutoEjectHosts {
		// Servers ejected stay out no longer: put them back at once.
		p.routeMu.Lock()
		var back []*server
		for _, sv := range p.servers {
			if sv.ejected() {
				back = append(back, sv)
			}
		}
		p.routeMu.Unlock()
		revived := false
		for _, sv := range back {
			revived = sv.revive() || revived
		}
		if revived {
			p.rebuild("auto_eject_hosts turned off")
		}
	}
	if n.Preconnect && !o.Preconnect {
		p.routeMu.Lock()
		for _, sv := range p.servers {
			sv.start()
		}
		p.routeMu.Unlock()
	}
	if n.ClientIdleTimeout != o.ClientIdleTimeout {
		px.startSweeper(st, p) // if none runs; a running one follows the new value
	}
}
