"""The media a model got for each record, as files the sample browser can play.

A record names the file its probe was made from (the manifest's clip, a defended clip, a
redacted form). Under a condition that replaces the audio (silence or noise of the clip's
length, a TTS resynthesis of its transcript) the model heard something that is no file:
:func:`heard_files` re-creates it with the code path the probes used (the audit's
:meth:`~telltale.audit.Audit.media_probe` and :class:`telltale.probes.MediaLoader`), checks
it against the hash the record stored of what the model got, and writes a listening copy
into the run (``heard/<condition>/<sample>-<hash>.ogg``, Ogg Opus at 16 kHz: about 13 kB
for a 4 s clip, against 70-100 kB as FLAC, so that a 240-clip run with three TTS voices
stays near 15 MB and most of it fits the browser's embedding budget), once: a report rebuilt
later reuses the files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from telltale.console import log
from telltale.records import Record, Sample

if TYPE_CHECKING:
    from telltale.audit import Audit
    from telltale.rundir import RunDir

#: the folder of a run that holds the re-created media
FOLDER = "heard"


@dataclass
class Heard:
    """What the browser plays for one record: ``path`` (None when it could not be made)
    and ``note``, which says what the media is or why it is missing."""

    path: Path | None
    note: str


def heard_path(run: RunDir, record: Record) -> Path:
    """Where the re-created media of ``record`` is written: named by the sample and the
    hash of what the model got, so the probes that got the same media (the silence of one
    clip asked several questions) share one file."""
    condition = re.sub(r"[^\w.-]+", "_", str(record.probe.get("condition", "original")))
    digest = str(record.media_sha256).rpartition(":")[2][:16]
    name = re.sub(r"[^\w.-]+", "_", record.sample_id)
    return run.path / FOLDER / condition / f"{name}-{digest}.ogg"


def _recreate(task: tuple[Audit, Record, Sample, int, Path]) -> tuple[str, str | None]:
    """Re-create one record's media (runs in a worker); (key, problem or None)."""
    import soundfile as sf

    from telltale.media.audio import TARGET_RATE
    from telltale.probes import MediaLoader

    audit, record, sample, seed, path = task
    try:
        probe = audit.media_probe(record, sample)
        if probe is None:
            return record.key, "the audit cannot rebuild this probe"
        request = MediaLoader(seed=seed).request(probe)
    except Exception as exc:  # a TTS engine gone, a clip unreadable: one record's problem
        return record.key, f"could not be re-created ({type(exc).__name__}: {exc})"
    if record.media_sha256 and request.media_sha256() != record.media_sha256:
        return record.key, ("re-created audio differs from what the model heard (its hash "
                            "does not match the record's), so it is not offered")
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path.with_suffix(".tmp"), request.audio, TARGET_RATE, format="OGG",
             subtype="OPUS")
    path.with_suffix(".tmp").replace(path)
    return record.key, None


def _describe(record: Record) -> str:
    condition = record.probe.get("condition")
    if condition == "silence":
        return "silence of the clip's length"
    if condition == "noise":
        return "Gaussian noise of the clip's length"
    if condition == "tts":
        return f"the transcript read by TTS voice no. {record.probe.get('realisation', 0)}"
    return f"the {condition} condition"


def heard_files(run: RunDir, records: list[Record], audit: Audit | None,
                samples: dict[str, Sample], seed: int, jobs: int = 2) -> dict[str, Heard]:
    """Record key -> the media the model heard, for every record whose media is no file
    (see the module docstring); records whose file is what the model got are left out.

    Parameters
    ----------
    run : RunDir
    records : the run's records.
    audit : the run's audit (:func:`telltale.audit.from_run`); None when it cannot be
        rebuilt, then nothing is re-created.
    samples : sample id -> sample, from the run's manifest (empty when it is gone).
    seed : the run's seed (the noise and the voices drawn from it).
    jobs : processes re-creating media (TTS engines are slow).
    """
    from telltale.parallel import process_imap

    out: dict[str, Heard] = {}
    todo, planned = [], set()
    for record in records:
        if record.error or audit is None or record.media_sha256 is None \
                or not record.media_sha256.startswith("audio:"):
            continue
        sample = samples.get(record.sample_id)
        if sample is None:
            probe = audit.media_probe(record, Sample(record.sample_id, kind="audio"))
            if probe is not None:
                out[record.key] = Heard(None, f"{_describe(record)}: not re-created, the "
                                              "run's manifest is gone or changed")
            continue
        if audit.media_probe(record, sample) is None:
            continue
        path = heard_path(run, record)
        out[record.key] = Heard(path, f"what the model heard: {_describe(record)} "
                                      "(re-created, hash-checked; Opus copy)")
        if not path.exists() and path not in planned:
            planned.add(path)
            todo.append((audit, record, sample, seed, path))
    if todo:
        log.info("re-creating the media of %d records for the sample browser", len(todo))
        at = {task[1].key: task[4] for task in todo}
        failed = {at[key]: problem for key, problem in process_imap(_recreate, todo, n_jobs=jobs)
                  if problem}
        for record in records:  # the records that share a file share its problem
            heard = out.get(record.key)
            if heard is not None and heard.path in failed:
                out[record.key] = Heard(None, f"{_describe(record)}: {failed[heard.path]}")
    return out


def manifest_samples(info: dict[str, Any]) -> dict[str, Sample]:
    """Sample id -> sample of the run's manifest (``run.json``'s ``data``), empty when it
    is gone or no longer the file the run was made with (its hash differs)."""
    from telltale.digest import file_sha256
    from telltale.manifest import load_manifest

    data = info.get("data")
    if not data or not Path(data).is_file():
        return {}
    if info.get("data_sha256") and file_sha256(data) != info["data_sha256"]:
        return {}
    try:
        samples, _ = load_manifest(data, check_media=False, on_error="skip")
    except ValueError:  # a manifest that no longer loads: the browser goes without it
        return {}
    return {s.id: s for s in samples}
