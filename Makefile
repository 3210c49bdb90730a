# The two commands a new user needs are `make run` and `make test` (see README.md).
#
# Every target depends on a stamp file in the virtualenv, so the first call
# creates .venv and installs requirements-dev.txt, and later calls skip that
# step until a requirements file changes.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MANAGE := $(BIN)/python manage.py

# Extra arguments for pytest, e.g. `make test PYTEST_ARGS="--create-db -x"`.
PYTEST_ARGS ?=
# Where `make run` listens.
HOST ?= 127.0.0.1
PORT ?= 8000
STRIPE_PORT ?= 8420
TIKTOK_PORT ?= 8430

.DEFAULT_GOAL := help
.PHONY: help install migrate demo run test check bench-ingest bench-timers bench-tiktok bench-tiktok-sync bench-lists bench-scaleout topology clean

# Local development and the test suite run with DEBUG on (settings refuse the
# development SECRET_KEY otherwise). Production never runs through this file.
run test migrate demo check: export DEBUG := true

help:
	@echo "make run           install, migrate, load demo data once, then run web + tasks + Stripe and TikTok emulators"
	@echo "make test          run the test suite (PYTEST_ARGS=... for pytest options)"
	@echo "make check         lint (ruff, layer contracts), missing migrations and Django system checks"
	@echo "make bench-ingest  API intake throughput benchmark (needs PostgreSQL on 127.0.0.1)"
	@echo "make bench-timers  timer scaling benchmark (needs PostgreSQL on 127.0.0.1)"
	@echo "make bench-tiktok  TikTok webhook intake against the API (needs PostgreSQL on 127.0.0.1)"
	@echo "make bench-tiktok-sync  TikTok outbound: calls per label and stock change, decision to TikTok time"
	@echo "make bench-lists   list pages at 1M orders against 10k (needs PostgreSQL; BENCH_ARGS=--rebuild)"
	@echo "make bench-scaleout throughput with 1 and 2 task clusters, and duplicated effects (PostgreSQL and REDIS_URL)"
	@echo "make topology      web + TASK_CLUSTERS task clusters + DELIVERY_CLUSTERS delivery clusters (Procfile)"
	@echo "make clean         remove the virtualenv and caches"

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(STAMP)

migrate: $(STAMP)
	$(MANAGE) migrate --noinput

demo: migrate
	@mkdir -p var
	$(MANAGE) load_demo

# Development settings for commands run outside make (`python manage.py load_demo`, `process_timers`...):
# a git-ignored .env, written once and never overwritten.
.env:
	@printf '# Local development settings, written by `make run` (git-ignored). Production sets its\n# variables in the environment instead; see the README'"'"'s configuration table.\nDEBUG=true\n' > $@
	@echo "wrote .env (DEBUG=true) for commands run outside make"

run: .env demo
	$(BIN)/python scripts/devserver.py --host $(HOST) --port $(PORT) --stripe-port $(STRIPE_PORT) --tiktok-port $(TIKTOK_PORT)

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(MANAGE) makemigrations --check --dry-run
	$(MANAGE) check

bench-ingest: $(STAMP)
	$(BIN)/python bench/ingest.py

bench-timers: $(STAMP)
	$(BIN)/python bench/timers.py

bench-tiktok: $(STAMP)
	$(BIN)/python bench/tiktok_intake.py

bench-tiktok-sync: $(STAMP)
	$(BIN)/python bench/tiktok_sync.py

# Extra arguments for a benchmark, e.g. `make bench-lists BENCH_ARGS=--rebuild`.
BENCH_ARGS ?=

# The two databases it fills are kept for the next run; BENCH_ARGS="--rebuild" starts over.
bench-lists: $(STAMP)
	$(BIN)/python bench/lists.py $(BENCH_ARGS)

# Empties the Redis database of REDIS_URL: give it one of its own.
bench-scaleout: $(STAMP)
	$(BIN)/python bench/scaleout.py $(BENCH_ARGS)

topology: $(STAMP)
	$(BIN)/python scripts/topology.py

clean:
	rm -rf $(VENV) .pytest_cache staticfiles
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
