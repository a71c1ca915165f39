package migration

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vtgate-lite/vtgate-lite/router"
	"github.com/vtgate-lite/vtgate-lite/sqlerr"
)

// Result is what an admin statement returns: a result set and/or an info message.
type Result struct {
	Columns []string
	Rows    [][]string
	Info    string
}

// Config configures the engine.
type Config struct {
	Routing           *router.Holder
	CopyBatchRows     int           // default 10000 (bounds memory)
	CopyRowsPerSecond int           // 0 = unlimited
	MaxSourceLag      time.Duration // pause copy while the source replica lags more; default 30s
	ServerIDBase      uint32        // binlog client server ids; default 1_000_000 + random
	Logger            *slog.Logger
	// CopyWriters is how many target connections write one copy batch in parallel; default 3.
	CopyWriters int
	// BackendTLS (backend_tls; nil = plain TCP) is used by every connection to a backend,
	// binlog streams included.
	BackendTLS *tls.Config
	// StepHook, for tests only, is called at each step of MIGRATE WRITES ("drained",
	// "stopped", "prepared", "lifted" when an earlier switch had denied the new side,
	// "swapped") and MIGRATE COMPLETE ("complete:journaled",
	// "complete:routed", "complete:reverse-removed", "complete:tables-done"); an error
	// abandons the command there, as a crash would. The chaos suite makes the binary block at
	// one step (VTGATE_LITE_TEST_PAUSE_AT) and kills it there.
	StepHook func(step string) error
}

// Engine runs every workflow of every keyspace.
type Engine struct {
	cfg      Config
	metrics  *metrics
	quietLog *slog.Logger

	mu        sync.Mutex
	runners   map[string]*runner // by target.workflow
	runCtx    context.Context
	wg        sync.WaitGroup
	found     map[string]bool // keyspaces whose sidecar was read
	createMu  sync.Mutex      // serializes MIGRATE TABLES validation + creation
	vdiffs    sync.WaitGroup
	startedCh chan struct{}
	sw        switcher // traffic switching (switch.go)
}

// NewEngine builds an engine; nothing runs before Run.
func NewEngine(cfg Config) *Engine {
	if cfg.CopyBatchRows <= 0 {
		cfg.CopyBatchRows = 10000
	}
	if cfg.CopyWriters <= 0 {
		cfg.CopyWriters = 3
	}
	if cfg.MaxSourceLag == 0 {
		cfg.MaxSourceLag = 30 * time.Second
	}
	if cfg.ServerIDBase == 0 {
		cfg.ServerIDBase = 1_000_000 + rand.Uint32N(1_000_000)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Engine{cfg: cfg, metrics: defaultMetrics(), runners: map[string]*runner{}, found: map[string]bool{},
		quietLog: slog.New(slog.NewTextHandler(io.Discard, nil)), startedCh: make(chan struct{}),
		sw: switcher{hook: cfg.StepHook}}
}

// Run discovers workflows from the sidecar schema on every keyspace's primary and runs them
// until ctx is cancelled. Keyspaces whose primary is unreachable are retried.
func (e *Engine) Run(ctx context.Context) error {
	ctx = withBackendTLS(ctx, e.cfg.BackendTLS)
	e.mu.Lock()
	if e.runCtx != nil {
		e.mu.Unlock()
		return errors.New("migration engine already running")
	}
	e.runCtx = ctx
	for _, r := range e.runners {
		e.startLocked(r)
	}
	e.mu.Unlock()
	close(e.startedCh)
	backoff := time.Second
	for {
		if e.discover(ctx) {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
			backoff = min(backoff*2, 30*time.Second)
			continue
		}
		break
	}
	if ctx.Err() == nil {
		e.recoverSwitches(ctx) // write switches a crash interrupted (switch.go)
	}
	<-ctx.Done()
	e.wg.Wait()
	e.vdiffs.Wait()
	return nil
}

// discover reads the sidecar of each keyspace not read yet; it reports whether all were read.
func (e *Engine) discover(ctx context.Context) bool {
	t := e.cfg.Routing.Load()
	all := true
	for _, name := range t.KeyspaceNames() {
		e.mu.Lock()
		done := e.found[name]
		e.mu.Unlock()
		if done {
			continue
		}
		ks, _ := t.Keyspace(name)
		recs, err := e.readSidecar(ctx, ks)
		if err != nil {
			e.cfg.Logger.Warn("migration: cannot read sidecar, will retry", "keyspace", name, "err", err)
			all = false
			continue
		}
		e.mu.Lock()
		e.found[name] = true
		for _, rec := range recs {
			if _, ok := e.runners[rec.ref().String()]; ok {
				continue
			}
			r := newRunner(e, rec)
			e.runners[rec.ref().String()] = r
			e.startLocked(r)
		}
		e.mu.Unlock()
	}
	return all
}

func (e *Engine) readSidecar(ctx context.Context, ks *router.Keyspace) ([]*wfRecord, error) {
	c, err := dial(ctx, ks, ks.Primary, false)
	if err != nil {
		return nil, err
	}
	defer c.close()
	res, err := c.exec("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA='" + sidecarDB + "' AND TABLE_NAME='workflow'")
	if err != nil {
		return nil, err
	}
	if n, _ := res.GetInt(0, 0); n == 0 {
		return nil, nil
	}
	if err := ensureSidecar(c); err != nil { // adds tables a newer version introduced
		return nil, err
	}
	// A diff that was running when the previous process died cannot continue: say so.
	if _, err := c.exec("UPDATE " + sidecarDB + ".vdiff SET state='error', message='interrupted by a restart of vtgate-lite; run VDIFF again' WHERE state='running' AND keyspace=" + quote(ks.Name)); err != nil {
		return nil, err
	}
	return loadWorkflows(c, ks.Name, "")
}

func (e *Engine) startLocked(r *runner) {
	if e.runCtx == nil {
		return
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		r.run(e.runCtx)
	}()
}

func (e *Engine) forget(r *runner) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.runners[r.ref.String()] == r {
		delete(e.runners, r.ref.String())
	}
	e.metrics.forget(r.ref)
}

