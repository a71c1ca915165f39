package examples

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
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
	for range 100 {
		base := 20000 + rand.IntN(400)*100
		free := true
		for _, off := range offsets {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+off))
			if err != nil {
				free = false
				break
			}
			l.Close()
		}
		if free {
			return base
		}
	}
	t.Fatal("no free port range for MYSQL_PORT_BASE")
	return 0
}
