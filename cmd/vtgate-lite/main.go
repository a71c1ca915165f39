// Command vtgate-lite runs the proxy: vtgate-lite --config FILE.
//
// It only wires packages together:
//  1. config.Load reads the file, VTGATE_LITE_* variables and flags, and validates them.
//  2. The topology (topo.implementation: file = the state store in state_dir, or etcd, shared
//     by every instance) holds the routing schema; on first start the VSchema files and
//     routing rules from the config seed it (topo.go).
//  3. router.Holder owns the routing table; the proxy and the migration engine change it
//     through the topology, and the topology's watch brings other instances' changes.
//  4. The proxy serves MySQL on `listen`; /metrics, /healthz and /debug/pprof on `http_listen`.
//  5. config.Watch applies keyspaces added to or removed from the file without a restart.
//  6. SIGINT/SIGTERM: stop accepting, finish in-flight statements, exit.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"

	"github.com/vtgate-lite/vtgate-lite/config"
	"github.com/vtgate-lite/vtgate-lite/proxy"
	"github.com/vtgate-lite/vtgate-lite/proxy/wire"
	"github.com/vtgate-lite/vtgate-lite/store"
)

func main() {
	fs := pflag.NewFlagSet("vtgate-lite", pflag.ContinueOnError)
	cfgPath := fs.String("config", "", "YAML config file")
	config.RegisterFlags(fs)
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	cfg, err := config.Load(*cfgPath, fs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vtgate-lite:", err)
		os.Exit(2)
	}
	if os.Getenv("GOMAXPROCS") == "" {
		if n := cfg.Procs(runtime.NumCPU()); n > 0 {
			runtime.GOMAXPROCS(n)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, *cfgPath, fs); err != nil {
		slog.Error("vtgate-lite stopped", "err", err)
		os.Exit(1)
	}
}

func newLogger(cfg *config.Config) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

func run(ctx context.Context, cfg *config.Config, cfgPath string, fs *pflag.FlagSet) error {
	log := newLogger(cfg)
	slog.SetDefault(log)

	st, err := store.Open(cfg.StateDir)
	if err != nil {
		return err
	}
	tp, err := openTopology(ctx, cfg, st, log)
	if err != nil {
		return err
	}
	defer tp.Close()
	holder := tp.holder

	// The proxy registers on its own registry (tests build many proxies in one process);
	// the migration engine and the Go/process collectors use the default one. /metrics
	// serves both.
	reg := prometheus.NewRegistry()

	tlsCfg, err := clientTLS(cfg, log)
	if err != nil {
		return err
	}
	backendTLS, err := backendTLSConfig(cfg)
	if err != nil {
		return err
	}
	users := map[string]*wire.User{}
	for _, u := range cfg.Users {
		users[u.Name] = &wire.User{Name: u.Name, Password: u.Password, NativeHash: u.PasswordHash, Admin: u.Admin, Keyspaces: u.Keyspaces,
			BackendUser: u.BackendUser, BackendPassword: u.BackendPassword}
	}
	adm := newAdmin(cfg, holder, tp, backendTLS, log)
	p, err := proxy.New(proxy.Config{
		Routing:         holder,
		Users:           func(name string) (*wire.User, bool) { u, ok := users[name]; return u, ok },
		ServerVersion:   serverVersion(ctx, cfg, backendTLS, log),
		TLS:             tlsCfg,
		RequireTLS:      cfg.TLS.Require,
		BackendTLS:      backendTLS,
		MaxConnections:  cfg.MaxConnections,
		PoolSize:        cfg.Pool.Size,
		PoolIdleTimeout: cfg.Pool.IdleTimeout,
		PoolWaitTimeout: cfg.Pool.WaitTimeout,
		BackendPoller:   cfg.BackendIO == "poller",
		QueryTimeout:    cfg.QueryTimeout,
		MaxReplicaLag:   cfg.MaxReplicaLag,
		TransactionMode: cfg.TransactionMode,
		DefaultKeyspace: cfg.DefaultKeyspace,
		MaxRowsInMemory: cfg.MaxRowsInMemory,
		Store:           st,
		Admin:           adm,
		AwaitRouting:    tp.awaitRouting,
		Registerer:      reg,
		Logger:          log,
	})
	if err != nil {
		return err
	}
	defer p.Close()
	adm.eng.SetTrafficGate(p) // MIGRATE WRITES holds and drains through the proxy
	p.SetHoldLimits(cfg.Hold.MaxStatements, cfg.Hold.MaxWait)
	if err := p.RecoverTwoPC(ctx); err != nil {
		return fmt.Errorf("two-phase commit recovery: %w", err)
	}

	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	if err := tp.register(ctx, l.Addr(), cfg.HTTPListen); err != nil {
		l.Close()
		return err
	}
	log.Info("vtgate-lite listening", "mysql", l.Addr().String(), "http", cfg.HTTPListen, "keyspaces", holder.Load().KeyspaceNames())

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return p.Serve(ctx, l) })
	g.Go(func() error { return serveHTTP(ctx, cfg, reg) })
	g.Go(func() error { return adm.Run(ctx) })
	g.Go(func() error { return tp.follow(ctx) })
	if cfgPath != "" {
		g.Go(func() error {
			config.Watch(ctx, cfgPath, fs, func(nc *config.Config) {
				if _, err := holder.SetKeyspaces(nc.Keyspaces); err != nil {
					log.Error("config reload refused", "err", err)
					return
				}
				log.Info("config reloaded", "keyspaces", holder.Load().KeyspaceNames())
			}, func(err error) { log.Error("config reload failed; keeping the running config", "err", err) })
			return nil
		})
	}
	return g.Wait()
}

