"""One writer per run directory.

Two processes writing one run (a job submitted twice, a retry wrapper that starts a second
attempt while the first still runs) would append the same probes twice and replace
``records.jsonl`` under each other. A process that writes a run (an audit, ``telltale
score``, ``telltale report``) holds an exclusive lock on ``<run>/.lock`` while it does; a
second one is refused at once, naming the run and the process that holds it.

The lock is ``flock(2)`` on that file: the operating system releases it when its holder
exits however it exits (``kill -9``, an out-of-memory kill, a crash), so a lock is never
left stuck; the file itself stays, holding the last holder's pid and command line for the
message. Within one process the lock is re-entrant (the runner scores, then reports, under
the lock it took to ask). File descriptors are not inherited by child programs (PEP 446);
forked worker processes share the lock and release it when they exit.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path

from telltale.credentials import redact_urls

LOCK_NAME = ".lock"

#: real path of a locked directory -> [file descriptor, holders in this process]
_HELD: dict[str, list[int]] = {}
_GUARD = threading.Lock()


class RunInUse(ValueError):
    """The run directory is being written by another process (the CLI exits 2)."""


def _holder() -> dict[str, object]:
    """Who holds the lock, as written into the lock file (no secret of the command line:
    a model spec may carry a key in its URL)."""
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "command": redact_urls(" ".join(["telltale", *sys.argv[1:]]))}


def _describe(fd: int) -> str:
    """The holder a lock file names, in words (what it can say; it may be mid-write)."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 1 << 16).decode("utf-8") or "{}")
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or "pid" not in info:
        return "another process"
    return (f"process {info['pid']} on {info.get('host', '?')} (since {info.get('since', '?')}:"
            f" {info.get('command', '?')})")


def acquire(directory: Path) -> None:
    """Lock ``directory`` (which exists) for this process, or raise :class:`RunInUse`.

    Raises
    ------
    RunInUse
        Another process holds the lock; or the lock file cannot be made (a run directory
        this user may not write).
    """
    key = os.path.realpath(directory)
    with _GUARD:
        if key in _HELD:
            _HELD[key][1] += 1
            return
        path = Path(directory) / LOCK_NAME
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise RunInUse(f"{directory}: cannot lock the run directory ({exc.strerror}); "
                           "is it writable?") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            who = _describe(fd)
            os.close(fd)
            raise RunInUse(f"{directory} is being written by {who}; wait for it to finish, "
                           "or use another --out directory") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(_holder()) + "\n").encode("utf-8"), 0)
        _HELD[key] = [fd, 1]


def release(directory: Path) -> None:
    """Give back one hold of ``directory``; the last one unlocks it."""
    key = os.path.realpath(directory)
    with _GUARD:
        entry = _HELD.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            del _HELD[key]
            os.close(entry[0])  # closing the last descriptor releases the flock
