"""Decoding and scoring plumbing shared by the transformers-based backends.

Both ``hf:`` (:mod:`telltale.models.hf`) and ``docassistant:``
(:mod:`telltale.models.docassistant`) run a transformers model behind the two verbs. What
they share lives here, once:

- :func:`loading_options`: how weights are loaded without reaching the network (local
  files only, the model hub's kernels off unless asked for) and with a chosen attention
  implementation;
- :func:`plan_batches`: batches grouped by a key (the media kind) and sorted by length
  so that padding does not dominate; callers put results back by index, so the caller's
  order is restored;
- :func:`generate_rows`: one ``generate`` call with per-step statistics recorded by
  :class:`StepStats`, a logits processor that reduces each step's logits to a few scalars
  as they appear;
- :func:`score_rows`: one teacher-forced forward pass over a right-padded batch, the output
  head applied only where continuations are.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from telltale.models.base import STAT_NAMES, DecodingConfig

if TYPE_CHECKING:
    import torch

#: token-aligned inputs a processor or tokenizer returns; everything else is media features
TOKEN_KEYS = ("input_ids", "attention_mask", "mm_token_type_ids")


def loading_options(attn: str | None = None, hub_kernels: bool = False) -> dict[str, Any]:
    """``from_pretrained`` keyword arguments that keep loading on this machine.

    transformers 5 kernelizes a model at load time by default (``use_kernels=None`` means
    on while ``USE_HUB_KERNELS`` is unset), and with the ``kernels`` package installed that
    fetches kernels such as ``kernels-community/activation`` from the model hub: on an
    air-gapped GPU machine a bfloat16 load then fails. ``use_kernels=False`` keeps the
    model's own PyTorch layers; ``local_files_only`` makes any file lookup local.

    Parameters
    ----------
    attn : str, optional
        ``attn_implementation`` (``eager``, ``sdpa``, ``flash_attention_2``, ...); the
        model's default when None. A hub kernel (``owner/repo``) needs ``hub_kernels``.
    hub_kernels : bool
        Allow kernels from the model hub (network access, unless already cached).
    """
    if attn is not None and "/" in attn and not hub_kernels:
        raise ValueError(f"attention implementation {attn!r} is a kernel on the model hub; "
                         "allow hub kernels (kernels=hub) to fetch it")
    options: dict[str, Any] = {"local_files_only": True, "use_kernels": hub_kernels}
    if attn is not None:
        options["attn_implementation"] = attn
    return options


def plan_batches(keys: Sequence[Hashable], lengths: Sequence[Any],
                 batch_size: int) -> list[list[int]]:
    """Indices in batches of at most ``batch_size`` sharing one key, by ascending length.

    Requests of similar length share a batch, so few padding positions are computed; the
    sort is stable and depends only on the inputs, so a request always lands in the same
    batch for the same request list.
    """
    groups: dict[Hashable, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    batches = []
    for members in groups.values():
        members.sort(key=lambda i: lengths[i])
        batches += [members[s:s + batch_size] for s in range(0, len(members), batch_size)]
    return batches


class StepStats:
    """A logits processor that records :func:`distribution_stats` of every decoding step.

    It must run first in the processor list, so that it sees the model's own distribution
    (before token suppression, temperature or top-p). At step ``t`` the token chosen at
    step ``t - 1`` is the last column of ``input_ids``, so that token's log-probability is
    gathered one step late from the one log-softmax kept; :meth:`finish` reads the final
    step's token from the output sequences. Statistics stay on the model's device until
    :meth:`finish`, so a step costs no device-to-host copy.
    """

    def __init__(self, prompt_len: int):
        self.prompt_len = prompt_len
        self.steps: list[dict[str, torch.Tensor]] = []
        self._logp: torch.Tensor | None = None

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        from telltale.models.distribution import distribution_stats

        if self._logp is not None:
            self._observe(input_ids[:, -1])
        values, self._logp = distribution_stats(scores)
        self.steps.append(values)
        return scores

    def _observe(self, chosen: torch.Tensor) -> None:
        assert self._logp is not None
        self.steps[-1]["logprob"] = self._logp.gather(-1, chosen[:, None]).squeeze(-1)
        self._logp = None

    def finish(self, sequences: torch.Tensor) -> dict[str, np.ndarray]:
        """Per-step values, each a float64 array of shape (batch, steps)."""
        import torch

        last = self.prompt_len + len(self.steps) - 1  # where the final step's token sits
        if self._logp is not None:
            self._observe(sequences[:, last].to(self._logp.device))
        if not self.steps:
            return {name: np.zeros((sequences.shape[0], 0)) for name in STAT_NAMES}
        return {name: torch.stack([step[name] for step in self.steps], dim=1)
                .double().cpu().numpy() for name in STAT_NAMES}


def decoding_defined_by_caller(lm: Any, tokenizer: Any, where: Any) -> tuple[set[int], int]:
    """Reset ``lm.generation_config`` to end-of-sequence and padding only.

    Decoding is defined by :class:`telltale.models.base.DecodingConfig` alone: a
    checkpoint's ``generation_config.json`` often sets sampling, top-k or a repetition
    penalty, which would make "greedy" differ from the argmax of the distribution that
    ``score`` reports.

    Returns
    -------
    (eos_ids, pad_id)
        The end-of-sequence ids of the generation config and the tokenizer, and the
        padding id (the tokenizer's, else the smallest end-of-sequence id).
    """
    import transformers

    eos = lm.generation_config.eos_token_id
    eos_ids = set(eos if isinstance(eos, list) else [] if eos is None else [eos])
    if tokenizer.eos_token_id is not None:
        eos_ids.add(tokenizer.eos_token_id)
    if not eos_ids:
        raise ValueError(f"{where}: neither generation_config.json nor the tokenizer "
                         "names an end-of-sequence token")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos_ids)
    lm.generation_config = transformers.GenerationConfig(
        eos_token_id=sorted(eos_ids), pad_token_id=pad_id,
        bos_token_id=lm.generation_config.bos_token_id)
    return eos_ids, pad_id


def kept_length(ids: Sequence[int], stops: set[int]) -> int:
    """Generated tokens before the first stop (end-of-sequence or padding) token."""
    for t, tok in enumerate(ids):
        if tok in stops:
            return t
    return len(ids)


def cuda_indices(device: str) -> list[int]:
    """The CUDA device whose RNG state seeded sampling must restore (none on CPU)."""
    import torch

    dev = torch.device(device)
    if dev.type != "cuda":
        return []
    return [dev.index if dev.index is not None else torch.cuda.current_device()]


def generate_rows(lm: Any, inputs: dict[str, Any], decoding: DecodingConfig, with_stats: bool,
                  stops: set[int], suppress: Sequence[int] = (),
                  device: str = "cpu") -> list[tuple[list[int], dict[str, np.ndarray] | None]]:
    """One left-padded batch through ``lm.generate``.

    Greedy when ``decoding.temperature == 0``; otherwise multinomial sampling with
    temperature and nucleus ``top_p``, seeded with ``decoding.seed`` (the global torch RNG
    state is restored afterwards). ``suppress`` are token ids never to be generated; the
    statistics are those of the unsuppressed distribution, as :func:`score_rows` sees it.

    Returns
    -------
    list of (token ids, statistics)
        Per row: the generated ids before the first stop token and, with ``with_stats``,
        one array per statistic name with one entry per kept id.
    """
    import torch
    from transformers import LogitsProcessorList, SuppressTokensLogitsProcessor

    prompt_len = inputs["input_ids"].shape[1]
    recorder = StepStats(prompt_len) if with_stats else None
    processors: list[Any] = [recorder] if recorder is not None else []
    if suppress:
        processors.append(SuppressTokensLogitsProcessor(list(suppress), device=device))
    options: dict[str, Any] = {"max_new_tokens": decoding.max_new_tokens,
                               "logits_processor": LogitsProcessorList(processors)}
    if decoding.deterministic:
        options.update(do_sample=False)
    else:
        options.update(do_sample=True, temperature=decoding.temperature, top_p=decoding.top_p,
                       top_k=0)
    with torch.no_grad(), torch.random.fork_rng(devices=cuda_indices(device)):
        torch.manual_seed(decoding.seed)
        sequences = lm.generate(**inputs, **options)
    values = recorder.finish(sequences) if recorder is not None else None
    out = []
    for row, ids in enumerate(sequences[:, prompt_len:].tolist()):
        n = kept_length(ids, stops)
        out.append((ids[:n], None if values is None else
                    {name: v[row, :n] for name, v in values.items()}))
    return out


@contextmanager
def head_from(lm: Any, first: int) -> Iterator[None]:
    """Apply the output head to positions ``first:`` only.

    A forward pre-hook slices the hidden states the head receives, so the
    (batch, length, vocab) logits of the prompt are never computed; unlike the
    ``logits_to_keep`` argument this works for every family (Qwen2-Audio and the Omni
    thinker lack it)."""
    head = lm.get_output_embeddings()

    def keep_tail(module: Any, args: tuple) -> tuple:
        return (args[0][:, first:], *args[1:])

    handle = head.register_forward_pre_hook(keep_tail)
    try:
        yield
    finally:
        handle.remove()


def score_rows(lm: Any, inputs: dict[str, Any], continuations: list[list[int]], pad_id: int,
               device: str = "cpu") -> list[dict[str, np.ndarray]]:
    """Teacher-forced statistics of each continuation after its prompt, in one pass.

    Parameters
    ----------
    lm : transformers model
    inputs : dict
        Right-padded prompts as a processor or tokenizer returns them (``input_ids``,
        ``attention_mask``, optional ``mm_token_type_ids``, media features); right padding
        keeps every real token at the position it has unbatched.
    continuations : list of list of int
        Token ids appended to each row's prompt.
    pad_id : int
        Fills the positions after a row's continuation.

    Returns
    -------
    list of dict
        Per row, :func:`telltale.models.distribution.position_stats` of its continuation.
    """
    import torch

    from telltale.models.distribution import position_stats

    prompt_lens = inputs["attention_mask"].sum(-1).tolist()
    width = max(p + len(c) for p, c in zip(prompt_lens, continuations, strict=True))
    tokens = {k: torch.full((len(prompt_lens), width), pad_id if k == "input_ids" else 0,
                            dtype=torch.long) for k in TOKEN_KEYS if k in inputs}
    for row, (plen, cont) in enumerate(zip(prompt_lens, continuations, strict=True)):
        for key, tensor in tokens.items():
            tensor[row, :plen] = inputs[key][row, :plen].cpu()
        tokens["input_ids"][row, plen:plen + len(cont)] = torch.tensor(cont, dtype=torch.long)
        tokens["attention_mask"][row, plen:plen + len(cont)] = 1
    media = {k: v.to(device) if hasattr(v, "to") else v for k, v in inputs.items()
             if k not in TOKEN_KEYS}
    # the output head runs only from the earliest continuation start onwards
    first = min((p - 1 for p, c in zip(prompt_lens, continuations, strict=True) if c),
                default=width - 1)
    with torch.no_grad(), head_from(lm, first):
        logits = lm(**{k: v.to(device) for k, v in tokens.items()}, **media,
                    use_cache=False).logits
    out = []
    for row, (plen, cont) in enumerate(zip(prompt_lens, continuations, strict=True)):
        start = plen - 1 - first
        out.append(position_stats(logits[row, start:start + len(cont)],
                                  torch.tensor(cont, dtype=torch.long)))
    return out
