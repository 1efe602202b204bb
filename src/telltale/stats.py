"""Statistics every audit reports: AUCs with bootstrap intervals, low-FPR operating points,
proportions with Wilson intervals, paired tests (plain and clustered) and correlations.

Built on scikit-learn and scipy; imported lazily so ``import telltale`` stays light.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a confidence interval (``low``, ``high``) from ``n`` items."""

    value: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        from telltale.tables import format_estimate

        return format_estimate(self.to_dict())


def _binary(y: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y).astype(int).ravel()
    s = np.asarray(scores, dtype=float).ravel()
    if y.shape != s.shape:
        raise ValueError(f"labels and scores differ in length ({y.size} vs {s.size})")
    if not np.all(np.isin(y, (0, 1))):
        raise ValueError("labels must be 0 or 1")
    if np.unique(y).size < 2:
        raise ValueError("ROC analysis needs both classes (members and non-members)")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores contain NaN or infinite values")
    return y, s


def roc_auc(y: Any, scores: Any, n_boot: int = 1000, seed: int = 0,
            confidence: float = 0.95) -> Estimate:
    """ROC-AUC with a percentile bootstrap interval (resampling stratified by class, so
    every replicate holds both classes)."""
    from sklearn.metrics import roc_auc_score

    y, s = _binary(y, scores)
    value = float(roc_auc_score(y, s))
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    # A replicate's AUC is sum_i sum_j c_i d_j [s_i > s_j] (ties 1/2) / (n_pos n_neg) for
    # the times c_i, d_j each member and non-member is drawn: with the non-members sorted
    # once, each replicate is a cumulative sum and a dot product (the Mann-Whitney form of
    # the AUC; Hanley & McNeil, 1982), not a fresh sort.
    order = np.argsort(s[neg], kind="stable")
    sorted_neg = s[neg][order]
    below = np.searchsorted(sorted_neg, s[pos], side="left")
    up_to = np.searchsorted(sorted_neg, s[pos], side="right")
    boots = np.empty(n_boot)
    for i in range(n_boot):
        drawn_pos = np.bincount(rng.choice(pos.size, pos.size), minlength=pos.size)
        drawn_neg = np.bincount(rng.choice(neg.size, neg.size), minlength=neg.size)[order]
        cumulative = np.concatenate(([0], np.cumsum(drawn_neg)))
        wins = cumulative[below] + 0.5 * (cumulative[up_to] - cumulative[below])
        boots[i] = drawn_pos @ wins / (pos.size * neg.size)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(boots, [alpha, 1.0 - alpha]) if n_boot else (value, value)
    return Estimate(value, float(low), float(high), int(y.size))


