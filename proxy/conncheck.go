package proxy

import (
	"crypto/tls"
	"net"
	"syscall"
	"time"
)

// idleCheckAfter: an idle connection unused for this long is checked before it is handed
// out (alive). Connections in steady use skip the check: the hot path makes no system call.
const idleCheckAfter = time.Second

// alive reports whether an idle backend connection can still be used. A server sends nothing
// on an idle connection: readable data (an error packet before it closes) or EOF means the
// server closed it (restart, kill, wait_timeout), and the statement would fail with "Lost
// connection to backend" although the server is up again. The socket is peeked, not read.
func (b *backendConn) alive() bool {
	if b.br.Buffered() > 0 {
		return false
	}
	var nc net.Conn = b.netc
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	return peekAlive(rc)
}
