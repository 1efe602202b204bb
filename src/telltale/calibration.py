"""Verdicts calibrated under the null: label-shuffle bands and refit bootstrap intervals of
cross-validated statistics.

A cross-validated AUC on a few hundred clips scatters around 0.5 far more than a bootstrap
of its out-of-fold scores says: the bootstrap holds the fitted classifiers fixed, so the
classifier's own variance (it learns from the labels it is scored on) and the clustering
of clips by voice are not in it. On 100 random relabellings of the demo's 120 true
non-members the aggregated membership AUC had an SD of 0.078 while the bootstrap's
half-width averaged 0.103 (1.3 SD, not 1.96), and its interval lay wholly above 0.5 in 10 of
100 (issue 24).

Two remedies, both re-running the whole cross-validation:

- **label-shuffle band** (Ojala & Garriga, 2010, "Permutation tests for studying classifier
  performance", test 1): the statistic is recomputed on shuffled labels; the observed value
  is a finding when at most a share ``alpha`` of ``B + 1`` values (the observed one among
  them) reach it, ``p = (1 + #{null >= observed}) / (1 + B) <= alpha``. Under exchangeable
  labels this rejects with probability ``floor(alpha (B + 1)) / (B + 1) <= alpha``, exactly;
  with the default 30 shuffles a finding needs the observed value above all 30, a false
  finding rate of 1/31 = 0.032 against the nominal one-sided 0.05;
- **refit bootstrap interval**: clusters (or clips) drawn with replacement and the whole
  cross-validation run on each replicate, every copy of a clip in the same fold (a copy
  on both sides of a fold would score itself).

Clusters (the manifest's ``speaker``) are kept together in both: where the labels are
constant within every cluster (membership assigned per speaker) whole clusters swap labels;
where they are mixed, labels were assigned per clip and clips are the exchangeable unit.
Folds always keep a cluster together (:func:`telltale.stats.cv_folds`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from telltale.tables import format_interval, format_p

#: one-sided level of a finding decided by a label-shuffle band
ALPHA = 0.05
#: label shuffles by default: the smallest p-value 30 shuffles can give is 1/31 = 0.032,
#: so the exact false-finding rate of the rule is 3.2%, under the nominal 5% (20 shuffles
#: give 1/21 = 4.8%, too close to it to show in a benchmark of a few hundred draws)
PERMUTATIONS = 30
#: refit bootstrap replicates of an interval
REFIT_BOOT = 200

#: a statistic recomputed on resampled data: ``statistic(payload, rows, y, groups)`` is the
#: value on ``rows`` of the payload's data with labels ``y`` and fold groups ``groups``
Statistic = Callable[[Any, np.ndarray, np.ndarray, "np.ndarray | None"], float]


def cluster_codes(clusters: Sequence[Any] | None, n: int) -> np.ndarray | None:
    """Integer codes of ``clusters`` (None when absent or when every row is its own)."""
    if clusters is None:
        return None
    values = ["" if c is None else str(c) for c in clusters]
    if len(values) != n:
        raise ValueError(f"{len(values)} clusters for {n} rows")
    if any(v == "" for v in values):
        return None  # a row without a cluster: clusters are not named for every row
    codes = np.unique(values, return_inverse=True)[1]
    return codes if np.unique(codes).size < n else None


def shuffle_unit(y: np.ndarray, clusters: np.ndarray | None) -> str:
    """``"cluster"`` where every cluster holds one label (labels were assigned per
    cluster, so whole clusters are exchanged), else ``"clip"``."""
    if clusters is None:
        return "clip"
    pure = all(np.unique(y[clusters == c]).size == 1 for c in np.unique(clusters))
    return "cluster" if pure else "clip"


def shuffle_labels(y: np.ndarray, clusters: np.ndarray | None, rng: np.random.Generator
                   ) -> np.ndarray:
    """One label shuffle: clusters exchange labels where labels are per cluster
    (:func:`shuffle_unit`), clips exchange them otherwise. The class sizes are kept (with
    clusters of unequal size, as closely as whole clusters allow)."""
    if shuffle_unit(y, clusters) == "clip":
        return rng.permutation(y)
    names = np.unique(clusters)
    labels = np.array([y[clusters == c][0] for c in names])
    return rng.permutation(labels)[np.searchsorted(names, clusters)]


def _evaluate(task: tuple[Statistic, Any, np.ndarray, np.ndarray, np.ndarray | None]) -> float:
    """One recomputation (module level, for a process pool)."""
    statistic, payload, rows, y, groups = task
    try:
        return float(statistic(payload, rows, y, groups))
    except ValueError:  # a replicate the cross-validation cannot split
        return math.nan


def _both_classes(y: np.ndarray, groups: np.ndarray | None) -> bool:
    """Whether cross-validation can split: two rows (two groups) of each class."""
    if groups is None:
        return bool(np.bincount(y, minlength=2).min() >= 2)
    return all(np.unique(groups[y == c]).size >= 2 for c in (0, 1))


def band_rank(n_permutations: int, alpha: float = ALPHA) -> int:
    """How many shuffled values may reach the observed one for a finding at ``alpha``:
    ``floor(alpha (B + 1)) - 1``; negative when ``B`` shuffles cannot reach ``alpha``."""
    return math.floor(alpha * (n_permutations + 1) + 1e-9) - 1


def label_shuffle_null(statistic: Statistic, payload: Any, y: Any, observed: float,
                       n_permutations: int = PERMUTATIONS, seed: int = 0,
                       clusters: Sequence[Any] | None = None, n_jobs: int | None = None,
                       alpha: float = ALPHA) -> dict[str, Any]:
    """The statistic on ``n_permutations`` label shuffles, and where ``observed`` falls.

    Parameters
    ----------
    statistic : see :data:`Statistic`; recomputed on every row with shuffled labels and
        the clusters as fold groups.
    payload : what ``statistic`` reads its data from (picklable: shuffles run on a pool
        of ``n_jobs`` processes, ``None`` every core; the result does not depend on it).
    y : the observed labels (0/1).
    observed : the statistic on the observed labels.
    clusters : the cluster of each row (e.g. its speaker), or None.

    Returns
    -------
    dict
        ``n_permutations``, ``mean`` and ``sd`` of the shuffled values; ``band``: the
        interval a value must leave to be a finding at ``alpha`` on either side (the
        ``k``-th smallest and largest shuffled values, ``k = floor(alpha (B + 1))``; [0, 1]
        when ``B`` shuffles cannot reach ``alpha``); ``p_shift`` and ``p_below``: the
        one-sided permutation p-values of a value as high (as low) as ``observed``,
        ``(1 + #{null >= observed}) / (1 + B)``; ``above`` and ``below``: whether
        ``observed`` is a finding on that side (p <= ``alpha``); ``alpha``; ``unit``
        ("clip" or "cluster", what was shuffled) and ``clusters`` (how many, or None).
    """
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be at least 1, got {n_permutations}")
    from telltale.parallel import process_map

    y = np.asarray(y).astype(int)
    codes = cluster_codes(clusters, y.size)
    rng = np.random.default_rng(seed)
    rows = np.arange(y.size)
    tasks = [(statistic, payload, rows, shuffle_labels(y, codes, rng), codes)
             for _ in range(n_permutations)]
    null = np.array(process_map(_evaluate, tasks, n_jobs))
    null = null[np.isfinite(null)]
    return summarise_null(null, observed, alpha, shuffle_unit(y, codes),
                          None if codes is None else int(np.unique(codes).size))


def summarise_null(null: np.ndarray, observed: float, alpha: float = ALPHA,
                   unit: str = "clip", clusters: int | None = None) -> dict[str, Any]:
    """Band, p-values and the decision of :func:`label_shuffle_null` from the shuffled
    values ``null``."""
    b = int(null.size)
    ordered = np.sort(null)
    k = band_rank(b, alpha)
    band = [float(ordered[k]), float(ordered[b - 1 - k])] if k >= 0 and b else [0.0, 1.0]
    p_shift = float((1 + np.sum(null >= observed - 1e-12)) / (1 + b))
    p_below = float((1 + np.sum(null <= observed + 1e-12)) / (1 + b))
    return {"n_permutations": b, "mean": float(null.mean()) if b else math.nan,
            "sd": float(null.std(ddof=1)) if b > 1 else 0.0, "band": band,
            "p_shift": p_shift, "p_below": p_below, "alpha": alpha,
            "above": bool(p_shift <= alpha), "below": bool(p_below <= alpha),
            "unit": unit, "clusters": clusters,
            "values": [round(float(v), 6) for v in null]}


def familywise(nulls: dict[str, dict[str, Any]], observed: dict[str, float],
               alpha: float = ALPHA) -> dict[str, float]:
    """Family-wise one-sided p-values of several statistics shuffled with the *same*
    labels (the max-statistic permutation test: Westfall & Young, 1993, "Resampling-based
    multiple testing", algorithm 2.8): each observed value against the largest of the
    statistics on every shuffle. A claim that *any* of them is above chance (a shift in
    some blind family) then errs with probability at most ``alpha`` in all, where separate
    tests at ``alpha`` would err up to once per statistic. ``nulls`` hold ``values`` (from
    :func:`label_shuffle_null` with one seed), ``observed`` the values they are read
    against; returns name -> p."""
    names = [n for n in nulls if nulls[n].get("values")]
    if not names:
        return {}
    largest = np.max(np.array([nulls[n]["values"] for n in names]), axis=0)
    return {n: float((1 + np.sum(largest >= observed[n] - 1e-12)) / (1 + largest.size))
            for n in names}


def refit_bootstrap(statistic: Statistic, payload: Any, y: Any, n_boot: int = REFIT_BOOT,
                    seed: int = 0, clusters: Sequence[Any] | None = None,
                    n_jobs: int | None = None, confidence: float = 0.95
                    ) -> tuple[float, float]:
    """Percentile interval of a cross-validated statistic whose every replicate re-runs
    the cross-validation on rows drawn with replacement.

    Clusters (or, without them, clips) are drawn with replacement, within each class where
    labels are per cluster or per clip (so every replicate keeps the class sizes), from all
    clusters where clusters mix members and non-members; the copies of one cluster (one
    clip) share a fold group, so no copy is scored by a classifier that trained on its
    twin. NaN bounds when fewer than half the replicates could be scored.
    """
    y = np.asarray(y).astype(int)
    codes = cluster_codes(clusters, y.size)
    units = codes if codes is not None else np.arange(y.size)
    names = np.unique(units)
    members_of = {u: np.flatnonzero(units == u) for u in names}
    if shuffle_unit(y, codes) == "cluster" or codes is None:
        pools = [np.array([u for u in names if y[members_of[u][0]] == c]) for c in (0, 1)]
    else:
        pools = [names]
    rng = np.random.default_rng(seed)
    tasks = []
    for _ in range(n_boot):
        drawn = np.concatenate([rng.choice(pool, pool.size) for pool in pools if pool.size])
        rows = np.concatenate([members_of[u] for u in drawn])
        groups = np.concatenate([np.full(members_of[u].size, u) for u in drawn])
        if _both_classes(y[rows], groups):
            tasks.append((statistic, payload, rows, y[rows], groups))
    from telltale.parallel import process_map

    values = np.array(process_map(_evaluate, tasks, n_jobs)) if tasks else np.empty(0)
    values = values[np.isfinite(values)]
    if values.size < max(1, n_boot // 2):
        return math.nan, math.nan
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return float(low), float(high)


def describe_band(null: dict[str, Any]) -> str:
    """``"label shuffles: [0.412, 0.598], p 0.0323 (30 shuffles of clusters)"``."""
    unit = f" of {null['unit']}s" if null.get("unit") == "cluster" else ""
    return (f"label shuffles: {format_interval(*null['band'])}, p "
            f"{format_p(null['p_shift'])} ({null['n_permutations']} shuffles{unit})")


def far_from_chance(null: dict[str, Any] | None, low: float | None = None,
                    high: float | None = None, chance: float = 0.5) -> str | None:
    """``"above"`` or ``"below"`` where a value lies outside its label-shuffle band on that
    side and, where an interval (``low``, ``high``, e.g. a refit bootstrap) is given, that
    interval excludes ``chance`` on the same side; else None. Both are calibrated, so asking
    for both keeps a finding's false rate under the band's alone (the blind baselines ask
    the same of a shift). A value far *below* chance is a signal too: the attack reads
    membership the wrong way round."""
    if not null:
        return None
    if null.get("above") and (low is None or not low <= chance):
        return "above"
    if null.get("below") and (high is None or not high >= chance):
        return "below"
    return None
