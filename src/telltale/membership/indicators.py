"""The membership indicator vector: 46 named scores of one continuation, computed from its
per-token statistics (:class:`telltale.models.base.TokenStats`) and its text, without the
model.

Lee et al., 2026 ("Membership Inference Attacks against Large Audio Language Models",
Sec. 2.3 and 3.3) concatenate perplexity, Shannon entropy, Min-K% / Max-K% (K swept over
0.05..0.6), Max-Rényi at alpha in {0, 1, 2, inf}, the zlib ratio and the max probability
gap into one vector and score it with a logistic regression (following Maini et al., 2024,
"LLM Dataset Inference"). This module computes that vector and a few documented relatives
(Min-K%++, modified entropy) from the nine statistics of :data:`STAT_NAMES`.

**Orientation.** Every indicator is oriented so that *larger means more likely a member*:
a memorised continuation is one the model predicts with high probability and low
uncertainty, so log-probabilities enter as they are and perplexities and entropies are
negated (their names start with ``neg_``). A per-indicator AUC below 0.5 therefore means
the indicator points the other way on that data, never a sign slip.

**Why Rényi alpha = 0 is absent.** ``H_0 = log |{v : p(v) > 0}|``; under a full softmax every
vocabulary entry has p > 0, so ``H_0 = log |V|`` is the same constant at every position and
for every sample and carries no information (it would be a constant column). Alpha 0.5 is
used in its place, as Li et al. (2024) also compute it.

**Top-K selection.** ``n_K = max(1, floor(K * T))`` of the ``T`` token positions, as in the
reference implementation of Shi et al. (2024); ``K = 0`` thus selects the single extreme
position (the maximum), the convention of Li et al. (2024) for Max-Rényi-0%.

**Not computed.** The lowercase-perplexity ratio of Carlini et al. (2021) needs a second
scoring pass on the lowercased text, and reference-model ratios need a second model; neither
follows from the stored statistics.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from telltale.models.base import STAT_NAMES, TokenStats
from telltale.models.distribution import inexact_stats

#: K values of Min-K%, Max-K% and Min-K%++ (Lee et al., 2026, Sec. 3.3, after Maini et al.)
KS: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
#: Rényi order -> the TokenStats field holding the per-position entropy of that order
RENYI: dict[str, str] = {"0.5": "renyi_0_5", "1": "entropy", "2": "renyi_2",
                         "inf": "renyi_inf"}
#: K values of Max-Rényi-K%: 0 (the maximum), 10% and 100% (the mean) are the values Li et
#: al. (2024) report; 50% sits between them
RENYI_KS: tuple[float, ...] = (0.0, 0.1, 0.5, 1.0)

_SHI = "Shi et al., 2024, 'Detecting Pretraining Data from Large Language Models'"
_MAINI = "Maini et al., 2024, 'LLM Dataset Inference: Did you train on my dataset?'"
_ZHANG = "Zhang et al., 2024, 'Min-K%++: Improved Baseline for Detecting Pre-Training Data'"
_LI = "Li et al., 2024, 'Membership Inference Attacks against Large Vision-Language Models'"
_YEOM = "Yeom et al., 2018, 'Privacy Risk in Machine Learning' (loss attack)"
_CARLINI = "Carlini et al., 2021, 'Extracting Training Data from Large Language Models'"
_SONG = ("Song & Mittal, 2021, 'Systematic Evaluation of Privacy Risks of Machine Learning "
         "Models'; used for LLMs by Li et al., 2024")


@dataclass(frozen=True)
class Indicator:
    """Documentation of one indicator: its name, formula, source and orientation.

    Notation in ``formula``: ``T`` token positions, ``l_t = log p(y_t | y_<t)``,
    ``H^a_t`` the Rényi entropy of order ``a`` of the position-``t`` distribution,
    ``p1_t``, ``p2_t`` its two largest probabilities, ``low_K(x)`` / ``high_K(x)`` the mean of
    the ``max(1, floor(K T))`` smallest / largest values of ``x``.
    """

    name: str
    formula: str
    source: str
    #: the :data:`STAT_NAMES` it is computed from (what decides whether top-k
    #: log-probabilities give it exactly, see :func:`bounded_indicators`)
    stats: tuple[str, ...] = ("logprob",)
    #: always "larger = member" after the sign in ``formula`` is applied
    orientation: str = "larger = member"


def _registry() -> tuple[Indicator, ...]:
    items = [
        Indicator("neg_perplexity", "-exp(-(1/T) sum_t l_t)", _YEOM),
        Indicator("mean_logprob", "(1/T) sum_t l_t  (= -log perplexity)", _YEOM),
        Indicator("neg_mean_entropy", "-(1/T) sum_t H^1_t", "Lee et al., 2026, Sec. 2.3",
                  ("entropy",)),
    ]
    items += [Indicator(f"min_k_{k:g}", f"low_{k:g}(l)", _SHI) for k in KS]
    items += [Indicator(f"max_k_{k:g}", f"high_{k:g}(l)", _MAINI) for k in KS]
    items += [Indicator(f"min_k_pp_{k:g}",
                        f"low_{k:g}((l_t - mu_t) / sigma_t), mu_t = E_p[log p], "
                        "sigma_t^2 = Var_p[log p]", _ZHANG, ("logprob", "mean_logp", "var_logp"))
              for k in KS]
    items += [Indicator(f"neg_max_renyi_{a}_k_{k:g}", f"-high_{k:g}(H^{a})", _LI, (RENYI[a],))
              for a in RENYI for k in RENYI_KS]
    items += [
        Indicator("zlib_ratio", "sum_t l_t / zlib_bytes(text)  (model code length over "
                  "zlib code length, in nats per byte)", _CARLINI),
        Indicator("neg_log_ppl_zlib", "(1/T) sum_t l_t / zlib_bytes(text)  (-log perplexity "
                  "over zlib entropy)", _CARLINI),
        Indicator("mean_max_prob_gap", "(1/T) sum_t (p1_t - p2_t)", _LI,
                  ("top1_prob", "top2_prob")),
        Indicator("mean_max_logprob_gap", "(1/T) sum_t (log p1_t - log p2_t)", _LI,
                  ("top1_prob", "top2_prob")),
        Indicator("neg_modified_entropy",
                  "-(1/T) sum_t [-(1 - p_y) log p_y - sum_{j != y} p_j log(1 - p_j)], the tail "
                  "of the sum from the collision entropy (see modified_entropy)", _SONG,
                  ("logprob", "top1_prob", "top2_prob", "renyi_2")),
        Indicator("mean_top1_prob", "(1/T) sum_t p1_t", _LI, ("top1_prob",)),
    ]
    return tuple(items)


#: every indicator, in the column order of :func:`indicator_matrix`
INDICATORS: tuple[Indicator, ...] = _registry()


def indicator_names() -> list[str]:
    """Names of all indicators, in the column order of :func:`indicator_matrix`.

    Returns
    -------
    list of str
        46 unique names; see :data:`INDICATORS` for each one's formula and source.
    """
    return [ind.name for ind in INDICATORS]


def bounded_indicators(top_k: int | None) -> list[str]:
    """Indicators that statistics built from the top ``top_k`` log-probabilities give only
    approximately (their statistics depend on the tail outside the top k; see
    :func:`telltale.models.distribution.top_k_stats` for which are bounds and how).

    Parameters
    ----------
    top_k : int or None
        ``TokenStats.top_k`` of the scored statistics; None (full distributions) gives none.

    Returns
    -------
    list of str
        Names in the column order of :func:`indicator_names`. For ``k >= 2`` these are the
        entropy, Rényi 0.5 / 1 / 2, Min-K%++ and modified-entropy indicators; the
        log-probability, Min-K% / Max-K%, zlib, Rényi-inf and top-1/top-2 ones are exact.
    """
    inexact = inexact_stats(top_k)
    return [ind.name for ind in INDICATORS if inexact.intersection(ind.stats)]


def indicator_basis(stats: Sequence[TokenStats]) -> dict[str, Any]:
    """What a set of indicator rows rests on, for results and the report.

    Parameters
    ----------
    stats : sequence of TokenStats
        The statistics the indicators were computed from.

    Returns
    -------
    dict
        ``exact`` (every row from full distributions), ``top_k`` (the smallest ``k`` among
        top-k rows, None if none), ``bounded`` (the indicators :func:`bounded_indicators`
        marks for that ``k``) and ``tail_mass`` (mean and max of ``1 - sum(top-k)`` over
        the tokens of top-k rows: the bound behind the marked indicators).
    """
    ks = [s.top_k for s in stats if s.top_k is not None]
    tails = [s.tail_mass for s in stats if s.top_k is not None and s.tail_mass is not None]
    tail = np.concatenate(tails) if tails else np.zeros(0)
    k = min(ks) if ks else None
    return {"exact": not ks, "top_k": k, "bounded": bounded_indicators(k),
            "tail_mass": {"mean": float(tail.mean()), "max": float(tail.max())}
            if tail.size else None}


def _n_selected(size: int, k: float) -> int:
    # the epsilon keeps products such as 0.29 * 100 = 28.999999999999996 at their exact count
    return max(1, math.floor(k * size + 1e-9))


def _lowest(values: np.ndarray, k: float) -> float:
    return float(np.sort(values)[:_n_selected(values.size, k)].mean())


def _highest(values: np.ndarray, k: float) -> float:
    return float(np.sort(values)[-_n_selected(values.size, k):].mean())


def modified_entropy(stats: TokenStats) -> np.ndarray:
    """Per-position modified entropy (Song & Mittal, 2021) from the stored statistics.

    ``M_t = -(1 - p_y) log p_y - sum_{j != y} p_j log(1 - p_j)`` where ``y`` is the observed
    token. Only ``p_y``, ``p1`` and ``p2`` are stored, so the terms of the (up to two) top
    tokens other than ``y`` are exact and the remaining tail ``R`` (every token outside
    ``{y, top1, top2}``) is replaced by ``sum_{j in R} p_j^2``, which is known exactly from the
    collision entropy: ``sum_v p_v^2 = exp(-H^2)``. Since
    ``-p log(1 - p) = p^2 (1 + p/2 + p^2/3 + ...)`` this is a lower bound of the tail with
    relative error at most ``q / (2 (1 - q))``, ``q = max_{j in R} p_j <= p2``: below 5% of
    the tail whenever ``p2 < 0.09``.

    Parameters
    ----------
    stats : TokenStats
        Statistics of ``T`` positions.

    Returns
    -------
    np.ndarray, shape (T,)
        Modified entropy per position, in nats; smaller for confident, correct predictions.
    """
    v = stats.values
    p_y = np.exp(v["logprob"])
    p1, p2 = v["top1_prob"], v["top2_prob"]
    # y is the arg-max when its probability reaches top-1 up to float32 rounding of logits
    y_top1 = p_y >= p1 * (1.0 - 1e-5)
    y_top2 = ~y_top1 & np.isclose(p_y, p2, rtol=1e-5, atol=0.0)
    y_tail = ~y_top1 & ~y_top2

    def term(p: np.ndarray) -> np.ndarray:
        return -p * np.log1p(-np.minimum(p, 1.0 - 1e-12))

    known_other = np.where(y_top1, term(p2), np.where(y_top2, term(p1), term(p1) + term(p2)))
    known_sq = p1 ** 2 + p2 ** 2 + np.where(y_tail, p_y ** 2, 0.0)
    tail = np.maximum(np.exp(-v["renyi_2"]) - known_sq, 0.0)
    own = -(1.0 - p_y) * np.maximum(v["logprob"], np.log(1e-300))
    return own + known_other + tail


def _check(stats: TokenStats) -> None:
    for name in STAT_NAMES:
        values = stats.values[name]
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise ValueError(f"TokenStats {name!r} is not finite at position {int(bad[0])} "
                             f"(value {values[bad[0]]}, token {stats.tokens[bad[0]]!r}); "
                             "the backend returned a broken distribution")


def compute_indicators(stats: TokenStats, text: str) -> dict[str, float]:
    """All indicators of one continuation.

    Parameters
    ----------
    stats : TokenStats
        Per-position statistics of the scored continuation (``T`` tokens).
    text : str
        The continuation's text, whose zlib-compressed length normalises the zlib ratio.

    Returns
    -------
    dict of str -> float
        One value per name of :func:`indicator_names`, in that order, each oriented so that
        larger means more likely a member. An empty continuation (``T = 0``, e.g. the model
        produced no text) gives NaN for every indicator: the caller records why and the
        attack counts or imputes the row.

    Raises
    ------
    ValueError
        If a statistic is NaN or infinite (the message names the statistic and position).
    """
    names = indicator_names()
    if len(stats) == 0:
        return dict.fromkeys(names, float("nan"))
    _check(stats)
    v = stats.values
    lp = v["logprob"]
    out: dict[str, float] = {
        "neg_perplexity": -float(np.exp(-lp.mean())),
        "mean_logprob": float(lp.mean()),
        "neg_mean_entropy": -float(v["entropy"].mean()),
    }
    # Zhang et al., 2024: a constant-probability distribution has sigma 0; its z-score is
    # then 0 when l_t == mu_t, which the floor keeps finite
    sigma = np.sqrt(np.maximum(v["var_logp"], 1e-12))
    standardised = (lp - v["mean_logp"]) / sigma
    for k in KS:
        out[f"min_k_{k:g}"] = _lowest(lp, k)
    for k in KS:
        out[f"max_k_{k:g}"] = _highest(lp, k)
    for k in KS:
        out[f"min_k_pp_{k:g}"] = _lowest(standardised, k)
    for alpha, field in RENYI.items():
        for k in RENYI_KS:
            out[f"neg_max_renyi_{alpha}_k_{k:g}"] = -_highest(v[field], k)
    zlib_bytes = len(zlib.compress(text.encode("utf-8"))) or 1
    out["zlib_ratio"] = float(lp.sum() / zlib_bytes)
    out["neg_log_ppl_zlib"] = float(lp.mean() / zlib_bytes)
    out["mean_max_prob_gap"] = float((v["top1_prob"] - v["top2_prob"]).mean())
    tiny = 1e-300
    out["mean_max_logprob_gap"] = float((np.log(np.maximum(v["top1_prob"], tiny))
                                         - np.log(np.maximum(v["top2_prob"], tiny))).mean())
    out["neg_modified_entropy"] = -float(modified_entropy(stats).mean())
    out["mean_top1_prob"] = float(v["top1_prob"].mean())
    return {name: out[name] for name in names}


def indicator_matrix(items: Sequence[tuple[TokenStats, str]]) -> tuple[np.ndarray, list[str]]:
    """Indicators of many continuations, one row each.

    Parameters
    ----------
    items : sequence of (TokenStats, str)
        The statistics and text of each continuation.

    Returns
    -------
    X : np.ndarray, shape (n, 46)
        Row ``i`` holds :func:`compute_indicators` of ``items[i]``; empty continuations give
        an all-NaN row.
    names : list of str
        Column names, :func:`indicator_names`.
    """
    names = indicator_names()
    X = np.full((len(items), len(names)), np.nan)
    for i, (stats, text) in enumerate(items):
        row = compute_indicators(stats, text)
        X[i] = [row[n] for n in names]
    return X, names
