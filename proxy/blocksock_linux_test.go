//go:build linux

package proxy

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// A backend socket in blocking mode reads, writes and closes like the poller's, keeps no
// descriptor behind, and a Close from another goroutine ends a read blocked on it (the
// proxy relies on that when it shuts a pool down or drops a session).
func TestBlockingConn(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			l := localListener(t, network)
			before := openFDs(t)
			nc, srv := dialAccept(t, l)
			remote := nc.RemoteAddr().String()

			c := toBlocking(nc)
			if _, ok := c.(*blockingConn); !ok {
				t.Fatalf("toBlocking returned %T", c)
			}
			if got := c.RemoteAddr().String(); got != remote {
				t.Errorf("RemoteAddr = %s, want %s", got, remote)
			}
			if err := c.SetReadDeadline(time.Now()); !errors.Is(err, os.ErrNoDeadline) {
				t.Errorf("SetReadDeadline = %v, want os.ErrNoDeadline", err)
			}
			// The poller's descriptor is gone: one for the accepted side, one for ours.
			if n := openFDs(t); n != before+2 {
				t.Errorf("%d descriptors open after toBlocking, want %d", n, before+2)
			}

			// Both ways, including a read that has to wait for its data.
			if _, err := c.Write([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 4)
			if _, err := io.ReadFull(srv, buf); err != nil || string(buf) != "ping" {
				t.Fatalf("server read %q, %v", buf, err)
			}
			go func() {
				time.Sleep(50 * time.Millisecond)
				_, _ = srv.Write([]byte("pong"))
			}()
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "pong" {
				t.Fatalf("read %q, %v", buf, err)
			}

			// A read blocked in read(2) returns when another goroutine closes the conn.
			done := make(chan error, 1)
			go func() {
				_, err := c.Read(buf)
				done <- err
			}()
			time.Sleep(50 * time.Millisecond)
			select {
			case err := <-done:
				t.Fatalf("read returned before any data or close: %v", err)
			default:
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("blocked read returned no error after Close")
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Close did not end a blocked read")
			}
			if err := c.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			// The server sees the close.
			_ = srv.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := srv.Read(buf); err != io.EOF {
				t.Errorf("server read after close: %v, want EOF", err)
			}
			srv.Close()
			if n := openFDs(t); n != before {
				t.Errorf("%d descriptors open after Close, want %d", n, before)
			}
		})
	}
}

// A connection that is not a plain socket (TLS to the backend) stays with the poller.
func TestBlockingConnKeepsTLS(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	tc := tls.Client(a, &tls.Config{InsecureSkipVerify: true})
	if got := toBlocking(tc); got != net.Conn(tc) {
		t.Fatalf("toBlocking(tls) = %T, want the TLS conn unchanged", got)
	}
	if got := toBlocking(a); got != a {
		t.Fatalf("toBlocking(pipe) = %T, want it unchanged", got)
	}
}
