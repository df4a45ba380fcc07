package proxy

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestAppendSlowArgs(t *testing.T) {
	long := strings.Repeat("x", 200)
	many := []string{"DEL"}
	for i := 0; i < 40; i++ {
		many = append(many, "k"+strconv.Itoa(i))
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"GET", "a"}, []string{"GET", "a"}},
		{[]string{"SET", "k", long}, []string{"SET", "k", long[:128] + "... (72 more bytes)"}},
		{many, append(append([]string(nil), many[:31]...), "... (10 more arguments)")},
	} {
		var args [][]byte
		for _, a := range c.args {
			args = append(args, []byte(a))
		}
		if got, want := string(appendSlowArgs(nil, args)), cmd(c.want...); got != want {
			t.Errorf("%.40q: %q, want %q", c.args, got, want)
		}
	}
}

// TestSlowlog: SLOWLOG GET/LEN/RESET at the proxy, per pool: every
// request over the pool's threshold is logged in Redis' layout (newest
// first, at most slowlog_max_len), blocking commands are not; a pool with
// a high threshold or a negative one logs nothing.
func TestSlowlog(t *testing.T) {
	bs := startBackends(t, backendKinds[0], 2)
	servers := serverLines(bs, weight1)
	tp := startTestProxy(t, yamlPool("all", freeAddr(t), servers, "slowlog_slower_than: 0", "slowlog_max_len: 3")+
		yamlPool("slow", freeAddr(t), servers, "slowlog_slower_than: 5000000")+
		yamlPool("off", freeAddr(t), servers, "slowlog_slower_than: -1"))
	rc := dialRaw(t, tp.addrs["all"])
	runExchanges(t, rc, []exchange{
		{[]string{"SLOWLOG", "RESET"}, "+OK\r\n"},
		{[]string{"SLOWLOG", "LEN"}, ":1\r\n"}, // the RESET itself, as in Redis
		{[]string{"CLIENT", "SETNAME", "tester"}, "+OK\r\n"},
		{[]string{"SET", "k", strings.Repeat("v", 130)}, "+OK\r\n"},
		{[]string{"MGET", "k", "j"}, "*2\r\n$130\r\n" + strings.Repeat("v", 130) + "\r\n$-1\r\n"},
		{[]string{"SLOWLOG", "LEN"}, ":3\r\n"},
		{[]string{"BLPOP", "nolist", "0.01"}, "*-1\r\n"},
		{[]string{"SLOWLOG", "GET", "x"}, "-ERR count should be greater than or equal to -1\r\n"},
		{[]string{"SLOWLOG", "GET", "-2"}, "-ERR count should be greater than or equal to -1\r\n"},
		{[]string{"SLOWLOG", "LEN", "1"}, "-ERR wrong number of arguments for 'slowlog|len' command\r\n"},
		{[]string{"SLOWLOG", "NOPE"}, "-ERR unknown subcommand 'NOPE'. Try SLOWLOG HELP.\r\n"},
		{[]string{"SLOWLOG", "HELP"}, "*12\r\n+SLOWLOG <subcommand>*"},
	})
	got := rc.do("SLOWLOG", "GET", "-1")
	// Newest first: the HELP, the NOPE, the LEN 1 (errors are logged too;
	// the BLPOP is not).
	entry := `\*6\r\n:(\d+)\r\n:(\d+)\r\n:(\d+)\r\n`
	client := fmt.Sprintf(`\$%d\r\n%s\r\n\$6\r\ntester\r\n`, len(rc.nc.LocalAddr().String()), regexp.QuoteMeta(rc.nc.LocalAddr().String()))
	re := regexp.MustCompile(`^\*3\r\n` +
		entry + regexp.QuoteMeta(cmd("SLOWLOG", "HELP")) + client +
		entry + regexp.QuoteMeta(cmd("SLOWLOG", "NOPE")) + client +
		entry + regexp.QuoteMeta(cmd("SLOWLOG", "LEN", "1")) + client + `$`)
	m := re.FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("SLOWLOG GET -1:\n%q", got)
	}
	id0, _ := strconv.Atoi(m[1])
	id1, _ := strconv.Atoi(m[4])
	id2, _ := strconv.Atoi(m[7])
	if id0 != id1+1 || id1 != id2+1 || id2 < 2 {
		t.Errorf("ids %d, %d, %d: want consecutive, newest first", id0, id1, id2)
	}

	// The cut of a long argument, through SLOWLOG GET 1.
	runExchanges(t, rc, []exchange{
		{[]string{"SET", "k", strings.Repeat("v", 130)}, "+OK\r\n"},
	})
	if got := rc.do("SLOWLOG", "GET", "1"); !strings.Contains(got, cmd("SET", "k", strings.Repeat("v", 128)+"... (2 more bytes)")) {
		t.Errorf("SLOWLOG GET 1 after a long SET: %q", got)
	}

	for _, pool := range []string{"slow", "off"} {
		rc := dialRaw(t, tp.addrs[pool])
		runExchanges(t, rc, []exchange{
			{[]string{"SET", "k", "v"}, "+OK\r\n"},
			{[]string{"GET", "k"}, "$1\r\nv\r\n"},
			{[]string{"SLOWLOG", "LEN"}, ":0\r\n"},
			{[]string{"SLOWLOG", "GET"}, "*0\r\n"},
		})
	}
}
