package proxy

import (
	"sync"
	"time"
)

// loginLimiter refuses logins from an address that failed too often recently: after
// maxFailures failures within window, the address is blocked until the window passes.
// Memory is bounded: at most maxAddrs addresses are tracked; the oldest are forgotten.
type loginLimiter struct {
	mu          sync.Mutex
	failures    map[string][]time.Time
	maxFailures int
	window      time.Duration
	maxAddrs    int
	now         func() time.Time
}

func newLoginLimiter(maxFailures int, window time.Duration) *loginLimiter {
	return &loginLimiter{failures: map[string][]time.Time{}, maxFailures: maxFailures, window: window, maxAddrs: 10000, now: time.Now}
}

// allow reports whether ip may try to log in.
func (l *loginLimiter) allow(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.recent(ip)) < l.maxFailures
}

// failed records a failed login from ip.
func (l *loginLimiter) failed(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.failures[ip]; !ok && len(l.failures) >= l.maxAddrs {
		for k := range l.failures { // forget an arbitrary address: bounded memory beats a perfect record
			delete(l.failures, k)
			break
		}
	}
	l.failures[ip] = append(l.recent(ip), l.now())
}

// recent drops failures older than the window (mu held).
func (l *loginLimiter) recent(ip string) []time.Time {
	ts := l.failures[ip]
	cut := l.now().Add(-l.window)
	i := 0
	for i < len(ts) && ts[i].Before(cut) {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(l.failures, ip)
		return nil
	}
	l.failures[ip] = ts
	return ts
}
