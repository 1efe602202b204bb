"""How far statistics and indicators built from top-k log-probabilities are from the exact
ones, on a model whose full next-token distributions are at hand.

:func:`top_k_errors` scores texts with a causal LM, computes every statistic of
:data:`telltale.models.base.STAT_NAMES` from the full distributions
(:func:`telltale.models.distribution.position_stats`) and from their top-k truncation
(:func:`telltale.models.distribution.top_k_view`), and reports the absolute differences,
per statistic (over token positions) and per indicator (over texts). Used by the test of
the top-k marks and by ``benchmarks/bench_topk_error.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from telltale.membership.indicators import bounded_indicators, compute_indicators
from telltale.models.base import STAT_NAMES, TokenStats
from telltale.models.distribution import position_stats, top_k_view


def top_k_errors(model: Any, tokenizer: Any, texts: Sequence[str],
                 ks: Sequence[int]) -> dict[str, Any]:
    """Errors of top-k statistics and indicators against the exact ones.

    Parameters
    ----------
    model, tokenizer
        A transformers causal LM and its tokenizer; each text is scored from its second
        token on.
    texts : sequence of str
    ks : sequence of int

    Returns
    -------
    dict
        ``{"tokens": n, "texts": m, "k": {k: {"stats": {name: {"mean_abs", "max_abs"}},
        "tail_mass": {"mean", "max"}, "indicators": {name: {"mean_abs", "max_abs",
        "bounded"}}}}}``; ``bounded`` says whether :func:`bounded_indicators` marks it.
    """
    import torch

    exact: list[dict[str, np.ndarray]] = []
    views: dict[int, list[dict[str, np.ndarray]]] = {k: [] for k in ks}
    pieces: list[list[str]] = []
    for text in texts:
        ids = tokenizer(text, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, :-1]
        targets = ids[0, 1:]
        exact.append(position_stats(logits, targets))
        for k in ks:
            views[k].append(top_k_view(logits, targets, k))
        pieces.append([tokenizer.decode([int(t)]) for t in targets])
    out: dict[str, Any] = {"tokens": int(sum(len(p) for p in pieces)), "texts": len(texts),
                           "k": {}}
    truth = [compute_indicators(TokenStats(p, dict(e)), t)
             for p, e, t in zip(pieces, exact, texts, strict=True)]
    for k in ks:
        stats = {}
        for name in STAT_NAMES:
            diff = np.abs(np.concatenate([v[name] - e[name]
                                          for v, e in zip(views[k], exact, strict=True)]))
            stats[name] = {"mean_abs": float(diff.mean()), "max_abs": float(diff.max())}
        tail = np.concatenate([v["tail_mass"] for v in views[k]])
        approx = [compute_indicators(TokenStats(p, {n: v[n] for n in STAT_NAMES}), t)
                  for p, v, t in zip(pieces, views[k], texts, strict=True)]
        bounded = set(bounded_indicators(k))
        indicators = {}
        for name in truth[0]:
            diff = np.abs([a[name] - b[name] for a, b in zip(approx, truth, strict=True)])
            indicators[name] = {"mean_abs": float(diff.mean()), "max_abs": float(diff.max()),
                                "bounded": name in bounded}
        out["k"][k] = {"stats": stats, "indicators": indicators,
                       "tail_mass": {"mean": float(tail.mean()), "max": float(tail.max())}}
    return out
