# The project's commands. `make run` and `make test` need only Python 3.11+ on the machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
export PORT

.PHONY: run test test-fast lint bench bench-analytics bench-scale bench-rollback bench-abtesting bench-client bench-mixed setup setup-dev check-python clean \
	dashboard-assets dashboard-assets-check

check-python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (found " + sys.version.split()[0] + "); set PYTHON=/path/to/python3.11")'

$(VENV)/.installed: requirements.txt | check-python
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# Migrate, seed and collect static files: what the server needs before it starts. Safe to repeat.
setup: $(VENV)/.installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed
	$(PY) manage.py collectstatic --noinput --verbosity 0

setup-dev: setup $(VENV)/.installed-dev

## Serve on PORT (default 8000): gunicorn, a Celery worker and Celery beat, until Ctrl-C.
run: setup
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/honcho --procfile Procfile start --port $(PORT) --no-colour

## Lint, then the whole test suite (on DATABASE_URL's database; SQLite by default).
test: setup-dev lint
	$(PY) -m pytest $(PYTEST_ARGS)

## While working: the suite without the tests that start the real server, a browser, or fuzz the API (CI runs them all).
test-fast: setup-dev
	$(PY) -m pytest -m "not server and not fuzz and not browser and not package" $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy .

## Render under load against the real server, next to a plain Django view on the same server; then
## executions: ingestion, metrics and analytics at 1,000,000 executions, on SQLite and on PostgreSQL;
## then rollback: automatic rollback with the real beat and worker, the rule engine's evaluation pass
## over 1,000 rules and 1,000,000 executions, and the latency of the manual and emergency rollback calls;
## then A/B: the latency of a running test's results at 100,000 and 1,000,000 executions (and the dashboard's
## pages, with the executions parts); then the client: render from memory, a deploy reaching 20 clients;
## then the mixed load: PostgreSQL, Redis, web workers, worker and beat under everything at once.
bench: setup-dev
	$(PY) bench/render.py
	$(PY) bench/analytics.py
	$(PY) bench/scale.py
	$(PY) bench/rollback.py
	$(PY) bench/abtesting.py
	$(PY) bench/client.py
	$(PY) bench/mixed.py

## The executions part of `make bench` alone (BENCH_ARGS, e.g. --database sqlite --executions 50000).
bench-analytics: setup-dev
	$(PY) bench/analytics.py $(BENCH_ARGS)

## The scale part of `make bench` alone: PostgreSQL at 1M and 10M executions (BENCH_ARGS, e.g. --quick).
bench-scale: setup-dev
	$(PY) bench/scale.py $(BENCH_ARGS)

## The rollback part of `make bench` alone (BENCH_ARGS, e.g. --part evaluation --executions 200000, or --quick).
bench-rollback: setup-dev
	$(PY) bench/rollback.py $(BENCH_ARGS)

## The client part of `make bench` alone (BENCH_ARGS, e.g. --quick, or --processes 50 --interval 1).
bench-client: setup-dev
	$(PY) bench/client.py $(BENCH_ARGS)

## The mixed-load part of `make bench` alone (BENCH_ARGS, e.g. --quick, or --duration 120 --load 0.6).
bench-mixed: setup-dev
	$(PY) bench/mixed.py $(BENCH_ARGS)

## The A/B results part of `make bench` alone (BENCH_ARGS, e.g. --executions 200000, or --quick).
bench-abtesting: setup-dev
	$(PY) bench/abtesting.py $(BENCH_ARGS)

## The dashboard's browser libraries (Chart.js), pinned by frontend/package-lock.json, copied into the static
## files. Needs npm; the copies are committed, so `make run` and `make test` need only Python.
DASHBOARD_VENDOR := analytics/static/dashboard/vendor
dashboard-assets:
	cd frontend && npm ci --ignore-scripts --no-audit --no-fund
	cp frontend/node_modules/chart.js/dist/chart.umd.min.js frontend/node_modules/chart.js/dist/chart.umd.min.js.map $(DASHBOARD_VENDOR)/
	cp frontend/node_modules/chart.js/LICENSE.md $(DASHBOARD_VENDOR)/chart.js.LICENSE.md

## Fails when the committed copies differ from what the lock file builds (CI runs it where npm is).
dashboard-assets-check: dashboard-assets
	git diff --exit-code -- $(DASHBOARD_VENDOR)

clean:
	rm -rf $(VENV) staticfiles var/test-db-*
