package watchdog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// The backend side of the I/O: probes, the batches the core asks for,
// and the peer offset query. Only standard commands are sent (PING is
// implied by INFO; INFO server/replication, ROLE is not needed, REPLICAOF,
// CONFIG SET, CLIENT PAUSE/UNPAUSE), so that a Debian redis-server works;
// shardis-server's fencing and epochs (CONFIG SET fenced / shardis-epoch)
// are used only when INFO server has shardis_version: (CONTRACTS.md).

// ErrBackend wraps a failed backend command.
var ErrBackend = errors.New("backend command failed")

// newRedisClient returns a go-redis client for a backend: RESP2, no
// retries (a probe that fails must count as failed), every wait bounded
// by timeout.
func newRedisClient(addr, auth string, timeout time.Duration, pool int) *redis.Client {
	user, pass := splitAuth(auth)
	return redis.NewClient(&redis.Options{
		Addr: addr, Username: user, Password: pass,
		Protocol: 2, DisableIdentity: true,
		DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout,
		MaxRetries: -1, PoolSize: pool, PoolTimeout: timeout,
		ContextTimeoutEnabled: true,
	})
}

// backendClient is the go-redis client of one backend, replaced after a
// failed dial. Once PoolSize dials in a row have failed, go-redis answers
// every command with the last dial error without dialling, and dials
// again only once a second: a backend that restarts would be seen — and
// fenced — up to a second late, a second in which the restarted backend
// (an empty, unfenced master) takes writes from any client that still
// knows its address. It is safe for concurrent use.
type backendClient struct {
	newClient func() *redis.Client

	mu  sync.Mutex
	rdb *redis.Client
}

func newBackendClient(addr, auth string, timeout time.Duration, pool int) *backendClient {
	mk := func() *redis.Client { return newRedisClient(addr, auth, timeout, pool) }
	return &backendClient{newClient: mk, rdb: mk()}
}

// get returns the current client.
func (b *backendClient) get() *redis.Client {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rdb
}

// observe replaces c, the client that returned err, if err is a failed
// dial. A command in flight on c at that moment fails ("client is
// closed"), as it would have on the backend that refused the dial.
func (b *backendClient) observe(c *redis.Client, err error) {
	var op *net.OpError
	if err == nil || !errors.As(err, &op) || op.Op != "dial" {
		return
	}
	b.mu.Lock()
	if b.rdb != c {
		b.mu.Unlock()
		return
	}
	b.rdb = b.newClient()
	b.mu.Unlock()
	_ = c.Close()
}

// Close closes the current client.
func (b *backendClient) Close() error { return b.get().Close() }

// splitAuth splits "user:password" (an ACL user) or "password".
func splitAuth(auth string) (user, pass string) {
	if u, p, ok := strings.Cut(auth, ":"); ok && u != "" && !strings.ContainsAny(u, " \t") {
		return u, p
	}
	return "", auth
}

// readInfo runs INFO server and INFO replication in one round trip.
func readInfo(ctx context.Context, rdb *redis.Client) (BackendInfo, error) {
	cmds, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Info(ctx, "server")
		p.Info(ctx, "replication")
		return nil
	})
	if err != nil {
		return BackendInfo{}, err
	}
	server, err := ParseInfo(cmds[0].(*redis.StringCmd).Val())
	if err != nil {
		return BackendInfo{}, err
	}
	repl, err := ParseInfo(cmds[1].(*redis.StringCmd).Val())
	if err != nil {
		return BackendInfo{}, err
	}
	return BackendInfoFrom(server, repl)
}

// backendDriver runs the core's backend batches on the local backend, in
// order, and keeps a redis-server fence alive by renewing CLIENT PAUSE.
// Its goroutine (run) is owned by the Watchdog and ends with ctx.
type backendDriver struct {
	rdb      *backendClient
	timeout  time.Duration
	pauseFor time.Duration
	renew    time.Duration
	log      *slog.Logger

	batches chan []Action
	results func(Event) // delivers an event to the loop

	// failed counts consecutive failed batches (run's goroutine only):
	// a dead backend fails the core's retry every RetryAfter; the first
	// failure and every 20th are logged as warnings, the rest at debug.
	failed int

	mu      sync.Mutex
	fenced  bool // a fence is wanted: renew it (redis-server)
	shardis bool // last detected kind
	known   bool // shardis is known (from a probe or a detect)
}

// setKind records the kind a probe saw.
func (d *backendDriver) setKind(shardis bool) {
	d.mu.Lock()
	d.shardis, d.known = shardis, true
	d.mu.Unlock()
}

func (d *backendDriver) run(ctx context.Context) {
	t := time.NewTicker(d.renew)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-d.batches:
			d.results(d.exec(ctx, b))
		case <-t.C:
			d.renewPause(ctx)
		}
	}
}