func (e *Engine) runner(ref WorkflowRef) (*runner, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, ok := e.runners[ref.String()]
	if !ok {
		return nil, sqlerr.New(sqlerr.ERWrongArguments, "HY000", "unknown workflow %s", ref)
	}
	return r, nil
}

// progress is called when a runner loaded fresh state.
func (e *Engine) progress(r *runner) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for t, cs := range r.copy {
		e.metrics.rowsTotal.WithLabelValues(r.ref.String(), t).Set(float64(cs.RowsTotal))
	}
}

// Exec runs an admin command. The caller has checked that the user is an admin.
func (e *Engine) Exec(ctx context.Context, cmd Command) (*Result, error) {
	ctx = withBackendTLS(ctx, e.cfg.BackendTLS)
	switch c := cmd.(type) {
	case MigrateTables:
		return e.migrateTables(ctx, c)
	case ShowMigrations:
		return e.showMigrations(), nil
	case ShowMigration:
		return e.showMigration(c.Ref)
	case MigrateStop:
		return e.simple(ctx, c.Ref, EvStop{}, "stopped")
	case MigrateStart:
		if err := e.guardStart(c.Ref); err != nil {
			return nil, err
		}
		return e.simple(ctx, c.Ref, EvStart{}, "started")
	case MigrateCancel:
		return e.migrateCancel(ctx, c) // switch.go: guards, and removes a reverse workflow too
	case VDiff:
		return e.startVDiff(ctx, c.Ref)
	case ShowVDiff:
		return e.showVDiff(ctx, c)
	case MigrateReads:
		return e.migrateReads(ctx, c)
	case MigrateWrites:
		return e.switchWrites(ctx, c) // switch.go, switchfsm.go
	case MigrateComplete:
		return e.migrateComplete(ctx, c)
	}
	return nil, sqlerr.Unsupported("%T", cmd)
}

func (e *Engine) simple(ctx context.Context, ref WorkflowRef, ev Event, verb string) (*Result, error) {
	r, err := e.runner(ref)
	if err != nil {
		return nil, err
	}
	if err := r.command(ctx, ev); err != nil {
		return nil, sqlerr.New(sqlerr.ERWrongArguments, "HY000", "workflow %s: %v", ref, err)
	}
	return &Result{Info: fmt.Sprintf("workflow %s %s", ref, verb)}, nil
}

