package config

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/vtgate-lite/vtgate-lite/router"
)

// Keyspace names end up in routing rules ("ks.table@replica"), so ".", "@" and the like
// are refused; the backend database name can still be anything via `database:`.
var keyspaceName = regexp.MustCompile(`^[A-Za-z0-9_$-]+$`)

// fields checks a YAML map against the allowed field names, reporting the others.
func (l *loader) fields(key string, x any, allowed ...string) (map[string]any, bool) {
	m, ok := asMap(x)
	if !ok {
		l.fail(key, "want a map with %s, got %s", orList(allowed), describe(x))
		return nil, false
	}
	for _, f := range sortedKeys(m) {
		if !slices.Contains(allowed, f) {
			l.fail(key+"."+f, problemUnknownKey)
		}
	}
	return m, true
}

// fieldStr reads a string field of a YAML map ("" when absent). Numbers are refused rather
// than converted: YAML reads password: 0123 as 83.
func (l *loader) fieldStr(key string, m map[string]any, field string) string {
	switch x := m[field].(type) {
	case nil:
		return ""
	case string:
		return strings.TrimSpace(x)
	default:
		l.fail(key+"."+field, "want a string (quote it), got %s", describe(x))
		return ""
	}
}

func (l *loader) keyspaces() map[string]*router.Keyspace {
	out := map[string]*router.Keyspace{}
	x := l.raw["keyspaces"]
	if x == nil {
		return out
	}
	m, ok := asMap(x)
	if !ok {
		l.fail("keyspaces", "want a map of keyspace name to settings, got %s", describe(x))
		return out
	}
	l.keyspaceNames = map[string]bool{}
	for _, name := range sortedKeys(m) {
		l.keyspaceNames[name] = true
		key := "keyspaces." + name
		if !keyspaceName.MatchString(name) {
			l.fail("keyspaces."+strconv.Quote(name), "invalid keyspace name (want letters, digits, _, $ or -)")
			continue
		}
		f, ok := l.fields(key, m[name], "database", "user", "password", "admin_user", "admin_password", "primary", "replicas")
		if !ok {
			continue
		}
		ks := &router.Keyspace{
			Name:     name,
			Database: l.fieldStr(key, f, "database"),
			User:     l.fieldStr(key, f, "user"),
			Password: l.fieldStr(key, f, "password"),
			Primary:  l.fieldStr(key, f, "primary"),

			AdminUser:     l.fieldStr(key, f, "admin_user"),
			AdminPassword: l.fieldStr(key, f, "admin_password"),
		}
		if ks.AdminUser == "" && ks.AdminPassword != "" {
			// Without the user the password would be silently unused (the engine runs as user).
			l.fail(key+".admin_password", "set but %s.admin_user is not", key)
		}
		if ks.Database == "" {
			ks.Database = name
		}
		seen := map[string]string{}
		if ks.Primary == "" {
			l.fail(key+".primary", "required")
		} else if err := checkHostPort(ks.Primary, false); err != nil {
			l.fail(key+".primary", "%v", err)
		} else {
			seen[ks.Primary] = key + ".primary"
		}
		ks.Replicas = l.replicas(key+".replicas", f["replicas"], seen)
		out[name] = ks
	}
	return out
}

// replicas reads a keyspace's replica list; an entry is {address, type} or just "host:port"
// (a replica). seen maps addresses already used in the keyspace to their key.
func (l *loader) replicas(key string, x any, seen map[string]string) []router.Server {
	if x == nil {
		return nil
	}
	list, ok := x.([]any)
	if !ok {
		l.fail(key, "want a list of {address, type}, got %s", describe(x))
		return nil
	}
	var out []router.Server
	for i, item := range list {
		ikey := fmt.Sprintf("%s[%d]", key, i)
		var addr, typ string
		if s, ok := item.(string); ok {
			addr = strings.TrimSpace(s)
		} else {
			f, ok := l.fields(ikey, item, "address", "type")
			if !ok {
				continue
			}
			addr, typ = l.fieldStr(ikey, f, "address"), l.fieldStr(ikey, f, "type")
		}
		srv := router.Server{Address: addr, Type: router.Replica}
		switch {
		case addr == "":
			l.fail(ikey+".address", "required")
		case checkHostPort(addr, false) != nil:
			l.fail(ikey+".address", "%v", checkHostPort(addr, false))
		case seen[addr] != "":
			l.fail(ikey+".address", "%s is already used by %s", addr, seen[addr])
		default:
			seen[addr] = ikey
		}
		if typ != "" {
			tt, err := router.ParseTabletType(typ)
			switch {
			case err != nil:
				l.fail(ikey+".type", "unknown tablet type %q (want replica or rdonly)", typ)
			case tt == router.Primary:
				l.fail(ikey+".type", "%q is not allowed here (the primary is %s.primary)", typ, strings.TrimSuffix(key, ".replicas"))
			default:
				srv.Type = tt
			}
		}
		out = append(out, srv)
	}
	return out
}

