package admin

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/shardis/shardis/conf"
	"github.com/shardis/shardis/watchdog"
)

// runFailover is `shardis-admin failover <pool> <shard> [--to host:port]
// [--timeout 10s]`: a manual failover with no acknowledged write lost
// (docs/failover.md). The shard's watchdogs do the work; this creates the
// request and waits. The global --timeout bounds the whole failover (and
// the time the master's writes stay paused). On failure the old master
// stays in charge and the exit status is 1, with the reason.
func runFailover(ctx context.Context, e *Env, args []string) error {
	fs := e.Flags("failover")
	to := fs.String("to", "", "the replica to promote, `host:port` (default: the one with the highest offset)")
	pos, err := e.Parse(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 2, 2, "<pool> <shard>"); err != nil {
		return err
	}
	pool, shard := pos[0], pos[1]
	if err := conf.CheckPoolName(pool); err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if err := conf.CheckShardName(shard); err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if e.G.Timeout <= 0 || e.G.Timeout > watchdog.MaxRequestTimeout {
		return fmt.Errorf("%w: --timeout %v is not in (0, %v]", ErrUsage, e.G.Timeout, watchdog.MaxRequestTimeout)
	}
	a, err := e.Admin(ctx)
	if err != nil {
		return err
	}
	level := slog.LevelWarn
	if e.G.Verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(e.Stderr, &slog.HandlerOptions{Level: level}))
	res, err := watchdog.Failover(ctx, a.ZK, a.Layout.ShardPath(pool, shard),
		watchdog.FailoverOptions{To: *to, Timeout: e.G.Timeout, Logger: log})
	if err != nil {
		return err
	}
	if e.G.JSON {
		return e.JSONOut(map[string]any{"pool": pool, "shard": shard, "old_master": res.OldMaster,
			"new_master": res.NewMaster, "epoch": res.Epoch, "offset": res.Offset, "took_ms": res.Took.Milliseconds()})
	}
	fmt.Fprintf(e.Stdout, "failover of %s/%s: %s -> %s (epoch %d, writes paused at offset %d) in %v\n",
		pool, shard, res.OldMaster, res.NewMaster, res.Epoch, res.Offset, res.Took.Round(time.Millisecond))
	return nil
}
