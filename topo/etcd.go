package topo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/vtgate-lite/vtgate-lite/router"
	"github.com/vtgate-lite/vtgate-lite/sqlerr"
)

// EtcdOptions configure OpenEtcd.
type EtcdOptions struct {
	Endpoints []string // host:port
	Root      string   // key prefix, "/vtgate-lite"
	// LeaseTTL of the registration (default 10s, whole seconds).
	LeaseTTL time.Duration
	// RequestTimeout bounds each request (default 5s): how long a statement that changes the
	// topology waits for an etcd that does not answer before it fails.
	RequestTimeout time.Duration
	Logger         *slog.Logger
}

// maxConflicts bounds Update's compare-and-swap retries: each conflict is another
// instance's change landing, so only a storm of changes gets there.
const maxConflicts = 100

// Etcd is the shared topology on an etcd cluster.
type Etcd struct {
	cli  *clientv3.Client
	keys Keys
	addr string
	opts EtcdOptions
	log  *slog.Logger
}

// OpenEtcd makes a client for the endpoints. It does not wait for them to answer: the first
// request does (and fails with an *UnavailableError if they do not).
func OpenEtcd(opts EtcdOptions) (*Etcd, error) {
	if len(opts.Endpoints) == 0 {
		return nil, errors.New("topo: no etcd endpoints")
	}
	if opts.LeaseTTL == 0 {
		opts.LeaseTTL = 10 * time.Second
	}
	if opts.LeaseTTL < 2*time.Second || opts.LeaseTTL%time.Second != 0 {
		return nil, fmt.Errorf("topo: lease TTL %s: want whole seconds, at least 2s", opts.LeaseTTL)
	}
	if opts.RequestTimeout == 0 {
		opts.RequestTimeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: opts.Endpoints,
		Logger:    zap.NewNop(), // what matters is logged here, through slog
		// gRPC keepalive pings find a connection to a hung server; etcd refuses pings more
		// often than every 5 s (--grpc-keepalive-min-time).
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
		// Reconnect within a second of etcd coming back (gRPC's default backoff grows to
		// 2 minutes), so instances catch up quickly after an outage.
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: time.Second,
		})},
	})
	if err != nil {
		return nil, fmt.Errorf("topo: etcd client for %s: %w", strings.Join(opts.Endpoints, ","), err)
	}
	return &Etcd{cli: cli, keys: Keys{Root: opts.Root}, addr: strings.Join(opts.Endpoints, ","), opts: opts, log: opts.Logger}, nil
}

// Client is the etcd client, for what is built on this topology (workflow runners and
// elections, concurrency sessions); Keys gives the layout.
func (e *Etcd) Client() *clientv3.Client { return e.cli }

// Keys is the key layout under this topology's root.
func (e *Etcd) Keys() Keys { return e.keys }

func (e *Etcd) Address() string { return e.addr }

func (e *Etcd) Close() error { return e.cli.Close() }

// req bounds one request and makes it fail on a member that has no leader (rather than
// answer from a partitioned minority).
func (e *Etcd) req(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(clientv3.WithRequireLeader(ctx), e.opts.RequestTimeout)
}

// fail turns a request error into the topology error, unless the caller gave up.
func (e *Etcd) fail(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return unavailable(e.addr, err)
}

// get reads the schema; header is the store's revision at the read.
func (e *Etcd) get(ctx context.Context) (v Versioned, ok bool, header int64, err error) {
	rctx, cancel := e.req(ctx)
	defer cancel()
	resp, err := e.cli.Get(rctx, e.keys.Schema())
	if err != nil {
		return Versioned{}, false, 0, e.fail(ctx, err)
	}
	v, ok, err = e.decodeKVs(resp.Kvs)
	return v, ok, resp.Header.Revision, err
}

func (e *Etcd) decodeKVs(kvs []*mvccpb.KeyValue) (Versioned, bool, error) {
	if len(kvs) == 0 {
		return Versioned{}, false, nil
	}
	s, err := decodeSchema(kvs[0].Value)
	if err != nil {
		return Versioned{}, false, fmt.Errorf("topology %s at revision %d: %w", e.keys.Schema(), kvs[0].ModRevision, err)
	}
	return Versioned{s, kvs[0].ModRevision}, true, nil
}

func (e *Etcd) Schema(ctx context.Context) (Versioned, bool, error) {
	v, ok, _, err := e.get(ctx)
	return v, ok, err
}

func (e *Etcd) Create(ctx context.Context, s *router.Schema) (Versioned, bool, error) {
	b, err := encodeSchema(s)
	if err != nil {
		return Versioned{}, false, err
	}
	key := e.keys.Schema()
	rctx, cancel := e.req(ctx)
	defer cancel()
	resp, err := e.cli.Txn(rctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(b))).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return Versioned{}, false, e.fail(ctx, err)
	}
	if resp.Succeeded {
		return Versioned{s.Clone(), resp.Header.Revision}, true, nil
	}
	v, _, err := e.decodeKVs(resp.Responses[0].GetResponseRange().Kvs)
	return v, false, err
}

