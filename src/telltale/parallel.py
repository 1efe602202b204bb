"""Running one module-level function over many items on a pool of processes.

Used by the blind baselines of the membership protocol (acoustic features of many files,
label shuffles of the permutation null); each worker runs one BLAS thread.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")


def resolve_jobs(n_jobs: int | None) -> int:
    """``None`` or a value below 1 means every core this process may use."""
    if n_jobs is None or n_jobs < 1:
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not on Linux
            return os.cpu_count() or 1
    return n_jobs


def process_map(function: Callable[[_Item], _Result], items: Sequence[_Item],
                n_jobs: int | None = None) -> list[_Result]:
    """``[function(item) for item in items]`` on ``n_jobs`` processes, in order.

    Each process runs one BLAS thread. More than one process: a process pool (forked on
    Linux) whose workers take the items in chunks of a quarter of their share (few round
    trips, still balanced when items differ in cost); one: the calling process itself.

    Parameters
    ----------
    function : a module-level function (it is pickled by name for the workers).
    items : its arguments, picklable.
    n_jobs : processes; ``None`` or < 1 uses every available core.
    """
    return list(process_imap(function, items, n_jobs))


def process_imap(function: Callable[[_Item], _Result], items: Sequence[_Item],
                 n_jobs: int | None = None, chunksize: int | None = None) -> Iterator[_Result]:
    """:func:`process_map` as a generator: results come back in order as they are done,
    from one pool, so a caller can save each one before the next (a killed run keeps
    them) and the workers load their models once. ``chunksize`` items go to a worker at a
    time (default: a quarter of its share)."""
    from threadpoolctl import threadpool_limits

    workers = min(resolve_jobs(n_jobs), len(items))
    # set before the pool forks, the limit holds in the workers too; the matrices here are
    # small, and BLAS threads in every worker would oversubscribe the cores the workers
    # already use (and cost more than they save)
    with threadpool_limits(limits=1):
        if workers < 2:
            for item in items:
                yield function(item)
            return
        with ProcessPoolExecutor(max_workers=workers) as pool:
            yield from pool.map(function, items,
                                chunksize=chunksize or max(1, len(items) // (4 * workers)))
