//go:build !linux

package proxy

import "syscall"

// peekAlive has no non-blocking peek here: idle connections are assumed alive.
func peekAlive(syscall.RawConn) bool { return true }