func (l *loader) users(keyspaces map[string]*router.Keyspace) []User {
	x := l.raw["users"]
	list, ok := x.([]any)
	if x != nil && !ok {
		l.fail("users", "want a list of {name, password, admin, keyspaces, backend_user, backend_password}, got %s", describe(x))
		return nil
	}
	if len(list) == 0 {
		l.fail("users", "at least one user is required")
		return nil
	}
	var out []User
	names := map[string]string{}
	for i, item := range list {
		key := fmt.Sprintf("users[%d]", i)
		f, ok := l.fields(key, item, "name", "password", "admin", "keyspaces", "backend_user", "backend_password")
		if !ok {
			continue
		}
		u := User{Name: l.fieldStr(key, f, "name")}
		switch {
		case u.Name == "":
			l.fail(key+".name", "required")
		case names[u.Name] != "":
			l.fail(key+".name", "duplicate user %q (also %s)", u.Name, names[u.Name])
		default:
			names[u.Name] = key
		}
		pw := l.fieldStr(key, f, "password")
		if strings.HasPrefix(pw, "*") {
			h, ok := parseNativeHash(pw)
			if !ok {
				l.fail(key+".password", "%q is not a valid native password hash (want * followed by 40 hex digits)", pw)
			}
			u.PasswordHash = h
		} else {
			u.Password = pw
		}
		switch a := f["admin"].(type) {
		case nil:
		case bool:
			u.Admin = a
		default:
			l.fail(key+".admin", "%s is not a boolean (want true or false)", describe(a))
		}
		u.Keyspaces = l.userKeyspaces(key+".keyspaces", f["keyspaces"], keyspaces)
		u.BackendUser = l.fieldStr(key, f, "backend_user")
		u.BackendPassword = l.fieldStr(key, f, "backend_password")
		if u.BackendUser == "" && u.BackendPassword != "" {
			l.fail(key+".backend_password", "set but %s.backend_user is not", key)
		}
		out = append(out, u)
	}
	l.checkBackendAccounts(out, keyspaces)
	return out
}

// checkBackendAccounts refuses one backend account name given two passwords, by two users or
// by a user and a keyspace it may use: the proxy keeps one pool per server and account
// name, so one of the two could never log in, or the pool would be rebuilt over and over.
func (l *loader) checkBackendAccounts(users []User, keyspaces map[string]*router.Keyspace) {
	type given struct{ password, key string }
	seen := map[string]given{}
	for i, u := range users {
		if u.BackendUser == "" {
			continue
		}
		key := fmt.Sprintf("users[%d].backend_password", i)
		if g, ok := seen[u.BackendUser]; ok && g.password != u.BackendPassword {
			l.fail(key, "backend account %q has another password in %s", u.BackendUser, g.key)
			continue
		}
		seen[u.BackendUser] = given{u.BackendPassword, key}
		for _, name := range sortedKeys(keyspaces) {
			if k := keyspaces[name]; u.CanUse(name) && k.User == u.BackendUser && k.Password != u.BackendPassword {
				l.fail(key, "backend account %q has another password in keyspaces.%s.password", u.BackendUser, name)
			}
		}
	}
}

// userKeyspaces reads a user's keyspace list: absent means all (nil), [] means none.
func (l *loader) userKeyspaces(key string, x any, keyspaces map[string]*router.Keyspace) []string {
	if x == nil {
		return nil
	}
	list, ok := x.([]any)
	if !ok {
		l.fail(key, "want a list of keyspace names, got %s", describe(x))
		return nil
	}
	out := []string{}
	for j, item := range list {
		ks, ok := item.(string)
		if !ok {
			l.fail(fmt.Sprintf("%s[%d]", key, j), "want a keyspace name, got %s", describe(item))
			continue
		}
		if _, known := keyspaces[ks]; !known && !l.keyspaceNames[ks] {
			l.fail(fmt.Sprintf("%s[%d]", key, j), "unknown keyspace %q", ks)
			continue
		}
		out = append(out, ks)
	}
	return out
}

func (l *loader) vschemas(keyspaces map[string]*router.Keyspace) (map[string]string, map[string]*router.KeyspaceVSchema) {
	files, schemas := map[string]string{}, map[string]*router.KeyspaceVSchema{}
	x := l.raw["vschema"]
	if x == nil {
		return files, schemas
	}
	m, ok := asMap(x)
	if !ok {
		l.fail("vschema", "want a map of keyspace name to VSchema file, got %s", describe(x))
		return files, schemas
	}
	for _, ks := range sortedKeys(m) {
		key := "vschema." + ks
		if _, known := keyspaces[ks]; !known && !l.keyspaceNames[ks] {
			l.fail(key, "no keyspace %q in keyspaces", ks)
			continue
		}
		p := l.fieldStr("vschema", m, ks)
		if p == "" {
			l.fail(key, "file name required")
			continue
		}
		p = l.resolve(p, true) // vschema: is only read from the file
		files[ks] = p
		b, err := os.ReadFile(p)
		if err != nil {
			l.fail(key, "%v", err)
			continue
		}
		vs := &router.KeyspaceVSchema{}
		if err := json.Unmarshal(b, vs); err != nil {
			l.fail(key, "parse %s: %v", p, err)
			continue
		}
		if vs.Sharded {
			l.fail(key, "%s: sharded VSchemas are not supported", p)
			continue
		}
		if vs.Tables == nil {
			vs.Tables = map[string]json.RawMessage{}
		}
		schemas[ks] = vs
	}
	return files, schemas
}

func (l *loader) routingRules() (string, map[string]string) {
	p := l.resolvePath("routing_rules", l.str("routing_rules"))
	if p == "" {
		return "", map[string]string{}
	}
	b, err := os.ReadFile(p)
	if err != nil {
		l.fail("routing_rules", "%v", err)
		return p, map[string]string{}
	}
	rules, err := router.ParseRulesJSON(b)
	if err != nil {
		l.fail("routing_rules", "parse %s: %v", p, err)
		return p, map[string]string{}
	}
	return p, rules
}
