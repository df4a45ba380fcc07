package backend

import (
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// INFO, with Redis 7's section and field names. Fields with no meaning
// here (forks, modules, pub/sub) report Redis' idle values.

func infoCommand() *cmdSpec {
	return &cmdSpec{name: "info", handler: cmdInfo, arity: -1, flags: flagLoading | flagStale, group: "server", since: "1.0.0", summary: "Returns information and statistics about the server.", complexity: "O(1)", acl: []string{"@dangerous"}}
}

var infoDefault = []string{"server", "clients", "memory", "persistence", "stats", "replication", "cpu", "modules", "errorstats", "cluster", "keyspace"}
var infoAll = []string{"server", "clients", "memory", "persistence", "stats", "replication", "cpu", "modules", "commandstats", "errorstats", "cluster", "keyspace"}

func cmdInfo(c *Client, args [][]byte) {
	want := map[string]bool{}
	var order []string
	add := func(secs ...string) {
		for _, s := range secs {
			if !want[s] {
				want[s] = true
				order = append(order, s)
			}
		}
	}
	if len(args) == 1 {
		add(infoDefault...)
	}
	for _, a := range args[1:] {
		switch s := strings.ToLower(string(a)); s {
		case "default":
			add(infoDefault...)
		case "all", "everything":
			add(infoAll...)
		default:
			add(s)
		}
	}
	var b strings.Builder
	// Sections come in Redis' order whatever the request order.
	for _, sec := range infoAll {
		if !want[sec] {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\r\n")
		}
		c.s.writeInfoSection(&b, sec)
	}
	c.bulkString(b.String())
}

type infoWriter struct{ b *strings.Builder }

func (w infoWriter) kv(k string, v any) {
	fmt.Fprintf(w.b, "%s:%v\r\n", k, v)
}

func (s *Server) writeInfoSection(b *strings.Builder, sec string) {
	w := infoWriter{b}
	now := time.Now()
	switch sec {
	case "server":
		b.WriteString("# Server\r\n")
		cfg := s.Config()
		w.kv("redis_version", Version)
		w.kv("redis_git_sha1", "00000000")
		w.kv("redis_git_dirty", 0)
		w.kv("redis_build_id", "shardis")
		w.kv("redis_mode", "standalone")
		w.kv("os", osName())
		w.kv("arch_bits", strconv.IntSize)
		w.kv("monotonic_clock", "POSIX clock_gettime")
		w.kv("multiplexing_api", "epoll")
		w.kv("atomicvar_api", "c11-builtin")
		w.kv("gcc_version", "0.0.0")
		w.kv("process_id", os.Getpid())
		w.kv("process_supervised", "no")
		w.kv("run_id", s.runID)
		w.kv("tcp_port", cfg.Port)
		w.kv("server_time_usec", now.UnixMicro())
		up := int64(now.Sub(s.started) / time.Second)
		w.kv("uptime_in_seconds", up)
		w.kv("uptime_in_days", up/86400)
		w.kv("hz", s.hz())
		w.kv("configured_hz", cfg.Hz)
		w.kv("lru_clock", (now.Unix())&(1<<24-1))
		exe, _ := os.Executable()
		w.kv("executable", exe)
		w.kv("config_file", cfg.ConfigFile)
		w.kv("io_threads_active", 0)
		w.kv("shardis_version", ShardisVersion)
		w.kv("shardis_go_version", runtime.Version())
	case "clients":
		b.WriteString("# Clients\r\n")
		cfg := s.Config()
		w.kv("connected_clients", s.clients.count())
		w.kv("cluster_connections", 0)
		w.kv("maxclients", cfg.MaxClients)
		w.kv("client_recent_max_input_buffer", 0)
		w.kv("client_recent_max_output_buffer", 0)
		w.kv("blocked_clients", s.blockedClients.Load())
		w.kv("tracking_clients", 0)
		w.kv("clients_in_timeout_table", 0)
	case "memory":
		b.WriteString("# Memory\r\n")
		m := readMemory()
		peak := s.notePeak(m.used)
		w.kv("used_memory", m.used)
		w.kv("used_memory_human", humanBytes(m.used))
		w.kv("used_memory_rss", m.rss)
		w.kv("used_memory_rss_human", humanBytes(m.rss))
		w.kv("used_memory_peak", peak)
		w.kv("used_memory_peak_human", humanBytes(peak))
		w.kv("used_memory_peak_perc", fmt.Sprintf("%.2f%%", 100*float64(m.used)/float64(max(peak, 1))))
		w.kv("used_memory_overhead", m.overhead)
		w.kv("used_memory_startup", 0)
		w.kv("used_memory_dataset", m.used-min(m.used, m.overhead))
		w.kv("total_system_memory", totalSystemMemory())
		w.kv("total_system_memory_human", humanBytes(totalSystemMemory()))
		w.kv("maxmemory", 0)
		w.kv("maxmemory_human", "0B")
		w.kv("maxmemory_policy", "noeviction")
		w.kv("mem_fragmentation_ratio", fmt.Sprintf("%.2f", float64(m.rss)/float64(max(m.used, 1))))
		w.kv("mem_replication_backlog", s.repl.backlogMemory())
		w.kv("number_of_cached_scripts", s.scripts.cached()) // scripting.go
		w.kv("mem_aof_buffer", 0)
		w.kv("mem_allocator", "go-"+runtime.Version())
		w.kv("lazyfree_pending_objects", 0)
		w.kv("go_heap_goal", m.goal)
		w.kv("go_gc_cycles", m.gcCycles)
	case "persistence":
		s.writeInfoPersistence(w)
	case "stats":
		b.WriteString("# Stats\r\n")
		st := s.ks.stats(now.UnixMilli())
		s.mu.Lock()
		stale, capped, cpu := s.expiry.stalePerc, s.expiry.timeCapReached, s.expiry.cycleCPU
		s.mu.Unlock()
		w.kv("total_connections_received", s.stats.connections.Load())
		w.kv("total_commands_processed", s.cmds.commandsProcessed())
		w.kv("instantaneous_ops_per_sec", s.instantaneousOps())
		w.kv("rejected_connections", s.stats.rejected.Load())
		w.kv("sync_full", s.repl.syncFull.Load())
		w.kv("sync_partial_ok", s.repl.syncPartialOK.Load())
		w.kv("sync_partial_err", s.repl.syncPartialErr.Load())
		w.kv("expired_keys", st.expired)
		w.kv("expired_stale_perc", fmt.Sprintf("%.2f", stale*100))
		w.kv("expired_time_cap_reached_count", capped)
		w.kv("expire_cycle_cpu_milliseconds", int64(cpu/time.Millisecond))
		w.kv("evicted_keys", 0)
		w.kv("shardis_migrated_keys", s.stats.migratedKeys.Load())
		w.kv("evicted_clients", 0)
		w.kv("keyspace_hits", st.hits)
		w.kv("keyspace_misses", st.misses)
		psc, psp, pss := s.pubsub.counts()
		w.kv("pubsub_channels", psc)
		w.kv("pubsub_patterns", psp)
		w.kv("pubsubshard_channels", pss)
		w.kv("latest_fork_usec", 0)
		w.kv("total_forks", 0)
		w.kv("migrate_cached_sockets", 0)
		w.kv("slave_expires_tracked_keys", 0)
		w.kv("unexpected_error_replies", 0)
		w.kv("total_error_replies", s.errs.total())
		w.kv("dump_payload_sanitizations", 0)
	case "replication":
		s.repl.writeInfo(w)
	case "cpu":
		b.WriteString("# CPU\r\n")
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		sys := float64(ru.Stime.Sec) + float64(ru.Stime.Usec)/1e6
		user := float64(ru.Utime.Sec) + float64(ru.Utime.Usec)/1e6
		w.kv("used_cpu_sys", fmt.Sprintf("%.6f", sys))
		w.kv("used_cpu_user", fmt.Sprintf("%.6f", user))
		w.kv("used_cpu_sys_children", "0.000000")
		w.kv("used_cpu_user_children", "0.000000")
	case "modules":
		b.WriteString("# Modules\r\n")
	case "commandstats":
		b.WriteString("# Commandstats\r\n")
		for _, n := range s.cmds.sortedNames() {
			writeCmdStat(w, s.cmds[n])
		}
	case "errorstats":
		b.WriteString("# Errorstats\r\n")
		for _, e := range s.errs.list() {
			w.kv("errorstat_"+e.prefix, "count="+strconv.FormatInt(e.n, 10))
		}
	case "cluster":
		b.WriteString("# Cluster\r\n")
		w.kv("cluster_enabled", 0)
	case "keyspace":
		b.WriteString("# Keyspace\r\n")
		st := s.ks.stats(now.UnixMilli())
		if st.keys > 0 {
			avg := int64(0)
			if st.avgTTLSample > 0 {
				avg = st.avgTTLSum / st.avgTTLSample
			}
			w.kv("db0", fmt.Sprintf("keys=%d,expires=%d,avg_ttl=%d", st.keys, st.expires, avg))
		}
	}
}

func writeCmdStat(w infoWriter, sp *cmdSpec) {
	calls, usec, failed, rej := sp.totals()
	if calls > 0 || rej > 0 || failed > 0 {
		per := 0.0
		if calls > 0 {
			per = float64(usec) / float64(calls)
		}
		w.kv("cmdstat_"+sp.name, fmt.Sprintf("calls=%d,usec=%d,usec_per_call=%.2f,rejected_calls=%d,failed_calls=%d", calls, usec, per, rej, failed))
	}
	for _, s := range sortedSubs(sp) {
		writeCmdStat(w, s)
	}
}

func (s *Server) writeInfoPersistence(w infoWriter) {
	w.b.WriteString("# Persistence\r\n")
	a := s.aof
	a.rw.mu.Lock()
	rwRunning, rwScheduled, rwStarted := a.rw.running, a.rw.scheduled, a.rw.started
	rwLast, rwOK, rwCount, rwFail, rwRan := a.rw.lastDur, a.rw.lastOK, a.rw.count, a.rw.consecutive, a.rw.ran
	a.rw.mu.Unlock()
	saveRunning := s.save.running.Load()
	w.kv("loading", 0)
	w.kv("async_loading", 0)
	w.kv("current_cow_peak", 0)
	w.kv("current_cow_size", 0)
	w.kv("current_cow_size_age", 0)
	w.kv("current_fork_perc", "0.00")
	w.kv("current_save_keys_processed", 0)
	w.kv("current_save_keys_total", 0)
	w.kv("rdb_changes_since_last_save", s.ks.changes()-s.savedChanges.Load())
	w.kv("rdb_bgsave_in_progress", b01(saveRunning))
	w.kv("rdb_last_save_time", s.lastSave.Load())
	w.kv("rdb_last_bgsave_status", okErr(s.save.count.Load() == 0 || s.save.lastOK.Load()))
	w.kv("rdb_last_bgsave_time_sec", s.save.lastDur.Load())
	cur := int64(-1)
	if saveRunning {
		cur = time.Now().Unix() - s.save.started.Load()
	}
	w.kv("rdb_current_bgsave_time_sec", cur)
	w.kv("rdb_saves", s.save.count.Load())
	w.kv("rdb_last_cow_size", 0)
	w.kv("rdb_last_load_keys_expired", 0)
	w.kv("rdb_last_load_keys_loaded", 0)
	w.kv("aof_enabled", b01(a.enabled.Load()))
	w.kv("aof_rewrite_in_progress", b01(rwRunning))
	w.kv("aof_rewrite_scheduled", b01(rwScheduled))
	last := int64(-1)
	if rwRan {
		last = int64(rwLast / time.Second)
	}
	w.kv("aof_last_rewrite_time_sec", last)
	cur = -1
	if rwRunning {
		cur = int64(time.Since(rwStarted) / time.Second)
	}
	w.kv("aof_current_rewrite_time_sec", cur)
	w.kv("aof_last_bgrewrite_status", okErr(!rwRan || rwOK))
	w.kv("aof_rewrites", rwCount)
	w.kv("aof_rewrites_consecutive_failures", rwFail)
	w.kv("aof_last_write_status", okErr(a.writeError() == nil))
	w.kv("aof_last_cow_size", 0)
	w.kv("module_fork_in_progress", 0)
	w.kv("module_fork_last_cow_size", 0)
	if a.enabled.Load() {
		a.mu.Lock()
		size, base, pend := a.size, a.baseSize, len(a.pend)
		a.mu.Unlock()
		w.kv("aof_current_size", size)
		w.kv("aof_base_size", base)
		w.kv("aof_pending_rewrite", 0)
		w.kv("aof_buffer_length", pend)
		w.kv("aof_pending_bio_fsync", 0)
		w.kv("aof_delayed_fsync", a.delayedFsync.Load())
	}
}

func b01(b bool) int {
	if b {
		return 1
	}
	return 0
}

func okErr(ok bool) string {
	if ok {
		return "ok"
	}
	return "err"
}

type memInfo struct {
	used, rss, overhead, goal, gcCycles uint64
}

func readMemory() memInfo {
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/total:bytes"},
		{Name: "/gc/heap/goal:bytes"},
		{Name: "/gc/cycles/total:gc-cycles"},
	}
	metrics.Read(samples)
	var m memInfo
	val := func(i int) uint64 {
		if samples[i].Value.Kind() == metrics.KindUint64 {
			return samples[i].Value.Uint64()
		}
		return 0
	}
	m.used = val(0)
	total := val(1)
	m.overhead = total - min(total, m.used)
	m.goal = val(2)
	m.gcCycles = val(3)
	m.rss = readRSS()
	return m
}

