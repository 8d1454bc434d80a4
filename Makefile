# Every target does its own setup; stamps under .make/ keep a second run cheap.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMPS := .make

.PHONY: help setup engine browser images test demo lint fuzz bench prove clean fuzz-diff wheel-check

help:
	@echo "make demo    run the main job (sets everything up first)"
	@echo "make test    run the whole test suite on the real engine"
	@echo "make setup | engine | browser | images | lint | fuzz | bench | wheel-check | clean"

$(STAMPS)/venv: pyproject.toml
	@mkdir -p $(STAMPS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

engine:
	@scripts/ensure-engine.sh

# Debian's chromium, for the tests of airlock serve's page (Playwright drives it).
browser:
	@scripts/ensure-browser.sh

images: $(STAMPS)/venv engine
	@$(BIN)/airlock images build

setup: $(STAMPS)/venv engine images browser

# The suite, but for the slow attack and fuzz scenarios (`make prove` runs those), on
# TEST_WORKERS xdist workers (0: in this process). A test file runs whole on one worker,
# files in collection order; the tests that must not overlap share one worker
# (tests/xdist_scopes.py).
TEST_WORKERS ?= 2

test: setup
	$(BIN)/pytest -m "not slow" -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

demo: setup
	@$(BIN)/airlock demo

# The wheel in a fresh venv outside the checkout runs doctor, check, exec, bench, demo.
wheel-check: setup
	scripts/check-wheel.sh

lint: $(STAMPS)/venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

FUZZ_SECONDS ?= 600

fuzz: $(STAMPS)/venv
	mkdir -p .make/fuzz-artifacts
	$(BIN)/python tests/fuzz/fuzz_analyzer.py -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -len_control=20 -timeout=10 \
		-rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix=.make/fuzz-artifacts/

bench: setup
	$(BIN)/airlock bench analyzer --json
	$(BIN)/airlock bench context --json
	$(BIN)/airlock bench sandbox --runtime runc --json
	$(BIN)/airlock bench sandbox --runtime runsc --json
	$(BIN)/airlock bench egress --runtime runc --json
	$(BIN)/airlock bench egress --runtime runsc --json
	$(BIN)/airlock bench service --json

PROVE_SESSIONS ?= 50
PROVE_COMMANDS ?= 100
PROVE_FUZZ_SECONDS ?= 120

prove: setup
	$(BIN)/pytest -m slow
	$(BIN)/airlock prove --sessions $(PROVE_SESSIONS) --commands $(PROVE_COMMANDS) \
		--fuzz-seconds $(PROVE_FUZZ_SECONDS)

clean:
	rm -rf $(STAMPS) $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

FUZZ_DIFF_SECONDS ?= 120

# Differential execution fuzzing: what the analyzer allows runs in a traced oracle sandbox.
fuzz-diff: setup
	FUZZ_DIFF_SECONDS=$(FUZZ_DIFF_SECONDS) $(BIN)/airlock fuzz-diff
