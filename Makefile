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

## Throughput, wall time against each path's floor under a latency profile, peak memory, and
## CPU per 1 000 conversations beside the parse floor, against simulators; the targets are
## checked and printed by tests/bench.sh (about 7 minutes).
bench:
	bash tests/bench.sh

build:
	$(CARGO) build --release --locked -p genesys-export

## The release artifacts in target/dist/: static x86_64 and ARM64 (cross-built, musl) Linux
## binaries and a Windows .exe (only Windows' own DLLs), each at most 6 MiB and tested where it
## runs (natively, under qemu-aarch64, under wine): --version, an export against the simulator
## compared with the ground truth, a kill -9 mid-run resumed byte for byte; under wine also the
## Windows-specific tests (reparse points, ACL, lock, Ctrl-C). Installs the rustup targets and
## the cross compilers, qemu-user and wine (apt-get) where missing (tests/release.sh).
release:
	bash tests/release.sh

clean:
	$(CARGO) clean