def roc_points(y: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates of the ROC curve."""
    from sklearn.metrics import roc_curve

    y, s = _binary(y, scores)
    fpr, tpr, _ = roc_curve(y, s)
    return fpr, tpr


def tpr_at_fpr(y: Any, scores: Any, fpr: float) -> float:
    """Highest true-positive rate at a false-positive rate of at most ``fpr``.

    With ``n`` non-members the smallest non-zero FPR is ``1/n``; below that the answer is
    the TPR at FPR 0 (Carlini et al., 2022, "Membership Inference Attacks From First
    Principles", report this operating point).
    """
    from sklearn.metrics import roc_curve

    y, s = _binary(y, scores)
    # every threshold: the default curve drops points on straight segments, and with tied
    # scores the best point under the FPR limit can be one of them
    curve_fpr, curve_tpr, _ = roc_curve(y, s, drop_intermediate=False)
    ok = curve_fpr <= fpr + 1e-12
    return float(curve_tpr[ok].max()) if ok.any() else 0.0


def wilson(k: int, n: int, confidence: float = 0.95) -> Estimate:
    """Proportion ``k/n`` with the Wilson score interval (Wilson, 1927).

    ``n == 0`` gives NaN value and the uninformative interval [0, 1].
    """
    if k < 0 or n < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return Estimate(float("nan"), 0.0, 1.0, 0)
    low, high = wilson_share(k / n, n, confidence)
    return Estimate(k / n, low, high, n)


def clustered_proportion(outcomes: Any, clusters: Any = None,
                         confidence: float = 0.95) -> Estimate:
    """Proportion of successes with a Wilson interval on the effective sample size of
    clustered trials (Korn & Graubard, 1998, "Confidence intervals for proportions with
    small expected number of positive counts estimated from survey data", Survey
    Methodology 24:193-201, who use the effective size with the exact interval).

    Trials that share a cluster (the replies about one voice, the PII fields of one form)
    are not independent, and a Wilson interval over trials is too narrow by the design
    effect. The variance of the ratio ``p = sum(y) / n`` is estimated from the clusters'
    residual sums (the linearised, with-replacement estimator, ``C / (C - 1)`` for ``C``
    clusters); the effective size ``n_eff = p (1 - p) / var`` (at most ``n``) goes into the
    Wilson interval. Where every trial agrees (``p`` 0 or 1) the variance says nothing,
    and ``n_eff`` is the number of clusters: the worst case, one trial per cluster. Without
    clusters, or with one trial per cluster, this is :func:`wilson`.

    Returns an :class:`Estimate` whose ``n`` is the number of trials.
    """
    y = np.asarray(outcomes, dtype=float).ravel()
    n = int(y.size)
    if clusters is None or n == 0:
        return wilson(int(y.sum()), n, confidence)
    keys = [str(c) for c in clusters]
    if len(keys) != n:
        raise ValueError(f"{len(keys)} clusters for {n} trials")
    codes = np.unique(keys, return_inverse=True)[1]
    count = int(codes.max()) + 1
    k = int(y.sum())
    if count == n:
        return wilson(k, n, confidence)
    p = k / n
    if count < 2:
        n_eff = 1.0
    elif 0 < k < n:
        residual = np.bincount(codes, weights=y - p, minlength=count)
        variance = count / (count - 1) * float(residual @ residual) / n ** 2
        n_eff = min(float(n), p * (1 - p) / variance) if variance > 0 else float(n)
    else:
        n_eff = float(count)
    est = wilson_share(p, n_eff, confidence)
    return Estimate(p, est[0], est[1], n)


def wilson_share(p: float, n: float, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a share ``p`` observed on ``n`` (possibly effective,
    non-integer) trials."""
    from scipy.stats import norm

    z = float(norm.ppf(1.0 - (1.0 - confidence) / 2.0))
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # at 0 or n successes the bound equals p analytically; keep rounding from crossing it
    return min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half))


def mean_ci(values: Any, confidence: float = 0.95,
            bounds: tuple[float, float] = (-math.inf, math.inf)) -> Estimate:
    """Mean with a Student t interval (NaN bounds for fewer than two values), cut to
    ``bounds``, the range the quantity can take (an NLL is at least 0): the true mean lies
    there, so the cut keeps the coverage and drops only impossible values."""
    from scipy.stats import t

    arr = np.asarray(values, dtype=float)
    n = int(arr.size)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    mean = float(arr.mean())
    if n < 2:
        return Estimate(mean, math.nan, math.nan, n)
    half = float(t.ppf(1.0 - (1.0 - confidence) / 2.0, n - 1) * arr.std(ddof=1) / math.sqrt(n))
    return Estimate(mean, max(bounds[0], mean - half), min(bounds[1], mean + half), n)


def paired_ttest(a: Any, b: Any) -> dict[str, float]:
    """Paired t-test of ``a - b`` (scipy.stats.ttest_rel); NaN pairs are dropped."""
    from scipy.stats import ttest_rel

    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired samples differ in length ({a.size} vs {b.size})")
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 2:
        return {"t": float("nan"), "p": float("nan"), "mean_diff": float("nan"), "n": int(ok.sum())}
    res = ttest_rel(a[ok], b[ok])
    return {"t": float(res.statistic), "p": float(res.pvalue),
            "mean_diff": float(np.mean(a[ok] - b[ok])), "n": int(ok.sum())}


def _finite_pairs(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"x and y differ in length ({x.size} vs {y.size})")
    ok = np.isfinite(x) & np.isfinite(y)
    return x[ok], y[ok]


def pearson(x: Any, y: Any) -> tuple[float, float]:
    """Pearson correlation and its two-sided p-value; NaN when undefined."""
    from scipy.stats import pearsonr

    x, y = _finite_pairs(x, y)
    if x.size < 3 or np.std(x) == 0 or np.std(y) == 0:
        return float("nan"), float("nan")
    res = pearsonr(x, y)
    return float(res.statistic), float(res.pvalue)


