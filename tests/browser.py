"""Headless Debian chromium for the tests that look at pages in a real browser."""

from __future__ import annotations

import html
import re
import shutil
import subprocess

import pytest

#: skip marker of the browser tests on a machine without chromium
needs_chromium = pytest.mark.skipif(shutil.which("chromium") is None,
                                    reason="Debian chromium is not installed")


def chromium(url: str, profile, *extra: str, timeout: int = 120) -> tuple[str, list[str]]:
    """Load ``url`` in headless Debian chromium (scripts run for up to 5 s of virtual time);
    the DOM after scripts ran and the page's console messages."""
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000",
             f"--user-data-dir={profile}"]
    proc = subprocess.run(["chromium", *flags, *extra, url], capture_output=True, text=True,
                          timeout=timeout, check=True)
    console = [m.group(1) for m in re.finditer(r"CONSOLE[:(]\d*\)?\]? (.*)", proc.stderr)]
    return proc.stdout, console


def screenshot(url: str, path, profile, width: int, height: int = 1600) -> None:
    """A PNG of ``url`` in a ``width`` x ``height`` window (after its scripts ran)."""
    chromium(url, profile, f"--screenshot={path}", f"--window-size={width},{height}",
             "--hide-scrollbars")


def cells(dom: str, row_key: str) -> list[str]:
    """The text of each cell of the browser row ``row_key`` (tags stripped)."""
    row = re.search(rf'<tr data-key="{re.escape(row_key)}">(.*?)</tr>', dom, re.S)
    assert row, row_key
    return [html.unescape(" ".join(re.sub(r"<[^>]+>", " ", c).split()))
            for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)]
