# Every development and CI task. `make` alone lists them; CI runs `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
CARGO ?= cargo
ADDR ?= 127.0.0.1:49983
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
# The debug envd every Node-driven suite runs against.
export ENVD_BIN ?= $(abspath $(TARGET_DIR))/debug/envd

.PHONY: help
help: ## List the tasks
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

.PHONY: run
run: ## Build envd and run it on $(ADDR)
	$(CARGO) build --release --bin envd
	$(TARGET_DIR)/release/envd --addr $(ADDR)

# The shipped binary: static (glibc with +crt-static; the musl target is not installed here),
# built for an explicit --target so build scripts and proc-macros stay dynamic host binaries.
# Relative relocations are packed (DT_RELR, glibc >= 2.36, binutils >= 2.38): static-pie keeps
# ASLR, and its 345 KiB of RELA entries shrink to 4 KiB.
RELEASE_RUSTFLAGS := -C target-feature=+crt-static -C link-arg=-Wl,-z,pack-relative-relocs
RELEASE_TARGET := x86_64-unknown-linux-gnu
RELEASE_BIN := $(abspath $(TARGET_DIR))/$(RELEASE_TARGET)/dist/envd

.PHONY: release
release: ## Static, stripped release envd (profile dist) -> target/x86_64-unknown-linux-gnu/dist/envd
	RUSTFLAGS="$(RELEASE_RUSTFLAGS)" $(CARGO) build --locked --profile dist --bin envd --target $(RELEASE_TARGET)
	@ls -l $(RELEASE_BIN)

.PHONY: release-path
release-path:
	@echo $(RELEASE_BIN)

.PHONY: check-release
check-release: setup ## Build the release envd; check it is static, <= 5 MiB, runs, and passes the e2b interop suites
	./scripts/check-release.sh

.PHONY: build
build: ## Debug build of the whole workspace
	$(CARGO) build --workspace --all-targets

.PHONY: setup
setup: setup-node setup-python ## Install the Node and Python tools the tests use

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

.PHONY: setup-node
setup-node: node_modules/.installed

.venv/.installed: tests/interop/requirements.txt
	rm -rf .venv
	python3 -m venv .venv
	.venv/bin/pip install --quiet --disable-pip-version-check -r tests/interop/requirements.txt
	@touch $@

.PHONY: setup-python
setup-python: .venv/.installed

.PHONY: gen
gen: setup-node ## Regenerate Rust (proto/src/gen) and TypeScript (sdk-ts/src/gen) from proto/
	$(CARGO) run -q -p envd-codegen
	npx buf generate

.PHONY: check-gen
check-gen: setup-node ## Fail if generated code drifted from proto/
	./scripts/check-gen.sh

.PHONY: fmt
fmt: ## Format Rust code
	$(CARGO) fmt --all

.PHONY: lint
lint: setup-node ## rustfmt check, clippy -D warnings, buf lint, architecture rules, TS type check and eslint
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	node_modules/.bin/buf lint
	./scripts/check-architecture.sh
	npm run typecheck -w @envd/sdk
	node_modules/.bin/eslint .

# cargo-deny is built once into .tmp/cargo-tools (about 5 minutes on 2 cores) and reused.
CARGO_DENY_VERSION := 0.20.2
CARGO_TOOLS := $(abspath .tmp/cargo-tools)
CARGO_DENY := $(CARGO_TOOLS)/bin/cargo-deny

$(CARGO_TOOLS)/.cargo-deny-$(CARGO_DENY_VERSION):
	$(CARGO) install --locked --force --root $(CARGO_TOOLS) cargo-deny@$(CARGO_DENY_VERSION)
	@touch $@

.PHONY: deny
deny: $(CARGO_TOOLS)/.cargo-deny-$(CARGO_DENY_VERSION) ## cargo-deny (deny.toml): licence allow-list, duplicate versions, sources; no advisory fetch
	$(CARGO) fetch --locked --target $(RELEASE_TARGET)
	$(CARGO_DENY) --offline --locked --workspace check licenses bans sources

.PHONY: breaking
breaking: setup-node ## buf breaking (WIRE_JSON): proto/ against the last release named in proto/RELEASED, from git history
	./scripts/check-breaking.sh

.PHONY: package-check
package-check: setup-node ## cargo package envd-proto/envd-sdk (verified); npm pack @envd/sdk, installed into an empty project and imported
	./scripts/package-check.sh

# The daemon's integration tests are one binary, tests/it (`cargo test --test it MODULE::`),
# plus tests/soak.rs; the rest of the workspace adds its unit tests, sdk-rs's and the drift check.
.PHONY: test-rust
test-rust: ## Rust unit and integration tests (tests/it: real envd for processes, PTYs, files; the router in process for protocol; envd-shell in tmux)
	./scripts/setup-lifecycle-tools.sh
	./scripts/setup-tmux.sh
	$(CARGO) test --workspace

