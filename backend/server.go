package backend

import (
	"context"
	"errors"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"
)

// Server commands: TIME, LASTSAVE, SAVE, BGSAVE, BGREWRITEAOF, SHUTDOWN,
// FUNCTION/SCRIPT FLUSH, MEMORY, and the INFO, CONFIG and COMMAND families
// (info.go, configcmd.go, commandcmd.go).

func serverCommands() []*cmdSpec {
	const g = "server"
	return []*cmdSpec{
		{name: "time", handler: cmdTime, arity: 1, flags: flagLoading | flagStale | flagFast, group: g, since: "2.6.0", summary: "Returns the server time.", complexity: "O(1)"},
		{name: "lastsave", handler: func(c *Client, _ [][]byte) { c.int(c.s.lastSave.Load()) }, arity: 1, flags: flagLoading | flagStale | flagFast, group: g, since: "1.0.0", summary: "Returns the Unix timestamp of the last successful save to disk.", complexity: "O(1)"},
		{name: "save", handler: cmdSave, arity: 1, flags: flagAdmin | flagNoScript | flagNoMulti, group: g, since: "1.0.0", summary: "Synchronously saves the database(s) to disk.", complexity: "O(N) where N is the total number of keys in all databases"},
		{name: "bgsave", handler: cmdBGSave, arity: -1, flags: flagAdmin | flagNoScript, group: g, since: "1.0.0", summary: "Asynchronously saves the database(s) to disk.", complexity: "O(1)"},
		{name: "bgrewriteaof", handler: cmdBGRewriteAOF, arity: 1, flags: flagAdmin | flagNoScript, group: g, since: "1.0.0", summary: "Asynchronously rewrites the append-only file to disk.", complexity: "O(1)"},
		{name: "shutdown", handler: cmdShutdown, arity: -1, flags: flagAdmin | flagNoScript | flagLoading | flagStale | flagNoMulti | flagAllowBusy, group: g, since: "1.0.0", summary: "Synchronously saves the database(s) to disk and shuts down the Redis server.", complexity: "O(N) when saving, where N is the total number of keys in all databases when saving data, otherwise O(1)"},
		infoCommand(),
		configCommand(),
		commandCommand(),
		{name: "function", arity: -2, group: "scripting", since: "7.0.0", summary: "A container for function commands.", complexity: "Depends on subcommand.",
			subs: subcommands("function",
				&cmdSpec{name: "flush", handler: cmdFlushScripts, arity: -2, flags: flagWrite | flagNoScript, group: "scripting", since: "7.0.0", summary: "Deletes all libraries and functions.", complexity: "O(N) where N is the number of functions deleted"},
				&cmdSpec{name: "list", handler: func(c *Client, _ [][]byte) { c.array(0) }, arity: -2, flags: flagNoScript, group: "scripting", since: "7.0.0", summary: "Returns information about all libraries.", complexity: "O(N) where N is the number of functions"},
				&cmdSpec{name: "help", handler: helpCmd("FUNCTION", []string{"FLUSH [ASYNC|SYNC]", "    Deletes all libraries (shardis-server provides none).", "LIST", "    Return an empty list: scripting is not provided."}), arity: 2, flags: flagLoading | flagStale, group: "scripting", since: "7.0.0", summary: "Returns helpful text about the different subcommands.", complexity: "O(1)"},
			)},
		{name: "memory", arity: -2, group: g, since: "4.0.0", summary: "A container for memory diagnostics commands.", complexity: "Depends on subcommand.",
			subs: subcommands("memory",
				&cmdSpec{name: "usage", handler: cmdMemoryUsage, arity: -3, flags: flagReadonly, first: 2, last: 2, step: 1, group: g, since: "4.0.0", summary: "Estimates the memory usage of a key.", complexity: "O(N) where N is the number of samples."},
				&cmdSpec{name: "purge", handler: func(c *Client, _ [][]byte) { debug.FreeOSMemory(); c.ok() }, arity: 2, group: g, since: "4.0.0", summary: "Asks the allocator to release memory.", complexity: "Depends on how much memory is allocated, could be slow"},
				&cmdSpec{name: "help", handler: helpCmd("MEMORY", []string{"USAGE <key> [SAMPLES <count>]", "    Return memory in bytes used by <key> and its value (an estimate).", "PURGE", "    Return unused memory to the operating system."}), arity: 2, flags: flagLoading | flagStale, group: g, since: "4.0.0", summary: "Returns helpful text about the different subcommands.", complexity: "O(1)"},
			)},
	}
}

