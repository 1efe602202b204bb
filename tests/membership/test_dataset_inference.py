"""Dataset inference: calibrated under the null, powerful on a real shift in the model's
features, and confounded when the blind scores separate the sets too."""

from __future__ import annotations

import numpy as np

from telltale.membership import dataset_inference as di


def _population(n: int, shift: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` members and ``n`` non-members with 10 features, members shifted by ``shift``
    standard deviations on three of them (weak per clip, as MIA features are)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(2 * n, 10))
    y = np.r_[np.ones(n, int), np.zeros(n, int)]
    X[y == 1, :3] += shift
    return X, y


def test_under_the_null_the_test_fires_at_about_its_level():
    X, y = _population(200, 0.0, seed=1)
    null = di.null_rate(X, y, draws=100, alpha=0.05, seed=3)
    assert null["rate"]["value"] <= 0.10 and null["rate"]["low"] <= 0.05
    # and with no shift at all, members against non-members is not a member set either
    assert di.set_test(X[y == 1], X[y == 0], seed=0)["p"] > di.ALPHA


def test_a_weak_per_clip_signal_becomes_significant_as_the_set_grows():
    X, y = _population(400, 0.35, seed=2)
    curve = di.p_by_size(X, y, sizes=[8, 32, 128, 400], draws=10, seed=0)
    medians = [c["median_p"] for c in curve]
    assert medians[-1] < di.ALPHA < medians[0]
    assert medians == sorted(medians, reverse=True)


def test_verdicts_inconclusive_shown_confounded_and_unverified():
    small = {"p": 0.001, "n_suspect": 6, "n_reference": 6}
    assert di.verdict(small, None)["verdict"] == "inconclusive"
    strong = {"p": 1e-6, "n_suspect": 100, "n_reference": 100}
    assert di.verdict(strong, {"p": 0.4})["verdict"] == "member set"
    assert di.verdict(strong, {"p": 1e-4})["verdict"] == "confounded"
    assert di.verdict(strong, None)["verdict"] == "unverified"
    weak = {"p": 0.2, "n_suspect": 100, "n_reference": 100}
    assert di.verdict(weak, {"p": 0.5})["verdict"] == "not shown"


def test_a_set_recorded_differently_is_separated_by_blind_scores_too():
    # a shifted suspect set: the "model" features and a blind (no model) feature both move
    X, y = _population(150, 0.0, seed=4)
    X[y == 1] += 0.8
    blind = X[:, :1] + np.random.default_rng(5).normal(scale=0.5, size=(len(X), 1))
    model = di.set_test(X[y == 1], X[y == 0])
    control = di.set_test(blind[y == 1], blind[y == 0])
    assert model["p"] < di.ALPHA and control["p"] < di.ALPHA
    assert di.verdict(model, control)["verdict"] == "confounded"
