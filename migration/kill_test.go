package migration

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/vtgate-lite/vtgate-lite/router"
)

// engineProcessEnv carries the keyspaces to a child process running only the engine.
const engineProcessEnv = "VTGL_MIGRATION_ENGINE_PROCESS"

type engineProcessSpec struct {
	Keyspaces map[string]*router.Keyspace
	Create    string // admin statement to run once at start ("" for none)
}

// TestEngineProcess is not a test: it is the body of the child process that TestKill9 starts
// and kills with SIGKILL.
func TestEngineProcess(t *testing.T) {
	raw := os.Getenv(engineProcessEnv)
	if raw == "" {
		t.Skip("helper process for TestKill9")
	}
	var spec engineProcessSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		t.Fatal(err)
	}
	h, err := router.NewHolder(spec.Keyspaces, &router.Schema{VSchema: map[string]*router.KeyspaceVSchema{}, Rules: map[string]string{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	eng := NewEngine(Config{Routing: h, CopyBatchRows: 200, CopyRowsPerSecond: 3000})
	go func() {
		if spec.Create == "" {
			return
		}
		time.Sleep(200 * time.Millisecond)
		cmd, _, err := ParseAdmin(spec.Create)
		if err == nil {
			_, err = eng.Exec(context.Background(), cmd)
		}
		if err != nil {
			os.Stderr.WriteString("create: " + err.Error() + "\n")
			os.Exit(3)
		}
	}()
	eng.Run(context.Background()) // until SIGKILL
}

// TestKill9 runs the engine in a child process and kills it with SIGKILL at random moments,
// mid-copy and mid-stream, under a write load; a new process resumes each time. The target
// ends up identical to the source.
func TestKill9(t *testing.T) {
	if os.Getenv(engineProcessEnv) != "" {
		t.Skip()
	}
	e := newEnv(t)
	e.createSchema()
	e.fill(2500)
	defer setCycle(300 * time.Millisecond)()
	ks := e.holder.Load().Keyspaces()
	spawn := func(create string) *exec.Cmd {
		b, _ := json.Marshal(engineProcessSpec{Keyspaces: ks, Create: create})
		cmd := exec.Command(os.Args[0], "-test.run=^TestEngineProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), engineProcessEnv+"="+string(b))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	kill := func(cmd *exec.Cmd) {
		cmd.Process.Kill() // SIGKILL
		cmd.Wait()
	}
	w := e.startWriter(2500)
	child := spawn("MIGRATE TABLES customer, corder FROM commerce TO customer")
	rng := rand.New(rand.NewPCG(7, 9))
	phase := func() (string, int64) {
		d := e.dst.Primary.Open(t, "")
		var p string
		var n int64
		if err := d.QueryRow("SELECT w.phase, IFNULL((SELECT SUM(rows_copied) FROM _vt_lite.copy_state),0) FROM _vt_lite.workflow w").Scan(&p, &n); err != nil {
			return "", 0
		}
		return p, n
	}
	kills := map[string]int{}
	killAt := func() {
		p, n := phase()
		kill(child)
		kills[p]++
		t.Logf("SIGKILL in phase %q with %d rows copied", p, n)
		child = spawn("")
	}
	// The first process creates the workflow; kills start once it exists.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if p, _ := phase(); p != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the workflow was not created")
		}
	}
	// Mid-copy kills.
	for range 4 {
		time.Sleep(time.Duration(200+rng.IntN(500)) * time.Millisecond)
		killAt()
	}
	waitRunning := func() {
		deadline := time.Now().Add(90 * time.Second)
		for time.Now().Before(deadline) {
			if p, _ := phase(); p == string(Running) {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatal("workflow did not reach Running")
	}
	waitRunning()
	// Mid-stream kills, under the write load.
	for range 4 {
		time.Sleep(time.Duration(100+rng.IntN(600)) * time.Millisecond)
		killAt()
	}
	w.halt()
	defer kill(child)
	waitRunning()
	if kills["Copying"] == 0 || kills["Running"] == 0 {
		t.Errorf("kills by phase: %v, want both phases", kills)
	}
	e.caughtUp("commerce2customer")
	e.sameData("customer", "corder")
}
