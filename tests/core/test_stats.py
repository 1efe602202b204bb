import itertools

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


def _brute_force_tpr_at_fpr(y, scores, fpr):
    """The definition: over every threshold t (flag score >= t), the best TPR whose FPR
    stays within ``fpr``."""
    y, s = np.asarray(y), np.asarray(scores, dtype=float)
    best = 0.0
    for t in np.r_[np.unique(s), np.inf]:
        flagged = s >= t
        if flagged[y == 0].mean() <= fpr + 1e-12:
            best = max(best, flagged[y == 1].mean())
    return best


def test_tpr_at_fpr_reads_points_on_straight_segments_of_the_roc():
    # 20 members, 200 non-members; the ROC passes (0, 0.1), (0.005, 0.2), (0.01, 0.3): the
    # middle point is collinear, and a curve that drops such points reads 0.1 at FPR 0.005
    y = np.r_[np.ones(20), np.zeros(200)].astype(int)
    s = np.r_[[10, 10, 9, 9, 8, 8], np.zeros(14), [9, 8], np.full(198, -1.0)]
    assert _brute_force_tpr_at_fpr(y, s, 0.005) == pytest.approx(0.2)
    assert stats.tpr_at_fpr(y, s, 0.005) == pytest.approx(0.2)


def test_tpr_at_fpr_equals_a_brute_force_sweep_on_tied_scores():
    rng = np.random.default_rng(1)
    for _ in range(300):
        n1, n0 = rng.integers(5, 30), rng.integers(20, 200)
        y = np.r_[np.ones(n1), np.zeros(n0)].astype(int)
        # few distinct values: many ties, within and across the classes
        s = rng.integers(0, rng.integers(2, 12), n1 + n0) + y * rng.integers(0, 2, n1 + n0)
        for fpr in (0.0, 0.01, 0.05, 0.1):
            assert stats.tpr_at_fpr(y, s, fpr) == pytest.approx(
                _brute_force_tpr_at_fpr(y, s, fpr), abs=1e-12)


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


def test_clustered_test_with_one_probe_per_cluster_is_the_exact_mcnemar_test():
    rng = np.random.default_rng(3)
    for _ in range(20):
        a = rng.random(40) < 0.4
        b = rng.random(40) < 0.6
        clustered = stats.clustered_paired_test(a, b, range(40), n_boot=0)
        plain = stats.mcnemar(a, b)
        assert clustered["p"] == pytest.approx(plain["p"], rel=1e-9)
        assert (clustered["only_a"], clustered["only_b"]) == (plain["only_a"], plain["only_b"])
        assert clustered["diff"] == pytest.approx(plain["diff"])
        assert clustered["n_clusters"] == 40


def test_clustered_test_enumerates_every_sign_flip():
    # 5 clusters, summed differences d = (3, 1, 2, 0, -1): observed total 5
    a = [0, 0, 0, 1, 0, 0, 1, 0, 0, 1, 1]
    b = [1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1]
    people = ["p", "p", "p", "q", "q", "r", "r", "r", "s", "t", "t"]
    result = stats.clustered_paired_test(a, b, people, n_boot=0)
    d = [3, 1, 2, 0, -1]
    totals = [sum(s * x for s, x in zip(signs, d, strict=True))
              for signs in itertools.product((1, -1), repeat=len(d))]
    expected = sum(abs(t) >= 5 for t in totals) / len(totals)
    assert result["p"] == pytest.approx(expected)
    assert (result["n"], result["n_clusters"], result["discordant_clusters"]) == (11, 5, 4)
    assert result["diff"] == pytest.approx(5 / 11)


def test_clustered_test_is_more_cautious_than_mcnemar_on_clustered_probes():
    # 20 people x 6 probes; whether a person leaks is decided per person, so the 120
    # probes carry the evidence of 20 people, not of 120 independent pairs
    rng = np.random.default_rng(5)
    people = np.repeat(np.arange(20), 6)
    leaks_a = np.repeat(rng.random(20) < 0.5, 6)
    leaks_b = np.repeat(rng.random(20) < 0.3, 6)
    plain = stats.mcnemar(leaks_a, leaks_b)
    clustered = stats.clustered_paired_test(leaks_a, leaks_b, people, n_boot=500)
    assert clustered["n_clusters"] == 20 and clustered["n"] == 120
    assert clustered["p"] > plain["p"]
    # with every probe of a person identical, the test is McNemar on the 20 people
    per_person = stats.mcnemar(leaks_a[::6], leaks_b[::6])
    assert clustered["p"] == pytest.approx(per_person["p"])
    assert clustered["low"] <= clustered["diff"] <= clustered["high"]


