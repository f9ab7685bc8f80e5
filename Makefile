# Venture CRM — every task a developer or admin needs, each setting up what it depends on.
# `make run` and `make test` are the two commands that work on a fresh machine.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PORT ?= 8080
# This machine only, unless asked: `make run HOST=0.0.0.0` serves the office LAN. `:=` rather
# than `?=` so a HOST exported by a shell or container (often the machine's name) cannot open
# the demo passwords to the network unasked; HOST=… on the make command line still wins.
HOST := 127.0.0.1
LOOPBACK := 127.0.0.1 localhost ::1 [::1]
WORKERS ?= 3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# The newest Python 3.11+ on the machine (Django 5.2 needs 3.10+; we test on 3.11).
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& { command -v $$p; break; }; done)
CHROMIUM ?= /usr/bin/chromium
# The IMAP server the email-capture tests start on a loopback port (Debian's dovecot-imapd).
DOVECOT ?= /usr/sbin/dovecot
# Test processes (pytest-xdist): one per core by default; TEST_WORKERS=0 runs the suite in one process.
TEST_WORKERS ?= auto
# The background worker: runs dry runs, imports and large undos queued in the database.
WORKER = $(PY) manage.py db_worker --no-reload

.PHONY: help prepare run serve dev test lint format test-postgres seed-bulk backup benchmark clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(VENV)/.runtime: requirements.txt
	@test -n "$(PYTHON)" || { echo "Venture CRM needs Python 3.11 or newer on PATH." >&2; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

# The system Chromium for browser tests: Playwright must never download a browser itself.
$(CHROMIUM):
	@echo "Installing Debian's chromium for the browser tests…"
	@if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; fi

# The IMAP server for the email-capture tests; the suite starts its own copy, never the system's service.
$(DOVECOT):
	@echo "Installing Debian's dovecot-imapd for the email-capture tests…"
	@if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd; \
	else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd; fi

prepare: $(VENV)/.runtime
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py start_schedule

run: prepare ## Set up, load the demo data into an empty database, and serve on 127.0.0.1 (HOST=0.0.0.0 for the LAN)
	$(PY) manage.py seed_demo --if-empty
	@echo
	@echo "  Venture CRM is starting on http://$(if $(filter $(LOOPBACK),$(HOST)),localhost,$$(hostname)):$(PORT)/  (listening on $(HOST))"
	@echo "  Demo sign-ins (both admins): admin / admin123 and grant / password."
	@echo "  Change both passwords before anyone else can reach it:"
	@echo "    $(PY) manage.py changepassword admin; $(PY) manage.py changepassword grant"
	@echo "$(if $(filter $(LOOPBACK),$(HOST)),  Only this machine can reach it. For the office LAN: make run HOST=0.0.0.0,  WARNING: other machines can reach it now; anyone who knows the demo passwords can sign in.)"
	@echo "  Imports run in the background worker started beside it (Ctrl-C stops both)."
	@echo
	crm/together.sh $(WORKER) -- $(BIN)/gunicorn crm.wsgi --bind $(HOST):$(PORT) --workers $(WORKERS) --timeout 120 --access-logfile - --log-level info

serve: prepare ## Production: migrate, collect static files, serve with gunicorn on 127.0.0.1 (behind a proxy) and the import worker; no demo data
	crm/together.sh $(WORKER) -- $(BIN)/gunicorn crm.wsgi --bind $(HOST):$(PORT) --workers $(WORKERS) --timeout 120 --access-logfile - --log-level info

dev: $(VENV)/.dev ## Development server with auto-reload on 127.0.0.1:8000 (DEBUG on)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo --if-empty
	CRM_DEBUG=1 $(PY) manage.py runserver 127.0.0.1:8000

lint: $(VENV)/.dev ## ruff lint and format check, the layer contracts, no model change without a migration
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(PY) manage.py makemigrations --check --dry-run

format: $(VENV)/.dev ## Format and auto-fix with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: $(VENV)/.dev $(CHROMIUM) $(DOVECOT) lint ## Set up everything and run the whole suite, browser tests included, one process per core
	$(BIN)/pytest -n $(TEST_WORKERS)

test-postgres: $(VENV)/.dev $(CHROMIUM) $(DOVECOT) ## The whole suite against a throwaway local PostgreSQL server
	.ci/with-postgres $(BIN)/pytest -n $(TEST_WORKERS)

seed-bulk: $(VENV)/.runtime ## Add generated volumes for demos and benchmarks (SCALE=1000)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_bulk --scale $(or $(SCALE),1000)

backup: $(VENV)/.runtime ## Verified snapshot of the database into ./backups (CRM_BACKUP_DIR); safe while the app runs
	$(PY) manage.py backup

benchmark: $(VENV)/.runtime ## Time the main pages (test client, then gunicorn with worker memory) and imports on a throwaway database (SCALE=2000, REPEAT=5); never touches ./data
	$(PY) manage.py benchmark --scale $(or $(SCALE),2000) --repeat $(or $(REPEAT),5)

clean: ## Remove the virtualenv, collected static files and caches (keeps ./data)
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
