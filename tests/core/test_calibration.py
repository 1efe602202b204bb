"""Label-shuffle bands, refit bootstrap intervals and family-wise p-values
(telltale.calibration), on statistics cheap enough to repeat."""

import numpy as np
import pytest

from telltale import calibration, stats


def mean_gap(payload, rows, y, groups):
    """A statistic without a classifier: the members' mean minus the others'."""
    x = payload[rows]
    return float(x[y == 1].mean() - x[y == 0].mean())


def oof_auc(payload, rows, y, groups):
    X = payload[rows]
    return stats.roc_auc(y, stats.oof_logistic_scores(X, y, folds=5, groups=groups),
                         n_boot=0).value


def test_shuffles_keep_clusters_whose_labels_are_one():
    rng = np.random.default_rng(0)
    clusters = np.repeat(np.arange(10), 3)
    per_cluster = np.repeat(rng.permutation(np.arange(10) < 5), 3).astype(int)
    assert calibration.shuffle_unit(per_cluster, clusters) == "cluster"
    shuffled = calibration.shuffle_labels(per_cluster, clusters, rng)
    assert all(np.unique(shuffled[clusters == c]).size == 1 for c in range(10))
    assert shuffled.sum() == per_cluster.sum()
    # labels given per clip (mixed within clusters): clips are exchanged
    per_clip = rng.permutation(np.arange(30) < 15).astype(int)
    assert calibration.shuffle_unit(per_clip, clusters) == "clip"
    assert calibration.shuffle_labels(per_clip, clusters, rng).sum() == 15
    assert calibration.cluster_codes(["a", None, "b"], 3) is None  # not every clip named
    assert calibration.cluster_codes(["a", "b", "c"], 3) is None  # every clip its own


def test_the_band_decides_exactly_at_its_level():
    """Under exchangeable labels the observed statistic beats all 30 shuffles with
    probability 1/31: over 400 null data sets the rate stays there, not at the 10% of an
    interval that holds the statistic's spread too small."""
    hits = 0
    for k in range(400):
        rng = np.random.default_rng(k)
        x = rng.normal(size=40)
        y = rng.permutation(np.arange(40) < 20).astype(int)
        null = calibration.label_shuffle_null(mean_gap, x, y, mean_gap(x, np.arange(40), y,
                                                                       None),
                                              30, seed=k, n_jobs=1)
        hits += null["above"]
    assert null["band"][0] <= null["band"][1] and len(null["values"]) == 30
    assert hits / 400 <= 0.06  # exact size 1/31 = 0.032; 0.06 is 2.4 SE above it
    assert calibration.band_rank(30) == 0 and calibration.band_rank(18) == -1
    assert calibration.band_rank(99) == 4


def test_p_values_count_the_observed_value_among_the_shuffles():
    out = calibration.summarise_null(np.arange(1, 31) / 100, 0.5)
    assert out["p_shift"] == 1 / 31 and out["above"] and out["band"] == [0.01, 0.3]
    out = calibration.summarise_null(np.arange(1, 31) / 100, 0.3)  # a tie counts against
    assert out["p_shift"] == 2 / 31 and not out["above"]
    low = calibration.summarise_null(np.arange(1, 31) / 100, 0.0)
    assert low["below"] and calibration.far_from_chance(low, 0.0, 0.2, chance=0.5) == "below"
    # the band alone is not enough where the interval still reaches chance
    assert calibration.far_from_chance(out | {"above": True}, 0.45, 0.8) is None
    assert calibration.far_from_chance(out | {"above": True}, 0.55, 0.8) == "above"
    # 12 shuffles cannot reach p <= 0.05: no band, no finding
    few = calibration.summarise_null(np.zeros(12), 1.0)
    assert few["band"] == [0.0, 1.0] and not few["above"]


def test_familywise_p_reads_each_value_against_the_largest_on_every_shuffle():
    nulls = {"a": {"values": [0.1, 0.5, 0.2]}, "b": {"values": [0.4, 0.1, 0.3]}}
    p = calibration.familywise(nulls, {"a": 0.45, "b": 0.6})
    # largest per shuffle: 0.4, 0.5, 0.3
    assert p == {"a": pytest.approx(2 / 4), "b": pytest.approx(1 / 4)}


def test_refit_bootstrap_keeps_every_copy_of_a_cluster_in_one_fold():
    seen = []

    def check(payload, rows, y, groups):
        for train, test in stats.cv_folds(y, 5, 0, groups):
            assert not set(groups[train]) & set(groups[test])
        seen.append(np.unique(groups).size)
        return 0.5

    rng = np.random.default_rng(1)
    y = rng.permutation(np.arange(60) < 30).astype(int)
    clusters = np.repeat(np.arange(20), 3)
    low, high = calibration.refit_bootstrap(check, None, y, n_boot=10, clusters=clusters,
                                            n_jobs=1)
    assert (low, high) == (0.5, 0.5) and len(seen) == 10 and max(seen) <= 20


def test_refit_bootstrap_interval_is_wider_than_the_fixed_score_one():
    """On noise the fixed-score bootstrap misses the classifier's own variance."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(80, 10))
    y = rng.permutation(np.arange(80) < 40).astype(int)
    observed = oof_auc(X, np.arange(80), y, None)
    fixed = stats.roc_auc(y, stats.oof_logistic_scores(X, y, folds=5), n_boot=500)
    low, high = calibration.refit_bootstrap(oof_auc, X, y, n_boot=60, n_jobs=1)
    assert fixed.value == pytest.approx(observed)
    assert high - low > fixed.high - fixed.low


def test_clustered_folds_keep_groups_and_balance_classes():
    rng = np.random.default_rng(0)
    y = rng.permutation(np.arange(240) < 120).astype(int)
    groups = rng.integers(0, 79, 240)
    folds = stats.cv_folds(y, 10, 0, groups)
    assert len(folds) == 10
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])
        assert 6 <= y[test].sum() <= 18 and 6 <= (1 - y[test]).sum() <= 18
    assert stats.cv_folds(y, 10, 0, groups)[0][1].tolist() == folds[0][1].tolist()
    with pytest.raises(ValueError, match="two groups"):
        stats.cv_folds(np.array([1, 1, 0, 0]), 2, 0, np.array([0, 0, 1, 1]))


def test_the_fast_logistic_regression_is_scikit_learns_optimum():
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 12))
    y = rng.permutation(np.arange(120) < 60).astype(int)
    X[y == 1, :3] += 0.5
    X[rng.random(X.shape) < 0.05] = np.nan
    X[:, 4] *= 1000
    ours = stats.oof_logistic_scores(X, y, folds=5)
    theirs = np.empty(y.size)
    for train, test in stats.cv_folds(y, 5, 0):
        model = make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True),
                              StandardScaler(),
                              LogisticRegression(tol=1e-10, max_iter=10000,
                                                 class_weight="balanced"))
        theirs[test] = model.fit(X[train], y[train]).predict_proba(X[test])[:, 1]
    assert np.abs(ours - theirs).max() < 1e-5
