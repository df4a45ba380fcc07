package conf

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/shardis/shardis/hashring"
)

// FuzzParse feeds random YAML to Parse: it must never panic or hang, every
// error must be an *Error of a known kind, and every pool it accepts must
// validate again and route (when it has servers).
func FuzzParse(f *testing.F) {
	for _, name := range []string{"testdata/nutcracker.yml", "testdata/seed.yml", "testdata/tenants/20-beta.yaml", "testdata/tenants/10-alpha.yml"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"",
		"p:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:6379:1\n",
		"p:\n  listen: /tmp/x.sock 0666\n  redis: true\n  servers:\n   - /tmp/r.sock:1 r\n",
		"p:\n  listen: 127.0.0.1:22121\n  slots: 8\n  servers:\n   - 127.0.0.1:7001:0-3\n   - 127.0.0.1:7002:4-7\n",
		"p:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:7001:0-2047\n   - 127.0.0.1:7002:2000-4095\n",
		"p:\n  listen: 127.0.0.1:22121\n  timeout: 400\n  timeout: 500\n",
		"a: &x\n  listen: *x\n",
		"- a\n- b\n",
		"p: {listen: '[::1]:1', servers: ['::1:2:1 n']}\n",
		"p:\n  zookeeper_host: a:1,b/c\n  zookeeper_redis_path: /x\n  listen: :1\n",
		"p:\n\tlisten: x\n",
		"p:\n  listen: 127.0.0.1:22121\n---\nq: 1\n",
		"? [a]\n: b\n",
		"p:\n  servers: !!binary aGVsbG8=\n",
		"p:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:6379:99999999999999999999\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// A hang must fail the input (and so be saved), not stall the
		// fuzzer until its deadline.
		res := make(chan error, 1)
		go func() { res <- checkParse(data) }()
		select {
		case err := <-res:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Parse did not return within 10 s on %q", data)
		}
	})
}

// checkParse parses data and checks the invariants FuzzParse promises.
func checkParse(data []byte) error {
	pools, err := Parse("fuzz.yml", data)
	if err != nil {
		if pools != nil {
			return errors.New("pools returned with an error")
		}
		for _, e := range Errors(err) {
			if e.File != "fuzz.yml" || e.Msg == "" || e.Line < 0 {
				return fmt.Errorf("badly located error %#v", e)
			}
			if !isKnownKind(e) {
				return fmt.Errorf("error of unknown kind: %v", e)
			}
		}
		return nil
	}
	if len(pools) == 0 {
		return errors.New("no pools and no error")
	}
	for _, p := range pools {
		if err := p.Validate(); err != nil {
			return fmt.Errorf("accepted pool %s does not validate: %v", p.Name, err)
		}
		if !p.Equal(p) {
			return fmt.Errorf("pool %s not equal to itself", p.Name)
		}
		_ = p.Warnings()
		if len(p.Servers) > 0 {
			if _, err := hashring.New(p.Spec()); err != nil {
				return fmt.Errorf("accepted pool %s does not route: %v", p.Name, err)
			}
		}
	}
	return nil
}

func isKnownKind(e *Error) bool {
	for _, k := range []error{ErrSyntax, ErrStructure, ErrNoPools, ErrUnknownKey, ErrDuplicateKey, ErrMissingKey,
		ErrBadValue, ErrBadAddress, ErrBadWeight, ErrSlotRanges, ErrDuplicateServer, ErrDuplicatePool, ErrDuplicateListen} {
		if errors.Is(e, k) {
			return true
		}
	}
	return false
}
