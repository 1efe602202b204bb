"""Per-record scorers: what turns a stored reply into a parsed answer and scores.

A scorer is any callable that takes a list of records and fills each one's ``parsed`` and
``scores`` in place (:class:`Scorer`). Most are one function per record, lifted with
:func:`per_record`; an LLM judge is a small class that sends its requests in batches.
Scorers know nothing of run directories or metrics, so they run alone (on a table of
replies), inside their audit, and inside a composite audit (the mitigation audit parses its
attribute replies with the attribute audit's scorer; :func:`by_task` routes each record to
the scorer of its task).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from telltale.records import Record


class Scorer(Protocol):
    """Fills ``parsed`` and ``scores`` of every record it is given."""

    def __call__(self, records: Sequence[Record]) -> None: ...


def per_record(score_one: Callable[[Record], None]) -> Scorer:
    """A scorer that calls ``score_one`` on each record in turn."""
    def scorer(records: Sequence[Record]) -> None:
        for record in records:
            score_one(record)
    return scorer


def by_task(scorers: Mapping[str, Scorer], task_of: Callable[[Record], str]) -> Scorer:
    """A scorer that gives each record to the scorer of its task (records of a task with
    no scorer are left as they are)."""
    def scorer(records: Sequence[Record]) -> None:
        groups: dict[str, list[Record]] = {}
        for record in records:
            groups.setdefault(task_of(record), []).append(record)
        for task, group in groups.items():
            if task in scorers:
                scorers[task](group)
    return scorer
