package proxy

import "testing"

func TestMakeRoom(t *testing.T) {
	var sc replyScanner
	// Empty: back to the start; a huge buffer shrinks.
	buf := make([]byte, 2<<20)
	b, r, w := sc.makeRoom(buf, 100, 100, 4096)
	if r != 0 || w != 0 || len(b) != 4096 {
		t.Fatalf("empty: len %d r %d w %d", len(b), r, w)
	}
	// A partial reply that needs more than the buffer: grown, bytes kept.
	buf = make([]byte, 4096)
	copy(buf[4000:], "$10000\r\nabc")
	sc.need = 10008
	b, r, w = sc.makeRoom(buf, 4000, 4011, 4096)
	if r != 0 || w != 11 || len(b) < 10008 || string(b[:w]) != "$10000\r\nabc" {
		t.Fatalf("grow: len %d r %d w %d %q", len(b), r, w, b[:w])
	}
	// Little room left at the end: compacted to the front.
	sc.need = 0
	buf = make([]byte, 4096)
	copy(buf[3500:], "+O")
	b, r, w = sc.makeRoom(buf, 3500, 3502, 4096)
	if r != 0 || w != 2 || string(b[:2]) != "+O" || len(b) != 4096 {
		t.Fatalf("compact: len %d r %d w %d", len(b), r, w)
	}
	// Enough room: unchanged.
	b, r, w = sc.makeRoom(buf, 10, 12, 4096)
	if r != 10 || w != 12 || len(b) != 4096 {
		t.Fatalf("keep: len %d r %d w %d", len(b), r, w)
	}
}
