"""Agreement and corrected rates against independent computations, and against scorers of
known error simulated with seeds: the corrected estimate must recover the truth and its
interval cover it at about the nominal rate."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score
from sklearn.metrics import confusion_matrix as sk_confusion

from telltale.agreement import (
    agreement,
    cohen_kappa,
    confusion_matrix,
    corrected_distribution,
    corrected_rate,
    rogan_gladen,
)


def test_confusion_matrix_and_kappa_match_scikit_learn():
    rng = np.random.default_rng(3)
    truth = rng.choice(["a", "b", "c"], 300, p=[0.5, 0.3, 0.2])
    predicted = np.where(rng.random(300) < 0.8, truth, rng.choice(["a", "b", "c"], 300))
    matrix, classes = confusion_matrix(list(truth), list(predicted))
    assert classes == ["a", "b", "c"]
    assert np.array_equal(matrix, sk_confusion(truth, predicted, labels=classes))
    assert cohen_kappa(matrix) == pytest.approx(cohen_kappa_score(truth, predicted))


def test_kappa_by_hand_on_a_two_by_two_table():
    # 20 both yes, 5 human yes / scorer no, 10 human no / scorer yes, 15 both no
    truth = ["y"] * 25 + ["n"] * 25
    predicted = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    observed = 35 / 50
    expected = (25 / 50) * (30 / 50) + (25 / 50) * (20 / 50)
    result = agreement(truth, predicted, n_boot=500, seed=1)
    assert result["kappa"]["value"] == pytest.approx((observed - expected) / (1 - expected))
    assert result["agreement"]["value"] == pytest.approx(observed)
    assert result["per_class"]["y"]["recall"]["value"] == pytest.approx(20 / 25)
    assert result["per_class"]["y"]["precision"]["value"] == pytest.approx(20 / 30)
    assert result["matrix"] == [[15.0, 10.0], [5.0, 20.0]]  # rows human n, y
    low, high = result["kappa"]["low"], result["kappa"]["high"]
    assert low < result["kappa"]["value"] < high
    # seeded: the same seed gives the same interval, another seed another one
    assert agreement(truth, predicted, n_boot=500, seed=1)["kappa"] == result["kappa"]
    assert agreement(truth, predicted, n_boot=500, seed=2)["kappa"] != result["kappa"]


def test_perfect_agreement_and_a_class_the_scorer_never_uses():
    result = agreement(["x", "y", "y"], ["x", "y", "y"], classes=["x", "y", "z"], n_boot=200)
    assert result["kappa"]["value"] == 1.0 and result["agreement"]["value"] == 1.0
    assert result["per_class"]["z"]["recall"]["value"] is None
    with pytest.raises(ValueError, match="outside the classes"):
        agreement(["x"], ["w"], classes=["x"])


def test_rogan_gladen_by_hand_and_when_not_identifiable():
    value, ok = rogan_gladen(0.4, 0.9, 0.8)
    assert ok and value == pytest.approx((0.4 + 0.8 - 1) / (0.9 + 0.8 - 1))
    assert rogan_gladen(0.05, 0.9, 0.8) == (0.0, True)  # below the false-positive floor
    assert rogan_gladen(0.4, 0.5, 0.5) == (None, False)
    assert rogan_gladen(0.4, 0.3, 0.6) == (None, False)


def _simulate(rng, n, prevalence, se, sp):
    truth = rng.random(n) < prevalence
    said = np.where(truth, rng.random(n) < se, rng.random(n) >= sp)
    return truth, said


def test_corrected_rate_recovers_the_truth_and_covers_it_at_the_nominal_rate():
    # a scorer of known error: Se 0.85, Sp 0.9 on a run of 2000 replies at prevalence 0.3;
    # 250 replies labelled by a simple random draw; 200 seeded repetitions
    truth_rate, covered, estimates, raw = 0.3, 0, [], []
    for seed in range(200):
        rng = np.random.default_rng(seed)
        truth, said = _simulate(rng, 2000, truth_rate, 0.85, 0.9)
        labelled = rng.choice(2000, 250, replace=False)
        result = corrected_rate(int(said.sum()), 2000, truth[labelled], said[labelled],
                                n_draws=2000, seed=seed)
        estimates.append(result["value"])
        raw.append(result["raw"])
        covered += result["low"] <= truth_rate <= result["high"]
    # the raw rate is biased (0.3 * 0.85 + 0.7 * 0.1 = 0.325); the corrected one is not
    assert np.mean(raw) == pytest.approx(0.325, abs=0.005)
    assert np.mean(estimates) == pytest.approx(truth_rate, abs=0.006)
    assert 0.91 <= covered / 200 <= 0.99


def test_corrected_rate_point_estimate_by_an_independent_computation():
    truth = [1] * 40 + [0] * 60
    said = [1] * 36 + [0] * 4 + [1] * 6 + [0] * 54
    result = corrected_rate(130, 400, [bool(x) for x in truth], [bool(x) for x in said])
    se, sp = 36 / 40, 54 / 60
    assert result["sensitivity"]["value"] == pytest.approx(se)
    assert result["specificity"]["value"] == pytest.approx(sp)
    assert result["value"] == pytest.approx((130 / 400 + sp - 1) / (se + sp - 1))
    assert result["identifiable"] and result["raw"] == pytest.approx(130 / 400)


def test_a_scorer_without_information_is_not_identifiable():
    rng = np.random.default_rng(0)
    truth = rng.random(200) < 0.5
    said = rng.random(200) < 0.5  # independent of the truth: Se + Sp about 1
    result = corrected_rate(100, 200, truth, said, seed=0)
    assert result["non_identifiable_draws"] > 0.05
    assert (result["low"], result["high"]) == (0.0, 1.0)


def test_weights_undo_a_draw_stratified_by_the_scorers_outcome():
    # the scorer says "event" on 15% of the run; the draw takes 100 replies of each scorer
    # outcome, so scorer-positives are over-sampled; unweighted Se/Sp are biased
    rng = np.random.default_rng(11)
    truth, said = _simulate(rng, 5000, 0.1, 0.8, 0.95)
    picks = np.concatenate([rng.choice(np.flatnonzero(said == s), 100, replace=False)
                            for s in (True, False)])
    weights = np.where(said[picks], said.sum() / 100, (~said).sum() / 100)
    events = int(said.sum())
    weighted = corrected_rate(events, 5000, truth[picks], said[picks], weights=weights)
    plain = corrected_rate(events, 5000, truth[picks], said[picks])
    true_rate = truth.mean()
    assert abs(weighted["value"] - true_rate) < 0.02
    assert abs(plain["value"] - true_rate) > abs(weighted["value"] - true_rate)
    assert weighted["low"] <= true_rate <= weighted["high"]
    # with such weights Rogan-Gladen equals the calibration estimator of double sampling
    calibration = corrected_distribution({True: events, False: 5000 - events},
                                         list(truth[picks]), list(said[picks]))
    assert weighted["value"] == pytest.approx(calibration["corrected"]["True"]["value"])


def test_corrected_distribution_recovers_a_many_valued_truth():
    # three outcomes; the scorer confuses them by a known matrix; a draw stratified by the
    # scorer's class (40 each) is labelled; 150 seeded repetitions
    classes = ["correct", "wrong", "refusal"]
    true_p = np.array([0.5, 0.3, 0.2])
    confusion = np.array([[0.85, 0.1, 0.05], [0.15, 0.8, 0.05], [0.1, 0.1, 0.8]])
    covered = np.zeros(3)
    covered_ratio = 0
    errors = []
    for seed in range(150):
        rng = np.random.default_rng(seed)
        truth = rng.choice(3, 3000, p=true_p)
        said = (rng.random((3000, 1)) > confusion[truth].cumsum(axis=1)).sum(axis=1)
        picks = np.concatenate([rng.choice(np.flatnonzero(said == s), 40, replace=False)
                                for s in range(3)])
        counts = {c: int((said == i).sum()) for i, c in enumerate(classes)}
        result = corrected_distribution(
            counts, [classes[i] for i in truth[picks]], [classes[i] for i in said[picks]],
            classes=classes, n_draws=2000, seed=seed,
            statistics={"accuracy_answered": lambda p: p["correct"] / (p["correct"]
                                                                       + p["wrong"])})
        realised = np.bincount(truth, minlength=3) / 3000
        for i, c in enumerate(classes):
            cell = result["corrected"][c]
            covered[i] += cell["low"] <= realised[i] <= cell["high"]
            errors.append(cell["value"] - realised[i])
        ratio = realised[0] / (realised[0] + realised[1])
        stat = result["statistics"]["accuracy_answered"]
        covered_ratio += stat["low"] <= ratio <= stat["high"]
    assert abs(np.mean(errors)) < 0.01
    assert np.all(covered / 150 >= 0.9) and np.all(covered / 150 <= 0.995)
    assert 0.9 <= covered_ratio / 150 <= 0.995


def test_corrected_distribution_names_scorer_classes_without_labels():
    result = corrected_distribution({"a": 10, "b": 5}, ["a", "a"], ["a", "a"], n_draws=200)
    assert result["missing"] == ["b"] and not result["complete"]
    with pytest.raises(ValueError, match="unknown classes"):
        corrected_distribution({"z": 1}, ["a"], ["a"], classes=["a"])
