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


def chromium(url: str, profile, *extra: str, timeout: int = 120) -> tuple[str, list[str]]:
    """Load ``url`` in headless Debian chromium (scripts run for up to 5 s of virtual time);
    the DOM after scripts ran and the page's console messages."""
    import re

    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000",
             f"--user-data-dir={profile}"]
    proc = subprocess.run(["chromium", *flags, *extra, url], capture_output=True, text=True,
                          timeout=timeout, check=True)
    console = [m.group(1) for m in re.finditer(r"CONSOLE[:(]\d*\)?\]? (.*)", proc.stderr)]
    return proc.stdout, console