def spearman(x: Any, y: Any) -> tuple[float, float]:
    """Spearman rank correlation and its two-sided p-value; NaN when undefined."""
    from scipy.stats import spearmanr

    x, y = _finite_pairs(x, y)
    if x.size < 3 or np.std(x) == 0 or np.std(y) == 0:
        return float("nan"), float("nan")
    res = spearmanr(x, y)
    return float(res.statistic), float(res.pvalue)


def mcnemar(a_correct: Any, b_correct: Any) -> dict[str, float]:
    """Exact McNemar test for two paired binary outcomes (e.g. the same samples asked
    directly and with Chain-of-Thought). Returns the discordant counts, the difference in
    proportions (b - a) and the two-sided exact binomial p-value."""
    from scipy.stats import binomtest

    a = np.asarray(a_correct, dtype=bool)
    b = np.asarray(b_correct, dtype=bool)
    if a.shape != b.shape:
        raise ValueError("paired outcomes differ in length")
    only_a = int(np.sum(a & ~b))
    only_b = int(np.sum(b & ~a))
    discordant = only_a + only_b
    p = 1.0 if discordant == 0 else float(binomtest(only_b, discordant, 0.5).pvalue)
    n = int(a.size)
    diff = float((b.sum() - a.sum()) / n) if n else float("nan")
    return {"only_a": only_a, "only_b": only_b, "diff": diff, "p": p, "n": n}


def clustered_paired_test(a_outcome: Any, b_outcome: Any, clusters: Any, n_boot: int = 2000,
                          seed: int = 0, confidence: float = 0.95) -> dict[str, Any]:
    """Paired test of two binary outcomes on the same probes, with probes clustered.

    Probes of one person (or one sample) are not independent, so the exact McNemar test,
    which counts each discordant probe as one independent coin flip, overstates the
    evidence when a cluster holds several probes. Here the unit of randomisation is the
    cluster: under the null hypothesis the two conditions are exchangeable within a
    cluster, so each cluster's summed difference ``d_c = sum(b - a)`` is as likely to take
    either sign. The two-sided p-value is the exact share of the ``2^k`` sign flips of the
    ``d_c`` whose total is at least as far from 0 as the observed one (the cluster-level
    sign-flip permutation test for clustered matched pairs; Durkalski et al., 2003,
    "Analysis of clustered matched-pair data", Stat. Med. 22:2417-2428, and Obuchowski,
    1998, Stat. Med. 17:1495-1507, for the clustered McNemar setting). The ``d_c`` are
    integers, so the permutation distribution is computed exactly by convolution, not by
    sampling. With one probe per cluster it equals the exact McNemar test.

    The interval of the difference in proportions is a cluster bootstrap (clusters drawn
    with replacement, their probes kept together; Field & Welsh, 2007, "Bootstrapping
    clustered data", J. R. Stat. Soc. B 69:369-390), percentile method.

    Parameters
    ----------
    a_outcome, b_outcome : paired binary outcomes, one per probe.
    clusters : the cluster (person, sample) of each probe; any hashable values.
    n_boot : bootstrap replicates for the interval (0: no interval, bounds NaN).
    seed : seed of the bootstrap.
    confidence : level of the interval.

    Returns
    -------
    dict
        ``test`` ("clustered_sign_flip"), ``diff`` (mean of b minus mean of a), ``low`` and
        ``high`` (its interval), ``p`` (two-sided, exact), ``n`` (probes), ``n_clusters``,
        ``only_a`` and ``only_b`` (discordant probes) and ``discordant_clusters`` (clusters
        whose summed difference is not 0).
    """
    from collections import defaultdict

    a = np.asarray(a_outcome, dtype=bool).ravel()
    b = np.asarray(b_outcome, dtype=bool).ravel()
    groups = list(clusters)
    if not (a.size == b.size == len(groups)):
        raise ValueError(f"paired outcomes and clusters differ in length "
                         f"({a.size}, {b.size}, {len(groups)})")
    n = int(a.size)
    per_cluster: dict[Any, list[int]] = defaultdict(lambda: [0, 0])
    for key, left, right in zip(groups, a, b, strict=True):
        per_cluster[key][0] += int(right) - int(left)
        per_cluster[key][1] += 1
    d = np.array([v[0] for v in per_cluster.values()], dtype=int)
    sizes = np.array([v[1] for v in per_cluster.values()], dtype=int)
    observed = int(d.sum())
    # exact null distribution of sum(s_c * d_c), s_c = +-1 with probability 1/2 each: a
    # convolution over clusters on the integer support [-sum|d|, sum|d|]
    span = int(np.abs(d).sum())
    dist = np.zeros(2 * span + 1)
    dist[span] = 1.0
    for value in np.abs(d[d != 0]):
        dist = 0.5 * (np.roll(dist, value) + np.roll(dist, -value))
    totals = np.arange(-span, span + 1)
    p = float(min(1.0, dist[np.abs(totals) >= abs(observed) - 1e-9].sum())) if n else math.nan
    low = high = math.nan
    if n and n_boot:
        rng = np.random.default_rng(seed)
        draws = rng.integers(0, d.size, size=(n_boot, d.size))
        boots = d[draws].sum(axis=1) / sizes[draws].sum(axis=1)
        alpha = (1.0 - confidence) / 2.0
        low, high = (float(q) for q in np.quantile(boots, [alpha, 1.0 - alpha]))
    return {"test": "clustered_sign_flip", "diff": observed / n if n else math.nan,
            "low": low, "high": high, "p": p, "n": n, "n_clusters": int(d.size),
            "only_a": int(np.sum(a & ~b)), "only_b": int(np.sum(b & ~a)),
            "discordant_clusters": int(np.count_nonzero(d))}


