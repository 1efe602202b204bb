"""Helpers of the end-to-end tests: the CLI in a subprocess, and `telltale serve` on a free
loopback port."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

from telltale.models.serve_cli import launch

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
    proc, port = launch([sys.executable, "-m", "telltale", "-q", "serve", spec, *options],
                        env=ENV)
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)
