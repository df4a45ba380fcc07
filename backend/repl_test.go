package backend

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// In-process replication tests (run under -race). The scenarios with
// real processes, kill -9 and SIGSTOP are in repl_process_test.go.

func TestReplicationConverges(t *testing.T) {
	m := startServer(t, nil)
	mc := client(t, m.addr())
	ctx := context.Background()
	writeMix(t, mc, 3000, 300, 1) // before the replicas: full resync
	r1 := startReplica(t, m.addr(), nil)
	r2 := startReplica(t, m.addr(), nil)
	rc1, rc2 := client(t, r1.addr()), client(t, r2.addr())
	writeMix(t, mc, 5000, 300, 2) // during and after the sync
	mc.FlushAll(ctx)
	writeMix(t, mc, 3000, 300, 3)
	waitSynced(t, mc, rc1, rc2)
	want := replDump(t, mc)
	sameDump(t, "replica 1", want, replDump(t, rc1))
	sameDump(t, "replica 2", want, replDump(t, rc2))

	mi := replInfo(t, mc)
	if mi["role"] != "master" || mi["connected_slaves"] != "2" || mi["sync_full"] != "2" {
		t.Fatalf("master INFO: %v", mi)
	}
	for _, k := range []string{"slave0", "slave1"} {
		if !strings.Contains(mi[k], "state=online") || !strings.Contains(mi[k], "offset="+mi["master_repl_offset"]) {
			t.Fatalf("%s: %q (offset %s)", k, mi[k], mi["master_repl_offset"])
		}
	}
	ri := replInfo(t, rc1)
	for k, v := range map[string]string{"role": "slave", "master_link_status": "up", "master_sync_in_progress": "0",
		"slave_read_only": "1", "master_replid": mi["master_replid"], "master_repl_offset": mi["master_repl_offset"],
		"repl_backlog_active": "1", "connected_slaves": "0", "fenced": "0", "shardis_epoch": "0"} {
		if ri[k] != v {
			t.Errorf("replica INFO %s = %q, want %q", k, ri[k], v)
		}
	}
	// ROLE, READONLY, HELLO, CONFIG GET replicaof.
	role, _ := mc.Do(ctx, "ROLE").Slice()
	if role[0] != "master" || len(role[2].([]any)) != 2 {
		t.Fatalf("ROLE master: %v", role)
	}
	role, _ = rc1.Do(ctx, "ROLE").Slice()
	if role[0] != "slave" || role[3] != "connected" {
		t.Fatalf("ROLE replica: %v", role)
	}
	if err := rc1.Set(ctx, "x", 1, 0).Err(); err == nil || err.Error() != errReadOnlyReplica {
		t.Fatalf("write on a replica: %v", err)
	}
	if v, _ := rc1.ConfigGet(ctx, "replicaof").Result(); v["replicaof"] != replicaOf(m.addr()) {
		t.Fatalf("CONFIG GET replicaof: %v", v)
	}
}

func TestReplicaExpiryFollowsMaster(t *testing.T) {
	m := startServer(t, func(c *Config) { c.Hz = 1 })
	r := startReplica(t, m.addr(), nil)
	mc, rc := client(t, m.addr()), client(t, r.addr())
	ctx := context.Background()
	// Active expiry is slow (hz 1) and samples: the key is still stored on
	// both when it expires.
	mc.Set(ctx, "k", "v", 200*time.Millisecond)
	mc.Set(ctx, "keep", "v", 0)
	waitSynced(t, mc, rc)
	time.Sleep(300 * time.Millisecond)
	if n := rc.DBSize(ctx).Val(); n != 2 && n != 1 {
		t.Fatalf("replica DBSIZE %d", n)
	}
	if err := rc.Get(ctx, "k").Err(); err != redis.Nil {
		t.Fatalf("replica GET of an expired key: %v", err)
	}
	// The read on the replica did not delete it; the master's does, and
	// the DEL reaches the replica.
	mc.Get(ctx, "k")
	waitSynced(t, mc, rc)
	if n := rc.DBSize(ctx).Val(); n != 1 {
		t.Fatalf("replica DBSIZE after the master's DEL: %d", n)
	}
}

