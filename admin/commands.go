package admin

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/shardis/shardis/conf"
)

// The run functions of the command table: parse, call Admin, print.

func runPoolCreate(ctx context.Context, e *Env, args []string) error {
	fs := e.Flags("pool create")
	shards := fs.Int("shards", 0, "number of shards")
	slots := fs.Int("slots", conf.DefaultSlots, "slot count")
	hash := fs.String("hash", "", "hash function written to the pool znode")
	tag := fs.String("hash-tag", "", "hash tag written to the pool znode, e.g. {}")
	pos, err := e.Parse(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, 1, "<pool>"); err != nil {
		return err
	}
	if *shards < 1 {
		return fmt.Errorf("%w: --shards N is required (N >= 1)", ErrUsage)
	}
	spec := PoolSpec{Name: pos[0], Shards: *shards, Slots: *slots, Hash: *hash}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "hash-tag" {
			spec.HashTag, spec.HashTagSet = *tag, true
		}
	})
	a, err := e.Admin(ctx)
	if err != nil {
		return err
	}
	t, err := a.CreatePool(spec)
	if err != nil {
		return err
	}
	if e.G.JSON {
		st, err := a.Status(ctx, spec.Name, StatusOptions{NoProbe: true})
		if err != nil {
			return err
		}
		return e.JSONOut(st)
	}
	fmt.Fprintf(e.Stdout, "created pool %s at %s: %d slots, %d shards\n", spec.Name, t.Path, t.Settings.Slots, len(t.Shards))
	for _, s := range t.Shards {
		fmt.Fprintf(e.Stdout, "  %s  %s\n", s.Name, rangesText(s.Ranges))
	}
	fmt.Fprintf(e.Stdout, "proxies register under %s\n", a.Layout.ProxyDir(spec.Name))
	return nil
}

func runPoolList(ctx context.Context, e *Env, args []string) error {
	pos, err := e.Parse(e.Flags("pool list"), args)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 0, 0, "no arguments"); err != nil {
		return err
	}
	a, err := e.Admin(ctx)
	if err != nil {
		return err
	}
	pools, err := a.ListPools()
	if err != nil {
		return err
	}
	if e.G.JSON {
		if pools == nil {
			pools = []string{}
		}
		return e.JSONOut(pools)
	}
	for _, p := range pools {
		fmt.Fprintln(e.Stdout, p)
	}
	return nil
}

func runShardAdd(ctx context.Context, e *Env, args []string) error {
	fs := e.Flags("shard add")
	rng := fs.String("range", "", "slot ranges the new shard owns, a-b[,c-d]")
	force := fs.Bool("force", false, "write even if slots end up uncovered or owned twice")
	pos, err := e.Parse(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, 2, "<pool> [<shard>]"); err != nil {
		return err
	}
	ranges, err := parseRanges(*rng)
	if err != nil {
		return err
	}
	name := ""
	if len(pos) == 2 {
		name = pos[1]
	}
	a, err := e.Admin(ctx)
	if err != nil {
		return err
	}
	name, res, err := a.AddShard(pos[0], name, ranges, *force)
	if err != nil {
		return err
	}
	e.Warn(res.Warnings)
	if e.G.JSON {
		return e.JSONOut(map[string]any{"pool": pos[0], "shard": name, "ranges": rangesText(ranges), "warnings": res.Warnings})
	}
	fmt.Fprintf(e.Stdout, "added shard %s to pool %s (%s)\n", name, pos[0], rangesText(ranges))
	return nil
}

func runShardRemove(ctx context.Context, e *Env, args []string) error {
	fs := e.Flags("shard remove")
	force := fs.Bool("force", false, "remove even if it owns slots or has live members")
	pos, err := e.Parse(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 2, 2, "<pool> <shard>"); err != nil {
		return err
	}
	a, err := e.Admin(ctx)
	if err != nil {
		return err
	}
	res, err := a.RemoveShard(pos[0], pos[1], *force)
	if err != nil {
		return err
	}
	e.Warn(res.Warnings)
	if e.G.JSON {
		return e.JSONOut(map[string]any{"pool": pos[0], "removed": pos[1], "warnings": res.Warnings})
	}
	fmt.Fprintf(e.Stdout, "removed shard %s from pool %s\n", pos[1], pos[0])
	return nil
}

