"""Per-position statistics of next-token distributions, computed from logits.

For logits ``z`` at one position, with ``log p = log_softmax(z)``:

- Shannon entropy ``H = -sum p log p``
- Renyi entropy ``H_a = log(sum p^a) / (1 - a)`` for a = 0.5 and 2;
  ``H_inf = -log max p`` (min-entropy). Alpha 0 is not computed: under a full softmax
  every token has p > 0, so ``H_0 = log |V|`` is the same constant at every position.
- ``mean_logp = E_p[log p] = -H`` and ``var_logp = E_p[(log p)^2] - (E_p[log p])^2``,
  the mean and variance that Min-K%++ normalises by (Zhang et al., 2024, "Min-K%++").

Only these scalars leave the function; full-vocabulary tensors are freed chunk by chunk.
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