// TestReplicaOfNoOneThenBack: a replica promoted and pointed back at its
// master resumes with the ID it had (replid2), without a full resync.
func TestReplicaOfNoOneThenBack(t *testing.T) {
	m := startServer(t, nil)
	r := startReplica(t, m.addr(), nil)
	mc, rc := client(t, m.addr()), client(t, r.addr())
	ctx := context.Background()
	writeMix(t, mc, 2000, 100, 4)
	waitSynced(t, mc, rc)
	mid := replInfo(t, mc)["master_replid"]
	if err := rc.Do(ctx, "REPLICAOF", "NO", "ONE").Err(); err != nil {
		t.Fatal(err)
	}
	ri := replInfo(t, rc)
	if ri["role"] != "master" || ri["master_replid2"] != mid || ri["master_replid"] == mid ||
		infoInt(t, ri, "second_repl_offset") != infoInt(t, ri, "master_repl_offset")+1 {
		t.Fatalf("promoted replica INFO: %v", ri)
	}
	if s, err := rc.Do(ctx, "REPLICAOF", "127.0.0.1", strings.Fields(replicaOf(m.addr()))[1]).Text(); err != nil || s != "OK" {
		t.Fatalf("REPLICAOF: %q %v", s, err)
	}
	if s, _ := rc.Do(ctx, "SLAVEOF", "127.0.0.1", strings.Fields(replicaOf(m.addr()))[1]).Text(); s != "OK Already connected to specified master" {
		t.Fatalf("REPLICAOF again: %q", s)
	}
	writeMix(t, mc, 500, 100, 5)
	waitSynced(t, mc, rc)
	mi := replInfo(t, mc)
	if mi["sync_full"] != "1" || mi["sync_partial_ok"] != "1" {
		t.Fatalf("sync_full %s sync_partial_ok %s, want 1 and 1", mi["sync_full"], mi["sync_partial_ok"])
	}
	sameDump(t, "replica", replDump(t, mc), replDump(t, rc))
}

// TestFailoverPartialResync: replica A is promoted, replica B follows A
// and resumes from A's backlog (no full copy).
func TestFailoverPartialResync(t *testing.T) {
	m := startServer(t, nil)
	a := startReplica(t, m.addr(), nil)
	b := startReplica(t, m.addr(), nil)
	mc, ac, bc := client(t, m.addr()), client(t, a.addr()), client(t, b.addr())
	ctx := context.Background()
	writeMix(t, mc, 4000, 200, 6)
	waitSynced(t, mc, ac, bc)
	if err := ac.Do(ctx, "REPLICAOF", "NO", "ONE").Err(); err != nil {
		t.Fatal(err)
	}
	if err := bc.Do(ctx, "REPLICAOF", "127.0.0.1", strings.Fields(replicaOf(a.addr()))[1]).Err(); err != nil {
		t.Fatal(err)
	}
	writeMix(t, ac, 2000, 200, 7)
	waitSynced(t, ac, bc)
	ai := replInfo(t, ac)
	if ai["sync_full"] != "0" || ai["sync_partial_ok"] != "1" {
		t.Fatalf("new master: sync_full %s sync_partial_ok %s", ai["sync_full"], ai["sync_partial_ok"])
	}
	bi := replInfo(t, bc)
	if bi["master_replid"] != ai["master_replid"] || bi["master_replid2"] != ai["master_replid2"] {
		t.Fatalf("B's IDs %s/%s, A's %s/%s", bi["master_replid"], bi["master_replid2"], ai["master_replid"], ai["master_replid2"])
	}
	sameDump(t, "B", replDump(t, ac), replDump(t, bc))
}