func (e *Etcd) Update(ctx context.Context, edit func(*router.Schema) error) (Versioned, error) {
	cur, ok, _, err := e.get(ctx)
	if err != nil {
		return Versioned{}, err
	}
	key := e.keys.Schema()
	for range maxConflicts {
		s := emptySchema()
		if ok {
			s = cur.Schema.Clone()
		}
		if err := edit(s); err != nil {
			if errors.Is(err, router.ErrNoChange) && ok {
				return cur, err
			}
			return Versioned{}, err
		}
		b, err := encodeSchema(s)
		if err != nil {
			return Versioned{}, err
		}
		rctx, cancel := e.req(ctx)
		resp, err := e.cli.Txn(rctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", cur.Revision)). // 0 = still absent
			Then(clientv3.OpPut(key, string(b))).
			Else(clientv3.OpGet(key)).
			Commit()
		cancel()
		if err != nil {
			// Unanswered: a server that was only slow (frozen, partitioned and back)
			// may still apply it. A compare-and-swap lands whole or not at all; the
			// client is told the outcome is unknown, and the watch installs the change
			// if it landed.
			err = fmt.Errorf("%w; the change may still be stored when the server answers (outcome unknown)", err)
			return Versioned{}, e.fail(ctx, err)
		}
		if resp.Succeeded {
			return Versioned{s, resp.Header.Revision}, nil
		}
		// Another instance stored first: edit what it stored.
		if cur, ok, err = e.decodeKVs(resp.Responses[0].GetResponseRange().Kvs); err != nil {
			return Versioned{}, err
		}
	}
	return Versioned{}, sqlerr.New(sqlerr.ERUnknown, "HY000",
		"topology server %s: the routing schema changed %d times while this change was being stored; try again", e.addr, maxConflicts)
}

func (e *Etcd) Watch(ctx context.Context, from int64, fn func(Versioned)) error {
	w := &schemaWatch{e: e, fn: fn, served: from, next: from + 1}
	backoff := 100 * time.Millisecond
	for {
		err := w.once(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, rpctypes.ErrCompacted) {
			if err = w.reload(ctx); err == nil {
				backoff = 100 * time.Millisecond
				continue
			}
		}
		e.log.Warn("topology watch interrupted; resuming", "server", e.addr, "err", err, "from_revision", w.next)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// schemaWatch is one Watch's position: served is the newest revision handed to fn, next
// the revision to watch from.
type schemaWatch struct {
	e      *Etcd
	fn     func(Versioned)
	served int64
	next   int64
}

func (w *schemaWatch) deliver(v Versioned) {
	if v.Revision > w.served {
		w.served = v.Revision
		w.fn(v)
	}
}

// once watches until the watch fails; a watch the client resumes by itself (server
// restarted) stays in here.
func (w *schemaWatch) once(ctx context.Context) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	key := w.e.keys.Schema()
	for resp := range w.e.cli.Watch(wctx, key, clientv3.WithRev(w.next), clientv3.WithProgressNotify()) {
		if err := resp.Err(); err != nil {
			return err
		}
		for _, ev := range resp.Events {
			w.next = ev.Kv.ModRevision + 1
			if ev.Type != mvccpb.PUT {
				w.e.log.Error("the routing schema was deleted from the topology; keeping the last routing", "key", key, "revision", ev.Kv.ModRevision)
				continue
			}
			v, _, err := w.e.decodeKVs([]*mvccpb.KeyValue{ev.Kv})
			if err != nil {
				w.e.log.Error("unreadable routing schema in the topology; keeping the last routing", "err", err)
				continue
			}
			w.deliver(v)
		}
		if resp.IsProgressNotify() {
			w.next = max(w.next, resp.Header.Revision+1)
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.New("watch channel closed")
}

// reload reads the schema after the history to resume from was compacted.
func (w *schemaWatch) reload(ctx context.Context) error {
	v, ok, header, err := w.e.get(ctx)
	if err != nil {
		return err
	}
	w.e.log.Info("topology history compacted: routing schema read again", "server", w.e.addr, "revision", v.Revision)
	if ok {
		w.deliver(v)
	}
	w.next = header + 1
	return nil
}

func (e *Etcd) Instances(ctx context.Context) ([]Instance, error) {
	rctx, cancel := e.req(ctx)
	defer cancel()
	resp, err := e.cli.Get(rctx, e.keys.VTGates(), clientv3.WithPrefix())
	if err != nil {
		return nil, e.fail(ctx, err)
	}
	out := make([]Instance, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var in Instance
		if err := json.Unmarshal(kv.Value, &in); err != nil {
			return nil, fmt.Errorf("topology %s: %w", kv.Key, err)
		}
		out = append(out, in)
	}
	slices.SortFunc(out, func(a, b Instance) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (e *Etcd) Register(_ context.Context, inst Instance) (Registration, error) {
	if err := checkID(inst.ID); err != nil {
		return nil, err
	}
	if inst.Started.IsZero() {
		inst.Started = time.Now()
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &etcdReg{e: e, inst: inst, kick: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	go r.run(ctx)
	return r, nil
}

// etcdReg keeps <root>/vtgates/<id> on a lease: granted, kept alive, put again when the
// instance's record changes, granted anew when lost. Close revokes it.
type etcdReg struct {
	e      *Etcd
	kick   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	inst     Instance
	lease    clientv3.LeaseID
	deadline time.Time
}

// margin is what Deadline keeps in hand against the server's own expiry: the answer's
// travel and the two clocks' drift over a TTL.
func (r *etcdReg) margin() time.Duration { return r.e.opts.LeaseTTL / 5 }

func (r *etcdReg) SetRevision(rev int64) {
	r.mu.Lock()
	changed := rev > r.inst.RevisionServed // revisions served only grow
	if changed {
		r.inst.RevisionServed = rev
	}
	r.mu.Unlock()
	if changed {
		r.poke()
	}
}

func (r *etcdReg) SetWorkflows(names []string) {
	r.mu.Lock()
	r.inst.Workflows = slices.Clone(names)
	r.mu.Unlock()
	r.poke()
}

func (r *etcdReg) poke() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func (r *etcdReg) Deadline() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.deadline
}

func (r *etcdReg) Close() error {
	r.cancel()
	<-r.done
	return nil
}

func (r *etcdReg) run(ctx context.Context) {
	defer close(r.done)
	backoff := 100 * time.Millisecond
	for {
		granted, err := r.session(ctx)
		if ctx.Err() != nil {
			break
		}
		if granted {
			backoff = 100 * time.Millisecond
		}
		r.e.log.Warn("topology registration lost; registering again", "server", r.e.addr, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
	r.mu.Lock()
	id := r.lease
	r.mu.Unlock()
	if id != 0 { // the key goes with the lease, now rather than a TTL later
		rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, _ = r.e.cli.Revoke(rctx, id)
		cancel()
	}
}

// session grants a lease, puts the record on it and keeps both up until the lease is lost
// (its keepalive channel closes: expired, or unanswered for a TTL) or ctx ends.
func (r *etcdReg) session(ctx context.Context) (granted bool, err error) {
	sent := time.Now()
	gctx, cancel := r.e.req(ctx)
	lease, err := r.e.cli.Grant(gctx, int64(r.e.opts.LeaseTTL/time.Second))
	cancel()
	if err != nil {
		return false, r.e.fail(ctx, err)
	}
	r.mu.Lock()
	r.lease = lease.ID
	r.deadline = sent.Add(time.Duration(lease.TTL)*time.Second - r.margin())
	r.inst.LeaseGranted = sent
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		if ctx.Err() == nil { // lost: nothing to revoke (Close revokes a live one)
			r.lease = 0
		}
		r.mu.Unlock()
	}()
	kctx, kcancel := context.WithCancel(ctx)
	defer kcancel()
	ka, err := r.e.cli.KeepAlive(kctx, lease.ID)
	if err != nil {
		return true, r.e.fail(ctx, err)
	}
	dirty := true // the record is not stored yet
	var retry <-chan time.Time
	for {
		if dirty {
			if err := r.put(ctx, lease.ID); err != nil {
				if ctx.Err() != nil {
					return true, ctx.Err()
				}
				r.e.log.Warn("topology registration not updated; retrying", "err", err)
				retry = time.After(500 * time.Millisecond)
			} else {
				dirty, retry = false, nil
			}
		}
		select {
		case resp, ok := <-ka:
			if !ok {
				return true, errors.New("lease keepalive ended (expired or unanswered for its TTL)")
			}
			d := time.Now().Add(time.Duration(resp.TTL)*time.Second - r.margin())
			r.mu.Lock()
			if d.After(r.deadline) {
				r.deadline = d
			}
			r.mu.Unlock()
		case <-r.kick:
			dirty = true
		case <-retry:
		case <-ctx.Done():
			return true, ctx.Err()
		}
	}
}

func (r *etcdReg) put(ctx context.Context, id clientv3.LeaseID) error {
	r.mu.Lock()
	in := r.inst
	r.mu.Unlock()
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	pctx, cancel := r.e.req(ctx)
	defer cancel()
	if _, err := r.e.cli.Put(pctx, r.e.keys.VTGate(in.ID), string(b), clientv3.WithLease(id)); err != nil {
		return r.e.fail(ctx, err)
	}
	return nil
}
