package admin

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/shardis/shardis/conf"
)

// Proxy acknowledgements (docs/resharding.md). A proxy that follows a
// ZooKeeper topology writes into its registration znode
// (/redis/proxy/<pool>/<host:port>) the data version of every shard znode
// of the topology it routes with ("applied":{"redis-0000":7,...}). After
// writing a migration record, the migrator waits until every registered
// proxy of the pool routes with the source shard's record (its version,
// or a later one) before it moves a key; after the final switch it waits
// for the new ranges the same way before it reports the migration done.

// ErrProxyAck is returned when registered proxies do not acknowledge a
// migration record in time: no key is moved, the record stays, and the
// command can be run again.
var ErrProxyAck = errors.New("proxies did not acknowledge the migration record")

// proxyAck is one registered proxy and whether it has applied the
// shard versions waited for.
type proxyAck struct {
	Node string // znode name (host:port)
	Addr string // "addr" of its data, else Node
	OK   bool
	Why  string // when not OK: what it has
}

func (p proxyAck) String() string {
	if p.Why == "" {
		return p.Addr
	}
	return p.Addr + " (" + p.Why + ")"
}

// proxyAcks reads the registered proxies of pool and checks each against
// want (shard -> minimum data version).
func (a *Admin) proxyAcks(pool string, want map[string]int32) ([]proxyAck, error) {
	dir := a.Layout.ProxyDir(pool)
	if err := a.ZK.Sync(dir); err != nil && !errors.Is(err, conf.ErrNoNode) {
		return nil, err
	}
	names, _, err := a.ZK.Children(dir)
	if errors.Is(err, conf.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	shards := slices.Sorted(maps.Keys(want))
	var out []proxyAck
	for _, name := range names {
		b, _, err := a.ZK.Get(dir + "/" + name)
		if errors.Is(err, conf.ErrNoNode) {
			continue // gone meanwhile: nothing to wait for
		}
		if err != nil {
			return nil, err
		}
		p := proxyAck{Node: name, Addr: name, OK: true}
		d, err := conf.ParseProxyData(b)
		switch {
		case err != nil:
			p.OK, p.Why = false, "registration data refused: "+err.Error()
		case d.Applied == nil:
			p.Addr = d.Addr
			p.OK, p.Why = false, "does not acknowledge topologies: an older shardis-proxy, or one without zookeeper_redis_path"
		default:
			p.Addr = d.Addr
			var has []string
			for _, s := range shards {
				ok, v := d.AppliedShard(s, want[s])
				if ok {
					continue
				}
				p.OK = false
				if v < 0 {
					has = append(has, s+" not applied yet")
				} else {
					has = append(has, fmt.Sprintf("%s at version %d", s, v))
				}
			}
			if !p.OK {
				p.Why = "has " + strings.Join(has, ", ")
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// ackPoll is how often the migrator reads the proxies' acknowledgements;
// ackQuiet how long it waits before it says whom it waits for.
var (
	ackPoll  = 50 * time.Millisecond
	ackQuiet = 250 * time.Millisecond
)

// waitAcks waits until every registered proxy of the pool has applied
// want, or until timeout. It returns the number of registered proxies
// seen and those that did not acknowledge (empty when all did). what
// names the change in progress lines.
func (m *migrator) waitAcks(ctx context.Context, what string, want map[string]int32, timeout time.Duration) (int, []proxyAck, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	var said string
	for {
		all, err := m.a.proxyAcks(m.pool, want)
		if err != nil {
			return 0, nil, err
		}
		var missing []proxyAck
		for _, p := range all {
			if !p.OK {
				missing = append(missing, p)
			}
		}
		if len(missing) == 0 {
			if len(all) > 0 {
				m.progress("all %d proxies have applied %s in %v", len(all), what, time.Since(start).Round(time.Millisecond))
			}
			return len(all), nil, nil
		}
		if time.Now().After(deadline) {
			return len(all), missing, nil
		}
		var names []string
		for _, p := range missing {
			names = append(names, p.String())
		}
		line := fmt.Sprintf("waiting for %d of %d proxies to apply %s: %s", len(missing), len(all), what, strings.Join(names, "; "))
		if line != said && time.Since(start) >= ackQuiet {
			m.progress("%s", line)
			said = line
		}
		if err := sleepCtx(ctx, ackPoll); err != nil {
			return 0, nil, err
		}
	}
}

// awaitRecord returns once every proxy routes the migrating slots
// through the target, so that keys may move: every registered proxy
// acknowledges the source shard's record (opt.AckTimeout, else
// ErrProxyAck), or, with NoProxyAck or no registered proxy, after the
// settle delay.
func (m *migrator) awaitRecord(ctx context.Context) error {
	if m.opt.NoProxyAck {
		m.progress("warning: --no-proxy-ack: not checking that the proxies have the migration record; waiting %v (--settle)", m.opt.Settle)
		return sleepCtx(ctx, m.opt.Settle)
	}
	t, err := m.a.Topology(m.pool)
	if err != nil {
		return err
	}
	src, ok := t.Shard(m.from)
	if !ok || src.Migrating == nil {
		return refused("the migration record of %s disappeared (another migrator finished it?)", m.from)
	}
	what := fmt.Sprintf("the migration record (%s at data version %d)", m.from, src.Version)
	n, missing, err := m.waitAcks(ctx, what, map[string]int32{m.from: src.Version}, m.opt.AckTimeout)
	if err != nil {
		return err
	}
	if n == 0 {
		m.progress("warning: no proxy of pool %s is registered in ZooKeeper (%s): none can acknowledge; waiting %v (--settle)",
			m.pool, m.a.Layout.ProxyDir(m.pool), m.opt.Settle)
		return sleepCtx(ctx, m.opt.Settle)
	}
	if len(missing) > 0 {
		var names []string
		for _, p := range missing {
			names = append(names, p.String())
		}
		return fmt.Errorf("%w (%s at data version %d) within %v: %s; no key moves until every proxy has it, and the record stays: fix or stop those proxies (shardis-admin status %s) and run the command again to resume, or use --no-proxy-ack",
			ErrProxyAck, m.from, src.Version, m.opt.AckTimeout, strings.Join(names, "; "), m.pool)
	}
	return nil
}

// awaitSwitch waits for every registered proxy to route with the ranges
// the final switch wrote (versions of the source and target shards); a
// proxy that does not is only warned about: both routings are correct
// once the keys have moved.
func (m *migrator) awaitSwitch(ctx context.Context, srcVersion, dstVersion int32) error {
	if m.opt.NoProxyAck {
		return nil
	}
	want := map[string]int32{m.from: srcVersion, m.to: dstVersion}
	what := fmt.Sprintf("the new ranges (%s at data version %d, %s at %d)", m.from, srcVersion, m.to, dstVersion)
	_, missing, err := m.waitAcks(ctx, what, want, m.opt.AckTimeout)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		var names []string
		for _, p := range missing {
			names = append(names, p.String())
		}
		m.progress("warning: %d proxies did not acknowledge %s within %v: %s", len(missing), what, m.opt.AckTimeout, strings.Join(names, "; "))
	}
	return nil
}
