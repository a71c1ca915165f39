package topo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/vtgate-lite/vtgate-lite/router"
	"github.com/vtgate-lite/vtgate-lite/sqlerr"
	"github.com/vtgate-lite/vtgate-lite/store"
)

// Follow keeps h on t's schema until ctx ends: every revision stored after the one h serves
// is applied (router.Holder.Apply), whichever instance stored it.
func Follow(ctx context.Context, t Topo, h *router.Holder, log *slog.Logger) error {
	return t.Watch(ctx, h.Load().Revision, func(v Versioned) {
		tb, applied, err := h.Apply(v.Schema, v.Revision)
		switch {
		case err != nil:
			log.Error("routing from the topology cannot be served here (check this instance's keyspaces); keeping the current routing",
				"revision", v.Revision, "serving", tb.Revision, "err", err)
		case applied:
			log.Info("routing changed in the topology", "revision", v.Revision)
		}
	})
}

// AwaitServed waits, at most timeout, until every live instance reports serving revision
// rev or a later one. It returns a MySQL error (1105) naming the instances that do not.
func AwaitServed(ctx context.Context, t Topo, rev int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var lastErr error
	for {
		insts, err := t.Instances(ctx)
		lastErr = err
		var lagging []string
		if err == nil {
			for _, in := range insts {
				if in.RevisionServed < rev {
					lagging = append(lagging, fmt.Sprintf("%s (%s, serving revision %d)", in.ID, in.MySQLAddr, in.RevisionServed))
				}
			}
			if len(lagging) == 0 {
				return nil
			}
		}
		if ctx.Err() != nil || !time.Now().Before(deadline) {
			if lastErr != nil {
				return sqlerr.Wrap(lastErr, sqlerr.ERUnknown, "HY000",
					"routing changed (topology revision %d), but which instances serve it is unknown: %v", rev, lastErr)
			}
			return sqlerr.New(sqlerr.ERUnknown, "HY000",
				"routing changed (topology revision %d), but not every instance serves it after %s: %s", rev, timeout, strings.Join(lagging, ", "))
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// BootOptions are Boot's inputs.
type BootOptions struct {
	// Seed is stored when the topology has no schema yet.
	Seed *router.Schema
	// VSchemas from the config: those of keyspaces the stored schema lacks are added to it
	// (a keyspace added to the config later).
	VSchemas map[string]*router.KeyspaceVSchema
	// Cache is the state store holding the routing cached by SaveCache (nil: none), and Root
	// the topology root it must have been cached from.
	Cache store.Store
	Root  string
	Log   *slog.Logger
}

// Boot returns the schema an instance starts serving. When the topology server does not
// answer, it falls back on the routing cached in state_dir (fromCache) or fails, saying why.
func Boot(ctx context.Context, t Topo, o BootOptions) (v Versioned, fromCache bool, err error) {
	v, ok, err := t.Schema(ctx)
	var ue *UnavailableError
	if errors.As(err, &ue) && o.Cache != nil {
		c, found, cerr := LoadCache(o.Cache, o.Root)
		if cerr != nil {
			return Versioned{}, false, fmt.Errorf("%w; and the routing cached in state_dir is unreadable: %v", err, cerr)
		}
		if !found {
			return Versioned{}, false, fmt.Errorf("%w; and state_dir holds no routing cached from topology root %s to start from", err, o.Root)
		}
		o.Log.Warn("topology server unavailable: serving the routing cached in state_dir until it answers",
			"server", t.Address(), "err", ue.Err, "revision", c.Revision)
		return c, true, nil
	}
	if err != nil {
		return Versioned{}, false, err
	}
	if !ok {
		created := false
		if v, created, err = t.Create(ctx, o.Seed); err != nil {
			return Versioned{}, false, err
		}
		if created {
			o.Log.Info("topology has no routing schema: stored the seed", "server", t.Address(), "revision", v.Revision)
		}
	}
	nv, err := t.Update(ctx, func(s *router.Schema) error {
		added := false
		for ks, vs := range o.VSchemas {
			if _, ok := s.VSchema[ks]; !ok {
				s.VSchema[ks] = &router.KeyspaceVSchema{Sharded: vs.Sharded, Tables: vs.Tables}
				added = true
			}
		}
		if !added {
			return router.ErrNoChange
		}
		return nil
	})
	switch {
	case errors.Is(err, router.ErrNoChange):
		if nv.Revision > v.Revision {
			v = nv
		}
	case err != nil:
		return Versioned{}, false, err
	default:
		v = nv
	}
	return v, false, nil
}

const cacheKey = "topology_cache"

type cached struct {
	Root     string         `json:"root"`
	Address  string         `json:"address"`
	Revision int64          `json:"revision"`
	Saved    time.Time      `json:"saved"`
	Schema   *router.Schema `json:"schema"`
}

// SaveCache records the routing an instance serves in state_dir, to start from when the
// topology server is unreachable at start.
func SaveCache(st store.Store, root, address string, t *router.Table) error {
	b, err := json.MarshalIndent(cached{Root: root, Address: address, Revision: t.Revision, Saved: time.Now().UTC(), Schema: t.Schema()}, "", "  ")
	if err != nil {
		return err
	}
	return st.Put(cacheKey, b)
}

// LoadCache returns the routing SaveCache recorded for root; found is false when there is none.
func LoadCache(st store.Store, root string) (v Versioned, found bool, err error) {
	b, ok, err := st.Get(cacheKey)
	if err != nil || !ok {
		return Versioned{}, false, err
	}
	var c cached
	if err := json.Unmarshal(b, &c); err != nil {
		return Versioned{}, false, fmt.Errorf("state store %s: %w", cacheKey, err)
	}
	if c.Root != root || c.Schema == nil {
		return Versioned{}, false, nil
	}
	s := c.Schema.Clone()
	return Versioned{s, c.Revision}, true, nil
}
