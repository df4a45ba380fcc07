package integration

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/shardis/shardis/conf"
	"github.com/shardis/shardis/hashring"
	"github.com/shardis/shardis/integration/harness"
)

// placementKeysPerPool is how many keys go through nutcracker per pool.
const placementKeysPerPool = 10000

// placementPool is one nutcracker pool of the placement test and the
// hashring Spec that must place keys exactly as nutcracker does.
type placementPool struct {
	name   string
	listen string
	spec   hashring.Spec
	// backend of each spec server
	backend []int
}

// TestPlacementAgainstNutcracker starts Debian's nutcracker with one pool
// per distribution (ketama, modula) x hash (all twelve) x server names
// (with, without), each over the same five fake backends with weights
// 1/2/3/1/2, plus a random pool. It sends 10,000 SETs through every pool
// and requires hashring to name the backend nutcracker chose for every
// key: zero mismatches. The tables are built from conf.Parse of the very
// YAML nutcracker runs. Servers are listed out of twemproxy's name order so
// that its sorting by name is exercised; the named pools also use a
// hash_tag, and keys include bytes >= 0x80 (hashed as C's signed char).
func TestPlacementAgainstNutcracker(t *testing.T) {
	rec := newKeyRecorder()
	weights := []int{1, 2, 3, 1, 2}
	// Names of different lengths, listed out of order.
	names := []string{"shard-b", "a", "node-ccc", "zz", "b0"}
	// YAML order of the unnamed servers: also not sorted by address.
	unnamedOrder := []int{3, 0, 4, 1, 2}
	backends := make([]*placementBackend, len(weights))
	for i := range backends {
		backends[i] = startPlacementBackend(t, i, rec)
	}

	var pools []*placementPool
	for _, dist := range []hashring.Distribution{hashring.Ketama, hashring.Modula} {
		for _, hash := range hashring.HashNames() {
			for _, named := range []bool{false, true} {
				p := &placementPool{
					name: fmt.Sprintf("%s_%s_%s", dist, hash, map[bool]string{false: "addr", true: "named"}[named]),
					spec: hashring.Spec{Distribution: dist, Hash: hash},
				}
				order := unnamedOrder
				if named {
					p.spec.HashTag = "{}"
					order = []int{0, 1, 2, 3, 4}
				}
				for _, b := range order {
					s := hashring.Server{Addr: backends[b].addr, Weight: weights[b]}
					if named {
						s.Name = names[b]
					}
					p.spec.Servers = append(p.spec.Servers, s)
					p.backend = append(p.backend, b)
				}
				pools = append(pools, p)
			}
		}
	}
	random := &placementPool{
		name: "random_fnv1a_64",
		spec: hashring.Spec{Distribution: hashring.Random},
	}
	for b := range backends {
		random.spec.Servers = append(random.spec.Servers, hashring.Server{Addr: backends[b].addr, Weight: weights[b]})
		random.backend = append(random.backend, b)
	}

	launchNutcracker(t, append(pools, random), nil)

	// Four clients at a time: nutcracker is single-threaded and the
	// machine has two cores; more would only queue.
	results := make([]placementResult, len(pools)+1)
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i, p := range append(pools, random) {
		wg.Add(1)
		go func() { // owned by this test; ends when its pool is checked
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = checkPlacement(p, i, rec)
		}()
	}
	wg.Wait()

	total := 0
	for _, r := range results {
		if r.err != nil {
			t.Errorf("pool %s: %v", r.pool, r.err)
			continue
		}
		if r.missing > 0 {
			t.Errorf("pool %s: %d keys never reached a backend", r.pool, r.missing)
		}
		if len(r.mismatches) > 0 {
			t.Errorf("pool %s: %d of %d keys placed differently from nutcracker, e.g.\n  %s",
				r.pool, len(r.mismatches), placementKeysPerPool, strings.Join(r.mismatches[:min(5, len(r.mismatches))], "\n  "))
		}
		total += placementKeysPerPool
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.twice) > 0 {
		t.Errorf("%d keys reached two backends, e.g. %s", len(rec.twice), rec.twice[0])
	}
	if len(rec.badCmds) > 0 {
		t.Errorf("backends received unexpected commands: %v", rec.badCmds[:min(5, len(rec.badCmds))])
	}
	t.Logf("%d pools, %d keys checked against nutcracker", len(results), total)
}

