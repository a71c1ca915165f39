package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/prometheus/client_golang/prometheus"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/vtgate-lite/vtgate-lite/planner"
	"github.com/vtgate-lite/vtgate-lite/proxy/wire"
	"github.com/vtgate-lite/vtgate-lite/router"
	"github.com/vtgate-lite/vtgate-lite/sqlerr"
	"github.com/vtgate-lite/vtgate-lite/store"
)

// AdminResult is a result the proxy renders for admin statements.
type AdminResult struct {
	Columns []string
	Rows    [][]string
	Info    string
}

// Admin executes the migration engine's statements (MIGRATE ..., VDIFF ..., SHOW
// MIGRATION(S) ...). The proxy does not import the engine: cmd wires it in.
type Admin interface {
	Parse(sql string) (cmd any, ok bool, err error)
	Exec(ctx context.Context, cmd any) (*AdminResult, error)
}

// Config is what the proxy needs, already validated by package config.
type Config struct {
	Routing         *router.Holder
	Users           wire.UserLookup
	ServerVersion   string
	TLS             *tls.Config
	RequireTLS      bool
	BackendTLS      *tls.Config
	MaxConnections  int
	PoolSize        int
	PoolIdleTimeout time.Duration
	PoolWaitTimeout time.Duration
	// BackendPoller waits for backend answers in Go's network poller (config backend_io:
	// poller) instead of a thread blocked in read(2) (the default; see toBlocking).
	BackendPoller   bool
	QueryTimeout    time.Duration
	MaxReplicaLag   time.Duration
	TransactionMode string // single | multi | twopc
	// MaxRowsInMemory bounds the rows one cross-keyspace statement may move between keyspaces.
	MaxRowsInMemory int
	// MaxLoginFailures per client address per minute before its logins are refused (1129).
	MaxLoginFailures int
	Admin            Admin
	// Store keeps two-phase commit decisions (transaction_mode: twopc).
	Store      store.Store
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Proxy routes client statements to keyspaces.
type Proxy struct {
	cfg     Config
	log     *slog.Logger
	parser  *sqlparser.Parser
	metrics *metrics
	server  *wire.Server
	health  *health
	gate    *gate

	poolsMu   sync.Mutex
	pools     map[poolKey]*pool
	poolIndex atomic.Pointer[map[poolKey]*pool] // copy of pools, read without the lock

	plans                               planCache
	cacheHit, cacheDigestHit, cacheMiss prometheus.Counter // resolved once: no label lookup per statement

	sessMu   sync.Mutex
	sessions map[uint32]*session

	rr     atomic.Uint32
	logins *loginLimiter

	ddlMu sync.Mutex
	ddls  map[ddlKey]string // pulled tables' definitions, per routing version

	collMu     sync.Mutex
	collations map[uint8]string // collation id -> SET NAMES statement ("" = unknown to the backends)
}

// backendTLSOption makes a go-mysql connection to addr use backend_tls (none when disabled).
func (p *Proxy) backendTLSOption(addr string) client.Option {
	return func(c *client.Conn) error {
		if p.cfg.BackendTLS != nil {
			c.SetTLSConfig(TLSForBackend(p.cfg.BackendTLS, addr))
		}
		return nil
	}
}

// collationSQL returns "SET NAMES <charset> COLLATE <collation>" for a client collation id,
// asking a backend once per id.
func (p *Proxy) collationSQL(id uint8) (string, error) {
	p.collMu.Lock()
	defer p.collMu.Unlock()
	if stmt, ok := p.collations[id]; ok {
		return stmt, nil
	}
	rt := p.cfg.Routing.Load()
	names := rt.KeyspaceNames()
	if len(names) == 0 {
		return "", nil
	}
	k, _ := rt.Keyspace(names[0])
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.ConnectWithContext(ctx, k.Primary, k.User, k.Password, "", 5*time.Second, p.backendTLSOption(k.Primary))
	if err != nil {
		return "", connectError(k.Primary, err)
	}
	defer c.Close()
	r, err := c.Execute("SELECT CHARACTER_SET_NAME, COLLATION_NAME FROM information_schema.COLLATIONS WHERE ID = ?", int(id))
	if err != nil {
		return "", backendError(k.Primary, err)
	}
	defer r.Close()
	stmt := ""
	if r.RowNumber() > 0 {
		cs, _ := r.GetString(0, 0)
		coll, _ := r.GetString(0, 1)
		stmt = "SET NAMES " + cs + " COLLATE " + coll
	}
	if p.collations == nil {
		p.collations = map[uint8]string{}
	}
	p.collations[id] = stmt
	return stmt, nil
}

// New builds a proxy; Serve starts it.
func New(cfg Config) (*Proxy, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.PoolSize <= 0 {
		cfg.PoolSize = 32
	}
	if cfg.PoolIdleTimeout <= 0 {
		cfg.PoolIdleTimeout = 5 * time.Minute
	}
	if cfg.PoolWaitTimeout <= 0 {
		cfg.PoolWaitTimeout = 10 * time.Second
	}
	if cfg.MaxReplicaLag <= 0 {
		cfg.MaxReplicaLag = 30 * time.Second
	}
	if cfg.MaxRowsInMemory <= 0 {
		cfg.MaxRowsInMemory = 100000
	}
	if cfg.MaxLoginFailures <= 0 {
		cfg.MaxLoginFailures = 20
	}
	if cfg.TransactionMode == "" {
		cfg.TransactionMode = "single"
	}
	p := &Proxy{
		cfg:      cfg,
		log:      cfg.Logger,
		parser:   planner.Parser(),
		metrics:  newMetrics(cfg.Registerer),
		pools:    map[poolKey]*pool{},
		sessions: map[uint32]*session{},
	}
	p.plans.init(10000)
	p.cacheHit = p.metrics.planCache.WithLabelValues("hit")
	p.cacheDigestHit = p.metrics.planCache.WithLabelValues("digest_hit")
	p.cacheMiss = p.metrics.planCache.WithLabelValues("miss")
	empty := map[poolKey]*pool{}
	p.poolIndex.Store(&empty)
	p.metrics.pool.pools = p.allPools
	p.health = newHealth(p)
	p.logins = newLoginLimiter(cfg.MaxLoginFailures, time.Minute)
	p.gate = newGate()
	p.gate.m = p.metrics
	srv, err := wire.NewServer(wire.Config{
		ServerVersion:      cfg.ServerVersion,
		Users:              cfg.Users,
		TLS:                cfg.TLS,
		RequireTLS:         cfg.RequireTLS,
		MaxConns:           cfg.MaxConnections,
		OnAuthFailure:      func(_, ip string) { p.metrics.authFail.Inc(); p.logins.failed(ip) },
		AuthFailureLimiter: func(ip string) bool { return p.logins.allow(ip) },
		Logger:             cfg.Logger,
	}, p)
	if err != nil {
		return nil, err
	}
	p.server = srv
	cfg.Routing.OnChange(func(t *router.Table) {
		p.plans.clear()
		p.prunePools(t)
	})
	return p, nil
}

// Serve accepts clients on l and runs the background loops until ctx is done.
func (p *Proxy) Serve(ctx context.Context, l net.Listener) error {
	go p.health.run(ctx)
	go p.reaper(ctx)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = p.server.Shutdown(sctx)
		l.Close()
	}()
	err := p.server.Serve(l)
	if ctx.Err() != nil {
		// The listener closes first; return only once in-flight statements have answered
		// (or the 30 s bound passed), so that the caller's exit does not cut them off.
		<-drained
		return nil
	}
	return err
}