func TestWait(t *testing.T) {
	m := startServer(t, nil)
	mc := client(t, m.addr())
	ctx := context.Background()
	mc.Set(ctx, "a", 1, 0)
	if n, err := mc.Do(ctx, "WAIT", 0, 0).Int(); err != nil || n != 0 {
		t.Fatalf("WAIT 0 0 without replicas: %d %v", n, err)
	}
	start := time.Now()
	if n, _ := mc.Do(ctx, "WAIT", 1, 200).Int(); n != 0 || time.Since(start) < 190*time.Millisecond {
		t.Fatalf("WAIT 1 200 without replicas: %d after %s", n, time.Since(start))
	}
	r := startReplica(t, m.addr(), nil)
	rc := client(t, r.addr())
	waitSynced(t, mc, rc)
	conn := mc.Conn()
	defer conn.Close()
	for i := 0; i < 50; i++ {
		conn.Set(ctx, "w", i, 0)
		if n := conn.Wait(ctx, 1, 5*time.Second).Val(); n != 1 {
			t.Fatalf("WAIT 1 after a write: %d", n)
		}
	}
	if n := conn.Wait(ctx, 2, 100*time.Millisecond).Val(); n != 1 {
		t.Fatalf("WAIT 2 100 with one replica: %d", n)
	}
	if err := rc.Do(ctx, "WAIT", 1, 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "ERR WAIT cannot be used with replica instances.") {
		t.Fatalf("WAIT on a replica: %v", err)
	}
	for args, want := range map[[2]string]string{{"x", "0"}: errNotInteger, {"1", "x"}: "ERR timeout is not an integer or out of range", {"1", "-1"}: "ERR timeout is negative"} {
		if err := mc.Do(ctx, "WAIT", args[0], args[1]).Err(); err == nil || err.Error() != want {
			t.Errorf("WAIT %v: %v, want %s", args, err, want)
		}
	}
}

func TestSyncAcknowledgement(t *testing.T) {
	m := startServer(t, func(c *Config) { c.ReplAckReplicas = 1; c.ReplAckTimeout = 300 })
	mc := client(t, m.addr())
	ctx := context.Background()
	// No replica: writes are applied but answered NOREPLICAS at the timeout.
	start := time.Now()
	err := mc.Set(ctx, "a", "1", 0).Err()
	if err == nil || err.Error() != "NOREPLICAS Write not acknowledged by 1 replicas within 300 ms" {
		t.Fatalf("unacknowledged write: %v", err)
	}
	if d := time.Since(start); d < 290*time.Millisecond || d > 3*time.Second {
		t.Fatalf("timeout after %s", d)
	}
	// Reads are never held.
	start = time.Now()
	if v := mc.Get(ctx, "a").Val(); v != "1" || time.Since(start) > 200*time.Millisecond {
		t.Fatalf("read: %q after %s", v, time.Since(start))
	}
	// Pipelined: writes NOREPLICAS, the read in between answered, in order.
	raw := dialRaw(t, m.addr())
	raw.send([]byte("*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n"))
	for _, want := range []string{"-NOREPLICAS Write not acknowledged by 1 replicas within 300 ms\r\n", "$1\r\n1\r\n",
		"-NOREPLICAS Write not acknowledged by 1 replicas within 300 ms\r\n"} {
		if got := raw.reply(); got != want {
			t.Fatalf("pipelined reply %q, want %q", got, want)
		}
	}
	// With a replica: acknowledged quickly.
	r := startReplica(t, m.addr(), nil)
	rc := client(t, r.addr())
	replWait(t, 10*time.Second, "replica online", func() bool {
		return strings.Contains(replInfo(t, mc)["slave0"], "state=online")
	})
	for i := 0; i < 200; i++ {
		if err := mc.Set(ctx, "k", i, 0).Err(); err != nil {
			t.Fatalf("acknowledged write %d: %v", i, err)
		}
		if v, _ := rc.Get(ctx, "k").Int(); v != i {
			t.Fatalf("acknowledged write %d not on the replica (%d)", i, v)
		}
	}
	pipe := mc.Pipeline()
	for i := 0; i < 1000; i++ {
		pipe.Incr(ctx, "ctr")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("pipelined acknowledged writes: %v", err)
	}
	if v, _ := rc.Get(ctx, "ctr").Int(); v != 1000 {
		t.Fatalf("replica ctr %d", v)
	}
	// EXEC is held as one reply.
	tx := mc.TxPipeline()
	tx.Incr(ctx, "ctr")
	tx.Incr(ctx, "ctr")
	if _, err := tx.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if v, _ := rc.Get(ctx, "ctr").Int(); v != 1002 {
		t.Fatalf("replica ctr after EXEC %d", v)
	}
}

