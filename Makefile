# The targets are the exact commands CI runs (.ci/run calls `make test`).
CARGO ?= cargo

.PHONY: demo test lint unit fuzz build release bench clean

## A real export against the bundled simulator: short-lived tokens and injected faults.
demo:
	bash tests/demo.sh

## Formatting, lints and the whole test suite (unit, simulator, integration).
test: lint unit

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

unit:
	$(CARGO) test --workspace --locked

## The property tests at length (debug build, the one `make test` already compiled: its
## overflow checks are what the properties hunt). A new seed each run; a failure prints the
## seed that replays it. FUZZ_CASES and FUZZ_SEED override.
FUZZ_CASES ?= 200000
FUZZ_SEED ?= $(shell date +%s)
fuzz:
	GENESYS_EXPORT_PROP_CASES=$(FUZZ_CASES) GENESYS_EXPORT_PROP_SEED=$(FUZZ_SEED) $(CARGO) test --workspace --locked prop

## Throughput, wall time against each path's floor under a latency profile, and peak memory,
## against simulators; the targets are checked and printed by tests/bench.sh (about 6 minutes).
bench:
	bash tests/bench.sh

build:
	$(CARGO) build --release --locked -p genesys-export

## A fully static binary (musl) to copy onto any x86_64 Linux server.
## Needs the musl target and C compiler: rustup target add x86_64-unknown-linux-musl; apt-get install musl-tools
release:
	$(CARGO) build --release --locked -p genesys-export --target x86_64-unknown-linux-musl
	@echo "binary: target/x86_64-unknown-linux-musl/release/genesys-export"

clean:
	$(CARGO) clean
