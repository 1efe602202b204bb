"""Run directories.

A run directory holds what a run leaves behind (DESIGN.md): ``run.json`` (what ran),
``records.jsonl`` (one line per sample x probe, appended as produced and flushed to disk
in groups, :class:`GroupCommit`),
``results.json`` (metrics derived from the records), ``report.html``, ``figures/`` and
``tables/``. A run started again in the same directory skips every probe already recorded
(:func:`telltale.dispatch.run_probes`).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from telltale import __version__, runlock
from telltale.console import log
from telltale.credentials import scrub_secrets
from telltale.digest import file_sha256
from telltale.records import Record, json_safe, read_records


def git_revision() -> str | None:
    """The git commit of the telltale source, when it runs from a checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


class GroupCommit:
    """Appends lines to a file: each reaches the operating system at once, and the file is
    flushed to disk (``fsync``) for a group of lines at a time.

    A line is handed to the kernel with one ``write`` as soon as it is appended, so a killed
    process (``kill -9``, an out-of-memory kill, a crash) loses nothing appended. ``fsync``,
    which costs milliseconds on most disks (3.4 ms per record here, issue 26), runs once
    ``max_lines`` lines are pending or ``max_seconds`` after the first pending one, whichever
    comes first; so a power loss or kernel crash loses at most the last group.

    One object per file and process (:meth:`of`), shared by every :class:`RunDir` of the
    path, so that an atomic rewrite through any of them closes the handle the next append
    would otherwise write to the replaced file with.

    Parameters
    ----------
    path : Path
        The file, opened for appending on first use (and after :meth:`close`).
    max_lines, max_seconds : int, float
        The bounds of a group.
    """

    _open_files: ClassVar[weakref.WeakValueDictionary[str, GroupCommit]] = \
        weakref.WeakValueDictionary()
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def of(cls, path: Path) -> GroupCommit:
        """The appender of ``path`` in this process."""
        key = os.path.abspath(path)
        with cls._registry_lock:
            appender = cls._open_files.get(key)
            if appender is None:
                appender = cls._open_files[key] = cls(path)
            return appender

    def __init__(self, path: Path, max_lines: int = 256, max_seconds: float = 1.0):
        self.path = path
        self.max_lines = max_lines
        self.max_seconds = max_seconds
        self._fh: Any = None
        self._pending = 0
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def append(self, line: str) -> None:
        """Write ``line`` (ending in a newline) and hand it to the kernel."""
        with self._lock:
            fh = self._open()
            fh.write(line)
            fh.flush()
            self._pending += 1
            if self._pending >= self.max_lines:
                self._sync()
            elif self._timer is None:
                self._timer = threading.Timer(self.max_seconds, self.sync)
                self._timer.daemon = True
                self._timer.start()

    def sync(self) -> None:
        """Flush every pending line to disk now."""
        with self._lock:
            self._sync()

    def close(self) -> None:
        """Flush pending lines to disk and close the file (reopened by the next append)."""
        with self._lock:
            self._sync()
            if self._fh is not None:
                self._fh.close()
                self._fh = None

    def _open(self) -> Any:
        if self._fh is None:
            # held open across appends (closed by close()), so no context manager
            self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        return self._fh

    def _sync(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pending and self._fh is not None:
            os.fsync(self._fh.fileno())
        self._pending = 0


class RunDir:
    """One audit run on disk."""

    def __init__(self, path: str | Path):
        # opening a run (to score or report it) creates nothing; create() does
        self.path = Path(path)
        self._appender = GroupCommit.of(self.path / "records.jsonl")
        self._locked = False

    records_path = property(lambda self: self.path / "records.jsonl")
    results_path = property(lambda self: self.path / "results.json")
    run_json_path = property(lambda self: self.path / "run.json")

    def create(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)

    def lock(self) -> None:
        """Become the run's one writer (:mod:`telltale.runlock`), when the directory exists
        (:meth:`start` locks the directory it creates). Held until :meth:`unlock`.

        Raises
        ------
        telltale.runlock.RunInUse
            Another process writes the run; the message names it.
        """
        if not self._locked and self.path.is_dir():
            runlock.acquire(self.path)
            self._locked = True

    def unlock(self) -> None:
        if self._locked:
            runlock.release(self.path)
            self._locked = False

    @contextmanager
    def locked(self) -> Iterator[RunDir]:
        """The run, locked for the time of a ``with`` block (a no-op for a directory that
        does not exist: there is nothing to write into)."""
        held = self._locked
        self.lock()
        try:
            yield self
        finally:
            if not held:
                self.unlock()

    def check_writable(self) -> None:
        """Refuse a run directory that cannot be written: a file, a read-only folder, or a
        path under either; checked before anything is read, loaded or written.

        Raises
        ------
        ValueError
            Naming the path and what is wrong with it.
        """
        target = self.path
        while not target.exists():  # the nearest folder that exists is where mkdir writes
            if target.parent == target:
                break
            target = target.parent
        if not target.is_dir():
            where = "is" if target == self.path else f"is under {target}, which is"
            raise ValueError(f"--out {self.path} {where} a file, not a folder")
        try:  # tried, not asked (os.access): root passes access checks on read-only mounts
            os.rmdir(tempfile.mkdtemp(prefix=".telltale-check-", dir=target))
        except OSError as exc:
            which = "" if target == self.path else f" (under {target})"
            raise ValueError(f"--out {self.path}{which} cannot be written: "
                             f"{exc.strerror}") from None

    @property
    def figures(self) -> Path:
        """The figures folder, created on first use (writers save into it)."""
        (self.path / "figures").mkdir(parents=True, exist_ok=True)
        return self.path / "figures"

    @property
    def tables(self) -> Path:
        """The tables folder, created on first use."""
        (self.path / "tables").mkdir(parents=True, exist_ok=True)
        return self.path / "tables"

    def check_config(self, audit: str, config: dict[str, Any],
                     flags: dict[str, str] | None = None) -> None:
        """Refuse to resume a run of another audit or with another protocol config.

        The config's fields are the options that decide which probes a run asks and how
        (framings, conditions, decoding length, ...): records made under other values would
        be scored together with the new ones. ``flags`` names a field's command-line flag
        where it is not the field's name (``silence_control``: ``--no-silence``,
        :func:`telltale.config.config_flags`). Nothing is written.

        Raises
        ------
        ValueError
            Naming every changed option as its command-line flag.
        """
        previous = self.read_run_json()
        if not previous:
            return
        if previous.get("audit") != audit:
            raise ValueError(f"{self.path} holds a {previous.get('audit')} run, not "
                             f"{audit}; use a new --out directory")
        recorded = previous.get("config", {})
        now = scrub_secrets(json_safe(config))
        changed = sorted(name for name in set(recorded) | set(now)
                         if recorded.get(name) != now.get(name))
        if changed:
            named = ", ".join((flags or {}).get(name, "--" + name.replace("_", "-"))
                              for name in changed)
            raise ValueError(f"{self.run_json_path} holds a {audit} run with other {named}; "
                             "resume with the same options or use a new --out directory")

    def start(self, audit: str, config: dict[str, Any], *, seed: int = 0,
              model: str | None = None, model_fingerprint: str | None = None,
              data: str | Path | None = None,
              manifest_problems: Iterable[str] = (),
              fingerprint_aliases: Iterable[str] = ()) -> None:
        """Write ``run.json``; on resume keep the original start time and check that the
        audit, config, model and data are the ones the directory was started with (a
        model fingerprint among ``fingerprint_aliases``, the same model fingerprinted
        another way, counts as the same)."""
        self.create()
        self.lock()  # before anything is read or written: a second writer stops here
        self.check_config(audit, config)
        previous = self.read_run_json()
        data_hash = file_sha256(data) if data and Path(data).is_file() else None
        if previous:
            for name, now in (("model_fingerprint", model_fingerprint),
                              ("data_sha256", data_hash)):
                if name == "model_fingerprint" and previous.get(name) in set(
                        fingerprint_aliases):
                    log.info("%s: the model's fingerprint %s was written another way "
                             "before; now %s", self.path, previous.get(name), now)
                    continue
                if previous.get(name) not in (None, now):
                    raise ValueError(
                        f"{self.path} holds a run of a different {name.replace('_', ' ')} "
                        f"({previous.get(name)} vs {now}); use a new --out directory")
        self._drop_torn_tail()
        info = {
            "telltale_version": __version__,
            "git_revision": git_revision(),
            "audit": audit,
            "config": scrub_secrets(json_safe(config)),
            "seed": seed,
            "model": scrub_secrets(model),
            "model_fingerprint": model_fingerprint,
            "data": str(Path(data).resolve()) if data else None,
            "data_sha256": data_hash,
            "manifest_problems": list(manifest_problems),
            "python": platform.python_version(),
            "started": previous.get("started") if previous else _now(),
            "resumed": previous.get("resumed", 0) + 1 if previous else 0,
            "finished": None,
        }
        self._write_json(self.run_json_path, info)

    def _drop_torn_tail(self) -> None:
        """Cut a last line that a killed run left half-written; otherwise the next record
        would be appended to it and both would be lost as one line of invalid JSON."""
        if not self.records_path.exists():
            return
        with open(self.records_path, "rb+") as fh:
            data = fh.read()
            if data and not data.endswith(b"\n"):
                fh.truncate(data.rfind(b"\n") + 1)
                log.warning("%s: dropped a half-written last line (the probe is redone)",
                            self.records_path)

    def finish(self, **extra: Any) -> None:
        info = self.read_run_json()
        info.update(scrub_secrets(json_safe(extra)))
        info["finished"] = _now()
        self._write_json(self.run_json_path, info)

    def read_run_json(self) -> dict[str, Any]:
        if not self.run_json_path.exists():
            return {}
        return json.loads(self.run_json_path.read_text())

    def records(self) -> list[Record]:
        """The run's records, one per key (:func:`unique_records`): a run two processes
        wrote before runs were locked scores as if one had."""
        records, dropped = unique_records(read_records(self.records_path))
        if dropped:
            log.warning("%s: %d duplicate records ignored (the first that did not fail is "
                        "kept for each key)", self.records_path, dropped)
        return records

    def check_media(self) -> None:
        """Refuse to resume a run whose media changed after their probes were asked.

        Each record names the file its probe was made from and that file's sha256
        (``media``, ``media_file_sha256``); every file still at its path is hashed again,
        once. Failed records (asked again anyway), records made before files were hashed,
        and files no longer there (a corpus moved away) are not checked.

        Raises
        ------
        ValueError
            Naming the changed files (the first five) and how many records they affect.
        """
        recorded: dict[str, set[str]] = {}
        counts: dict[str, int] = {}
        for rec in read_records(self.records_path):
            # a failure is asked again anyway (a file mended after it failed is welcome)
            if rec.media and rec.media_file_sha256 and rec.error is None:
                recorded.setdefault(rec.media, set()).add(rec.media_file_sha256)
                counts[rec.media] = counts.get(rec.media, 0) + 1
        changed = sorted(path for path, hashes in recorded.items()
                         if Path(path).is_file() and hashes != {file_sha256(path)})
        if changed:
            names = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more"
                                              if len(changed) > 5 else "")
            raise ValueError(
                f"{self.path}: {len(changed)} media files changed since their probes were "
                f"asked ({sum(counts[p] for p in changed)} records): {names}; restore them, "
                "or use a new --out directory for the new media")

    def done_keys(self) -> set[str]:
        """Keys of probes finished without error (errored ones are tried again)."""
        return {r.key for r in read_records(self.records_path) if r.error is None}

    def drop_errors(self) -> int:
        """Remove errored records before a resume retries them."""
        records = self.records()
        kept = [r for r in records if r.error is None]
        if len(kept) != len(records):
            self.rewrite_records(kept)
        return len(records) - len(kept)

    def append(self, record: Record) -> None:
        """Append one record: written through to the operating system at once, flushed to
        disk with its group (:class:`GroupCommit`; :meth:`sync` flushes now)."""
        self._appender.append(record.to_json() + "\n")

    def sync(self) -> None:
        """Flush every appended record to disk."""
        self._appender.sync()

    def rewrite_records(self, records: Iterable[Record]) -> None:
        """Replace records.jsonl atomically (after re-scoring)."""
        self._appender.close()
        tmp = self.records_path.with_suffix(".jsonl.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            for rec in records:
                fh.write(rec.to_json() + "\n")
        os.replace(tmp, self.records_path)

    def write_results(self, results: dict[str, Any]) -> Path:
        self._write_json(self.results_path, json_safe(results))
        return self.results_path

    def write_json(self, name: str, data: Any) -> Path:
        """Write a JSON file the audit keeps beside its records (e.g. its taxonomy, phase-1
        results), atomically."""
        self.create()
        self._write_json(self.path / name, json_safe(data))
        return self.path / name

    def keep_json(self, name: str, content: Any, option: str) -> None:
        """Write the resolved content of a protocol file the options named (a taxonomy,
        prompts, framings) into the run, or check that a resumed run holds the same:
        scoring reads the run's copy, so the file may move or change afterwards."""
        if (self.path / name).exists():
            if self.read_json(name) != json_safe(content):
                raise ValueError(f"{self.path / name} differs from the {option} file now "
                                 "given; resume with the same file or use a new --out "
                                 "directory")
            return
        self.write_json(name, content)

    def read_json(self, name: str) -> Any:
        """A JSON file :meth:`write_json` wrote; a clear error when the run lacks it."""
        path = self.path / name
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: the run directory is incomplete "
                                    "(was it made by another telltale version?)")
        return json.loads(path.read_text(encoding="utf-8"))

    def read_results(self) -> dict[str, Any]:
        if not self.results_path.exists():
            raise FileNotFoundError(f"{self.results_path} not found: the run has no results yet")
        return json.loads(self.results_path.read_text())

    @staticmethod
    def _write_json(path: Path, data: Any) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        os.replace(tmp, path)


def unique_records(records: Iterable[Record]) -> tuple[list[Record], int]:
    """One record per key, in file order: the first that did not fail, else the first
    failure; and how many were left out.

    A key is asked once per run, so duplicates come only from two processes that wrote one
    run at once (before runs were locked, :mod:`telltale.runlock`); the first good answer
    is the one a single writer would have kept."""
    chosen: dict[str, int] = {}
    kept: list[Record] = []
    total = 0
    for rec in records:
        total += 1
        at = chosen.get(rec.key)
        if at is None:
            chosen[rec.key] = len(kept)
            kept.append(rec)
        elif kept[at].error and not rec.error:
            kept[at] = rec
    return kept, total - len(kept)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


