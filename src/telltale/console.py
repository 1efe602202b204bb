"""Logging and progress bars, with one switch for quiet mode."""

from __future__ import annotations

import logging
import sys
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


def progress(items: Iterable[T], total: int | None = None, desc: str = "") -> Iterator[T]:
    """A tqdm progress bar on stderr, silent in quiet mode or when stderr is not a terminal
    (CI logs get one line per stage from the logger instead)."""
    from tqdm import tqdm

    disable = _quiet or not sys.stderr.isatty()
    yield from tqdm(items, total=total, desc=desc, disable=disable, leave=False,
                    dynamic_ncols=True)
