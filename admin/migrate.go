package admin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardis/shardis/conf"
	"github.com/shardis/shardis/hashring"
)

// Online resharding (docs/resharding.md). A migration moves slots from
// one shard (the source) to another (the target) with their keys:
//
//  1. the source shard's znode gets the record
//     {"weight":..,"migrating":{"slots":"a-b","to":"<target>"}}; proxies
//     then send a request for a key of those slots to the target, after
//     asking the source master to move that key (SHARDIS.MIGRATEKEY);
//  2. once every registered proxy has acknowledged the record in its
//     registration znode (migrate_ack.go; or after a settle delay with
//     NoProxyAck or no registered proxy), the migrator walks the source master's keys with SHARDIS.MIGRATESLOTS, batch
//     after batch, each batch an atomic move; the masters are read from
//     ZooKeeper again whenever a batch fails, so a failover pauses the
//     migration and it resumes from the new master at the same cursor;
//  3. when a pass finds nothing more (SHARDIS.COUNTSLOTS is 0), one
//     ZooKeeper transaction gives the slots to the target and drops the
//     record; the migrator waits for the proxies to acknowledge that too
//     (a warning only if they do not).
//
// Interrupted, it is resumed by running it again: the record says what
// was being moved, and the keys already moved are no longer on the
// source.

// ErrNeedsShardisServer is returned when a master does not implement the
// SHARDIS.* migration commands (e.g. redis-server).
var ErrNeedsShardisServer = errors.New("migration needs shardis-server backends")

// MigrateOptions tune a migration.
type MigrateOptions struct {
	// Batch is the number of keys per SHARDIS.MIGRATESLOTS call (default 200).
	Batch int
	// Settle is how long to wait after writing the migration record
	// before moving keys when the proxies' acknowledgements are not
	// used (NoProxyAck, or no proxy registered in ZooKeeper) (default
	// 1s; proxies see a change in tens of ms).
	Settle time.Duration
	// AckTimeout is how long to wait for every registered proxy to
	// acknowledge the migration record (else ErrProxyAck), and the
	// final switch (else a warning) (default 30s).
	AckTimeout time.Duration
	// NoProxyAck skips the acknowledgements: the settle delay only.
	NoProxyAck bool
	// BackendAuth is the backends' password (the pool's redis_auth).
	BackendAuth string
	// IOTimeout bounds one exchange with a backend (default 10s).
	IOTimeout time.Duration
	// Pause is how long a migration waits for a shard to have a
	// reachable master again before it gives up (default 2m).
	Pause time.Duration
	// Progress receives a progress line about once per ProgressEvery
	// (default 1s) and at every pause; nil prints nothing.
	Progress      func(line string)
	ProgressEvery time.Duration
	// Hash, HashTag (when HashTagSet) and Slots are the pool's key
	// distribution when its znode does not say (the proxies' YAML
	// values). A migration with the wrong hash would move the wrong
	// keys, so it is refused unless every setting is known.
	Hash       string
	HashTag    string
	HashTagSet bool
	Slots      int
}

