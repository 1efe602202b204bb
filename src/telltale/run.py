"""Run directories and the probe runner.

A run directory holds what a run leaves behind (DESIGN.md): ``run.json`` (what ran),
``records.jsonl`` (one line per sample x probe, appended and flushed as produced),
``results.json`` (metrics derived from the records), ``report.html``, ``figures/`` and
``tables/``. A run started again in the same directory skips every probe already recorded.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import subprocess
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from telltale import __version__
from telltale.console import log, progress
from telltale.media.errors import MediaError
from telltale.models.base import DecodingConfig, Generation, Request, TargetModel
from telltale.records import Record, Sample, json_safe, read_records
from telltale.redaction import redact_urls

SECRET_KEY = re.compile(r"(api[_-]?key|token|secret|password|passwd|authorization)", re.I)
SECRET_VALUE = re.compile(r"\b(sk-[A-Za-z0-9_\-]{8,}|hf_[A-Za-z0-9]{8,}|Bearer\s+\S+)")


def scrub_secrets(value: Any) -> Any:
    """Remove anything that looks like a credential from a config before it is written."""
    if isinstance(value, dict):
        # secrets are strings: numeric settings such as max_new_tokens stay readable
        return {k: ("<redacted>" if SECRET_KEY.search(str(k)) and isinstance(v, str)
                    else scrub_secrets(v))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub_secrets(v) for v in value]
    if isinstance(value, str):
        return redact_urls(SECRET_VALUE.sub("<redacted>", value))
    return value


def file_digest(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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

    def check_config(self, audit: str, config: dict[str, Any]) -> None:
        """Refuse to resume a run of another audit or with another protocol config.

        The config's fields are the options that decide which probes a run asks and how
        (framings, conditions, decoding length, ...): records made under other values would
        be scored together with the new ones. Nothing is written.

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
            flags = ", ".join("--" + name.replace("_", "-") for name in changed)
            raise ValueError(f"{self.run_json_path} holds a {audit} run with other {flags}; "
                             "resume with the same options or use a new --out directory")

    def start(self, audit: str, config: dict[str, Any], *, seed: int = 0,
              model: str | None = None, model_fingerprint: str | None = None,
              data: str | Path | None = None,
              manifest_problems: Iterable[str] = ()) -> None:
        """Write ``run.json``; on resume keep the original start time and check that the
        audit, config, model and data are the ones the directory was started with."""
        self.check_config(audit, config)
        previous = self.read_run_json()
        data_hash = file_digest(data) if data and Path(data).is_file() else None
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


@dataclass
class Probe:
    """What is asked of the model for one sample.

    ``meta`` holds the probe's coordinates (mode, attribute, condition, framing, ...) and
    is stored in the record; ``truth`` is ground truth beyond the sample's labels that
    scoring needs (e.g. the PII printed on a form), stored in the record's labels;
    ``condition`` names the media condition applied to the sample's audio (original,
    silence, noise); ``transform`` may replace the loaded audio (e.g. a TTS resynthesis).
    A probe with a ``continuation`` is scored (teacher-forced statistics of that text)
    instead of generated.
    """

    key: str
    sample: Sample
    text: str
    system: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    truth: dict[str, Any] = field(default_factory=dict)
    condition: str = "original"
    transform: Callable[[Sample], Any] | None = None
    continuation: str | None = None


class MediaLoader:
    """Loads each sample's media once, however many probes ask for it (small LRU)."""

    def __init__(self, size: int = 64, seed: int = 0, noise_level: float = 0.05):
        self._cache: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self.size = size
        self.seed = seed
        self.noise_level = noise_level

    def _original(self, sample: Sample) -> Any:
        from telltale.media.audio import load_audio
        from telltale.media.image import load_image

        if sample.media is None:
            return None
        key = (str(sample.media), "original")
        if key not in self._cache:
            self._cache[key] = (load_audio(sample.media) if sample.kind == "audio"
                                else load_image(sample.media))
            if len(self._cache) > self.size:
                self._cache.popitem(last=False)
        self._cache.move_to_end(key)
        return self._cache[key]

    def request(self, probe: Probe) -> Request:
        from telltale.media.conditions import apply_condition

        if probe.transform is not None:
            media = probe.transform(probe.sample)
        else:
            media = self._original(probe.sample)
        if probe.sample.kind == "audio" or isinstance(media, np.ndarray):
            if media is None:
                raise MediaError(probe.sample.source or "manifest",
                                 f"sample {probe.sample.id} has no audio")
            audio = apply_condition(media, probe.condition, seed=self.seed, key=probe.sample.id,
                                    noise_level=self.noise_level)
            return Request(text=probe.text, system=probe.system, audio=audio)
        return Request(text=probe.text, system=probe.system, image=media)


