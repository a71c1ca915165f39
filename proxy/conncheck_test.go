package proxy

import (
	"bufio"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

// An idle backend connection closed by its server (restart, kill) is detected before it is
// handed out: found by the chaos suite (reliability TestChaosSwitchAbort), where the first
// write moved to a restarted target primary failed with "Lost connection to backend: EOF".
func TestBackendConnAlive(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the peek is Linux only; elsewhere idle connections are assumed alive")
	}
	for _, name := range []string{"tcp", "unix", "tcp-blocking", "unix-blocking"} {
		network, blocking := strings.CutSuffix(name, "-blocking")
		t.Run(name, func(t *testing.T) {
			l := localListener(t, network)
			conn := func() (*backendConn, net.Conn) {
				c, s := dialAccept(t, l)
				if blocking {
					c = toBlocking(c)
				}
				t.Cleanup(func() { c.Close() })
				return &backendConn{netc: c, br: bufio.NewReader(c)}, s
			}
			b, srv := conn()
			if !b.alive() {
				t.Fatal("an open idle connection reported dead")
			}
			if !b.alive() {
				t.Fatal("the check consumed something")
			}
			srv.Close()
			waitDead(t, b, "closed by the server")

			b, srv = conn()
			if _, err := srv.Write([]byte{1, 0, 0, 0, 0xff}); err != nil { // an unsolicited packet
				t.Fatal(err)
			}
			waitDead(t, b, "with unsolicited data")
		})
	}
}

func waitDead(t *testing.T, b *backendConn, what string) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); b.alive(); {
		if time.Now().After(deadline) {
			t.Fatalf("a connection %s reported alive", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// localListener listens on a free port of 127.0.0.1 ("tcp") or on a socket in a temporary
// directory ("unix"); the test's cleanup closes it.
func localListener(t *testing.T, network string) net.Listener {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = t.TempDir() + "/s.sock"
	}
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// dialAccept connects to l and returns both ends; the test's cleanup closes the server's.
func dialAccept(t *testing.T, l net.Listener) (client, server net.Conn) {
	t.Helper()
	c, err := net.Dial(l.Addr().Network(), l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.Accept()
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return c, s
}