// Close releases backend connections.
func (p *Proxy) Close() {
	for _, pl := range p.allPools() {
		pl.shutdown()
	}
}

func (p *Proxy) allPools() []*pool {
	p.poolsMu.Lock()
	defer p.poolsMu.Unlock()
	out := make([]*pool, 0, len(p.pools))
	for _, pl := range p.pools {
		out = append(out, pl)
	}
	return out
}

// prunePools closes the pools of servers no keyspace uses any more (a keyspace removed
// from the config, a replica replaced). Connections in use close when returned.
func (p *Proxy) prunePools(t *router.Table) {
	p.poolsMu.Lock()
	var gone []*pool
	for key, pl := range p.pools {
		k, ok := t.Keyspace(key.keyspace)
		used := ok && (k.Primary == key.addr || slices.ContainsFunc(k.Replicas, func(r router.Server) bool { return r.Address == key.addr }))
		if !used {
			gone = append(gone, pl)
			delete(p.pools, key)
		}
	}
	idx := make(map[poolKey]*pool, len(p.pools))
	for k, v := range p.pools {
		idx[k] = v
	}
	p.poolIndex.Store(&idx)
	p.poolsMu.Unlock()
	for _, pl := range gone {
		pl.shutdown()
	}
}

// reaper closes idle backend connections, enforces statement timeouts and watches for
// clients that leave while their statement runs.
func (p *Proxy) reaper(ctx context.Context) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	lastReap := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if now.Sub(lastReap) > 10*time.Second {
				for _, pl := range p.allPools() {
					pl.reapIdle(now)
				}
				lastReap = now
			}
			p.sessMu.Lock()
			for _, s := range p.sessions {
				s.watch(now, p.cfg.QueryTimeout)
			}
			p.sessMu.Unlock()
		}
	}
}