// readRSS returns the resident set size from /proc/self/statm.
func readRSS() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

func totalSystemMemory() uint64 {
	var si syscall.Sysinfo_t
	if syscall.Sysinfo(&si) != nil {
		return 0
	}
	return si.Totalram * uint64(si.Unit)
}

func osName() string {
	var u syscall.Utsname
	if syscall.Uname(&u) != nil {
		return runtime.GOOS
	}
	str := func(a [65]int8) string {
		var sb strings.Builder
		for _, c := range a {
			if c == 0 {
				break
			}
			sb.WriteByte(byte(c))
		}
		return sb.String()
	}
	return str(u.Sysname) + " " + str(u.Release) + " " + str(u.Machine)
}

// humanBytes is Redis' bytesToHuman.
func humanBytes(n uint64) string {
	d := float64(n)
	switch {
	case n < 1024:
		return fmt.Sprintf("%dB", n)
	case n < 1024*1024:
		return fmt.Sprintf("%.2fK", d/1024)
	case n < 1024*1024*1024:
		return fmt.Sprintf("%.2fM", d/(1024*1024))
	case n < 1024*1024*1024*1024:
		return fmt.Sprintf("%.2fG", d/(1024*1024*1024))
	default:
		return fmt.Sprintf("%.2fT", d/(1024*1024*1024*1024))
	}
}

func (s *Server) notePeak(used uint64) uint64 {
	for {
		p := s.memPeak.Load()
		if used <= p {
			return p
		}
		if s.memPeak.CompareAndSwap(p, used) {
			return used
		}
	}
}

// errorStats counts error replies by their first word (errorstats).
type errorStats struct {
	mu sync.Mutex
	m  map[string]int64
	n  int64
}

type errorCount struct {
	prefix string
	n      int64
}

func (e *errorStats) add(msg string) {
	p, _, _ := strings.Cut(msg, " ")
	e.mu.Lock()
	if e.m == nil {
		e.m = map[string]int64{}
	}
	if _, ok := e.m[p]; ok || len(e.m) < 128 {
		e.m[p]++
	}
	e.n++
	e.mu.Unlock()
}

func (e *errorStats) total() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n
}

func (e *errorStats) reset() {
	e.mu.Lock()
	e.m, e.n = nil, 0
	e.mu.Unlock()
}

func (e *errorStats) list() []errorCount {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]errorCount, 0, len(e.m))
	for p, n := range e.m {
		out = append(out, errorCount{p, n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].prefix < out[j].prefix })
	return out
}
