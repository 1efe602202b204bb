#!/usr/bin/env bash
# `make test-vllm-batch`: the batch-file route against vLLM's own run_batch
# (tests/models/test_vllm_run_batch.py), in vLLM's environment (scripts/vllm_env.sh).
# Not part of `make test`: the environment is about 1 GB of wheels, and each run_batch
# takes a minute or two on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VLLM_PYTHON=$(PYTHON="$PYTHON" bash scripts/vllm_env.sh | tail -1)
TELLTALE_VLLM_PYTHON="$VLLM_PYTHON" "$PYTHON" -m pytest -q -p no:cacheprovider \
  tests/models/test_vllm_run_batch.py "$@"
