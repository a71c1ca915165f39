package proxy

import (
	"testing"
	"time"
)

func TestLoginLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLoginLimiter(3, time.Minute)
	l.now = func() time.Time { return now }
	for i := 0; i < 3; i++ {
		if !l.allow("10.0.0.1") {
			t.Fatalf("blocked after %d failures", i)
		}
		l.failed("10.0.0.1")
	}
	if l.allow("10.0.0.1") {
		t.Fatal("not blocked after 3 failures")
	}
	if !l.allow("10.0.0.2") {
		t.Fatal("another address is blocked")
	}
	now = now.Add(61 * time.Second)
	if !l.allow("10.0.0.1") {
		t.Fatal("still blocked after the window")
	}
	l.maxAddrs = 2
	l.failed("a")
	l.failed("b")
	l.failed("c")
	if len(l.failures) > 2 {
		t.Fatalf("tracking %d addresses, max 2", len(l.failures))
	}
}
