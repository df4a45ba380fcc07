// Package conf holds every source of shardis configuration: the YAML pools
// (this file's neighbours) and the ZooKeeper layout (the zk*.go files).
//
// # YAML pools
//
// A configuration is a YAML file in twemproxy's format, a mapping of pool
// names to their keys, or a directory of such files (one tenant per file).
// Load reads either, Parse reads one file's content. Both:
//
//  1. parse the YAML with yaml.v3's Node API, so that every key keeps its
//     line;
//  2. decode each pool's keys onto a Pool that starts from NewPool's
//     defaults (twemproxy's defaults for its keys); unknown and repeated
//     keys, values of the wrong type and bad addresses are errors;
//  3. mark the pool slot-based when its servers carry slot ranges
//     ("host:port:0-2047") instead of weights;
//  4. Validate each pool (weights, slot coverage, names, ZooKeeper paths,
//     and a final hashring.New over its servers);
//  5. check that pool names and listen addresses are unique across all
//     files.
//
// Every problem is reported, not only the first: the error is a join of
// *Error values (see Errors), each reading "file:line: pool NAME: KEY:
// message" and unwrapping to one of the ErrXxx kinds. Bad input never
// panics (see FuzzParse).
//
// A real nutcracker.yml loads unchanged, including its memcached pools
// (redis: false), which Pool.Warnings flags because shardis serves only
// Redis. Pool.Spec turns a pool into the hashring.Spec the proxy routes
// with; Pool.Equal and Diff tell which pools a reload changed.
//
// # ZooKeeper
//
// The package is also the one place that knows the ZooKeeper layout
// (DESIGN.md section 3; docs/zookeeper.md). Layout names the znodes;
// ParsePoolData, ParseShardData, ParseMemberData and ParseProxyData are the
// znode JSON codecs; DialZooKeeper returns a ZK client with session events;
// TopologyWatcher and ShardWatcher deliver immutable Topology and Shard
// snapshots (the proxy routes with the first, the watchdog decides with the
// second); Ephemeral keeps a proxy's registration alive across session
// expiry, and CreateMember/UpdateMember/DeleteMember register watchdogs as
// ephemeral-sequential members with check-and-set updates.
//
// The package holds no mutable state; a loaded Pool is a value that the
// proxy must not modify.
package conf