// fakeReplica does the handshake and reads the stream but acknowledges
// only when told to: a stopped replica as the master sees it.
type fakeReplica struct {
	raw *rawConn
}

func newFakeReplica(t *testing.T, master string) *fakeReplica {
	raw := dialRaw(t, master)
	if got := raw.do("REPLCONF", "listening-port", "9"); got != "+OK\r\n" {
		t.Fatalf("REPLCONF: %q", got)
	}
	raw.do("REPLCONF", "capa", "eof", "capa", "psync2")
	raw.send(encodeCommand("PSYNC", "?", "-1"))
	line, _ := raw.br.ReadString('\n')
	if !strings.HasPrefix(line, "+FULLRESYNC ") {
		t.Fatalf("PSYNC: %q", line)
	}
	hdr, _ := raw.br.ReadString('\n')
	if !strings.HasPrefix(hdr, "$EOF:") {
		t.Fatalf("payload header %q", hdr)
	}
	mark := strings.TrimSpace(hdr[5:])
	var got []byte
	for !strings.HasSuffix(string(got), mark) {
		b, err := raw.br.ReadByte()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b)
	}
	f := &fakeReplica{raw: raw}
	go func() { // drains the stream until the connection closes
		buf := make([]byte, 4096)
		for {
			_ = raw.c.SetReadDeadline(time.Time{})
			if _, err := raw.br.Read(buf); err != nil {
				return
			}
		}
	}()
	return f
}

func (f *fakeReplica) ack(off int64) {
	f.raw.send(encodeCommand("REPLCONF", "ACK", strconv.FormatInt(off, 10)))
}

func TestMinReplicasToWrite(t *testing.T) {
	m := startServer(t, func(c *Config) { c.MinReplicasToWrite = 1; c.MinReplicasMaxLag = 1 })
	mc := client(t, m.addr())
	ctx := context.Background()
	if err := mc.Set(ctx, "a", 1, 0).Err(); err == nil || err.Error() != errNoGoodReplicas {
		t.Fatalf("write without replicas: %v", err)
	}
	if i := replInfo(t, mc); i["min_slaves_good_slaves"] != "0" {
		t.Fatalf("min_slaves_good_slaves %q", i["min_slaves_good_slaves"])
	}
	f := newFakeReplica(t, m.addr())
	f.ack(0) // online
	replWait(t, 5*time.Second, "a good replica", func() bool { return mc.Set(ctx, "a", 1, 0).Err() == nil })
	// It stops acknowledging: after min-replicas-max-lag, writes are refused.
	replWait(t, 5*time.Second, "writes refused", func() bool {
		err := mc.Set(ctx, "a", 1, 0).Err()
		return err != nil && err.Error() == errNoGoodReplicas
	})
	if v := mc.Get(ctx, "a").Val(); v != "1" {
		t.Fatalf("reads go on: %q", v)
	}
	f.ack(1)
	replWait(t, 5*time.Second, "writes accepted again", func() bool { return mc.Set(ctx, "a", 2, 0).Err() == nil })
}

