package examples

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/vtgate-lite/vtgate-lite/config"
)

// repoRoot is the repository root: tests run in the package directory, examples/.
const repoRoot = ".."

// compose is the part of docker-compose.yml these checks read.
type compose struct {
	Services map[string]struct {
		Image     string   `yaml:"image"`
		Build     any      `yaml:"build"` // "path" or {context, dockerfile}
		Volumes   []any    `yaml:"volumes"`
		EnvFile   any      `yaml:"env_file"`
		DependsOn any      `yaml:"depends_on"`
		Command   any      `yaml:"command"`
		Ports     []string `yaml:"ports"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

// mount is one volume of a service: a bind mount (Host set) or a named volume.
type mount struct {
	Host      string // path on the host, relative to the repository root; "" for a named volume
	Named     string
	Container string
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func loadCompose(t *testing.T) compose {
	t.Helper()
	var c compose
	readYAML(t, filepath.Join(repoRoot, "docker-compose.yml"), &c)
	if len(c.Services) == 0 {
		t.Fatal("docker-compose.yml: no services")
	}
	return c
}

// mounts parses a service's volumes, short ("src:dst[:mode]") and long ({type, source, target}) syntax.
func mounts(t *testing.T, service string, vols []any) []mount {
	t.Helper()
	var out []mount
	for _, v := range vols {
		var src, dst, typ string
		switch v := v.(type) {
		case string:
			parts := strings.Split(v, ":")
			if len(parts) < 2 {
				t.Errorf("service %s: volume %q has no container path", service, v)
				continue
			}
			src, dst = parts[0], parts[1]
		case map[string]any:
			typ, _ = v["type"].(string)
			src, _ = v["source"].(string)
			dst, _ = v["target"].(string)
		default:
			t.Errorf("service %s: volume %v: unexpected form", service, v)
			continue
		}
		m := mount{Container: dst}
		if typ == "bind" || strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
			m.Host = src
		} else {
			m.Named = src
		}
		out = append(out, m)
	}
	return out
}

// hostPath maps a path inside a service's container to the host file mounted there.
func hostPath(ms []mount, container string) (string, bool) {
	for _, m := range ms {
		if m.Host == "" {
			continue
		}
		if container == m.Container {
			return m.Host, true
		}
		if rel, ok := strings.CutPrefix(container, strings.TrimSuffix(m.Container, "/")+"/"); ok {
			return filepath.Join(m.Host, rel), true
		}
	}
	return "", false
}

func mustExist(t *testing.T, what, path string, wantDir bool) {
	t.Helper()
	fi, err := os.Stat(filepath.Join(repoRoot, path))
	switch {
	case err != nil:
		t.Errorf("%s: %v", what, err)
	case wantDir && !fi.IsDir():
		t.Errorf("%s: %s is not a directory", what, path)
	case !wantDir && fi.IsDir():
		t.Errorf("%s: %s is a directory, want a file", what, path)
	}
}

// TestComposeReferencedFilesExist checks every host file docker-compose.yml names: build
// contexts and Dockerfiles, bind-mounted files and directories, env files; and that named
// volumes are declared and depends_on names services.
func TestComposeReferencedFilesExist(t *testing.T) {
	c := loadCompose(t)
	for name, s := range c.Services {
		if s.Image == "" && s.Build == nil {
			t.Errorf("service %s: neither image nor build", name)
		}
		switch b := s.Build.(type) {
		case nil:
		case string:
			mustExist(t, "service "+name+" build context", b, true)
			mustExist(t, "service "+name+" Dockerfile", filepath.Join(b, "Dockerfile"), false)
		case map[string]any:
			ctx, _ := b["context"].(string)
			if ctx == "" {
				ctx = "."
			}
			df, _ := b["dockerfile"].(string)
			if df == "" {
				df = "Dockerfile"
			}
			mustExist(t, "service "+name+" build context", ctx, true)
			mustExist(t, "service "+name+" dockerfile", filepath.Join(ctx, df), false)
		default:
			t.Errorf("service %s: build: unexpected form %v", name, b)
		}
		for _, m := range mounts(t, name, s.Volumes) {
			if m.Host == "" {
				if _, ok := c.Volumes[m.Named]; !ok {
					t.Errorf("service %s: named volume %q is not declared under volumes:", name, m.Named)
				}
				continue
			}
			// A container path with an extension is a single file (config, init script).
			mustExist(t, "service "+name+" volume "+m.Host, m.Host, filepath.Ext(m.Container) == "")
		}
		switch ef := s.EnvFile.(type) {
		case string:
			mustExist(t, "service "+name+" env_file", ef, false)
		case []any:
			for _, f := range ef {
				if f, ok := f.(string); ok {
					mustExist(t, "service "+name+" env_file", f, false)
				}
			}
		}
		var deps []string
		switch d := s.DependsOn.(type) {
		case []any:
			for _, x := range d {
				deps = append(deps, x.(string))
			}
		case map[string]any:
			for x := range d {
				deps = append(deps, x)
			}
		}
		for _, d := range deps {
			if _, ok := c.Services[d]; !ok {
				t.Errorf("service %s depends on unknown service %q", name, d)
			}
		}
	}
}

// hostOf returns the host part of "host:port", or "" when addr is not of that form.
func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return h
}

// TestComposeVtgateLiteConfig checks the config vtgate-lite gets in docker-compose.yml: it is
// mounted where the service's command says, it points at compose services, and each
// vschema file it names is mounted too and is a valid vschema.
func TestComposeVtgateLiteConfig(t *testing.T) {
	c := loadCompose(t)
	s, ok := c.Services["vtgate-lite"]
	if !ok {
		t.Fatal("docker-compose.yml has no vtgate-lite service")
	}
	ms := mounts(t, "vtgate-lite", s.Volumes)
	args, _ := s.Command.([]any)
	cfgPath := ""
	for i, a := range args {
		if a == "--config" && i+1 < len(args) {
			cfgPath, _ = args[i+1].(string)
		}
	}
	if cfgPath == "" {
		t.Fatalf("vtgate-lite command %v has no --config FILE", s.Command)
	}
	host, ok := hostPath(ms, cfgPath)
	if !ok {
		t.Fatalf("vtgate-lite config %s is not mounted from the host", cfgPath)
	}
	var cfg struct {
		Listen     string `yaml:"listen"`
		HTTPListen string `yaml:"http_listen"`
		Keyspaces  map[string]struct {
			Database string `yaml:"database"`
			Primary  string `yaml:"primary"`
			Replicas []struct {
				Address string `yaml:"address"`
				Type    string `yaml:"type"`
			} `yaml:"replicas"`
		} `yaml:"keyspaces"`
		VSchema map[string]string `yaml:"vschema"`
	}
	readYAML(t, filepath.Join(repoRoot, host), &cfg)
	if cfg.Listen == "" || cfg.HTTPListen == "" {
		t.Errorf("%s: listen and http_listen must be set", host)
	}
	if len(cfg.Keyspaces) == 0 {
		t.Fatalf("%s: no keyspaces", host)
	}
	for ks, k := range cfg.Keyspaces {
		addrs := []string{k.Primary}
		for _, r := range k.Replicas {
			addrs = append(addrs, r.Address)
			if r.Type != "replica" && r.Type != "rdonly" {
				t.Errorf("keyspace %s: replica %s has type %q, want replica or rdonly", ks, r.Address, r.Type)
			}
		}
		for _, a := range addrs {
			if _, ok := c.Services[hostOf(a)]; !ok {
				t.Errorf("keyspace %s: backend %q is not host:port of a compose service", ks, a)
			}
		}
		vs, ok := cfg.VSchema[ks]
		if !ok {
			t.Errorf("keyspace %s has no vschema", ks)
			continue
		}
		vsHost, ok := hostPath(ms, vs)
		if !ok {
			t.Errorf("keyspace %s: vschema %s is not mounted into the vtgate-lite service", ks, vs)
			continue
		}
		checkVSchema(t, filepath.Join(repoRoot, vsHost))
	}

	// The config package must accept the file as it will be inside the container: the
	// same file with container paths mapped to the host files mounted there.
	var raw map[string]any
	readYAML(t, filepath.Join(repoRoot, host), &raw)
	raw["state_dir"] = t.TempDir()
	if vs, ok := raw["vschema"].(map[string]any); ok {
		for ks, p := range vs {
			if h, ok := hostPath(ms, fmt.Sprint(p)); ok {
				abs, err := filepath.Abs(filepath.Join(repoRoot, h))
				if err != nil {
					t.Fatal(err)
				}
				vs[ks] = abs
			}
		}
	}
	b, err := yaml.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(t.TempDir(), "vtgate-lite.yaml")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(tmp, nil); err != nil {
		t.Errorf("config.Load rejects %s (container paths mapped to the host):\n%v", host, err)
	}
}

// TestComposeMonitoring checks the Prometheus and Grafana provisioning docker-compose.yml mounts.
func TestComposeMonitoring(t *testing.T) {
	c := loadCompose(t)

	prom, ok := c.Services["prometheus"]
	if !ok {
		t.Fatal("no prometheus service")
	}
	promCfg, ok := hostPath(mounts(t, "prometheus", prom.Volumes), "/etc/prometheus/prometheus.yml")
	if !ok {
		t.Fatal("prometheus: /etc/prometheus/prometheus.yml is not mounted")
	}
	var pc struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, filepath.Join(repoRoot, promCfg), &pc)
	var targets []string
	for _, sc := range pc.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			targets = append(targets, st.Targets...)
		}
	}
	if !slices.Contains(targets, "vtgate-lite:15000") {
		t.Errorf("%s: scrape targets %v do not include vtgate-lite:15000", promCfg, targets)
	}

	graf, ok := c.Services["grafana"]
	if !ok {
		t.Fatal("no grafana service")
	}
	gm := mounts(t, "grafana", graf.Volumes)
	dsFile, ok := hostPath(gm, "/etc/grafana/provisioning/datasources/prometheus.yml")
	if !ok {
		t.Fatal("grafana: no datasource provisioning mounted")
	}
	var ds struct {
		Datasources []struct {
			UID  string `yaml:"uid"`
			Type string `yaml:"type"`
			URL  string `yaml:"url"`
		} `yaml:"datasources"`
	}
	readYAML(t, filepath.Join(repoRoot, dsFile), &ds)
	uids := map[string]bool{}
	for _, d := range ds.Datasources {
		uids[d.UID] = true
		if d.Type == "prometheus" && !strings.Contains(d.URL, "//prometheus:9090") {
			t.Errorf("datasource %s points at %s, want the prometheus service", d.UID, d.URL)
		}
	}
	provFile, ok := hostPath(gm, "/etc/grafana/provisioning/dashboards/vtgate-lite.yml")
	if !ok {
		t.Fatal("grafana: no dashboard provisioning mounted")
	}
	var prov struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, filepath.Join(repoRoot, provFile), &prov)
	if len(prov.Providers) == 0 {
		t.Fatalf("%s: no providers", provFile)
	}
	for _, p := range prov.Providers {
		dir, ok := hostPath(gm, p.Options.Path)
		if !ok {
			t.Errorf("dashboard provider path %s is not mounted into grafana", p.Options.Path)
			continue
		}
		files, _ := filepath.Glob(filepath.Join(repoRoot, dir, "*.json"))
		if len(files) == 0 {
			t.Errorf("no dashboards in %s", dir)
		}
		for _, f := range files {
			checkDashboard(t, f, uids)
		}
	}
}

// checkDashboard: valid JSON, every panel queries a provisioned datasource with an expression.
func checkDashboard(t *testing.T, path string, uids map[string]bool) {
	t.Helper()
	var d struct {
		UID    string `json:"uid"`
		Title  string `json:"title"`
		Panels []struct {
			Title      string `json:"title"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	readJSON(t, path, &d)
	if d.UID == "" || d.Title == "" || len(d.Panels) == 0 {
		t.Errorf("%s: want uid, title and panels", path)
	}
	var exprs []string
	for _, p := range d.Panels {
		if !uids[p.Datasource.UID] {
			t.Errorf("%s: panel %q uses datasource uid %q, which is not provisioned", path, p.Title, p.Datasource.UID)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: panel %q has no query", path, p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Expr == "" {
				t.Errorf("%s: panel %q has an empty query", path, p.Title)
			}
			exprs = append(exprs, tg.Expr)
		}
	}
	if filepath.Base(path) == "vtgate-lite.json" {
		for _, metric := range []string{
			"vtgate_lite_queries_total", "vtgate_lite_query_duration_seconds_bucket",
			"vtgate_lite_migration_rows_copied_total", "vtgate_lite_migration_lag_seconds",
			"vtgate_lite_switch_hold_seconds_bucket", "vtgate_lite_migration_switch_longest_hold_seconds",
		} {
			if !strings.Contains(strings.Join(exprs, "\n"), metric) {
				t.Errorf("%s: no panel shows %s", path, metric)
			}
		}
	}
}

