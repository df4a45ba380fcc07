package proxy

import (
	"io"
	"net"
	"testing"
	"time"
)

// TestDrain: when Serve's context ends (SIGTERM) the proxy stops
// accepting, still answers the commands it has read, then closes; a
// server that never answers is bounded by DrainTimeout.
func TestDrain(t *testing.T) {
	backends := startBackends(t, backendKinds[0], 1)
	tp := startTestProxy(t, yamlPool("p", freeAddr(t), serverLines(backends, weight1)),
		func(o *Options) { o.DrainTimeout = 5 * time.Second })
	addr := tp.addrs["p"]
	rc := dialRaw(t, addr)
	rc.do("SET", "k", "v")
	backends[0].Pause()
	rc.send(cmd("GET", "k"))
	time.Sleep(50 * time.Millisecond)
	stopped := make(chan struct{})
	go func() {
		tp.stop()
		close(stopped)
	}()
	// The listener closes at once.
	deadline := time.Now().Add(2 * time.Second)
	for {
		nc, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			break
		}
		nc.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting after shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	select {
	case <-stopped:
		t.Fatal("Serve returned with a request in flight")
	default:
	}
	backends[0].Resume()
	if got := rc.reply(); got != "$1\r\nv\r\n" {
		t.Errorf("in-flight request during drain: %q", got)
	}
	if _, err := rc.readReply(); err != io.EOF {
		t.Errorf("connection not closed after drain: %v", err)
	}
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the drain")
	}
}

func TestDrainTimeout(t *testing.T) {
	backends := startBackends(t, backendKinds[0], 1)
	tp := startTestProxy(t, yamlPool("p", freeAddr(t), serverLines(backends, weight1)),
		func(o *Options) { o.DrainTimeout = 300 * time.Millisecond })
	rc := dialRaw(t, tp.addrs["p"])
	rc.do("SET", "k", "v")
	backends[0].Pause()
	defer backends[0].Resume()
	rc.send(cmd("GET", "k"))
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	tp.stop()
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("Serve took %v to return with DrainTimeout 300ms", el)
	}
	if got, err := rc.readReply(); err == nil && got != "-ERR backend "+backends[0].Addr+": proxy shutting down\r\n" {
		t.Errorf("request cut by the drain timeout: %q", got)
	}
}
