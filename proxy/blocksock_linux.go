//go:build linux

package proxy

import (
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// blockingConn is a backend socket read and written with blocking system calls, outside
// Go's network poller: see toBlocking.
type blockingConn struct {
	f      *os.File
	local  net.Addr
	remote net.Addr
	once   sync.Once
	err    error
}

// toBlocking moves a backend TCP or unix socket out of Go's network poller, into blocking
// mode. A session waiting for its backend's answer then sleeps in read(2) and the
// kernel wakes that very thread when the answer arrives; through the poller the same
// wait costs a failed read, a park, an epoll_wait in another thread and a hand-off to
// the session's goroutine (docs/benchmarks.md measures the difference). The socket's
// file description is duplicated, the poller's descriptor closed (which unregisters it
// from epoll), and the duplicate wrapped in an *os.File, which does plain blocking I/O
// for a descriptor that is not in non-blocking mode.
//
// Deadlines do not apply to such a socket; the proxy uses none on backend connections
// once the handshake is done. Close shuts the socket down first, so a read blocked in
// another goroutine returns at once. A connection that is not a plain socket (TLS) is
// returned unchanged.
func toBlocking(nc net.Conn) net.Conn {
	var sc syscall.Conn
	switch c := nc.(type) {
	case *net.TCPConn:
		sc = c
	case *net.UnixConn:
		sc = c
	default:
		return nc
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nc
	}
	dup := -1
	var derr error
	if err := rc.Control(func(fd uintptr) {
		dup, derr = dupCloexec(int(fd))
	}); err != nil || derr != nil {
		return nc
	}
	if err := syscall.SetNonblock(dup, false); err != nil {
		_ = syscall.Close(dup)
		return nc
	}
	bc := &blockingConn{f: os.NewFile(uintptr(dup), "backend"), local: nc.LocalAddr(), remote: nc.RemoteAddr()}
	_ = nc.Close() // the poller's descriptor; the socket lives on in dup
	return bc
}

func dupCloexec(fd int) (int, error) {
	r, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

func (c *blockingConn) Read(p []byte) (int, error)  { return c.f.Read(p) }
func (c *blockingConn) Write(p []byte) (int, error) { return c.f.Write(p) }
func (c *blockingConn) LocalAddr() net.Addr         { return c.local }
func (c *blockingConn) RemoteAddr() net.Addr        { return c.remote }

// SyscallConn gives conncheck its non-blocking peek.
func (c *blockingConn) SyscallConn() (syscall.RawConn, error) { return c.f.SyscallConn() }

// Close shuts the socket down, which wakes a read blocked in another goroutine, then
// closes it.
func (c *blockingConn) Close() error {
	c.once.Do(func() {
		if rc, err := c.f.SyscallConn(); err == nil {
			_ = rc.Control(func(fd uintptr) { _ = syscall.Shutdown(int(fd), syscall.SHUT_RDWR) })
		}
		c.err = c.f.Close()
	})
	return c.err
}

func (c *blockingConn) SetDeadline(time.Time) error      { return os.ErrNoDeadline }
func (c *blockingConn) SetReadDeadline(time.Time) error  { return os.ErrNoDeadline }
func (c *blockingConn) SetWriteDeadline(time.Time) error { return os.ErrNoDeadline }
