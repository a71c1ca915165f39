package migration

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/vtgate-lite/vtgate-lite/internal/backendaddr"
)

// Denied tables. After a write switch, the side that no longer takes writes refuses them.
// vtgate-lite routes no write there, but a client that bypasses it (straight to the server: an
// application not yet moved behind vtgate-lite, a cron job, an operator's console) would write
// rows that no stream carries to the side that now takes writes: silently lost for the
// application. Vitess refuses such writes in vttablet ("denied tables"). MariaDB and MySQL have
// no per-table write lock, so the engine puts BEFORE INSERT/UPDATE/DELETE triggers on the
// moved tables of that side which fail the statement with 1036 "Table ... is read only",
// unless the session is one of vtgate-lite's own:
// the proxy's backend connections and the engine's data connections set denyBypass (the
// streams applying the other side's changes must still write, and where the proxy writes is
// its routing table's decision: after a crash mid-switch it keeps writing to the old side
// before the restart's recovery lifts the denial).
//
// The triggers are created and dropped with sql_log_bin=0: they are local state of that
// primary, not a schema change that the streams (they would see DDL on a moved table) or the
// replicas should replay. Without the privilege for that (SUPER or BINLOG ADMIN), the switch
// goes on without them and says so.
//
// Life cycle: MIGRATE [REVERSE] WRITES denies the old side right after the drain (vtgate-lite's
// own writes to it are held from then on), lifts the denial a previous switch left on the new
// side just before the routing swap (the held statements are released after it), and lifts
// the old side's again if it aborts; a restart's recovery does the same. MIGRATE COMPLETE lifts the source's before it
// keeps or renames the source tables; MIGRATE CANCEL lifts the target's when it keeps data.

// denyBypass marks the sessions the triggers let write: the proxy's and the engine's data
// connections (dial with data=true).
const denyBypass = backendaddr.WriterMark

var denyEvents = []string{"INSERT", "UPDATE", "DELETE"}

// denyTrigger names the trigger of table for event: at most 64 characters (a longer table name
// is cut and given a checksum, so two long names never collide).
func denyTrigger(table, event string) string {
	name := "_vt_lite_deny_" + strings.ToLower(event[:3]) + "_" + table
	if len(name) > 64 {
		name = fmt.Sprintf("%s_%08x", name[:55], crc32.ChecksumIEEE([]byte(table)))
	}
	return name
}

// setDenied creates (deny) or drops the deny triggers of tables in keyspace ksName's database
// on its primary. why ends up in the error clients get (cut to SIGNAL's 128 characters).
// Creating or dropping a trigger waits for the transactions open on the table (metadata
// lock): wait bounds that (0: the server's lock_wait_timeout). Waiting is what a switch wants
// there: a transaction that bypasses vtgate-lite commits before the position is read. Lifting
// touches only the tables that carry triggers, so it never waits on the others' readers.
func (e *Engine) setDenied(ctx context.Context, ksName string, tables []string, deny bool, why string, wait time.Duration) error {
	c, ks, err := e.dialPrimary(ctx, ksName, false)
	if err != nil {
		return err
	}
	defer c.close()
	if !deny {
		if tables, err = deniedOn(c, ks.Database, tables); err != nil || len(tables) == 0 {
			return err
		}
	}
	if _, err := c.exec("SET SESSION sql_log_bin=0"); err != nil {
		return fmt.Errorf("SET sql_log_bin=0 (the triggers must stay out of the binlog): %w", err)
	}
	if wait > 0 {
		if _, err := c.exec(fmt.Sprintf("SET SESSION lock_wait_timeout=%d", max(1, int(math.Ceil(wait.Seconds()))))); err != nil {
			return err
		}
	}
	for _, t := range tables {
		for _, ev := range denyEvents {
			name := ident(ks.Database) + "." + ident(denyTrigger(t, ev))
			q := "DROP TRIGGER IF EXISTS " + name
			if deny {
				msg := fmt.Sprintf("Table '%s.%s' is read only: %s", ks.Database, t, why)
				if len(msg) > 128 {
					msg = msg[:128]
				}
				q = fmt.Sprintf("CREATE TRIGGER IF NOT EXISTS %s BEFORE %s ON %s.%s FOR EACH ROW IF %s IS NULL THEN SIGNAL SQLSTATE 'HY000' SET MYSQL_ERRNO = 1036, MESSAGE_TEXT = %s; END IF",
					name, ev, ident(ks.Database), ident(t), denyBypass, quote(msg))
			}
			if _, err := c.exec(q); err != nil {
				return err
			}
		}
	}
	return nil
}

// deniedOn lists which of tables carry deny triggers in database db.
func deniedOn(c *conn, db string, tables []string) ([]string, error) {
	res, err := c.exec("SELECT DISTINCT EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA=" +
		quote(db) + " AND TRIGGER_NAME LIKE '\\_vt\\_lite\\_deny\\_%'")
	if err != nil {
		return nil, err
	}
	has := map[string]bool{}
	for i := 0; i < res.RowNumber(); i++ {
		n, _ := res.GetString(i, 0)
		has[n] = true
	}
	var out []string
	for _, t := range tables {
		if has[t] {
			out = append(out, t)
		}
	}
	return out, nil
}

// deniedTables lists which of tables carry deny triggers in keyspace ksName's database.
func (e *Engine) deniedTables(ctx context.Context, ksName string, tables []string) ([]string, error) {
	c, ks, err := e.dialPrimary(ctx, ksName, false)
	if err != nil {
		return nil, err
	}
	defer c.close()
	return deniedOn(c, ks.Database, tables)
}

// denyReason is the text a client that bypasses vtgate-lite gets.
func denyReason(ref WorkflowRef, writesTo string) string {
	return fmt.Sprintf("writes go to keyspace %s (vtgate-lite workflow %s)", writesTo, ref)
}

// isLockWait reports a metadata lock wait that ran out (1205).
func isLockWait(err error) bool {
	var me *mysql.MyError
	return errors.As(err, &me) && me.Code == mysql.ER_LOCK_WAIT_TIMEOUT
}
