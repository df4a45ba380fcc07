package proxy

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/shardis/shardis/conf"
)

func TestListenReuseportAndStaleSocket(t *testing.T) {
	addr := freeAddr(t)
	l := conf.Listen{Network: "tcp", Addr: addr}
	a, err := listen(l, 128, true)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := listen(l, 128, true)
	if err != nil {
		t.Fatalf("second listener with reuseport: %v", err)
	}
	b.Close()
	if c, err := listen(l, 128, false); err == nil {
		c.Close()
		t.Fatal("a listener without reuseport shared the port")
	}

	sock := filepath.Join(t.TempDir(), "s.sock")
	u := conf.Listen{Network: "unix", Addr: sock, Perm: 0o660}
	first, err := listen(u, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := listen(u, 0, false); err == nil {
		t.Fatal("a second proxy took over a live socket")
	}
	// A socket file left by a dead process is replaced.
	first.(*net.UnixListener).SetUnlinkOnClose(false)
	first.Close()
	again, err := listen(u, 0, false)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	defer again.Close()
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode %v, %v", fi.Mode(), err)
	}
}
