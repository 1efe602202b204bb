"""Run directories.

A run directory holds what a run leaves behind (DESIGN.md): ``run.json`` (what ran),
``records.jsonl`` (one line per sample x probe, appended and flushed as produced),
``results.json`` (metrics derived from the records), ``report.html``, ``figures/`` and
``tables/``. A run started again in the same directory skips every probe already recorded
(:func:`telltale.probes.run_probes`).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from telltale import __version__
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


class RunDir:
    """One audit run on disk."""

    def __init__(self, path: str | Path):
        # opening a run (to score or report it) creates nothing; create() does
        self.path = Path(path)

    records_path = property(lambda self: self.path / "records.jsonl")
    results_path = property(lambda self: self.path / "results.json")
    run_json_path = property(lambda self: self.path / "run.json")

    def create(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)

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
              manifest_problems: Iterable[str] = ()) -> None:
        """Write ``run.json``; on resume keep the original start time and check that the
        audit, config, model and data are the ones the directory was started with."""
        self.check_config(audit, config)
        previous = self.read_run_json()
        data_hash = file_sha256(data) if data and Path(data).is_file() else None
        if previous:
            for name, now in (("model_fingerprint", model_fingerprint),
                              ("data_sha256", data_hash)):
                if previous.get(name) not in (None, now):
                    raise ValueError(
                        f"{self.path} holds a run of a different {name.replace('_', ' ')} "
                        f"({previous.get(name)} vs {now}); use a new --out directory")
        self.create()
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
        return list(read_records(self.records_path))

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
        with open(self.records_path, "a", encoding="utf-8") as fh:
            fh.write(record.to_json() + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def rewrite_records(self, records: Iterable[Record]) -> None:
        """Replace records.jsonl atomically (after re-scoring)."""
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


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


