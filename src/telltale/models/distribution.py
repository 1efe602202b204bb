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
