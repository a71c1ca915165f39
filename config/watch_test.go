package config

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestWatcherPoll drives the poll step directly, so it needs no timing.
func TestWatcherPoll(t *testing.T) {
	dir := writeFiles(t, map[string]string{"c.yaml": base + "listen: 127.0.0.1:1\n"})
	path := filepath.Join(dir, "c.yaml")
	w := newWatcher(path, nil)

	if _, changed, _ := w.poll(); changed {
		t.Fatal("change reported with nothing changed")
	}

	write(t, path, base+"listen: 127.0.0.1:2\n")
	c, changed, err := w.poll()
	if !changed || err != nil || c.Listen != "127.0.0.1:2" {
		t.Fatalf("after edit: changed %v err %v config %+v", changed, err, c)
	}
	if _, changed, _ := w.poll(); changed {
		t.Fatal("the same change reported twice")
	}

	// Same size, same content length: still seen.
	write(t, path, base+"listen: 127.0.0.1:3\n")
	if c, changed, err := w.poll(); !changed || err != nil || c.Listen != "127.0.0.1:3" {
		t.Fatalf("same-size edit: changed %v err %v", changed, err)
	}

	write(t, path, base+"listen: nope\n")
	if _, changed, err := w.poll(); !changed || err == nil || !strings.Contains(err.Error(), `config: listen: "nope"`) {
		t.Fatalf("invalid edit: changed %v err %v", changed, err)
	}
	if _, changed, _ := w.poll(); changed {
		t.Fatal("the same invalid file reported twice")
	}

	// An editor saving by rename.
	tmp := filepath.Join(dir, "c.yaml.tmp")
	write(t, tmp, base+"listen: 127.0.0.1:4\n")
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	if c, changed, err := w.poll(); !changed || err != nil || c.Listen != "127.0.0.1:4" {
		t.Fatalf("rename: changed %v err %v", changed, err)
	}

	// A VSchema file named by the config is watched too, once the config names it.
	write(t, filepath.Join(dir, "vs.json"), vschemaJSON)
	write(t, path, base+"vschema: {commerce: vs.json}\n")
	if c, changed, err := w.poll(); !changed || err != nil || len(c.VSchemas["commerce"].Tables) != 2 {
		t.Fatalf("vschema named: changed %v err %v", changed, err)
	}
	write(t, filepath.Join(dir, "vs.json"), `{"tables": {"product": {}}}`)
	if c, changed, err := w.poll(); !changed || err != nil || len(c.VSchemas["commerce"].Tables) != 1 {
		t.Fatalf("vschema edit: changed %v err %v", changed, err)
	}

	// A deleted file is an error; its return is a change.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, changed, err := w.poll(); !changed || err == nil {
		t.Fatalf("deleted: changed %v err %v", changed, err)
	}
	write(t, path, base)
	if _, changed, err := w.poll(); !changed || err != nil {
		t.Fatalf("restored: changed %v err %v", changed, err)
	}
}

// TestWatch runs the real Watch (1 s polls): a change reaches onChange, an invalid file
// reaches onError without an onChange, and cancelling the context returns.
func TestWatch(t *testing.T) {
	dir := writeFiles(t, map[string]string{"c.yaml": base + "listen: 127.0.0.1:1\n"})
	path := filepath.Join(dir, "c.yaml")
	changes := make(chan *Config, 10)
	errs := make(chan error, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Watch(ctx, path, nil, func(c *Config) { changes <- c }, func(err error) { errs <- err })
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Watch did not return after cancel")
		}
	}()

	// Watch takes its baseline when it starts, which the test cannot see; write until a
	// change is reported, each write different.
	deadline := time.After(15 * time.Second)
	var got *Config
	for port := 2; got == nil; port++ {
		write(t, path, base+"listen: 127.0.0.1:"+strconv.Itoa(port)+"\n")
		select {
		case got = <-changes:
		case err := <-errs:
			t.Fatalf("onError: %v", err)
		case <-time.After(1500 * time.Millisecond):
		case <-deadline:
			t.Fatal("no onChange")
		}
	}
	if got.Listen == "127.0.0.1:1" {
		t.Fatalf("onChange with the old config")
	}
	drain(changes)

	write(t, path, base+"transaction_mode: foo\n")
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), `transaction_mode: "foo"`) {
			t.Fatalf("onError(%v)", err)
		}
	case c := <-changes:
		t.Fatalf("onChange(%+v) for an invalid file", c)
	case <-time.After(10 * time.Second):
		t.Fatal("no onError")
	}
	select {
	case c := <-changes:
		t.Fatalf("onChange(%+v) after an invalid file", c)
	case err := <-errs:
		t.Fatalf("onError reported twice: %v", err)
	case <-time.After(1500 * time.Millisecond):
	}
}

func TestWatchWithoutFileWaitsForCancel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	watch(ctx, "", nil, time.Millisecond, func(*Config) { t.Error("onChange") }, func(error) { t.Error("onError") })
}

func drain(ch chan *Config) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}
