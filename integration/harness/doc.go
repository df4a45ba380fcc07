// Package harness starts the real processes that shardis tests run against:
// Debian's redis-server, nutcracker and ZooKeeper, and shardis' own binaries
// built from this module.
//
// Every process is a child of the test binary, binds 127.0.0.1 on a free
// port, writes its output to a log file in the test's temporary directory and
// is stopped by PID (never by name) in t.Cleanup. When a test fails, the tail
// of each process log is printed so the failure can be read without rerunning.
//
// A binary the tests need that is not installed is a test failure, not a
// skip: `make test` installs Debian's zookeeper, redis-server, redis-tools and
// nutcracker packages first. Set SHARDIS_SKIP_MISSING=1 to turn that failure
// into a skip on a developer machine without them.
//
// Data path: a test calls StartRedis / StartZooKeeper / StartNutcracker /
// StartBinary; each returns a *Proc whose Addr is ready to accept
// connections; Kill, Pause, Resume and Restart drive failure scenarios.
package harness
