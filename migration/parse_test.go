package migration

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/vtgate-lite/vtgate-lite/router"
	"github.com/vtgate-lite/vtgate-lite/sqlerr"
)

func TestParseAdmin(t *testing.T) {
	ref := WorkflowRef{"customer", "commerce2customer"}
	cases := []struct {
		sql  string
		want Command
	}{
		{"MIGRATE TABLES customer, corder FROM commerce TO customer", MigrateTables{Tables: []string{"customer", "corder"}, Source: "commerce", Target: "customer", Workflow: "commerce2customer", OnDDL: DDLStop}},
		{"migrate tables `customer` from commerce to customer workflow wf on ddl exec defer secondary keys copy from rdonly;",
			MigrateTables{Tables: []string{"customer"}, Source: "commerce", Target: "customer", Workflow: "wf", OnDDL: DDLExec, DeferSecondaryKeys: true, CopyFrom: router.Rdonly, CopyFromSet: true}},
		{"MIGRATE TABLES t FROM a TO b ON DDL IGNORE COPY FROM PRIMARY", MigrateTables{Tables: []string{"t"}, Source: "a", Target: "b", Workflow: "a2b", OnDDL: DDLIgnore, CopyFrom: router.Primary, CopyFromSet: true}},
		{"SHOW MIGRATIONS", ShowMigrations{}},
		{"show migration customer.commerce2customer", ShowMigration{ref}},
		{"MIGRATE STOP customer.commerce2customer", MigrateStop{ref}},
		{"MIGRATE START `customer`.`commerce2customer`", MigrateStart{ref}},
		{"MIGRATE CANCEL customer.commerce2customer", MigrateCancel{Ref: ref}},
		{"MIGRATE CANCEL customer.commerce2customer KEEP DATA", MigrateCancel{Ref: ref, KeepData: true}},
		{"VDIFF customer.commerce2customer", VDiff{ref}},
		{"SHOW VDIFF customer.commerce2customer", ShowVDiff{Ref: ref}},
		{"SHOW VDIFF customer.commerce2customer LAST", ShowVDiff{Ref: ref}},
		{"SHOW VDIFF customer.commerce2customer 7", ShowVDiff{Ref: ref, ID: 7}},
		{"MIGRATE READS customer.commerce2customer TABLET_TYPE rdonly, replica", MigrateReads{Ref: ref, TabletTypes: []router.TabletType{router.Rdonly, router.Replica}}},
		{"MIGRATE REVERSE READS customer.commerce2customer TABLET_TYPE replica", MigrateReads{Ref: ref, TabletTypes: []router.TabletType{router.Replica}, Reverse: true}},
	}
	for _, c := range cases {
		got, ok, err := ParseAdmin(c.sql)
		if !ok || err != nil {
			t.Errorf("%q: ok=%v err=%v", c.sql, ok, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q:\n got %#v\nwant %#v", c.sql, got, c.want)
		}
	}
}

func TestParseAdminNotOurs(t *testing.T) {
	for _, sql := range []string{"SELECT 1", "SHOW TABLES", "show databases", "", "  ", "SHOW VSCHEMA TABLES", "migrated_table", "`MIGRATE` TABLES"} {
		if _, ok, err := ParseAdmin(sql); ok || err != nil {
			t.Errorf("%q: ok=%v err=%v, want not ours", sql, ok, err)
		}
	}
}

func TestParseAdminErrors(t *testing.T) {
	cases := map[string]string{
		"MIGRATE TABLES customer commerce TO customer":          "expected FROM",
		"MIGRATE TABLES customer FROM commerce":                 "expected TO",
		"MIGRATE TABLES customer FROM a TO b ON DDL MAYBE":      "STOP, IGNORE or EXEC",
		"MIGRATE TABLES customer FROM a TO b COPY FROM nowhere": "PRIMARY, REPLICA or RDONLY",
		"MIGRATE TABLES customer FROM a TO b EXTRA":             "expected WORKFLOW",
		"SHOW MIGRATION customer":                               "<keyspace>.<workflow>",
		"MIGRATE CANCEL a.b KEEP":                               "DATA",
		"MIGRATE FROBNICATE a.b":                                "expected TABLES",
		"SHOW VDIFF a.b yesterday":                              "LAST or a vdiff id",
		"VDIFF a.b c":                                           "unexpected input",
		"MIGRATE READS a.b TABLET_TYPE primary":                 "replica or rdonly",
	}
	for sql, want := range cases {
		_, ok, err := ParseAdmin(sql)
		var se *sqlerr.Error
		if !ok || !errors.As(err, &se) || se.Code != sqlerr.ERParse || !strings.Contains(se.Message, want) {
			t.Errorf("%q: ok=%v err=%v, want 1064 mentioning %q", sql, ok, err, want)
		}
	}
}