func refuse(format string, args ...any) *sqlerr.Error {
	return sqlerr.New(sqlerr.ERWrongArguments, "HY000", "MIGRATE TABLES refused: "+format, args...)
}

func (e *Engine) migrateTables(ctx context.Context, c MigrateTables) (*Result, error) {
	e.createMu.Lock()
	defer e.createMu.Unlock()
	rt := e.cfg.Routing.Load()
	sks, ok := rt.Keyspace(c.Source)
	if !ok {
		return nil, refuse("unknown source keyspace %s", c.Source)
	}
	tks, ok := rt.Keyspace(c.Target)
	if !ok {
		return nil, refuse("unknown target keyspace %s", c.Target)
	}
	if c.Source == c.Target {
		return nil, refuse("source and target keyspace are both %s", c.Source)
	}
	ref := WorkflowRef{c.Target, c.Workflow}
	seen := map[string]bool{}
	for _, t := range c.Tables {
		if seen[strings.ToLower(t)] {
			return nil, refuse("table %s is listed twice", t)
		}
		seen[strings.ToLower(t)] = true
	}
	e.mu.Lock()
	if _, exists := e.runners[ref.String()]; exists {
		e.mu.Unlock()
		return nil, refuse("workflow %s already exists", ref)
	}
	for _, r := range e.runners {
		r.mu.Lock()
		rec, phase := r.rec, r.st.Phase
		r.mu.Unlock()
		if phase == Completed {
			continue
		}
		for _, t := range rec.Tables {
			if (rec.Source == c.Source || rec.Keyspace == c.Target || rec.Source == c.Target || rec.Keyspace == c.Source) && seen[strings.ToLower(t)] {
				e.mu.Unlock()
				return nil, refuse("table %s is already in workflow %s (%s)", t, r.ref, phase)
			}
		}
	}
	e.mu.Unlock()

	// Source checks: binlog settings on every server we may read, table keys.
	src, err := dial(ctx, sks, sks.Primary, false)
	if err != nil {
		return nil, sqlerr.Wrap(err, sqlerr.ERUnknown, "HY000", "MIGRATE TABLES: cannot reach source primary: %v", err)
	}
	defer src.close()
	flavor, err := detectFlavor(src)
	if err != nil {
		return nil, sqlerr.FromError(err)
	}
	servers := append([]string{sks.Primary}, sks.Servers(router.Replica)...)
	servers = append(servers, sks.Servers(router.Rdonly)...)
	for _, addr := range servers {
		if err := checkBinlog(ctx, sks, addr); err != nil {
			return nil, err
		}
	}
	if c.CopyFromSet && len(sks.Servers(c.CopyFrom)) == 0 {
		return nil, refuse("COPY FROM %s: keyspace %s has no %s server", strings.ToUpper(c.CopyFrom.String()), c.Source, c.CopyFrom)
	}
	infos := map[string]*tableInfo{}
	creates := map[string]string{}
	for _, t := range c.Tables {
		ti, err := loadTableInfo(src, sks.Database, t)
		switch {
		case errors.Is(err, errNoTable):
			return nil, sqlerr.New(sqlerr.ERNoSuchTable, "42S02", "MIGRATE TABLES refused: table %s.%s doesn't exist", c.Source, t)
		case errors.Is(err, errNoKey):
			return nil, refuse("table %s.%s has neither a primary key nor a unique key on NOT NULL columns", c.Source, t)
		case err != nil:
			return nil, sqlerr.FromError(err)
		}
		ti.Name = t
		infos[t] = ti
		res, err := src.exec("SHOW CREATE TABLE " + ident(sks.Database) + "." + ident(t))
		if err != nil {
			return nil, sqlerr.FromError(err)
		}
		stmt, _ := res.GetString(0, 1)
		creates[t] = stmt
	}

	// Target checks: tables absent or empty; create the missing ones.
	tgt, err := dial(ctx, tks, tks.Primary, false)
	if err != nil {
		return nil, sqlerr.Wrap(err, sqlerr.ERUnknown, "HY000", "MIGRATE TABLES: cannot reach target primary: %v", err)
	}
	defer tgt.close()
	if err := ensureSidecar(tgt); err != nil {
		return nil, sqlerr.FromError(err)
	}
	// The sidecar is the truth even before discovery has read it.
	existing, err := loadWorkflows(tgt, c.Target, "")
	if err != nil {
		return nil, sqlerr.FromError(err)
	}
	for _, w := range existing {
		if w.Name == c.Workflow {
			return nil, refuse("workflow %s already exists", ref)
		}
		for _, t := range w.Tables {
			if seen[strings.ToLower(t)] && w.Phase != Completed {
				return nil, refuse("table %s is already in workflow %s (%s)", t, w.ref(), w.Phase)
			}
		}
	}
	if _, err := tgt.exec("CREATE DATABASE IF NOT EXISTS " + ident(tks.Database)); err != nil {
		return nil, sqlerr.FromError(err)
	}
	deferred := map[string][]string{}
	var toCreate []string
	for _, t := range c.Tables {
		_, err := loadTableInfo(tgt, tks.Database, t)
		if errors.Is(err, errNoTable) {
			toCreate = append(toCreate, t)
			continue
		}
		res, err := tgt.exec("SELECT 1 FROM " + ident(tks.Database) + "." + ident(t) + " LIMIT 1")
		if err != nil {
			return nil, sqlerr.FromError(err)
		}
		if res.RowNumber() > 0 {
			return nil, refuse("target table %s.%s already holds rows", c.Target, t)
		}
	}
	for _, t := range toCreate {
		stmt := creates[t]
		if c.DeferSecondaryKeys {
			keep := ""
			if infos[t].KeyName != "PRIMARY" {
				keep = infos[t].KeyName
			}
			stmt, deferred[t] = splitSecondaryKeys(stmt, keep)
		}
		if _, err := tgt.exec("USE " + ident(tks.Database)); err != nil {
			return nil, sqlerr.FromError(err)
		}
		if _, err := tgt.exec(stmt); err != nil {
			return nil, sqlerr.FromError(err)
		}
	}
	// Routing: every reference keeps going to the source until traffic is switched.
	if _, err := e.cfg.Routing.Update(func(s *router.Schema) error {
		setRules(s, c.Source, c.Target, c.Tables)
		for _, t := range c.Tables {
			s.AddTable(c.Target, t)
		}
		return nil
	}); err != nil {
		return nil, sqlerr.FromError(fmt.Errorf("update routing rules: %w", err))
	}
	rec := &wfRecord{Keyspace: c.Target, Name: c.Workflow, Source: c.Source, Tables: c.Tables, OnDDL: c.OnDDL,
		DeferKeys: c.DeferSecondaryKeys, Phase: Copying, Flavor: flavor}
	if c.CopyFromSet {
		rec.CopyFrom = c.CopyFrom.String()
	}
	stmts := []string{"BEGIN", insertWorkflowSQL(rec)}
	for _, t := range c.Tables {
		stmts = append(stmts, insertCopyStateSQL(ref, t, deferred[t]))
	}
	stmts = append(stmts, "COMMIT")
	for _, q := range stmts {
		if _, err := tgt.exec(q); err != nil {
			tgt.Execute("ROLLBACK")
			e.cfg.Routing.Update(func(s *router.Schema) error { removeRules(s, c.Source, c.Target, c.Tables); return nil })
			return nil, sqlerr.FromError(err)
		}
	}
	r := newRunner(e, rec)
	for _, t := range c.Tables {
		r.copy[t] = &copyState{Table: t, RowsTotal: -1}
	}
	e.mu.Lock()
	e.runners[ref.String()] = r
	e.startLocked(r)
	e.mu.Unlock()
	return &Result{Info: fmt.Sprintf("workflow %s created: copying %s from %s to %s", ref, strings.Join(c.Tables, ", "), c.Source, c.Target)}, nil
}

