package config

import (
	"context"
	"crypto/sha256"
	"os"
	"time"

	"github.com/spf13/pflag"
)

// Watch polls the config file, and the VSchema and routing-rules files it names, once a
// second. When their contents change it calls Load again (same path, same flags, the
// environment as it is then) and hands the result to onChange, or the error to onError, in
// which case the caller keeps its old config. Each change is reported once. Watch returns
// when ctx is done; with path "" it only waits for that.
//
// Polling file contents rather than using inotify survives editors that save by renaming a
// new file over the old one, and sees edits that keep the size and the mtime. Call Watch
// right after the Load whose result you use: a change made in between is not reported.
func Watch(ctx context.Context, path string, fs *pflag.FlagSet, onChange func(*Config), onError func(error)) {
	watch(ctx, path, fs, time.Second, onChange, onError)
}

func watch(ctx context.Context, path string, fs *pflag.FlagSet, every time.Duration, onChange func(*Config), onError func(error)) {
	if path == "" {
		<-ctx.Done()
		return
	}
	w := newWatcher(path, fs)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		switch c, changed, err := w.poll(); {
		case !changed:
		case err != nil:
			onError(err)
		default:
			onChange(c)
		}
	}
}

// watcher remembers what the watched files held when last looked at.
type watcher struct {
	path  string
	fs    *pflag.FlagSet
	files []string // the config file and the files it names
	last  [sha256.Size]byte
}

// newWatcher takes the baseline: the files as they are now.
func newWatcher(path string, fs *pflag.FlagSet) *watcher {
	w := &watcher{path: path, fs: fs, files: []string{path}}
	if c, err := Load(path, fs); err == nil {
		w.files = c.files()
	}
	w.last = fingerprint(w.files)
	return w
}

// poll reloads the config if the files changed since the last poll.
func (w *watcher) poll() (c *Config, changed bool, err error) {
	fp := fingerprint(w.files)
	if fp == w.last {
		return nil, false, nil
	}
	w.last = fp
	c, err = Load(w.path, w.fs)
	if err != nil {
		return nil, true, err
	}
	// The new config may name other files; watch those from now on.
	w.files = c.files()
	w.last = fingerprint(w.files)
	return c, true, nil
}

// fingerprint hashes the contents of files; an unreadable file counts as its error, so
// a file that disappears and comes back is seen as two changes.
func fingerprint(files []string) [sha256.Size]byte {
	h := sha256.New()
	for _, f := range files {
		h.Write([]byte(f))
		h.Write([]byte{0})
		b, err := os.ReadFile(f)
		if err != nil {
			h.Write([]byte("error: " + err.Error()))
		} else {
			h.Write(b)
		}
		h.Write([]byte{0})
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}
