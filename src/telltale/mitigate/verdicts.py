"""The membership verdict of one version of the clips in a mitigation run, calibrated as
the membership audit's (:mod:`telltale.calibration`), and the flag an AUC far from chance
carries on either side.

An AUC far *below* 0.5 is not privacy: the attack still tells members from non-members,
the other way round (on 40 clips a pitch shift gave 0.206 [0.080, 0.358], which a "lower:
more private" reading would call the best defence; issue 24). So the verdict, the table,
the trade-off and the plot read the distance from chance, and say which side.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from telltale import calibration
from telltale.findings import Verdict, caution, inconclusive, leak, no_leak
from telltale.membership.blind import MIN_PER_CLASS
from telltale.tables import format_estimate


def auc_side(entry: Mapping[str, Any]) -> str | None:
    """``"above"`` / ``"below"`` where a version's AUC is beyond its label-shuffle band and
    its refit interval excludes 0.5 on that side (``entry``: ``auc`` and ``null``)."""
    auc = entry.get("auc") or {}
    return calibration.far_from_chance(entry.get("null"), auc.get("low"), auc.get("high"))


def auc_note(entry: Mapping[str, Any]) -> str:
    """``" (below chance: members told apart the other way round)"``, or ``""``."""
    if auc_side(entry) == "below":
        return " (below chance: members told apart the other way round)"
    return ""


def membership_verdict(where: str, entry: Mapping[str, Any],
                       counts: tuple[int, int]) -> Verdict:
    """Leak where the version's AUC is above chance (:func:`auc_side`), a caution where it
    is as far below, no leak shown otherwise; inconclusive below :data:`MIN_PER_CLASS`
    members or non-members, or without label shuffles."""
    auc, null = entry["auc"], entry.get("null")
    text = f"membership AUC {format_estimate(auc)}"
    if null:
        text += f" ({calibration.describe_band(null)})"
    if min(counts) < MIN_PER_CLASS:
        return inconclusive(f"{where}: inconclusive - {counts[0]} members and {counts[1]} "
                            f"non-members; at least {MIN_PER_CLASS} of each are needed "
                            f"({text}).")
    if not null:
        return inconclusive(f"{where}: inconclusive - {text} was not read against label "
                            "shuffles.")
    side = auc_side(entry)
    if side == "above":
        return leak(f"{where}: members are still told apart - {text}.")
    if side == "below":
        return caution(f"{where}: members are told apart the other way round - {text} is "
                       "below chance beyond its label-shuffle band: a signal, not "
                       "privacy.")
    return no_leak(f"{where}: no membership signal shown - {text}.")