// checkBinlog refuses a source server whose binlog cannot feed a migration.
func checkBinlog(ctx context.Context, ks *router.Keyspace, addr string) error {
	c, err := dial(ctx, ks, addr, false)
	if err != nil {
		return sqlerr.Wrap(err, sqlerr.ERUnknown, "HY000", "cannot reach server %s of keyspace %s: %v", addr, ks.Name, err)
	}
	defer c.close()
	res, err := c.exec("SELECT @@GLOBAL.log_bin, @@GLOBAL.binlog_format, @@GLOBAL.binlog_row_image")
	if err != nil {
		return sqlerr.FromError(err)
	}
	logBin, _ := res.GetString(0, 0)
	format, _ := res.GetString(0, 1)
	image, _ := res.GetString(0, 2)
	if logBin != "1" && !strings.EqualFold(logBin, "ON") {
		return refuse("source server %s has the binary log off (log_bin=%s)", addr, logBin)
	}
	if !strings.EqualFold(format, "ROW") {
		return refuse("source server %s has binlog_format=%s; ROW is required", addr, format)
	}
	if !strings.EqualFold(image, "FULL") {
		return refuse("source server %s has binlog_row_image=%s; FULL is required", addr, image)
	}
	return nil
}

func (e *Engine) sortedRunners() []*runner {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []*runner
	for _, r := range e.runners {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *runner) int { return strings.Compare(a.ref.String(), b.ref.String()) })
	return out
}

