"""Reference-calibrated membership scores: how much more sure is the target than a model
that never saw the clip?

An uncalibrated loss mixes two things: how easy a clip is (short, clear, common words)
and whether the model trained on it. A reference model trained the same way on other data
knows the first and not the second, so the difference of the two isolates membership
(Carlini et al., 2021, "Extracting Training Data from Large Language Models", the
reference-model ratio; Carlini et al., 2022, "Membership Inference Attacks From First
Principles", LiRA, whose gain is concentrated at low false-positive rates; Zarifzadeh et
al., 2024, RMIA). Here each clip's indicator vector on the target minus the same vector on
the reference is aggregated by the same out-of-fold logistic regression as the
uncalibrated attack, and the single loss indicator is compared the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: the loss indicator of Yeom et al. (2018), calibrated by the reference ratio
LOSS = "mean_logprob"


def calibrated_attack(X_target: np.ndarray, X_reference: np.ndarray, y: np.ndarray,
                      names: Sequence[str], folds: int = 10, seed: int = 0,
                      n_boot: int = 1000) -> dict[str, Any]:
    """AUC and TPR at low FPR without and with calibration.

    Parameters
    ----------
    X_target, X_reference : (n, indicators) on the target and the reference model, rows
        aligned (NaN where a model gave no indicator).
    y : 1 for members of the target.
    names : indicator names (:func:`telltale.membership.indicators.indicator_names`).

    Returns
    -------
    dict
        ``uncalibrated`` and ``calibrated`` (aggregated attack: ``auc``,
        ``tpr_at_1pct_fpr``, ``tpr_at_0.1pct_fpr``) and ``loss`` / ``loss_ratio`` (the single
        loss indicator before and after subtracting the reference's), ``scores`` (the
        calibrated out-of-fold scores, one per row).
    """
    from telltale.membership.attack import aggregate_attack
    from telltale.stats import low_fpr_tpr, roc_auc

    y = np.asarray(y).astype(int)
    out: dict[str, Any] = {}
    for name, X in (("uncalibrated", X_target), ("calibrated", X_target - X_reference)):
        result = aggregate_attack(X, y, names, folds=folds, seed=seed, n_boot=n_boot,
                                  indicator_boot=0)
        out[name] = result.to_dict()["aggregated"]
        if name == "calibrated":
            out["scores"] = result.scores
    column = list(names).index(LOSS)
    for name, values in (("loss", X_target[:, column]),
                         ("loss_ratio", X_target[:, column] - X_reference[:, column])):
        keep = np.isfinite(values)
        out[name] = {"auc": roc_auc(y[keep], values[keep], n_boot=n_boot, seed=seed).to_dict(),
                     "tpr_at_1pct_fpr": low_fpr_tpr(y[keep], values[keep], 0.01),
                     "tpr_at_0.1pct_fpr": low_fpr_tpr(y[keep], values[keep], 0.001)}
    return out
