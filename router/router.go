// Package router holds the routing table: which keyspaces exist, on which servers,
// which tables each keyspace's VSchema declares, and the routing rules that send a
// table reference (per tablet type) to a keyspace.
//
// Flow:
//  1. A Table is built from keyspaces + VSchema + rules (Build) and never modified after.
//  2. Holder keeps the current *Table behind an atomic pointer; readers Load() it once per
//     statement and keep using that value, so a statement never sees half a change.
//  3. A change (ALTER VSCHEMA, a migration step, a config reload) calls Holder.Update with a
//     function that edits a Schema copy; Update validates it, persists it through the Persister,
//     builds a new Table and swaps the pointer, all under one mutex so changes serialize.
//     A Holder on a shared schema (NewSharedHolder; package topo) instead runs the edit on the
//     latest stored schema by compare-and-swap (the edit may run more than once: it must be a
//     pure function of the schema), then installs what was stored with its revision. Changes
//     made by other instances arrive through Apply, which installs a newer revision without
//     storing it again.
//  4. Resolve answers "where does this table reference go?" with Vitess semantics for
//     unsharded keyspaces: rules first (name@type, then name), then the qualifier, then the
//     unique VSchema owner, then the session's keyspace.
package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vtgate-lite/vtgate-lite/sqlerr"
)

// TabletType is the kind of server a read is sent to.
type TabletType int

const (
	Primary TabletType = iota
	Replica
	Rdonly
)

var tabletTypeNames = [...]string{"primary", "replica", "rdonly"}

func (t TabletType) String() string {
	if int(t) < len(tabletTypeNames) {
		return tabletTypeNames[t]
	}
	return fmt.Sprintf("TabletType(%d)", int(t))
}

// ParseTabletType accepts primary (or master), replica and rdonly, in any case.
func ParseTabletType(s string) (TabletType, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "primary", "master":
		return Primary, nil
	case "replica":
		return Replica, nil
	case "rdonly", "batch":
		return Rdonly, nil
	}
	return 0, fmt.Errorf("unknown tablet type %q (want primary, replica or rdonly)", s)
}

// Server is one backend MySQL server of a keyspace.
type Server struct {
	Address string
	Type    TabletType
}

// Keyspace is a named database living on one primary and its replicas.
type Keyspace struct {
	Name     string
	Database string // schema name on the backends
	// User and Password are the account of the application's statements (unless a proxy
	// user names its own backend account).
	User     string
	Password string
	// AdminUser and AdminPassword are the account of the migration engine and the
	// operational connections (replica health); "" = User and Password (see Admin).
	AdminUser     string
	AdminPassword string
	Primary       string
	Replicas      []Server
}

// Admin returns the account of the migration engine and the operational connections: the
// keyspace's admin account when one is configured, its application account otherwise.
func (k *Keyspace) Admin() (user, password string) {
	if k.AdminUser != "" {
		return k.AdminUser, k.AdminPassword
	}
	return k.User, k.Password
}

// Servers returns the addresses of the keyspace's servers of type t.
func (k *Keyspace) Servers(t TabletType) []string {
	if t == Primary {
		return []string{k.Primary}
	}
	var out []string
	for _, s := range k.Replicas {
		if s.Type == t {
			out = append(out, s.Address)
		}
	}
	return out
}

// KeyspaceVSchema is the Vitess JSON VSchema of an unsharded keyspace (only what we use;
// unknown fields are kept so a round trip loses nothing).
type KeyspaceVSchema struct {
	Sharded bool                       `json:"sharded,omitempty"`
	Tables  map[string]json.RawMessage `json:"tables"`
}

// Schema is the editable, persisted part of routing: VSchemas and routing rules.
// Keyspace server lists come from the config and are not part of it.
type Schema struct {
	VSchema map[string]*KeyspaceVSchema `json:"vschema"`
	// Rules maps a from-table ("t", "ks.t", "t@replica", "ks.t@rdonly") to a target "ks.t".
	Rules map[string]string `json:"routing_rules"`
}