func cmdTime(c *Client, _ [][]byte) {
	now := time.Now()
	c.array(2)
	c.bulkString(strconv.FormatInt(now.Unix(), 10))
	c.bulkString(strconv.FormatInt(int64(now.Nanosecond()/1000), 10))
}

// saving guards SAVE/BGSAVE of the snapshot file.
type saving struct {
	running atomic.Bool
	lastOK  atomic.Bool
	lastDur atomic.Int64 // seconds, -1 before the first
	count   atomic.Int64
	started atomic.Int64 // unix seconds of the running save
}

func cmdSave(c *Client, _ [][]byte) {
	s := c.s
	if s.aof.enabled.Load() {
		// With AOF on, SAVE compacts the AOF and waits for it.
		if err := s.aof.startRewrite("SAVE", false); err != nil && !errors.Is(err, ErrRewriteInProgress) {
			c.err("ERR " + err.Error())
			return
		}
		s.aof.rw.mu.Lock()
		done := s.aof.rw.done
		s.aof.rw.mu.Unlock()
		if done != nil {
			<-done
		}
		s.aof.rw.mu.Lock()
		ok := s.aof.rw.lastOK
		s.aof.rw.mu.Unlock()
		if !ok {
			c.err("ERR " + "AOF rewrite failed, see the log")
			return
		}
		c.ok()
		return
	}
	if !s.save.running.CompareAndSwap(false, true) {
		c.err("ERR Background save already in progress")
		return
	}
	err := s.runSave(context.Background())
	if err != nil {
		c.err("ERR " + err.Error())
		return
	}
	c.ok()
}

// runSave writes the snapshot file; the caller set save.running.
func (s *Server) runSave(ctx context.Context) error {
	start := time.Now()
	s.save.started.Store(start.Unix())
	err := s.saveSnapshot(ctx, s.snapshotPath())
	s.save.lastDur.Store(int64(time.Since(start) / time.Second))
	s.save.lastOK.Store(err == nil)
	if err == nil {
		s.save.count.Add(1)
		s.log.Info("DB saved on disk", "file", s.snapshotPath())
	} else {
		s.log.Warn("Error saving DB on disk", "error", err)
	}
	s.save.running.Store(false)
	return err
}

func cmdBGSave(c *Client, args [][]byte) {
	if len(args) > 2 || (len(args) == 2 && !eqFold(args[1], "schedule")) {
		c.err(errSyntax)
		return
	}
	s := c.s
	if !s.save.running.CompareAndSwap(false, true) {
		c.err("ERR Background save already in progress")
		return
	}
	s.bgWG.Add(1)
	go func() { // owned by the server; bounded by the save
		defer s.bgWG.Done()
		_ = s.runSave(s.bgCtx)
	}()
	c.status("Background saving started")
}

func cmdBGRewriteAOF(c *Client, _ [][]byte) {
	if err := c.s.aof.startRewrite("BGREWRITEAOF", false); err != nil {
		if errors.Is(err, ErrRewriteInProgress) {
			c.err(errBGRewriteBusy)
		} else {
			c.err("ERR " + err.Error())
		}
		return
	}
	c.status("Background append only file rewriting started")
}

func cmdShutdown(c *Client, args [][]byte) {
	save := false
	for _, a := range args[1:] {
		switch {
		case eqFold(a, "nosave"):
			save = false
		case eqFold(a, "save"):
			save = true
		case eqFold(a, "now"), eqFold(a, "force"):
		case eqFold(a, "abort"):
			if len(args) != 2 {
				c.err(errSyntax)
				return
			}
			c.err(errNotShuttingDown)
			return
		default:
			c.err(errSyntax)
			return
		}
	}
	c.s.log.Warn("User requested shutdown...", "client", c.addr)
	c.s.requestShutdown(shutdownRequest{save: save})
	// No reply: the connection closes as the server goes down.
	c.quit = true
	c.w.Discard()
}

func cmdFlushScripts(c *Client, args [][]byte) {
	if len(args) > 3 || (len(args) == 3 && !eqFold(args[2], "sync") && !eqFold(args[2], "async")) {
		c.err(errSyntax)
		return
	}
	c.ok()
}

func cmdMemoryUsage(c *Client, args [][]byte) {
	if len(args) != 3 {
		if len(args) != 5 || !eqFold(args[3], "samples") {
			c.err(errSyntax)
			return
		}
		if _, ok := parseInt(args[4]); !ok {
			c.err(errNotInteger)
			return
		}
	}
	tx := c.begin()
	tx.lockKey(args[2])
	e, _, ok := tx.lookup(args[2])
	n := 0
	if ok {
		n = entryMemory(e)
	}
	c.commit()
	if !ok {
		c.null()
		return
	}
	c.int(int64(n))
}
