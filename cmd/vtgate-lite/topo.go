package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/vtgate-lite/vtgate-lite/config"
	"github.com/vtgate-lite/vtgate-lite/router"
	"github.com/vtgate-lite/vtgate-lite/store"
	"github.com/vtgate-lite/vtgate-lite/topo"
)

// awaitTimeout bounds how long a statement that changed the routing waits for every live
// instance to serve it.
const awaitTimeout = 5 * time.Second

// topology wires package topo into the process: the routing holder on the shared schema, the
// watch that keeps it current, this instance's registration, and (etcd) the routing cached
// in state_dir.
type topology struct {
	t      topo.Topo
	holder *router.Holder
	etcd   bool
	log    *slog.Logger
	reg    topo.Registration
}

// openTopology opens topo.implementation and builds the routing holder from what it stores
// (seeded, on an empty topology, from state_dir's routing schema or the config).
func openTopology(ctx context.Context, cfg *config.Config, st store.Store, log *slog.Logger) (*topology, error) {
	tp := &topology{etcd: cfg.Topo.Implementation == "etcd", log: log}
	seed := cfg.Schema()
	opts := topo.BootOptions{Seed: seed, VSchemas: cfg.VSchemas, Log: log}
	if tp.etcd {
		e, err := topo.OpenEtcd(topo.EtcdOptions{Endpoints: cfg.Topo.Address, Root: cfg.Topo.Root, LeaseTTL: cfg.Topo.LeaseTTL,
			Logger: log.With("component", "topo")})
		if err != nil {
			return nil, err
		}
		tp.t = e
		// An instance moving from the file store to etcd brings its routing along.
		if sc, ok, err := (store.SchemaStore{Store: st}).LoadSchema(); err == nil && ok {
			opts.Seed = sc
		}
		opts.Cache, opts.Root = st, cfg.Topo.Root
	} else {
		tp.t = topo.OpenFile(st, cfg.StateDir)
	}
	v, fromCache, err := topo.Boot(ctx, tp.t, opts)
	if err != nil {
		tp.t.Close()
		return nil, err
	}
	tp.holder, err = router.NewSharedHolder(cfg.Keyspaces, v.Schema, v.Revision, topo.SharedSchema(tp.t))
	if err != nil {
		tp.t.Close()
		return nil, fmt.Errorf("routing: %w", err)
	}
	if tp.etcd {
		save := func(t *router.Table) {
			if err := topo.SaveCache(st, cfg.Topo.Root, tp.t.Address(), t); err != nil {
				log.Error("cannot cache the routing in state_dir", "err", err)
			}
		}
		tp.holder.OnChange(save)
		if !fromCache {
			save(tp.holder.Load())
		}
	}
	log.Info("routing schema loaded", "topology", tp.t.Address(), "revision", v.Revision, "from_cache", fromCache)
	return tp, nil
}

// register puts this instance in the registry (its revision kept current) once it listens.
func (tp *topology) register(ctx context.Context, mysqlAddr net.Addr, httpAddr string) error {
	host, _ := os.Hostname()
	_, port, _ := net.SplitHostPort(mysqlAddr.String())
	id := host + ":" + port
	if host == "" {
		id = "vtgate-lite:" + port
	}
	reg, err := tp.t.Register(ctx, topo.Instance{ID: id, MySQLAddr: mysqlAddr.String(), HTTPAddr: httpAddr, Version: version()})
	if err != nil {
		return err
	}
	tp.reg = reg
	tp.holder.OnChange(func(t *router.Table) { reg.SetRevision(t.Revision) })
	reg.SetRevision(tp.holder.Load().Revision) // after OnChange: a change in between is not missed
	return nil
}

// follow applies the changes other instances make until ctx ends.
func (tp *topology) follow(ctx context.Context) error {
	return topo.Follow(ctx, tp.t, tp.holder, tp.log.With("component", "topo"))
}

// awaitRouting returns once every live instance serves t's revision (proxy.Config.AwaitRouting).
func (tp *topology) awaitRouting(ctx context.Context, t *router.Table) error {
	return topo.AwaitServed(ctx, tp.t, t.Revision, awaitTimeout)
}

// vtgates renders SHOW VTGATES.
func (tp *topology) vtgates(ctx context.Context) ([]string, [][]string, error) {
	insts, err := tp.t.Instances(ctx)
	if err != nil {
		return nil, nil, err
	}
	cols := []string{"id", "mysql_addr", "http_addr", "revision_served", "lease_age", "workflows"}
	rows := make([][]string, 0, len(insts))
	for _, in := range insts {
		age := int64(time.Since(in.LeaseGranted).Seconds())
		wf := ""
		for i, w := range in.Workflows {
			if i > 0 {
				wf += ","
			}
			wf += w
		}
		rows = append(rows, []string{in.ID, in.MySQLAddr, in.HTTPAddr, strconv.FormatInt(in.RevisionServed, 10), strconv.FormatInt(max(age, 0), 10), wf})
	}
	return cols, rows, nil
}

func (tp *topology) Close() {
	if tp.reg != nil {
		tp.reg.Close()
	}
	tp.t.Close()
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "unknown"
}
