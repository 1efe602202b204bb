"""Reference calibration removes how easy a clip is from its loss, which an uncalibrated
loss cannot."""

from __future__ import annotations

import numpy as np

from telltale.membership.indicators import indicator_names
from telltale.membership.reference import LOSS, calibrate, calibrated_attack


def test_subtracting_a_reference_isolates_membership_from_difficulty():
    rng = np.random.default_rng(0)
    n = 300
    names = indicator_names()
    y = np.r_[np.ones(n // 2, int), np.zeros(n // 2, int)]
    difficulty = rng.normal(scale=2.0, size=n)  # shared by both models: most of the variance
    target = np.tile(difficulty[:, None], (1, len(names))) + rng.normal(scale=0.3,
                                                                          size=(n, len(names)))
    reference = (np.tile(difficulty[:, None], (1, len(names)))
                 + rng.normal(scale=0.3, size=(n, len(names))))
    target[y == 1] += 0.5  # the target alone trained on the members
    out = calibrated_attack(target, reference, y, names, folds=5, n_boot=200)
    assert out["calibrated"]["auc"]["low"] > out["uncalibrated"]["auc"]["high"]
    assert out["loss_ratio"]["auc"]["value"] > out["loss"]["auc"]["value"] + 0.15
    # 150 non-members: TPR at 1% FPR is estimable, at 0.1% it is not
    assert out["calibrated"]["tpr_at_1pct_fpr"] is not None
    assert out["calibrated"]["tpr_at_0.1pct_fpr"] is None
    assert out["scores"].shape == (n,) and LOSS in names


def test_differences_within_rounding_are_none():
    """One model's generation pass and its scoring of the same text agree to rounding
    (1e-7, amplified by a z-score); that noise must not read as signal."""
    target = np.array([[-1.2345678, 0.0003, 250.0], [-0.5, 2.0, 10.0]])
    same = target + np.array([[1e-7, 1.5e-6, 2e-3], [0.0, -1e-6, 0.0]])
    assert np.all(calibrate(target, same) == 0.0)
    other = target - 0.05
    assert np.allclose(calibrate(target, other), 0.05)