// checkVSchema: a Vitess-style vschema, {"tables": {name: {...}}} with at least one table.
func checkVSchema(t *testing.T, path string) {
	t.Helper()
	var vs struct {
		Tables map[string]json.RawMessage `json:"tables"`
	}
	readJSON(t, path, &vs)
	if len(vs.Tables) == 0 {
		t.Errorf("%s: no tables", path)
	}
}

// TestVSchemaFilesParse checks the example vschemas: each parses and lists the tables the
// table-migration walkthrough expects.
func TestVSchemaFilesParse(t *testing.T) {
	want := map[string][]string{
		"vschema_commerce_initial.json": {"corder", "customer", "product"},
		"vschema_commerce_vsplit.json":  {"product"},
		"vschema_customer_vsplit.json":  {"corder", "customer"},
	}
	files, _ := filepath.Glob("local/*.json")
	if len(files) < len(want) {
		t.Errorf("found %v, want at least %d vschema files", files, len(want))
	}
	for _, f := range files {
		var vs struct {
			Tables map[string]json.RawMessage `json:"tables"`
		}
		readJSON(t, f, &vs)
		if w, ok := want[filepath.Base(f)]; ok {
			var got []string
			for name := range vs.Tables {
				got = append(got, name)
			}
			slices.Sort(got)
			if !slices.Equal(got, w) {
				t.Errorf("%s: tables %v, want %v", f, got, w)
			}
		}
	}
}

