package examples

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vtgate-lite/vtgate-lite/internal/testcluster"
)

// TestLocalExample runs the README walkthrough end to end, on free ports and in a temporary
// VTDATAROOT, so it never meets a developer's own example cluster:
//  1. 101_initial_cluster.sh (MariaDB primary + replica + rdonly, vtgate-lite in front);
//  2. the insert and select scripts through vtgate-lite, output compared with the seed page's;
//  3. 101_initial_cluster.sh again, which must find everything up;
//  4. 401_teardown.sh, after which every recorded process is gone and VTDATAROOT removed.
//
// While cmd/vtgate-lite has no code yet, it runs 101 with SKIP_VTGATE=1 and reads the data
// straight from the primary and the replicas instead.
func TestLocalExample(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: starts three MariaDB servers")
	}
	testcluster.Require(t)
	if _, err := exec.LookPath("mariadb"); err != nil {
		if _, err := exec.LookPath("mysql"); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatal("CI=true but the mariadb client is missing")
			}
			t.Skip("skipped: the mariadb client is missing (apt-get install -y mariadb-client)")
		}
	}
	withVtgate := hasGoFiles(t, filepath.Join(repoRoot, "cmd", "vtgate-lite"))

	root := filepath.Join(t.TempDir(), "vtdataroot")
	env := []string{
		"VTDATAROOT=" + root,
		"MYSQL_PORT_BASE=" + strconv.Itoa(freePortBase(t, 100, 101, 102)),
		"VTGATE_MYSQL_PORT=" + strconv.Itoa(freePort(t)),
		"VTGATE_HTTP_PORT=" + strconv.Itoa(freePort(t)),
	}
	if !withVtgate {
		t.Log("cmd/vtgate-lite has no Go files yet: testing the MariaDB part only (SKIP_VTGATE=1)")
		env = append(env, "SKIP_VTGATE=1")
	}

	var pids []int
	t.Cleanup(func() {
		if out, err := run(t, env, "./401_teardown.sh"); err != nil {
			t.Errorf("401_teardown.sh: %v\n%s", err, out)
		}
		for _, pid := range pids {
			if alive(pid) {
				t.Errorf("pid %d still running after 401_teardown.sh", pid)
				syscall.Kill(pid, syscall.SIGKILL) // our own child's child: do not leak it
			}
		}
		if _, err := os.Stat(root); !os.IsNotExist(err) {
			t.Errorf("VTDATAROOT %s still exists after 401_teardown.sh (err=%v)", root, err)
		}
	})

	out, err := run(t, env, "./101_initial_cluster.sh")
	pids = recordedPIDs(t, root)
	if err != nil {
		t.Fatalf("101_initial_cluster.sh: %v\n%s", err, out)
	}
	want := len([]string{"primary", "replica", "rdonly"})
	if withVtgate {
		want++
	}
	if len(pids) != want {
		t.Fatalf("101 recorded %d pids in %s, want %d", len(pids), root, want)
	}

	golden, err := os.ReadFile("testdata/select_commerce_data.golden")
	if err != nil {
		t.Fatal(err)
	}
	// --unbuffered: the select script prints its headings with `\! echo`; on a terminal they
	// interleave with the tables as shown in the walkthrough, into a pipe only when flushed.
	if withVtgate {
		if out, err := run(t, env, "source ./env.sh && mysql < ../common/insert_commerce_data.sql"); err != nil {
			t.Fatalf("insert through vtgate-lite: %v\n%s", err, out)
		}
		out, err := run(t, env, "source ./env.sh && mysql --table --unbuffered < ../common/select_commerce_data.sql")
		if err != nil {
			t.Fatalf("select through vtgate-lite: %v\n%s", err, out)
		}
		if out != string(golden) {
			t.Errorf("select through vtgate-lite:\n%s\nwant (testdata/select_commerce_data.golden):\n%s", out, golden)
		}
	} else {
		if out, err := run(t, env, "source ./env.sh && mysql_backend $(mysql_port 100) commerce < ../common/insert_commerce_data.sql"); err != nil {
			t.Fatalf("insert on the primary: %v\n%s", err, out)
		}
		for _, uid := range []string{"100", "101", "102"} {
			script := `source ./env.sh
pos=$(mysql_backend $(mysql_port 100) -N -B -e 'select @@gtid_binlog_pos')
test "$(mysql_backend $(mysql_port ` + uid + `) -N -B -e "select master_gtid_wait('$pos', 10)")" = 0
mysql_backend $(mysql_port ` + uid + `) --table --unbuffered < ../common/select_commerce_data.sql`
			out, err := run(t, env, script)
			if err != nil {
				t.Fatalf("select on uid %s: %v\n%s", uid, err, out)
			}
			if out != string(golden) {
				t.Errorf("select on uid %s:\n%s\nwant:\n%s", uid, out, golden)
			}
		}
	}

	out, err = run(t, env, "./101_initial_cluster.sh")
	if err != nil {
		t.Fatalf("101_initial_cluster.sh, second run: %v\n%s", err, out)
	}
	if strings.Contains(out, "Starting") || !strings.Contains(out, "already running") {
		t.Errorf("101_initial_cluster.sh, second run, started something or did not say it was up:\n%s", out)
	}
	if got := recordedPIDs(t, root); fmt.Sprint(got) != fmt.Sprint(pids) {
		t.Errorf("pids after the second run %v, want unchanged %v", got, pids)
	}
}

