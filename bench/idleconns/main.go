// Command idleconns opens N client connections to a MySQL server (vtgate-lite in the
// benchmark), pings each one once, holds them all idle for a while, then closes them.
// It prints "READY <n>" on stdout once all connections are open and pinged, so a caller
// can measure the server while they sit idle.
//
//	go run ./bench/idleconns -dsn 'sb:sbpw@tcp(127.0.0.1:15306)/sbtest' -n 1000 -hold 5s
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	_ "github.com/go-sql-driver/mysql"
)

func main() {
	dsn := flag.String("dsn", "", "go-sql-driver DSN, e.g. user:pw@tcp(127.0.0.1:3306)/db")
	n := flag.Int("n", 1000, "number of connections")
	hold := flag.Duration("hold", 5*time.Second, "how long to hold the connections idle")
	par := flag.Int("parallel", 50, "connections opened concurrently")
	flag.Parse()
	if *dsn == "" {
		fmt.Fprintln(os.Stderr, "idleconns: -dsn is required")
		os.Exit(2)
	}
	db, err := sql.Open("mysql", *dsn)
	if err != nil {
		fmt.Fprintln(os.Stderr, "idleconns:", err)
		os.Exit(1)
	}
	db.SetMaxOpenConns(0)
	db.SetMaxIdleConns(*n)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conns := make([]*sql.Conn, *n)
	errs := make([]error, *n)
	sem := make(chan struct{}, *par)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := db.Conn(ctx)
			if err == nil {
				err = c.PingContext(ctx)
			}
			conns[i], errs[i] = c, err
		}(i)
	}
	wg.Wait()
	failed := 0
	var first error
	for _, err := range errs {
		if err != nil {
			failed++
			if first == nil {
				first = err
			}
		}
	}
	fmt.Printf("READY %d open=%d failed=%d in %s\n", *n-failed, *n-failed, failed, time.Since(start).Round(time.Millisecond))
	if first != nil {
		fmt.Fprintln(os.Stderr, "idleconns: first error:", first)
	}
	time.Sleep(*hold)
	for _, c := range conns {
		if c != nil {
			_ = c.Close()
		}
	}
	_ = db.Close()
	if failed > 0 {
		os.Exit(1)
	}
}