func TestClientPause(t *testing.T) {
	s := startServer(t, nil)
	c1, c2 := client(t, s.addr()), client(t, s.addr())
	ctx := context.Background()
	c1.Set(ctx, "a", "1", 0)
	if err := c1.Do(ctx, "CLIENT", "PAUSE", 10000, "WRITE").Err(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c2.Set(ctx, "a", "2", 0).Err() }()
	time.Sleep(200 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("write during CLIENT PAUSE WRITE completed: %v", err)
	default:
	}
	if v := c1.Get(ctx, "a").Val(); v != "1" {
		t.Fatalf("read during pause: %q", v)
	}
	if err := c1.Do(ctx, "CLIENT", "UNPAUSE").Err(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("paused write: %v", err)
	}
	if v := c1.Get(ctx, "a").Val(); v != "2" {
		t.Fatalf("after unpause: %q", v)
	}
	// A pause ends by itself; ALL holds reads too.
	c1.Do(ctx, "CLIENT", "PAUSE", 300, "ALL")
	start := time.Now()
	c2.Get(ctx, "a")
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("read during CLIENT PAUSE ALL answered after %s", d)
	}
	// A write paused then fenced is refused when the pause ends.
	c1.Do(ctx, "CLIENT", "PAUSE", 10000, "WRITE")
	go func() { done <- c2.Set(ctx, "a", "3", 0).Err() }()
	time.Sleep(100 * time.Millisecond)
	c1.ConfigSet(ctx, "fenced", "yes")
	c1.Do(ctx, "CLIENT", "UNPAUSE")
	if err := <-done; err == nil || err.Error() != errFenced(0) {
		t.Fatalf("paused then fenced write: %v", err)
	}
	for args, want := range map[string]string{"x": "ERR timeout is not an integer or out of range", "-1": "ERR timeout is negative"} {
		if err := c1.Do(ctx, "CLIENT", "PAUSE", args).Err(); err == nil || err.Error() != want {
			t.Errorf("CLIENT PAUSE %s: %v", args, err)
		}
	}
	if err := c1.Do(ctx, "CLIENT", "PAUSE", 10, "READ").Err(); err == nil || err.Error() != "ERR CLIENT PAUSE mode must be WRITE or ALL" {
		t.Errorf("CLIENT PAUSE 10 READ: %v", err)
	}
}