def two_proportion(k1: int, n1: int, k2: int, n2: int) -> dict[str, float]:
    """Two-sided z-test for ``k2/n2 - k1/n1`` with a pooled variance."""
    from scipy.stats import norm

    if n1 == 0 or n2 == 0:
        return {"diff": float("nan"), "z": float("nan"), "p": float("nan")}
    p1, p2 = k1 / n1, k2 / n2
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return {"diff": p2 - p1, "z": 0.0 if p1 == p2 else float("inf"),
                "p": 1.0 if p1 == p2 else 0.0}
    z = (p2 - p1) / se
    return {"diff": p2 - p1, "z": z, "p": float(2 * norm.sf(abs(z)))}


def logistic_model(C: float = 1.0):
    """The membership classifier every out-of-fold score uses: median imputation, scaling,
    class-balanced logistic regression (balanced: a training fold's class ratio would
    otherwise shift the intercept, and with folds of unequal ratios that shift alone ranks
    held-out rows, below 0.5 on pure noise)."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True),
                         StandardScaler(),
                         LogisticRegression(C=C, max_iter=2000, class_weight="balanced"))


def _logistic_fit(X: np.ndarray, y: np.ndarray, C: float = 1.0, max_iter: int = 100
                  ) -> tuple[np.ndarray, float]:
    """Coefficients and intercept of :func:`logistic_model`'s regression on standardised
    ``X``: class-balanced weights ``n / (2 n_class)``, L2 penalty ``||w||^2 / 2`` on the
    coefficients (not the intercept) against ``C`` times the weighted log-loss, the
    objective scikit-learn's ``LogisticRegression(class_weight="balanced")`` minimises.

    Solved by Newton's method with step halving: with a few dozen features the Hessian is
    tiny, and one fit takes about a millisecond where scikit-learn's validation and L-BFGS
    take several; label shuffles and bootstrap replicates refit it thousands of times.
    """
    n, d = X.shape
    design = np.hstack([X, np.ones((n, 1))])
    counts = np.bincount(y, minlength=2)
    weight = C * n / (2.0 * counts[y])
    penalty = np.r_[np.ones(d), 0.0]
    coef = np.zeros(d + 1)

    def objective(w: np.ndarray) -> float:
        z = design @ w
        # log(1 + exp(-z)) for members, log(1 + exp(z)) for non-members, overflow-free
        return float(weight @ np.logaddexp(0.0, np.where(y == 1, -z, z))
                     + 0.5 * (penalty * w) @ w)

    current = objective(coef)
    ridge = np.diag(penalty + 1e-12)
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(-(design @ coef)))
        gradient = design.T @ (weight * (p - y)) + penalty * coef
        hessian = (design * (weight * p * (1.0 - p))[:, None]).T @ design + ridge
        step = np.linalg.solve(hessian, gradient)
        t = 1.0
        while t > 1e-8:
            trial = objective(coef - t * step)
            if trial <= current + 1e-12:
                break
            t /= 2
        coef, current = coef - t * step, trial
        if np.max(np.abs(t * step)) < 1e-8:
            break
    return coef[:d], float(coef[d])


def _column_medians(X: np.ndarray) -> np.ndarray:
    """Median of each column over its finite values, 0 for a column without any (what
    ``SimpleImputer(strategy="median", keep_empty_features=True)`` fills; np.nanmedian
    takes a masked-array path ten times slower)."""
    ordered = np.sort(X, axis=0)  # NaN sorts last
    count = np.sum(~np.isnan(X), axis=0)
    cols = np.arange(X.shape[1])
    low = ordered[np.maximum((count - 1) // 2, 0), cols]
    high = ordered[np.maximum(count // 2, 0).clip(max=X.shape[0] - 1), cols]
    return np.where(count > 0, (low + high) / 2.0, 0.0)


def cv_folds(y: Any, folds: int = 10, seed: int = 0, groups: Any = None
             ) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (train, test) row indices of the stratified cross-validation every out-of-fold
    score uses: ``folds`` folds, fewer when the smaller class (or, with ``groups``, the
    number of groups of either class) is smaller; shuffled with ``seed``.

    With ``groups`` (a speaker, or the clip a bootstrap replicate copied), every group's
    rows stay in one fold: a classifier that has seen one clip of a voice would otherwise
    score that voice's other clips by what it learnt of the voice, not of membership.
    Groups are dealt in a seeded random order, larger ones first, each to the fold whose
    classes it brings closest to 1/k of their rows (the greedy balancing of scikit-learn's
    ``StratifiedGroupKFold``, whose own implementation takes 45 ms a split on 120 clips,
    longer than the 10 fits it serves)."""
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(y).astype(int)
    smallest = int(np.bincount(y, minlength=2).min())
    if smallest < 2:
        raise ValueError("cross-validation needs at least two members and two non-members")
    if groups is None:
        splitter = StratifiedKFold(n_splits=min(folds, smallest), shuffle=True,
                                   random_state=seed)
        return list(splitter.split(np.zeros(y.size), y))
    names, inverse = np.unique(np.asarray(groups), return_inverse=True)
    counts = np.zeros((names.size, 2))
    np.add.at(counts, (inverse, y), 1)
    k = int(min(folds, smallest, (counts > 0).sum(axis=0).min()))
    if k < 2:
        raise ValueError("grouped cross-validation needs members and non-members in at least "
                         "two groups each")
    order = np.random.default_rng(seed).permutation(names.size)
    order = order[np.argsort(-counts[order].sum(axis=1), kind="stable")]
    share = counts / counts.sum(axis=0)
    filled = np.zeros((k, 2))
    fold_of = np.empty(names.size, dtype=int)
    for g in order:
        # the fold where this group's rows raise the squared shortfall of each class's
        # share from 1/k least: a class a fold lacks is filled first
        cost = ((filled + share[g] - 1.0 / k) ** 2 - (filled - 1.0 / k) ** 2).sum(axis=1)
        fold = int(np.argmin(cost))
        fold_of[g] = fold
        filled[fold] += share[g]
    row_fold = fold_of[inverse]
    out = [(np.flatnonzero(row_fold != f), np.flatnonzero(row_fold == f)) for f in range(k)]
    if any(np.unique(y[train]).size < 2 for train, _ in out):
        raise ValueError("grouped cross-validation left a training fold without members or "
                         "non-members")
    return out