// Clone returns a deep copy.
func (s *Schema) Clone() *Schema {
	out := &Schema{VSchema: map[string]*KeyspaceVSchema{}, Rules: maps.Clone(s.Rules)}
	if out.Rules == nil {
		out.Rules = map[string]string{}
	}
	for ks, vs := range s.VSchema {
		cp := &KeyspaceVSchema{Sharded: vs.Sharded, Tables: maps.Clone(vs.Tables)}
		if cp.Tables == nil {
			cp.Tables = map[string]json.RawMessage{}
		}
		out.VSchema[ks] = cp
	}
	return out
}

// AddTable declares table in keyspace's VSchema.
func (s *Schema) AddTable(keyspace, table string) {
	vs := s.VSchema[keyspace]
	if vs == nil {
		vs = &KeyspaceVSchema{Tables: map[string]json.RawMessage{}}
		s.VSchema[keyspace] = vs
	}
	if _, ok := vs.Tables[table]; !ok {
		vs.Tables[table] = json.RawMessage("{}")
	}
}

// DropTable removes table from keyspace's VSchema.
func (s *Schema) DropTable(keyspace, table string) {
	if vs := s.VSchema[keyspace]; vs != nil {
		delete(vs.Tables, table)
	}
}

// RulesJSON renders the rules in Vitess's routing-rules JSON format.
func (s *Schema) RulesJSON() ([]byte, error) {
	type rule struct {
		FromTable string   `json:"from_table"`
		ToTables  []string `json:"to_tables"`
	}
	out := struct {
		Rules []rule `json:"rules"`
	}{Rules: []rule{}}
	for _, from := range slices.Sorted(maps.Keys(s.Rules)) {
		out.Rules = append(out.Rules, rule{from, []string{s.Rules[from]}})
	}
	return json.MarshalIndent(out, "", "  ")
}

