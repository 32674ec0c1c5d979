# streamops: the two commands are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# One target dir for every build (tests, demo, cargo lambda), kept outside the clone so a rerun
# on the same machine is incremental; a fresh machine simply builds it.
CARGO_TARGET_DIR ?= $(HOME)/.cache/streamops/target
export CARGO_TARGET_DIR
export SAM_CLI_TELEMETRY := 0
export AWS_EC2_METADATA_DISABLED := true
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: help setup demo test test-rust test-e2e check-template lint shape bench bench-partitions coldstart soak sam-build clean

help:
	@echo "make demo       run the whole suite locally on moto and show what happens"
	@echo "make test       every test: Rust unit + moto integration tests, end-to-end through cargo lambda, template checks"
	@echo "make lint       rustfmt and clippy"
	@echo "make shape      longest files and functions, module cycles (scripts/shape_report.py)"
	@echo "make bench      benchmarks (release build)"
	@echo "make bench-partitions  5,000 distinct hours in one SQS batch, registry writes sequential vs concurrent"
	@echo "make coldstart  every function's init time against a do-nothing baseline (release builds)"
	@echo "make soak       every function's soak and crash runs at full size, with the table (long)"
	@echo "make sam-build  sam build --beta-features for arm64 (slow)"

setup:
	@scripts/bootstrap.sh

demo: setup
	$(PY) scripts/demo.py

test: setup test-rust test-e2e check-template
	@echo "make test: all suites passed"

# --all-features turns on `integration`: the moto and Flink tests (a bare `cargo test` runs the unit tests only).
test-rust:
	cargo test --workspace --no-fail-fast --all-features

test-e2e:
	$(VENV)/bin/pytest -p no:cacheprovider tests/template tests/e2e tests/reliability -v

check-template:
	$(VENV)/bin/cfn-lint --append-rules cfn_lint_serverless.rules -- template.yaml
	$(VENV)/bin/sam validate --lint --region us-east-1
	.venv-checkov/bin/checkov -f template.yaml --framework cloudformation --skip-download --quiet --compact

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --all-features -- -D warnings

shape:
	python3 scripts/shape_report.py

bench:
	cargo build --release -p enrich --bin enrich-bench
	$(CARGO_TARGET_DIR)/release/enrich-bench $(BENCH_ARGS)

# One SQS batch naming 5,000 distinct hours through Athena on moto: registry writes one at a
# time (the baseline) and 32 in flight, interleaved (functions/partitions/tests/moto/bench.rs).
bench-partitions: setup
	cargo test -p partitions --features integration --test moto -- --ignored --nocapture bench_

coldstart: setup
	cargo build --release -p alerts -p enrich -p partitions -p checkpoints -p scaler -p streamops-test-support --bin alerts --bin enrich --bin partitions --bin checkpoints --bin scaler --bin coldstart-baseline
	$(PY) scripts/coldstart.py --bin-dir $(CARGO_TARGET_DIR)/release --runs 30

# The full sizes of issue 16 (make test runs the short ones, tests/reliability/test_soak.py).
soak: setup
	$(PY) -m tests.reliability.soak --size full $(SOAK_ARGS)

sam-build: setup
	rustup target add aarch64-unknown-linux-gnu
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/sam build --beta-features

clean:
	rm -rf .local .aws-sam
