package watchdog

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// runHook runs the --on-failover command, like Sentinel's
// client-reconfig-script: `sh -c CMD` with the shard path, the old master
// and the new master as positional arguments ($1 $2 $3; the old master is
// "" when unknown), and the same in the environment (SHARDIS_SHARD,
// SHARDIS_OLD_MASTER, SHARDIS_NEW_MASTER, SHARDIS_EPOCH,
// SHARDIS_FAILOVER=auto|manual). It waits at most timeout; a failure is
// logged and reported, never retried, and never holds up the watchdog (it
// runs on its own goroutine).
func runHook(ctx context.Context, cmd string, timeout time.Duration, shard, oldMaster, newMaster string, epoch int64, manual bool, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := exec.CommandContext(ctx, "/bin/sh", "-c", cmd+` "$@"`, "shardis-watchdog", shard, oldMaster, newMaster)
	kind := "auto"
	if manual {
		kind = "manual"
	}
	c.Env = append(os.Environ(),
		"SHARDIS_SHARD="+shard, "SHARDIS_OLD_MASTER="+oldMaster, "SHARDIS_NEW_MASTER="+newMaster,
		"SHARDIS_EPOCH="+strconv.FormatInt(epoch, 10), "SHARDIS_FAILOVER="+kind)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	c.WaitDelay = time.Second
	start := time.Now()
	err := c.Run()
	text := strings.TrimSpace(out.String())
	if len(text) > 2048 {
		text = text[:2048] + "..."
	}
	if err != nil {
		log.Error("on-failover command failed", "cmd", cmd, "err", err, "took", time.Since(start), "output", text)
		return err
	}
	log.Info("on-failover command done", "cmd", cmd, "took", time.Since(start), "output", text)
	return nil
}
