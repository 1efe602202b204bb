"""The membership indicator vector: 36 named scores computed from a continuation's
per-token statistics (:class:`telltale.models.base.TokenStats`) and its text.

Every indicator is oriented so that **larger means more likely a member**; scores whose
natural direction is the other way (perplexity, entropies) are negated. Sources:

- perplexity / mean log-likelihood: Yeom et al., 2018 (loss attack);
- Min-K% (mean of the K% lowest token log-probabilities): Shi et al., 2024, "Detecting
  Pretraining Data from Large Language Models"; Max-K% is its mirror (K% highest);
- Min-K%++ (token log-probability standardised by the mean and standard deviation of
  log p under the model's distribution at that position): Zhang et al., 2024;
- Max-Rényi-K% (mean of the K% largest per-position Rényi entropies, negated): Li et
  al., 2024, "Membership Inference Attacks against Large Vision-Language Models", used by
  the audio-LM study (Lee et al., 2026). Alpha 0 is not used: under a full softmax every
  token has p > 0, so H_0 = log |V| is the same constant at every position;
- zlib ratio (log-likelihood over the zlib-compressed length of the text): Carlini et
  al., 2021, "Extracting Training Data from Large Language Models";
- modified entropy: Song & Mittal, 2021, "Systematic Evaluation of Privacy Risks of
  Machine Learning Models": M = -(1 - p_y) log p_y - sum_{j != y} p_j log(1 - p_j). Only
  the top-2 probabilities are kept per position, so the sum runs over the top-1 or top-2
  token other than y; the tail (each p_j small, p_j log(1 - p_j) ~ -p_j^2) is dropped.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

from telltale.models.base import TokenStats

KS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
RENYI = {"0.5": "renyi_0_5", "1": "entropy", "2": "renyi_2", "inf": "renyi_inf"}
RENYI_KS = (0.1, 0.5)


def indicator_names() -> list[str]:
    names = ["neg_perplexity", "mean_logprob", "neg_mean_entropy"]
    names += [f"min_k_{k:g}" for k in KS]
    names += [f"max_k_{k:g}" for k in KS]
    names += [f"min_k_pp_{k:g}" for k in KS]
    names += [f"neg_max_renyi_{a}_k_{k:g}" for a in RENYI for k in RENYI_KS]
    names += ["zlib_ratio", "mean_max_prob_gap", "neg_modified_entropy", "mean_top1_prob"]
    return names


def _lowest(values: np.ndarray, k: float) -> float:
    n = max(1, int(np.ceil(k * values.size)))
    return float(np.sort(values)[:n].mean())


def _highest(values: np.ndarray, k: float) -> float:
    n = max(1, int(np.ceil(k * values.size)))
    return float(np.sort(values)[-n:].mean())


def compute_indicators(stats: TokenStats, text: str) -> dict[str, float]:
    """All indicators of one continuation; NaN for every one when it has no tokens."""
    names = indicator_names()
    if len(stats) == 0:
        return dict.fromkeys(names, float("nan"))
    v = stats.values
    lp = v["logprob"]
    out: dict[str, float] = {
        "neg_perplexity": -float(np.exp(-lp.mean())),
        "mean_logprob": float(lp.mean()),
        "neg_mean_entropy": -float(v["entropy"].mean()),
    }
    sigma = np.sqrt(np.maximum(v["var_logp"], 1e-12))
    standardised = (lp - v["mean_logp"]) / sigma
    for k in KS:
        out[f"min_k_{k:g}"] = _lowest(lp, k)
        out[f"max_k_{k:g}"] = _highest(lp, k)
        out[f"min_k_pp_{k:g}"] = _lowest(standardised, k)
    for alpha, field in RENYI.items():
        for k in RENYI_KS:
            out[f"neg_max_renyi_{alpha}_k_{k:g}"] = -_highest(v[field], k)
    compressed = len(zlib.compress(text.encode("utf-8"))) or 1
    out["zlib_ratio"] = float(lp.sum() / compressed)
    out["mean_max_prob_gap"] = float((v["top1_prob"] - v["top2_prob"]).mean())
    p_y = np.exp(lp)
    is_top = np.isclose(p_y, v["top1_prob"], rtol=1e-6, atol=1e-9)
    other = np.where(is_top, v["top2_prob"], v["top1_prob"])
    with np.errstate(divide="ignore"):
        mentr = (-(1 - p_y) * np.log(np.maximum(p_y, 1e-300))
                 - other * np.log(np.maximum(1 - other, 1e-300)))
    out["neg_modified_entropy"] = -float(mentr.mean())
    out["mean_top1_prob"] = float(v["top1_prob"].mean())
    return out


def indicator_matrix(items: Sequence[tuple[TokenStats, str]]) -> tuple[np.ndarray, list[str]]:
    """Stack the indicators of many continuations into (n, n_indicators)."""
    names = indicator_names()
    rows = [compute_indicators(stats, text) for stats, text in items]
    return np.array([[row[n] for n in names] for row in rows], dtype=float).reshape(
        len(rows), len(names)), names