// migrationSettings is the pool's key→slot function: the pool znode's
// settings, completed (never contradicted) by the options.
func migrationSettings(t *conf.Topology, o MigrateOptions) (conf.PoolSettings, error) {
	d := t.Data
	s := conf.PoolSettings{Slots: d.Slots, Hash: d.Hash, HashTag: d.HashTag}
	var missing []string
	switch {
	case d.Hash != "" && o.Hash != "" && !strings.EqualFold(d.Hash, o.Hash):
		return s, refused("--hash %s contradicts the pool znode's hash %s", o.Hash, d.Hash)
	case d.Hash == "" && o.Hash == "":
		missing = append(missing, "--hash")
	case d.Hash == "":
		s.Hash = strings.ToLower(o.Hash)
	}
	switch {
	case d.HashTagSet && o.HashTagSet && d.HashTag != o.HashTag:
		return s, refused("--hash-tag %q contradicts the pool znode's hash_tag %q", o.HashTag, d.HashTag)
	case !d.HashTagSet && !o.HashTagSet:
		missing = append(missing, "--hash-tag")
	case !d.HashTagSet:
		s.HashTag = o.HashTag
	}
	switch {
	case d.Slots != 0 && o.Slots != 0 && d.Slots != o.Slots:
		return s, refused("--slots %d contradicts the pool znode's slots %d", o.Slots, d.Slots)
	case d.Slots == 0 && o.Slots == 0:
		s.Slots = conf.DefaultSlots // the documented default; ranges were validated against it
	case d.Slots == 0:
		s.Slots = o.Slots
	}
	if len(missing) > 0 {
		return s, refused("the pool znode %s does not say how keys hash; give %s as in the proxies' YAML pool (or write them with pool create)", t.Path, strings.Join(missing, " and "))
	}
	if _, err := hashring.HashByName(s.Hash); err != nil {
		return s, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	return s, nil
}

func (o *MigrateOptions) defaults() {
	if o.Batch <= 0 {
		o.Batch = 200
	}
	if o.Settle < 0 {
		o.Settle = 0
	} else if o.Settle == 0 {
		o.Settle = time.Second
	}
	if o.IOTimeout <= 0 {
		o.IOTimeout = 10 * time.Second
	}
	if o.AckTimeout <= 0 {
		o.AckTimeout = 30 * time.Second
	}
	if o.Pause <= 0 {
		o.Pause = 2 * time.Minute
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = time.Second
	}
}

// MigrateReport says what a migration did.
type MigrateReport struct {
	Pool    string        `json:"pool"`
	From    string        `json:"from"`
	To      string        `json:"to"`
	Slots   string        `json:"slots"`
	Keys    int64         `json:"keys"`
	Bytes   int64         `json:"bytes"`
	Dropped int64         `json:"stale_dropped"`
	Resumed bool          `json:"resumed"`
	Pauses  int           `json:"pauses"`
	Took    time.Duration `json:"-"`
	TookMS  int64         `json:"took_ms"`
	Rate    float64       `json:"keys_per_sec"` // keys moved per second, from the first batch on
}

// migrator runs one migration.
type migrator struct {
	a        *Admin
	pool     string
	from, to string
	slots    []hashring.Range
	opt      MigrateOptions
	settings conf.PoolSettings

	mu      sync.Mutex
	clients map[string]*redis.Client

	rep        MigrateReport
	total      int64
	start      time.Time // the migration's start (its record written)
	moveStart  time.Time // the first batch (after the proxies' acknowledgements): rates count from here
	lastReport time.Time
}

// Migrate moves slots (all owned by one shard) to the shard to, with
// their keys. If the source already has a migration record for the same
// slots and target, it resumes it; a different record is refused.
func (a *Admin) Migrate(ctx context.Context, pool string, slots []hashring.Range, to string, opt MigrateOptions) (*MigrateReport, error) {
	opt.defaults()
	slots = hashring.MergeRanges(append([]hashring.Range(nil), slots...))
	if len(slots) == 0 {
		return nil, fmt.Errorf("%w: no slots to migrate", ErrUsage)
	}
	t, err := a.Topology(pool)
	if err != nil {
		return nil, err
	}
	if err := t.Validate(); err != nil {
		return nil, refused("%v", err)
	}
	settings, err := migrationSettings(t, opt)
	if err != nil {
		return nil, err
	}
	dst, ok := t.Shard(to)
	if !ok {
		return nil, refused("pool %s has no shard %s (shards: %s)", pool, to, shardNames(t))
	}
	var src *conf.Shard
	for i := range t.Shards {
		s := &t.Shards[i]
		if len(intersect(slots, s.Ranges)) > 0 {
			if src != nil {
				return nil, refused("slots %s belong to several shards (%s, %s): migrate them one shard at a time", hashring.FormatRanges(slots), src.Name, s.Name)
			}
			src = s
		}
	}
	if src == nil || len(hashring.SubtractRanges(slots, src.Ranges)) > 0 {
		return nil, refused("slots %s are not all owned by one shard", hashring.FormatRanges(slots))
	}
	if src.Name == to {
		return nil, refused("slots %s already belong to %s", hashring.FormatRanges(slots), to)
	}
	if dst.Migrating != nil {
		return nil, refused("shard %s is itself migrating slots %s to %s; finish that first (shardis-admin migrate %s --resume)", to, hashring.FormatRanges(dst.Migrating.Slots), dst.Migrating.To, pool)
	}
	m := &migrator{a: a, pool: pool, from: src.Name, to: to, slots: slots, opt: opt, settings: settings, clients: map[string]*redis.Client{}}
	defer m.close()
	m.rep = MigrateReport{Pool: pool, From: src.Name, To: to, Slots: hashring.FormatRanges(slots)}
	if rec := src.Migrating; rec != nil {
		if rec.To != to || hashring.FormatRanges(rec.Slots) != hashring.FormatRanges(slots) {
			return nil, refused("shard %s is already migrating slots %s to %s; finish that first (shardis-admin migrate %s --resume)", src.Name, hashring.FormatRanges(rec.Slots), rec.To, pool)
		}
		m.rep.Resumed = true
	}
	// Both masters must speak SHARDIS.*, before anything is written.
	for _, s := range []*conf.Shard{src, dst} {
		mm, ok := s.MasterMember()
		if !ok {
			if m.rep.Resumed {
				continue // a failover in progress: run waits for it
			}
			return nil, refused("shard %s has no master", s.Name)
		}
		if err := m.checkShardis(ctx, mm.Addr); err != nil {
			return nil, err
		}
	}
	if !m.rep.Resumed {
		data := conf.ShardData{Ranges: src.Ranges, Migrating: &conf.Migration{Slots: slots, To: to}}
		if err := a.commit(conf.SetOp(src.Path, data.Marshal(), src.Version), conf.CheckOp(dst.Path, dst.Version)); err != nil {
			return nil, err
		}
	}
	if err := m.run(ctx); err != nil {
		return &m.rep, err
	}
	return &m.rep, nil
}

// ResumeAll finishes every migration recorded in pool.
func (a *Admin) ResumeAll(ctx context.Context, pool string, opt MigrateOptions) ([]*MigrateReport, error) {
	t, err := a.Topology(pool)
	if err != nil {
		return nil, err
	}
	var out []*MigrateReport
	for _, s := range t.Shards {
		if s.Migrating == nil {
			continue
		}
		r, err := a.Migrate(ctx, pool, s.Migrating.Slots, s.Migrating.To, opt)
		if r != nil {
			out = append(out, r)
		}
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func (m *migrator) close() {
	for _, c := range m.clients {
		c.Close()
	}
}

func (m *migrator) client(addr string) *redis.Client {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.clients[addr]
	if c == nil {
		c = redis.NewClient(&redis.Options{
			Addr: addr, Password: m.opt.BackendAuth, Protocol: 2, DisableIdentity: true,
			DialTimeout: m.opt.IOTimeout, ReadTimeout: 2*m.opt.IOTimeout + time.Second, WriteTimeout: m.opt.IOTimeout,
			MaxRetries: -1, PoolSize: 2,
		})
		m.clients[addr] = c
	}
	return c
}

// checkShardis refuses a backend without the SHARDIS.* commands.
func (m *migrator) checkShardis(ctx context.Context, addr string) error {
	err := m.client(addr).Do(ctx, "SHARDIS.COUNTSLOTS", "SLOTS", 1, "RANGE", 0, 0).Err()
	if err != nil && strings.Contains(strings.ToLower(err.Error()), "unknown command") {
		return fmt.Errorf("%w: %w: %s does not know SHARDIS.MIGRATESLOTS (redis-server?); move the keys by other means and use shard set-range", ErrRefused, ErrNeedsShardisServer, addr)
	}
	if err != nil {
		return fmt.Errorf("backend %s: %w", addr, err)
	}
	return nil
}

// spec returns the slot-function options of the SHARDIS.* commands for r.
func (m *migrator) spec(r hashring.Range) []any {
	return []any{"HASH", m.settings.Hash, "TAG", m.settings.HashTag, "SLOTS", m.settings.Slots, "RANGE", r.Lo, r.Hi}
}

// masters reads the current masters of the source and target shards
// ("" for a shard without one).
func (m *migrator) masters() (src, dst string, err error) {
	t, err := m.a.Topology(m.pool)
	if err != nil {
		return "", "", err
	}
	s, ok1 := t.Shard(m.from)
	d, ok2 := t.Shard(m.to)
	if !ok1 || !ok2 {
		return "", "", refused("shard %s or %s disappeared during the migration", m.from, m.to)
	}
	if mm, ok := s.MasterMember(); ok {
		src = mm.Addr
	}
	if mm, ok := d.MasterMember(); ok {
		dst = mm.Addr
	}
	return src, dst, nil
}

func (m *migrator) progress(format string, args ...any) {
	if m.opt.Progress != nil {
		m.opt.Progress(fmt.Sprintf(format, args...))
	}
}

// run moves the keys, then gives the slots to the target.
func (m *migrator) run(ctx context.Context) error {
	m.start = time.Now()
	verb := "migrating"
	if m.rep.Resumed {
		verb = "resuming migration of"
	}
	m.progress("%s pool %s slots %s from %s to %s", verb, m.pool, m.rep.Slots, m.from, m.to)
	if err := m.awaitRecord(ctx); err != nil {
		return err
	}
	src, _, err := m.waitMasters(ctx)
	if err != nil {
		return err
	}
	m.moveStart = time.Now()
	for _, r := range m.slots {
		if n, err := m.client(src).Do(ctx, append([]any{"SHARDIS.COUNTSLOTS"}, m.spec(r)...)...).Int64(); err == nil {
			m.total += n
		}
	}
	m.progress("%d keys to move", m.total)
	for _, r := range m.slots {
		for pass := 0; ; pass++ {
			if err := m.pass(ctx, r); err != nil {
				return err
			}
			left, err := m.left(ctx, r)
			if err != nil {
				return err
			}
			if left == 0 {
				break
			}
			if pass >= 100 {
				return fmt.Errorf("slots %s: %d keys keep appearing on the source %s (a proxy that does not know the migration writes there?)", r, left, m.from)
			}
		}
	}
	srcV, dstV, err := m.finish()
	if err != nil {
		return err
	}
	if err := m.awaitSwitch(ctx, srcV, dstV); err != nil {
		return err
	}
	m.rep.Took = time.Since(m.start)
	m.rep.TookMS = m.rep.Took.Milliseconds()
	rate := float64(m.rep.Keys) / max(time.Since(m.moveStart).Seconds(), 1e-3)
	m.rep.Rate = rate
	m.progress("done: %d keys (%s) of slots %s moved from %s to %s in %v (%.0f keys/s)%s",
		m.rep.Keys, humanBytes(m.rep.Bytes), m.rep.Slots, m.from, m.to, m.rep.Took.Round(time.Millisecond), rate, droppedNote(m.rep.Dropped))
	return nil
}

func droppedNote(n int64) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(", %d stale copies dropped (the target had newer ones)", n)
}

// waitMasters returns the masters of both shards, waiting (up to
// opt.Pause) while either has none.
func (m *migrator) waitMasters(ctx context.Context) (string, string, error) {
	deadline := time.Now().Add(m.opt.Pause)
	for {
		src, dst, err := m.masters()
		if err == nil && src != "" && dst != "" {
			return src, dst, nil
		}
		if errors.Is(err, ErrRefused) {
			return "", "", err
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("shard %s or %s has had no master for %v", m.from, m.to, m.opt.Pause)
			}
			return "", "", err
		}
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return "", "", err
		}
	}
}

