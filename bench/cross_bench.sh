#!/usr/bin/env bash
# Issue #6 benchmark: a cross-keyspace join through vtgate-lite vs the same query on one
# server holding both tables, measured alternately in one run. Prints the ratio.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
CROSS_BENCH=1 go test -count=1 -timeout 20m -run '^TestCrossKeyspaceBench$' -v ./proxy/ | grep -E "cross-keyspace|one server|loaded|FAIL|ok"
