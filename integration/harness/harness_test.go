package harness

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

func ping(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return line
}

func TestRedisKillRestart(t *testing.T) {
	r := StartRedis(t)
	if got := ping(t, r.Addr); got != "+PONG\r\n" {
		t.Fatalf("PING = %q", got)
	}
	pid := r.PID()
	r.Kill()
	if !r.Exited() {
		t.Fatal("still running after Kill")
	}
	if err := r.Restart(); err != nil {
		t.Fatal(err)
	}
	if r.PID() == pid || r.PID() == 0 {
		t.Fatalf("restart kept pid %d", pid)
	}
	if got := ping(t, r.Addr); got != "+PONG\r\n" {
		t.Fatalf("PING after restart = %q", got)
	}
}

func TestZooKeeper(t *testing.T) {
	z := StartZooKeeper(t)
	out, err := FourLetter(z.Addr, "srvr")
	if err != nil || !strings.Contains(out, "Mode: standalone") {
		t.Fatalf("srvr = %q, %v", out, err)
	}
	if err := z.Restart(); err != nil {
		t.Fatal(err)
	}
}

func TestNutcracker(t *testing.T) {
	r := StartRedis(t)
	listen := addrOf(FreePort(t))
	n := StartNutcracker(t, "p:\n  listen: "+listen+"\n  redis: true\n  servers:\n   - "+r.Addr+":1\n", listen)
	if got := ping(t, n.Addr); got != "+PONG\r\n" {
		t.Fatalf("PING via nutcracker = %q", got)
	}
}
