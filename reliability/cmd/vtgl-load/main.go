// Command vtgl-load runs reliability.RunLoad against a vtgate-lite that is already running
// (for example the examples/local cluster), prints what the clients saw and, given the
// backend's DSN, checks the ledger there.
//
//	vtgl-load --dsn 'app:secret@tcp(127.0.0.1:15306)/commerce' \
//	    --backend 'root:rootpw@tcp(127.0.0.1:17100)/commerce' --setup \
//	    --conns 1000 --active 100 --duration 60s --metrics http://127.0.0.1:15000
//
// --setup creates the tables (item, ledger) on the backend and seeds the item rows; the
// keyspace's VSchema must route them (ALTER VSCHEMA ADD TABLE commerce.item / ledger).
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/vtgate-lite/vtgate-lite/reliability"
)

func main() {
	dsn := flag.String("dsn", "app:secret@tcp(127.0.0.1:15306)/commerce", "go-sql-driver DSN of vtgate-lite, schema selected")
	backend := flag.String("backend", "", "DSN of the backend database (direct), for --setup and the ledger check")
	setup := flag.Bool("setup", false, "create and seed the tables on --backend first (drops item and ledger)")
	conns := flag.Int("conns", 1000, "client connections")
	active := flag.Int("active", 100, "active connections among them")
	duration := flag.Duration("duration", 10*time.Second, "active phase")
	items := flag.Int("items", 1000, "item rows")
	metrics := flag.String("metrics", "", "vtgate-lite http base (http://host:port) to print pool and process figures before and after")
	flag.Parse()
	if err := run(*dsn, *backend, *setup, *conns, *active, *duration, *items, *metrics); err != nil {
		fmt.Fprintln(os.Stderr, "vtgl-load:", err)
		os.Exit(1)
	}
}

func run(dsn, backend string, setup bool, conns, active int, duration time.Duration, items int, metrics string) error {
	if active > conns {
		return fmt.Errorf("--active %d > --conns %d", active, conns)
	}
	ctx, cancel := context.WithTimeout(context.Background(), duration+5*time.Minute)
	defer cancel()
	var bdb *sql.DB
	if backend != "" {
		var err error
		if bdb, err = sql.Open("mysql", backend); err != nil {
			return err
		}
		defer bdb.Close()
	}
	if setup {
		if bdb == nil {
			return fmt.Errorf("--setup needs --backend")
		}
		stmts := append([]string{"DROP TABLE IF EXISTS item", "DROP TABLE IF EXISTS ledger"}, reliability.Schema...)
		stmts = append(stmts, reliability.SeedItems(items))
		for _, q := range stmts {
			if _, err := bdb.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("%.60s: %w", q, err)
			}
		}
	}
	show := func(when string) {
		if metrics == "" {
			return
		}
		m, err := reliability.Scrape(ctx, metrics+"/metrics")
		if err != nil {
			fmt.Printf("%s: /metrics: %v\n", when, err)
			return
		}
		fmt.Printf("%s: goroutines=%.0f fds=%.0f rss=%.1fMiB clients=%.0f pool_connections=%.0f pool_waits=%.0f errors=%.0f\n", when,
			m["go_goroutines"], m["process_open_fds"], m["process_resident_memory_bytes"]/(1<<20),
			m["vtgate_lite_client_connections"], m["vtgate_lite_pool_connections"], m["vtgate_lite_pool_waits_total"], m["vtgate_lite_errors_total"])
	}
	show("before")
	res, err := reliability.RunLoad(ctx, reliability.LoadOptions{
		DSN: dsn, Idle: conns - active, Active: active, Duration: duration, Items: items,
		Connected: func() { show("connected") },
	})
	if err != nil {
		return err
	}
	time.Sleep(time.Second)
	show("after")
	fmt.Printf("connections %d (opened in %s), active phase %s\n", res.Connected, res.ConnectTime.Round(time.Millisecond), res.Elapsed.Round(time.Millisecond))
	fmt.Printf("statements %d (%.0f/s), commits %d, rollbacks %d, acknowledged rows %d, errors %d\n",
		res.Statements, res.QPS(), res.Commits, res.Rollbacks, len(res.Acked), res.Errors)
	for _, e := range res.FirstErrors {
		fmt.Println("  error:", e)
	}
	failed := res.Errors > 0 || res.IdleChecked != conns-active
	if bdb != nil {
		problems, err := res.Verify(ctx, bdb)
		if err != nil {
			return err
		}
		if len(problems) == 0 {
			fmt.Printf("ledger: %d acknowledged rows present once each, %d rolled-back rows absent\n", len(res.Acked), len(res.RolledBack))
		} else {
			failed = true
			fmt.Println("ledger:\n  " + strings.Join(problems, "\n  "))
		}
	}
	if failed {
		return fmt.Errorf("the run had errors")
	}
	return nil
}
