"""Probes: what is asked of a model for one sample (:class:`Probe`), the media each probe
carries (:class:`MediaLoader`: loaded and encoded ahead, on worker threads, once per file
and condition), the model calls a probe makes (:func:`plan`, :class:`Call`,
:func:`execute`) and how its answer becomes a record (:func:`answered`). How the probes of
a run reach the model is :mod:`telltale.dispatch`.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from telltale.console import log
from telltale.digest import media_file_sha256
from telltale.media.errors import MediaError
from telltale.models.base import DecodingConfig, Request, TargetModel, TokenStats
from telltale.records import Record, Sample

#: what preparing a probe's media may raise that makes it an error record, not a crash
MEDIA_ERRORS = (MediaError, OSError, ValueError)


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


#: a prepared probe: the probe, its request (None when the media failed) and the failure
Prepared = tuple[Probe, Request | None, Exception | None]


class MediaLoader:
    """The media of a run's probes: each file under each condition loaded once however
    many probes ask for it (an LRU of ``size``), prepared ahead of the model on worker
    threads. One loader serves a whole run, with its pools.

    Parameters
    ----------
    size : int
        Media (file x condition) kept.
    seed, noise_level : int, float
        Of the noise condition.
    workers : int
        Threads that load and encode media ahead of the model.
    """

    def __init__(self, size: int = 64, seed: int = 0, noise_level: float = 0.05,
                 workers: int = 4):
        self._cache: OrderedDict[tuple[str, str], Future] = OrderedDict()
        self._lock = threading.Lock()
        self.size = size
        self.seed = seed
        self.noise_level = noise_level
        self.workers = workers
        self._prep: ThreadPoolExecutor | None = None
        self._window: ThreadPoolExecutor | None = None

    def _media(self, sample: Sample, condition: str) -> Any:
        """The sample's media under ``condition``, loaded by the first thread that asks.
        The noise condition is drawn per sample id, so a file two samples share is one
        entry only in its original form."""
        key = (str(sample.media), condition if condition == "original"
               else f"{condition}|{sample.id}")
        with self._lock:
            future = self._cache.get(key)
            owner = future is None
            if owner:
                future = self._cache[key] = Future()
                if len(self._cache) > self.size:
                    self._cache.popitem(last=False)
            self._cache.move_to_end(key)
        if owner:
            try:
                future.set_result(self._load(sample, condition))
            except BaseException as exc:
                future.set_exception(exc)
                with self._lock:  # a failure is not kept: the next probe tries again
                    self._cache.pop(key, None)
        return future.result()

    def _load(self, sample: Sample, condition: str) -> Any:
        from telltale.media.audio import load_audio
        from telltale.media.conditions import apply_condition
        from telltale.media.image import load_image

        if sample.kind != "audio":
            return load_image(sample.media)
        original = load_audio(sample.media) if condition == "original" \
            else self._media(sample, "original")
        return apply_condition(original, condition, seed=self.seed, key=sample.id,
                               noise_level=self.noise_level)

    def request(self, probe: Probe) -> Request:
        """The request of ``probe``, its media shared with every probe of the same file and
        condition."""
        from telltale.media.conditions import apply_condition

        sample = probe.sample
        if probe.transform is not None:
            media = probe.transform(sample)
            if sample.kind != "audio" and not isinstance(media, np.ndarray):
                return Request(text=probe.text, system=probe.system, image=media)
            if media is None:
                raise MediaError(sample.source or "manifest", f"sample {sample.id} has no audio")
            media = apply_condition(media, probe.condition, seed=self.seed, key=sample.id,
                                    noise_level=self.noise_level)
        elif sample.media is None:
            if sample.kind == "audio":
                raise MediaError(sample.source or "manifest", f"sample {sample.id} has no audio")
            return Request(text=probe.text, system=probe.system)
        else:
            media = self._media(sample, probe.condition if sample.kind == "audio"
                                else "original")
        if sample.kind == "audio" or isinstance(media, np.ndarray):
            return Request(text=probe.text, system=probe.system, audio=media)
        return Request(text=probe.text, system=probe.system, image=media)

    def _prepare(self, probe: Probe, encode: Callable[[Request], None] | None) -> Request:
        request = self.request(probe)
        request.media_sha256()  # kept with the media: the record and the cache key need it
        if encode is not None:
            encode(request)
        return request

    def prepared(self, probes: Iterable[Probe], encode: Callable[[Request], None] | None = None,
                 ahead: int = 64) -> Iterator[Prepared]:
        """``(probe, request, None)`` for each probe in order, or ``(probe, None, error)``
        where its media failed; up to ``ahead`` probes are prepared (loaded, hashed and
        passed to ``encode``, the backend's wire encoding) on the worker threads before
        they are taken."""
        if self._prep is None:
            self._prep = ThreadPoolExecutor(self.workers, "telltale-media")
        queued: deque[tuple[Probe, Future]] = deque()
        source = iter(probes)
        for probe in itertools.chain(source, [None] * ahead):  # then drain the queue
            if probe is not None:
                queued.append((probe, self._prep.submit(self._prepare, probe, encode)))
                if len(queued) <= ahead:
                    continue
            if not queued:
                return
            probe, future = queued.popleft()
            try:
                yield probe, future.result(), None
            except MEDIA_ERRORS as exc:
                yield probe, None, exc

    def threads(self, count: int) -> ThreadPoolExecutor:
        """The run's pool of at least ``count`` worker threads for requests in flight."""
        if self._window is None or self._window._max_workers < count:
            if self._window is not None:
                self._window.shutdown(wait=False)
            self._window = ThreadPoolExecutor(count, "telltale-window")
        return self._window

    def close(self) -> None:
        """Stop the worker threads (idle ones; running work finishes first)."""
        for pool in (self._prep, self._window):
            if pool is not None:
                pool.shutdown(wait=False)
        self._prep = self._window = None


@dataclass(frozen=True)
class Call:
    """One model call of a probe: ``generate`` (with per-token statistics or not) or
    ``score`` of ``continuation``."""

    verb: str
    with_stats: bool = False
    continuation: str | None = None


#: the calls of one probe: yields each call, is sent its result, returns (text, stats)
Plan = Generator[Call, Any, tuple[str, TokenStats | None]]


def plan(probe: Probe, with_stats: bool, one_pass: bool) -> Plan:
    """The calls ``probe`` needs: a scored probe is one ``score``; a generated one is one
    ``generate``, and with ``with_stats`` on a backend whose generate cannot give them
    (not ``one_pass``) a ``score`` of the generated text after it."""
    if probe.continuation is not None:
        stats = yield Call("score", continuation=probe.continuation)
        return probe.continuation, stats
    generation = yield Call("generate", with_stats=with_stats and one_pass)
    stats = generation.stats
    if with_stats and not one_pass:
        stats = yield Call("score", continuation=generation.text)
    return generation.text, stats


def execute(model: TargetModel, call: Call, requests: list[Request],
            continuations: list[str] | None, decoding: DecodingConfig) -> list[Any]:
    """One call for several requests (``continuations`` per request when scoring)."""
    if call.verb == "score":
        return list(model.score(requests, continuations or []))
    return list(model.generate(requests, decoding, with_stats=call.with_stats))


def record_for(probe: Probe, request: Request | None) -> Record:
    """The record of ``probe`` without its answer (which is filled in by the caller)."""
    labels: dict[str, Any] = {**probe.sample.labels, **probe.truth}
    if probe.sample.member is not None:
        labels["member"] = probe.sample.member
    if probe.sample.dataset is not None:
        labels["dataset"] = probe.sample.dataset
    return Record(key=probe.key, sample_id=probe.sample.id,
                  probe={"condition": probe.condition, **probe.meta},
                  media=str(probe.sample.media) if probe.sample.media else None,
                  media_sha256=request.media_sha256() if request else None,
                  media_file_sha256=media_file_sha256(probe.sample.media),
                  prompt=probe.text, system=probe.system, labels=labels)


def answered(probe: Probe, request: Request | None, outcome: Any, with_stats: bool) -> Record:
    """The record of ``probe`` from its outcome: ``(text, stats)``, or the exception that
    stopped it (an error record; with no ``request``, the media's failure)."""
    rec = record_for(probe, request)
    if isinstance(outcome, BaseException):
        rec.error = str(outcome) if request is None else outcome_error(outcome)
        log.warning("sample %s: %s", probe.sample.id, rec.error)
        return rec
    text, stats = outcome
    rec.output = text
    rec.token_stats = stats.to_dict() if stats is not None and (
        with_stats or probe.continuation is not None) else None
    return rec


def outcome_error(exc: BaseException) -> str:
    """How a failed probe's error reads in its record."""
    return f"{type(exc).__name__}: {exc}"


__all__ = ["Call", "MediaLoader", "Prepared", "Probe", "answered", "execute", "plan",
           "record_for"]
