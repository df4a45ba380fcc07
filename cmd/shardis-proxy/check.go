package main

import (
	"fmt"
	"io"

	"github.com/shardis/shardis/conf"
)

// checkConfig is -t: it loads the configuration at path (a file or a
// directory), prints every error or warning and nutcracker's verdict line
// to w, and returns the exit status (0 ok, 1 invalid).
func checkConfig(path string, w io.Writer) int {
	pools, err := conf.Load(path)
	if err != nil {
		for _, e := range conf.Errors(err) {
			fmt.Fprintf(w, "shardis-proxy: %v\n", e)
		}
		fmt.Fprintf(w, "shardis-proxy: configuration file '%s' syntax is invalid\n", path)
		return 1
	}
	for _, p := range pools {
		for _, warning := range p.Warnings() {
			fmt.Fprintf(w, "shardis-proxy: warning: %s\n", warning)
		}
	}
	fmt.Fprintf(w, "shardis-proxy: configuration file '%s' syntax is ok\n", path)
	return 0
}
