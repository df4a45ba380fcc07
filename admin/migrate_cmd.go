package admin

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/shardis/shardis/conf"
	"github.com/shardis/shardis/hashring"
)

// migrateFlags registers the options shared by migrate and rebalance.
func migrateFlags(fs *flag.FlagSet, o *MigrateOptions) {
	fs.IntVar(&o.Batch, "batch", 200, "keys per batch")
	fs.DurationVar(&o.Settle, "settle", time.Second, "with --no-proxy-ack or no registered proxy: wait after writing the migration record, before moving keys")
	fs.DurationVar(&o.AckTimeout, "ack-timeout", 30*time.Second, "how long to wait for every registered proxy to acknowledge the migration record (then exit 1; run again to resume)")
	fs.BoolVar(&o.NoProxyAck, "no-proxy-ack", false, "do not wait for the proxies' acknowledgements: wait --settle instead (unsafe if a proxy is slow)")
	fs.StringVar(&o.BackendAuth, "backend-auth", "", "the backends' `password` (the pool's redis_auth)")
	fs.DurationVar(&o.Pause, "max-pause", 2*time.Minute, "how long to wait for a shard without a reachable master before giving up")
	fs.DurationVar(&o.ProgressEvery, "progress", time.Second, "interval between progress lines")
	fs.StringVar(&o.Hash, "hash", "", "the pool's hash, when its znode does not say (as in the proxies' YAML)")
	fs.Func("hash-tag", "the pool's hash tag (\"\" for none), when its znode does not say", func(s string) error {
		if len(s) != 0 && len(s) != 2 {
			return fmt.Errorf("want two characters or \"\"")
		}
		o.HashTag, o.HashTagSet = s, true
		return nil
	})
	fs.IntVar(&o.Slots, "pool-slots", 0, "the pool's slot count, when its znode does not say (default 4096)")
}

// progressTo prints progress lines on standard output (standard error
// with --json, which keeps standard output for the result).
func (e *Env) progressTo() func(string) {
	w := e.Stdout
	if e.G.JSON {
		w = e.Stderr
	}
	return func(line string) { fmt.Fprintf(w, "%s %s\n", time.Now().Format("15:04:05"), line) }
}

// runMigrate is `shardis-admin migrate <pool> --slots a-b --to <shard>`
// (or `--resume`: finish every recorded migration of the pool).
func runMigrate(ctx context.Context, e *Env, args []string) error {
	fs := e.Flags("migrate")
	var o MigrateOptions
	migrateFlags(fs, &o)
	slots := fs.String("slots", "", "the slot `ranges` to move, a-b[,c-d] (owned by one shard)")
	to := fs.String("to", "", "the target `shard`")
	resume := fs.Bool("resume", false, "finish the migrations recorded in the pool")
	pos, err := e.Parse(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, 1, "<pool>"); err != nil {
		return err
	}
	pool := pos[0]
	if o.Settle == 0 {
		o.Settle = -1 // --settle 0: none (MigrateOptions' zero is the default)
	}
	if *resume != (*slots == "" && *to == "") {
		return fmt.Errorf("%w: give --slots and --to, or --resume", ErrUsage)
	}
	ranges, err := parseRanges(*slots)
	if err != nil {
		return err
	}
	if !*resume {
		if len(ranges) == 0 {
			return fmt.Errorf("%w: --slots: no slots", ErrUsage)
		}
		if err := conf.CheckShardName(*to); err != nil {
			return fmt.Errorf("%w: --to: %v", ErrUsage, err)
		}
	}
	a, err := e.Admin(ctx)
	if err != nil {
		return err
	}
	o.Progress = e.progressTo()
	var reps []*MigrateReport
	if *resume {
		reps, err = a.ResumeAll(ctx, pool, o)
		if err == nil && len(reps) == 0 && !e.G.JSON {
			fmt.Fprintf(e.Stdout, "pool %s has no migration to resume\n", pool)
		}
	} else {
		var rep *MigrateReport
		rep, err = a.Migrate(ctx, pool, ranges, *to, o)
		if rep != nil {
			reps = append(reps, rep)
		}
	}
	if e.G.JSON && err == nil {
		return e.JSONOut(map[string]any{"migrations": reps})
	}
	return err
}

// runRebalance is `shardis-admin rebalance <pool> [--dry-run]`.
func runRebalance(ctx context.Context, e *Env, args []string) error {
	fs := e.Flags("rebalance")
	var o MigrateOptions
	migrateFlags(fs, &o)
	dry := fs.Bool("dry-run", false, "print the plan only")
	pos, err := e.Parse(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, 1, "<pool>"); err != nil {
		return err
	}
	if o.Settle == 0 {
		o.Settle = -1
	}
	a, err := e.Admin(ctx)
	if err != nil {
		return err
	}
	o.Progress = e.progressTo()
	out := e.Stdout
	if e.G.JSON {
		out = e.Stderr
	}
	moves, reps, err := a.Rebalance(ctx, pos[0], o, *dry, func(ms []Move) {
		if len(ms) == 0 {
			fmt.Fprintf(out, "pool %s is balanced: nothing to move\n", pos[0])
			return
		}
		fmt.Fprintf(out, "plan for pool %s (%d migrations):\n", pos[0], len(ms))
		for _, m := range ms {
			fmt.Fprintf(out, "  %s\n", m)
		}
	})
	if e.G.JSON && err == nil {
		type mv struct {
			From  string `json:"from"`
			To    string `json:"to"`
			Slots string `json:"slots"`
		}
		var plan []mv
		for _, m := range moves {
			plan = append(plan, mv{m.From, m.To, hashring.FormatRanges(m.Slots)})
		}
		return e.JSONOut(map[string]any{"plan": plan, "migrations": reps})
	}
	return err
}
