# Every development and CI task. `make` alone lists them; CI runs `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
CARGO ?= cargo
ADDR ?= 127.0.0.1:49983

.PHONY: help
help: ## List the tasks
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

.PHONY: run
run: ## Build envd and run it on $(ADDR)
	$(CARGO) build --release --bin envd
	$${CARGO_TARGET_DIR:-./target}/release/envd --addr $(ADDR)

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
lint: setup-node ## rustfmt check, clippy -D warnings, buf lint, architecture rules
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	node_modules/.bin/buf lint
	./scripts/check-architecture.sh

.PHONY: test-rust
test-rust: ## Rust unit and end-to-end tests (real envd, processes, PTYs, files)
	$(CARGO) test --workspace

.PHONY: test-interop
test-interop: ## Published e2b SDKs (npm, PyPI), connect-node protocol matrix, buf curl
	./tests/interop/run.sh

.PHONY: test
test: lint check-gen test-rust test-interop ## Everything CI runs

.PHONY: bench
bench: setup ## Benchmarks (print numbers; not part of CI)
	./tests/interop/bench.sh
