package migration

import (
	"errors"
	"testing"

	"github.com/vtgate-lite/vtgate-lite/sqlerr"
)

// FuzzParseAdmin: any text gives a command, "not ours", or a MySQL error — never a panic,
// and never a command together with an error.
func FuzzParseAdmin(f *testing.F) {
	for _, s := range []string{
		"MIGRATE TABLES customer, corder FROM commerce TO customer WORKFLOW commerce2customer ON DDL EXEC DEFER SECONDARY KEYS COPY FROM REPLICA",
		"SHOW MIGRATIONS", "show migration customer.commerce2customer", "MIGRATE STOP customer.w", "MIGRATE CANCEL customer.w KEEP DATA",
		"VDIFF customer.w", "SHOW VDIFF customer.w LAST", "MIGRATE READS customer.w TABLET_TYPE rdonly, replica",
		"MIGRATE WRITES customer.w TIMEOUT 30s MAX LAG 10s DRY RUN", "MIGRATE REVERSE WRITES customer.w", "MIGRATE COMPLETE customer.w RENAME TABLES",
		"migrate tables `a`,`b` from `x` to `y`", "select 1", "MIGRATE", "MIGRATE TABLES FROM", "vdiff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		cmd, ok, err := ParseAdmin(sql)
		if !ok && (cmd != nil || err != nil) {
			t.Fatalf("%q: not ours, but cmd=%v err=%v", sql, cmd, err)
		}
		if err != nil {
			var e *sqlerr.Error
			if !errors.As(err, &e) || e.Code == 0 {
				t.Fatalf("%q: error without a MySQL code: %v", sql, err)
			}
			if cmd != nil {
				t.Fatalf("%q: both a command and an error", sql)
			}
		}
		if ok && err == nil && cmd == nil {
			t.Fatalf("%q: ours, but no command and no error", sql)
		}
	})
}
