"""Agreement between a scorer and human labels, and rates corrected for the scorer's error.

Every headline of the attribute and PII audits is a rate of replies that a scorer (the rule
parser or an LLM judge) labelled. Human labels on a sample of the same replies measure how
wrong the scorer is on *this* run, and that error can be carried into the headline:

- :func:`agreement`: the confusion matrix (rows: the human's class, columns: the scorer's),
  overall agreement, Cohen's kappa (Cohen, 1960) and per-class recall and precision, each
  with a percentile bootstrap interval over the labelled items (Efron & Tibshirani, 1993).
- :func:`rogan_gladen` and :func:`corrected_rate`: a binary rate (a refusal rate, accuracy
  over all questions, attack success) corrected with the scorer's sensitivity and
  specificity measured on the labelled sample (Rogan & Gladen, 1978: ``(p + Sp - 1) /
  (Se + Sp - 1)``, clipped to [0, 1]). Its interval carries the sampling error of the rate
  and the uncertainty of Se and Sp together, by Monte Carlo: the three proportions are
  drawn from their Jeffreys posteriors, Beta(k + 1/2, n - k + 1/2) (Brown, Cai & DasGupta,
  2001, for the Jeffreys interval), and the estimator is evaluated on each draw. Lang &
  Reiczigel (2014) show why an interval that ignores the error of Se and Sp is too narrow;
  Flor et al. (2020) compare such simulation intervals with the frequentist ones. The
  correction is not identifiable when Se + Sp <= 1 (the scorer carries no information).
- :func:`corrected_distribution`: a many-valued label (an accent, or the outcome of a reply:
  correct / wrong / refusal / non-answer / unparsed) corrected by the calibration estimator
  of double sampling (Tenenbein, 1970; Kuha & Skinner, 1997): ``p_t = sum_s q_s P(t | s)``
  with ``q`` the scorer's distribution over the whole run and ``P(t | s)`` the human's
  distribution among the labelled replies the scorer put in class ``s``. It needs only that
  the labelled replies of each scorer class are a random sample of that class, which a draw
  stratified by the scorer's outcome gives (:mod:`telltale.annotation.draw`). Intervals by
  Monte Carlo from Dirichlet posteriors (Perks prior, 1/K per class).

With inverse-probability weights that make the labelled sample represent the run, the
Rogan-Gladen estimate and the calibration estimate of a binary rate coincide; the
calibration form stays inside [0, 1] by construction.

References: Cohen J. (1960), Educ. Psychol. Meas. 20:37-46. Rogan W.J. & Gladen B. (1978),
Am. J. Epidemiol. 107:71-76. Tenenbein A. (1970), JASA 65:1350-1361. Kuha J. & Skinner C.
(1997), in Survey Measurement and Process Quality, Wiley. Brown L.D., Cai T.T. & DasGupta
A. (2001), Stat. Sci. 16:101-133. Lang Z. & Reiczigel J. (2014), Prev. Vet. Med. 113:13-22.
Flor M. et al. (2020), BMC Public Health 20:1135. Perks W. (1947), J. Inst. Actuaries
73:285-334.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

#: Monte Carlo draws / bootstrap resamples unless told otherwise.
DRAWS = 4000


def _classes(truth: Sequence[Any], predicted: Sequence[Any],
             classes: Sequence[Any] | None) -> list[Any]:
    if classes is not None:
        stray = ({*truth} | {*predicted}) - set(classes)
        if stray:
            raise ValueError(f"values outside the classes given: {sorted(map(str, stray))}")
        return list(classes)
    return sorted({*truth, *predicted}, key=str)


def _weights(weights: Sequence[float] | None, n: int) -> np.ndarray:
    if weights is None:
        return np.ones(n)
    w = np.asarray(weights, dtype=float)
    if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise ValueError(f"weights must be {n} finite positive numbers")
    return w


def confusion_matrix(truth: Sequence[Any], predicted: Sequence[Any],
                     classes: Sequence[Any] | None = None,
                     weights: Sequence[float] | None = None) -> tuple[np.ndarray, list[Any]]:
    """Counts of (human class, scorer class) pairs.

    Parameters
    ----------
    truth : the human's class of each labelled item.
    predicted : the scorer's class of the same items, in the same order.
    classes : the class order; the sorted union of both when None.
    weights : optional positive weight per item (inverse inclusion probabilities); the
        matrix then holds weighted counts.

    Returns
    -------
    (matrix, classes) : ``matrix[i, j]`` is the (weighted) number of items the human put in
        ``classes[i]`` and the scorer in ``classes[j]``.
    """
    if len(truth) != len(predicted):
        raise ValueError(f"{len(truth)} human labels against {len(predicted)} scorer labels")
    order = _classes(truth, predicted, classes)
    index = {c: i for i, c in enumerate(order)}
    w = _weights(weights, len(truth))
    matrix = np.zeros((len(order), len(order)))
    np.add.at(matrix, ([index[t] for t in truth], [index[p] for p in predicted]), w)
    return matrix, order


def cohen_kappa(matrix: np.ndarray) -> float:
    """Cohen's kappa of a confusion matrix: ``(p_o - p_e) / (1 - p_e)``, with ``p_o`` the
    share on the diagonal and ``p_e`` the agreement expected from the two margins alone.
    NaN when ``p_e`` is 1 (both raters put every item in one class)."""
    total = matrix.sum()
    if total <= 0:
        return float("nan")
    observed = np.trace(matrix) / total
    expected = float(matrix.sum(axis=1) @ matrix.sum(axis=0)) / total ** 2
    return float("nan") if expected >= 1 else float((observed - expected) / (1 - expected))


def _interval(values: np.ndarray, confidence: float) -> tuple[float | None, float | None]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None, None
    alpha = (1 - confidence) / 2
    return float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))


def _estimate(value: float, draws: np.ndarray, confidence: float, n: int) -> dict[str, Any]:
    low, high = _interval(draws, confidence)
    return {"value": None if not np.isfinite(value) else float(value), "low": low,
            "high": high, "n": n}


def agreement(truth: Sequence[Any], predicted: Sequence[Any],
              classes: Sequence[Any] | None = None, weights: Sequence[float] | None = None,
              n_boot: int = DRAWS, seed: int = 0, confidence: float = 0.95) -> dict[str, Any]:
    """How often a scorer agrees with the human labels, overall and per class.

    Parameters
    ----------
    truth, predicted, classes, weights : as in :func:`confusion_matrix`.
    n_boot : bootstrap resamples of the labelled items.
    seed : seed of the resampling.
    confidence : interval level.

    Returns
    -------
    dict
        ``n`` labelled items; ``classes``; ``matrix`` (rows human, columns scorer, as
        lists); ``agreement`` (share on the diagonal) and ``kappa``, each ``{value, low,
        high, n}`` with percentile bootstrap bounds; ``per_class``: for each class, ``n``
        (items the human put there), ``n_scorer`` (items the scorer put there),
        ``recall`` (share of the human's items of the class that the scorer also put
        there) and ``precision`` (share of the scorer's items of the class that the human
        agrees with), each with bootstrap bounds (value None where undefined).
    """
    matrix, order = confusion_matrix(truth, predicted, classes, weights)
    n = len(truth)
    if n == 0:
        raise ValueError("no labelled items")
    index = {c: i for i, c in enumerate(order)}
    t = np.array([index[x] for x in truth])
    p = np.array([index[x] for x in predicted])
    w = _weights(weights, n)
    k = len(order)
    rng = np.random.default_rng(seed)
    boot_agree, boot_kappa = np.empty(n_boot), np.empty(n_boot)
    boot_recall, boot_precision = np.full((n_boot, k), np.nan), np.full((n_boot, k), np.nan)
    for b in range(n_boot):
        pick = rng.integers(0, n, n)
        m = np.zeros((k, k))
        np.add.at(m, (t[pick], p[pick]), w[pick])
        boot_agree[b] = np.trace(m) / m.sum()
        boot_kappa[b] = cohen_kappa(m)
        with np.errstate(invalid="ignore", divide="ignore"):
            boot_recall[b] = np.diag(m) / m.sum(axis=1)
            boot_precision[b] = np.diag(m) / m.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.diag(matrix) / matrix.sum(axis=1)
        precision = np.diag(matrix) / matrix.sum(axis=0)
    per_class = {}
    for i, c in enumerate(order):
        per_class[str(c)] = {
            "n": int(np.sum(t == i)), "n_scorer": int(np.sum(p == i)),
            "recall": _estimate(recall[i], boot_recall[:, i], confidence, int(np.sum(t == i))),
            "precision": _estimate(precision[i], boot_precision[:, i], confidence,
                                   int(np.sum(p == i)))}
    return {"n": n, "classes": [str(c) for c in order], "matrix": matrix.tolist(),
            "agreement": _estimate(np.trace(matrix) / matrix.sum(), boot_agree, confidence, n),
            "kappa": _estimate(cohen_kappa(matrix), boot_kappa, confidence, n),
            "per_class": per_class}


def rogan_gladen(apparent: float, sensitivity: float,
                 specificity: float) -> tuple[float | None, bool]:
    """The Rogan-Gladen estimate of a true rate from an apparent one.

    Parameters
    ----------
    apparent : the share of items the scorer counts as events.
    sensitivity : P(scorer says event | event).
    specificity : P(scorer says no event | no event).

    Returns
    -------
    (rate, identifiable) : ``(apparent + Sp - 1) / (Se + Sp - 1)`` clipped to [0, 1], and
        whether the correction is identifiable at all; when ``Se + Sp <= 1`` the rate is
        None and identifiable False.
    """
    denominator = sensitivity + specificity - 1
    if not np.isfinite(denominator) or denominator <= 0:
        return None, False
    return float(np.clip((apparent + specificity - 1) / denominator, 0.0, 1.0)), True


def _kish(weights: np.ndarray) -> float:
    """Kish's effective sample size of weighted items, ``(sum w)^2 / sum w^2``."""
    return float(weights.sum() ** 2 / (weights ** 2).sum()) if weights.size else 0.0


