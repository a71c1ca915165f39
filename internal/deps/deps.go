// Package deps pins the modules the design card names, so `go mod tidy` keeps them
// while the packages that use them are being written. It has no code.
package deps

import (
	_ "github.com/go-mysql-org/go-mysql/client"
	_ "github.com/go-mysql-org/go-mysql/replication"
	_ "github.com/go-sql-driver/mysql"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/spf13/pflag"
	_ "github.com/spf13/viper"
	_ "golang.org/x/sync/errgroup"
	_ "vitess.io/vitess/go/vt/sqlparser"
)
