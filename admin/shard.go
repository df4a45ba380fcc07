package admin

import (
	"fmt"
	"strings"

	"github.com/shardis/shardis/conf"
	"github.com/shardis/shardis/hashring"
)

// ShardRanges is a new set of ranges for one shard (nil: no slots).
type ShardRanges struct {
	Shard  string
	Ranges []hashring.Range
}

// Result says what a change did, and what the operator should know.
type Result struct {
	Topology *conf.Topology // the pool after the change
	// Warnings are true statements about the change that need attention,
	// e.g. that moving slots does not move their keys.
	Warnings []string
}

// coverageRefusal explains a coverage problem of a proposed change.
func coverageRefusal(slots int, own []hashring.Owner) error {
	err := hashring.CheckCoverage(slots, own)
	if err == nil {
		return nil
	}
	return refused("after this change, %v (use --force to write it anyway)", err)
}

// NextShardName is the first conventional shard name after the highest
// one in t (redis-0000 for a pool without conventional names).
func NextShardName(t *conf.Topology) string {
	next := 0
	for _, s := range t.Shards {
		if i, ok := conf.ShardIndex(s.Name); ok && i >= next {
			next = i + 1
		}
	}
	return conf.ShardName(next)
}

// AddShard adds a shard to pool, named name ("" for the next redis-NNNN),
// owning ranges (none: a new shard that waits for slots, e.g. from a
// migration). With ranges, the resulting pool must cover every slot
// exactly once unless force. It returns the shard's name.
func (a *Admin) AddShard(pool, name string, ranges []hashring.Range, force bool) (string, *Result, error) {
	t, err := a.Topology(pool)
	if err != nil {
		return "", nil, err
	}
	if name == "" {
		name = NextShardName(t)
	}
	if err := conf.CheckShardName(name); err != nil {
		return "", nil, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if _, ok := t.Shard(name); ok {
		return "", nil, refused("shard %s already exists in pool %s", name, pool)
	}
	res := &Result{}
	if len(ranges) > 0 {
		own := owners(t, map[string][]hashring.Range{name: ranges})
		if err := coverageRefusal(t.Settings.Slots, own); err != nil {
			if !force {
				return "", nil, err
			}
			res.Warnings = append(res.Warnings, "forced: "+err.Error())
		}
	}
	ops := append(checkShardVersions(t, ""), conf.CreateOp(a.Layout.ShardPath(pool, name), conf.ShardData{Ranges: ranges}.Marshal()))
	if err := a.commit(ops...); err != nil {
		return "", nil, err
	}
	res.Topology, err = a.Topology(pool)
	return name, res, err
}

// RemoveShard deletes a shard. It refuses while the shard owns slots, has
// live members, or takes part in a migration, unless force (which also
// deletes the members' znodes: their watchdogs re-register elsewhere or
// fail).
func (a *Admin) RemoveShard(pool, shard string, force bool) (*Result, error) {
	t, err := a.Topology(pool)
	if err != nil {
		return nil, err
	}
	s, ok := t.Shard(shard)
	if !ok {
		return nil, refused("pool %s has no shard %s (shards: %s)", pool, shard, shardNames(t))
	}
	var why []string
	if n := s.SlotCount(); n > 0 {
		why = append(why, fmt.Sprintf("it owns %d slots (%s); give them to other shards first (shard set-range, or migrate)", n, hashring.FormatRanges(s.Ranges)))
	}
	if len(s.Members) > 0 {
		addrs := make([]string, len(s.Members))
		for i, m := range s.Members {
			addrs[i] = m.Addr
		}
		why = append(why, fmt.Sprintf("it has %d live members (%s); stop their watchdogs first", len(s.Members), strings.Join(addrs, ", ")))
	}
	if s.Migrating != nil {
		why = append(why, "it is migrating slots to "+s.Migrating.To)
	}
	for _, o := range t.Shards {
		if o.Migrating != nil && o.Migrating.To == shard {
			why = append(why, "it receives a migration from "+o.Name)
		}
	}
	res := &Result{}
	if len(why) > 0 {
		msg := fmt.Sprintf("shard %s: %s (use --force to remove it anyway)", shard, strings.Join(why, "; "))
		if !force {
			return nil, refused("%s", msg)
		}
		res.Warnings = append(res.Warnings, "forced: "+msg)
	}
	ops := checkShardVersions(t, shard)
	for _, m := range s.Members {
		ops = append(ops, conf.DeleteOp(m.Path, -1))
	}
	ops = append(ops, conf.DeleteOp(s.Path, s.Version))
	if err := a.commit(ops...); err != nil {
		return nil, err
	}
	res.Topology, err = a.Topology(pool)
	return res, err
}

// SetRanges gives shards new ranges in one transaction. The resulting
// pool must cover every slot exactly once, and no shard may be in a
// migration, unless force. Moving slots between shards does not move
// their keys: use it to lay out empty shards, or after the keys moved.
func (a *Admin) SetRanges(pool string, set []ShardRanges, force bool) (*Result, error) {
	if len(set) == 0 {
		return nil, fmt.Errorf("%w: no shard to set", ErrUsage)
	}
	t, err := a.Topology(pool)
	if err != nil {
		return nil, err
	}
	change := map[string][]hashring.Range{}
	for _, sr := range set {
		if _, ok := t.Shard(sr.Shard); !ok {
			return nil, refused("pool %s has no shard %s (shards: %s)", pool, sr.Shard, shardNames(t))
		}
		if _, dup := change[sr.Shard]; dup {
			return nil, fmt.Errorf("%w: shard %s given twice", ErrUsage, sr.Shard)
		}
		change[sr.Shard] = sr.Ranges
	}
	res := &Result{}
	var problems []string
	if err := coverageRefusal(t.Settings.Slots, owners(t, change)); err != nil {
		problems = append(problems, err.Error())
	}
	for _, s := range t.Shards {
		if _, ok := change[s.Name]; ok && s.Migrating != nil {
			problems = append(problems, fmt.Sprintf("refused: shard %s is migrating slots %s to %s; let the migration finish (use --force to write it anyway)",
				s.Name, hashring.FormatRanges(s.Migrating.Slots), s.Migrating.To))
		}
	}
	if len(problems) > 0 {
		if !force {
			return nil, fmt.Errorf("%w: %s", ErrRefused, strings.TrimPrefix(strings.Join(problems, "; "), "refused: "))
		}
		for _, p := range problems {
			res.Warnings = append(res.Warnings, "forced: "+strings.TrimPrefix(p, "refused: "))
		}
	}
	// Which slots change hands between shards that have a master: their
	// keys stay where they are.
	for _, sr := range set {
		s, _ := t.Shard(sr.Shard)
		gained := hashring.SubtractRanges(sr.Ranges, s.Ranges)
		for _, o := range t.Shards {
			if o.Name == s.Name {
				continue
			}
			moved := intersect(gained, o.Ranges)
			if len(moved) > 0 && o.Master >= 0 {
				res.Warnings = append(res.Warnings, fmt.Sprintf("slots %s move from %s to %s without their keys (keys stay on %s's backends; use migrate to move keys)",
					hashring.FormatRanges(moved), o.Name, s.Name, o.Name))
			}
		}
	}
	ops := checkShardVersions(t, "")
	for _, sr := range set {
		s, _ := t.Shard(sr.Shard)
		ops = append(ops, conf.SetOp(s.Path, conf.ShardData{Ranges: sr.Ranges, Migrating: s.Migrating}.Marshal(), s.Version))
	}
	if err := a.commit(ops...); err != nil {
		return nil, err
	}
	res.Topology, err = a.Topology(pool)
	return res, err
}

func shardNames(t *conf.Topology) string {
	names := make([]string, len(t.Shards))
	for i, s := range t.Shards {
		names[i] = s.Name
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// intersect returns the slots in both a and b, as ranges.
func intersect(a, b []hashring.Range) []hashring.Range {
	var out []hashring.Range
	for _, r := range a {
		for _, x := range b {
			lo, hi := max(r.Lo, x.Lo), min(r.Hi, x.Hi)
			if lo <= hi {
				out = append(out, hashring.Range{Lo: lo, Hi: hi})
			}
		}
	}
	return hashring.MergeRanges(out)
}
