import zlib

import numpy as np
import pytest

from telltale.membership.indicators import compute_indicators, indicator_matrix, indicator_names
from telltale.models.base import STAT_NAMES, TokenStats


def make_stats(logprobs, entropy=None):
    n = len(logprobs)
    lp = np.asarray(logprobs, dtype=float)
    values = {name: np.zeros(n) for name in STAT_NAMES}
    values.update(logprob=lp, entropy=np.asarray(entropy if entropy is not None else -lp),
                  renyi_0_5=np.full(n, 2.0), renyi_2=np.full(n, 0.5), renyi_inf=-lp,
                  top1_prob=np.exp(lp), top2_prob=np.full(n, 0.05),
                  mean_logp=np.full(n, -1.0), var_logp=np.full(n, 4.0))
    return TokenStats(tokens=[f"t{i}" for i in range(n)], values=values)


def test_at_least_thirty_named_indicators():
    names = indicator_names()
    assert len(names) >= 30 and len(set(names)) == len(names)


def test_hand_computed_values():
    lp = [-0.1, -2.0, -0.5, -4.0, -1.0, -0.2, -0.3, -3.0, -0.05, -0.6]
    out = compute_indicators(make_stats(lp), "hello world")
    assert out["mean_logprob"] == pytest.approx(np.mean(lp))
    assert out["neg_perplexity"] == pytest.approx(-np.exp(-np.mean(lp)))
    assert out["min_k_0.2"] == pytest.approx(np.mean([-4.0, -3.0]))
    assert out["max_k_0.2"] == pytest.approx(np.mean([-0.05, -0.1]))
    # Min-K%++: (log p - mu) / sigma with mu = -1, sigma = 2
    assert out["min_k_pp_0.1"] == pytest.approx((-4.0 + 1.0) / 2.0)
    assert out["zlib_ratio"] == pytest.approx(sum(lp) / len(zlib.compress(b"hello world")))
    assert out["neg_max_renyi_inf_k_0.1"] == pytest.approx(-4.0)
    assert out["mean_max_prob_gap"] == pytest.approx(np.mean(np.exp(lp) - 0.05))


def test_orientation_members_score_higher():
    confident = compute_indicators(make_stats([-0.05] * 8), "a memorised sentence")
    unsure = compute_indicators(make_stats([-2.5] * 8), "a memorised sentence")
    for name in indicator_names():
        if name.startswith(("neg_max_renyi_0.5", "neg_max_renyi_2")):
            continue  # constant in this synthetic example
        assert confident[name] >= unsure[name], name


def test_empty_continuation_gives_nan_row():
    X, names = indicator_matrix([(make_stats([]), ""), (make_stats([-1.0]), "x")])
    assert X.shape == (2, len(names)) and np.all(np.isnan(X[0])) and np.all(np.isfinite(X[1]))
