"""Asking a run's probes (:func:`run_probes`), the one loop every audit's jobs go through.

How the probes reach the model depends on the backend. In-process backends (``hf:``,
``organism:``, ``docassistant:``) get forward batches of ``batch_size``. A backend that
takes concurrent requests (one with a ``concurrency``, the ``openai:`` client) gets a
window instead (:mod:`telltale.window`): up to ``concurrency`` requests in flight at all
times, each record appended as its answer comes, in whatever order. ``openai:<model>@batch``
writes the requests to batch files (:mod:`telltale.batchfiles`). In every case the media
are loaded and encoded ahead (:class:`telltale.probes.MediaLoader`), and a record holds
the same fields whichever way it was asked.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

from telltale.console import log, progress
from telltale.models.base import DecodingConfig, Request, TargetModel, TokenStats
from telltale.probes import (
    Call,
    MediaLoader,
    Prepared,
    Probe,
    answered,
    execute,
    plan,
    record_for,
)
from telltale.records import Record
from telltale.rundir import RunDir


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


def run_probes(run: RunDir, probes: list[Probe], model: TargetModel, *,
               done: set[str] | None = None, decoding: DecodingConfig | None = None,
               with_stats: bool = False, batch_size: int = 8,
               loader: MediaLoader | None = None, desc: str = "probes") -> dict[str, int]:
    """Ask ``model`` every probe whose key is not in ``done`` (default: the keys ``run``
    holds without error), appending one record each and adding the keys that succeed to
    ``done``. Errored records are left in the run: the runner drops them once, before the
    first job of an attempt, so a later job never deletes an earlier job's failures.

    With ``with_stats`` each record carries the per-token statistics of the model's own
    output: from ``generate`` directly when the backend computes them in the same pass
    (capability ``stats_on_generate``), else by scoring the generated text in a second
    pass. One bad sample is one error record and the rest go on: in a forward batch that
    fails, each probe is tried again alone.

    Returns counts: done (this call), skipped (already recorded), errors, and pending
    (written to a batch file, for ``openai:<model>@batch``).
    """
    decoding = decoding or DecodingConfig()
    own_loader = loader is None
    loader = loader or MediaLoader()
    done = run.done_keys() if done is None else done
    todo, unresolved = resolve_continuations(run, [p for p in probes if p.key not in done])
    counts = {"done": 0, "skipped": len(probes) - len(todo) - len(unresolved), "errors": 0,
              "pending": 0}
    for probe in probes:
        if probe.key in unresolved:  # the output it was to score is missing: an error
            rec = record_for(probe, None)
            rec.error = unresolved[probe.key]
            run.append(rec)
            counts["errors"] += 1
    if counts["skipped"]:
        log.info("%s: %d already recorded, %d to do", desc, counts["skipped"], len(todo))
    one_pass = "stats_on_generate" in model.capabilities
    encode = getattr(model, "prepare", None)
    concurrency = getattr(model, "concurrency", None)
    try:
        if getattr(model, "offline", False):
            from telltale.batchfiles import ask_by_batch_files

            records: Iterable[Record] = ask_by_batch_files(
                run, loader.prepared(todo, encode), model, decoding, with_stats, counts)
        elif concurrency is not None:
            from telltale.window import window

            ready = ((p, r, e if r is None else plan(p, with_stats, one_pass))
                     for p, r, e in loader.prepared(todo, encode, ahead=2 * concurrency + 64))
            records = (answered(p, r, outcome, with_stats) for p, r, outcome in window(
                ready, model, decoding, concurrency, loader.threads(concurrency)))
        else:
            records = _in_batches(loader.prepared(todo, encode, ahead=2 * batch_size), model,
                                  decoding, with_stats, one_pass, batch_size)
        for rec in progress(records, total=len(todo), desc=desc):
            run.append(rec)
            counts["errors" if rec.error else "done"] += 1
            if not rec.error:
                done.add(rec.key)
    finally:
        run.sync()
        if own_loader:
            loader.close()
    return counts


def _in_batches(prepared: Iterator[Prepared], model: TargetModel, decoding: DecodingConfig,
                with_stats: bool, one_pass: bool, batch_size: int) -> Iterator[Record]:
    """Records of forward batches of ``batch_size`` probes, in order; a batch that fails is
    tried again one probe at a time."""
    while chunk := list(itertools.islice(prepared, batch_size)):
        ready = []
        for probe, request, error in chunk:
            if request is None:
                yield answered(probe, None, error, with_stats)
            else:
                ready.append((probe, request))
        if not ready:
            continue
        try:
            outcomes: list[Any] = _lockstep(ready, model, decoding, with_stats, one_pass)
        except Exception as batch_error:  # isolate the failing probe(s)
            log.debug("batch failed (%s); retrying one by one", batch_error)
            outcomes = []
            for item in ready:
                try:
                    outcomes.extend(_lockstep([item], model, decoding, with_stats, one_pass))
                except Exception as exc:
                    outcomes.append(exc)
        for (probe, request), outcome in zip(ready, outcomes, strict=True):
            yield answered(probe, request, outcome, with_stats)


def _lockstep(items: list[tuple[Probe, Request]], model: TargetModel, decoding: DecodingConfig,
              with_stats: bool, one_pass: bool) -> list[tuple[str, TokenStats | None]]:
    """Drive the plans of ``items`` together: each round, the calls of one kind go to the
    model as one batch."""
    plans = [plan(p, with_stats, one_pass) for p, _ in items]
    calls: dict[int, Call] = {i: next(p) for i, p in enumerate(plans)}
    outcomes: list[Any] = [None] * len(items)
    while calls:
        kinds: dict[tuple[str, bool], list[int]] = {}
        for i, call in calls.items():
            kinds.setdefault((call.verb, call.with_stats), []).append(i)
        for (verb, stats), index in kinds.items():
            results = execute(model, Call(verb, stats), [items[i][1] for i in index],
                              [calls[i].continuation or "" for i in index], decoding)
            for i, result in zip(index, results, strict=True):
                try:
                    calls[i] = plans[i].send(result)
                except StopIteration as stop:
                    outcomes[i] = stop.value
                    del calls[i]
    return outcomes