func TestFencingAndEpoch(t *testing.T) {
	m := startServer(t, func(c *Config) { c.ShardisEpoch = 3 })
	mc := client(t, m.addr())
	ctx := context.Background()
	if err := mc.ConfigSet(ctx, "fenced", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	if err := mc.Set(ctx, "a", 1, 0).Err(); err == nil || err.Error() != "READONLY You can't write against a fenced master (epoch 3)." {
		t.Fatalf("fenced write: %v", err)
	}
	if err := mc.Get(ctx, "a").Err(); err != redis.Nil {
		t.Fatalf("fenced read: %v", err)
	}
	if i := replInfo(t, mc, "replication"); i["fenced"] != "1" || i["shardis_epoch"] != "3" {
		t.Fatalf("INFO: fenced %s epoch %s", i["fenced"], i["shardis_epoch"])
	}
	if err := mc.ConfigSet(ctx, "shardis-epoch", "2").Err(); err == nil || err.Error() != "ERR epoch 2 is older than the current epoch 3" {
		t.Fatalf("older epoch: %v", err)
	}
	if v := mc.ConfigGet(ctx, "shardis-epoch").Val(); v["shardis-epoch"] != "3" {
		t.Fatalf("epoch changed: %v", v)
	}
	mc.ConfigSet(ctx, "shardis-epoch", "7")
	// REPLICAOF NO ONE keeps the fence (the watchdog promotes fenced).
	mc.Do(ctx, "REPLICAOF", "NO", "ONE")
	if err := mc.Set(ctx, "a", 1, 0).Err(); err == nil || !strings.Contains(err.Error(), "(epoch 7)") {
		t.Fatalf("fenced after REPLICAOF NO ONE: %v", err)
	}
	mc.ConfigSet(ctx, "fenced", "no")
	if err := mc.Set(ctx, "a", 1, 0).Err(); err != nil {
		t.Fatal(err)
	}

	// A replica that has seen epoch 9 does not sync from this master.
	r := startServer(t, func(c *Config) { c.ShardisEpoch = 9; c.ReplicaOf = replicaOf(m.addr()) })
	rc := client(t, r.addr())
	time.Sleep(1500 * time.Millisecond)
	if i := replInfo(t, rc, "replication"); i["master_link_status"] != "down" {
		t.Fatalf("replica synced from a stale master: %v", i)
	}
	if rc.Exists(ctx, "a").Val() != 0 {
		t.Fatal("data from a stale master")
	}
	// The master catches up with the epoch: the replica (retrying) syncs.
	mc.ConfigSet(ctx, "shardis-epoch", "9")
	waitSynced(t, mc, rc)
	if rc.Get(ctx, "a").Val() != "1" {
		t.Fatal("replica did not sync")
	}
	// REPLICAOF host port lifts the fence.
	rc.ConfigSet(ctx, "fenced", "yes")
	rc.Do(ctx, "REPLICAOF", "NO", "ONE")
	rc.Do(ctx, "REPLICAOF", "127.0.0.1", strings.Fields(replicaOf(m.addr()))[1])
	if i := replInfo(t, rc, "replication"); i["fenced"] != "0" {
		t.Fatal("REPLICAOF host port kept the fence")
	}
	if err := rc.Set(ctx, "b", 1, 0).Err(); err == nil || err.Error() != errReadOnlyReplica {
		t.Fatalf("write on the replica: %v", err)
	}
}

func TestReplicaServeStaleData(t *testing.T) {
	dead := startServer(t, nil)
	addr := dead.addr()
	r := startServer(t, func(c *Config) { c.ReplicaOf = "127.0.0.1 1"; c.ReplicaServeStaleData = false })
	rc := client(t, r.addr())
	ctx := context.Background()
	if err := rc.Get(ctx, "a").Err(); err == nil || err.Error() != errMasterDown {
		t.Fatalf("GET with the link down: %v", err)
	}
	if err := rc.Info(ctx, "replication").Err(); err != nil {
		t.Fatalf("INFO is allowed: %v", err)
	}
	rc.ConfigSet(ctx, "replica-serve-stale-data", "yes")
	if err := rc.Get(ctx, "a").Err(); err != redis.Nil {
		t.Fatalf("stale read allowed: %v", err)
	}
	rc.ConfigSet(ctx, "replica-serve-stale-data", "no")
	rc.Do(ctx, "REPLICAOF", "127.0.0.1", strings.Fields(replicaOf(addr))[1])
	replWait(t, 10*time.Second, "link up", func() bool { return rc.Get(ctx, "a").Err() == redis.Nil })
}

// TestReplicationErrors compares the replication commands' replies and
// errors with Redis' texts.
func TestReplicationErrors(t *testing.T) {
	s := startServer(t, nil)
	raw := dialRaw(t, s.addr())
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"REPLICAOF", "127.0.0.1", "abc"}, "-ERR Invalid master port\r\n"},
		{[]string{"REPLICAOF", "127.0.0.1", "70000"}, "-ERR Invalid master port\r\n"},
		{[]string{"REPLICAOF", "no", "one"}, "+OK\r\n"},
		{[]string{"REPLCONF"}, "+OK\r\n"},
		{[]string{"REPLCONF", "a"}, "-ERR syntax error\r\n"},
		{[]string{"REPLCONF", "a", "b"}, "-ERR Unrecognized REPLCONF option: a\r\n"},
		{[]string{"REPLCONF", "listening-port", "x"}, "-ERR value is not an integer or out of range\r\n"},
		{[]string{"REPLCONF", "capa", "foo"}, "+OK\r\n"},
		{[]string{"PSYNC", "a", "b"}, "-ERR value is not an integer or out of range\r\n"},
		{[]string{"PSYNC", "a"}, "-ERR wrong number of arguments for 'psync' command\r\n"},
		{[]string{"ROLE", "x"}, "-ERR wrong number of arguments for 'role' command\r\n"},
		{[]string{"CLIENT", "PAUSE"}, "-ERR wrong number of arguments for 'client|pause' command\r\n"},
		{[]string{"CLIENT", "UNPAUSE", "x"}, "-ERR wrong number of arguments for 'client|unpause' command\r\n"},
		{[]string{"CONFIG", "SET", "replicaof", "127.0.0.1 5"}, "-ERR CONFIG SET failed (possibly related to argument 'replicaof') - can't set immutable config\r\n"},
		{[]string{"CONFIG", "SET", "repl-timeout", "0"}, "-ERR CONFIG SET failed (possibly related to argument 'repl-timeout') - argument must be between 1 and 2147483647 inclusive\r\n"},
		{[]string{"CONFIG", "SET", "repl-backlog-size", "1"}, "+OK\r\n"},
		{[]string{"CONFIG", "GET", "repl-backlog-size"}, "*2\r\n$17\r\nrepl-backlog-size\r\n$5\r\n16384\r\n"},
	} {
		if got := raw.do(tc.args...); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.args, got, tc.want)
		}
	}
}

