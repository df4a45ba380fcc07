package proxy

import "syscall"

// soReusePort is SO_REUSEPORT on Linux (asm-generic value; the syscall
// package does not export it for every architecture).
const soReusePort = 0xf

func setReusePort(fd uintptr) error {
	return syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReusePort, 1)
}
