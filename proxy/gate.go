package proxy

import (
	"context"
	"sync"
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
			g.mu.Unlock()
			close(ch)
		})
	}
}

// active reports whether any hold is in place (fast path check without allocation).
func (g *gate) active() bool {
	g.mu.Lock()
	n := len(g.holds)
	g.mu.Unlock()
	return n > 0
}
