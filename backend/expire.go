package backend

import (
	"time"
)

// Active expiry, after Redis' activeExpireCycle (expire.c): keys with a TTL
// are also removed when nobody reads them. Each cron tick (hz per second)
// walks the shards round-robin; in each it samples expiryKeysPerLoop keys
// from the shard's ttl tree starting at a cursor that moves on (Redis scans
// its expires dict the same way), deletes the expired ones — emitting DEL
// into the write stream — and samples again while more than
// expiryAcceptableStale percent of a sample had expired. A tick spends at
// most expirySlowTimePerc percent of the tick period.
//
// On a replica (Keyspace.SetReplicaExpiry) the cycle does nothing: the
// master's DELs arrive through replication.
const (
	expiryKeysPerLoop     = 20
	expiryAcceptableStale = 10
	expirySlowTimePerc    = 25
)

// expiryState carries the cycle's position and statistics; only the cron
// goroutine writes it (INFO reads the atomics-free copy under s.mu).
type expiryState struct {
	// instantaneous_ops_per_sec: Redis' 16-sample running average.
	opsSamples [16]float64
	opsIdx     int
	opsLast    int64
	opsAt      time.Time

	nextShard      int
	stalePerc      float64 // expired_stale_perc (running average)
	timeCapReached int64   // expired_time_cap_reached_count
	cycleCPU       time.Duration
}

// cron is the server's background goroutine: active expiry and AOF
// housekeeping at hz. Owned by Serve; it ends when bgCtx ends.
func (s *Server) cron() {
	defer s.bgWG.Done()
	hz := s.hz()
	t := time.NewTicker(time.Second / time.Duration(hz))
	defer t.Stop()
	for {
		select {
		case <-s.bgCtx.Done():
			return
		case now := <-t.C:
			if !s.ks.hideExpired.Load() {
				s.activeExpireCycle(now, time.Second/time.Duration(hz)*expirySlowTimePerc/100)
			}
			s.aof.cron(now)
			s.sampleOps(now)
			if h := s.hz(); h != hz {
				hz = h
				t.Reset(time.Second / time.Duration(hz))
			}
		}
	}
}

// sampleOps records the command rate for instantaneous_ops_per_sec,
// every 100 ms like Redis' trackInstantaneousMetric.
func (s *Server) sampleOps(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := &s.expiry
	if now.Sub(e.opsAt) < 100*time.Millisecond {
		return
	}
	total := s.cmds.commandsProcessed()
	if !e.opsAt.IsZero() {
		rate := float64(total-e.opsLast) / now.Sub(e.opsAt).Seconds()
		e.opsSamples[e.opsIdx%len(e.opsSamples)] = rate
		e.opsIdx++
	}
	e.opsLast, e.opsAt = total, now
}

func (s *Server) instantaneousOps() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	sum := 0.0
	for _, v := range s.expiry.opsSamples {
		sum += v
	}
	return int64(sum / float64(len(s.expiry.opsSamples)))
}

func (s *Server) hz() int {
	s.cfgMu.RLock()
	defer s.cfgMu.RUnlock()
	return max(1, min(s.cfg.Hz, 500))
}

// activeExpireCycle runs one slow cycle within budget.
func (s *Server) activeExpireCycle(now time.Time, budget time.Duration) {
	start := time.Now()
	deadline := start.Add(budget)
	tx := &Tx{}
	var sampled, expired int
	s.mu.Lock()
	next := s.expiry.nextShard
	s.mu.Unlock()
	capped := false
	for n := 0; n < numShards; n++ {
		i := (next + n) % numShards
		a, b := s.expireShard(tx, i, now.UnixMilli())
		sampled += a
		expired += b
		if n%16 == 15 && time.Now().After(deadline) {
			next = (i + 1) % numShards
			capped = true
			break
		}
	}
	s.mu.Lock()
	if capped {
		s.expiry.nextShard = next
		s.expiry.timeCapReached++
	}
	if sampled > 0 {
		cur := float64(expired) / float64(sampled)
		s.expiry.stalePerc = cur*0.05 + s.expiry.stalePerc*0.95
	}
	s.expiry.cycleCPU += time.Since(start)
	s.mu.Unlock()
}

// expireShard samples shard i until a sample is mostly live; it returns
// the keys sampled and deleted.
func (s *Server) expireShard(tx *Tx, i int, nowMs int64) (sampled, expired int) {
	tx.reset(s.ks, nowMs)
	tx.lockShard(i)
	defer tx.unlock()
	sh := &s.ks.shards[i]
	var victims []entry
	for loops := 0; loops < 64; loops++ {
		if sh.ttls.Len() == 0 {
			return
		}
		victims = victims[:0]
		n := 0
		limit := min(expiryKeysPerLoop, sh.ttls.Len())
		visit := func(t entry) bool {
			if n >= limit {
				return false
			}
			n++
			if nowMs > t.exp {
				victims = append(victims, t)
			}
			sh.expCursor = t.hash + 1
			return true
		}
		sh.ttls.Ascend(sh.expCursor, visit)
		if n < limit {
			// Wrapped around the end of the shard.
			sh.expCursor = 0
			sh.ttls.Ascend(0, visit)
		}
		for _, t := range victims {
			k := t.key()
			if e, found := sh.keys.Get(t.hash, k); found && e.hasTTL() {
				tx.deleteExpired(sh, e)
			} else {
				sh.ttls.Delete(t.hash, k)
			}
		}
		sampled += n
		expired += len(victims)
		if n == 0 || len(victims)*100/n <= expiryAcceptableStale {
			return
		}
	}
	return
}