// run runs a bash script in examples/local with env added, and returns its combined output.
func run(t *testing.T, env []string, script string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir = "local"
	cmd.Env = append(os.Environ(), env...)
	b, err := cmd.CombinedOutput()
	return string(b), err
}

// recordedPIDs reads every $VTDATAROOT/*.pid, in file-name order.
func recordedPIDs(t *testing.T, root string) []int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(root, "*.pid"))
	var pids []int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		pids = append(pids, pid)
	}
	return pids
}

// alive reports whether pid runs (a zombie waiting for its reaper counts as gone).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// "pid (comm) S ...": the state follows the last ')'.
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

func hasGoFiles(t *testing.T, dir string) bool {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	for _, f := range files {
		if !strings.HasSuffix(f, "_test.go") {
			return true
		}
	}
	return false
}

func freePort(t *testing.T) int {
	t.Helper()
	p, err := testcluster.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// freePortBase finds a base such that base+off is free for every offset (the scripts put
// tablet uid U on port MYSQL_PORT_BASE+U).
func freePortBase(t *testing.T, offsets ...int) int {
	t.Helper()
	base, err := testcluster.FreePortBase(offsets...)
	if err != nil {
		t.Fatal(err)
	}
	return base
}

// TestLocalMoveTables runs walkthrough steps 201 and 202 after 101, on free ports and in a
// temporary VTDATAROOT:
//  1. 101_initial_cluster.sh and the sample data, through vtgate-lite;
//  2. 201_customer_tablets.sh: keyspace customer (3 more MariaDB servers), added to the running
//     vtgate-lite through its config file; a second run must find everything up;
//  3. 202_move_tables.sh: MIGRATE TABLES customer, corder FROM commerce TO customer, which must
//     reach Running with a clean VDIFF;
//  4. through vtgate-lite, customer still returns the 5 customers and SHOW MIGRATIONS shows the
//     workflow Running; the target primary holds the copy, and a row inserted through
//     vtgate-lite (still routed to commerce) reaches it through the binlog stream;
//  5. 401_teardown.sh stops all seven processes and removes VTDATAROOT.
func TestLocalMoveTables(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: starts six MariaDB servers and vtgate-lite")
	}
	testcluster.Require(t)
	if _, err := exec.LookPath("mariadb"); err != nil {
		if _, err := exec.LookPath("mysql"); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatal("CI=true but the mariadb client is missing")
			}
			t.Skip("skipped: the mariadb client is missing (apt-get install -y mariadb-client)")
		}
	}
	if !hasGoFiles(t, filepath.Join(repoRoot, "cmd", "vtgate-lite")) {
		t.Skip("skipped: cmd/vtgate-lite has no Go files yet")
	}

	root := filepath.Join(t.TempDir(), "vtdataroot")
	env := []string{
		"VTDATAROOT=" + root,
		"MYSQL_PORT_BASE=" + strconv.Itoa(freePortBase(t, 100, 101, 102, 200, 201, 202)),
		"VTGATE_MYSQL_PORT=" + strconv.Itoa(freePort(t)),
		"VTGATE_HTTP_PORT=" + strconv.Itoa(freePort(t)),
	}
	var pids []int
	t.Cleanup(func() {
		pids = append(pids, recordedPIDs(t, root)...)
		if out, err := run(t, env, "./401_teardown.sh"); err != nil {
			t.Errorf("401_teardown.sh: %v\n%s", err, out)
		}
		for _, pid := range pids {
			if alive(pid) {
				t.Errorf("pid %d still running after 401_teardown.sh", pid)
				syscall.Kill(pid, syscall.SIGKILL) // our own child's child: do not leak it
			}
		}
		if _, err := os.Stat(root); !os.IsNotExist(err) {
			t.Errorf("VTDATAROOT %s still exists after 401_teardown.sh (err=%v)", root, err)
		}
	})
	step := func(name, script string) string {
		t.Helper()
		out, err := run(t, env, script)
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		return out
	}

	step("101_initial_cluster.sh", "./101_initial_cluster.sh")
	step("insert through vtgate-lite", "source ./env.sh && mysql < ../common/insert_commerce_data.sql")

	out := step("201_customer_tablets.sh", "./201_customer_tablets.sh")
	if !strings.Contains(out, "| customer |") {
		t.Errorf("201_customer_tablets.sh did not show customer in SHOW KEYSPACES:\n%s", out)
	}
	pids = recordedPIDs(t, root)
	if len(pids) != 7 {
		t.Fatalf("after 201, %d pids recorded in %s, want 7 (6 MariaDB + vtgate-lite)", len(pids), root)
	}
	out = step("201_customer_tablets.sh, second run", "./201_customer_tablets.sh")
	if strings.Contains(out, "Starting") || strings.Contains(out, "Adding keyspace") || !strings.Contains(out, "nothing to do") {
		t.Errorf("201_customer_tablets.sh, second run, started or changed something:\n%s", out)
	}
	if got := recordedPIDs(t, root); fmt.Sprint(got) != fmt.Sprint(pids) {
		t.Errorf("pids after the second run of 201 %v, want unchanged %v", got, pids)
	}

	out = step("202_move_tables.sh", "./202_move_tables.sh")
	for _, want := range []string{"workflow customer.commerce2customer created", "state Running", "| customer | completed | 5 "} {
		if !strings.Contains(out, want) {
			t.Errorf("202_move_tables.sh output lacks %q:\n%s", want, out)
		}
	}

	const customers = "1\talice@domain.com\n2\tbob@domain.com\n3\tcharlie@domain.com\n4\tdan@domain.com\n5\teve@domain.com\n"
	if got := step("select through vtgate-lite", "source ./env.sh && mysql -N -B commerce -e 'select * from customer order by customer_id'"); got != customers {
		t.Errorf("select * from customer through vtgate-lite after 202:\n%s\nwant:\n%s", got, customers)
	}
	golden, err := os.ReadFile("testdata/select_commerce_data.golden")
	if err != nil {
		t.Fatal(err)
	}
	if got := step("select script through vtgate-lite", "source ./env.sh && mysql --table --unbuffered < ../common/select_commerce_data.sql"); got != string(golden) {
		t.Errorf("select script through vtgate-lite after 202:\n%s\nwant (testdata/select_commerce_data.golden):\n%s", got, golden)
	}
	got := step("SHOW MIGRATIONS", "source ./env.sh && mysql_admin -N -B -e 'SHOW MIGRATIONS'")
	if !strings.HasPrefix(got, "customer.commerce2customer\tcommerce\tcustomer\tcustomer,corder\tRunning\t") {
		t.Errorf("SHOW MIGRATIONS after 202:\n%s\nwant a row customer.commerce2customer commerce customer customer,corder Running ...", got)
	}
	if got := step("select on the target primary", "source ./env.sh && mysql_backend $(mysql_port 200) customer -N -B -e 'select * from customer order by customer_id'"); got != customers {
		t.Errorf("select * from customer on the customer primary after 202:\n%s\nwant:\n%s", got, customers)
	}

	// Writes still go to commerce; the workflow carries them to customer.
	step("insert through vtgate-lite", "source ./env.sh && mysql commerce -e \"insert into customer(email) values('frank@domain.com')\"")
	step("the new row on the target primary", `source ./env.sh
for i in $(seq 100); do
	[ "$(mysql_backend $(mysql_port 200) customer -N -B -e "select email from customer where customer_id=6")" = frank@domain.com ] && exit 0
	sleep 0.2
done
echo "customer_id 6 did not reach the customer primary within 20s"
mysql_admin --table -e 'SHOW MIGRATION customer.commerce2customer'
exit 1`)
}
