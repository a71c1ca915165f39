package proxy

import (
	"fmt"
	"os"
	"sort"
	"testing"
	"time"
)

// TestCrossKeyspaceBench is the benchmark, not a timed test: it prints latencies
// and their ratio and asserts only that the answers agree. Run: bench/cross_bench.sh.
func TestCrossKeyspaceBench(t *testing.T) {
	if os.Getenv("CROSS_BENCH") == "" {
		t.Skip("benchmark: run bench/cross_bench.sh (CROSS_BENCH=1)")
	}
	e := startEnv(t)
	ref := e.commerce.Primary
	load := func(exec func(testing.TB, ...string), pdb, cdb string) {
		if pdb != "" {
			exec(t, "DELETE FROM "+pdb+".product",
				"INSERT INTO "+pdb+".product SELECT CONCAT('SKU-', seq), CONCAT('product ', seq), seq % 500 FROM "+pdb+".seq_1_to_10000")
		}
		if cdb != "" {
			exec(t, "ALTER TABLE "+cdb+".corder ADD INDEX (customer_id)",
				"INSERT INTO "+cdb+".corder SELECT seq, seq % 100000, CONCAT('SKU-', 1 + seq % 10000), seq % 1000 FROM "+cdb+".seq_1_to_1000000")
		}
	}
	ref.Exec(t, "CREATE DATABASE ref", "CREATE TABLE ref.product LIKE commerce.product",
		"CREATE TABLE ref.corder (order_id BIGINT AUTO_INCREMENT PRIMARY KEY, customer_id BIGINT, sku VARBINARY(128), price BIGINT)")
	start := time.Now()
	load(ref.Exec, "ref", "ref")
	load(e.commerce.Primary.Exec, "commerce", "")
	load(e.customer.Primary.Exec, "", "customer_db")
	t.Logf("loaded 1,000,000 orders and 10,000 products twice in %s", time.Since(start).Round(time.Second))

	proxyDB := e.open(t, "app", "commerce")
	refDB := ref.Open(t, "ref")
	proxyDB.SetMaxOpenConns(1)
	refDB.SetMaxOpenConns(1)
	// customer_id in [1, 100] selects 1,000 orders (10 per customer).
	q := "select o.order_id, o.price, p.description from corder o join product p on o.sku = p.sku where o.customer_id between 1 and 100 order by o.order_id"
	const rounds = 30
	var tp, tr []time.Duration
	for i := 0; i < rounds+3; i++ { // alternate, discard 3 warm-up rounds
		for _, side := range []string{"proxy", "ref"} {
			db := proxyDB
			if side == "ref" {
				db = refDB
			}
			s := time.Now()
			_, _, rows := runQuery(t, db, q)
			d := time.Since(s)
			if len(rows) != 1000 {
				t.Fatalf("%s returned %d rows, want 1000", side, len(rows))
			}
			if i >= 3 {
				if side == "proxy" {
					tp = append(tp, d)
				} else {
					tr = append(tr, d)
				}
			}
		}
	}
	med := func(d []time.Duration) time.Duration {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return d[len(d)/2]
	}
	mp, mr := med(tp), med(tr)
	fmt.Printf("cross-keyspace join (1,000 of 1,000,000 orders x 10,000 products), %d alternating rounds:\n", rounds)
	fmt.Printf("  one server: median %s   through vtgate-lite across keyspaces: median %s   ratio %.2fx (target <= 3x)\n",
		mr.Round(time.Microsecond), mp.Round(time.Microsecond), float64(mp)/float64(mr))
}