func runShardSetRange(ctx context.Context, e *Env, args []string) error {
	fs := e.Flags("shard set-range")
	force := fs.Bool("force", false, "write even if slots end up uncovered or owned twice")
	pos, err := e.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 3 || len(pos)%2 != 1 {
		return fmt.Errorf("%w: want <pool> followed by <shard> <ranges> pairs", ErrUsage)
	}
	var set []ShardRanges
	for i := 1; i < len(pos); i += 2 {
		r, err := parseRanges(pos[i+1])
		if err != nil {
			return err
		}
		set = append(set, ShardRanges{Shard: pos[i], Ranges: r})
	}
	a, err := e.Admin(ctx)
	if err != nil {
		return err
	}
	res, err := a.SetRanges(pos[0], set, *force)
	if err != nil {
		return err
	}
	e.Warn(res.Warnings)
	if e.G.JSON {
		st, err := a.Status(ctx, pos[0], StatusOptions{NoProbe: true})
		if err != nil {
			return err
		}
		return e.JSONOut(map[string]any{"pool": pos[0], "shards": st.Shards, "valid": st.Valid, "warnings": res.Warnings})
	}
	for _, sr := range set {
		fmt.Fprintf(e.Stdout, "shard %s of pool %s: %s\n", sr.Shard, pos[0], rangesText(sr.Ranges))
	}
	return nil
}

// statusFlags registers the probe flags of status and check.
func statusFlags(e *Env, name string) (*flag.FlagSet, *StatusOptions) {
	fs := e.Flags(name)
	opts := &StatusOptions{}
	fs.BoolVar(&opts.NoProbe, "no-probe", false, "do not ask the backends (ZooKeeper only)")
	fs.StringVar(&opts.BackendAuth, "backend-auth", "", "password for the backends (the pool's redis_auth)")
	fs.DurationVar(&opts.ProbeTimeout, "probe-timeout", 2*time.Second, "timeout of each backend's INFO")
	return fs, opts
}

func runStatus(ctx context.Context, e *Env, args []string) error {
	fs, opts := statusFlags(e, "status")
	pos, err := e.Parse(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, 1, "<pool>"); err != nil {
		return err
	}
	a, err := e.Admin(ctx)
	if err != nil {
		return err
	}
	st, err := a.Status(ctx, pos[0], *opts)
	if err != nil {
		return err
	}
	if e.G.JSON {
		return e.JSONOut(st)
	}
	writeStatus(e.Stdout, st)
	return nil
}

func runCheck(ctx context.Context, e *Env, args []string) error {
	fs, opts := statusFlags(e, "check")
	maxLag := fs.Int64("max-lag", DefaultMaxLag, "bytes a replica may lag behind its master (-1: no bound)")
	pos, err := e.Parse(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, 1, "<pool>"); err != nil {
		return err
	}
	a, err := e.Admin(ctx)
	if err != nil {
		return err
	}
	st, err := a.Status(ctx, pos[0], *opts)
	if err != nil {
		return err
	}
	r := Check(st, CheckOptions{MaxLag: *maxLag})
	if e.G.JSON {
		if err := e.JSONOut(r); err != nil {
			return err
		}
	} else {
		writeCheck(e.Stdout, r)
	}
	if !r.Healthy {
		kinds := map[string]bool{}
		var list []string
		for _, p := range r.Problems {
			if !kinds[p.Kind] {
				kinds[p.Kind] = true
				list = append(list, p.Kind)
			}
		}
		return fmt.Errorf("%w: pool %s: %d problem(s): %s", ErrCheckFailed, r.Pool, len(r.Problems), strings.Join(list, ", "))
	}
	return nil
}