// exec runs one batch and reports how far it got. The backend's kind is
// the one last seen (by a probe): a hung backend must get its fence
// command queued at once, not after an INFO that times out — when it
// resumes, it runs the commands of its oldest connections first, so a
// fence queued early is applied before the writes of clients that
// connected later (issue 9, scenario 3).
func (d *backendDriver) exec(ctx context.Context, batch []Action) BackendDone {
	res := BackendDone{ID: batch[0].ID}
	d.mu.Lock()
	shardis, known := d.shardis, d.known
	d.mu.Unlock()
	if !known {
		var err error
		if shardis, err = d.detect(ctx); err != nil {
			res.Err = err
			return res
		}
	}
	for _, a := range batch {
		off, err := d.apply(ctx, a, shardis)
		if err != nil {
			res.Err = fmt.Errorf("%w: %s: %w", ErrBackend, a, err)
			d.failed++
			level := slog.LevelDebug
			if d.failed == 1 || d.failed%20 == 0 {
				level = slog.LevelWarn
			}
			d.log.Log(ctx, level, "backend command failed", "action", a.String(), "failures", d.failed, "err", err)
			return res
		}
		if a.Kind == ActReadOffset {
			res.Offset = off
		}
		res.Done++
	}
	if d.failed > 0 {
		d.log.Info("backend commands ok again", "after_failures", d.failed)
		d.failed = 0
	}
	return res
}

// detect reads INFO server: is the backend shardis-server?
func (d *backendDriver) detect(ctx context.Context) (bool, error) {
	cctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	rdb := d.rdb.get()
	s, err := rdb.Info(cctx, "server").Result()
	d.rdb.observe(rdb, err)
	if err != nil {
		return false, fmt.Errorf("%w: INFO server: %w", ErrBackend, err)
	}
	m, err := ParseInfo(s)
	if err != nil {
		return false, err
	}
	_, shardis := m["shardis_version"]
	d.setKind(shardis)
	return shardis, nil
}

func (d *backendDriver) apply(ctx context.Context, a Action, shardis bool) (off int64, err error) {
	cctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	rdb := d.rdb.get()
	defer func() { d.rdb.observe(rdb, err) }()
	switch a.Kind {
	case ActFence:
		if shardis {
			err = rdb.Do(cctx, "CONFIG", "SET", "fenced", "yes").Err()
		} else {
			err = pause(cctx, rdb, d.pauseFor)
		}
		if err == nil {
			d.setFenced(true)
		}
	case ActUnfence:
		if shardis {
			err = rdb.Do(cctx, "CONFIG", "SET", "fenced", "no").Err()
		} else {
			err = rdb.Do(cctx, "CLIENT", "UNPAUSE").Err()
		}
		if err == nil {
			d.setFenced(false)
		}
	case ActSetEpoch:
		if shardis {
			err = rdb.Do(cctx, "CONFIG", "SET", "shardis-epoch", strconv.FormatInt(a.Epoch, 10)).Err()
		}
	case ActReplicaOf:
		host, port, perr := splitAddr(a.Addr)
		if perr != nil {
			return 0, perr
		}
		err = rdb.Do(cctx, "REPLICAOF", host, strconv.Itoa(port)).Err()
	case ActReplicaOfNoOne:
		err = rdb.Do(cctx, "REPLICAOF", "NO", "ONE").Err()
	case ActReadOffset:
		info, ierr := readInfo(cctx, rdb)
		return info.Offset, ierr
	default:
		return 0, fmt.Errorf("not a backend action: %s", a)
	}
	return 0, err
}

func pause(ctx context.Context, rdb *redis.Client, dur time.Duration) error {
	return rdb.Do(ctx, "CLIENT", "PAUSE", strconv.FormatInt(dur.Milliseconds(), 10), "WRITE").Err()
}

func (d *backendDriver) setFenced(v bool) {
	d.mu.Lock()
	d.fenced = v
	d.mu.Unlock()
}

// renewPause extends a redis-server fence before it lapses. (A fence of
// shardis-server lasts until lifted.)
func (d *backendDriver) renewPause(ctx context.Context) {
	d.mu.Lock()
	need := d.fenced && !d.shardis
	d.mu.Unlock()
	if !need {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	rdb := d.rdb.get()
	err := pause(cctx, rdb, d.pauseFor)
	d.rdb.observe(rdb, err)
	if err != nil {
		d.log.Debug("renewing CLIENT PAUSE failed", "err", err)
	}
}

// fenceOnExit fences the backend as the watchdog stops (best effort).
func (d *backendDriver) fenceOnExit(pauseFor time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d.timeout)
	defer cancel()
	shardis, err := d.detect(ctx)
	if err != nil {
		return err
	}
	if shardis {
		return d.rdb.get().Do(ctx, "CONFIG", "SET", "fenced", "yes").Err()
	}
	return pause(ctx, d.rdb.get(), pauseFor)
}

// queryPeers reads the offset of the local backend and of each peer, in
// parallel, each bounded by timeout.
func queryPeers(ctx context.Context, self *redis.Client, peers []Member, auth string, timeout time.Duration) PeerOffsets {
	res := PeerOffsets{Peers: map[string]PeerResult{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	one := func(rdb *redis.Client) PeerResult {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		info, err := readInfo(cctx, rdb)
		if err != nil {
			return PeerResult{Err: err.Error()}
		}
		return PeerResult{OK: true, Offset: info.Offset}
	}
	for _, p := range peers {
		wg.Add(1)
		go func() { // ends within timeout
			defer wg.Done()
			rdb := newRedisClient(p.Addr, auth, timeout, 1)
			defer rdb.Close()
			r := one(rdb)
			mu.Lock()
			res.Peers[p.Name] = r
			mu.Unlock()
		}()
	}
	res.Self = one(self)
	wg.Wait()
	return res
}
