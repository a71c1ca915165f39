// Command copybench measures the migration engine on real servers: the time to copy tables
// with MIGRATE TABLES (and the Go heap high-water mark meanwhile), then, optionally, the
// replication lag of the stream while a write load runs on the source.
//
// Lag is measured end to end: every -interval, read the source's @@gtid_binlog_pos, then poll
// the workflow's stored position on the target until it covers it; the wait is one sample.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync/atomic"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/vtgate-lite/vtgate-lite/migration"
	"github.com/vtgate-lite/vtgate-lite/router"
)

func main() {
	src := flag.String("src", "127.0.0.1:23306", "source primary")
	dst := flag.String("dst", "127.0.0.1:23307", "target primary")
	user := flag.String("user", "root", "user")
	pass := flag.String("password", "", "password")
	srcDB := flag.String("src-db", "sbtest", "source database")
	dstDB := flag.String("dst-db", "sbtest_mig", "target database")
	tables := flag.String("tables", "sbtest1", "comma-separated tables")
	batch := flag.Int("batch", 10000, "copy batch rows")
	lagFor := flag.Duration("lag", 0, "after the copy, measure stream lag for this long")
	interval := flag.Duration("interval", 100*time.Millisecond, "lag sampling interval")
	ready := flag.String("ready-file", "", "touch this file when the copy is done (the script then starts the load)")
	verbose := flag.Bool("v", false, "log the engine")
	writers := flag.Int("writers", 3, "parallel target connections per copy batch")
	wf := flag.String("workflow", "bench", "workflow name")
	deferKeys := flag.Bool("defer", false, "MIGRATE TABLES ... DEFER SECONDARY KEYS")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the copy to this file")
	flag.Parse()

	ks := map[string]*router.Keyspace{
		"src": {Name: "src", Database: *srcDB, User: *user, Password: *pass, Primary: *src},
		"dst": {Name: "dst", Database: *dstDB, User: *user, Password: *pass, Primary: *dst},
	}
	h, err := router.NewHolder(ks, &router.Schema{VSchema: map[string]*router.KeyspaceVSchema{}, Rules: map[string]string{}}, nil)
	if err != nil {
		log.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if !*verbose {
		logger = slog.New(slog.DiscardHandler)
	}
	eng := migration.NewEngine(migration.Config{Routing: h, CopyBatchRows: *batch, CopyWriters: *writers, Logger: logger})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()

	var peak atomic.Uint64
	go func() {
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()

	exec := func(q string) *migration.Result {
		cmd, _, err := migration.ParseAdmin(q)
		if err != nil {
			log.Fatal(err)
		}
		r, err := eng.Exec(ctx, cmd)
		if err != nil {
			log.Fatalf("%s: %v", q, err)
		}
		return r
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
	}
	start := time.Now()
	opts := ""
	if *deferKeys {
		opts = " DEFER SECONDARY KEYS"
	}
	exec(fmt.Sprintf("MIGRATE TABLES %s FROM src TO dst WORKFLOW %s%s", *tables, *wf, opts))
	var rows string
	for {
		r := exec("SHOW MIGRATIONS")
		m := map[string]string{}
		for i, c := range r.Columns {
			m[c] = r.Rows[0][i]
		}
		if m["state"] == "Error" {
			log.Fatalf("workflow error: %s", m["message"])
		}
		if m["state"] == "Running" {
			rows = m["rows_copied"]
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	el := time.Since(start)
	if *cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	var n float64
	fmt.Sscan(rows, &n)
	fmt.Printf("copy: %s rows in %.2fs (%.0f rows/s), Go heap in use peak %.1f MiB, batch %d, writers %d%s\n", rows, el.Seconds(), n/el.Seconds(), float64(peak.Load())/(1<<20), *batch, *writers, opts)
	if *ready != "" {
		os.WriteFile(*ready, []byte("ready\n"), 0o644)
	}
	if *lagFor > 0 {
		measureLag(*src, *dst, *user, *pass, *wf, *lagFor, *interval)
	}
	cancel()
	<-done
}

func measureLag(src, dst, user, pass, wf string, d, interval time.Duration) {
	open := func(addr string) *sql.DB {
		db, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(%s)/", user, pass, addr))
		if err != nil {
			log.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		return db
	}
	s, t := open(src), open(dst)
	var samples []time.Duration
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		var want string
		t0 := time.Now()
		if err := s.QueryRow("SELECT @@gtid_binlog_pos").Scan(&want); err != nil {
			log.Fatal(err)
		}
		w, _ := mysql.ParseMariadbGTIDSet(want)
		for {
			var got string
			if err := t.QueryRow("SELECT pos FROM _vt_lite.workflow WHERE name=?", wf).Scan(&got); err != nil {
				log.Fatal(err)
			}
			g, err := mysql.ParseMariadbGTIDSet(got)
			if err == nil && g.Contain(w) {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		samples = append(samples, time.Since(t0))
		if sl := interval - time.Since(t0); sl > 0 {
			time.Sleep(sl)
		}
	}
	slices.Sort(samples)
	pct := func(p float64) time.Duration { return samples[min(len(samples)-1, int(p*float64(len(samples))))] }
	fmt.Printf("lag: %d samples, p50 %s, p90 %s, p99 %s, max %s\n", len(samples),
		pct(0.5).Round(time.Millisecond), pct(0.9).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), samples[len(samples)-1].Round(time.Millisecond))
}
