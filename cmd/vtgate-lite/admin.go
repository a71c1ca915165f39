package main

import (
	"context"
	"crypto/tls"
	"log/slog"
	"os"
	"regexp"

	"github.com/vtgate-lite/vtgate-lite/config"
	"github.com/vtgate-lite/vtgate-lite/migration"
	"github.com/vtgate-lite/vtgate-lite/proxy"
	"github.com/vtgate-lite/vtgate-lite/router"
)

// admin adapts the migration engine to the proxy's Admin hook: the proxy does not import
// the engine (imports point inward), cmd wires them.
type admin struct {
	eng    *migration.Engine
	holder *router.Holder
	tp     *topology // nil in tests that build an admin alone
}

func newAdmin(cfg *config.Config, holder *router.Holder, tp *topology, backendTLS *tls.Config, log *slog.Logger) *admin {
	return &admin{holder: holder, tp: tp, eng: migration.NewEngine(migration.Config{
		Routing:           holder,
		CopyBatchRows:     cfg.Migration.CopyBatchRows,
		CopyRowsPerSecond: cfg.Migration.CopyRowsPerSecond,
		MaxSourceLag:      cfg.Migration.MaxSourceLag,
		BackendTLS:        backendTLS,
		Logger:            log.With("component", "migration"),
		StepHook:          pauseHook(os.Getenv(pauseEnv), log),
	})}
}

// pauseEnv names a step of MIGRATE WRITES or COMPLETE (migration.Config.StepHook lists them)
// at which the process stops making progress for good: a test-only hook with which the chaos
// suite (reliability/chaos_switch_test.go) kills -9 the real binary at an exact step. It logs
// "test hook: paused" first, which the test waits for. Unset in production.
const pauseEnv = "VTGATE_LITE_TEST_PAUSE_AT"

func pauseHook(step string, log *slog.Logger) func(string) error {
	if step == "" {
		return nil
	}
	log.Warn("test hook armed: MIGRATE WRITES / COMPLETE will pause for good at a step", "env", pauseEnv, "step", step)
	return func(s string) error {
		if s == step {
			log.Warn("test hook: paused", "step", s)
			select {}
		}
		return nil
	}
}

// showVTGates is SHOW VTGATES: the live instances of the topology.
type showVTGates struct{}

var showVTGatesRE = regexp.MustCompile(`(?is)^\s*show\s+vtgates\s*;?\s*$`)

func (a *admin) Parse(sql string) (any, bool, error) {
	if showVTGatesRE.MatchString(sql) {
		return showVTGates{}, true, nil
	}
	return migration.ParseAdmin(sql)
}

func (a *admin) Exec(ctx context.Context, cmd any) (*proxy.AdminResult, error) {
	if _, ok := cmd.(showVTGates); ok {
		cols, rows, err := a.tp.vtgates(ctx)
		if err != nil {
			return nil, err
		}
		return &proxy.AdminResult{Columns: cols, Rows: rows}, nil
	}
	before := a.holder.Load().Revision
	res, err := a.eng.Exec(ctx, cmd.(migration.Command))
	if err != nil {
		return nil, err
	}
	// A statement that changed the routing returns once every live instance serves it.
	if t := a.holder.Load(); a.tp != nil && t.Revision > before {
		if err := a.tp.awaitRouting(ctx, t); err != nil {
			return nil, err
		}
	}
	return &proxy.AdminResult{Columns: res.Columns, Rows: res.Rows, Info: res.Info}, nil
}

func (a *admin) Run(ctx context.Context) error { return a.eng.Run(ctx) }
