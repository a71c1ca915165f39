package topo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/vtgate-lite/vtgate-lite/router"
	"github.com/vtgate-lite/vtgate-lite/store"
)

// File is the one-instance topology: the routing schema is the state store's routing_schema
// document in state_dir (store.SchemaStore, as before there was a shared topology), the
// revision a counter in memory, and the registry this process alone.
type File struct {
	dir     string
	schemas store.SchemaStore

	mu     sync.Mutex
	loaded bool
	cur    *router.Schema // nil when none is stored
	rev    int64
	reg    *fileReg
}

// OpenFile serves the schema kept in st (the file store in dir).
func OpenFile(st store.Store, dir string) *File {
	return &File{dir: dir, schemas: store.SchemaStore{Store: st}}
}

func (f *File) Address() string { return "state_dir " + f.dir }

// load reads the stored schema once (f.mu held).
func (f *File) load() error {
	if f.loaded {
		return nil
	}
	s, ok, err := f.schemas.LoadSchema()
	if err != nil {
		return err
	}
	if ok {
		f.cur, f.rev = s, 1
	}
	f.loaded = true
	return nil
}

func (f *File) Schema(context.Context) (Versioned, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.load(); err != nil {
		return Versioned{}, false, err
	}
	if f.cur == nil {
		return Versioned{}, false, nil
	}
	return Versioned{f.cur.Clone(), f.rev}, true, nil
}

func (f *File) Create(_ context.Context, s *router.Schema) (Versioned, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.load(); err != nil {
		return Versioned{}, false, err
	}
	if f.cur != nil {
		return Versioned{f.cur.Clone(), f.rev}, false, nil
	}
	if err := f.store(s.Clone()); err != nil {
		return Versioned{}, false, err
	}
	return Versioned{f.cur.Clone(), f.rev}, true, nil
}

func (f *File) Update(_ context.Context, edit func(*router.Schema) error) (Versioned, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.load(); err != nil {
		return Versioned{}, err
	}
	s := emptySchema()
	if f.cur != nil {
		s = f.cur.Clone()
	}
	if err := edit(s); err != nil {
		if errors.Is(err, router.ErrNoChange) && f.cur != nil {
			return Versioned{f.cur.Clone(), f.rev}, err
		}
		return Versioned{}, err
	}
	if err := f.store(s); err != nil {
		return Versioned{}, err
	}
	return Versioned{s.Clone(), f.rev}, nil
}

// store writes s (fsynced: store.FileStore.Put) and makes it current (f.mu held).
func (f *File) store(s *router.Schema) error {
	if err := f.schemas.SaveSchema(s); err != nil {
		return fmt.Errorf("persist routing: %w", err)
	}
	f.cur = s
	f.rev++
	return nil
}

// Watch has nothing to watch: only this process changes the file.
func (f *File) Watch(ctx context.Context, _ int64, _ func(Versioned)) error {
	<-ctx.Done()
	return nil
}

func (f *File) Register(_ context.Context, inst Instance) (Registration, error) {
	if err := checkID(inst.ID); err != nil {
		return nil, err
	}
	now := time.Now()
	if inst.Started.IsZero() {
		inst.Started = now
	}
	inst.LeaseGranted = now
	r := &fileReg{f: f, inst: inst}
	f.mu.Lock()
	f.reg = r
	f.mu.Unlock()
	return r, nil
}

func (f *File) Instances(context.Context) ([]Instance, error) {
	f.mu.Lock()
	r := f.reg
	f.mu.Unlock()
	if r == nil {
		return nil, nil
	}
	return []Instance{r.snapshot()}, nil
}

func (f *File) Close() error { return nil }

// fileReg is the only instance's registration: in memory, never expiring.
type fileReg struct {
	f    *File
	mu   sync.Mutex
	inst Instance
}

func (r *fileReg) snapshot() Instance {
	r.mu.Lock()
	defer r.mu.Unlock()
	in := r.inst
	in.Workflows = slices.Clone(in.Workflows)
	return in
}

func (r *fileReg) SetRevision(rev int64) {
	r.mu.Lock()
	r.inst.RevisionServed = max(r.inst.RevisionServed, rev) // revisions served only grow
	r.mu.Unlock()
}

func (r *fileReg) SetWorkflows(names []string) {
	r.mu.Lock()
	r.inst.Workflows = slices.Clone(names)
	r.mu.Unlock()
}

// Deadline is far away: a local registration cannot be lost.
func (r *fileReg) Deadline() time.Time { return time.Now().Add(24 * time.Hour) }

func (r *fileReg) Close() error {
	r.f.mu.Lock()
	if r.f.reg == r {
		r.f.reg = nil
	}
	r.f.mu.Unlock()
	return nil
}
