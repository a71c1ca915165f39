package proxy

import (
	"context"
	"database/sql"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
)

// health tracks whether each replica/rdonly server may serve reads: reachable, replicating,
// and lagging no more than max_replica_lag. Primaries are not checked here: their errors
// reach the client directly.
type health struct {
	p     *Proxy
	mu    sync.RWMutex
	state map[string]serverHealth
}

type serverHealth struct {
	healthy bool
	lag     time.Duration
	err     string
	checked time.Time
}

func newHealth(p *Proxy) *health { return &health{p: p, state: map[string]serverHealth{}} }

// checkInterval bounds how long a replica that fell behind can still serve reads.
const checkInterval = 500 * time.Millisecond

// markDown takes a server out of rotation at once (a failed dial), until the next check
// finds it healthy again.
func (h *health) markDown(addr string, err error) {
	h.mu.Lock()
	h.state[addr] = serverHealth{err: err.Error(), checked: time.Now()}
	h.mu.Unlock()
}

// ok reports whether addr may serve reads. A server not checked yet counts as healthy,
// so the first reads after start do not fail while the first check runs.
func (h *health) ok(addr string) bool {
	h.mu.RLock()
	s, seen := h.state[addr]
	h.mu.RUnlock()
	return !seen || s.healthy
}

func (h *health) snapshot() map[string]serverHealth {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make(map[string]serverHealth, len(h.state))
	for k, v := range h.state {
		out[k] = v
	}
	return out
}

func (h *health) run(ctx context.Context) {
	t := time.NewTicker(checkInterval)
	defer t.Stop()
	for {
		h.checkAll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (h *health) checkAll(ctx context.Context) {
	rt := h.p.cfg.Routing.Load()
	var wg sync.WaitGroup
	for _, name := range rt.KeyspaceNames() {
		k, _ := rt.Keyspace(name)
		// SHOW SLAVE STATUS needs REPLICA MONITOR (MariaDB) / REPLICATION CLIENT (MySQL): the
		// keyspace's admin account has it, the application's need not.
		user, pass := k.Admin()
		for _, r := range k.Replicas {
			wg.Add(1)
			go func(addr, user, pass string) {
				defer wg.Done()
				s := h.check(ctx, addr, user, pass)
				h.mu.Lock()
				h.state[addr] = s
				h.mu.Unlock()
			}(r.Address, user, pass)
		}
	}
	wg.Wait()
}

func (h *health) check(ctx context.Context, addr, user, pass string) serverHealth {
	now := time.Now()
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := client.ConnectWithContext(cctx, addr, user, pass, "", 2*time.Second, h.p.backendTLSOption(addr))
	if err != nil {
		return serverHealth{err: err.Error(), checked: now}
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	r, err := c.Execute("SHOW SLAVE STATUS")
	if err != nil {
		return serverHealth{err: err.Error(), checked: now}
	}
	defer r.Close()
	if r.RowNumber() == 0 {
		return serverHealth{err: "not replicating", checked: now}
	}
	lag, _ := r.GetIntByName(0, "Seconds_Behind_Master")
	null, _ := r.IsNullByName(0, "Seconds_Behind_Master")
	if null {
		io, _ := r.GetStringByName(0, "Slave_IO_Running")
		sqlRun, _ := r.GetStringByName(0, "Slave_SQL_Running")
		return serverHealth{err: "replication stopped (IO=" + io + ", SQL=" + sqlRun + ")", checked: now}
	}
	l := time.Duration(lag) * time.Second
	// Seconds_Behind_Master is rounded down: a value of N means up to N+1 s behind. Serve
	// only when even that is within max_replica_lag.
	s := serverHealth{healthy: l+time.Second <= h.p.cfg.MaxReplicaLag, lag: l, checked: now}
	if !s.healthy {
		s.err = "lagging " + l.String()
	}
	return s
}

var _ = sql.ErrNoRows
