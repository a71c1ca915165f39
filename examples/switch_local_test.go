package examples

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/vtgate-lite/vtgate-lite/internal/testcluster"
)

// TestLocalSwitchTraffic runs the whole walkthrough, 101 to 205, on free ports in a temporary
// VTDATAROOT, and checks what 203-205 promise:
//   - 203: reads at rdonly and replica come from the customer keyspace's servers, primary reads
//     and writes from commerce (VEXPLAIN QUERIES);
//   - 204: MIGRATE WRITES succeeds, everything goes to customer, a write reaches commerce through
//     the reverse stream; a second run changes nothing;
//   - 205: commerce.customer fails with 1146; customer, customer.customer, commerce.product work.
func TestLocalSwitchTraffic(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: starts six MariaDB servers and vtgate-lite")
	}
	testcluster.Require(t)
	if _, err := exec.LookPath("mariadb"); err != nil {
		if _, err := exec.LookPath("mysql"); err != nil {
			t.Skip("skipped: the mariadb client is missing")
		}
	}
	root := filepath.Join(t.TempDir(), "vtdataroot")
	base := freePortBase(t, 100, 101, 102, 200, 201, 202)
	env := []string{
		"VTDATAROOT=" + root,
		"MYSQL_PORT_BASE=" + strconv.Itoa(base),
		"VTGATE_MYSQL_PORT=" + strconv.Itoa(freePort(t)),
		"VTGATE_HTTP_PORT=" + strconv.Itoa(freePort(t)),
	}
	t.Cleanup(func() {
		pids := recordedPIDs(t, root)
		if out, err := run(t, env, "./401_teardown.sh"); err != nil {
			t.Errorf("401_teardown.sh: %v\n%s", err, out)
		}
		for _, pid := range pids {
			if alive(pid) {
				t.Errorf("pid %d still running after 401_teardown.sh", pid)
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		os.RemoveAll(root)
	})
	step := func(name, script string) string {
		t.Helper()
		out, err := run(t, env, script)
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		return out
	}
	port := func(uid int) string { return "127.0.0.1:" + strconv.Itoa(base+uid) }
	// route returns, from where_reads_go's output, the server of each VEXPLAIN in order.
	route := func(out string) []string {
		var servers []string
		for _, line := range strings.Split(out, "\n") {
			f := strings.Split(line, "|")
			if len(f) == 7 && strings.TrimSpace(f[1]) == "0" {
				servers = append(servers, strings.TrimSpace(f[4]))
			}
		}
		return servers
	}
	expect := func(name, out string, want ...string) {
		t.Helper()
		if got := route(out); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s: statements served by %v, want %v (rdonly, replica, primary read, write)\n%s", name, got, want, out)
		}
	}

	step("101", "./101_initial_cluster.sh")
	step("data", "source ./env.sh && mysql < ../common/insert_commerce_data.sql")
	step("201", "./201_customer_tablets.sh")
	step("202", "./202_move_tables.sh")

	out := step("203", "./203_migrate_reads.sh")
	expect("203", out, port(202), port(201), port(100), port(100))
	if !strings.Contains(out, "| replica,rdonly ") {
		t.Errorf("203: SHOW MIGRATIONS does not show reads switched:\n%s", out)
	}

	out = step("204", "./204_migrate_writes.sh")
	expect("204", out, port(202), port(201), port(200), port(200))
	for _, want := range []string{"| stream running            | ok ", "| customer.commerce2customer | customer  |", "commerce keyspace primary (through commerce.commerce2customer_reverse):\n6\tgrace@domain.com"} {
		if !strings.Contains(out, want) {
			t.Errorf("204 output lacks %q:\n%s", want, out)
		}
	}
	out = step("204, second run", "./204_migrate_writes.sh")
	if !strings.Contains(out, "already switched") {
		t.Errorf("204, second run, switched again:\n%s", out)
	}

	out = step("205", "./205_clean_commerce.sh")
	for _, want := range []string{"ERROR 1146 (42S02)", "| SKU-1001 | Monitor", "| Completed "} {
		if !strings.Contains(out, want) {
			t.Errorf("205 output lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "grace@domain.com") != 2 {
		t.Errorf("205: customer and customer.customer should both list grace:\n%s", out)
	}
}