def oof_logistic_scores(X: Any, y: Any, folds: int = 10, seed: int = 0,
                        C: float = 1.0, groups: Any = None) -> np.ndarray:
    """Out-of-fold membership probabilities from a standardised logistic regression
    (:func:`logistic_model`, fitted by :func:`_logistic_fit`).

    Stratified ``folds``-fold cross-validation (:func:`cv_folds`; ``groups`` keeps each
    group in one fold); missing values are imputed with the training fold's median (0 for
    a column the training fold never observes) and every column is standardised with the
    training fold's mean and SD, so nothing from the held-out fold reaches its own score.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y).astype(int)
    if X.ndim != 2 or X.shape[0] != y.size:
        raise ValueError(f"X must be (n_samples, n_features) matching y; got {X.shape}, {y.size}")
    X = np.where(np.isfinite(X), X, np.nan)
    X = X[:, ~np.all(np.isnan(X), axis=0)]  # a column that is never observed carries nothing
    if X.shape[1] == 0:
        raise ValueError("no usable features: every value is missing")
    out = np.empty(y.size, dtype=float)
    for train, test in cv_folds(y, folds, seed, groups):
        medians = _column_medians(X[train])
        filled = np.where(np.isnan(X), medians, X)
        mean, sd = filled[train].mean(axis=0), filled[train].std(axis=0)
        sd[sd == 0] = 1.0
        scaled = (filled - mean) / sd
        coef, intercept = _logistic_fit(scaled[train], y[train], C)
        out[test] = 1.0 / (1.0 + np.exp(-(scaled[test] @ coef + intercept)))
    # clips no feature tells apart must tie: an intercept that is 0 up to rounding (1e-17)
    # differs between folds and would order them by fold
    return np.round(out, 12)


def low_fpr_tpr(y: Any, scores: Any, fpr: float) -> float | None:
    """:func:`tpr_at_fpr`, or None (not estimable) with fewer than ``1/fpr`` non-members.

    With ``n`` non-members the smallest non-zero FPR is ``1/n``: TPR at 1% FPR needs at
    least 100 of them and at 0.1% at least 1,000, otherwise the figure is read at FPR 0 and
    says nothing about the operating point it names."""
    negatives = int(np.sum(np.asarray(y).astype(int) == 0))
    if negatives * fpr < 1 - 1e-9:
        return None
    return tpr_at_fpr(y, scores, fpr)


def low_fpr_tpr_interval(y: Any, scores: Any, fpr: float, n_boot: int = 200, seed: int = 0,
                         confidence: float = 0.95) -> tuple[float, float] | None:
    """Percentile bootstrap interval of :func:`low_fpr_tpr`, or None where that is not
    estimable. Members and non-members are resampled apart (a stratified bootstrap), so
    every replicate keeps the non-member count that makes the operating point estimable;
    with few non-members a single false positive moves the TPR a lot, and the interval
    says so."""
    y = np.asarray(y).astype(int)
    s = np.asarray(scores, dtype=float)
    if low_fpr_tpr(y, s, fpr) is None or n_boot < 1:
        return None
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    draws = []
    for _ in range(n_boot):
        rows = np.r_[rng.choice(pos, pos.size), rng.choice(neg, neg.size)]
        draws.append(tpr_at_fpr(y[rows], s[rows], fpr))
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(draws, [alpha, 1.0 - alpha])
    return float(low), float(high)


def paired_auc_difference(y: Any, scores_a: Any, scores_b: Any, n_boot: int = 1000,
                          seed: int = 0, confidence: float = 0.95) -> dict[str, float]:
    """AUC of ``scores_b`` minus AUC of ``scores_a`` on the same samples, with a paired,
    class-stratified percentile bootstrap (each replicate draws the samples once and scores
    both), and a two-sided bootstrap p-value: twice the smaller share of replicates on
    either side of 0, each share counted as ``(k + 1) / (n_boot + 1)`` so that it is never
    0 (the smallest p-value ``n_boot`` replicates can support), at most 1.

    Pairing matters: the two AUCs share their samples, so the interval of the difference is
    much narrower than the two separate intervals suggest (DeLong et al., 1988, make the
    same point for their analytic test).
    """
    from sklearn.metrics import roc_auc_score

    y, a = _binary(y, scores_a)
    b = _binary(y, scores_b)[1]
    diff = float(roc_auc_score(y, b) - roc_auc_score(y, a))
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    draws = np.empty(n_boot)
    for i in range(n_boot):
        rows = np.r_[rng.choice(pos, pos.size), rng.choice(neg, neg.size)]
        draws[i] = roc_auc_score(y[rows], b[rows]) - roc_auc_score(y[rows], a[rows])
    alpha = (1.0 - confidence) / 2.0
    low, high = (float(q) for q in np.quantile(draws, [alpha, 1.0 - alpha])) if n_boot \
        else (math.nan, math.nan)
    tail = min(np.sum(draws <= 0), np.sum(draws >= 0))
    p = float(min(1.0, 2 * (tail + 1) / (n_boot + 1))) if n_boot else math.nan
    return {"diff": diff, "low": low, "high": high, "p": p, "n": int(y.size)}
