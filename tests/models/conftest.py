"""Session fixtures for the model-backend tests: tiny checkpoints and real speech."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from tiny import FAMILIES, build_tiny


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Run the tiny models on one intra-op thread. Their matrices are a few dozen wide, so
    threading gains nothing, and on a shared, loaded 2-core machine two spinning OpenMP
    threads made each small matmul ~30x slower (measured: 37 ms vs 1.1 ms for a
    6080x32 @ 32x64 linear)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    """One tiny random-weight checkpoint per supported family, built once per session."""
    root = tmp_path_factory.mktemp("tiny-models")
    return {family: build_tiny(family, root / family) for family in FAMILIES}


@pytest.fixture(scope="session")
def speech_clips(tmp_path_factory) -> list[np.ndarray]:
    """Real speech from espeak-ng (four voices and lengths), decoded through telltale's
    audio loader to 16 kHz mono float32."""
    from telltale.media.audio import load_audio

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    root = tmp_path_factory.mktemp("speech")
    clips = []
    for i, (voice, text) in enumerate([("en-us+m3", "the quick brown fox"),
                                       ("en-gb+f3", "please state your name and address"),
                                       ("en-us+f2", "one two three"),
                                       ("en-gb-scotland", "this call may be recorded")]):
        path = root / f"clip{i}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True,
                       capture_output=True, timeout=60)
        clips.append(load_audio(path))
    return clips