def test_clustered_bootstrap_interval_resamples_whole_clusters():
    a = [0] * 6 + [0] * 6
    b = [1] * 6 + [0] * 6
    people = [0] * 6 + [1] * 6
    result = stats.clustered_paired_test(a, b, people, n_boot=400, seed=2)
    # a replicate holds person 0 twice (diff 1), once (0.5) or not at all (0)
    assert result["low"] == 0.0 and result["high"] == 1.0
    with pytest.raises(ValueError, match="differ in length"):
        stats.clustered_paired_test([1, 0], [1, 1], [0])


def test_out_of_fold_scores_carry_no_signal_from_unequal_fold_class_ratios():
    from sklearn.metrics import roc_auc_score

    from telltale.stats import oof_logistic_scores

    # 16 + 16 rows in 10 stratified folds: training folds hold 14 or 15 of each class; an
    # unweighted intercept follows that ratio and ranks held-out rows by it (AUC 0.344 here)
    y = np.r_[np.ones(16, int), np.zeros(16, int)]
    scores = oof_logistic_scores(np.zeros((32, 3)), y, folds=10)
    assert roc_auc_score(y, scores) == 0.5


def test_headline_rows_print_p_values_and_zero_differences_honestly():
    from telltale.tables import format_estimate

    assert format_estimate({"value": 1.25e-37, "kind": "p"}) == "1.25e-37"
    assert format_estimate({"value": -0.0001, "low": -0.02, "high": 0.0004}) == (
        "0.000 [-0.020, 0.000]")
    assert format_estimate({"value": None, "n": 0}) == "not estimable (n=0)"


def test_tpr_at_low_fpr_has_a_stratified_bootstrap_interval_where_estimable():
    from telltale.stats import low_fpr_tpr, low_fpr_tpr_interval

    rng = np.random.default_rng(0)
    y = np.r_[np.ones(150, int), np.zeros(150, int)]
    scores = rng.normal(size=300) + 1.5 * y
    value = low_fpr_tpr(y, scores, 0.01)
    low, high = low_fpr_tpr_interval(y, scores, 0.01, n_boot=300)
    assert low <= value <= high and high - low > 0.05  # one false positive moves it a lot
    assert low_fpr_tpr_interval(y, 10.0 * y, 0.01) == (1.0, 1.0)  # perfect separation
    few = np.r_[np.ones(50, int), np.zeros(50, int)]
    assert low_fpr_tpr_interval(few, rng.normal(size=100), 0.01) is None  # 50 non-members


def test_paired_auc_difference_is_tighter_than_separate_intervals():
    from telltale.stats import paired_auc_difference, roc_auc

    rng = np.random.default_rng(0)
    y = np.r_[np.ones(100), np.zeros(100)].astype(int)
    a = y * 1.0 + rng.normal(0, 1, 200)
    b = a + 0.3 * y  # the same scores, members lifted: a small, consistent gain
    change = paired_auc_difference(y, a, b, n_boot=500)
    assert change["diff"] == pytest.approx(roc_auc(y, b, n_boot=0).value
                                           - roc_auc(y, a, n_boot=0).value)
    assert 0 < change["low"] < change["diff"] < change["high"]
    assert change["p"] == pytest.approx(2 / 501)
    separate = roc_auc(y, a, n_boot=500)
    assert change["high"] - change["low"] < separate.high - separate.low
    same = paired_auc_difference(y, a, a, n_boot=200)
    assert same["diff"] == 0 and same["p"] == 1.0


def test_a_mean_interval_stays_in_the_quantity_range():
    # two NLLs: a t interval with one degree of freedom reaches far below 0 (issue 24)
    free = stats.mean_ci([0.1, 1.276])
    assert free.low < 0
    cut = stats.mean_ci([0.1, 1.276], bounds=(0.0, float("inf")))
    assert cut.low == 0.0 and cut.high == free.high and cut.value == free.value
