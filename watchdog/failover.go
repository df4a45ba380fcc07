package watchdog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"time"

	"github.com/shardis/shardis/conf"
)

// Manual failover, the operator's side (shardis-admin failover). The
// protocol is in request.go and docs/failover.md: Failover creates the
// request znode and waits; the watchdogs do the work.

// DefaultFailoverTimeout bounds a manual failover.
const DefaultFailoverTimeout = 10 * time.Second

// Errors of Failover.
var (
	// ErrNoMaster: the shard has no master to hand over from.
	ErrNoMaster = errors.New("the shard has no master")
	// ErrNoTarget: no replica of the master can take over (or --to names
	// none).
	ErrNoTarget = errors.New("no replica to fail over to")
	// ErrFailoverInProgress: a request znode exists already.
	ErrFailoverInProgress = errors.New("a failover is already in progress for the shard")
	// ErrFailoverTimeout: the switch did not happen in time; the request
	// was withdrawn and the old master stays in charge.
	ErrFailoverTimeout = errors.New("failover timed out")
	// ErrFailoverWithdrawn: the request vanished without a switch (the
	// master's watchdog gave up on it, or someone deleted it).
	ErrFailoverWithdrawn = errors.New("failover request withdrawn")
)

// FailoverOptions configure Failover.
type FailoverOptions struct {
	// To is the target backend's address; "" picks the replica of the
	// master with the highest published offset.
	To string
	// Timeout bounds the whole failover, and the time the master stays
	// paused; 0 means DefaultFailoverTimeout.
	Timeout time.Duration
	// Poll is how often the shard is read while waiting; 0 means 25 ms.
	Poll   time.Duration
	Logger *slog.Logger
}

// FailoverResult describes a completed manual failover.
type FailoverResult struct {
	Shard     string
	OldMaster string // address
	NewMaster string // address
	Epoch     int64  // the new master's sequence
	Offset    int64  // the old master's offset when it paused writes
	Took      time.Duration
}

// Failover hands the shard's mastership over to a replica with no
// acknowledged write lost, like Redis' CLUSTER FAILOVER: the master's
// watchdog pauses writes, the target's watchdog waits until its backend
// has every write, promotes it and switches the roles in ZooKeeper. On
// timeout (or ctx's end) the request is withdrawn and the old master
// resumes; the error then says why (wrapping ErrFailoverTimeout).
func Failover(ctx context.Context, z *conf.ZK, shardPath string, opts FailoverOptions) (FailoverResult, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultFailoverTimeout
	}
	if opts.Timeout > MaxRequestTimeout {
		return FailoverResult{}, fmt.Errorf("timeout %v is above %v", opts.Timeout, MaxRequestTimeout)
	}
	if opts.Poll <= 0 {
		opts.Poll = 25 * time.Millisecond
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	reqPath, err := RequestPath(shardPath)
	if err != nil {
		return FailoverResult{}, err
	}
	start := time.Now()
	res := FailoverResult{Shard: shardPath}
	s, err := readShardFresh(z, shardPath)
	if err != nil {
		return res, err
	}
	master, ok := s.MasterMember()
	if !ok {
		return res, fmt.Errorf("%w: %s", ErrNoMaster, shardPath)
	}
	res.OldMaster = master.Addr
	target, err := pickTarget(s, master, opts.To)
	if err != nil {
		return res, err
	}
	res.NewMaster = target.Addr

	var id [8]byte
	_, _ = rand.Read(id[:])
	req := FailoverRequest{ID: hex.EncodeToString(id[:]), Master: master.Name, Target: target.Addr,
		Timeout: opts.Timeout, State: RequestRequested}
	if err := z.EnsurePath(path.Dir(reqPath)); err != nil {
		return res, err
	}
	if _, err := z.Create(reqPath, req.Marshal(), conf.CreateEphemeral); err != nil {
		if errors.Is(err, conf.ErrNodeExists) {
			b, _, _ := z.Get(reqPath)
			return res, fmt.Errorf("%w: %s holds %s", ErrFailoverInProgress, reqPath, b)
		}
		return res, err
	}
	log.Info("failover requested", "shard", shardPath, "master", master.Addr, "target", target.Addr, "id", req.ID, "timeout", opts.Timeout)

	deadline := start.Add(opts.Timeout)
	var last FailoverRequest
	lastSeen := false
	t := time.NewTicker(opts.Poll)
	defer t.Stop()
	for {
		// The switch deletes the request and names the target master in
		// one transaction: check the shard first.
		switched := func(s *conf.Shard, m conf.Member) FailoverResult {
			res.Epoch, res.Offset, res.Took = m.Seq, last.Offset, time.Since(start)
			for _, x := range s.Members {
				if x.Name == master.Name && res.Offset == 0 {
					res.Offset = x.Data.Offset // the switch wrote the paused offset there
				}
			}
			log.Info("failover done", "shard", shardPath, "new_master", m.Addr, "epoch", m.Seq, "took", res.Took)
			return res
		}
		if s, err := conf.ReadShard(z, shardPath); err == nil {
			if m, ok := s.MasterMember(); ok && m.Addr == target.Addr && m.Seq >= target.Seq {
				return switched(s, m), nil
			}
		}
		b, _, err := z.Get(reqPath)
		switch {
		case errors.Is(err, conf.ErrNoNode):
			// The request went between the two reads: switched, or
			// withdrawn.
			if s, m, ok := switchedTo(z, shardPath, target); ok {
				return switched(s, m), nil
			}
			return res, fmt.Errorf("%w: %s; %s stays master", ErrFailoverWithdrawn, describeStall(last, lastSeen, target), master.Addr)
		case err == nil:
			if r, perr := ParseFailoverRequest(b); perr == nil && r.ID == req.ID {
				if r.State != last.State && r.State == RequestPaused {
					log.Info("master paused writes", "offset", r.Offset, "after", time.Since(start))
				}
				last, lastSeen = r, true
			}
		}
		var done <-chan struct{}
		if ctx != nil {
			done = ctx.Done()
		}
		if time.Now().After(deadline) || isDone(done) {
			return res, withdraw(z, reqPath, shardPath, target, master, last, lastSeen, res, start, ctx)
		}
		select {
		case <-t.C:
		case <-done:
		}
	}
}

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// withdraw deletes the request after a timeout (or cancellation) and
// explains why the failover did not happen.
func withdraw(z *conf.ZK, reqPath, shardPath string, target, master conf.Member, last FailoverRequest, lastSeen bool,
	res FailoverResult, start time.Time, ctx context.Context) error {
	err := z.Delete(reqPath, -1)
	if errors.Is(err, conf.ErrNoNode) {
		// Gone meanwhile: switched at the last moment?
		if _, _, ok := switchedTo(z, shardPath, target); ok {
			return nil
		}
	} else if err != nil {
		return fmt.Errorf("%w after %v, and withdrawing the request %s failed (the master's watchdog gives up on it after the timeout): %w",
			ErrFailoverTimeout, time.Since(start).Round(time.Millisecond), reqPath, err)
	}
	why := describeStall(last, lastSeen, target)
	if ctx != nil && ctx.Err() != nil {
		return fmt.Errorf("failover cancelled (%w): %s; %s stays master", ctx.Err(), why, master.Addr)
	}
	return fmt.Errorf("%w after %v: %s; %s stays master", ErrFailoverTimeout, time.Since(start).Round(time.Millisecond), why, master.Addr)
}