// TestLocalScripts checks every shell script in examples/local is executable and parses.
func TestLocalScripts(t *testing.T) {
	scripts, _ := filepath.Glob("local/*.sh")
	if len(scripts) == 0 {
		t.Fatal("no scripts in examples/local")
	}
	for _, s := range append(scripts, filepath.Join(repoRoot, ".ci", "run")) {
		fi, err := os.Stat(s)
		if err != nil {
			t.Error(err)
			continue
		}
		if fi.Mode()&0o111 == 0 {
			t.Errorf("%s is not executable (chmod +x)", s)
		}
		if out, err := exec.Command("bash", "-n", s).CombinedOutput(); err != nil {
			t.Errorf("bash -n %s: %v\n%s", s, err, out)
		}
	}
}

// TestComposeBackendAccounts checks that vtgate-lite in docker-compose.yml never logs in to
// MySQL as root: each keyspace has a query account (user) and an engine account (admin_user),
// and an init script of the primary creates both with the password the config gives.
func TestComposeBackendAccounts(t *testing.T) {
	c := loadCompose(t)
	var cfg struct {
		Keyspaces map[string]struct {
			User          string `yaml:"user"`
			Password      string `yaml:"password"`
			AdminUser     string `yaml:"admin_user"`
			AdminPassword string `yaml:"admin_password"`
		} `yaml:"keyspaces"`
	}
	readYAML(t, filepath.Join(repoRoot, "deploy", "vtgate-lite.yaml"), &cfg)
	var initSQL strings.Builder
	for _, m := range mounts(t, "mysql-primary", c.Services["mysql-primary"].Volumes) {
		if m.Host != "" && strings.HasPrefix(m.Container, "/docker-entrypoint-initdb.d/") {
			b, err := os.ReadFile(filepath.Join(repoRoot, m.Host))
			if err != nil {
				t.Fatal(err)
			}
			initSQL.Write(b)
		}
	}
	for ks, k := range cfg.Keyspaces {
		if k.User == "" || k.User == "root" || k.AdminUser == "" || k.AdminUser == "root" || k.User == k.AdminUser {
			t.Errorf("keyspace %s: user %q, admin_user %q: want two accounts, neither root", ks, k.User, k.AdminUser)
		}
		for _, a := range [][2]string{{k.User, k.Password}, {k.AdminUser, k.AdminPassword}} {
			if want := fmt.Sprintf("CREATE USER IF NOT EXISTS '%s'@'%%' IDENTIFIED BY '%s'", a[0], a[1]); !strings.Contains(initSQL.String(), want) {
				t.Errorf("keyspace %s: no init script of mysql-primary has %q", ks, want)
			}
		}
	}
	for _, svc := range []string{"mysql-primary", "mysql-replica"} {
		args, _ := c.Services[svc].Command.([]any)
		if !slices.Contains(args, any("--log-bin-trust-function-creators=ON")) {
			t.Errorf("%s: command lacks --log-bin-trust-function-creators=ON (the engine creates deny triggers without SUPER)", svc)
		}
	}
}

