// Package reliability holds vtgate-lite's end-to-end reliability checks: they run the real
// binary (built with `go build` into a temporary directory) in front of real MariaDB servers
// from internal/testcluster, and look at it from the outside (client results, the backend's
// processlist, /metrics, /proc/PID).
//
//   - TestLoad: 1,000 client connections (900 idle, 100 active with point selects,
//     inserts, updates, BEGIN..COMMIT and BEGIN..ROLLBACK) for LOAD_DURATION (default 10s).
//     No client error; backend connections never exceed pool.size; after the clients
//     leave, goroutines, file descriptors and the Go heap return to their baseline; every
//     acknowledged write is on the backend exactly once and no rolled-back one is.
//   - TestGracefulShutdown: SIGTERM while statements are in flight; they complete and
//     return their results, new connections are refused, idle ones are closed, nothing
//     acknowledged is lost and the process exits 0 in time.
//
// The load generator (RunLoad) is an ordinary function so that cmd/vtgl-load can drive any
// running vtgate-lite by hand. See docs/reliability.md for the figures.
package reliability
