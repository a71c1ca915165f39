package proxy

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vtgate-lite/vtgate-lite/sqlerr"
)

// gate holds statements that touch tables being switched to another keyspace, and
// counts the transactions in flight on those tables so a switch can drain them.
//
// A statement calls enter(tables) before it runs: when a hold covers one of its tables it
// waits until the hold is released (then it is re-planned against the new routing table),
// bounded by maxWait.
type gate struct {
	mu      sync.Mutex
	holds   map[string]chan struct{} // table -> closed when released
	maxWait time.Duration
	maxHeld int
	held    int
	n       atomic.Int32 // tables held: the hot path checks it without the lock
	m       *metrics
}

func newGate() *gate {
	return &gate{holds: map[string]chan struct{}{}, maxWait: 10 * time.Second, maxHeld: 10000}
}

// wait blocks while any of tables is held. It returns true if it waited (the caller
// must re-plan), or an error when the bound is exceeded.
func (g *gate) wait(ctx context.Context, tables []string) (bool, error) {
	waited := false
	for {
		g.mu.Lock()
		var ch chan struct{}
		for _, t := range tables {
			if c, ok := g.holds[t]; ok {
				ch = c
				break
			}
		}
		if ch == nil {
			g.mu.Unlock()
			return waited, nil
		}
		if g.held >= g.maxHeld {
			g.mu.Unlock()
			return waited, sqlerr.New(sqlerr.EROutOfResources, "HY000", "vtgate-lite: too many statements held by a traffic switch (%d)", g.maxHeld)
		}
		g.held++
		g.mu.Unlock()
		waited = true
		heldAt := time.Now()
		if g.m != nil {
			g.m.held.Inc()
			g.m.heldTotal.Inc()
		}
		t := time.NewTimer(g.maxWait)
		var err error
		select {
		case <-ch:
		case <-t.C:
			err = sqlerr.New(sqlerr.ERLockWaitTimeout, "HY000", "vtgate-lite: statement held longer than %s by a traffic switch", g.maxWait)
		case <-ctx.Done():
			err = ctx.Err()
		}
		t.Stop()
		if g.m != nil {
			g.m.held.Dec()
			g.m.holdSeconds.Observe(time.Since(heldAt).Seconds())
		}
		g.mu.Lock()
		g.held--
		g.mu.Unlock()
		if err != nil {
			return waited, err
		}
	}
}

// hold starts holding statements on tables; release ends it.
func (g *gate) hold(tables []string) (release func()) {
	ch := make(chan struct{})
	g.mu.Lock()
	for _, t := range tables {
		g.holds[t] = ch
	}
	g.n.Store(int32(len(g.holds)))
	g.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			for _, t := range tables {
				if g.holds[t] == ch {
					delete(g.holds, t)
				}
			}
			g.n.Store(int32(len(g.holds)))
			g.mu.Unlock()
			close(ch)
		})
	}
}

// active reports whether any hold is in place (one atomic load on the hot path).
func (g *gate) active() bool { return g.n.Load() > 0 }

// covers reports whether one of tables is held.
func (g *gate) covers(tables []string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, t := range tables {
		if _, ok := g.holds[t]; ok {
			return true
		}
	}
	return false
}

// HoldAndDrain starts holding new statements on tables (keyspace.table, as the routing
// table resolves them now) and waits until no statement or transaction that touched them
// is in flight. On timeout it releases the hold and names the blocking sessions; nothing
// else has changed. On success the caller swaps the routing table, then calls release:
// held statements are planned again against the new table.
func (p *Proxy) HoldAndDrain(ctx context.Context, tables []string, timeout time.Duration) (release func(), err error) {
	release = p.gate.hold(tables)
	deadline := time.Now().Add(timeout)
	for {
		var blockers []string
		p.sessMu.Lock()
		for id, s := range p.sessions {
			if b, why := s.blocks(tables); b {
				blockers = append(blockers, fmt.Sprintf("session %d (%s@%s): %s", id, s.c.User.Name, userHost(s.c), why))
			}
		}
		p.sessMu.Unlock()
		if len(blockers) == 0 {
			return release, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			release()
			sort.Strings(blockers)
			return nil, sqlerr.New(sqlerr.ERLockWaitTimeout, "HY000",
				"traffic switch aborted, nothing changed: in-flight work on the moved tables did not finish within %s: %s",
				timeout, strings.Join(blockers, "; "))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// SetHoldLimits bounds how many statements a switch may hold and for how long.
func (p *Proxy) SetHoldLimits(maxStatements int, maxWait time.Duration) {
	p.gate.mu.Lock()
	defer p.gate.mu.Unlock()
	if maxStatements > 0 {
		p.gate.maxHeld = maxStatements
	}
	if maxWait > 0 {
		p.gate.maxWait = maxWait
	}
}