// ParseRulesJSON reads Vitess's routing-rules JSON format.
func ParseRulesJSON(b []byte) (map[string]string, error) {
	var in struct {
		Rules []struct {
			FromTable string   `json:"from_table"`
			ToTables  []string `json:"to_tables"`
		} `json:"rules"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, r := range in.Rules {
		if len(r.ToTables) != 1 {
			return nil, fmt.Errorf("rule %q: exactly one to_table is supported, got %d", r.FromTable, len(r.ToTables))
		}
		out[r.FromTable] = r.ToTables[0]
	}
	return out, nil
}

// Table is an immutable routing table. Never modify one after Build.
type Table struct {
	// Version counts the tables this Holder built (plan caches are valid for one version).
	Version uint64
	// Revision is the topology revision of the schema (0 for a Holder without a shared
	// schema): every instance serving revision R serves the same VSchemas and rules.
	Revision  int64
	keyspaces map[string]*Keyspace
	schema    *Schema
	owners    map[string][]string // table name -> keyspaces whose VSchema declares it (sorted)
}

// Build validates and indexes a routing table.
func Build(version uint64, keyspaces map[string]*Keyspace, schema *Schema) (*Table, error) {
	if schema == nil {
		schema = &Schema{}
	}
	schema = schema.Clone()
	t := &Table{Version: version, keyspaces: keyspaces, schema: schema, owners: map[string][]string{}}
	for ks, vs := range schema.VSchema {
		if _, ok := keyspaces[ks]; !ok {
			// A VSchema for a keyspace no longer configured is kept (it may come back) but not routed to.
			continue
		}
		if vs.Sharded {
			return nil, fmt.Errorf("keyspace %s: sharded VSchemas are not supported", ks)
		}
		for name := range vs.Tables {
			t.owners[strings.ToLower(name)] = append(t.owners[strings.ToLower(name)], ks)
		}
	}
	for _, kss := range t.owners {
		sort.Strings(kss)
	}
	for from, to := range schema.Rules {
		ks, _, ok := strings.Cut(to, ".")
		if !ok {
			return nil, fmt.Errorf("routing rule %q: target %q must be keyspace.table", from, to)
		}
		if _, known := keyspaces[ks]; !known {
			return nil, fmt.Errorf("routing rule %q: unknown keyspace %q", from, ks)
		}
		if _, tt, hasType := strings.Cut(from, "@"); hasType {
			if _, err := ParseTabletType(tt); err != nil {
				return nil, fmt.Errorf("routing rule %q: %w", from, err)
			}
		}
	}
	return t, nil
}

// Keyspace returns a keyspace by name.
func (t *Table) Keyspace(name string) (*Keyspace, bool) {
	k, ok := t.keyspaces[name]
	return k, ok
}

// KeyspaceNames lists keyspaces in name order.
func (t *Table) KeyspaceNames() []string { return slices.Sorted(maps.Keys(t.keyspaces)) }

// Keyspaces returns the keyspace map; callers must not modify it.
func (t *Table) Keyspaces() map[string]*Keyspace { return t.keyspaces }

// Schema returns a copy of the editable schema.
func (t *Table) Schema() *Schema { return t.schema.Clone() }

// VSchemaTables lists the tables declared in keyspace's VSchema, sorted.
func (t *Table) VSchemaTables(keyspace string) []string {
	vs := t.schema.VSchema[keyspace]
	if vs == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(vs.Tables))
}

// Rules returns the routing rules; callers must not modify the map.
func (t *Table) Rules() map[string]string { return t.schema.Rules }

// Target is where a table reference goes.
type Target struct {
	Keyspace string
	Table    string
	// Rule is the routing rule that decided, "" when none did.
	Rule string
}

// Resolve finds the keyspace of a table reference. qualifier is the reference's keyspace
// ("" if unqualified), session is the session's keyspace ("" if none).
func (t *Table) Resolve(qualifier, name, session string, tt TabletType) (Target, error) {
	from := name
	if qualifier != "" {
		from = qualifier + "." + name
	}
	if to, rule, ok := t.rule(from, tt); ok {
		ks, tbl, _ := strings.Cut(to, ".")
		return Target{Keyspace: ks, Table: tbl, Rule: rule}, nil
	}
	if qualifier != "" {
		if _, ok := t.keyspaces[qualifier]; !ok {
			return Target{}, sqlerr.BadDB(qualifier)
		}
		return Target{Keyspace: qualifier, Table: name}, nil
	}
	owners := t.owners[strings.ToLower(name)]
	switch {
	case len(owners) == 1:
		return Target{Keyspace: owners[0], Table: name}, nil
	case len(owners) > 1:
		if slices.Contains(owners, session) {
			return Target{Keyspace: session, Table: name}, nil
		}
		return Target{}, sqlerr.New(sqlerr.ERNoSuchTable, "42S02",
			"ambiguous table reference: %s is declared in keyspaces %s; qualify it", name, strings.Join(owners, ", "))
	}
	if session == "" {
		return Target{}, sqlerr.NoDB()
	}
	if _, ok := t.keyspaces[session]; !ok {
		return Target{}, sqlerr.BadDB(session)
	}
	return Target{Keyspace: session, Table: name}, nil
}

// rule looks up from@type, then from (rules without a type apply to every tablet type
// that has no rule of its own, as in Vitess).
func (t *Table) rule(from string, tt TabletType) (to, rule string, ok bool) {
	if len(t.schema.Rules) == 0 {
		return "", "", false
	}
	if tt != Primary {
		key := from + "@" + tt.String()
		if to, ok := t.schema.Rules[key]; ok {
			return to, key, true
		}
	}
	to, ok = t.schema.Rules[from]
	return to, from, ok
}

// Persister saves the schema; the state store implements it.
type Persister interface {
	SaveSchema(*Schema) error
}

// SharedSchema is a routing schema several instances share (package topo implements it).
type SharedSchema interface {
	// UpdateSchema applies edit to the latest stored schema and stores the result with a
	// compare-and-swap, calling edit again on a conflict. It returns what is stored and its
	// revision; when edit returns ErrNoChange, the stored schema and ErrNoChange.
	UpdateSchema(ctx context.Context, edit func(*Schema) error) (*Schema, int64, error)
}

// Holder owns the current routing table and serializes changes to it.
type Holder struct {
	cur       atomic.Pointer[Table]
	mu        sync.Mutex
	persister Persister
	shared    SharedSchema
	watchers  []func(*Table)
}

// NewHolder starts with keyspaces and schema; persister may be nil (tests).
func NewHolder(keyspaces map[string]*Keyspace, schema *Schema, persister Persister) (*Holder, error) {
	t, err := Build(1, keyspaces, schema)
	if err != nil {
		return nil, err
	}
	h := &Holder{persister: persister}
	h.cur.Store(t)
	return h, nil
}

// NewSharedHolder starts with keyspaces and schema at the shared schema's revision rev;
// changes go through shared, and Apply installs the ones other instances made.
func NewSharedHolder(keyspaces map[string]*Keyspace, schema *Schema, rev int64, shared SharedSchema) (*Holder, error) {
	t, err := Build(1, keyspaces, schema)
	if err != nil {
		return nil, err
	}
	t.Revision = rev
	h := &Holder{shared: shared}
	h.cur.Store(t)
	return h, nil
}

// Load returns the current table.
func (h *Holder) Load() *Table { return h.cur.Load() }

// OnChange registers fn, called (under the change lock) with every new table.
func (h *Holder) OnChange(fn func(*Table)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.watchers = append(h.watchers, fn)
}

// ErrNoChange may be returned by an Update function to skip persisting and swapping.
var ErrNoChange = errors.New("no change")

// Update applies edit to a copy of the schema, persists it and swaps the table.
func (h *Holder) Update(edit func(*Schema) error) (*Table, error) {
	return h.UpdateContext(context.Background(), edit)
}

// UpdateContext is Update under ctx (which bounds a shared schema's round trips).
func (h *Holder) UpdateContext(ctx context.Context, edit func(*Schema) error) (*Table, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.shared != nil {
		return h.updateShared(ctx, edit)
	}
	old := h.cur.Load()
	s := old.schema.Clone()
	if err := edit(s); err != nil {
		if errors.Is(err, ErrNoChange) {
			return old, nil
		}
		return nil, err
	}
	return h.swap(old.keyspaces, s)
}

// updateShared runs edit on the latest stored schema, refusing (before anything is stored) a
// result this instance cannot route, then installs what was stored (h.mu held).
func (h *Holder) updateShared(ctx context.Context, edit func(*Schema) error) (*Table, error) {
	old := h.cur.Load()
	s, rev, err := h.shared.UpdateSchema(ctx, func(s *Schema) error {
		if err := edit(s); err != nil {
			return err
		}
		_, err := Build(0, old.keyspaces, s)
		return err
	})
	if errors.Is(err, ErrNoChange) {
		if s == nil || rev <= old.Revision {
			return old, nil
		}
		err = nil // nothing to store, but the stored schema is newer than ours: serve it
	}
	if err != nil {
		return nil, err
	}
	if rev <= old.Revision { // Apply (the watch) was first
		return old, nil
	}
	return h.install(old.keyspaces, s, rev)
}

// Apply installs a schema stored by any instance at revision rev (the topology watch calls
// it), without storing it again. An older or the same revision is ignored: applied is false.
// A schema this instance cannot route (a rule to a keyspace its config lacks) is refused
// and the current table kept.
func (h *Holder) Apply(s *Schema, rev int64) (t *Table, applied bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := h.cur.Load()
	if rev <= old.Revision {
		return old, false, nil
	}
	t, err = h.install(old.keyspaces, s, rev)
	if err != nil {
		return old, false, err
	}
	return t, true, nil
}

// install builds and swaps in a table for a stored schema (h.mu held).
func (h *Holder) install(keyspaces map[string]*Keyspace, s *Schema, rev int64) (*Table, error) {
	old := h.cur.Load()
	t, err := Build(old.Version+1, keyspaces, s)
	if err != nil {
		return nil, err
	}
	t.Revision = rev
	h.publish(t)
	return t, nil
}

func (h *Holder) publish(t *Table) {
	h.cur.Store(t)
	for _, w := range h.watchers {
		w(t)
	}
}

// SetKeyspaces replaces the keyspace list (config reload), keeping the schema.
func (h *Holder) SetKeyspaces(keyspaces map[string]*Keyspace) (*Table, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := h.cur.Load()
	if h.shared != nil { // the schema is not ours to store: keep its revision
		return h.install(keyspaces, old.schema, old.Revision)
	}
	return h.swap(keyspaces, old.schema.Clone())
}

func (h *Holder) swap(keyspaces map[string]*Keyspace, s *Schema) (*Table, error) {
	old := h.cur.Load()
	t, err := Build(old.Version+1, keyspaces, s)
	if err != nil {
		return nil, err
	}
	if h.persister != nil {
		if err := h.persister.SaveSchema(s); err != nil {
			return nil, fmt.Errorf("persist routing: %w", err)
		}
	}
	t.Revision = old.Revision
	h.publish(t)
	return t, nil
}
