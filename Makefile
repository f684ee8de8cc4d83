# tonghop — `make demo` and `make test` do all set-up on a fresh machine (Python 3.11 and make).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Airflow runs on the project's DAGs with a metadata DB under .airflow/ (SQLite).
export AIRFLOW_HOME ?= $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False

DEMO_PERIOD ?= 2026-FY
DEMO_UNIT ?= 86
DEMO_HOME ?= $(CURDIR)/var/demo

.PHONY: install demo test test-quick lint browser office up up-celery airflow-ui bench requirements clean

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	# Bytecode compiled at install: uv does not by default, and where PYTHONDONTWRITEBYTECODE is set (our machines)
	# Python never writes it, so every process (each CLI run, each Airflow task) would compile Great Expectations,
	# pandas and Airflow from source again: the bare import of a check took 2.5x as long.
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

$(AIRFLOW_HOME)/.migrated: $(STAMP)
	mkdir -p $(AIRFLOW_HOME)
	$(BIN)/airflow db migrate > $(AIRFLOW_HOME)/migrate.log 2>&1 || (tail -n 40 $(AIRFLOW_HOME)/migrate.log; exit 1)
	touch $@

## demo: sample province (Tỉnh Vĩnh Long, two-level map) with a few mistakes → the real DAG → consolidated table
## (a pre-reform period with districts: make demo DEMO_PERIOD=2024-FY DEMO_UNIT=83)
demo: $(STAMP) $(AIRFLOW_HOME)/.migrated
	rm -rf $(DEMO_HOME)
	TONGHOP_HOME=$(DEMO_HOME) $(BIN)/tonghop sample --period $(DEMO_PERIOD) --unit $(DEMO_UNIT) \
		--out $(DEMO_HOME)/inbox --error-rate 0.06 --warning-rate 0.05 --missing-rate 0.03 --seed 2026
	@echo "Running DAG tonghop_period for $(DEMO_PERIOD) (log: $(DEMO_HOME)/dag-test.log) ..."
	TONGHOP_HOME=$(DEMO_HOME) TONGHOP_SCOPE=$(DEMO_UNIT) $(BIN)/airflow dags test tonghop_period \
		-c '{"period": "$(DEMO_PERIOD)"}' > $(DEMO_HOME)/dag-test.log 2>&1 \
		|| (tail -n 60 $(DEMO_HOME)/dag-test.log; exit 1)
	@grep -q "state=success" $(DEMO_HOME)/dag-test.log || (tail -n 60 $(DEMO_HOME)/dag-test.log; exit 1)
	@echo
	TONGHOP_HOME=$(DEMO_HOME) $(BIN)/tonghop report --period $(DEMO_PERIOD) --unit $(DEMO_UNIT)
	@echo
	TONGHOP_HOME=$(DEMO_HOME) $(BIN)/tonghop report --period $(DEMO_PERIOD) --unit $(DEMO_UNIT) --format xlsx \
		--out $(DEMO_HOME)/tong-hop-$(DEMO_UNIT).xlsx
	TONGHOP_HOME=$(DEMO_HOME) $(BIN)/tonghop report --period $(DEMO_PERIOD) --unit $(DEMO_UNIT) --format png \
		--out $(DEMO_HOME)/charts
	@echo
	@echo "Data Docs:           $$(ls $(DEMO_HOME)/runs/$(DEMO_PERIOD)/runs/*/*/data_docs/index.html)"
	@echo "Annotated workbooks: $(DEMO_HOME)/runs/$(DEMO_PERIOD)/annotated/"

# Debian's Chromium and its WebDriver, for the browser test of the status page (apt, as root or through sudo).
CHROMEDRIVER := /usr/bin/chromedriver
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
$(CHROMEDRIVER):
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver > /dev/null

browser: $(CHROMEDRIVER)

# Debian's LibreOffice Calc without its GUI: the tests compute the workbook's own formulas with it and render
# workbooks to PDF as offices print them (apt, as root or through sudo).
SOFFICE := /usr/bin/soffice
$(SOFFICE):
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libreoffice-calc-nogui > /dev/null

office: $(SOFFICE)

## test: the whole test suite (needs the local PostgreSQL; in CI a missing server fails the run)
test: $(STAMP) $(CHROMEDRIVER) $(SOFFICE)
	$(BIN)/ruff check .
	$(BIN)/pytest

## test-quick: the fast tier (no whole-period runs, scheduler, browser, PostgreSQL, faults, benchmark); < 2 min
QUICK := not (slow or scheduler or celery or browser or postgres or faults or bench or fuzz or airflow)
test-quick: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest -m "$(QUICK)"

lint: $(STAMP)
	$(BIN)/ruff check .

## up: Airflow (api-server, scheduler, dag-processor, triggerer) on the demo data; prints URL and login
up: $(STAMP)
	@test -d $(DEMO_HOME)/inbox || echo "No demo data yet: run 'make demo' first to see runs with data."
	TONGHOP_HOME=$(DEMO_HOME) TONGHOP_SCOPE=$(DEMO_UNIT) TONGHOP_DEMO_PERIOD=$(DEMO_PERIOD) $(BIN)/python -m tonghop.local_airflow up

airflow-ui: up

## up-celery: the compose stack's Airflow (CeleryExecutor, two workers, S3 logs) on this machine, without Docker
up-celery: $(STAMP)
	$(BIN)/python -m tonghop.celery_deployment up

## bench: national benchmark (cached sample, SQLite and PostgreSQL, naive baseline, DAG chain on standalone and
## on Celery); prints a table
bench: $(STAMP)
	$(BIN)/python bench/benchmark.py --dag --celery --night

## requirements: recompile the pinned requirements.txt from requirements.in
requirements: $(STAMP)
	$(BIN)/uv pip compile --quiet --python-version 3.11 requirements.in -o requirements.txt

clean:
	rm -rf var .airflow .pytest_cache