// placementKeys returns the keys sent through pool number id: plain keys,
// keys with bytes >= 0x80, and keys with hash tags shared by several keys.
func placementKeys(id int) [][]byte {
	keys := make([][]byte, placementKeysPerPool)
	for i := range keys {
		switch {
		case i%7 == 3:
			keys[i] = fmt.Appendf(nil, "p%d:\x80\xfe\xff:%d:é", id, i)
		case i%11 == 5:
			keys[i] = fmt.Appendf(nil, "p%d:{tag%d}:%d", id, i%97, i)
		case i%13 == 6:
			keys[i] = fmt.Appendf(nil, "p%d:{}:%d:{x}", id, i) // empty tag, then a tag
		default:
			keys[i] = fmt.Appendf(nil, "p%d:user:%d", id, i)
		}
	}
	return keys
}

// placementResult is what checkPlacement found for one pool.
type placementResult struct {
	pool       string
	mismatches []string
	missing    int
	err        error
}

// checkPlacement sends the pool's keys through nutcracker and compares
// where each landed with hashring's choice.
func checkPlacement(p *placementPool, id int, rec *keyRecorder) (res placementResult) {
	res.pool = p.name
	table, err := hashring.New(p.spec)
	if err != nil {
		res.err = err
		return res
	}
	keys := placementKeys(id)
	if err := pipelineSets(p.listen, keys); err != nil {
		res.err = err
		return res
	}
	for _, k := range keys {
		got, ok := rec.lookup(string(k))
		if !ok {
			res.missing++
			continue
		}
		if p.spec.Distribution == hashring.Random {
			continue // only "every key reaches some server"
		}
		if want := p.backend[table.Lookup(k)]; got != want {
			res.mismatches = append(res.mismatches, fmt.Sprintf("key %q: nutcracker chose backend %d, hashring %d", k, got, want))
		}
	}
	return res
}

// placementYAML writes the nutcracker configuration for the pools.
func placementYAML(pools []*placementPool) string {
	var sb strings.Builder
	for _, p := range pools {
		fmt.Fprintf(&sb, "%s:\n  listen: %s\n  hash: %s\n  distribution: %s\n  redis: true\n  timeout: 10000\n",
			p.name, p.listen, hashOrDefault(p.spec.Hash), p.spec.Distribution)
		if p.spec.HashTag != "" {
			fmt.Fprintf(&sb, "  hash_tag: %q\n", p.spec.HashTag)
		}
		sb.WriteString("  servers:\n")
		for _, s := range p.spec.Servers {
			fmt.Fprintf(&sb, "   - %s:%d", s.Addr, s.Weight)
			if s.Name != "" {
				sb.WriteString(" " + s.Name)
			}
			sb.WriteString("\n")
		}
		sb.WriteString("\n")
	}
	return sb.String()
}

// launchNutcracker gives the pools listen ports, writes their nutcracker
// configuration (passed through tweak, if not nil), routes them with
// conf's Spec (useConfSpecs) and starts nutcracker, retrying with other
// ports if one was taken in the meantime.
func launchNutcracker(t *testing.T, pools []*placementPool, tweak func(string) string) *harness.Proc {
	t.Helper()
	var lastErr error
	for attempt := 1; attempt <= 3; attempt++ {
		ports := reservePorts(t, len(pools)+1)
		listens := make([]string, len(pools))
		for i, p := range pools {
			p.listen = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[i]))
			listens[i] = p.listen
		}
		yaml := placementYAML(pools)
		if tweak != nil {
			yaml = tweak(yaml)
		}
		useConfSpecs(t, yaml, pools)
		nc, err := startNutcracker(t, yaml, ports[len(pools)], listens)
		if err == nil {
			return nc
		}
		lastErr = err
		t.Logf("nutcracker did not start (attempt %d), retrying with other ports: %v", attempt, err)
	}
	t.Fatalf("nutcracker did not start: %v", lastErr)
	return nil
}

