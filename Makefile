# vtgate-lite: common tasks. `make test` is what CI runs (.ci/run).
GO ?= go
FUZZTIME ?= 10s

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

# Fault-injection runs: not written yet.
chaos:
	@echo "chaos: not implemented yet"

# A short pass of every fuzz target (func FuzzXxx in a _test.go file), FUZZTIME each.
# Does nothing when there are none.
fuzz-short:
	@set -e; \
	for f in $$(grep -rl --include='*_test.go' '^func Fuzz' . 2>/dev/null); do \
		dir=$$(dirname "$$f"); \
		for name in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$$f"); do \
			echo "fuzz $$dir $$name ($(FUZZTIME))"; \
			$(GO) test -run='^$$' -fuzz="^$$name$$" -fuzztime=$(FUZZTIME) "./$$dir"; \
		done; \
	done
