PYTHON ?= python3

.PHONY: setup demo test test-slow lint bench

setup: .setup-stamp

.setup-stamp: pyproject.toml scripts/setup.sh
	PYTHON=$(PYTHON) bash scripts/setup.sh
	touch $@

demo: .setup-stamp
	$(PYTHON) -m telltale demo --out demo-run

test: .setup-stamp
	$(PYTHON) -m pytest -q -m "not slow"

# the document-assistant end-to-end tests (SmolLM2-135M on CPU): several minutes on 2 cores
test-slow: .setup-stamp
	$(PYTHON) -m pytest -q -m slow

lint:
	$(PYTHON) -m ruff check src tests benchmarks