// useConfSpecs loads the nutcracker configuration with conf.Parse, checks
// that each pool's Spec is the one the test meant, and makes the test route
// with conf's Spec: the placement check then covers YAML to hashring.
func useConfSpecs(t *testing.T, yaml string, pools []*placementPool) {
	t.Helper()
	loaded, err := conf.Parse("nutcracker.yml", []byte(yaml))
	if err != nil {
		t.Fatalf("conf.Parse of the nutcracker configuration: %v", err)
	}
	if len(loaded) != len(pools) {
		t.Fatalf("conf.Parse: %d pools, want %d", len(loaded), len(pools))
	}
	for i, p := range pools {
		c := loaded[i]
		spec := c.Spec()
		if c.Name != p.name || c.Listen.Addr != p.listen || spec.Distribution != p.spec.Distribution ||
			spec.Hash != hashOrDefault(p.spec.Hash) || spec.HashTag != p.spec.HashTag || len(spec.Servers) != len(p.spec.Servers) {
			t.Fatalf("pool %s: conf gives %+v, want %+v", p.name, spec, p.spec)
		}
		for j, s := range spec.Servers {
			if w := p.spec.Servers[j]; s.Addr != w.Addr || s.Name != w.Name || s.Weight != w.Weight || len(s.Ranges) != 0 {
				t.Fatalf("pool %s server %d: conf gives %+v, want %+v", p.name, j, s, w)
			}
		}
		p.spec = spec
	}
}

func hashOrDefault(h string) string {
	if h == "" {
		return hashring.DefaultHash
	}
	return h
}

// TestPlacementAfterEjection checks NewWithout against nutcracker's own
// rebuild after auto_eject_hosts ejects a server: one of four backends is
// down, a key routed to it makes nutcracker eject it (failure limit 1), and
// then 10,000 keys per pool must land where NewWithout says.
func TestPlacementAfterEjection(t *testing.T) {
	rec := newKeyRecorder()
	weights := []int{1, 2, 3, 1}
	const dead = 2
	backends := make([]*placementBackend, len(weights))
	for i := range backends {
		backends[i] = startPlacementBackend(t, i, rec)
	}
	backends[dead].ln.Close() // connections to it are now refused

	var pools []*placementPool
	for _, dist := range []hashring.Distribution{hashring.Ketama, hashring.Modula} {
		for _, hash := range []string{"fnv1a_64", "md5", "murmur"} {
			p := &placementPool{
				name: fmt.Sprintf("eject_%s_%s", dist, hash),
				spec: hashring.Spec{Distribution: dist, Hash: hash},
			}
			for _, b := range []int{3, 1, 0, 2} {
				p.spec.Servers = append(p.spec.Servers, hashring.Server{Addr: backends[b].addr, Weight: weights[b]})
				p.backend = append(p.backend, b)
			}
			pools = append(pools, p)
		}
	}
	nc := launchNutcracker(t, pools, func(yaml string) string {
		return strings.ReplaceAll(yaml, "  timeout: 10000\n",
			"  timeout: 10000\n  auto_eject_hosts: true\n  server_failure_limit: 1\n  server_retry_timeout: 600000\n")
	})

	for i, p := range pools {
		all, err := hashring.New(p.spec)
		if err != nil {
			t.Fatal(err)
		}
		deadIdx := -1
		for j, b := range p.backend {
			if b == dead {
				deadIdx = j
			}
		}
		// A key that nutcracker sends to the dead backend: its SET fails
		// and the server is ejected.
		var probe []byte
		for j := 0; probe == nil; j++ {
			if k := fmt.Appendf(nil, "probe:%d", j); all.Lookup(k) == deadIdx {
				probe = k
			}
		}
		if err := pipelineSets(p.listen, [][]byte{probe}); err == nil {
			t.Fatalf("pool %s: SET %q to the dead backend succeeded", p.name, probe)
		}
		ejected := make([]bool, len(p.spec.Servers))
		ejected[deadIdx] = true
		table, err := hashring.NewWithout(p.spec, ejected)
		if err != nil {
			t.Fatal(err)
		}
		keys := placementKeys(100 + i)
		if err := pipelineSets(p.listen, keys); err != nil {
			t.Fatalf("pool %s after ejection: %v\n%s", p.name, err, nc.Tail(2048))
		}
		var bad []string
		moved := 0
		for _, k := range keys {
			got, ok := rec.lookup(string(k))
			want := p.backend[table.Lookup(k)]
			if !ok || got != want {
				bad = append(bad, fmt.Sprintf("key %q: nutcracker chose backend %d (seen %v), hashring %d", k, got, ok, want))
			}
			if all.Lookup(k) != table.Lookup(k) {
				moved++
			}
		}
		if len(bad) > 0 {
			t.Errorf("pool %s: %d of %d keys placed differently after ejection, e.g.\n  %s",
				p.name, len(bad), len(keys), strings.Join(bad[:min(5, len(bad))], "\n  "))
		}
		t.Logf("pool %s: %d keys checked after ejection (%d moved)", p.name, len(keys), moved)
	}
}