.PHONY: test-shell
test-shell: ## envd-shell alone: unit tests, error exits, and the tmux tests against a real envd
	./scripts/setup-tmux.sh
	$(CARGO) build --bin envd
	$(CARGO) test -p envd-shell

# CI streams 64 MiB (in test-rust); this pushes the full 1 GiB.
.PHONY: test-memory
test-memory: ## sdk-rs: 1 GiB through a command handle and a terminal session, client RSS growth bounded
	$(CARGO) build --bin envd
	ENVD_MEMORY_TEST_BYTES=1073741824 $(CARGO) test -p envd-sdk --test memory -- --nocapture

FUZZ_SECONDS ?= 600
.PHONY: fuzz
fuzz: ## Every fuzz target under AFL++ for FUZZ_SECONDS each (default 600); findings go to fuzz/findings/
	./scripts/fuzz.sh $(FUZZ_SECONDS)

.PHONY: fuzz-smoke
fuzz-smoke: ## Every fuzz target for 20 s on its corpus (CI)
	./scripts/fuzz.sh 20

# CI runs tests/soak.rs (a binary of its own) once, one round with 200 idle streams, inside test-rust.
SOAK_SECONDS ?= 300
SOAK_IDLE_STREAMS ?= 1000
.PHONY: soak
soak: ## Fault and soak suite for SOAK_SECONDS (default 300) with SOAK_IDLE_STREAMS idle streams; prints its figures
	ENVD_SOAK_SECONDS=$(SOAK_SECONDS) ENVD_SOAK_IDLE_STREAMS=$(SOAK_IDLE_STREAMS) $(CARGO) test --test soak -- --nocapture

.PHONY: envd-debug
envd-debug:
	$(CARGO) build --bin envd

.PHONY: sdk-ts
sdk-ts: setup-node ## Build sdk-ts (tsc -> sdk-ts/dist)
	npm run build -w @envd/sdk

.PHONY: test-sdk-ts
test-sdk-ts: setup-node envd-debug ## sdk-ts unit and end-to-end tests (real envd)
	npm test -w @envd/sdk

.PHONY: conformance
conformance: setup-node envd-debug sdk-ts ## The cross-SDK conformance suite, for sdk-ts and sdk-rs
	$(CARGO) build -p envd-conformance-adapter-rs
	node conformance/runner/run.mjs --check
	node conformance/runner/selftest.mjs
	node conformance/runner/run.mjs --sdk ts
	node conformance/runner/run.mjs --sdk rs
	node conformance/runner/run.mjs --sdk ref

.PHONY: connect-conformance
connect-conformance: ## The official Connect conformance suite (server mode) against envd's protocol stack
	./scripts/connect-conformance.sh

.PHONY: test-browser
test-browser: setup-node envd-debug sdk-ts ## sdk-ts in headless Debian chromium (installs chromium)
	./scripts/setup-chromium.sh
	node tests/browser/run.mjs

.PHONY: test-interop
test-interop: ## Published e2b SDKs (npm, PyPI), connect-node protocol matrix, buf curl
	./tests/interop/run.sh

.PHONY: test
test: lint deny breaking check-gen package-check test-rust connect-conformance bench-smoke test-sdk-ts conformance test-browser test-interop check-release fuzz-smoke ## Everything CI runs

.PHONY: bench
bench: setup bench-terminal ## Benchmarks (print numbers; not part of CI)
	./tests/interop/bench.sh

.PHONY: bench-terminal
bench-terminal: setup-node envd-debug sdk-ts ## sdk-ts terminal sessions: keystroke echo latency p50/p99, PTY output MB/s (ENVD_BIN to pick the envd)
	node sdk-ts/bench/terminal.mjs

# envd-bench (tools/bench) speaks only the wire protocol, so it measures any envd, E2B's Go one
# included (`envd-bench --url http://HOST:PORT`). With --envd-bin it starts envd itself on a free
# 127.0.0.1 port with scratch --run-dir, --hosts-file and --drop-caches (never the machine's).
BENCH_ARGS ?=
.PHONY: bench-wire
bench-wire: ## envd-bench against a release envd it starts: exec, load, 1 GiB stdout and /files, idle streams, PTY, startup (BENCH_ARGS=--json)
	$(CARGO) build --release --bin envd
	$(CARGO) build --release -p envd-bench
	$(TARGET_DIR)/release/envd-bench --envd-bin $(TARGET_DIR)/release/envd $(BENCH_ARGS)

.PHONY: bench-smoke
bench-smoke: ## envd-bench --smoke against a debug envd: every figure at toy sizes, fails on any wrong byte or missing event
	$(CARGO) build --bin envd
	$(CARGO) build -p envd-bench
	$(TARGET_DIR)/debug/envd-bench --envd-bin $(TARGET_DIR)/debug/envd --smoke $(BENCH_ARGS)
