"""The window: probes sent to a backend that takes concurrent requests, with up to
``concurrency`` of them in flight at all times.

Before issue 26 the runner sent a forward batch and waited for all of it before the next,
so ``--concurrency`` was capped by ``--batch-size``: against a server answering in 200 ms,
``--batch-size 8 --concurrency 256`` kept 8 requests in flight (27 probes/s). Here a probe
is sent as soon as a slot frees, and its outcome comes back as soon as it is answered,
whatever the order.

The calling thread looks every call up in the response cache before it takes a slot (a
hit never occupies the window), and stores what the model answered, a few hundred entries
per transaction; the worker threads only talk to the model.
"""

from __future__ import annotations

import queue
import sqlite3
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from telltale.console import log
from telltale.models.base import DecodingConfig, Request, TargetModel
from telltale.probes import Call, Plan, Probe, execute

#: one probe for the window: its request and plan, or (None, the media's failure)
Item = tuple[Probe, Request | None, Any]
#: what the window gives back per probe: the outcome is (text, stats) or an exception
Outcome = tuple[Probe, Request | None, Any]


def window(items: Iterable[Item], model: TargetModel, decoding: DecodingConfig,
           concurrency: int, pool: ThreadPoolExecutor, store_every: int = 256
           ) -> Iterator[Outcome]:
    """Drive each item's plan (:func:`telltale.probes.plan`) with at most ``concurrency``
    probes at the model at once, yielding ``(probe, request, outcome)`` as each finishes.

    Parameters
    ----------
    items : iterable of (probe, request, plan)
        Prepared probes in order; an item whose request is None carries the media's
        failure in place of the plan and comes back at once as its outcome.
    model : TargetModel
        The backend, or a :class:`telltale.cache.CachedModel` around it: then every call is
        looked up before it is sent, and what the backend answered is stored
        (``store_every`` entries per transaction).
    decoding : DecodingConfig
    concurrency : int
        Most probes in flight; each has one request in flight at a time.
    pool : ThreadPoolExecutor
        At least ``concurrency`` worker threads.
    """
    cache = model if hasattr(model, "remember") else None
    backend: TargetModel = cache.model if cache is not None else model
    finished: queue.SimpleQueue[Future] = queue.SimpleQueue()
    fresh: list[tuple[str, str | None, Any]] = []
    in_flight = 0

    def collect(future: Future) -> Outcome:
        probe, request, outcome, made = future.result()
        if cache is not None:
            fresh.extend((c.verb, _key(cache, c, request, decoding), r) for c, r in made)
            if len(fresh) >= store_every:
                _store(cache, fresh)
        return probe, request, outcome

    try:
        for probe, request, planned in items:
            if request is None:
                yield probe, None, planned
                continue
            call, outcome = _from_cache(cache, planned, request, decoding)
            if call is None:
                yield probe, request, outcome
                continue
            answered = []
            while in_flight >= concurrency:  # wait for a slot
                answered.append(finished.get())
                in_flight -= 1
            in_flight += 1  # fill it before the answers are recorded
            pool.submit(_drive, backend, probe, request, planned, call,
                        decoding).add_done_callback(finished.put)
            while not finished.empty():
                answered.append(finished.get())
                in_flight -= 1
            for future in answered:
                yield collect(future)
        while in_flight:
            in_flight -= 1
            yield collect(finished.get())
    finally:
        if cache is not None:
            _store(cache, fresh)


def _key(cache: Any, call: Call, request: Request, decoding: DecodingConfig) -> str | None:
    return cache.key(call.verb, request, decoding, call.with_stats, call.continuation)


def _from_cache(cache: Any, planned: Plan, request: Request,
                decoding: DecodingConfig) -> tuple[Call | None, Any]:
    """Advance a plan through the calls the cache answers: the first call it does not
    answer (None when it answered them all) and, when it did, the outcome."""
    call = next(planned)
    while cache is not None:
        hit = cache.answer(call.verb, _key(cache, call, request, decoding))
        if hit is None:
            break
        try:
            call = planned.send(hit)
        except StopIteration as stop:
            return None, stop.value
    return call, None


def _drive(model: TargetModel, probe: Probe, request: Request, planned: Plan, call: Call,
           decoding: DecodingConfig) -> tuple[Probe, Request, Any, list[tuple[Call, Any]]]:
    """On a worker thread: the rest of a plan, one call at a time. Returns the outcome (or
    the exception that stopped it) and each call made with its result."""
    made: list[tuple[Call, Any]] = []
    try:
        while True:
            result = execute(model, call, [request], [call.continuation or ""], decoding)[0]
            made.append((call, result))
            try:
                call = planned.send(result)
            except StopIteration as stop:
                return probe, request, stop.value, made
    except Exception as exc:  # one bad sample is one error record
        return probe, request, exc, made


def _store(cache: Any, fresh: list[tuple[str, str | None, Any]]) -> None:
    try:
        cache.remember(fresh)
    except sqlite3.Error as exc:  # the cache saves time, it is no record: go on
        log.warning("response cache %s: %s; answers not stored", cache.cache.path, exc)
    fresh.clear()
