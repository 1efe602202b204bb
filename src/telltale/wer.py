"""Word error rate: the word-level Levenshtein distance (substitutions, deletions,
insertions) summed over utterances and divided by the number of reference words, the
corpus-level WER that speech recognition evaluations report, with bootstrap intervals over
utterances. Used for the recogniser's cost of a voice defence (:mod:`telltale.mitigate`)
and for whether an audio LM transcribes at all (:mod:`telltale.membership.fidelity`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

_WORD = re.compile(r"[a-z0-9']+")


def words(text: str) -> list[str]:
    """Lower-case words without punctuation (hyphens split words, apostrophes stay)."""
    return _WORD.findall(text.lower().replace("-", " "))


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edit operations, reference words) between two texts, on :func:`words`."""
    ref, hyp = words(reference), words(hypothesis)
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        current = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h))
        previous = current
    return previous[-1], len(ref)


def wer_estimate(errors: Sequence[int], lengths: Sequence[int], n_boot: int = 1000,
                 seed: int = 0, confidence: float = 0.95) -> dict[str, Any]:
    """Corpus WER (sum of errors / sum of reference words) with a percentile bootstrap
    interval over utterances.

    Returns
    -------
    dict
        ``value``, ``low``, ``high`` (shares; WER can exceed 1 with many insertions) and
        ``n`` (utterances).
    """
    e = np.asarray(errors, dtype=float)
    n = np.asarray(lengths, dtype=float)
    if e.size == 0 or n.sum() == 0:
        return {"value": math.nan, "low": math.nan, "high": math.nan, "n": int(e.size)}
    value = float(e.sum() / n.sum())
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, e.size, size=(n_boot, e.size))
    ratios = e[draws].sum(axis=1) / np.maximum(n[draws].sum(axis=1), 1)
    alpha = (1 - confidence) / 2
    low, high = (float(q) for q in np.quantile(ratios, [alpha, 1 - alpha]))
    return {"value": value, "low": low, "high": high, "n": int(e.size)}


def wer_difference(errors_a: Sequence[int], errors_b: Sequence[int], lengths: Sequence[int],
                   n_boot: int = 1000, seed: int = 0,
                   confidence: float = 0.95) -> dict[str, Any]:
    """WER of b minus WER of a on the same utterances, with a paired bootstrap interval
    (utterances drawn once for both) and the share of replicates at or below 0, counted as
    ``(k + 1) / (n_boot + 1)``, as a one-sided p-value of "b is no worse than a"."""
    a = np.asarray(errors_a, dtype=float)
    b = np.asarray(errors_b, dtype=float)
    n = np.asarray(lengths, dtype=float)
    if a.size == 0 or n.sum() == 0:
        return {"diff": math.nan, "low": math.nan, "high": math.nan, "p": math.nan, "n": 0}
    diff = float((b.sum() - a.sum()) / n.sum())
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, a.size, size=(n_boot, a.size))
    deltas = (b[draws].sum(axis=1) - a[draws].sum(axis=1)) / np.maximum(n[draws].sum(axis=1), 1)
    alpha = (1 - confidence) / 2
    low, high = (float(q) for q in np.quantile(deltas, [alpha, 1 - alpha]))
    p = float((np.sum(deltas <= 0) + 1) / (n_boot + 1))  # never 0 from finite replicates
    return {"diff": diff, "low": low, "high": high, "p": p, "n": int(a.size)}
