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
    import torch

    if logits.ndim != 2 or targets.ndim != 1 or logits.shape[0] != targets.shape[0]:
        raise ValueError(f"expected logits (T, V) and targets (T,), got {tuple(logits.shape)} "
                         f"and {tuple(targets.shape)}")
    parts: dict[str, list[np.ndarray]] = {name: [] for name in STAT_NAMES}
    with torch.no_grad():
        for start in range(0, logits.shape[0], chunk):
            z = logits[start:start + chunk].float()
            tgt = targets[start:start + chunk].to(z.device)
            logp = torch.log_softmax(z, dim=-1)
            p = logp.exp()
            plogp = torch.where(p > 0, p * logp, torch.zeros_like(p))
            entropy = -plogp.sum(-1)
            second = torch.where(p > 0, p * logp * logp, torch.zeros_like(p)).sum(-1)
            top = torch.topk(logp, k=min(2, logp.shape[-1]), dim=-1).values.exp()
            top2 = top[:, 1] if top.shape[1] > 1 else torch.zeros_like(top[:, 0])
            values = {
                "logprob": logp.gather(-1, tgt[:, None]).squeeze(-1),
                "entropy": entropy,
                "renyi_0_5": 2.0 * torch.logsumexp(0.5 * logp, dim=-1),
                "renyi_2": -torch.logsumexp(2.0 * logp, dim=-1),
                "renyi_inf": -logp.max(dim=-1).values,
                "top1_prob": top[:, 0],
                "top2_prob": top2,
                "mean_logp": -entropy,
                "var_logp": (second - entropy * entropy).clamp_min(0.0),
            }
            for name in STAT_NAMES:
                parts[name].append(values[name].double().cpu().numpy())
    return {name: np.concatenate(parts[name]) if parts[name] else np.zeros(0)
            for name in STAT_NAMES}


class StepStatsRecorder:
    """A transformers logits processor that records :func:`position_stats` of every
    decoding step on the fly, keeping only the previous step's log-probabilities.

    At step ``t`` the token chosen at step ``t-1`` is the last column of ``input_ids``, so
    the log-probability of each chosen token is gathered one step late; :meth:`finish`
    collects the final step's token from the output sequences.
    """

    def __init__(self, prompt_len: int):
        self.prompt_len = prompt_len
        self.rows: list[dict[str, np.ndarray]] = []
        self._prev_logp = None

    def __call__(self, input_ids, scores):
        import torch

        if self._prev_logp is not None:
            self._collect(input_ids[:, -1])
        dummy = torch.zeros(scores.shape[0], dtype=torch.long, device=scores.device)
        self.rows.append(position_stats(scores, dummy))
        self._prev_logp = torch.log_softmax(scores.float(), dim=-1)
        return scores

    def _collect(self, chosen) -> None:
        gathered = self._prev_logp.gather(-1, chosen[:, None]).squeeze(-1)
        self.rows[-1]["logprob"] = gathered.double().cpu().numpy()
        self._prev_logp = None

    def finish(self, sequences) -> dict[str, np.ndarray]:
        """Per-step values, each of shape (batch, steps)."""
        last = self.prompt_len + len(self.rows) - 1  # where the final step's token sits
        if self._prev_logp is not None and sequences.shape[1] > last:
            self._collect(sequences[:, last])
        return {name: np.stack([row[name] for row in self.rows], axis=1) for name in STAT_NAMES}


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