func (e *Engine) showMigrations() *Result {
	res := &Result{Columns: []string{"workflow", "source", "target", "tables", "state", "reads_switched", "writes_switched", "rows_copied", "rows_total", "lag_seconds", "message"}}
	for _, r := range e.sortedRunners() {
		r.mu.Lock()
		var copied, total int64
		est := false
		for _, cs := range r.copy {
			copied += cs.RowsCopied
			if cs.RowsTotal < 0 {
				est = true
			} else {
				total += cs.RowsTotal
				est = est || !cs.TotalExact
			}
		}
		totalS := strconv.FormatInt(total, 10)
		if est {
			totalS = "~" + totalS
		}
		msg := r.st.Message
		if msg == "" && r.lastErr != "" {
			msg = r.lastErr
		}
		res.Rows = append(res.Rows, []string{r.ref.String(), r.rec.Source, r.ref.Keyspace, strings.Join(r.rec.Tables, ","),
			string(r.st.Phase), r.rec.ReadsSwitched, boolWord(r.rec.WritesSwitched), strconv.FormatInt(copied, 10), totalS,
			lagString(r), msg})
		r.mu.Unlock()
	}
	return res
}

func boolWord(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// lagString is the stream lag; copying workflows show the source commit age of the position.
// Caller holds r.mu.
func lagString(r *runner) string {
	switch r.st.Phase {
	case Running:
		return strconv.FormatFloat(r.lag, 'f', 1, 64)
	}
	return ""
}

func (e *Engine) showMigration(ref WorkflowRef) (*Result, error) {
	r, err := e.runner(ref)
	if err != nil {
		return nil, err
	}
	res := &Result{Columns: []string{"table", "state", "rows_copied", "rows_total", "pct", "rows_per_second", "eta", "position", "lag_seconds", "stream_source", "last_error"}}
	r.mu.Lock()
	defer r.mu.Unlock()
	lastErr := r.lastErr
	if lastErr == "" && (r.st.Phase == Error || strings.HasPrefix(r.st.Message, "retry") || strings.HasPrefix(r.st.Message, "copy throttled")) {
		lastErr = r.st.Message
	}
	for _, t := range r.rec.Tables {
		cs := r.copy[t]
		if cs == nil {
			cs = &copyState{Table: t, RowsTotal: -1}
		}
		state := "copying"
		switch {
		case cs.Done:
			state = "copied"
			if len(cs.DeferredKeys) > 0 {
				state = "building keys"
			}
			if r.st.Phase == Running {
				state = "streaming"
			}
		case cs.LastPK == nil && cs.RowsCopied == 0:
			state = "pending"
		}
		if !r.st.active() {
			state = strings.ToLower(string(r.st.Phase)) + " (" + state + ")"
		}
		total, pct, eta := "unknown", "", ""
		rps := 0.0
		if rt := r.rates[t]; rt != nil && !cs.Done {
			rps = rt.rps
		}
		if cs.RowsTotal >= 0 {
			total = strconv.FormatInt(cs.RowsTotal, 10)
			p := 100.0
			if cs.RowsTotal > 0 {
				p = min(100, float64(cs.RowsCopied)*100/float64(cs.RowsTotal))
			}
			if cs.Done {
				p = 100
			}
			pct = strconv.FormatFloat(p, 'f', 1, 64)
			if !cs.TotalExact {
				total = "~" + total + " (estimate)"
				pct = "~" + pct
			}
			if !cs.Done && rps > 0 {
				left := max(0, cs.RowsTotal-cs.RowsCopied)
				eta = (time.Duration(float64(left)/rps) * time.Second).Round(time.Second).String()
			}
		}
		if cs.Done {
			eta = "0s"
		}
		res.Rows = append(res.Rows, []string{t, state, strconv.FormatInt(cs.RowsCopied, 10), total, pct,
			strconv.FormatFloat(rps, 'f', 0, 64), eta, r.rec.Pos, lagString(r), r.streamAddr, lastErr})
	}
	res.Info = fmt.Sprintf("workflow %s: %s", ref, r.st.Phase)
	if r.st.Message != "" {
		res.Info += ": " + r.st.Message
	}
	return res, nil
}

// migrateReads points reads of the given tablet types at the target (or back at the source).
// It is a pure routing-rule change: writes and primary reads keep going to the source.
func (e *Engine) migrateReads(ctx context.Context, c MigrateReads) (*Result, error) {
	// One traffic change at a time: a read switch never interleaves with a write switch or
	// MIGRATE COMPLETE (each rewrites the same routing rules).
	e.sw.mu.Lock()
	defer e.sw.mu.Unlock()
	r, err := e.runner(c.Ref)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	rec, st := *r.rec, r.st
	r.mu.Unlock()
	if !c.Reverse && (st.Phase != Running || !st.CopyDone) {
		return nil, sqlerr.New(sqlerr.ERWrongArguments, "HY000", "MIGRATE READS: workflow %s must be Running with its copy finished (it is %s)", c.Ref, st.Phase)
	}
	switched := map[string]bool{}
	for _, s := range strings.Split(rec.ReadsSwitched, ",") {
		if s != "" {
			switched[s] = true
		}
	}
	for _, tt := range c.TabletTypes {
		switched[tt.String()] = !c.Reverse
	}
	var list []string
	for _, tt := range []string{"replica", "rdonly"} {
		if switched[tt] {
			list = append(list, tt)
		}
	}
	newVal := strings.Join(list, ",")
	if err := r.withTargetDirect(ctx, "UPDATE "+sidecarDB+".workflow SET reads_switched="+quote(newVal)+wfWhere(c.Ref)); err != nil {
		return nil, sqlerr.FromError(err)
	}
	if _, err := e.cfg.Routing.Update(func(s *router.Schema) error {
		for _, t := range rec.Tables {
			for _, tt := range c.TabletTypes {
				to := rec.Source + "." + t
				if !c.Reverse {
					to = rec.Keyspace + "." + t
				}
				for _, from := range []string{t, rec.Source + "." + t, rec.Keyspace + "." + t} {
					s.Rules[from+"@"+tt.String()] = to
				}
			}
		}
		return nil
	}); err != nil {
		return nil, sqlerr.FromError(err)
	}
	r.mu.Lock()
	r.rec.ReadsSwitched = newVal
	r.st.ReadsSwitched = newVal != ""
	r.mu.Unlock()
	verb := "switched to " + c.Ref.Keyspace
	if c.Reverse {
		verb = "switched back to " + rec.Source
	}
	return &Result{Info: fmt.Sprintf("workflow %s: reads %s for %s", c.Ref, verb, tabletTypeList(c.TabletTypes))}, nil
}

func tabletTypeList(tts []router.TabletType) string {
	var s []string
	for _, t := range tts {
		s = append(s, t.String())
	}
	return strings.Join(s, ", ")
}

func (r *runner) withTargetDirect(ctx context.Context, q string) error {
	return r.withTarget(ctx, func(t *conn) error { _, err := t.exec(q); return err })
}
