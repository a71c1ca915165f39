package main

import (
	"context"
	"log/slog"

	"github.com/vtgate-lite/vtgate-lite/config"
	"github.com/vtgate-lite/vtgate-lite/migration"
	"github.com/vtgate-lite/vtgate-lite/proxy"
	"github.com/vtgate-lite/vtgate-lite/router"
)

// admin adapts the migration engine to the proxy's Admin hook: the proxy does not import
// the engine (imports point inward), cmd wires them.
type admin struct{ eng *migration.Engine }

func newAdmin(cfg *config.Config, holder *router.Holder, log *slog.Logger) *admin {
	return &admin{eng: migration.NewEngine(migration.Config{
		Routing:           holder,
		CopyBatchRows:     cfg.Migration.CopyBatchRows,
		CopyRowsPerSecond: cfg.Migration.CopyRowsPerSecond,
		MaxSourceLag:      cfg.Migration.MaxSourceLag,
		Logger:            log.With("component", "migration"),
	})}
}

func (a *admin) Parse(sql string) (any, bool, error) { return migration.ParseAdmin(sql) }

func (a *admin) Exec(ctx context.Context, cmd any) (*proxy.AdminResult, error) {
	res, err := a.eng.Exec(ctx, cmd.(migration.Command))
	if err != nil {
		return nil, err
	}
	return &proxy.AdminResult{Columns: res.Columns, Rows: res.Rows, Info: res.Info}, nil
}

func (a *admin) Run(ctx context.Context) error { return a.eng.Run(ctx) }