// pass walks the source once for range r, batch by batch. A failed batch
// (a master gone, fenced, demoted, unreachable) pauses: the masters are
// read again and the walk goes on from the same cursor on the new ones.
func (m *migrator) pass(ctx context.Context, r hashring.Range) error {
	cursor := "0"
	var pausedSince time.Time
	src, dst, err := m.waitMasters(ctx)
	if err != nil {
		return err
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		host, port, err := net.SplitHostPort(dst)
		if err != nil {
			return fmt.Errorf("target master %q: %w", dst, err)
		}
		args := append([]any{"SHARDIS.MIGRATESLOTS", host, port, m.opt.IOTimeout.Milliseconds(), cursor, m.opt.Batch}, m.spec(r)...)
		if m.opt.BackendAuth != "" {
			args = append(args, "AUTH", m.opt.BackendAuth)
		}
		res, err := m.client(src).Do(ctx, args...).Slice()
		if err == nil && len(res) == 4 {
			pausedSince = time.Time{}
			next, _ := res[0].(string)
			moved, _ := res[1].(int64)
			bytes, _ := res[2].(int64)
			dropped, _ := res[3].(int64)
			m.rep.Keys += moved
			m.rep.Bytes += bytes
			m.rep.Dropped += dropped
			m.report(false)
			if next == "0" {
				return nil
			}
			cursor = next
			continue
		}
		if err == nil {
			err = fmt.Errorf("unexpected reply %v", res)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if pausedSince.IsZero() {
			pausedSince = time.Now()
			m.rep.Pauses++
			m.progress("paused: %s -> %s: %v; waiting for the shards' masters", src, dst, err)
		} else if time.Since(pausedSince) > m.opt.Pause {
			return fmt.Errorf("migration paused for %v, giving up (run it again to resume): %w", m.opt.Pause, err)
		}
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return err
		}
		nsrc, ndst, err := m.waitMasters(ctx)
		if err != nil {
			return err
		}
		if nsrc != src || ndst != dst {
			m.progress("resuming with masters %s -> %s", nsrc, ndst)
		}
		src, dst = nsrc, ndst
	}
}

