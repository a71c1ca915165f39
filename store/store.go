// Package store is vtgate-lite's embedded state store: small documents (the routing
// schema, two-phase-commit recovery records, ...) kept as files in state_dir.
//
// Flow:
//  1. Open creates state_dir if needed.
//  2. Put writes a document atomically: temp file, fsync, rename, fsync of the directory.
//     A crash leaves either the old or the new document, never a torn one.
//  3. Get/List read documents back; SaveSchema/LoadSchema are the routing table's use of it.
//
// Store is an interface so a shared store (etcd, a MySQL table) can replace the files
// when several vtgate-lite processes must agree; FileStore is the single-process one.
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/vtgate-lite/vtgate-lite/router"
)

// Store keeps named documents.
type Store interface {
	Get(key string) ([]byte, bool, error)
	Put(key string, value []byte) error
	Delete(key string) error
	// List returns the keys that start with prefix, sorted.
	List(prefix string) ([]string, error)
}

const schemaKey = "routing_schema"

// SchemaStore adapts a Store to router.Persister.
type SchemaStore struct{ Store }

// SaveSchema persists the VSchemas and routing rules.
func (s SchemaStore) SaveSchema(sc *router.Schema) error {
	b, err := json.MarshalIndent(sc, "", "  ")
	if err != nil {
		return err
	}
	return s.Put(schemaKey, b)
}

// LoadSchema returns the saved schema; ok is false when none was saved yet.
func (s SchemaStore) LoadSchema() (sc *router.Schema, ok bool, err error) {
	b, ok, err := s.Get(schemaKey)
	if err != nil || !ok {
		return nil, ok, err
	}
	sc = &router.Schema{}
	if err := json.Unmarshal(b, sc); err != nil {
		return nil, false, fmt.Errorf("state store %s: %w", schemaKey, err)
	}
	if sc.VSchema == nil {
		sc.VSchema = map[string]*router.KeyspaceVSchema{}
	}
	if sc.Rules == nil {
		sc.Rules = map[string]string{}
	}
	return sc, true, nil
}

// FileStore keeps each document as dir/<key>.json.
type FileStore struct {
	dir string
	mu  sync.Mutex
}

// Open opens (creating) a file store in dir.
func Open(dir string) (*FileStore, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("state_dir %s: %w", dir, err)
	}
	return &FileStore{dir: dir}, nil
}

func (f *FileStore) path(key string) (string, error) {
	if key == "" || strings.ContainsAny(key, "/\\") || strings.HasPrefix(key, ".") {
		return "", fmt.Errorf("invalid state key %q", key)
	}
	return filepath.Join(f.dir, key+".json"), nil
}

func (f *FileStore) Get(key string) ([]byte, bool, error) {
	p, err := f.path(key)
	if err != nil {
		return nil, false, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	return b, err == nil, err
}

func (f *FileStore) Put(key string, value []byte) error {
	p, err := f.path(key)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	tmp, err := os.CreateTemp(f.dir, "."+key+".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(value); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return err
	}
	d, err := os.Open(f.dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (f *FileStore) Delete(key string) error {
	p, err := f.path(key)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func (f *FileStore) List(prefix string) ([]string, error) {
	entries, err := os.ReadDir(f.dir)
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".json") {
			continue
		}
		key := strings.TrimSuffix(name, ".json")
		if strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
	}
	sort.Strings(keys)
	return keys, nil
}
