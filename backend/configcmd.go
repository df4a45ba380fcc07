package backend

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"time"
)

// The CONFIG command family: GET, SET, RESETSTAT, REWRITE, HELP.

func configCommand() *cmdSpec {
	const g = "server"
	return &cmdSpec{name: "config", arity: -2, group: g, since: "2.0.0", summary: "A container for server configuration commands.", complexity: "Depends on subcommand.",
		subs: subcommands("config",
			&cmdSpec{name: "get", handler: cmdConfigGet, arity: -3, flags: flagAdmin | flagNoScript | flagLoading | flagStale, group: g, since: "2.0.0", summary: "Returns the effective values of configuration parameters.", complexity: "O(N) when N is the number of configuration parameters provided"},
			&cmdSpec{name: "set", handler: cmdConfigSet, arity: -4, flags: flagAdmin | flagNoScript | flagLoading | flagStale, group: g, since: "2.0.0", summary: "Sets configuration parameters in-flight.", complexity: "O(N) when N is the number of configuration parameters provided"},
			&cmdSpec{name: "resetstat", handler: cmdConfigResetStat, arity: 2, flags: flagAdmin | flagNoScript | flagLoading | flagStale, group: g, since: "2.0.0", summary: "Resets the server's statistics.", complexity: "O(1)"},
			&cmdSpec{name: "rewrite", handler: cmdConfigRewrite, arity: 2, flags: flagAdmin | flagNoScript | flagLoading | flagStale, group: g, since: "2.8.0", summary: "Persists the effective configuration to file.", complexity: "O(1)"},
			&cmdSpec{name: "help", handler: helpCmd("CONFIG", configHelp), arity: 2, flags: flagLoading | flagStale, group: g, since: "5.0.0", summary: "Returns helpful text about the different subcommands.", complexity: "O(1)"},
		)}
}

var configHelp = []string{
	"GET <pattern>",
	"    Return parameters matching the glob-like <pattern> and their values.",
	"SET <directive> <value>",
	"    Set the configuration <directive> to <value>.",
	"RESETSTAT",
	"    Reset statistics reported by the INFO command.",
	"REWRITE",
	"    Rewrite the configuration file.",
}

func cmdConfigGet(c *Client, args [][]byte) {
	cfg := c.s.Config()
	seen := map[string]bool{}
	var out []string
	for _, a := range args[2:] {
		pat := string(a)
		for i := range params {
			p := &params[i]
			if seen[p.name] || !globMatch(pat, p.name, true) {
				continue
			}
			seen[p.name] = true
			out = append(out, p.name, p.get(&cfg))
		}
	}
	c.array(len(out))
	for _, s := range out {
		c.bulkString(s)
	}
}

func configSetError(name, reason string) string {
	return "ERR CONFIG SET failed (possibly related to argument '" + name + "') - " + reason
}

func cmdConfigSet(c *Client, args [][]byte) {
	if len(args)%2 != 0 {
		c.err(errArity("config|set"))
		return
	}
	s := c.s
	s.cfgMu.Lock()
	next := s.cfg
	next.Bind = append([]string(nil), s.cfg.Bind...)
	seen := map[string]bool{}
	for i := 2; i < len(args); i += 2 {
		name := strings.ToLower(string(args[i]))
		p := lookupParam(name)
		if p == nil {
			s.cfgMu.Unlock()
			c.err("ERR Unknown option or number of arguments for CONFIG SET - '" + cstr(args[i]) + "'")
			return
		}
		if seen[p.name] {
			s.cfgMu.Unlock()
			c.err(configSetError(cstr(args[i]), "duplicate parameter"))
			return
		}
		seen[p.name] = true
		if p.immutable {
			s.cfgMu.Unlock()
			c.err(configSetError(cstr(args[i]), "can't set immutable config"))
			return
		}
		if err := p.set(&next, string(args[i+1])); err != nil {
			s.cfgMu.Unlock()
			c.err(configSetError(cstr(args[i]), err.Error()))
			return
		}
	}
	prev := s.cfg
	s.cfg = next
	s.cfgMu.Unlock()
	if msg := s.applyConfig(prev, next); msg != "" {
		s.cfgMu.Lock()
		s.cfg = prev
		s.cfgMu.Unlock()
		c.err(msg)
		return
	}
	c.ok()
}

// applyConfig makes a runtime configuration change take effect; it returns
// an error text (and the caller restores prev) when it cannot.
func (s *Server) applyConfig(prev, next Config) string {
	if msg := s.repl.configChanged(prev, next); msg != "" {
		return msg
	}
	s.logLevel.Set(parseLogLevel(next.LogLevel))
	s.aof.policy.Store(parseFsync(next.AppendFsync))
	s.protoMaxBulkLen.Store(next.ProtoMaxBulkLen)
	s.clientTimeout.Store(int64(time.Duration(next.Timeout) * time.Second))
	s.limits.store(next)
	s.pubsub.limits.store(next)
	s.ks.SetNotifyFlags(next.NotifyKeyspaceEvents)
	s.migr.guard.setGuardTime(time.Duration(next.MigrateGuardTime) * time.Millisecond)
	if next.AppendOnly != prev.AppendOnly {
		if next.AppendOnly {
			if err := s.aof.startRewrite("CONFIG SET appendonly yes", true); err != nil {
				s.log.Warn("Unable to turn on AOF", "error", err)
				return configSetError("appendonly", "Unable to turn on AOF. Check server logs.")
			}
		} else if err := s.aof.disable(); err != nil {
			s.log.Warn("Error closing the AOF", "error", err)
		}
	}
	return ""
}

func cmdConfigResetStat(c *Client, _ [][]byte) {
	s := c.s
	s.stats.connections.Store(0)
	s.stats.rejected.Store(0)
	s.stats.unknownCommands.Store(0)
	s.repl.resetStats()
	s.ks.resetStats()
	for _, cmd := range s.cmds {
		cmd.resetStats()
	}
	s.errs.reset()
	s.mu.Lock()
	s.expiry.stalePerc = 0
	s.expiry.timeCapReached = 0
	s.mu.Unlock()
	c.ok()
}

func cmdConfigRewrite(c *Client, _ [][]byte) {
	cfg := c.s.Config()
	if cfg.ConfigFile == "" {
		c.err(errNoConfigFile)
		return
	}
	var b bytes.Buffer
	if _, err := cfg.WriteTo(&b); err != nil {
		c.err("ERR Rewriting config file: " + err.Error())
		return
	}
	tmp := cfg.ConfigFile + ".tmp"
	if err := os.WriteFile(tmp, b.Bytes(), 0o644); err != nil {
		c.err(fmt.Sprintf("ERR Rewriting config file: %v", err))
		return
	}
	if err := os.Rename(tmp, cfg.ConfigFile); err != nil {
		c.err(fmt.Sprintf("ERR Rewriting config file: %v", err))
		return
	}
	c.s.log.Info("CONFIG REWRITE executed with success.")
	c.ok()
}