// left counts the keys of r still on the source master.
func (m *migrator) left(ctx context.Context, r hashring.Range) (int64, error) {
	deadline := time.Now().Add(m.opt.Pause)
	for {
		src, _, err := m.waitMasters(ctx)
		if err != nil {
			return 0, err
		}
		n, err := m.client(src).Do(ctx, append([]any{"SHARDIS.COUNTSLOTS"}, m.spec(r)...)...).Int64()
		if err == nil {
			return n, nil
		}
		if time.Now().After(deadline) {
			return 0, err
		}
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return 0, err
		}
	}
}

// report prints a progress line when one is due (or always with force).
func (m *migrator) report(force bool) {
	now := time.Now()
	if !force && now.Sub(m.lastReport) < m.opt.ProgressEvery {
		return
	}
	m.lastReport = now
	el := now.Sub(m.moveStart).Seconds()
	rate := float64(m.rep.Keys) / max(el, 1e-3)
	pct, eta := "", "?"
	if m.total > 0 {
		pct = fmt.Sprintf("/%d (%d%%)", m.total, min(100, m.rep.Keys*100/m.total))
		if rate > 0 && m.total > m.rep.Keys {
			eta = (time.Duration(float64(m.total-m.rep.Keys)/rate*1e9) * time.Nanosecond).Round(100 * time.Millisecond).String()
		} else {
			eta = "0s"
		}
	}
	m.progress("%s -> %s slots %s: %d%s keys, %s, %.0f keys/s, ETA %s", m.from, m.to, m.rep.Slots, m.rep.Keys, pct, humanBytes(m.rep.Bytes), rate, eta)
}

