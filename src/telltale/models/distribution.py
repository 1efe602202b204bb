"""Per-position statistics of next-token distributions, computed from logits.

For logits ``z`` at one position, with ``log p = log_softmax(z)``:

- Shannon entropy ``H = -sum p log p``
- Renyi entropy ``H_a = log(sum p^a) / (1 - a)`` for a = 0.5 and 2;
  ``H_inf = -log max p`` (min-entropy). Alpha 0 is not computed: under a full softmax
  every token has p > 0, so ``H_0 = log |V|`` is the same constant at every position.
- ``mean_logp = E_p[log p] = -H`` and ``var_logp = E_p[(log p)^2] - (E_p[log p])^2``,
  the mean and variance that Min-K%++ normalises by (Zhang et al., 2024, "Min-K%++").

Only these scalars leave the function; full-vocabulary tensors are freed chunk by chunk.

A server that returns only the top-k log-probabilities (vLLM, the OpenAI API) gives some of
these exactly and bounds the others: :data:`EXACT_FROM_TOP_K`, :func:`top_k_stats`;
:func:`top_k_view` computes the top-k version from full logits, to measure the difference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from telltale.models.base import STAT_NAMES

if TYPE_CHECKING:
    import torch


def distribution_stats(logits: torch.Tensor) -> tuple[dict[str, torch.Tensor],
                                                      torch.Tensor]:
    """Statistics of ``B`` next-token distributions that do not depend on the observed
    token, kept as tensors on the logits' device.

    Parameters
    ----------
    logits : torch.Tensor, shape (B, V)
        Unnormalised scores.

    Returns
    -------
    (values, logp)
        ``values``: name -> float32 tensor of shape (B,) for every name in
        :data:`telltale.models.base.STAT_NAMES` except ``logprob``; ``logp``: the (B, V)
        log-probabilities, from which the observed token's ``logprob`` is gathered.
    """
    import torch

    with torch.no_grad():
        logp = torch.log_softmax(logits.float(), dim=-1)
        p = logp.exp()
        # a token masked to -inf has p = 0: clamping its log p to -1e4 (where exp already
        # underflows to 0 in float32) makes p log p and p (log p)^2 exactly 0 without a
        # masked copy of the whole vocabulary
        plogp = p * logp.clamp_min(-1e4)
        entropy = -plogp.sum(-1)
        second = (plogp * logp.clamp_min(-1e4)).sum(-1)
        top = torch.topk(logp, k=min(2, logp.shape[-1]), dim=-1).values
        top2 = top[:, 1].exp() if top.shape[1] > 1 else torch.zeros_like(top[:, 0])
        # sum_v sqrt(p_v) >= sqrt(max p) and sum_v p_v^2 >= (max p)^2, both at least a
        # power of 1/|V|, so neither sum underflows and the logs need no logsumexp
        values = {
            "entropy": entropy,
            "renyi_0_5": 2.0 * p.sqrt().sum(-1).log(),
            "renyi_2": -2.0 * torch.linalg.vector_norm(p, ord=2, dim=-1).log(),
            "renyi_inf": -top[:, 0],
            "top1_prob": top[:, 0].exp(),
            "top2_prob": top2,
            "mean_logp": -entropy,
            "var_logp": (second - entropy * entropy).clamp_min(0.0),
        }
    return values, logp


def position_stats(logits: torch.Tensor, targets: torch.Tensor,
                   chunk: int = 256) -> dict[str, np.ndarray]:
    """Statistics of ``T`` next-token distributions.

    Parameters
    ----------
    logits : torch.Tensor, shape (T, V)
        Unnormalised scores; row ``t`` is the distribution that predicts ``targets[t]``.
    targets : torch.Tensor, shape (T,)
        The token actually observed at each position.
    chunk : int
        Positions processed at once, bounding the float32 working memory to
        ``chunk * V`` values.

    Returns
    -------
    dict of name -> float64 array of shape (T,), for every name in
    :data:`telltale.models.base.STAT_NAMES`.
    """
    if logits.ndim != 2 or targets.ndim != 1 or logits.shape[0] != targets.shape[0]:
        raise ValueError(f"expected logits (T, V) and targets (T,), got {tuple(logits.shape)} "
                         f"and {tuple(targets.shape)}")
    parts: dict[str, list[np.ndarray]] = {name: [] for name in STAT_NAMES}
    for start in range(0, logits.shape[0], chunk):
        values, logp = distribution_stats(logits[start:start + chunk])
        tgt = targets[start:start + chunk].to(logp.device)
        values["logprob"] = logp.gather(-1, tgt[:, None]).squeeze(-1)
        del logp
        for name in STAT_NAMES:
            parts[name].append(values[name].double().cpu().numpy())
    return {name: np.concatenate(parts[name]) if parts[name] else np.zeros(0)
            for name in STAT_NAMES}


#: Which statistics a top-k list of log-probabilities gives exactly: the name and the least
#: ``k`` it needs (the observed token's own log-probability needs none). Every other
#: statistic depends on the tail outside the top k and is only bounded by it.
EXACT_FROM_TOP_K: dict[str, int] = {"logprob": 0, "top1_prob": 1, "renyi_inf": 1,
                                    "top2_prob": 2}


def inexact_stats(top_k: int | None) -> frozenset[str]:
    """Names of :data:`STAT_NAMES` that statistics built from the top ``top_k`` do not give
    exactly (none for ``top_k=None``, the full distribution)."""
    if top_k is None:
        return frozenset()
    return frozenset(n for n in STAT_NAMES if EXACT_FROM_TOP_K.get(n, top_k + 1) > top_k)


def top_k_stats(chosen: np.ndarray, top: list[np.ndarray], k: int) -> dict[str, np.ndarray]:
    """Statistics of ``T`` positions from the observed tokens' log-probabilities and the
    top-k log-probabilities of each position's distribution.

    Parameters
    ----------
    chosen : array of shape (T,)
        ``log p`` of the observed token at each position (exact).
    top : list of T arrays
        The ``k`` largest log-probabilities at each position, any order; an empty array
        when the server gave none (then the observed token is taken as the most likely one,
        which holds under greedy decoding only).
    k : int
        The ``k`` asked for (a position may hold fewer, e.g. a vocabulary of fewer tokens).

    Returns
    -------
    dict of name -> float64 array of shape (T,) for every name in :data:`STAT_NAMES`, plus
    ``"tail_mass"``: ``R = 1 - sum(top-k probabilities)`` per position.

    Notes
    -----
    The statistics in :data:`EXACT_FROM_TOP_K` are exact when ``k`` reaches the value given
    there. The others are computed on the truncated distribution with the tail kept as one
    extra outcome of mass ``R``, so the distribution sums to one. Merging outcomes never
    increases Shannon or Rényi entropy (both are Schur-concave), so ``entropy``,
    ``renyi_0_5`` and ``renyi_2`` are lower bounds of the true values, and ``mean_logp``
    (= -entropy) an upper bound; ``var_logp`` is an approximation with no sign guarantee.
    The true Shannon entropy lies in ``[H_merged, H_merged + R log(V - k)]`` for a
    vocabulary of ``V`` tokens (the upper end: the tail spread evenly), so ``R`` is the
    bound to report next to them.
    """
    out: dict[str, list[float]] = {n: [] for n in (*STAT_NAMES, "tail_mass")}
    for own, values in zip(np.asarray(chosen, dtype=float), top, strict=True):
        best = np.sort(np.asarray(values, dtype=float))[::-1][:max(k, 1)]
        if best.size == 0:
            best = np.array([own])
        probs = np.exp(best)
        tail = max(0.0, 1.0 - float(probs.sum()))
        p = np.append(probs, tail) if tail > 1e-12 else probs
        # top-k log-probabilities rounded by the server can sum to slightly more than one
        p = p / p.sum()
        logp = np.log(p)
        entropy = float(-(p * logp).sum())
        out["logprob"].append(float(own))
        out["entropy"].append(entropy)
        out["renyi_0_5"].append(float(2 * np.log(np.sqrt(p).sum())))
        out["renyi_2"].append(float(-np.log((p * p).sum())))
        # the tail bucket may be heavier than any single token: use the known top-1
        out["renyi_inf"].append(float(-best[0]))
        out["top1_prob"].append(float(probs[0]))
        out["top2_prob"].append(float(probs[1]) if probs.size > 1 else 0.0)
        out["mean_logp"].append(-entropy)
        out["var_logp"].append(max(0.0, float((p * logp * logp).sum() - entropy * entropy)))
        out["tail_mass"].append(tail)
    return {name: np.asarray(v, dtype=np.float64) for name, v in out.items()}


def top_k_view(logits: torch.Tensor, targets: torch.Tensor, k: int) -> dict[str, np.ndarray]:
    """What a server returning the top ``k`` log-probabilities lets a client compute from
    these logits: :func:`top_k_stats` of their truncation. Beside :func:`position_stats`
    of the same logits it measures the error of the top-k statistics.

    Parameters
    ----------
    logits : torch.Tensor, shape (T, V)
    targets : torch.Tensor, shape (T,)
    k : int

    Returns
    -------
    dict as :func:`top_k_stats` returns it, ``"tail_mass"`` included.
    """
    import torch

    with torch.no_grad():
        logp = torch.log_softmax(logits.float(), dim=-1)
        chosen = logp.gather(-1, targets[:, None].to(logp.device)).squeeze(-1)
        top = torch.topk(logp, k=min(k, logp.shape[-1]), dim=-1).values.double().cpu().numpy()
    return top_k_stats(chosen.double().cpu().numpy(), list(top), k)
