"""Reference-calibrated membership scores: how much more sure is the target than a model
that never saw the clip?

An uncalibrated loss mixes two things: how easy a clip is (short, clear, common words)
and whether the model trained on it. A reference model trained the same way on other data
knows the first and not the second, so the difference of the two isolates membership
(Carlini et al., 2021, "Extracting Training Data from Large Language Models", the
reference-model ratio; Carlini et al., 2022, "Membership Inference Attacks From First
Principles", LiRA, whose gain is concentrated at low false-positive rates; Zarifzadeh et
al., 2024, RMIA). All three compare the likelihoods the two models give the *same* text,
so the reference scores the target's own greedy transcription (teacher-forced), not a
transcription of its own: two different texts would differ in difficulty as well, which is
what the ratio is meant to cancel. With ``--target reference`` both models score the
manifest's transcript instead (the white-box setting where the training text is known),
which is again one text for both.

Each clip's indicator vector on the target minus the same vector on the reference is
aggregated by the same out-of-fold logistic regression as the uncalibrated attack, and the
single loss indicator is compared the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: the loss indicator of Yeom et al. (2018), calibrated by the reference ratio
LOSS = "mean_logprob"


#: relative size below which a difference of the two models' indicators is rounding: float32
#: statistics of one model over one text agree to about 1e-7, which Min-K%++ (a z-score)
#: amplifies to 1e-6; a real reference differs by hundredths of a nat and more
ROUNDING = 1e-4


def calibrate(X_target: np.ndarray, X_reference: np.ndarray) -> np.ndarray:
    """The target's indicators minus the reference's, differences within float rounding
    (:data:`ROUNDING` of the larger value) set to 0: the target's statistics come from its
    generation pass, the reference's from scoring the same text, and two passes of one
    model over one text agree only to rounding, noise an out-of-fold regression would read
    as signal."""
    X_target, X_reference = np.asarray(X_target, float), np.asarray(X_reference, float)
    delta = X_target - X_reference
    scale = np.maximum(1.0, np.maximum(np.abs(X_target), np.abs(X_reference)))
    with np.errstate(invalid="ignore"):
        delta[np.abs(delta) <= ROUNDING * scale] = 0.0
    return delta


def calibrated_attack(X_target: np.ndarray, X_reference: np.ndarray, y: np.ndarray,
                      names: Sequence[str], folds: int = 10, seed: int = 0,
                      n_boot: int = 200, permutations: int = 0,
                      clusters: Sequence[Any] | None = None) -> dict[str, Any]:
    """AUC and TPR at low FPR without and with calibration.

    Parameters
    ----------
    X_target, X_reference : (n, indicators) on the target and the reference model, rows
        aligned (NaN where a model gave no indicator); both computed on the same text.
    y : 1 for members of the target.
    names : indicator names (:func:`telltale.membership.indicators.indicator_names`).
    n_boot, permutations, clusters : the aggregated AUCs' refit bootstrap and label-shuffle
        null (:func:`telltale.membership.attack.aggregate_attack`).

    Returns
    -------
    dict
        ``uncalibrated`` and ``calibrated`` (aggregated attack: ``auc``, ``null``,
        ``tpr_at_1pct_fpr``, ``tpr_at_0.1pct_fpr``) and ``loss`` / ``loss_ratio`` (the single
        loss indicator before and after subtracting the reference's), ``scores`` (the
        calibrated out-of-fold scores, one per row), ``text``: what both models scored.
    """
    from telltale.membership.attack import aggregate_attack
    from telltale.stats import low_fpr_tpr, roc_auc

    y = np.asarray(y).astype(int)
    out: dict[str, Any] = {"text": "the target's transcription, scored by both models"}
    delta = calibrate(X_target, X_reference)
    for name, X in (("uncalibrated", X_target), ("calibrated", delta)):
        result = aggregate_attack(X, y, names, folds=folds, seed=seed, n_boot=n_boot,
                                  indicator_boot=0, permutations=permutations,
                                  clusters=clusters)
        out[name] = result.to_dict()["aggregated"]
        if name == "calibrated":
            out["scores"] = result.scores
    column = list(names).index(LOSS)
    for name, values in (("loss", X_target[:, column]), ("loss_ratio", delta[:, column])):
        keep = np.isfinite(values)
        # a single indicator is not fitted: a bootstrap of the values themselves
        out[name] = {"auc": roc_auc(y[keep], values[keep], n_boot=1000, seed=seed).to_dict(),
                     "tpr_at_1pct_fpr": low_fpr_tpr(y[keep], values[keep], 0.01),
                     "tpr_at_0.1pct_fpr": low_fpr_tpr(y[keep], values[keep], 0.001)}
    return out
