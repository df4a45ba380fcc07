package conf

import (
	"context"
	"testing"
	"time"
)

// testNodeWatcher follows a failover request znode through creation, data
// changes, deletion and a re-creation with the same data (which a data
// comparison alone would miss), and measures how soon each is seen.
func testNodeWatcher(t *testing.T, addr string) {
	admin := dial(t, ZKConfig{}, addr)
	dog := dial(t, ZKConfig{}, addr)
	l, _ := NewLayout("/t-node")
	path := l.FailoverPath("icd", "redis-0000")
	w, err := NewNodeWatcher(dog, NodeWatcherConfig{Path: path, RefreshInterval: -1, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()

	u := next(t, w.Updates(), "first read")
	if u.Exists || u.Data != nil {
		t.Fatalf("first: %+v", u)
	}
	req := FailoverRequest{ID: "r1", Master: "10.0.0.1:6379-0000000001", Target: "10.0.0.2:6379", Timeout: time.Second, State: FailoverRequested}
	if err := admin.EnsurePath(l.FailoverRoot() + "/icd"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := admin.Create(path, req.Marshal(), CreateEphemeral); err != nil {
		t.Fatal(err)
	}
	u = next(t, w.Updates(), "created")
	t.Logf("creation seen after %v", time.Since(start))
	got, err := ParseFailoverRequest(u.Data)
	if !u.Exists || err != nil || got != req || u.Owner != admin.SessionID() || u.Version != 0 {
		t.Fatalf("created: %+v %v", u, err)
	}
	first := u

	req.State, req.Offset = FailoverPaused, 99
	start = time.Now()
	if _, err := dog.Set(path, req.Marshal(), 0); err != nil {
		t.Fatal(err)
	}
	u = next(t, w.Updates(), "set")
	t.Logf("data change seen after %v", time.Since(start))
	if got, _ := ParseFailoverRequest(u.Data); got != req || u.Version != 1 {
		t.Fatalf("set: %+v", u)
	}

	// Delete and create again with the same data before the watcher
	// reads: still a new znode (new creation zxid), so an update.
	if err := admin.Multi(DeleteOp(path, 1), CreateOp(path, first.Data)); err != nil {
		t.Fatal(err)
	}
	u = next(t, w.Updates(), "re-created")
	for u.Czxid == first.Czxid || !u.Exists {
		u = next(t, w.Updates(), "re-created")
	}
	if string(u.Data) != string(first.Data) || u.Version != 0 {
		t.Fatalf("re-created: %+v", u)
	}

	start = time.Now()
	if err := admin.Delete(path, -1); err != nil {
		t.Fatal(err)
	}
	u = next(t, w.Updates(), "deleted")
	t.Logf("deletion seen after %v", time.Since(start))
	if u.Exists || u.Data != nil {
		t.Fatalf("deleted: %+v", u)
	}
	if last, ok := w.Last(); !ok || last.Exists {
		t.Fatalf("Last: %+v", last)
	}
	select {
	case u := <-w.Updates():
		t.Fatalf("unexpected update: %+v", u)
	case <-time.After(100 * time.Millisecond):
	}
}
