"""``--limit N``: which N rows of a manifest a run audits.

The first N rows of a manifest are whatever its writer put first (one voice, one engine,
the members), so a limited run would measure a sample that is not what it says: 40 rows
of the demo's corpus gave 19 members and 21 non-members, and a smaller run can hold no
non-member at all. :func:`select_rows` draws the rows at random with the run's seed
instead, and where the audit compares members with non-members it draws half of each
(:func:`select_rows` with ``by_member``), so every limited run is balanced.

Which rows a run holds is fixed by its records: :func:`check_resume` refuses a resume whose
``--limit`` now selects rows other than those the run recorded (a run made before the
selection was drawn, when ``--limit`` took the first rows).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

from telltale.records import Sample

if TYPE_CHECKING:
    from telltale.rundir import RunDir


def select_rows(samples: Sequence[Sample], limit: int | None, seed: int,
                by_member: bool = False) -> list[Sample]:
    """The ``limit`` rows a run audits, in manifest order.

    Parameters
    ----------
    samples : the manifest's usable rows.
    limit : how many to keep; None (or at least as many as there are) keeps all.
    seed : the run's seed: the same seed and manifest give the same rows.
    by_member : draw ``limit // 2`` members and the rest non-members (a class with too
        few rows gives all it has and the other class makes up the number).

    Returns
    -------
    list of Sample
    """
    rows = list(samples)
    if limit is None or limit >= len(rows):
        return rows
    draw = random.Random(f"telltale --limit|{seed}")
    if not by_member:
        chosen = set(draw.sample(range(len(rows)), limit))
    else:
        members = [i for i, s in enumerate(rows) if s.member == 1]
        others = [i for i, s in enumerate(rows) if s.member != 1]
        take = min(len(members), max(limit // 2, limit - len(others)))
        chosen = set(draw.sample(members, take)) | set(draw.sample(others, limit - take))
    return [s for i, s in enumerate(rows) if i in chosen]


def check_resume(run: RunDir, selected: Sequence[Sample], limit: int | None,
                 seed: int) -> None:
    """Refuse to resume a run whose records hold samples that ``--limit`` does not select
    now (nothing is written).

    Raises
    ------
    ValueError
        Naming the run, how many recorded samples are not selected and one of them.
    """
    if limit is None or not run.records_path.exists():
        return
    wanted = {s.id for s in selected}
    stray = sorted({r.sample_id for r in run.records()} - wanted)
    if stray:
        raise ValueError(
            f"{run.path} holds records of {len(stray)} samples (e.g. {stray[0]!r}) that "
            f"--limit {limit} with --seed {seed} does not select: --limit now draws its rows "
            "at random (balanced on membership where the audit has members) instead of "
            "taking the first ones, so this run cannot be resumed with it; use a new --out "
            "directory")
