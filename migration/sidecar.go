package migration

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The sidecar schema lives on the target keyspace's primary. Every change to it that describes
// data (position, copy progress) is written in the same transaction as that data.
const sidecarDB = "_vt_lite"

var sidecarDDL = []string{
	"CREATE DATABASE IF NOT EXISTS " + sidecarDB,
	`CREATE TABLE IF NOT EXISTS ` + sidecarDB + `.workflow (
  keyspace VARBINARY(255) NOT NULL,
  name VARBINARY(255) NOT NULL,
  source_keyspace VARBINARY(255) NOT NULL,
  tables_list BLOB NOT NULL,
  on_ddl VARBINARY(16) NOT NULL,
  defer_keys TINYINT NOT NULL DEFAULT 0,
  copy_from VARBINARY(16) NOT NULL DEFAULT '',
  phase VARBINARY(32) NOT NULL,
  copy_done TINYINT NOT NULL DEFAULT 0,
  flavor VARBINARY(16) NOT NULL DEFAULT 'mariadb',
  pos BLOB NOT NULL,
  message BLOB NOT NULL,
  reads_switched VARBINARY(64) NOT NULL DEFAULT '',
  writes_switched TINYINT NOT NULL DEFAULT 0,
  source_ts BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL DEFAULT 0,
  updated_at BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (keyspace, name)) ENGINE=InnoDB`,
	`CREATE TABLE IF NOT EXISTS ` + sidecarDB + `.copy_state (
  keyspace VARBINARY(255) NOT NULL,
  workflow VARBINARY(255) NOT NULL,
  table_name VARBINARY(255) NOT NULL,
  lastpk BLOB NULL,
  rows_copied BIGINT NOT NULL DEFAULT 0,
  rows_total BIGINT NOT NULL DEFAULT -1,
  total_exact TINYINT NOT NULL DEFAULT 0,
  done TINYINT NOT NULL DEFAULT 0,
  deferred_keys BLOB NOT NULL,
  PRIMARY KEY (keyspace, workflow, table_name)) ENGINE=InnoDB`,
	`CREATE TABLE IF NOT EXISTS ` + sidecarDB + `.vdiff (
  id BIGINT NOT NULL AUTO_INCREMENT,
  keyspace VARBINARY(255) NOT NULL,
  workflow VARBINARY(255) NOT NULL,
  state VARBINARY(32) NOT NULL,
  pos BLOB NOT NULL,
  report MEDIUMBLOB NOT NULL,
  message BLOB NOT NULL,
  started_at BIGINT NOT NULL DEFAULT 0,
  completed_at BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (id), KEY (keyspace, workflow)) ENGINE=InnoDB`,
}

func ensureSidecar(c *conn) error {
	for _, q := range sidecarDDL {
		if _, err := c.exec(q); err != nil {
			return fmt.Errorf("create sidecar schema: %w", err)
		}
	}
	return nil
}

// wfRecord is one row of _vt_lite.workflow.
type wfRecord struct {
	Keyspace, Name, Source string
	Tables                 []string
	OnDDL                  OnDDL
	DeferKeys              bool
	CopyFrom               string // "" = auto (replica, rdonly, primary)
	Phase                  Phase
	CopyDone               bool
	Flavor                 string
	Pos                    string
	Message                string
	ReadsSwitched          string // comma list of tablet types whose reads go to the target
	WritesSwitched         bool
	SourceTS               int64
}

func (w *wfRecord) ref() WorkflowRef { return WorkflowRef{w.Keyspace, w.Name} }

const wfColumns = "keyspace, name, source_keyspace, tables_list, on_ddl, defer_keys, copy_from, phase, copy_done, flavor, pos, message, reads_switched, writes_switched, source_ts"

func loadWorkflows(c *conn, keyspace, name string) ([]*wfRecord, error) {
	q := "SELECT " + wfColumns + " FROM " + sidecarDB + ".workflow WHERE keyspace=" + quote(keyspace)
	if name != "" {
		q += " AND name=" + quote(name)
	}
	r, err := c.exec(q)
	if err != nil {
		return nil, err
	}
	var out []*wfRecord
	for i := range r.RowNumber() {
		s := func(j int) string { v, _ := r.GetString(i, j); return v }
		n := func(j int) int64 { v, _ := r.GetInt(i, j); return v }
		w := &wfRecord{
			Keyspace: s(0), Name: s(1), Source: s(2), Tables: strings.Split(s(3), ","),
			OnDDL: OnDDL(s(4)), DeferKeys: n(5) != 0, CopyFrom: s(6), Phase: Phase(s(7)), CopyDone: n(8) != 0,
			Flavor: s(9), Pos: s(10), Message: s(11), ReadsSwitched: s(12), WritesSwitched: n(13) != 0, SourceTS: n(14),
		}
		out = append(out, w)
	}
	return out, nil
}