// TestPauseWithReplicaOffsetsStable: while writes are paused, a master's
// offset does not move (no PING, no expiry DEL), so a replica reaches it.
func TestPauseOffsetStable(t *testing.T) {
	m := startServer(t, func(c *Config) { c.ReplPingReplicaPeriod = 1 })
	r := startReplica(t, m.addr(), nil)
	mc, rc := client(t, m.addr()), client(t, r.addr())
	ctx := context.Background()
	mc.Set(ctx, "e", "v", 100*time.Millisecond)
	waitSynced(t, mc, rc)
	mc.Do(ctx, "CLIENT", "PAUSE", 5000, "WRITE")
	off := replInfo(t, mc)["master_repl_offset"]
	time.Sleep(1500 * time.Millisecond)
	mc.Get(ctx, "e") // expired: hidden, not deleted, while paused
	if got := replInfo(t, mc)["master_repl_offset"]; got != off {
		t.Fatalf("offset moved during the pause: %s -> %s", off, got)
	}
	mc.Do(ctx, "CLIENT", "UNPAUSE")
}

// TestWritableReplica: with replica-read-only no, a replica's own writes
// apply locally and stay out of its stream, so its offset remains its
// master's and it keeps following it.
func TestWritableReplica(t *testing.T) {
	m := startServer(t, nil)
	r := startReplica(t, m.addr(), func(c *Config) { c.ReplicaReadOnly = false })
	mc, rc := client(t, m.addr()), client(t, r.addr())
	ctx := context.Background()
	mc.Set(ctx, "a", 1, 0)
	waitSynced(t, mc, rc)
	if err := rc.Set(ctx, "local", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	mc.Set(ctx, "b", 2, 0)
	waitSynced(t, mc, rc)
	if rc.Get(ctx, "local").Val() != "x" || rc.Get(ctx, "b").Val() != "2" {
		t.Fatal("writable replica lost a write")
	}
}

// TestReplicaAttachUnderLoad: replicas attach (backlog created, snapshot
// taken), detach and resume while clients write concurrently; non
// idempotent writes (INCR, RPUSH, APPEND) expose any byte lost or doubled.
func TestReplicaAttachUnderLoad(t *testing.T) {
	m := startServer(t, nil)
	mc := client(t, m.addr())
	ctx := context.Background()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := client(t, m.addr())
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := strconv.Itoa(i % 50)
				pipe := c.Pipeline()
				pipe.Incr(ctx, "n"+k)
				pipe.RPush(ctx, "l"+k, w)
				pipe.Append(ctx, "s"+k, "x")
				pipe.HIncrBy(ctx, "h", "f"+k, 1)
				if _, err := pipe.Exec(ctx); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	r1 := startReplica(t, m.addr(), nil)
	time.Sleep(100 * time.Millisecond)
	r2 := startReplica(t, m.addr(), nil)
	rc1, rc2 := client(t, r1.addr()), client(t, r2.addr())
	time.Sleep(200 * time.Millisecond)
	rc2.Do(ctx, "REPLICAOF", "NO", "ONE")
	time.Sleep(50 * time.Millisecond)
	rc2.Do(ctx, "REPLICAOF", "127.0.0.1", strings.Fields(replicaOf(m.addr()))[1])
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	waitSynced(t, mc, rc1, rc2)
	want := replDump(t, mc)
	sameDump(t, "replica 1", want, replDump(t, rc1))
	sameDump(t, "replica 2", want, replDump(t, rc2))
}
