package reliability

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// Metrics is one /metrics scrape: the sum of every series of each metric name.
type Metrics map[string]float64

// scrapeClient closes its connection after each scrape, so that scraping leaves no
// socket or goroutine behind in the process being measured.
var scrapeClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// Scrape reads a Prometheus text endpoint (http://host:port/metrics).
func Scrape(ctx context.Context, url string) (Metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := scrapeClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	return parseMetrics(resp.Body)
}

func parseMetrics(r io.Reader) (Metrics, error) {
	m := Metrics{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		// name{labels} value  or  name value
		name := line
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name = line[:i]
		}
		j := strings.LastIndexByte(line, ' ')
		if j < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[j+1:], 64)
		if err != nil {
			continue
		}
		m[name] += v
	}
	return m, sc.Err()
}

// ForceGC asks the process to collect garbage through /debug/pprof/heap?gc=1 (http_debug:
// true), so that the heap figures scraped next are live memory, not garbage.
func ForceGC(ctx context.Context, base string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/debug/pprof/heap?gc=1", nil)
	if err != nil {
		return err
	}
	resp, err := scrapeClient.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("heap profile: %s", resp.Status)
	}
	return nil
}

// ProcFDs counts the open file descriptors of pid (/proc/PID/fd).
func ProcFDs(pid int) (int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, err
	}
	return len(ents), nil
}

// ProcRSS is the resident set size of pid in bytes (VmRSS of /proc/PID/status).
func ProcRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) < 1 {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// Snapshot is the process figures the load test compares.
type Snapshot struct {
	Goroutines  int
	FDs         int
	RSS         int64 // bytes
	HeapInuse   int64 // bytes, go_memstats_heap_inuse_bytes
	HeapAlloc   int64 // bytes, go_memstats_heap_alloc_bytes
	Clients     int   // vtgate_lite_client_connections
	PoolOpen    int   // vtgate_lite_pool_connections, all pools
	PoolWaits   int   // vtgate_lite_pool_waits_total
	QueryErrors int   // vtgate_lite_errors_total
	Panics      int   // vtgate_lite_handler_panics_total
}

func (s Snapshot) String() string {
	return fmt.Sprintf("goroutines=%d fds=%d rss=%.1fMiB heap_inuse=%.1fMiB heap_alloc=%.1fMiB clients=%d pool_open=%d",
		s.Goroutines, s.FDs, mib(s.RSS), mib(s.HeapInuse), mib(s.HeapAlloc), s.Clients, s.PoolOpen)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// TakeSnapshot reads /proc/PID and the process's /metrics (httpBase is http://host:port).
// With gc, a garbage collection is forced first (needs http_debug).
func TakeSnapshot(ctx context.Context, pid int, httpBase string, gc bool) (Snapshot, error) {
	var s Snapshot
	if gc {
		if err := ForceGC(ctx, httpBase); err != nil {
			return s, err
		}
	}
	// /proc first: the scrape's own socket must not be counted.
	var err error
	if s.FDs, err = ProcFDs(pid); err != nil {
		return s, err
	}
	if s.RSS, err = ProcRSS(pid); err != nil {
		return s, err
	}
	m, err := Scrape(ctx, httpBase+"/metrics")
	if err != nil {
		return s, err
	}
	s.Goroutines = int(m["go_goroutines"])
	s.HeapInuse = int64(m["go_memstats_heap_inuse_bytes"])
	s.HeapAlloc = int64(m["go_memstats_heap_alloc_bytes"])
	s.Clients = int(m["vtgate_lite_client_connections"])
	s.PoolOpen = int(m["vtgate_lite_pool_connections"])
	s.PoolWaits = int(m["vtgate_lite_pool_waits_total"])
	s.QueryErrors = int(m["vtgate_lite_errors_total"])
	s.Panics = int(m["vtgate_lite_handler_panics_total"])
	return s, nil
}