// poolFor returns the pool of one server of keyspace ks at tablet type tt.
func (p *Proxy) poolFor(rt *router.Table, ks string, tt router.TabletType, foundRows bool) (*pool, error) {
	k, ok := rt.Keyspace(ks)
	if !ok {
		return nil, sqlerr.BadDB(ks)
	}
	addr := k.Primary
	if tt != router.Primary {
		var healthy [8]string
		n := 0
		for _, r := range k.Replicas {
			if r.Type == tt && p.health.ok(r.Address) && n < len(healthy) {
				healthy[n] = r.Address
				n++
			}
		}
		if n == 0 {
			return nil, sqlerr.New(sqlerr.ERUnknown, "HY000",
				"no healthy %s server for keyspace %s (servers down, or lagging more than %s)", tt, ks, p.cfg.MaxReplicaLag)
		}
		addr = healthy[int(p.rr.Add(1))%n]
	}
	key := poolKey{ks, addr, foundRows}
	if pl := (*p.poolIndex.Load())[key]; pl != nil && pl.opts.User == k.User && pl.opts.Password == k.Password && pl.opts.Database == k.Database {
		return pl, nil // hot path: no lock, no allocation
	}
	p.poolsMu.Lock()
	defer p.poolsMu.Unlock()
	pl := p.pools[key]
	if pl == nil || pl.opts.User != k.User || pl.opts.Password != k.Password || pl.opts.Database != k.Database {
		if pl != nil {
			go pl.shutdown()
		}
		pl = newPool(addr, ks, dialOptions{Addr: addr, User: k.User, Password: k.Password, Database: k.Database,
			FoundRows: foundRows, TLS: p.cfg.BackendTLS, Poller: p.cfg.BackendPoller}, p.cfg.PoolSize, p.cfg.PoolIdleTimeout, p.cfg.PoolWaitTimeout)
		p.pools[key] = pl
		idx := make(map[poolKey]*pool, len(p.pools))
		for k, v := range p.pools {
			idx[k] = v
		}
		p.poolIndex.Store(&idx)
	}
	return pl, nil
}

type poolKey struct {
	keyspace, addr string
	foundRows      bool
}

// --- wire.Handler ---

// Connected validates the handshake's schema and creates the session.
func (p *Proxy) Connected(c *wire.Conn) error {
	s := newSession(p, c)
	if err := s.initCollation(); err != nil {
		return err
	}
	if c.DB != "" {
		if err := s.use(c.DB); err != nil {
			return err
		}
	}
	c.Data = s
	p.sessMu.Lock()
	p.sessions[c.ID] = s
	p.sessMu.Unlock()
	p.metrics.clients.Inc()
	return nil
}

// Closed releases everything the session holds.
func (p *Proxy) Closed(c *wire.Conn) {
	s, _ := c.Data.(*session)
	if s == nil {
		return
	}
	p.sessMu.Lock()
	delete(p.sessions, c.ID)
	p.sessMu.Unlock()
	p.metrics.clients.Dec()
	s.close()
}

// Command handles one client command.
func (p *Proxy) Command(c *wire.Conn, pkt []byte) error {
	s := c.Data.(*session)
	return s.command(pkt)
}

// --- plan cache ---

type planKey struct {
	sql      string
	keyspace string
	tt       router.TabletType
}

type cachedPlan struct {
	plan    *planner.Plan
	version uint64
	queries prometheus.Counter
	latency prometheus.Observer
}

