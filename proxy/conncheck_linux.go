package proxy

import (
	"errors"
	"syscall"
)

// peekAlive peeks one byte without blocking: nothing to read (EAGAIN) is a live connection;
// data or EOF (0 bytes) is not.
func peekAlive(rc syscall.RawConn) bool {
	alive := false
	err := rc.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		alive = errors.Is(err, syscall.EAGAIN)
		return true
	})
	return err == nil && alive
}
