"""Probes and asking them: what is asked of a model for one sample (:class:`Probe`), the
media each probe carries (:class:`MediaLoader`), and :func:`run_probes`, which asks every
probe not yet recorded in a run and appends one record each."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from telltale.console import log, progress
from telltale.media.errors import MediaError
from telltale.models.base import DecodingConfig, Generation, Request, TargetModel
from telltale.records import Record, Sample
from telltale.rundir import RunDir


@dataclass
class Probe:
    """What is asked of the model for one sample.

    ``meta`` holds the probe's coordinates (mode, attribute, condition, framing, ...) and
    is stored in the record; ``truth`` is ground truth beyond the sample's labels that
    scoring needs (e.g. the PII printed on a form), stored in the record's labels;
    ``condition`` names the media condition applied to the sample's audio (original,
    silence, noise); ``transform`` may replace the loaded audio (e.g. a TTS resynthesis).
    A probe with a ``continuation`` is scored (teacher-forced statistics of that text)
    instead of generated; one with ``continuation_of`` scores the output recorded for the
    probe of that key (another model's reply to the same request, asked in an earlier job).
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
    continuation_of: str | None = None


def resolve_continuations(run: RunDir, probes: list[Probe]) -> tuple[list[Probe], dict[str, str]]:
    """``probes`` with every ``continuation_of`` replaced by the output recorded under that
    key, and the reason for each probe whose output is missing (no record, an error
    record, an empty reply), by probe key."""
    import dataclasses

    wanted = {p.continuation_of for p in probes if p.continuation_of is not None}
    if not wanted:
        return probes, {}
    outputs = {r.key: r for r in run.records() if r.key in wanted}
    resolved, problems = [], {}
    for probe in probes:
        if probe.continuation_of is None:
            resolved.append(probe)
            continue
        source = outputs.get(probe.continuation_of)
        if source is None or source.error is not None or not (source.output or "").strip():
            reason = ("no record" if source is None else "an error record" if source.error
                      else "an empty reply")
            problems[probe.key] = (f"sample {probe.sample.id}: the output to score "
                                   f"({probe.continuation_of}) is {reason}")
            continue
        resolved.append(dataclasses.replace(probe, continuation=source.output,
                                            continuation_of=None))
    return resolved, problems


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
    todo, unresolved = resolve_continuations(run, [p for p in probes if p.key not in done])
    counts = {"done": 0, "skipped": len(probes) - len(todo) - len(unresolved), "errors": 0}
    for probe in probes:
        if probe.key in unresolved:
            rec = _record_for(probe, None)
            rec.error = unresolved[probe.key]
            run.append(rec)
            counts["errors"] += 1
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
