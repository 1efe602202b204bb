import numpy as np
import pytest
from scipy import stats as sps

from telltale import stats


def test_roc_auc_matches_mann_whitney_and_ci_brackets_value():
    rng = np.random.default_rng(1)
    y = np.r_[np.ones(60), np.zeros(80)].astype(int)
    s = np.r_[rng.normal(1, 1, 60), rng.normal(0, 1, 80)]
    est = stats.roc_auc(y, s, n_boot=300)
    u = sps.mannwhitneyu(s[y == 1], s[y == 0]).statistic
    assert est.value == pytest.approx(u / (60 * 80))
    assert est.low < est.value < est.high
    assert est.n == 140


def test_roc_auc_bootstrap_is_the_auc_of_each_stratified_resample():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(4)
    y = np.r_[np.ones(25), np.zeros(40)].astype(int)
    s = np.round(rng.normal(size=65) + 0.8 * y, 1)  # rounded: ties count one half
    # the replicates drawn one by one, as the interval's definition says
    draws = np.random.default_rng(7)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    boots = []
    for _ in range(200):
        idx = np.r_[pos[draws.choice(pos.size, pos.size)], neg[draws.choice(neg.size, neg.size)]]
        boots.append(roc_auc_score(y[idx], s[idx]))
    est = stats.roc_auc(y, s, n_boot=200, seed=7, confidence=0.9)
    assert [est.low, est.high] == pytest.approx(np.quantile(boots, [0.05, 0.95]), abs=1e-12)


def test_roc_auc_known_values():
    assert stats.roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], n_boot=0).value == 1.0
    assert stats.roc_auc([0, 0, 1, 1], [0.4, 0.3, 0.2, 0.1], n_boot=0).value == 0.0
    assert stats.roc_auc([0, 1, 0, 1], [0.1, 0.1, 0.2, 0.2], n_boot=0).value == 0.5


def test_roc_needs_both_classes():
    with pytest.raises(ValueError, match="both classes"):
        stats.roc_auc([1, 1, 1], [0.1, 0.2, 0.3])


def test_tpr_at_low_fpr():
    y = [0] * 100 + [1] * 10
    # one non-member scores above every member: at FPR 0 nothing is detected,
    # at FPR 1% all ten members are.
    scores = [0.0] * 99 + [10.0] + [5.0] * 10
    assert stats.tpr_at_fpr(y, scores, 0.001) == 0.0
    assert stats.tpr_at_fpr(y, scores, 0.01) == 1.0


def test_wilson_known_value():
    # Wilson 95% interval for 8/10 (textbook value: 0.4902 .. 0.9433)
    est = stats.wilson(8, 10)
    assert est.value == 0.8
    assert est.low == pytest.approx(0.4902, abs=1e-4)
    assert est.high == pytest.approx(0.9433, abs=1e-4)
    assert stats.wilson(0, 0).n == 0
    for k, n in ((0, 24), (24, 24), (0, 7), (3, 3)):  # the estimate never leaves its interval
        est = stats.wilson(k, n)
        assert est.low <= est.value <= est.high


def test_paired_ttest_matches_scipy():
    a = np.array([1.0, 2.0, 3.0, 4.0, 5.5])
    b = np.array([0.8, 2.1, 2.5, 3.0, 5.0])
    res = stats.paired_ttest(a, b)
    ref = sps.ttest_rel(a, b)
    assert res["t"] == pytest.approx(ref.statistic)
    assert res["p"] == pytest.approx(ref.pvalue)


def test_correlations_known_values():
    x = np.arange(10.0)
    r, p = stats.pearson(x, 2 * x + 1)
    assert r == pytest.approx(1.0) and p < 1e-6
    rho, _ = stats.spearman(x, x**3)
    assert rho == pytest.approx(1.0)
    r, p = stats.pearson(x, np.ones(10))
    assert np.isnan(r) and np.isnan(p)


def test_mcnemar_counts_discordant_pairs():
    a = np.array([1, 1, 0, 0, 1, 0, 0, 0], bool)
    b = np.array([1, 0, 1, 1, 1, 1, 1, 0], bool)
    res = stats.mcnemar(a, b)
    assert (res["only_a"], res["only_b"]) == (1, 4)
    assert res["p"] == pytest.approx(sps.binomtest(4, 5, 0.5).pvalue)


def test_oof_scores_separate_informative_feature_and_not_noise():
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(100), np.zeros(100)].astype(int)
    informative = rng.normal(y * 2.0, 1.0)[:, None]
    noise = rng.normal(size=(200, 3))
    assert stats.roc_auc(y, stats.oof_logistic_scores(informative, y), n_boot=0).value > 0.85
    assert abs(stats.roc_auc(y, stats.oof_logistic_scores(noise, y), n_boot=0).value - 0.5) < 0.12


def test_mean_ci_is_a_student_t_interval():
    from scipy.stats import t

    from telltale.stats import mean_ci

    est = mean_ci([1.0, 2.0, 3.0, 4.0])
    half = t.ppf(0.975, 3) * np.std([1, 2, 3, 4], ddof=1) / 2.0
    assert est.value == 2.5 and est.n == 4
    assert np.isclose(est.low, 2.5 - half) and np.isclose(est.high, 2.5 + half)
    one = mean_ci([7.0])
    assert one.value == 7.0 and np.isnan(one.low) and np.isnan(one.high)
    assert mean_ci([]).n == 0 and np.isnan(mean_ci([]).value)


def test_low_fpr_tpr_is_not_estimable_below_one_over_fpr_negatives():
    rng = np.random.default_rng(0)
    for negatives, expected_none in ((99, True), (100, False)):
        y = np.r_[np.ones(50), np.zeros(negatives)].astype(int)
        scores = np.r_[rng.normal(2, 1, 50), rng.normal(0, 1, negatives)]
        value = stats.low_fpr_tpr(y, scores, 0.01)
        assert (value is None) == expected_none
        if value is not None:
            assert value == stats.tpr_at_fpr(y, scores, 0.01)
