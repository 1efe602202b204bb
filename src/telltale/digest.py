"""Content hashes: the identity of a media file, a manifest or a weights file in records,
run.json and model cards."""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def media_file_sha256(path: str | Path | None) -> str | None:
    """sha256 of a media file's bytes, hashed once per version of the file in a process
    (however many probes carry it); None without a file."""
    if path is None:
        return None
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return _cached_sha256(os.path.realpath(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=4096)
def _cached_sha256(path: str, size: int, mtime_ns: int) -> str:
    # size and modification time are in the key so that a file rewritten in place is
    # hashed again
    return file_sha256(path)
