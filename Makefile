# vtgate-lite: common tasks. `make test` is what CI runs (.ci/run).
GO ?= go
# An execution count, not a duration: Go 1.26's fuzz coordinator can fail a target with
# "context deadline exceeded" when a duration -fuzztime expires (go.dev/issue/75804, fixed in
# Go 1.27; seen in our CI). A count has no deadline to race. By hand: make fuzz-short FUZZTIME=60s.
FUZZTIME ?= 50000x

.PHONY: test vet build cluster teardown bench chaos fuzz-short

# All tests, with the race detector. Integration tests start real mariadbd servers
# (internal/testcluster); they are skipped when MariaDB is missing, except under CI=true.
test:
	$(GO) vet ./... && $(GO) test -race -count=1 -timeout 15m ./...

vet:
	$(GO) vet ./...

build:
	$(GO) build -o bin/vtgate-lite ./cmd/vtgate-lite

# The local example: three MariaDB servers (keyspace commerce) with vtgate-lite in front.
cluster:
	examples/local/101_initial_cluster.sh

teardown:
	examples/local/401_teardown.sh

# Benchmarks (sysbench through vtgate-lite vs direct): bench/run.sh, when it exists.
bench:
	@if [ -x bench/run.sh ]; then bench/run.sh; else echo "bench: bench/run.sh does not exist yet"; fi

# Load through the real binary: 1,000 client connections (900 idle, 100 active) for
# LOAD_DURATION, then the ledger, backend-connection and back-to-baseline checks
# (reliability/TestLoad; docs/reliability.md). `make test` runs it too, with the 10s default.
# Long form: LOAD_DURATION=60s make load. LOAD_CONNS, LOAD_ACTIVE, LOAD_POOL_SIZE override.
LOAD_DURATION ?= 10s
.PHONY: load
load:
	LOAD_DURATION=$(LOAD_DURATION) $(GO) test -count=1 -run '^TestLoad$$' -v -timeout 30m ./reliability/

# Fault injection through the real binary during MIGRATE TABLES (reliability/chaos_test.go,
# chaos_switch_test.go; docs/reliability.md "Fault injection"): kill -9 of vtgate-lite, source
# replica/primary restarts, target primary down, DDL mid-stream, replica lag/death under
# @replica reads; kill -9 at every step of MIGRATE WRITES / COMPLETE, target down and an open
# transaction during MIGRATE WRITES. `make test` runs the short form (~55 s). Long form:
# CHAOS_LONG=1 make chaos (200k rows per table, 3 rounds of each fault, 10 s target outage).
CHAOS_LONG ?=
chaos:
	CHAOS_LONG=$(CHAOS_LONG) $(GO) test -race -count=1 -run '^TestChaos' -v -timeout 30m ./reliability/

# A short pass of every fuzz target (func FuzzXxx in a _test.go file), FUZZTIME each.
# Does nothing when there are none. With FUZZTIME=5s (.ci/run): ~55 s with a warm build
# cache, ~2 min 50 s cold (the planner target's instrumented build of the Vitess parser).
# A failing input is saved under the package's testdata/fuzz/ and fails the target.
fuzz-short:
	@set -e; \
	for f in $$(grep -rl --include='*_test.go' '^func Fuzz' . 2>/dev/null); do \
		dir=$$(dirname "$$f"); \
		for name in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$$f"); do \
			echo "fuzz $$dir $$name ($(FUZZTIME))"; \
			$(GO) test -run='^$$' -fuzz="^$$name$$" -fuzztime=$(FUZZTIME) "./$$dir"; \
		done; \
	done
