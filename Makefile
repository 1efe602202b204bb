PYTHON ?= python3

.PHONY: setup demo test lint bench

setup: .setup-stamp

.setup-stamp: pyproject.toml scripts/setup.sh
	PYTHON=$(PYTHON) bash scripts/setup.sh
	touch $@

demo: .setup-stamp
	$(PYTHON) -m telltale demo --out demo-run

test: .setup-stamp
	$(PYTHON) -m pytest -q

lint:
	$(PYTHON) -m ruff check src tests benchmarks