func describeStall(last FailoverRequest, seen bool, target conf.Member) string {
	if !seen || last.State == RequestRequested {
		return "the master's watchdog did not pause writes (is it running, and is " + target.Addr + " a replica of the master with a higher sequence?)"
	}
	return fmt.Sprintf("%s did not reach the master's offset %d (is its watchdog running? is it replicating?)", target.Addr, last.Offset)
}

// switchedTo reports whether the shard's master is now target (or a
// newer member of the target's address).
func switchedTo(z *conf.ZK, shardPath string, target conf.Member) (*conf.Shard, conf.Member, bool) {
	s, err := readShardFresh(z, shardPath)
	if err != nil {
		return nil, conf.Member{}, false
	}
	m, ok := s.MasterMember()
	return s, m, ok && m.Addr == target.Addr
}

func readShardFresh(z *conf.ZK, shardPath string) (*conf.Shard, error) {
	if err := z.Sync(shardPath); err != nil {
		return nil, err
	}
	return conf.ReadShard(z, shardPath)
}

// pickTarget chooses the replica to promote: the one at to, or the
// replica of master with the highest published offset (the lowest
// sequence on a tie).
func pickTarget(s *conf.Shard, master conf.Member, to string) (conf.Member, error) {
	var best conf.Member
	found := false
	for _, m := range s.Members {
		if to != "" && m.Addr != to {
			continue
		}
		if to != "" && m.Name == master.Name {
			return conf.Member{}, fmt.Errorf("%w: %s is the master already", ErrNoTarget, to)
		}
		if m.Err != nil || m.Data.Role != conf.RoleReplica || m.Data.Epoch != master.Seq {
			if to != "" {
				return conf.Member{}, fmt.Errorf("%w: %s is not a replica of the master %s (role %s, epoch %d, master epoch %d)",
					ErrNoTarget, to, master.Addr, m.Data.Role, m.Data.Epoch, master.Seq)
			}
			continue
		}
		if !found || m.Data.Offset > best.Data.Offset {
			best, found = m, true
		}
	}
	if !found {
		if to != "" {
			return conf.Member{}, fmt.Errorf("%w: %s is not a member of %s", ErrNoTarget, to, s.Path)
		}
		return conf.Member{}, fmt.Errorf("%w: %s has no replica of its master %s", ErrNoTarget, s.Path, master.Addr)
	}
	return best, nil
}
