"""The indicator vector: names, hand-computed values, orientation on real distributions,
the modified-entropy approximation against its exact value, empty and broken input."""

import math
import zlib

import numpy as np
import pytest
import torch

from telltale.membership.indicators import (
    INDICATORS,
    compute_indicators,
    indicator_matrix,
    indicator_names,
    modified_entropy,
)
from telltale.models.base import STAT_NAMES, TokenStats
from telltale.models.distribution import position_stats


def hand_stats() -> TokenStats:
    """Four positions with hand-picked statistics (not a consistent distribution: the
    formulas are checked one by one)."""
    values = {
        "logprob": [-0.1, -2.0, -0.5, -1.0],
        "entropy": [0.4, 2.2, 1.0, 1.6],
        "renyi_0_5": [0.9, 3.0, 1.5, 2.1],
        "renyi_2": [0.2, 1.8, 0.7, 1.2],
        "renyi_inf": [0.1, 1.2, 0.5, 0.9],
        "top1_prob": [0.9, 0.3, 0.6, 0.4],
        "top2_prob": [0.05, 0.2, 0.3, 0.35],
        "mean_logp": [-0.4, -2.2, -1.0, -1.6],
        "var_logp": [0.25, 1.0, 4.0, 0.16],
    }
    return TokenStats(tokens=["a", "b", "c", "d"], values=values)


def real_stats(rng: np.random.Generator, n: int, boost: float, rank: int = 0,
               vocab: int = 40) -> TokenStats:
    """Statistics of ``n`` softmax distributions from :func:`position_stats`: random logits,
    the observed token's logit raised by ``boost`` and the token taken at ``rank`` in the
    distribution (0 = the arg-max)."""
    logits = torch.tensor(rng.normal(0, 1.5, (n, vocab)))
    logits[:, 0] += boost
    order = torch.argsort(logits, dim=-1, descending=True)
    targets = order[:, rank]
    values = position_stats(logits, targets)
    return TokenStats(tokens=[f"t{i}" for i in range(n)], values=values), logits, targets


def test_at_least_thirty_unique_documented_names():
    names = indicator_names()
    assert len(names) >= 30 and len(set(names)) == len(names)
    assert all(ind.formula and ind.source and ind.orientation == "larger = member"
               for ind in INDICATORS)
    assert list(compute_indicators(hand_stats(), "abcd")) == names
    # Rényi alpha 0 is constant under a softmax and deliberately absent
    assert not any("renyi_0_k" in n for n in names)
    assert {f"neg_max_renyi_{a}_k_0.1" for a in ("0.5", "1", "2", "inf")} <= set(names)


def test_hand_computed_values():
    s = hand_stats()
    out = compute_indicators(s, "hello world")
    lp = np.array([-0.1, -2.0, -0.5, -1.0])
    assert out["mean_logprob"] == pytest.approx(-0.9)
    assert out["neg_perplexity"] == pytest.approx(-math.exp(0.9))
    assert out["neg_mean_entropy"] == pytest.approx(-(0.4 + 2.2 + 1.0 + 1.6) / 4)
    # floor(K * 4), at least one position
    assert out["min_k_0.05"] == pytest.approx(-2.0)
    assert out["min_k_0.5"] == pytest.approx((-2.0 - 1.0) / 2)
    assert out["max_k_0.5"] == pytest.approx((-0.1 - 0.5) / 2)
    assert out["max_k_0.6"] == pytest.approx((-0.1 - 0.5) / 2)
    # Min-K%++: z = (l - mu) / sigma = [0.6, 0.2, 0.25, 1.5]
    assert out["min_k_pp_0.05"] == pytest.approx(0.2)
    assert out["min_k_pp_0.5"] == pytest.approx((0.2 + 0.25) / 2)
    # Max-Rényi-K%: K = 0 the largest, K = 1 the mean, negated
    assert out["neg_max_renyi_2_k_0"] == pytest.approx(-1.8)
    assert out["neg_max_renyi_inf_k_0.5"] == pytest.approx(-(1.2 + 0.9) / 2)
    assert out["neg_max_renyi_0.5_k_1"] == pytest.approx(-(0.9 + 3.0 + 1.5 + 2.1) / 4)
    assert out["neg_max_renyi_1_k_0.1"] == pytest.approx(-2.2)
    zbytes = len(zlib.compress(b"hello world"))
    assert out["zlib_ratio"] == pytest.approx(lp.sum() / zbytes)
    assert out["neg_log_ppl_zlib"] == pytest.approx(lp.mean() / zbytes)
    assert out["mean_max_prob_gap"] == pytest.approx((0.85 + 0.1 + 0.3 + 0.05) / 4)
    assert out["mean_max_logprob_gap"] == pytest.approx(
        np.mean(np.log([0.9, 0.3, 0.6, 0.4]) - np.log([0.05, 0.2, 0.3, 0.35])))
    assert out["mean_top1_prob"] == pytest.approx((0.9 + 0.3 + 0.6 + 0.4) / 4)


def exact_modified_entropy(logits: torch.Tensor, targets: torch.Tensor) -> np.ndarray:
    p = torch.softmax(logits.double(), -1).numpy()
    out = []
    for row, y in zip(p, targets.numpy(), strict=True):
        others = np.delete(row, y)
        out.append(-(1 - row[y]) * np.log(row[y]) - np.sum(others * np.log1p(-others)))
    return np.array(out)


@pytest.mark.parametrize("rank", [0, 1, 5])
def test_modified_entropy_matches_exact_value_within_its_bound(rank):
    stats, logits, targets = real_stats(np.random.default_rng(rank), 30, boost=2.0, rank=rank)
    approx = modified_entropy(stats)
    exact = exact_modified_entropy(logits, targets)
    p = torch.softmax(logits.double(), -1).numpy()
    # the dropped part of the tail is at most q / (2 (1 - q)) of the tail, q <= p2
    q = stats.values["top2_prob"]
    tail_bound = q / (2 * (1 - q)) * np.sum(p ** 2, axis=1)
    assert np.all(approx <= exact + 1e-9)
    assert np.all(exact - approx <= tail_bound + 1e-9)
    assert np.allclose(approx, exact, rtol=0.02)


def test_orientation_on_real_distributions():
    """A confidently predicted continuation (observed token is a sharp arg-max) must score
    higher than an uncertain one (flat distribution, observed token ranked third) on every
    indicator."""
    rng = np.random.default_rng(7)
    member, _, _ = real_stats(rng, 24, boost=7.0, rank=0)
    non_member, _, _ = real_stats(rng, 24, boost=0.0, rank=2)
    text = "the same words for both"
    m, n = compute_indicators(member, text), compute_indicators(non_member, text)
    wrong = [name for name in indicator_names() if not m[name] > n[name]]
    assert not wrong


def test_empty_continuation_gives_nan_row_and_matrix_shape():
    empty = TokenStats(tokens=[], values={name: [] for name in STAT_NAMES})
    X, names = indicator_matrix([(empty, ""), (hand_stats(), "abcd"), (hand_stats(), "x")])
    assert X.shape == (3, len(names))
    assert np.all(np.isnan(X[0])) and np.all(np.isfinite(X[1:]))
    assert X[1, names.index("zlib_ratio")] != X[2, names.index("zlib_ratio")]
    assert indicator_matrix([])[0].shape == (0, len(names))


def test_broken_statistics_are_refused_with_the_position():
    s = hand_stats()
    s.values["logprob"][2] = -np.inf
    with pytest.raises(ValueError, match=r"'logprob' is not finite at position 2"):
        compute_indicators(s, "abcd")
