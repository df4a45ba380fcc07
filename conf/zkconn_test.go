package conf

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestZooKeeper runs the client, registration and watcher tests against
// one real ZooKeeper, each subtest under its own root.
func TestZooKeeper(t *testing.T) {
	zkp := startZooKeeper(t)
	addr := zkp.Addr
	for _, c := range []struct {
		name string
		fn   func(t *testing.T, addr string)
	}{
		{"Operations", testZKOperations},
		{"Chroot", testZKChroot},
		{"DigestAuth", testZKDigestAuth},
		{"SessionEvents", testZKSessionEvents},
		{"MemberCAS", testMemberCAS},
		{"MemberLostReply", testMemberLostReply},
		{"EphemeralExpiry", testEphemeralExpiry},
		{"EphemeralHeldByOther", testEphemeralHeldByOther},
		{"WatcherChanges", testWatcherChanges},
		{"WatcherInvalid", testWatcherInvalid},
		{"WatcherExpiry", testWatcherExpiry},
		{"WatcherPoolCreatedLater", testWatcherPoolCreatedLater},
		{"ShardWatcher", testShardWatcher},
		{"NodeWatcher", testNodeWatcher},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, addr)
		})
	}
}

func testZKOperations(t *testing.T, addr string) {
	z := dial(t, ZKConfig{}, addr)
	const root = "/t-ops"
	if err := z.EnsurePath(root + "/a/b"); err != nil {
		t.Fatal(err)
	}
	if err := z.EnsurePath(root + "/a/b"); err != nil {
		t.Fatalf("EnsurePath twice: %v", err)
	}
	if _, _, err := z.Get(root + "/nope"); !errors.Is(err, ErrNoNode) || !strings.Contains(err.Error(), "zookeeper get /t-ops/nope: znode does not exist") {
		t.Errorf("Get missing: %v", err)
	}
	if _, err := z.Create(root+"/a", nil, CreatePersistent); !errors.Is(err, ErrNodeExists) {
		t.Errorf("Create existing: %v", err)
	}
	if err := z.Delete(root+"/a", -1); !errors.Is(err, ErrNotEmpty) {
		t.Errorf("Delete non-empty: %v", err)
	}
	st, err := z.Set(root+"/a", []byte("v1"), -1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := z.Set(root+"/a", []byte("v2"), st.Version-1); !errors.Is(err, ErrBadVersion) {
		t.Errorf("stale Set: %v", err)
	}
	if _, err := z.Set(root+"/a", []byte("v2"), st.Version); err != nil {
		t.Errorf("Set at version: %v", err)
	}
	b, _, err := z.Get(root + "/a")
	if err != nil || string(b) != "v2" {
		t.Errorf("Get = %q, %v", b, err)
	}
	// Multi: all or nothing, and the failing op is named.
	_, st, _ = z.Get(root + "/a")
	err = z.Multi(CreateOp(root+"/m1", nil), CheckOp(root+"/a", st.Version+5), CreateOp(root+"/m2", nil))
	if !errors.Is(err, ErrBadVersion) || !strings.Contains(err.Error(), "/t-ops/a") {
		t.Errorf("Multi with a stale check: %v", err)
	}
	if ok, _, _ := z.Exists(root + "/m1"); ok {
		t.Error("a failed Multi applied its first op")
	}
	if err := z.Multi(CreateOp(root+"/m1", []byte("x")), SetOp(root+"/a", []byte("v3"), st.Version), DeleteOp(root+"/a/b", -1)); err != nil {
		t.Fatalf("Multi: %v", err)
	}
	if c, _, _ := z.Children(root + "/a"); len(c) != 0 {
		t.Errorf("children after Multi delete: %v", c)
	}
	if err := z.Sync(root); err != nil {
		t.Error(err)
	}
	if _, _, err := z.Get("relative"); !errors.Is(err, ErrBadZnodeName) {
		t.Errorf("relative path: %v", err)
	}
	// Before a session: fail fast, never hang.
	z2, err := DialZooKeeper(ZKConfig{Servers: []string{"127.0.0.1:1"}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer z2.Close()
	if _, _, err := z2.Get("/"); !errors.Is(err, ErrConnectionLoss) {
		t.Errorf("Get before a session: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := z2.WaitConnected(ctx); !errors.Is(err, ErrConnectionLoss) {
		t.Errorf("WaitConnected to nowhere: %v", err)
	}
	z2.Close()
	if _, _, err := z2.Get("/"); !errors.Is(err, ErrZKClosed) {
		t.Errorf("Get after Close: %v", err)
	}
	if _, err := DialZooKeeper(ZKConfig{}); !errors.Is(err, ErrBadAddress) {
		t.Errorf("no servers: %v", err)
	}
	if _, err := DialZooKeeper(ZKConfig{Servers: []string{addr}, Auth: "nouser"}); !errors.Is(err, ErrBadValue) {
		t.Errorf("bad auth: %v", err)
	}
}

func testZKChroot(t *testing.T, addr string) {
	plain := dial(t, ZKConfig{}, addr)
	z := dial(t, ZKConfig{Chroot: "/t-chroot/tenant"}, addr)
	// The chroot itself is created by EnsurePath.
	if err := z.EnsurePath("/redis/cluster/icd"); err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := plain.Exists("/t-chroot/tenant/redis/cluster/icd"); !ok {
		t.Fatal("chrooted create did not land under the chroot")
	}
	if ok, _, _ := plain.Exists("/redis/cluster/icd"); ok {
		t.Fatal("chrooted create escaped the chroot")
	}
	p, err := z.Create("/redis/x-", []byte("d"), CreateEphemeralSequential)
	if err != nil || !strings.HasPrefix(p, "/redis/x-") {
		t.Fatalf("Create returned %q, %v: want a chroot-relative path", p, err)
	}
	layout, _ := NewLayout("")
	if err := z.Multi(CreateOp(layout.ShardPath("icd", "redis-0000"), ShardData{}.Marshal())); err != nil {
		t.Fatal(err)
	}
	top, err := ReadTopology(z, layout.PoolPath("icd"), PoolSettings{})
	if err != nil || len(top.Shards) != 1 || top.Shards[0].Path != "/redis/cluster/icd/redis-0000" {
		t.Fatalf("ReadTopology under a chroot: %+v, %v", top, err)
	}
	// A watcher under a chroot sees changes (event paths are stripped).
	w, err := NewTopologyWatcher(z, WatcherConfig{Path: layout.PoolPath("icd"), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)
	next(t, w.Updates(), "first read")
	if _, err := plain.Set("/t-chroot/tenant/redis/cluster/icd/redis-0000", []byte(`{"weight":"0-4095"}`), -1); err != nil {
		t.Fatal(err)
	}
	u := next(t, w.Updates(), "weight set through the full path")
	if u.Err != nil || u.Topology.Shards[0].SlotCount() != 4096 {
		t.Fatalf("update %+v", u)
	}
}

func testZKDigestAuth(t *testing.T, addr string) {
	admin := dial(t, ZKConfig{Auth: "shardis:s3cret"}, addr)
	anon := dial(t, ZKConfig{}, addr)
	wrong := dial(t, ZKConfig{Auth: "shardis:guess"}, addr)
	same := dial(t, ZKConfig{Auth: "shardis:s3cret"}, addr)
	if err := admin.EnsurePath("/t-auth/redis/cluster/icd"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		z    *ZK
	}{{"no auth", anon}, {"wrong password", wrong}} {
		if _, err := c.z.Set("/t-auth/redis/cluster/icd", []byte(`{"slots":1}`), -1); !errors.Is(err, ErrNoAuth) {
			t.Errorf("%s: Set = %v, want ErrNoAuth", c.name, err)
		}
		if _, _, err := c.z.Get("/t-auth/redis/cluster/icd"); !errors.Is(err, ErrNoAuth) {
			t.Errorf("%s: Get = %v, want ErrNoAuth", c.name, err)
		}
		if _, err := c.z.Create("/t-auth/redis/x", nil, CreatePersistent); !errors.Is(err, ErrNoAuth) {
			t.Errorf("%s: Create = %v, want ErrNoAuth", c.name, err)
		}
	}
	if _, err := same.Set("/t-auth/redis/cluster/icd", []byte(`{"slots":1}`), -1); err != nil {
		t.Errorf("same credentials: %v", err)
	}
	// The credentials survive a reconnection: go-zookeeper resends them.
	f := newForwarder(t, addr)
	via := dial(t, ZKConfig{Auth: "shardis:s3cret", SessionTimeout: 10 * time.Second}, f.Addr())
	f.Cut()
	f.Heal()
	eventually(t, 10*time.Second, "reconnect", func() bool {
		_, err := via.Set("/t-auth/redis/cluster/icd", []byte(`{"slots":2}`), -1)
		return err == nil
	})
}

func testZKSessionEvents(t *testing.T, addr string) {
	f := newForwarder(t, addr)
	z := dial(t, ZKConfig{SessionTimeout: 2 * time.Second}, f.Addr())
	events, cancel := z.Subscribe()
	defer cancel()
	first := nextEvent(t, events)
	if first.Kind != SessionConnected || first.SessionID != z.SessionID() {
		t.Fatalf("first event %+v", first)
	}
	old := z.SessionID()
	f.Cut()
	if ev := nextEvent(t, events); ev.Kind != SessionDisconnected {
		t.Fatalf("after cut: %+v", ev)
	}
	if z.Connected() {
		t.Error("Connected while cut")
	}
	time.Sleep(4 * time.Second) // well past the 2 s session timeout
	f.Heal()
	if ev := nextEvent(t, events); ev.Kind != SessionExpired || ev.SessionID != old {
		t.Fatalf("after heal: %+v, want expiry of 0x%x", ev, old)
	}
	ev := nextEvent(t, events)
	if ev.Kind != SessionConnected || !ev.NewSession || ev.SessionID == old || ev.SessionID != z.SessionID() {
		t.Fatalf("after expiry: %+v", ev)
	}
	// A short cut keeps the session.
	f.Cut()
	f.Heal()
	if ev := nextEvent(t, events); ev.Kind != SessionDisconnected {
		t.Fatalf("after short cut: %+v", ev)
	}
	if ev := nextEvent(t, events); ev.Kind != SessionConnected || ev.NewSession {
		t.Fatalf("after short cut: %+v, want the same session", ev)
	}
	z.Close()
	eventually(t, 5*time.Second, "channel closed", func() bool {
		select {
		case _, ok := <-events:
			return !ok
		default:
			return false
		}
	})
}

func nextEvent(t *testing.T, ch <-chan SessionEvent) SessionEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("event channel closed")
		}
		return ev
	case <-time.After(15 * time.Second):
		t.Fatal("no session event within 15 s")
	}
	return SessionEvent{}
}

func testMemberCAS(t *testing.T, addr string) {
	z := dial(t, ZKConfig{}, addr)
	other := dial(t, ZKConfig{}, addr)
	layout, _ := NewLayout("/t-member")
	shard := layout.ShardPath("icd", "redis-0000")
	if _, err := z.CreateMember(shard, MemberData{Addr: "10.0.0.1:6379", Role: RoleCandidate}); !errors.Is(err, ErrNoNode) {
		t.Errorf("member of a missing shard: %v", err)
	}
	if err := z.EnsurePath(shard); err != nil {
		t.Fatal(err)
	}
	if _, err := z.CreateMember(shard, MemberData{Addr: "bad", Role: RoleMaster}); !errors.Is(err, ErrBadZnodeData) {
		t.Errorf("bad member data: %v", err)
	}
	a, err := z.CreateMember(shard, MemberData{Addr: "[::1]:6379", Role: RoleCandidate})
	if err != nil {
		t.Fatal(err)
	}
	b, err := other.CreateMember(shard, MemberData{Addr: "node-b.example:6380", Role: RoleCandidate})
	if err != nil {
		t.Fatal(err)
	}
	mn, err := ParseMemberName(a.Name)
	if err != nil || mn.GUID == "" || mn.Addr != "[::1]:6379" || mn.Seq != a.Seq || b.Seq <= a.Seq {
		t.Fatalf("member names %q (%+v, %v) and %q", a.Name, mn, err, b.Name)
	}
	v, err := z.UpdateMember(a.Path, MemberData{Addr: "[::1]:6379", Role: RoleMaster, Epoch: a.Seq}, a.Version)
	if err != nil {
		t.Fatal(err)
	}
	// A second writer with the old version loses.
	if _, err := other.UpdateMember(a.Path, MemberData{Addr: "[::1]:6379", Role: RoleReplica}, a.Version); !errors.Is(err, ErrBadVersion) {
		t.Errorf("stale CAS: %v", err)
	}
	if _, err := z.UpdateMember(a.Path, MemberData{Addr: "[::1]:6379", Role: RoleMaster, Offset: 10}, v); err != nil {
		t.Errorf("CAS at the new version: %v", err)
	}
	s, err := ReadShard(z, shard)
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := s.MasterMember(); !ok || m.Addr != "[::1]:6379" || m.Owner != z.SessionID() || m.Data.Offset != 10 || s.Epoch() != a.Seq {
		t.Errorf("shard after CAS: %+v", s)
	}
	mine, err := other.FindMembers(shard, other.SessionID())
	if err != nil || len(mine) != 1 || mine[0].Path != b.Path {
		t.Errorf("FindMembers = %+v, %v", mine, err)
	}
	if err := z.DeleteMember(a.Path, 0); !errors.Is(err, ErrBadVersion) {
		t.Errorf("delete at a stale version: %v", err)
	}
	if err := z.DeleteMember(a.Path, -1); err != nil {
		t.Error(err)
	}
	if err := z.DeleteMember(a.Path, -1); err != nil {
		t.Errorf("deleting a deleted member: %v", err)
	}
	if _, err := z.UpdateMember(a.Path, MemberData{Addr: "[::1]:6379", Role: RoleMaster}, -1); !errors.Is(err, ErrNoNode) {
		t.Errorf("update of a deleted member: %v", err)
	}
	if _, err := ReadShard(z, shard+"-missing"); !errors.Is(err, ErrNoNode) {
		t.Errorf("ReadShard of a missing shard: %v", err)
	}
}

func testMemberLostReply(t *testing.T, addr string) {
	plain := dial(t, ZKConfig{}, addr)
	f := newForwarder(t, addr)
	z := dial(t, ZKConfig{SessionTimeout: 20 * time.Second}, f.Addr())
	shard := "/t-lost/redis/cluster/icd/redis-0000"
	if err := plain.EnsurePath(shard); err != nil {
		t.Fatal(err)
	}
	sid := z.SessionID()
	f.CutNextReply("_c_") // the protected create
	m, err := z.CreateMember(shard, MemberData{Addr: "10.0.0.1:6379", Role: RoleCandidate})
	if err != nil {
		t.Fatalf("CreateMember with a lost reply: %v", err)
	}
	if z.SessionID() != sid {
		t.Fatal("the session changed; the test needs it to survive")
	}
	if f.Drops() != 1 {
		t.Fatalf("%d create replies lost, want 1: the test proves nothing", f.Drops())
	}
	names, _, err := plain.Children(shard)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || joinZnode(shard, names[0]) != m.Path {
		t.Fatalf("after a lost create reply: members %v, CreateMember returned %s; want exactly that one", names, m.Path)
	}
	// A member of this session left behind by an earlier failed call is
	// reused, not doubled; a second one is cleaned up.
	if _, err := z.Create(MemberPrefix(shard, "10.0.0.1:6379"), nil, CreateEphemeralSequential); err != nil {
		t.Fatal(err)
	}
	again, err := z.CreateMember(shard, MemberData{Addr: "10.0.0.1:6379", Role: RoleReplica, Offset: 5})
	if err != nil || again.Path != m.Path || again.Version != 1 {
		t.Fatalf("CreateMember again = %+v, %v; want %s reused", again, err, m.Path)
	}
	if names, _, _ := plain.Children(shard); len(names) != 1 {
		t.Fatalf("members after reuse: %v", names)
	}
	s, _ := ReadShard(plain, shard)
	if s.Members[0].Data.Role != RoleReplica || s.Members[0].Data.Offset != 5 {
		t.Errorf("reused member's data: %+v", s.Members[0].Data)
	}
	// After DeleteMember, a new member goes to the back of the queue.
	if err := z.DeleteMember(again.Path, again.Version); err != nil {
		t.Fatal(err)
	}
	back, err := z.CreateMember(shard, MemberData{Addr: "10.0.0.1:6379", Role: RoleCandidate})
	if err != nil || back.Seq <= again.Seq {
		t.Errorf("re-registration: %+v, %v", back, err)
	}
}

func testEphemeralExpiry(t *testing.T, addr string) {
	plain := dial(t, ZKConfig{}, addr)
	f := newForwarder(t, addr)
	z := dial(t, ZKConfig{SessionTimeout: 2 * time.Second}, f.Addr())
	layout, _ := NewLayout("/t-eph")
	node := layout.ProxyNode("icd", "127.0.0.1:22121")
	data := ProxyData{Addr: "127.0.0.1:22121", Pool: "icd", Started: time.Now(), Version: "test"}.Marshal()
	e, err := NewEphemeral(z, node, data, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	owner := func() int64 {
		_, st, err := plain.Get(node)
		if err != nil {
			return 0
		}
		return st.EphemeralOwner
	}
	eventually(t, 5*time.Second, "registration", func() bool { return owner() == z.SessionID() && e.Registered() })
	first := z.SessionID()
	// Someone deletes it: it comes back.
	if err := plain.Delete(node, -1); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "re-creation after a delete", func() bool { return owner() == first })
	// Someone overwrites it: the data is put back.
	if _, err := plain.Set(node, []byte(`{"addr":"6.6.6.6:1"}`), -1); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "data restored", func() bool {
		b, _, _ := plain.Get(node)
		return string(b) == string(data)
	})
	// Session expiry: gone, then re-created by the new session.
	f.Cut()
	eventually(t, 10*time.Second, "the expired session's node to vanish", func() bool { return owner() == 0 })
	f.Heal()
	eventually(t, 10*time.Second, "re-registration after expiry", func() bool {
		o := owner()
		return o != 0 && o != first && o == z.SessionID()
	})
	b, _, _ := plain.Get(node)
	if d, err := ParseProxyData(b); err != nil || d.Pool != "icd" {
		t.Errorf("re-registered data %q: %v", b, err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v", err)
	}
	if ok, _, _ := plain.Exists(node); ok {
		t.Error("node left behind after Run ended")
	}
}

func testEphemeralHeldByOther(t *testing.T, addr string) {
	old := dial(t, ZKConfig{}, addr)
	z := dial(t, ZKConfig{}, addr)
	node := "/t-held/redis/proxy/icd/127.0.0.1:22121"
	if err := old.EnsurePath("/t-held/redis/proxy/icd"); err != nil {
		t.Fatal(err)
	}
	if _, err := old.Create(node, []byte(`{"addr":"127.0.0.1:22121"}`), CreateEphemeral); err != nil {
		t.Fatal(err)
	}
	e, _ := NewEphemeral(z, node, []byte(`{"addr":"127.0.0.1:22121","pool":"icd"}`), testLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.Run(ctx)
	time.Sleep(300 * time.Millisecond)
	if e.Registered() {
		t.Fatal("registered over a live session's node")
	}
	old.Close() // the previous process ends: its node goes at once
	eventually(t, 5*time.Second, "registration once the old node is gone", func() bool {
		_, st, err := z.Get(node)
		return err == nil && st.EphemeralOwner == z.SessionID() && e.Registered()
	})
}

// next waits for the next update on ch.
func next[U any](t *testing.T, ch <-chan U, what string) U {
	t.Helper()
	select {
	case u := <-ch:
		return u
	case <-time.After(10 * time.Second):
		t.Fatalf("no update within 10 s: %s", what)
	}
	var zero U
	return zero
}

// sorted returns names sorted.
func sorted(names []string) []string {
	names = slices.Clone(names)
	slices.Sort(names)
	return names
}