// TestSecurityDocQuotesGrants: docs/security.md shows examples/common/grants.sql verbatim, the
// file the local example applies and cmd/vtgate-lite's TestLeastPrivilegeAccounts proves.
func TestSecurityDocQuotesGrants(t *testing.T) {
	grants, err := os.ReadFile(filepath.Join("common", "grants.sql"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "security.md"))
	if err != nil {
		t.Fatal(err)
	}
	want := "<!-- grants.sql begin -->\n```sql\n" + string(grants) + "```\n<!-- grants.sql end -->"
	if !strings.Contains(string(doc), want) {
		t.Errorf("docs/security.md does not quote examples/common/grants.sql as it is; put this between its grants.sql markers:\n%s", want)
	}
	// The local example uses the file and logs in to the backends with its accounts, not root.
	env, err := os.ReadFile(filepath.Join("local", "env.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"grants.sql", `BACKEND_APP_USER="${BACKEND_APP_USER:-vtgate_app}"`, `BACKEND_ENGINE_USER="${BACKEND_ENGINE_USER:-vtgate_engine}"`} {
		if !strings.Contains(string(env), want) {
			t.Errorf("examples/local/env.sh lacks %s", want)
		}
	}
	for _, s := range []string{"101_initial_cluster.sh", "201_customer_tablets.sh"} {
		b, err := os.ReadFile(filepath.Join("local", s))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "user: root") || !strings.Contains(string(b), "keyspace_accounts") {
			t.Errorf("%s: the keyspace entry it writes must use keyspace_accounts, not root", s)
		}
	}
}