func serveHTTP(ctx context.Context, cfg *config.Config, reg *prometheus.Registry) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(prometheus.Gatherers{reg, prometheus.DefaultGatherer}, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	if cfg.HTTPDebug {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	srv := &http.Server{Addr: cfg.HTTPListen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http_listen %s: %w", cfg.HTTPListen, err)
	}
	return nil
}

// serverVersion advertises the first primary's version, so clients pick the right dialect.
func serverVersion(ctx context.Context, cfg *config.Config, backendTLS *tls.Config, log *slog.Logger) string {
	for _, k := range cfg.Keyspaces {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		c, err := client.ConnectWithContext(cctx, k.Primary, k.User, k.Password, "", 3*time.Second, func(c *client.Conn) error {
			if backendTLS != nil {
				c.SetTLSConfig(proxy.TLSForBackend(backendTLS, k.Primary))
			}
			return nil
		})
		cancel()
		if err != nil {
			log.Warn("cannot reach primary to learn its version", "keyspace", k.Name, "err", err)
			continue
		}
		v := c.GetServerVersion()
		c.Close()
		v = strings.TrimPrefix(v, "5.5.5-")
		if i := strings.Index(v, "-log"); i > 0 {
			v = v[:i]
		}
		return v + "-vtgate-lite"
	}
	return "8.0.30-vtgate-lite"
}

// clientTLS builds the client-facing TLS config: the configured certificate, or without one
// (tls.auto_generate) the one generated in state_dir; nil when TLS is off.
func clientTLS(cfg *config.Config, log *slog.Logger) (*tls.Config, error) {
	certFile, keyFile, auto, generated := cfg.TLS.Cert, cfg.TLS.Key, false, false
	if certFile == "" {
		if !cfg.TLS.AutoGenerate {
			return nil, nil
		}
		var err error
		if certFile, keyFile, generated, err = autoCertificate(cfg.StateDir); err != nil {
			return nil, err
		}
		auto = true
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	logCertificate(log, cert, certFile, generated, auto)
	t := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if cfg.TLS.CA != "" {
		pool, err := caPool(cfg.TLS.CA)
		if err != nil {
			return nil, err
		}
		t.ClientCAs, t.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return t, nil
}

func backendTLSConfig(cfg *config.Config) (*tls.Config, error) {
	if !cfg.BackendTLS.Enabled {
		return nil, nil
	}
	t := &tls.Config{InsecureSkipVerify: cfg.BackendTLS.SkipVerify, MinVersion: tls.VersionTLS12} //nolint:gosec // opt-in by config
	if cfg.BackendTLS.CA != "" {
		pool, err := caPool(cfg.BackendTLS.CA)
		if err != nil {
			return nil, err
		}
		t.RootCAs = pool
	}
	return t, nil
}

func caPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tls ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("tls ca %s: no certificates found", path)
	}
	return pool, nil
}

var _ = hex.EncodeToString
