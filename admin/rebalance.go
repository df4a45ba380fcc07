package admin

import (
	"context"
	"fmt"
	"sort"

	"github.com/shardis/shardis/conf"
	"github.com/shardis/shardis/hashring"
)

// Move is one migration of a rebalance plan.
type Move struct {
	From, To string
	Slots    []hashring.Range
}

func (m Move) String() string {
	return fmt.Sprintf("%s -> %s: slots %s (%d)", m.From, m.To, hashring.FormatRanges(m.Slots), slotCount(m.Slots))
}

// RebalancePlan computes the migrations that give every shard of t an
// even share of the slots (shard i of n in name order gets slots/n, the
// first slots%n one more), moving as few slots as possible: each shard
// over its share gives its highest slots to the shards under theirs.
// Shards that own no slots and have no master take no part (they could
// not receive keys).
func RebalancePlan(t *conf.Topology, slots int) []Move {
	var shards []*conf.Shard
	for i := range t.Shards {
		s := &t.Shards[i]
		if s.SlotCount() > 0 || s.Master >= 0 {
			shards = append(shards, s)
		}
	}
	sort.Slice(shards, func(i, j int) bool { return shards[i].Name < shards[j].Name })
	n := len(shards)
	if n == 0 {
		return nil
	}
	type acct struct {
		s      *conf.Shard
		ranges []hashring.Range
		delta  int // > 0: slots to give; < 0: slots to receive
	}
	accts := make([]*acct, n)
	for i, s := range shards {
		quota := slots / n
		if i < slots%n {
			quota++
		}
		accts[i] = &acct{s: s, ranges: hashring.MergeRanges(append([]hashring.Range(nil), s.Ranges...)), delta: s.SlotCount() - quota}
	}
	var moves []Move
	r := 0
	for _, d := range accts {
		for d.delta > 0 {
			for r < n && accts[r].delta >= 0 {
				r++
			}
			if r >= n {
				return moves
			}
			rc := accts[r]
			k := min(d.delta, -rc.delta)
			var taken []hashring.Range
			taken, d.ranges = takeTop(d.ranges, k)
			moves = append(moves, Move{From: d.s.Name, To: rc.s.Name, Slots: taken})
			d.delta -= k
			rc.delta += k
		}
	}
	return moves
}

// takeTop splits the k highest slots off rs (sorted, merged).
func takeTop(rs []hashring.Range, k int) (taken, rest []hashring.Range) {
	rest = append([]hashring.Range(nil), rs...)
	for k > 0 && len(rest) > 0 {
		last := &rest[len(rest)-1]
		if last.Len() <= k {
			taken = append(taken, *last)
			k -= last.Len()
			rest = rest[:len(rest)-1]
			continue
		}
		taken = append(taken, hashring.Range{Lo: last.Hi - k + 1, Hi: last.Hi})
		last.Hi -= k
		k = 0
	}
	return hashring.MergeRanges(taken), rest
}

// Rebalance finishes any recorded migration, then runs the plan's
// migrations one after the other. plan, when not nil, receives the plan
// before it runs.
func (a *Admin) Rebalance(ctx context.Context, pool string, opt MigrateOptions, dryRun bool, plan func([]Move)) ([]Move, []*MigrateReport, error) {
	var reps []*MigrateReport
	if !dryRun {
		r, err := a.ResumeAll(ctx, pool, opt)
		reps = append(reps, r...)
		if err != nil {
			return nil, reps, err
		}
	}
	t, err := a.Topology(pool)
	if err != nil {
		return nil, reps, err
	}
	settings, err := migrationSettings(t, opt)
	if err != nil {
		return nil, reps, err
	}
	moves := RebalancePlan(t, settings.Slots)
	if plan != nil {
		plan(moves)
	}
	if dryRun {
		return moves, reps, nil
	}
	for _, mv := range moves {
		r, err := a.Migrate(ctx, pool, mv.Slots, mv.To, opt)
		if r != nil {
			reps = append(reps, r)
		}
		if err != nil {
			return moves, reps, err
		}
	}
	return moves, reps, nil
}
