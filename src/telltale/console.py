"""Logging and progress bars, with one switch for quiet mode."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger("telltale")
_quiet = False


def configure(quiet: bool = False, verbose: bool = False) -> None:
    """Set up logging to stderr: warnings only when quiet, debug when verbose."""
    global _quiet
    _quiet = quiet
    level = logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


#: seconds between two progress lines when stderr is not a terminal
PROGRESS_EVERY = 15.0


def progress(items: Iterable[T], total: int | None = None, desc: str = "",
             every: float = PROGRESS_EVERY) -> Iterator[T]:
    """A tqdm progress bar on a terminal; elsewhere (CI, nohup, a pipe) a log line every
    ``every`` seconds with the count, the rate and the time left, and one at the end, so a
    long step never runs silent. Nothing in quiet mode."""
    if not _quiet and sys.stderr.isatty():
        from tqdm import tqdm

        yield from tqdm(items, total=total, desc=desc, leave=False, dynamic_ncols=True)
        return
    start = last = time.monotonic()
    for done, item in enumerate(items, start=1):
        yield item
        now = time.monotonic()
        if not _quiet and (now - last >= every or done == total):
            last = now
            log.info("%s", progress_line(desc, done, total, now - start))


def progress_line(desc: str, done: int, total: int | None, elapsed: float) -> str:
    """``desc: done/total (pct), rate/s, ETA`` as the non-terminal progress shows it."""
    rate = done / elapsed if elapsed > 0 else float("inf")
    text = f"{desc}: {done}" + (f"/{total} ({100 * done / total:.0f}%)" if total else "")
    text += f", {rate:.2f}/s" if rate != float("inf") else ""
    if total and done < total and rate not in (0, float("inf")):
        text += f", about {_duration((total - done) / rate)} left"
    return text


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
