// Package watchdog is shardis-watchdog: one per backend (shardis-server
// or Debian's redis-server), it registers the backend in its shard in
// ZooKeeper, makes it a replica of the shard's master, promotes it when
// the master is gone, fences it when it must not take writes, and carries
// out manual failovers (DESIGN.md §4, issue 9).
//
// # Shape
//
// Like etcd's raft, the package has a pure core and one I/O loop:
//
//   - Core (core*.go) is a deterministic state machine. It does no I/O,
//     starts no goroutine and reads no clock: Core.Step takes one Event
//     (a Tick with the time, a Probe of the backend, a ZooKeeper
//     SessionChange, a Membership snapshot of the shard, a RequestUpdate
//     of the manual-failover znode, or the result of an earlier action)
//     and returns Actions (backend commands in batches, ZooKeeper
//     operations, a peer offset query, a failover report, a state
//     transition to log). Its tests are tables of events in and actions
//     out (core_*_test.go).
//   - Watchdog (watchdog.go) is the loop: it owns the Core and feeds it
//     from a ticker, a prober, conf's session events and ShardWatcher, and
//     the request watcher; it hands backend batches to the backendDriver
//     (go-redis, one batch at a time) and ZooKeeper actions to the
//     zkDriver (conf's ZK, one at a time); both answer with events. The
//     core keeps at most one batch and one ZooKeeper operation in flight,
//     so an answer always matches what the core is waiting for, and an
//     answer nobody waits for (its ID is stale) is dropped.
//
// # Level-triggered
//
// The core is a controller: every Step ends in reconcile, which looks at
// the state and what is known (ZooKeeper's view of the shard, the last
// probe, what was applied to the backend) and issues what is missing. Each
// state sets a wanted backend state — fenced or not, master or replica of
// an address, the epoch — and driveBackend turns the difference from what
// was applied into one batch, in the order CONTRACTS.md prescribes: fence
// first, then CONFIG SET shardis-epoch and REPLICAOF, unfence last.
// Probes find drift (a restart changes run_id and forgets REPLICAOF and
// the fence; someone ran REPLICAOF by hand) and clear what was believed
// applied, so the next reconcile repairs it.
//
// # A walk through
//
// A watchdog starts in START with its backend fenced: shardis-server gets
// `CONFIG SET fenced yes`, redis-server `CLIENT PAUSE <ms> WRITE`, which
// the backend driver renews while the fence is wanted. Once ZooKeeper is
// connected, the backend answers probes, the fence is applied and the
// shard's membership is known, it deletes members left by an earlier run
// of itself (same address) and registers: an EPHEMERAL|SEQUENTIAL member
// (conf's CreateMember, which finds the member again if the create's
// reply was lost). REGISTER → FOLLOW.
//
// In FOLLOW, the master is the lowest member whose data says
// role=master. If there is one, the backend follows it: set-epoch (the
// master's sequence), REPLICAOF its address, unfence; then the member
// publishes role=replica, the epoch and the offset (check-and-set on its
// version). Offsets are published again every PublishEvery when they
// change.
//
// When the shard has no master and this member is the lowest, it
// promotes (PROMOTE): it asks every replica for its live offset
// (ActQueryPeers) and goes ahead only if fresh — its offset is the
// highest, or its link to the old master was up within FreshFor and every
// replica ahead of it is unreachable; otherwise it yields (deletes its
// member and registers again, at the back). Promoting: fence, set-epoch
// (its own sequence), REPLICAOF NO ONE, publish role=master with a
// check-and-set, unfence. MASTER. A member whose sequence is below the
// shard's epoch registers again before promoting, so the epoch only grows.
//
// A master probes its backend; after ProbeFailures failed probes, or when
// the backend restarted (a new run_id: an in-memory master comes back
// empty), it steps down: fence (queued even if the backend is hung: it
// runs the commands of its oldest connections first when it resumes) and
// delete the member. The next member promotes. The old backend comes back
// through START as a new member, behind the others: it rejoins as a
// replica and resynchronises.
//
// On a ZooKeeper disconnect a master fences at once (FENCE). If the same
// session comes back, it reads the shard afresh (Sync, then a read: a
// watcher update might predate the outage) and unfences only if it is
// still the master. If the session expired, its member is gone: back to
// START, fenced, to rejoin as a replica.
//
// # Manual failover
//
// shardis-admin failover (Failover) creates an ephemeral request znode
// (request.go, docs/failover.md). The master's watchdog pauses writes,
// reads its offset and writes it into the request; the target's watchdog
// waits until its backend has that offset, promotes its backend and
// switches the roles in one ZooKeeper transaction that also deletes the
// request (core_handover.go). The old master follows the new one. If the
// request goes away first (the admin timed out or died), the master reads
// the shard afresh and resumes writes if it is still master; it also
// withdraws the request itself RequestGrace after its timeout.
//
// # Goroutines
//
// Run starts and ends them all: the session forwarder, the shard watcher
// and its forwarder, the request watcher, the backend driver, the
// ZooKeeper driver, the prober, one per peer query and one per
// --on-failover run (bounded by HookTimeout). The loop goroutine alone
// owns the Core; the others only send events to it.
package watchdog
