import numpy as np
import pytest

torch = pytest.importorskip("torch")

from telltale.models.base import STAT_NAMES  # noqa: E402
from telltale.models.distribution import position_stats  # noqa: E402


def reference(logits: np.ndarray, target: int) -> dict[str, float]:
    """Direct textbook formulas in float64."""
    z = logits - logits.max()
    p = np.exp(z) / np.exp(z).sum()
    logp = np.log(p)
    top = np.sort(p)[::-1]
    return {
        "logprob": logp[target],
        "entropy": -(p * logp).sum(),
        "renyi_0_5": np.log((p**0.5).sum()) / (1 - 0.5),
        "renyi_2": np.log((p**2).sum()) / (1 - 2),
        "renyi_inf": -np.log(p.max()),
        "top1_prob": top[0],
        "top2_prob": top[1],
        "mean_logp": (p * logp).sum(),
        "var_logp": (p * logp**2).sum() - (p * logp).sum() ** 2,
    }


def test_position_stats_match_textbook_formulas_across_chunks():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=(7, 50))
    targets = rng.integers(0, 50, size=7)
    out = position_stats(torch.tensor(logits, dtype=torch.float32), torch.tensor(targets), chunk=3)
    for t in range(7):
        ref = reference(logits[t], targets[t])
        for name in STAT_NAMES:
            assert out[name][t] == pytest.approx(ref[name], rel=1e-4, abs=1e-5), name


def test_renyi_ordering_and_uniform_case():
    uniform = torch.zeros(1, 16)
    out = position_stats(uniform, torch.tensor([3]))
    for name in ("entropy", "renyi_0_5", "renyi_2", "renyi_inf"):
        assert out[name][0] == pytest.approx(np.log(16), rel=1e-5)
    peaked = torch.tensor([[5.0, 1.0, 0.5, 0.0]])
    o = position_stats(peaked, torch.tensor([0]))
    assert o["renyi_0_5"][0] >= o["entropy"][0] >= o["renyi_2"][0] >= o["renyi_inf"][0]


def test_shape_errors_are_clear():
    with pytest.raises(ValueError, match="expected logits"):
        position_stats(torch.zeros(3, 4), torch.zeros(2, dtype=torch.long))
