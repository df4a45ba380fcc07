// Package admin holds the operator operations on a shardis pool in
// ZooKeeper, behind the shardis-admin command: create a pool and its
// shards, add, remove and re-range shards, show a pool's status and check
// its health. It replaces the zkCli steps of the seed deployment,
//
//	create /redis/cluster/icd ''
//	create /redis/cluster/icd/redis-0000 ''
//	set /redis/cluster/icd/redis-0000 {"weight":"0-2047"}
//
// and the by-hand CLUSTER ADDSLOTS-style bookkeeping.
//
// # Data path
//
// The command line (Main) parses the global flags (--zk, --root,
// --zk-auth, --json, --timeout), finds the command in the table that
// commands returns, and runs it with an Env. A command that needs
// ZooKeeper calls Env.Admin, which dials conf.DialZooKeeper once; the
// Admin type does the work through package conf, the only package that
// knows znode paths and data formats:
//
//   - CreatePool, AddShard, RemoveShard and SetRanges read the pool's
//     conf.Topology, check the change (slot coverage with
//     hashring.CheckCoverage, live members, migration records), and write
//     it in one ZooKeeper transaction (conf.ZK.Multi) that also checks the
//     version of every shard it looked at, so two operators cannot
//     interleave. Unsafe changes fail with ErrRefused unless forced.
//   - Status reads the topology, asks every member's backend for INFO
//     replication (go-redis; redis-server and shardis-server alike), and
//     lists the live proxies. Check turns a Status into problems: slots not
//     covered, shards without a master, unreachable backends, replicas
//     that lag by more than a bound.
//
// Commands print tables for people and JSON (--json) for programs. The
// exit status is 0 on success, 1 when a check fails or a change is
// refused (or ZooKeeper fails), 2 on a usage error (ErrUsage).
//
// # Adding commands
//
// Other issues add commands (failover for the watchdog, migrate and
// rebalance for resharding): write the operation as a method of Admin in
// its own file, a run function that parses its flags with Env.Flags, and
// one line in commands. The package imports conf and hashring only,
// never proxy, backend or watchdog.
package admin