def _record_for(probe: Probe, request: Request | None) -> Record:
    labels: dict[str, Any] = {**probe.sample.labels, **probe.truth}
    if probe.sample.member is not None:
        labels["member"] = probe.sample.member
    if probe.sample.dataset is not None:
        labels["dataset"] = probe.sample.dataset
    return Record(key=probe.key, sample_id=probe.sample.id,
                  probe={"condition": probe.condition, **probe.meta},
                  media=str(probe.sample.media) if probe.sample.media else None,
                  media_sha256=request.media_sha256() if request else None,
                  prompt=probe.text, system=probe.system, labels=labels)


def run_probes(run: RunDir, probes: list[Probe], model: TargetModel, *,
               decoding: DecodingConfig | None = None, with_stats: bool = False,
               batch_size: int = 8, loader: MediaLoader | None = None,
               desc: str = "probes") -> dict[str, int]:
    """Ask ``model`` every probe not yet recorded in ``run``, appending one record each.

    With ``with_stats`` each record carries the per-token statistics of the model's own
    output: from ``generate`` directly when the backend computes them in the same pass
    (capability ``stats_on_generate``), else by scoring the generated text in a second
    pass. A batch that fails is retried one probe at a time so that a single bad sample
    becomes one error record and the rest go on.

    Returns counts: done (this call), skipped (already recorded), errors.
    """
    decoding = decoding or DecodingConfig()
    loader = loader or MediaLoader()
    run.drop_errors()
    done = run.done_keys()
    todo = [p for p in probes if p.key not in done]
    counts = {"done": 0, "skipped": len(probes) - len(todo), "errors": 0}
    if counts["skipped"]:
        log.info("%s: %d already recorded, %d to do", desc, counts["skipped"], len(todo))
    one_pass = "stats_on_generate" in model.capabilities

    def ask(batch: list[tuple[Probe, Request]]) -> list[Record]:
        requests = [r for _, r in batch]
        continuations = [p.continuation for p, _ in batch]
        if all(c is not None for c in continuations):
            stats = list(model.score(requests, continuations))
            gens = [Generation(c, s) for c, s in zip(continuations, stats, strict=True)]
        elif any(c is not None for c in continuations):
            raise ValueError("a batch mixes scored and generated probes")
        else:
            gens = model.generate(requests, decoding, with_stats=with_stats and one_pass)
            stats = [g.stats for g in gens]
            if with_stats and not one_pass:
                stats = list(model.score(requests, [g.text for g in gens]))
        out = []
        for (probe, request), gen, st in zip(batch, gens, stats, strict=True):
            rec = _record_for(probe, request)
            rec.output = gen.text
            rec.token_stats = st.to_dict() if st is not None and (
                with_stats or probe.continuation is not None) else None
            out.append(rec)
        return out

    batches = [todo[i:i + batch_size] for i in range(0, len(todo), batch_size)]
    for chunk in progress(batches, total=len(batches), desc=desc):
        ready: list[tuple[Probe, Request]] = []
        for probe in chunk:
            try:
                ready.append((probe, loader.request(probe)))
            except (MediaError, OSError, ValueError) as exc:
                rec = _record_for(probe, None)
                rec.error = str(exc)
                run.append(rec)
                counts["errors"] += 1
                log.warning("sample %s: %s", probe.sample.id, exc)
        if not ready:
            continue
        try:
            records = ask(ready)
        except Exception as batch_error:  # isolate the failing probe(s)
            log.debug("batch failed (%s); retrying one by one", batch_error)
            records = []
            for item in ready:
                try:
                    records.extend(ask([item]))
                except Exception as exc:
                    rec = _record_for(item[0], item[1])
                    rec.error = f"{type(exc).__name__}: {exc}"
                    records.append(rec)
                    log.warning("sample %s: %s", item[0].sample.id, rec.error)
        for rec in records:
            run.append(rec)
            counts["errors" if rec.error else "done"] += 1
    return counts