// finish gives the slots to the target and drops the record, in one
// transaction checked against the versions just read. It returns the
// data versions it wrote to the source and target shards.
func (m *migrator) finish() (int32, int32, error) {
	for attempt := 0; ; attempt++ {
		t, err := m.a.Topology(m.pool)
		if err != nil {
			return 0, 0, err
		}
		src, ok1 := t.Shard(m.from)
		dst, ok2 := t.Shard(m.to)
		if !ok1 || !ok2 {
			return 0, 0, refused("shard %s or %s disappeared during the migration", m.from, m.to)
		}
		if src.Migrating == nil {
			return 0, 0, refused("the migration record of %s disappeared (another migrator finished it?)", m.from)
		}
		sd := conf.ShardData{Ranges: hashring.SubtractRanges(src.Ranges, m.slots)}
		dd := conf.ShardData{Ranges: hashring.MergeRanges(append(append([]hashring.Range(nil), dst.Ranges...), m.slots...)), Migrating: dst.Migrating}
		err = m.a.commit(conf.SetOp(src.Path, sd.Marshal(), src.Version), conf.SetOp(dst.Path, dd.Marshal(), dst.Version))
		if err == nil {
			return src.Version + 1, dst.Version + 1, nil // a set adds one to the version
		}
		if !errors.Is(err, ErrConflict) || attempt >= 5 {
			return 0, 0, err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