// planCache is a bounded map; when full it drops half of its entries at random (cheap,
// and hot statements come back at once).
type planCache struct {
	mu  sync.RWMutex
	m   map[planKey]*cachedPlan
	max int
}

func (c *planCache) init(max int) { c.m = map[planKey]*cachedPlan{}; c.max = max }

func (c *planCache) get(k planKey) *cachedPlan {
	c.mu.RLock()
	e := c.m[k]
	c.mu.RUnlock()
	return e
}

func (c *planCache) put(k planKey, e *cachedPlan) {
	c.mu.Lock()
	if len(c.m) >= c.max {
		for kk := range c.m {
			if rand.IntN(2) == 0 {
				delete(c.m, kk)
			}
		}
	}
	c.m[k] = e
	c.mu.Unlock()
}

func (c *planCache) clear() {
	c.mu.Lock()
	c.m = map[planKey]*cachedPlan{}
	c.mu.Unlock()
}

// plan returns the plan of sql for the session, from the cache when the routing table has
// not changed since it was made. Statements are parsed once per text.
func (p *Proxy) plan(sql string, sess planner.Session, rt *router.Table) (*cachedPlan, error) {
	k := planKey{sql, sess.Keyspace, sess.TabletType}
	if e := p.plans.get(k); e != nil && e.version == rt.Version {
		p.cacheHit.Inc()
		return e, nil
	}
	// The same statement with other literal values (planner.Digest): its Route plan, which
	// sends the client's own text, serves this one too. The digest key starts with a NUL byte,
	// which no statement text does.
	digest, hasDigest := planner.Digest(sql)
	var dk planKey
	if hasDigest {
		dk = planKey{"\x00" + digest, sess.Keyspace, sess.TabletType}
		if e := p.plans.get(dk); e != nil && e.version == rt.Version {
			p.cacheDigestHit.Inc()
			return e, nil
		}
	}
	p.cacheMiss.Inc()
	stmt, err := p.parser.Parse(sql)
	if err != nil {
		if e := p.unparsedPlan(sql, sess, rt); e != nil {
			return e, nil // SHUTDOWN, GRANT...: refused for non-admins, not a syntax error
		}
		if errors.Is(err, sqlparser.ErrEmpty) {
			return nil, sqlerr.New(1065, "42000", "Query was empty")
		}
		return nil, sqlerr.New(sqlerr.ERParse, "42000", "%s", strings.TrimSpace(syntaxMessage(err)))
	}
	pl, err := planner.Build(stmt, sql, sess, rt)
	if err != nil {
		return nil, err
	}
	ks := pl.Keyspace
	if ks == "" {
		ks = "none"
	}
	e := &cachedPlan{plan: pl, version: rt.Version,
		queries: p.metrics.queries.WithLabelValues(ks, pl.TabletType.String(), pl.Stmt),
		latency: p.metrics.latency.WithLabelValues(ks, pl.Stmt)}
	switch {
	case hasDigest && planner.DigestReusable(pl):
		p.plans.put(dk, e) // one entry per statement shape, not per literal value
	case cacheable(pl):
		p.plans.put(k, e)
	}
	return e, nil
}

func cacheable(pl *planner.Plan) bool {
	return pl.Kind == planner.Route || pl.Kind == planner.CrossKeyspace || pl.Kind == planner.Begin || pl.Kind == planner.Commit || pl.Kind == planner.Rollback
}

func syntaxMessage(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "syntax error"); i >= 0 {
		return "You have an error in your SQL syntax; " + msg[i:]
	}
	return "You have an error in your SQL syntax; " + msg
}

// keyspaceNames lists the keyspaces a user may see.
func (p *Proxy) keyspaceNames(u *wire.User, rt *router.Table) []string {
	var out []string
	for _, n := range rt.KeyspaceNames() {
		if allowed(u, n) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func allowed(u *wire.User, ks string) bool {
	if u == nil || u.Keyspaces == nil {
		return true
	}
	for _, k := range u.Keyspaces {
		if k == ks {
			return true
		}
	}
	return false
}

func userHost(c *wire.Conn) string {
	if c.RemoteAddr == nil {
		return "localhost"
	}
	h, _, err := net.SplitHostPort(c.RemoteAddr.String())
	if err != nil {
		return c.RemoteAddr.String()
	}
	return h
}

func timeNow() time.Time { return time.Now() }
