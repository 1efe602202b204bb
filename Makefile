PYTHON ?= python3

.PHONY: setup demo test test-slow test-vllm test-vllm-batch lint bench

setup: .setup-stamp

.setup-stamp: pyproject.toml scripts/setup.sh
	PYTHON=$(PYTHON) bash scripts/setup.sh
	touch $@

demo: .setup-stamp
	$(PYTHON) -m telltale demo --out demo-run

# budget: 10 minutes on 2 quiet cores (README); the slowest tests are listed at the end
test: .setup-stamp
	$(PYTHON) -m pytest -q -m "not slow" --durations=15

# the document-assistant end-to-end tests (SmolLM2-135M on CPU) and the README's example
# block at a small size: tens of minutes on 2 cores
test-slow: .setup-stamp
	$(PYTHON) -m pytest -q -m slow

# the batch-file route against vLLM's run_batch, in its own environment (built on first use)
test-vllm-batch: .setup-stamp
	PYTHON=$(PYTHON) bash scripts/test_vllm_batch.sh

# the audio LM through a real vLLM server (its own environment, about 1 GB; minutes)
test-vllm: .setup-stamp
	PYTHON=$(PYTHON) bash scripts/test_vllm.sh

lint:
	$(PYTHON) -m ruff check src tests benchmarks
