package planner

import (
	"database/sql"
	"errors"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/vtgate-lite/vtgate-lite/internal/testcluster"
)

// TestReservedWordsAreReserved: every word the table scan skips is refused by MariaDB as a
// bare table name (else skipping it could miss a table).
func TestReservedWordsAreReserved(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a MariaDB server: not in -short")
	}
	c := testcluster.Start(t, testcluster.Options{Databases: []string{"rw"}})
	db, err := sql.Open("mysql", c.Primary.DSN("rw"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for w := range reservedWords {
		_, err := db.Exec("CREATE TABLE " + w + " (a INT)")
		var me *mysql.MySQLError
		if !errors.As(err, &me) || me.Number != 1064 {
			t.Errorf("%s: CREATE TABLE %s (a INT) gave %v, want a syntax error: not reserved", w, w, err)
			_, _ = db.Exec("DROP TABLE IF EXISTS `" + w + "`")
		}
	}
}
