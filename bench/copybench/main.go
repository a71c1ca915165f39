// Command copybench measures the migration engine on real servers: the time to copy tables
// with MIGRATE TABLES (and the Go heap high-water mark meanwhile), then, optionally, the
// replication lag of the stream while a write load runs on the source.
//
// Lag is measured end to end: every -interval, read the source's @@gtid_binlog_pos, then poll
// the workflow's stored position on the target until it covers it; the wait is one sample.
//
// With -proxy the engine is not run in-process: the admin statements go to a running vtgate-lite
// (whose engine does the work) as -admin-user, the memory reported is that process's (-pid: RSS
// sampled every 50 ms and VmHWM; -metrics: go_memstats_heap_inuse_bytes scraped every 200 ms).
// -catchup-dir adds the catch-up measurement after the lag one: MIGRATE STOP, touch
// <dir>/stopped, wait for <dir>/writes-done (the script writes to the source meanwhile), then
// MIGRATE START and time until the stored position covers the source's @@gtid_binlog_pos.
package main

import (
	"bufio"
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
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
	proxyAddr := flag.String("proxy", "", "send the admin statements to this vtgate-lite instead of running the engine in-process")
	adminUser := flag.String("admin-user", "admin", "vtgate-lite admin user (with -proxy)")
	adminPass := flag.String("admin-password", "", "vtgate-lite admin password (with -proxy)")
	srcKs := flag.String("src-ks", "src", "source keyspace")
	dstKs := flag.String("dst-ks", "dst", "target keyspace")
	pid := flag.Int("pid", 0, "with -proxy: sample this process's RSS during the copy")
	metricsURL := flag.String("metrics", "", "with -proxy: scrape go_memstats_heap_inuse_bytes from this /metrics URL during the copy")
	catchupDir := flag.String("catchup-dir", "", "after the lag measurement, measure catch-up from a backlog (see the package doc)")
	flag.Parse()
	if *proxyAddr != "" {
		runProxy(*proxyAddr, *adminUser, *adminPass, *src, *dst, *user, *pass, *srcKs, *dstKs, *tables, *wf, *deferKeys, *pid, *metricsURL, *ready, *lagFor, *interval, *catchupDir)
		return
	}

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

// runProxy is the -proxy mode: the same measurements, with the engine inside a running vtgate-lite.
func runProxy(addr, auser, apass, src, dst, user, pass, srcKs, dstKs, tables, wf string, deferKeys bool,
	pid int, metricsURL, ready string, lagFor, interval time.Duration, catchupDir string) {
	adm, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(%s)/", auser, apass, addr))
	if err != nil {
		log.Fatal(err)
	}
	adm.SetMaxOpenConns(1)
	exec := func(q string) (cols []string, rows [][]string) {
		rs, err := adm.Query(q)
		if err != nil {
			log.Fatalf("%s: %v", q, err)
		}
		defer rs.Close()
		cols, _ = rs.Columns()
		for rs.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rs.Scan(ptrs...); err != nil {
				log.Fatal(err)
			}
			row := make([]string, len(cols))
			for i, v := range vals {
				row[i] = v.String
			}
			rows = append(rows, row)
		}
		if err := rs.Err(); err != nil {
			log.Fatalf("%s: %v", q, err)
		}
		return cols, rows
	}
	full := dstKs + "." + wf
	status := func() map[string]string {
		cols, rows := exec("SHOW MIGRATIONS")
		for _, r := range rows {
			if r[0] == full || r[0] == wf {
				m := map[string]string{}
				for i, c := range cols {
					m[c] = r[i]
				}
				return m
			}
		}
		log.Fatalf("workflow %s not in SHOW MIGRATIONS", full)
		return nil
	}

	var rssPeak, heapPeak atomic.Uint64
	stop := make(chan struct{})
	if pid > 0 {
		go func() {
			for {
				if v := procStatusKB(pid, "VmRSS"); v > rssPeak.Load() {
					rssPeak.Store(v)
				}
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
		}()
	}
	if metricsURL != "" {
		go func() {
			for {
				if v := scrapeGauge(metricsURL, "go_memstats_heap_inuse_bytes"); v > heapPeak.Load() {
					heapPeak.Store(v)
				}
				select {
				case <-stop:
					return
				case <-time.After(200 * time.Millisecond):
				}
			}
		}()
	}
	rssBefore := uint64(0)
	if pid > 0 {
		rssBefore = procStatusKB(pid, "VmRSS")
	}
	opts := ""
	if deferKeys {
		opts = " DEFER SECONDARY KEYS"
	}
	start := time.Now()
	exec(fmt.Sprintf("MIGRATE TABLES %s FROM %s TO %s WORKFLOW %s%s", tables, srcKs, dstKs, wf, opts))
	var rows string
	for {
		m := status()
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
	close(stop)
	var n float64
	fmt.Sscan(rows, &n)
	mem := ""
	if pid > 0 {
		mem += fmt.Sprintf(", vtgate-lite RSS %.1f MiB before, peak %.1f MiB during the copy (VmHWM %.1f MiB)",
			float64(rssBefore)/1024, float64(rssPeak.Load())/1024, float64(procStatusKB(pid, "VmHWM"))/1024)
	}
	if metricsURL != "" {
		mem += fmt.Sprintf(", Go heap in use peak %.1f MiB", float64(heapPeak.Load())/(1<<20))
	}
	fmt.Printf("copy (through vtgate-lite): %s rows in %.2fs (%.0f rows/s)%s%s\n", rows, el.Seconds(), n/el.Seconds(), mem, opts)
	if ready != "" {
		os.WriteFile(ready, []byte("ready\n"), 0o644)
	}
	if lagFor > 0 {
		measureLag(src, dst, user, pass, wf, lagFor, interval)
		if m := status(); m["state"] != "Running" {
			log.Fatalf("workflow %s after the load: state %s: %s", full, m["state"], m["message"])
		}
	}
	if catchupDir == "" {
		return
	}
	// Catch-up: stop the stream, let the script write a backlog, start again and time it.
	s, t := openDB(src, user, pass), openDB(dst, user, pass)
	exec("MIGRATE STOP " + full)
	for status()["state"] != "Stopped" {
		time.Sleep(50 * time.Millisecond)
	}
	var p0 string
	if err := t.QueryRow("SELECT pos FROM _vt_lite.workflow WHERE name=?", wf).Scan(&p0); err != nil {
		log.Fatal(err)
	}
	os.WriteFile(filepath.Join(catchupDir, "stopped"), []byte(p0+"\n"), 0o644)
	for {
		if _, err := os.Stat(filepath.Join(catchupDir, "writes-done")); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var want, p1 string
	if err := s.QueryRow("SELECT @@gtid_binlog_pos").Scan(&want); err != nil {
		log.Fatal(err)
	}
	if err := t.QueryRow("SELECT pos FROM _vt_lite.workflow WHERE name=?", wf).Scan(&p1); err != nil {
		log.Fatal(err)
	}
	w, _ := mysql.ParseMariadbGTIDSet(want)
	t0 := time.Now()
	exec("MIGRATE START " + full)
	for {
		var got string
		if err := t.QueryRow("SELECT pos FROM _vt_lite.workflow WHERE name=?", wf).Scan(&got); err != nil {
			log.Fatal(err)
		}
		g, err := mysql.ParseMariadbGTIDSet(got)
		if err == nil && g.Contain(w) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	el = time.Since(t0)
	backlog := gtidSeq(want) - gtidSeq(p1)
	fmt.Printf("catchup: backlog %d source transactions (pos %s -> %s), applied in %.2fs after MIGRATE START: %.0f trx/s\n",
		backlog, p1, want, el.Seconds(), float64(backlog)/el.Seconds())
}

func openDB(addr, user, pass string) *sql.DB {
	db, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(%s)/", user, pass, addr))
	if err != nil {
		log.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	return db
}

// gtidSeq sums the sequence numbers of a MariaDB GTID list (one domain here: the count of
// transactions the server has binlogged).
func gtidSeq(pos string) int64 {
	var n int64
	for _, g := range strings.Split(pos, ",") {
		parts := strings.Split(strings.TrimSpace(g), "-")
		if len(parts) == 3 {
			v, _ := strconv.ParseInt(parts[2], 10, 64)
			n += v
		}
	}
	return n
}

func procStatusKB(pid int, key string) uint64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			v, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return v
		}
	}
	return 0
}

func scrapeGauge(url, name string) uint64 {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, name+" "); ok {
			v, _ := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return uint64(v)
		}
	}
	return 0
}
