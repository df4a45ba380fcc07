//go:build !linux

package proxy

import "errors"

func setReusePort(uintptr) error { return errors.New("reuseport is supported on Linux only") }