def _beta_draws(rng: np.random.Generator, share: float, n_eff: float, size: int) -> np.ndarray:
    """Draws from the Jeffreys posterior of a proportion seen as ``share`` of ``n_eff``."""
    share = 0.5 if not np.isfinite(share) else share
    return rng.beta(share * n_eff + 0.5, (1 - share) * n_eff + 0.5, size)


def corrected_rate(events: int, n: int, truth: Sequence[bool], predicted: Sequence[bool],
                   weights: Sequence[float] | None = None, n_draws: int = DRAWS,
                   seed: int = 0, confidence: float = 0.95) -> dict[str, Any]:
    """A binary rate corrected for the scorer's sensitivity and specificity.

    Parameters
    ----------
    events, n : the scorer's count of events and the number of items in the cell of the
        run (the apparent rate is ``events / n``).
    truth : for each labelled item, whether the human says it is an event.
    predicted : for the same items, whether the scorer says so.
    weights : optional inverse inclusion probabilities of the labelled items (a draw
        stratified by the scorer's outcome over-samples rare outcomes); Se and Sp are then
        weighted and their posteriors use Kish's effective sizes.
    n_draws, seed, confidence : Monte Carlo draws, their seed, the interval level.

    Returns
    -------
    dict
        ``value`` (the Rogan-Gladen rate clipped to [0, 1], None when not identifiable),
        ``low``, ``high`` (percentiles of the estimator over joint draws of the apparent
        rate, Se and Sp, each clipped to [0, 1], over the draws with Se + Sp > 1; [0, 1]
        when more than (1 - confidence) / 2 of the draws have Se + Sp <= 1), ``n``, ``raw`` (the
        apparent rate), ``sensitivity`` and ``specificity`` (``{value, low, high, n}``,
        Jeffreys intervals), ``identifiable`` (Se + Sp > 1 at the point estimate),
        ``non_identifiable_draws`` (their share) and ``n_labelled``.
    """
    if n <= 0 or not 0 <= events <= n:
        raise ValueError(f"need 0 <= events <= n and n > 0, got {events} of {n}")
    t = np.asarray(truth, dtype=bool)
    p = np.asarray(predicted, dtype=bool)
    if t.shape != p.shape or t.ndim != 1:
        raise ValueError(f"{t.size} human labels against {p.size} scorer labels")
    w = _weights(weights, t.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = float(w[t & p].sum() / w[t].sum())
        sp = float(w[~t & ~p].sum() / w[~t].sum())
    n_pos, n_neg = _kish(w[t]), _kish(w[~t])
    rng = np.random.default_rng(seed)
    q_draw = rng.beta(events + 0.5, n - events + 0.5, n_draws)
    se_draw = _beta_draws(rng, se, n_pos, n_draws)
    sp_draw = _beta_draws(rng, sp, n_neg, n_draws)
    denominator = se_draw + sp_draw - 1
    informative = denominator > 0
    rates = np.full(n_draws, np.nan)
    rates[informative] = np.clip((q_draw[informative] + sp_draw[informative] - 1)
                                 / denominator[informative], 0.0, 1.0)
    value, identifiable = rogan_gladen(events / n, se, sp)
    lost = 1 - informative.mean()
    if lost > (1 - confidence) / 2:
        # too many draws carry no information for percentiles of the rest to mean anything
        low, high = 0.0, 1.0
    else:
        low, high = _interval(rates, confidence)
    return {"value": value, "low": low, "high": high, "n": n, "raw": events / n,
            "sensitivity": _estimate(se, se_draw, confidence, int(t.sum())),
            "specificity": _estimate(sp, sp_draw, confidence, int((~t).sum())),
            "identifiable": identifiable, "non_identifiable_draws": float(lost),
            "n_labelled": int(t.size)}


def corrected_distribution(
        scorer_counts: Mapping[Any, int], truth: Sequence[Any], predicted: Sequence[Any],
        classes: Sequence[Any] | None = None, weights: Sequence[float] | None = None,
        statistics: Mapping[str, Callable[[dict[Any, np.ndarray]], np.ndarray]] | None = None,
        n_draws: int = DRAWS, seed: int = 0, confidence: float = 0.95) -> dict[str, Any]:
    """The distribution of the true class over a run, corrected for the scorer's errors.

    Parameters
    ----------
    scorer_counts : how many items of the run (or cell) the scorer put in each class.
    truth, predicted : the human's and the scorer's class of each labelled item.
    classes : every class (the union of the counts' keys and both label lists when None).
    weights : optional weights of the labelled items *within* each scorer class (for a
        draw stratified by cell as well as by outcome); posteriors use Kish's sizes.
    statistics : optional named functions of the corrected distribution (a dict class ->
        array of draws; they must work on arrays), e.g. accuracy over answered replies
        ``lambda p: p["correct"] / (p["correct"] + p["wrong"])``; each is reported with its
        interval.
    n_draws, seed, confidence : Monte Carlo draws, their seed, the interval level.

    Returns
    -------
    dict
        ``classes``; ``n`` (items of the run); ``n_labelled``; ``observed``: the scorer's
        share per class; ``corrected``: per class ``{value, low, high, n}``; ``statistics``:
        per name ``{value, low, high, n, raw}`` (``raw`` on the scorer's distribution);
        ``missing``: scorer classes with items in the run but no labelled item (their
        items are then taken as the scorer says, and the result is flagged
        ``complete: False``).
    """
    if len(truth) != len(predicted):
        raise ValueError(f"{len(truth)} human labels against {len(predicted)} scorer labels")
    order = classes if classes is not None else sorted(
        {*scorer_counts, *truth, *predicted}, key=str)
    order = _classes(truth, predicted, order)
    stray = set(scorer_counts) - set(order)
    if stray:
        raise ValueError(f"scorer counts for unknown classes {sorted(map(str, stray))}")
    k = len(order)
    index = {c: i for i, c in enumerate(order)}
    counts = np.array([scorer_counts.get(c, 0) for c in order], dtype=float)
    total = counts.sum()
    if total <= 0:
        raise ValueError("the scorer's counts are all zero")
    t = np.array([index[x] for x in truth], dtype=int)
    p = np.array([index[x] for x in predicted], dtype=int)
    w = _weights(weights, t.size)
    rng = np.random.default_rng(seed)
    q_draw = rng.dirichlet(counts + 1.0 / k, n_draws)  # Perks prior on the run's shares
    point = np.zeros(k)
    draws = np.zeros((n_draws, k))
    missing = []
    for s in range(k):
        mine = p == s
        if not mine.any():
            if counts[s] > 0:
                missing.append(str(order[s]))
            row, row_draw = np.eye(k)[s], np.tile(np.eye(k)[s], (n_draws, 1))
        else:
            row = np.bincount(t[mine], weights=w[mine], minlength=k) / w[mine].sum()
            row_draw = rng.dirichlet(row * _kish(w[mine]) + 1.0 / k, n_draws)
        point += counts[s] / total * row
        draws += q_draw[:, [s]] * row_draw
    observed = counts / total
    out: dict[str, Any] = {
        "classes": [str(c) for c in order], "n": int(total), "n_labelled": int(t.size),
        "observed": {str(c): float(observed[i]) for i, c in enumerate(order)},
        "corrected": {str(c): _estimate(point[i], draws[:, i], confidence, int(total))
                      for i, c in enumerate(order)},
        "missing": missing, "complete": not missing, "statistics": {}}
    for name, function in (statistics or {}).items():
        values = [_statistic(function, shares, order) for shares in (point, draws, observed)]
        estimate = _estimate(float(values[0]), values[1], confidence, int(total))
        out["statistics"][name] = {**estimate, "raw": float(values[2])}
    return out


def _statistic(function: Callable[[dict[Any, np.ndarray]], np.ndarray], shares: np.ndarray,
               order: list[Any]) -> np.ndarray:
    """``function`` of a distribution (last axis: the classes), NaN where undefined."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(function({c: shares[..., i] for i, c in enumerate(order)}),
                          dtype=float)
