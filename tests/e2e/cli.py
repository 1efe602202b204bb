"""Helpers of the end-to-end tests: the CLI in a subprocess, and `telltale serve` on a free
loopback port."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time

ENV = {**os.environ, "TELLTALE_CACHE": "", "PYTHONUNBUFFERED": "1"}


def telltale(*args, cwd=None, check=True, timeout=600):
    proc = subprocess.run([sys.executable, "-m", "telltale", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=ENV)
    if check and proc.returncode != 0:
        raise AssertionError(f"telltale {' '.join(map(str, args))} failed:\n{proc.stderr}")
    return proc


@contextlib.contextmanager
def served(spec: str, *options: str):
    """``telltale serve spec`` on a free port; yields the port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "telltale", "-q", "serve", spec,
                               "--port", str(port), *options], env=ENV,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.time() < deadline and server.poll() is None, "serve did not start"
                time.sleep(0.3)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)

