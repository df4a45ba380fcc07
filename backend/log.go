package backend

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// Log levels with Redis' names; verbose sits between debug and notice.
const (
	levelDebug   = slog.LevelDebug
	levelVerbose = slog.Level(-2)
	levelNotice  = slog.LevelInfo
	levelWarning = slog.LevelWarn
)

func parseLogLevel(s string) slog.Level {
	switch strings.ToLower(s) {
	case "debug":
		return levelDebug
	case "verbose":
		return levelVerbose
	case "warning":
		return levelWarning
	default:
		return levelNotice
	}
}

// logHandler writes redis-server style lines:
//
//	12345:M 22 Nov 2025 03:53:00.123 * message key=value
//
// ('.' debug, '-' verbose, '*' notice, '#' warning). The writer can be
// swapped (logfile opened by Serve).
type logHandler struct {
	mu    *sync.Mutex
	w     *io.Writer
	level *slog.LevelVar
	attrs string
	pid   int
}

func newLogHandler(w io.Writer, level *slog.LevelVar) *logHandler {
	return &logHandler{mu: &sync.Mutex{}, w: &w, level: level, pid: os.Getpid()}
}

func (h *logHandler) setWriter(w io.Writer) {
	h.mu.Lock()
	*h.w = w
	h.mu.Unlock()
}

func (h *logHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *logHandler) Handle(_ context.Context, r slog.Record) error {
	mark := byte('*')
	switch {
	case r.Level < levelVerbose:
		mark = '.'
	case r.Level < levelNotice:
		mark = '-'
	case r.Level >= levelWarning:
		mark = '#'
	}
	var b strings.Builder
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	fmt.Fprintf(&b, "%d:M %s %c %s", h.pid, t.Format("02 Jan 2006 15:04:05.000"), mark, r.Message)
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.Key + "=" + a.Value.String())
		return true
	})
	b.WriteByte('\n')
	h.mu.Lock()
	_, err := io.WriteString(*h.w, b.String())
	h.mu.Unlock()
	return err
}

func (h *logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	h2 := *h
	for _, a := range as {
		h2.attrs += " " + a.Key + "=" + a.Value.String()
	}
	return &h2
}

func (h *logHandler) WithGroup(string) slog.Handler { return h }
