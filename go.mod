module github.com/shardis/shardis

go 1.26

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/dgryski/go-rendezvous v0.0.0-20200823014737-9f7001d12a5f // indirect
	github.com/go-zookeeper/zk v1.0.4 // indirect
	github.com/prometheus/client_golang v1.20.5 // indirect
	github.com/prometheus/common v0.60.1 // indirect
	github.com/redis/go-redis/v9 v9.7.3 // indirect
	github.com/tidwall/btree v1.1.0 // indirect
	github.com/tidwall/match v1.1.1 // indirect
	github.com/tidwall/redcon v1.6.2 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