func insertWorkflowSQL(w *wfRecord) string {
	now := strconv.FormatInt(time.Now().Unix(), 10)
	return "INSERT INTO " + sidecarDB + ".workflow (" + wfColumns + ", created_at, updated_at) VALUES (" +
		strings.Join([]string{quote(w.Keyspace), quote(w.Name), quote(w.Source), quote(strings.Join(w.Tables, ",")),
			quote(string(w.OnDDL)), boolSQL(w.DeferKeys), quote(w.CopyFrom), quote(string(w.Phase)), boolSQL(w.CopyDone),
			quote(w.Flavor), quote(w.Pos), quote(w.Message), quote(w.ReadsSwitched), boolSQL(w.WritesSwitched), "0", now, now}, ",") + ")"
}

func boolSQL(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func wfWhere(ref WorkflowRef) string {
	return " WHERE keyspace=" + quote(ref.Keyspace) + " AND name=" + quote(ref.Workflow)
}

// updatePosSQL records the stream position (and the source commit time it corresponds to).
func updatePosSQL(ref WorkflowRef, pos string, sourceTS int64) string {
	return fmt.Sprintf("UPDATE %s.workflow SET pos=%s, source_ts=%d, updated_at=%d%s", sidecarDB, quote(pos), sourceTS, time.Now().Unix(), wfWhere(ref))
}

func updatePhaseSQL(ref WorkflowRef, phase Phase, msg string, copyDone bool) string {
	return fmt.Sprintf("UPDATE %s.workflow SET phase=%s, message=%s, copy_done=%s, updated_at=%d%s", sidecarDB, quote(string(phase)), quote(msg), boolSQL(copyDone), time.Now().Unix(), wfWhere(ref))
}

// copyState is one row of _vt_lite.copy_state.
type copyState struct {
	Table        string
	LastPK       []string // SQL literals of the last copied key; nil = nothing copied yet
	RowsCopied   int64
	RowsTotal    int64 // -1 unknown
	TotalExact   bool
	Done         bool
	DeferredKeys []string // index definitions to add after the copy ("" when built)
}

func loadCopyState(c *conn, ref WorkflowRef) (map[string]*copyState, error) {
	r, err := c.exec("SELECT table_name, lastpk, rows_copied, rows_total, total_exact, done, deferred_keys FROM " + sidecarDB + ".copy_state" +
		" WHERE keyspace=" + quote(ref.Keyspace) + " AND workflow=" + quote(ref.Workflow))
	if err != nil {
		return nil, err
	}
	out := map[string]*copyState{}
	for i := range r.RowNumber() {
		cs := &copyState{}
		cs.Table, _ = r.GetString(i, 0)
		if lp, _ := r.GetString(i, 1); lp != "" {
			if err := json.Unmarshal([]byte(lp), &cs.LastPK); err != nil {
				return nil, fmt.Errorf("copy_state %s: bad lastpk: %w", cs.Table, err)
			}
		}
		cs.RowsCopied, _ = r.GetInt(i, 2)
		cs.RowsTotal, _ = r.GetInt(i, 3)
		te, _ := r.GetInt(i, 4)
		d, _ := r.GetInt(i, 5)
		cs.TotalExact, cs.Done = te != 0, d != 0
		if dk, _ := r.GetString(i, 6); dk != "" {
			_ = json.Unmarshal([]byte(dk), &cs.DeferredKeys)
		}
		out[cs.Table] = cs
	}
	return out, nil
}

func insertCopyStateSQL(ref WorkflowRef, table string, deferred []string) string {
	dk := ""
	if len(deferred) > 0 {
		b, _ := json.Marshal(deferred)
		dk = string(b)
	}
	return fmt.Sprintf("INSERT INTO %s.copy_state (keyspace, workflow, table_name, lastpk, rows_copied, rows_total, done, deferred_keys) VALUES (%s,%s,%s,NULL,0,-1,0,%s)",
		sidecarDB, quote(ref.Keyspace), quote(ref.Workflow), quote(table), quote(dk))
}

func csWhere(ref WorkflowRef, table string) string {
	return " WHERE keyspace=" + quote(ref.Keyspace) + " AND workflow=" + quote(ref.Workflow) + " AND table_name=" + quote(table)
}

func updateCopyStateSQL(ref WorkflowRef, table string, lastpk []string, rows int64, done bool) string {
	b, _ := json.Marshal(lastpk)
	lp := quote(string(b))
	if lastpk == nil {
		lp = "lastpk"
	}
	return fmt.Sprintf("UPDATE %s.copy_state SET lastpk=%s, rows_copied=rows_copied+%d, done=%s%s", sidecarDB, lp, rows, boolSQL(done), csWhere(ref, table))
}
