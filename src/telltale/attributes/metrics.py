"""Attribute-audit metrics, derived from parsed records only.

Each input row is a dict with ``sample_id``, ``attribute``, ``mode``, ``condition``
("original" or "silence"), ``truth`` (label or None), ``status`` and ``label``.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Any

from telltale import stats


def _entropy_bits(counts: Counter) -> float:
    total = sum(counts.values())
    return -sum(c / total * math.log2(c / total) for c in counts.values() if c) if total else 0.0


def cell_metrics(rows: list[dict[str, Any]], labels: tuple[str, ...]) -> dict[str, Any]:
    """Figures of one attribute x mode x condition cell."""
    n = len(rows)
    status = Counter(r["status"] for r in rows)
    labelled = [r for r in rows if r["truth"] is not None]
    answered = [r for r in labelled if r["status"] == "answer" and r["label"] is not None]
    correct = sum(r["label"] == r["truth"] for r in answered)
    truths = Counter(r["truth"] for r in labelled)
    answers = Counter(r["label"] for r in rows if r["status"] == "answer" and r["label"])
    confusion: dict[str, dict[str, int]] = {t: {} for t in labels}
    for r in labelled:
        predicted = r["label"] if r["status"] == "answer" and r["label"] else r["status"]
        confusion.setdefault(r["truth"], {})
        confusion[r["truth"]][predicted] = confusion[r["truth"]].get(predicted, 0) + 1
    return {
        "n": n, "labelled": len(labelled), "answered": len(answered),
        "refusals": status["refusal"], "non_answers": status["non_answer"],
        "unparsed": status["unparsed"],
        "accuracy_answered": stats.wilson(correct, len(answered)).to_dict(),
        "accuracy_all": stats.wilson(correct, len(labelled)).to_dict(),
        "refusal_rate": stats.wilson(status["refusal"], n).to_dict(),
        "non_answer_rate": stats.wilson(status["non_answer"], n).to_dict(),
        "majority_baseline": (max(truths.values()) / len(labelled)) if labelled else None,
        "majority_label": truths.most_common(1)[0][0] if truths else None,
        "chance": 1.0 / len(labels),
        "answer_distribution": dict(answers), "answer_entropy_bits": _entropy_bits(answers),
        "confusion": confusion,
    }


def _paired(a_rows, b_rows, outcome) -> dict[str, float]:
    a = {r["sample_id"]: outcome(r) for r in a_rows}
    b = {r["sample_id"]: outcome(r) for r in b_rows}
    shared = sorted(set(a) & set(b))
    if not shared:
        return {"diff": float("nan"), "p": float("nan"), "n": 0}
    return stats.mcnemar([a[s] for s in shared], [b[s] for s in shared])


def summarise(rows: list[dict[str, Any]], label_sets: dict[str, tuple[str, ...]]) -> dict:
    """Per-cell metrics, blind-bias figures and mode deltas with McNemar tests."""
    cells: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        cells[(row["attribute"], row["mode"], row["condition"])].append(row)
    out: dict[str, Any] = {}
    for (attribute, mode, condition), cell in sorted(cells.items()):
        out.setdefault(attribute, {}).setdefault(mode, {})[condition] = cell_metrics(
            cell, label_sets[attribute])

    def correct(r):
        return r["status"] == "answer" and r["label"] is not None and r["label"] == r["truth"]

    def refused(r):
        return r["status"] == "refusal"

    for attribute, modes in out.items():
        for mode, conditions in modes.items():
            if "original" in conditions and "silence" in conditions:
                real, blind = conditions["original"], conditions["silence"]
                conditions["blind_bias"] = {
                    "accuracy_real": real["accuracy_all"]["value"],
                    "accuracy_silence": blind["accuracy_all"]["value"],
                    "answer_entropy_real": real["answer_entropy_bits"],
                    "answer_entropy_silence": blind["answer_entropy_bits"],
                    "silence_answers": blind["answered"],
                    "test": _paired([r for r in cells[(attribute, mode, "silence")]
                                     if r["truth"]],
                                    [r for r in cells[(attribute, mode, "original")]
                                     if r["truth"]], correct)}
        base = cells.get((attribute, "direct", "original"))
        if not base:
            continue
        deltas = {}
        for mode in ("cot", "defense", "profiler", "constrained"):
            other = cells.get((attribute, mode, "original"))
            if other:
                labelled_base = [r for r in base if r["truth"]]
                labelled_other = [r for r in other if r["truth"]]
                deltas[mode] = {"accuracy": _paired(labelled_base, labelled_other, correct),
                                "refusal": _paired(base, other, refused)}
        out[attribute]["deltas_vs_direct"] = deltas
    return out
