"""Phase 2 of the membership audit on stored indicators: per-indicator AUCs, the aggregated
logistic-regression attack and the blind-baseline diagnosis (its figures:
:mod:`telltale.membership.figures`).

Protocol: Lee et al., 2026, "Membership Inference Attacks against Large Audio Language
Models". The indicator vector (:mod:`telltale.membership.indicators`) is scored by a
standardised logistic regression under stratified 10-fold cross-validation, so every sample
gets an out-of-fold membership probability (Sec. 2.3, after Maini et al., 2024). The
diagnosis (Sec. 2.2) correlates those scores with the out-of-fold scores of the blind
baselines, which see the data but never the model: a high blind AUC together with a
positive correlation means the attack reads dataset shift, not memorisation.

Nothing here queries a model; everything is computed from arrays a caller builds from the
records, so a run can be re-scored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from telltale import calibration, stats
from telltale.membership.blind import SHIFT_AUC, below_band_note, is_shifted, too_few
from telltale.stats import Estimate
from telltale.tables import format_cell, format_interval, format_p

#: smallest Pearson r counted as a "non-negligible positive correlation" (Lee et al., 2026,
#: Sec. 2.2, who fix no value). 0.3, Cohen's medium effect, reproduces the paper's own reading
#: of its Table 1 (AF3): GigaSpeech, LibriSpeech, TED-LIUM and CochlScene confounded, while
#: VoxPopuli (text AUC 60.3, r .10) and NSynth (acoustic 62.7, r .21), which the paper treats
#: as relatively clean, are not; 0.1 or 0.2 would call those two confounded as well.
MIN_R = 0.3
#: significance level of the correlation tests
ALPHA = 0.05
#: the verdicts :func:`diagnose` can return
VERDICTS = ("credible", "confounded", "shift present", "unverified", "no signal",
            "inconclusive")

EMPTY_REASON = "empty continuation: the model produced no tokens, so no indicator is defined"


def as_estimate(obj: Estimate | Mapping[str, Any]) -> Estimate:
    """An :class:`Estimate` from itself, ``{"value", "low", "high", "n"}`` or ``{"auc": ...}``
    (the shape of a blind family's result in ``results.json``)."""
    if isinstance(obj, Estimate):
        return obj
    if "auc" in obj:
        obj = obj["auc"]
    try:
        return Estimate(float(obj["value"]), float(obj["low"]), float(obj["high"]),
                        int(obj.get("n", 0)))
    except KeyError as exc:
        raise ValueError(f"an AUC needs value, low and high; got keys {sorted(obj)}") from exc


def per_indicator_aucs(X: np.ndarray, y: np.ndarray, names: Sequence[str], n_boot: int = 1000,
                       seed: int = 0) -> dict[str, dict[str, Any]]:
    """ROC-AUC of every indicator on its own, with a bootstrap interval.

    Indicators are already oriented (larger = member), so the AUC is taken as is: a value
    below 0.5 means the indicator points the other way on this data.

    Parameters
    ----------
    X : np.ndarray, shape (n, d)
        Indicator matrix (NaN where undefined).
    y : np.ndarray, shape (n,)
        1 for members, 0 for non-members.
    names : sequence of str, length d
        Column names.
    n_boot : int
        Bootstrap replicates of each interval.
    seed : int
        Seed of the bootstrap.

    Returns
    -------
    dict name -> dict
        ``value``, ``low``, ``high``, ``n`` (rows used) and ``n_missing`` (NaN rows left
        out); an indicator without both classes among its finite rows gets NaN values and
        a ``reason``.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y).astype(int)
    if X.ndim != 2 or X.shape != (y.size, len(names)):
        raise ValueError(f"X must be (n_samples={y.size}, n_indicators={len(names)}); "
                         f"got {X.shape}")
    out: dict[str, dict[str, Any]] = {}
    for j, name in enumerate(names):
        finite = np.isfinite(X[:, j])
        counts = np.bincount(y[finite], minlength=2)
        if counts.min() < 2:
            out[name] = {"value": math.nan, "low": math.nan, "high": math.nan,
                         "n": int(finite.sum()), "n_missing": int((~finite).sum()),
                         "reason": "fewer than two members or non-members with a value"}
            continue
        est = stats.roc_auc(y[finite], X[finite, j], n_boot=n_boot, seed=seed)
        out[name] = {**est.to_dict(), "n_missing": int((~finite).sum())}
    return out


@dataclass
class AttackResult:
    """The aggregated attack on one condition.

    ``scores`` holds the out-of-fold membership probability per input row (NaN for dropped
    rows); ``used`` marks the rows that were scored.
    """

    scores: np.ndarray
    used: np.ndarray
    auc: Estimate
    tpr_at_1pct_fpr: float | None  # None: too few non-members (stats.low_fpr_tpr)
    tpr_at_01pct_fpr: float | None
    #: stratified bootstrap interval of the TPR at 1% FPR (None where not estimable)
    tpr_at_1pct_fpr_interval: tuple[float, float] | None
    per_indicator: dict[str, dict[str, Any]]
    n_dropped: int
    n_imputed_values: int
    folds: int
    notes: list[str] = field(default_factory=list)
    #: the label-shuffle null of the AUC (:func:`telltale.calibration.label_shuffle_null`)
    null: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (without the per-sample scores)."""
        return {"aggregated": {"auc": self.auc.to_dict(), "null": self.null,
                               "tpr_at_1pct_fpr": self.tpr_at_1pct_fpr,
                               "tpr_at_1pct_fpr_interval": self.tpr_at_1pct_fpr_interval,
                               "tpr_at_0.1pct_fpr": self.tpr_at_01pct_fpr},
                "indicators": self.per_indicator, "n_indicators": len(self.per_indicator),
                "n": int(self.used.sum()), "n_dropped": self.n_dropped,
                "dropped_reason": EMPTY_REASON if self.n_dropped else None,
                "n_imputed_values": self.n_imputed_values, "folds": self.folds,
                "notes": list(self.notes)}


def oof_auc(payload: tuple[Sequence[np.ndarray], int, int], rows: np.ndarray,
            y: np.ndarray, groups: np.ndarray | None) -> float:
    """The aggregated attack's AUC on ``rows`` with labels ``y`` (a
    :data:`telltale.calibration.Statistic`): ``payload`` is ``(matrices, folds, seed)``,
    one indicator matrix per realisation of a condition (one for the original); each is
    scored out of fold on its rows with any indicator, and a clip's score is the mean over
    the realisations it has."""
    matrices, folds, seed = payload
    scores = np.full((len(matrices), rows.size), np.nan)
    for k, matrix in enumerate(matrices):
        X = np.asarray(matrix, dtype=float)[rows]
        used = ~np.all(~np.isfinite(X), axis=1)
        scores[k, used] = stats.oof_logistic_scores(
            X[used], y[used], folds=folds, seed=seed,
            groups=None if groups is None else groups[used])
    count = np.isfinite(scores).sum(axis=0)
    mean = np.divide(np.nansum(scores, axis=0), count, out=np.full(rows.size, np.nan),
                     where=count > 0)
    ok = np.isfinite(mean)
    return stats.roc_auc(y[ok], mean[ok], n_boot=0).value


def calibrated_auc(matrices: Sequence[np.ndarray], y: np.ndarray, observed: float,
                   folds: int = 10, seed: int = 0, n_boot: int = calibration.REFIT_BOOT,
                   permutations: int = 0, clusters: Sequence[Any] | None = None,
                   n_jobs: int | None = None) -> tuple[Estimate, dict[str, Any] | None]:
    """The aggregated AUC ``observed`` with its refit bootstrap interval and its
    label-shuffle null (:mod:`telltale.calibration`), both re-running the attack's whole
    cross-validation on every replicate (``n_boot`` 0: no interval; ``permutations`` 0:
    no null)."""
    y = np.asarray(y).astype(int)
    payload = (list(matrices), folds, seed)
    low = high = observed
    if n_boot:
        low, high = calibration.refit_bootstrap(oof_auc, payload, y, n_boot, seed, clusters,
                                                n_jobs)
    null = (calibration.label_shuffle_null(oof_auc, payload, y, observed, permutations, seed,
                                           clusters, n_jobs) if permutations else None)
    return Estimate(observed, low, high, int(y.size)), null


def auc_control(aggregated: Mapping[str, Any]) -> str:
    """What an aggregated AUC is read against: its label-shuffle band, and where it falls
    outside it, on which side (``aggregated`` as in :meth:`AttackResult.to_dict`)."""
    null = aggregated.get("null")
    if not null:
        return "chance 0.5; not read against label shuffles"
    auc = aggregated["auc"]
    side = calibration.far_from_chance(null, auc.get("low"), auc.get("high"))
    flag = {"above": "; above chance", "below": "; BELOW chance: a signal read the wrong "
                                                 "way round"}.get(side or "", "")
    return "chance: " + calibration.describe_band(null) + flag


def aggregate_attack(X: np.ndarray, y: np.ndarray, names: Sequence[str], folds: int = 10,
                     seed: int = 0, n_boot: int = calibration.REFIT_BOOT,
                     indicator_boot: int = 200, permutations: int = 0,
                     clusters: Sequence[Any] | None = None,
                     n_jobs: int | None = None) -> AttackResult:
    """The aggregated membership attack: out-of-fold logistic regression on all indicators.

    Rows where every indicator is NaN (empty continuations) are dropped and counted; other
    missing values are imputed with the training fold's median inside
    :func:`telltale.stats.oof_logistic_scores`, so no held-out value informs its own score.

    Parameters
    ----------
    X : np.ndarray, shape (n, d)
        Indicator matrix from :func:`telltale.membership.indicators.indicator_matrix`.
    y : np.ndarray, shape (n,)
        1 for members, 0 for non-members.
    names : sequence of str, length d
        Column names.
    folds : int
        Stratified cross-validation folds (10 in Lee et al., 2026).
    seed : int
        Seed of the fold split, the bootstraps and the label shuffles.
    n_boot : int
        Replicates of the AUC's refit bootstrap interval
        (:func:`telltale.calibration.refit_bootstrap`; 0: none).
    indicator_boot : int
        Bootstrap replicates of each per-indicator interval (46 of them, so fewer: these
        intervals rank indicators, the headline is the aggregated AUC).
    permutations : int
        Label shuffles of the AUC's null (0: none, and no verdict can call the signal
        real).
    clusters : sequence, optional
        The cluster (speaker) of each row: kept in one fold, and together in shuffles and
        bootstrap replicates.
    n_jobs : int, optional
        Processes for the shuffles and replicates (None: every core).

    Returns
    -------
    AttackResult

    Raises
    ------
    ValueError
        If fewer than two members or two non-members remain after dropping empty rows.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y).astype(int)
    per_indicator = per_indicator_aucs(X, y, names, n_boot=indicator_boot, seed=seed)
    used = ~np.all(~np.isfinite(X), axis=1)
    counts = np.bincount(y[used], minlength=2)
    if counts.min() < 2:
        raise ValueError(f"the attack needs at least two members and two non-members with "
                         f"indicators; have {counts[1]} members and {counts[0]} non-members "
                         f"after dropping {int((~used).sum())} empty continuations")
    groups = calibration.cluster_codes(None if clusters is None else list(clusters), y.size)
    k = len(stats.cv_folds(y[used], folds, seed, None if groups is None else groups[used]))
    notes = []
    if k < folds:
        notes.append(f"{k}-fold cross-validation: the smaller class has only {counts.min()} "
                     "samples" + (" or clusters" if groups is not None else ""))
    scores = np.full(y.size, np.nan)
    scores[used] = stats.oof_logistic_scores(X[used], y[used], folds=folds, seed=seed,
                                             groups=None if groups is None else groups[used])
    ys, ss = y[used], scores[used]
    n_neg = int(counts[0])
    for fpr in (0.01, 0.001):
        if n_neg * fpr < 1:
            notes.append(f"TPR at {fpr:.1%} FPR is not estimable: with {n_neg} non-members "
                         f"the smallest non-zero FPR is {format_cell(1 / n_neg)}")
    observed = stats.roc_auc(ys, ss, n_boot=0).value
    auc, null = calibrated_auc([X], y, observed, folds, seed, n_boot, permutations,
                               None if groups is None else list(groups), n_jobs)
    return AttackResult(
        scores=scores, used=used, auc=auc,
        tpr_at_1pct_fpr=stats.low_fpr_tpr(ys, ss, 0.01),
        tpr_at_01pct_fpr=stats.low_fpr_tpr(ys, ss, 0.001),
        tpr_at_1pct_fpr_interval=stats.low_fpr_tpr_interval(ys, ss, 0.01,
                                                            n_boot=min(n_boot, 200), seed=seed),
        per_indicator=per_indicator,
        n_dropped=int((~used).sum()), n_imputed_values=int((~np.isfinite(X[used])).sum()),
        folds=k, notes=notes, null=null)


def blind_correlations(blind_scores: Mapping[str, np.ndarray], mia_scores: np.ndarray,
                       y: np.ndarray | None = None) -> dict[str, dict[str, float]]:
    """Pearson and Spearman correlation of each blind family's scores with the MIA scores.

    Parameters
    ----------
    blind_scores : mapping family -> np.ndarray, shape (n,)
        Out-of-fold blind-baseline scores per sample, aligned with ``mia_scores`` (NaN where
        a sample has no blind score).
    mia_scores : np.ndarray, shape (n,)
        Out-of-fold aggregated MIA scores (NaN for dropped samples).
    y : np.ndarray, shape (n,), optional
        Membership labels. When given, ``within_class_r`` is added: Pearson r of the scores
        centred on their class means. Two scores that both separate the classes correlate
        through the label alone; a shared artefact also correlates them within each class,
        so this separates the two readings (a diagnostic beside the paper's, not part of
        the verdict).

    Returns
    -------
    dict family -> dict
        ``pearson_r``, ``pearson_p``, ``spearman_rho``, ``spearman_p`` (NaN when
        undefined: fewer than three pairs or a constant score), ``n`` (finite pairs) and,
        with ``y``, ``within_class_r`` and ``within_class_p``.
    """
    mia = np.asarray(mia_scores, dtype=float)
    out = {}
    for family, values in blind_scores.items():
        b = np.asarray(values, dtype=float)
        if b.shape != mia.shape:
            raise ValueError(f"blind scores of {family!r} have {b.size} values for "
                             f"{mia.size} MIA scores")
        r, rp = stats.pearson(b, mia)
        rho, sp = stats.spearman(b, mia)
        out[family] = {"pearson_r": r, "pearson_p": rp, "spearman_rho": rho, "spearman_p": sp,
                       "n": int((np.isfinite(b) & np.isfinite(mia)).sum())}
        if y is not None:
            out[family]["within_class_r"], out[family]["within_class_p"] = stats.pearson(
                _centre_by_class(b, y), _centre_by_class(mia, y))
    return out


def _centre_by_class(values: np.ndarray, y: np.ndarray) -> np.ndarray:
    y = np.asarray(y).astype(int)
    ok = np.isfinite(values)
    out = values.copy()
    for label in (0, 1):
        rows = ok & (y == label)
        if rows.any():
            out[rows] -= values[rows].mean()
    return out


def diagnose(mia_auc: Estimate | Mapping[str, Any],
             blind_aucs: Mapping[str, Estimate | Mapping[str, Any]],
             correlations: Mapping[str, Mapping[str, float]], shift_auc: float = SHIFT_AUC,
             min_r: float = MIN_R, alpha: float = ALPHA,
             class_counts: tuple[int, int] | None = None,
             mia_null: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The verdict of the blind-baseline protocol (Lee et al., 2026, Sec. 2.2), with its
    reasoning.

    Rules, in order (after **inconclusive**, when ``class_counts`` (members, non-members)
    has fewer than :data:`~telltale.membership.blind.MIN_PER_CLASS` of either, or when the
    MIA AUC has no label-shuffle null ``mia_null`` to be read against):

    1. **no signal**: the MIA AUC does not rise above its label-shuffle band (the
       permutation p-value of :func:`telltale.calibration.label_shuffle_null` above its
       one-sided level, 0.05) with its refit bootstrap interval above 0.5
       (:func:`telltale.calibration.far_from_chance`); an AUC as far *below* is said
       (level caution): the scores order members and non-members the wrong way round;
    2. **confounded**: some blind family is *shifted* (AUC >= ``shift_auc`` above its
       label-shuffle band: :func:`~telltale.membership.blind.is_shifted`) and its scores
       correlate *positively and significantly* with the MIA scores (Pearson r >=
       ``min_r``, p < ``alpha``);
    3. **shift present**: a family is shifted but no shifted family's scores follow the MIA
       scores (or the correlation could not be computed) — the signal may be real, but
       only a matched subset settles it;
    4. **unverified**: a signal and no blind baseline to check it against;
    5. **credible**: a signal and every blind baseline at chance.

    The AUC's interval is shown, but the band decides: an interval that holds the fitted
    classifiers fixed called random labels a signal 10 times in 100 (issue 24).
    Spearman's rho is reported beside Pearson's r as the paper's robustness check; a
    disagreement is stated in the text.

    Parameters
    ----------
    mia_auc : Estimate or mapping
        AUC of the aggregated attack with its interval.
    blind_aucs : mapping family -> Estimate or mapping
        Each blind family's AUC (``{"value", "low", "high"}`` or a blind result with an
        ``auc`` entry and, where labels were shuffled, a ``null`` one).
    correlations : mapping family -> mapping
        Output of :func:`blind_correlations`.
    shift_auc, min_r, alpha : float
        Thresholds; see :data:`SHIFT_AUC`, :data:`MIN_R`, :data:`ALPHA`.
    class_counts : (members, non-members), optional
    mia_null : mapping, optional
        The MIA AUC's label-shuffle null (:func:`telltale.calibration.label_shuffle_null`).

    Returns
    -------
    dict
        ``verdict`` (one of :data:`VERDICTS`), ``level`` ("ok", "warn", "info" or
        "caution", for the report), ``text`` (the reasoning), ``criteria`` (the thresholds
        used) and ``families`` (per family: AUC, CI, correlations, ``shifted``,
        ``correlated``).
    """
    mia = as_estimate(mia_auc)
    families: dict[str, dict[str, Any]] = {}
    for family, auc in blind_aucs.items():
        est = as_estimate(auc)
        null = auc.get("null") if isinstance(auc, Mapping) else None
        corr = dict(correlations.get(family, {}))
        r, p = corr.get("pearson_r", math.nan), corr.get("pearson_p", math.nan)
        rho, sp = corr.get("spearman_rho", math.nan), corr.get("spearman_p", math.nan)
        families[family] = {
            "auc": est.value, "low": est.low, "high": est.high, "pearson_r": r,
            "pearson_p": p, "spearman_rho": rho, "spearman_p": sp,
            "shifted": is_shifted(est.value, est.low, null, shift_auc),
            "shuffle_band": null["band"] if null else None,
            "correlated": bool(r >= min_r and p < alpha),
            "spearman_agrees": bool(rho >= min_r and sp < alpha) == bool(r >= min_r and p < alpha),
            "within_class_r": corr.get("within_class_r", math.nan),
        }
    criteria = {"shift_auc": shift_auc, "shift_above_shuffle_band": True, "min_r": min_r,
                "alpha": alpha, "signal": "MIA AUC above its label-shuffle band (one-sided "
                                          f"p <= {calibration.ALPHA}) and its refit interval "
                                          "above 0.5"}
    shifted = sorted((f for f in families if families[f]["shifted"]),
                     key=lambda f: -families[f]["auc"])
    confounding = [f for f in shifted if families[f]["correlated"]]

    def describe(f: str) -> str:
        v = families[f]
        text = f"{f} AUC {format_cell(v['auc'])} {format_interval(v['low'], v['high'])}"
        if v["shuffle_band"]:
            text += f" (label shuffles: {format_interval(*v['shuffle_band'])})"
        if not math.isnan(v["pearson_r"]):
            text += (f", Pearson r {format_cell(v['pearson_r'])} (p {format_p(v['pearson_p'])}"
                     f"), Spearman rho {format_cell(v['spearman_rho'])} (p "
                     f"{format_p(v['spearman_p'])})")
        if not math.isnan(v["within_class_r"]):
            text += f", within-class r {format_cell(v['within_class_r'])}"
        return text

    shift_note = (" The blind baselines nevertheless show distribution shift ("
                  + "; ".join(describe(f) for f in shifted) + ").") if shifted else ""
    small = too_few(*class_counts) if class_counts else None
    auc_text = f"{mia} ({calibration.describe_band(mia_null)})" if mia_null else str(mia)
    side = calibration.far_from_chance(dict(mia_null), mia.low, mia.high) if mia_null else None
    if small:
        verdict, level, text = "inconclusive", "info", f"{small} MIA AUC {auc_text}." + shift_note
    elif mia_null is None:
        verdict, level, text = "inconclusive", "info", (
            f"Inconclusive: MIA AUC {auc_text} was not read against label shuffles "
            "(--permutations 0), and a cross-validated AUC scatters around 0.5 more than its "
            "interval shows; run with label shuffles for a verdict." + shift_note)
    elif side != "above":
        below = side == "below"
        verdict, level, text = "no signal", "caution" if below else "ok", (
            f"No membership signal: the aggregated MIA AUC {auc_text} "
            + ("is below chance, beyond its label-shuffle band: the attack ranks members "
               "below non-members, a signal read the wrong way round (check the indicators' "
               "orientation and the split)." if below else
               "does not rise above both its label-shuffle band and 0.5 (refit "
               "interval).") + shift_note)
    elif confounding:
        disagree = [f for f in confounding if not families[f]["spearman_agrees"]]
        verdict, level, text = "confounded", "info", (
            f"Confounded by distribution shift: the MIA AUC {auc_text} is matched by blind "
            "baselines that never see the model and whose scores follow the MIA scores ("
            + "; ".join(describe(f) for f in confounding) + f"; shifted means AUC >= "
            f"{shift_auc} above its label-shuffle band, correlated means Pearson r >= "
            f"{min_r} with p < {alpha}). The attack reads dataset artefacts, not "
            "memorisation; evaluate on a distribution-matched subset.")
        if disagree:
            text += (" Spearman's rank correlation does not confirm this for "
                     + ", ".join(disagree) + ".")
    elif shifted:
        verdict, level, text = "shift present", "info", (
            f"Membership signal (MIA AUC {auc_text}) on a shifted corpus: "
            + "; ".join(describe(f) for f in shifted)
            + f". The MIA scores do not follow the blind scores (no Pearson r >= {min_r} "
            f"with p < {alpha}), so the signal may be memorisation, but only a "
            "distribution-matched subset can confirm it.")
    elif not families:
        verdict, level, text = "unverified", "info", (
            f"Membership signal (MIA AUC {auc_text}) without blind baselines: distribution "
            "shift between members and non-members is not ruled out; run phase 1.")
    else:
        verdict, level, text = "credible", "warn", (
            f"Membership signal credible: MIA AUC {auc_text}, above its label-shuffle band "
            "and 0.5, "
            f"while every blind baseline stays below AUC {shift_auc} or within its "
            "label-shuffle band (" + "; ".join(describe(f) for f in families) + ").")
    text += below_band_note({f: a for f, a in blind_aucs.items() if isinstance(a, Mapping)})
    return {"verdict": verdict, "level": level, "text": text, "criteria": criteria,
            "families": families}


def analyse(X: np.ndarray, y: np.ndarray, names: Sequence[str],
            blind_aucs: Mapping[str, Estimate | Mapping[str, Any]] | None = None,
            blind_scores: Mapping[str, np.ndarray] | None = None, folds: int = 10,
            seed: int = 0, n_boot: int = calibration.REFIT_BOOT, indicator_boot: int = 200,
            figures: str | Path | None = None, top_curves: int = 2,
            permutations: int = 0, clusters: Sequence[Any] | None = None,
            n_jobs: int | None = None) -> tuple[dict[str, Any], np.ndarray]:
    """Phase 2 end to end from an indicator matrix: attack, correlations, verdict, figures.

    Parameters
    ----------
    X, y, names
        As for :func:`aggregate_attack`.
    blind_aucs : mapping family -> AUC, optional
        Phase 1 AUCs per family (see :func:`diagnose`).
    blind_scores : mapping family -> np.ndarray, optional
        Phase 1 out-of-fold scores aligned with the rows of ``X`` (NaN where missing).
    folds, seed, n_boot, indicator_boot, permutations, clusters, n_jobs
        As for :func:`aggregate_attack`; without ``permutations`` the verdict is
        inconclusive.
    figures : str or Path, optional
        Folder for ``roc_linear.png`` and ``roc_loglog.png`` (the aggregated score and the
        ``top_curves`` individual indicators furthest from chance).
    top_curves : int
        Individual indicators drawn beside the aggregated curve.

    Returns
    -------
    results : dict
        JSON-ready: ``attack`` (:meth:`AttackResult.to_dict`), ``correlation`` (per blind
        family), ``diagnosis`` (:func:`diagnose`) and ``figures`` (paths written).
    scores : np.ndarray, shape (n,)
        Out-of-fold MIA score per row (NaN for dropped rows).
    """
    result = aggregate_attack(X, y, names, folds=folds, seed=seed, n_boot=n_boot,
                              indicator_boot=indicator_boot, permutations=permutations,
                              clusters=clusters, n_jobs=n_jobs)
    correlation = blind_correlations(blind_scores or {}, result.scores, y)
    y_int = np.asarray(y).astype(int)
    diagnosis = diagnose(result.auc, blind_aucs or {}, correlation,
                         class_counts=(int(y_int.sum()), int((1 - y_int).sum())),
                         mia_null=result.null)
    out: dict[str, Any] = {"attack": result.to_dict(), "correlation": correlation,
                           "diagnosis": diagnosis, "figures": []}
    if figures is not None:
        y = np.asarray(y).astype(int)
        curves = {"aggregated (LR)": (y[result.used], result.scores[result.used])}
        ranked = sorted((n for n, v in result.per_indicator.items() if not math.isnan(v["value"])),
                        key=lambda n: -abs(result.per_indicator[n]["value"] - 0.5))
        for name in ranked[:top_curves]:
            curves[name] = (y, np.asarray(X, dtype=float)[:, list(names).index(name)])
        from telltale.membership.figures import roc_figures, score_histogram

        out["figures"] = [str(p) for p in roc_figures(curves, figures)]
        out["figures"].append(str(score_histogram(
            y[result.used], result.scores[result.used], Path(figures) / "score_histogram.png",
            "Membership score of members and non-members")))
    return out, result.scores
