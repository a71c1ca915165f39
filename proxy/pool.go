package proxy

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vtgate-lite/vtgate-lite/sqlerr"
)

// pool holds the connections to one backend server for one keyspace. Idle connections
// are bucketed by the session settings applied to them, so a session with settings
// reuses a connection that already has them and plain sessions never see them.
type pool struct {
	addr     string
	keyspace string
	opts     dialOptions
	size     int
	idleTime time.Duration
	wait     time.Duration

	mu      sync.Mutex
	idle    map[string][]*backendConn // by settings key; "" = no settings
	nIdle   int
	open    int // connections open (idle + in use + being dialed)
	waiters int
	freed   chan struct{} // signalled when a connection is returned or closed
	closed  bool

	waits atomic.Uint64

	// dbEpoch counts CREATE/ALTER/DROP DATABASE run through the proxy (nil: never re-select).
	// A connection selected its database at an older epoch may hold stale per-database
	// defaults (@@character_set_database) or none at all: get re-selects it (reselect).
	dbEpoch *atomic.Uint64
}

func newPool(addr, keyspace string, opts dialOptions, size int, idleTime, wait time.Duration) *pool {
	return &pool{addr: addr, keyspace: keyspace, opts: opts, size: size, idleTime: idleTime, wait: wait,
		idle: map[string][]*backendConn{}, freed: make(chan struct{}, 1)}
}

// get returns a connection with the given settings applied (settingsSQL are the SET
// statements that make up settingsKey).
func (p *pool) get(ctx context.Context, settingsKey string, settingsSQL []string) (*backendConn, error) {
	deadline := time.Now().Add(p.wait)
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, sqlerr.Internal("pool for %s is closed (keyspace %s was removed)", p.addr, p.keyspace)
		}
		if l := p.idle[settingsKey]; len(l) > 0 {
			c := l[len(l)-1]
			p.idle[settingsKey] = l[:len(l)-1]
			p.nIdle--
			p.mu.Unlock()
			if time.Since(c.lastUse) >= idleCheckAfter && !c.alive() {
				// Closed by the server while idle (it restarted): never hand it out.
				c.close()
				p.release()
				continue
			}
			if err := p.reselect(c, settingsSQL); err != nil {
				c.close()
				p.release()
				continue
			}
			return c, nil
		}
		if p.open < p.size {
			p.open++
			p.mu.Unlock()
			c, err := p.dial(ctx, settingsKey, settingsSQL)
			if err != nil {
				p.release()
				return nil, err
			}
			return c, nil
		}
		if p.nIdle > 0 {
			// Full, but an idle connection has other settings: replace it.
			var victim *backendConn
			for k, l := range p.idle {
				if len(l) > 0 {
					victim = l[0]
					p.idle[k] = l[1:]
					p.nIdle--
					break
				}
			}
			p.mu.Unlock()
			victim.close()
			c, err := p.dial(ctx, settingsKey, settingsSQL)
			if err != nil {
				p.release()
				return nil, err
			}
			return c, nil
		}
		p.waiters++
		p.mu.Unlock()
		p.waits.Add(1)
		remaining := time.Until(deadline)
		if remaining <= 0 {
			p.unwait()
			return nil, sqlerr.New(sqlerr.ERConCount, "08004",
				"vtgate-lite: all %d connections to %s (keyspace %s) are busy; waited %s", p.size, p.addr, p.keyspace, p.wait)
		}
		t := time.NewTimer(remaining)
		select {
		case <-p.freed:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			p.unwait()
			return nil, ctx.Err()
		}
		t.Stop()
		p.unwait()
	}
}

func (p *pool) unwait() {
	p.mu.Lock()
	p.waiters--
	p.mu.Unlock()
}

// dialError is a failure to reach a server (as opposed to an error the server returned).
type dialError struct {
	addr string
	err  error
}

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

func (p *pool) dial(ctx context.Context, settingsKey string, settingsSQL []string) (*backendConn, error) {
	c, err := dialBackend(ctx, p.opts)
	if err != nil {
		return nil, &dialError{p.addr, err}
	}
	c.pool = p
	if p.dbEpoch != nil {
		c.dbEpoch = p.dbEpoch.Load()
	}
	for _, s := range settingsSQL {
		if _, err := c.exec(s); err != nil {
			c.close()
			return nil, err
		}
	}
	c.settings = settingsKey
	return c, nil
}

// put returns a connection; a broken one, or one left inside a transaction (begun, or
// about to be: pending), is closed.
func (p *pool) put(c *backendConn) {
	if c.broken || c.status&statusInTrans != 0 || c.pending != "" {
		c.close()
		p.release()
		return
	}
	c.lastUse = time.Now()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.close()
		return
	}
	p.idle[c.settings] = append(p.idle[c.settings], c)
	p.nIdle++
	p.mu.Unlock()
	p.signal()
}

// discard closes a connection that must not be reused (reserved state, broken).
func (p *pool) discard(c *backendConn) {
	c.close()
	p.release()
}

func (p *pool) release() {
	p.mu.Lock()
	p.open--
	p.mu.Unlock()
	p.signal()
}

func (p *pool) signal() {
	select {
	case p.freed <- struct{}{}:
	default:
	}
}

// reapIdle closes connections idle longer than idleTime.
func (p *pool) reapIdle(now time.Time) {
	var old []*backendConn
	p.mu.Lock()
	for k, l := range p.idle {
		keep := l[:0]
		for _, c := range l {
			if now.Sub(c.lastUse) > p.idleTime {
				old = append(old, c)
				p.open--
				p.nIdle--
			} else {
				keep = append(keep, c)
			}
		}
		p.idle[k] = keep
	}
	p.mu.Unlock()
	for _, c := range old {
		c.close()
	}
}

// shutdown closes idle connections and refuses new gets; connections in use are closed
// when returned.
func (p *pool) shutdown() {
	p.mu.Lock()
	p.closed = true
	var all []*backendConn
	for _, l := range p.idle {
		all = append(all, l...)
	}
	p.idle = map[string][]*backendConn{}
	p.open -= p.nIdle
	p.nIdle = 0
	p.mu.Unlock()
	for _, c := range all {
		c.close()
	}
}

func (p *pool) stats() (open, idle, waiters int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open, p.nIdle, p.waiters
}

// killQuery stops the statement running on backend connection id, from a new connection.
func (p *pool) killQuery(id uint32) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := dialBackend(ctx, p.opts)
	if err != nil {
		return err
	}
	defer c.close()
	_, err = c.exec("KILL QUERY " + itoa(uint64(id)))
	return err
}

func itoa(n uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return string(b[i:])
}
