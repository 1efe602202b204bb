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


@pytest.fixture()
def flaky():
    """The scripted server (scripted.py) on 127.0.0.1, its script and counters reset;
    yields the server and its API root."""
    import threading
    from http.server import ThreadingHTTPServer

    from scripted import Flaky

    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    server.daemon_threads = True
    # a short poll interval: shutdown() waits for it, and every test using this waited 0.5 s
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    Flaky.hits = 0
    Flaky.script = []
    Flaky.bodies = []
    Flaky.seen = []
    Flaky.give_logprobs = True
    Flaky.scores = True
    Flaky.models_status = 200
    Flaky.refuse = {}
    Flaky.entry = {}
    Flaky.end_token = None
    Flaky.poison = None
    Flaky.delay = 0.0
    Flaky.in_flight = Flaky.most_in_flight = 0
    yield server, f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
