package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/vtgate-lite/vtgate-lite/sqlerr"
)

// fakeBackend accepts one connection and answers each packet it reads with the next
// canned answer; it records what it received (sequence id and payload per packet).
func fakeBackend(t *testing.T, answers ...[]byte) (*backendConn, <-chan [][2]any) {
	t.Helper()
	l := localListener(t, "tcp")
	got := make(chan [][2]any, 1)
	go func() {
		s, err := l.Accept()
		if err != nil {
			return
		}
		defer s.Close()
		var seen [][2]any
		defer func() { got <- seen }()
		r := bufio.NewReader(s)
		for _, a := range answers {
			var h [4]byte
			if _, err := io.ReadFull(r, h[:]); err != nil {
				return
			}
			p := make([]byte, int(h[0])|int(h[1])<<8|int(h[2])<<16)
			if _, err := io.ReadFull(r, p); err != nil {
				return
			}
			seen = append(seen, [2]any{h[3], string(p)})
			n := len(a)
			if _, err := s.Write(append([]byte{byte(n), byte(n >> 8), byte(n >> 16), 1}, a...)); err != nil {
				return
			}
		}
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c = toBlocking(c)
	t.Cleanup(func() { c.Close() })
	return &backendConn{netc: c, br: bufio.NewReader(c), stmts: map[string]*backendStmt{}}, got
}

var (
	okInTx  = []byte{pktOK, 0, 0, byte(statusInTrans | statusAutocommit), 0, 0, 0}
	okPlain = []byte{pktOK, 0, 0, byte(statusAutocommit), 0, 0, 0}
	errPkt  = append([]byte{pktErr, 0x99, 0x05, '#', 'X', 'A', 'E', '0', '7'}, "no begin"...) // 1433
)

// A pending BEGIN goes out with the next command, both with sequence id 0, and its OK is
// consumed: the caller reads the command's own answer next.
func TestPendingBeginRidesAhead(t *testing.T) {
	b, got := fakeBackend(t, okInTx, okInTx)
	b.pending = "begin"
	if err := b.command(append([]byte{comQuery}, "select 1"...)); err != nil {
		t.Fatal(err)
	}
	if b.pending != "" || b.status&statusInTrans == 0 {
		t.Fatalf("after the BEGIN's OK: pending %q, status %#x", b.pending, b.status)
	}
	pkt, err := b.readPacket()
	if err != nil || pkt[0] != pktOK {
		t.Fatalf("the command's answer: %v %v", pkt, err)
	}
	b.close()
	want := [][2]any{{byte(0), "\x03begin"}, {byte(0), "\x03select 1"}}
	if seen := <-got; len(seen) != 2 || seen[0] != want[0] || seen[1] != want[1] {
		t.Fatalf("backend received %q, want %q", seen, want)
	}
}

// If the BEGIN fails, the command's error is the server's (code kept), and the connection
// is closed: the read that followed ran outside a transaction and nobody sees its answer.
func TestPendingBeginFails(t *testing.T) {
	b, _ := fakeBackend(t, errPkt, okPlain)
	b.pending = "begin"
	err := b.command(append([]byte{comQuery}, "select 1"...))
	var se *sqlerr.Error
	if !errors.As(err, &se) || se.Code != 1433 || se.State != "XAE07" {
		t.Fatalf("command = %v, want the BEGIN's error 1433 XAE07", err)
	}
	if !b.broken {
		t.Fatal("connection kept after its BEGIN failed")
	}
	if be := backendError("x", err); !errors.As(be, &se) || se.Code != 1433 {
		t.Fatalf("backendError lost the server's code: %v", be)
	}
	// A connection still carrying a BEGIN never goes back to the pool.
	p := newPool("x", "ks", dialOptions{}, 1, 0, 0)
	p.open = 1
	c, _ := fakeBackend(t)
	c.pending = "begin"
	p.put(c)
	if open, idle, _ := p.stats(); open != 0 || idle != 0 || !c.broken {
		t.Fatalf("put of a pending connection: open %d idle %d broken %v", open, idle, c.broken)
	}
}
