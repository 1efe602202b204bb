"""The ``hf:`` backend: transformers checkpoints of audio and vision language models.

Supported families (by ``config.model_type``): Qwen2-Audio, Qwen2.5-Omni (text output
only: the thinker), Audio Flamingo 3, Qwen2-VL and LLaVA. Prompts go through the
checkpoint's own chat template with the family's media placeholder; media go through the
checkpoint's own processor.

Per-step statistics of generated tokens are computed inside generation by a logits
processor that sees one step of logits at a time, so a long generation never holds more
than one step's vocabulary-sized tensor.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from telltale.console import log
from telltale.models.base import (
    STAT_NAMES,
    BaseModel,
    DecodingConfig,
    Generation,
    Request,
    TokenStats,
    UnsupportedRequest,
)


@dataclass(frozen=True)
class Family:
    model_class: str
    media: frozenset[str]
    audio_kwarg: str = "audio"
    thinker: bool = False  # Qwen2.5-Omni: generate and score with the text-out thinker


FAMILIES: dict[str, Family] = {
    "qwen2_audio": Family("Qwen2AudioForConditionalGeneration", frozenset({"audio"})),
    "audioflamingo3": Family("AudioFlamingo3ForConditionalGeneration", frozenset({"audio"})),
    "qwen2_5_omni": Family("Qwen2_5OmniForConditionalGeneration",
                           frozenset({"audio", "image"}), thinker=True),
    "qwen2_5_omni_thinker": Family("Qwen2_5OmniThinkerForConditionalGeneration",
                                   frozenset({"audio", "image"})),
    "qwen2_vl": Family("Qwen2VLForConditionalGeneration", frozenset({"image"})),
    "llava": Family("LlavaForConditionalGeneration", frozenset({"image"})),
}


def _weights_digest(path: Path) -> str:
    """Identity of the weight files: name, size and the sha256 of the first and last MiB.

    Hashing whole multi-GB shards would add minutes to every start; size plus head and
    tail changes whenever a checkpoint is re-trained or re-quantised."""
    digest = hashlib.sha256()
    files = sorted([*path.glob("*.safetensors"), *path.glob("*.bin")])
    for file in files:
        size = file.stat().st_size
        digest.update(f"{file.name}:{size}".encode())
        with open(file, "rb") as fh:
            digest.update(fh.read(1 << 20))
            fh.seek(max(0, size - (1 << 20)))
            digest.update(fh.read(1 << 20))
    return digest.hexdigest()


class _StepStats:
    """A logits processor that records per-step distribution statistics on the fly.

    At step ``t`` the chosen token of step ``t-1`` is the last column of ``input_ids``, so
    the log-probability of each chosen token is gathered one step late; only the previous
    step's log-softmax is kept."""

    def __init__(self, prompt_len: int):
        self.prompt_len = prompt_len
        self.rows: list[dict[str, Any]] = []
        self._prev_logp = None

    def __call__(self, input_ids, scores):
        import torch

        from telltale.models.distribution import position_stats

        if self._prev_logp is not None:
            self._collect_logprob(input_ids[:, -1])
        logp = torch.log_softmax(scores.float(), dim=-1)
        dummy_targets = torch.zeros(scores.shape[0], dtype=torch.long, device=scores.device)
        step = position_stats(scores, dummy_targets)
        self.rows.append(step)
        self._prev_logp = logp
        return scores

    def _collect_logprob(self, chosen) -> None:
        gathered = self._prev_logp.gather(-1, chosen[:, None]).squeeze(-1)
        self.rows[-1]["logprob"] = gathered.double().cpu().numpy()
        self._prev_logp = None

    def finish(self, sequences) -> dict[str, np.ndarray]:
        """Per-step values as arrays of shape (batch, steps) per statistic."""
        last = self.prompt_len + len(self.rows) - 1  # where the final step's token sits
        if self._prev_logp is not None and sequences.shape[1] > last:
            self._collect_logprob(sequences[:, last])
        return {name: np.stack([row[name] for row in self.rows], axis=1) for name in STAT_NAMES}


class HFModel(BaseModel):
    """A transformers checkpoint behind the two verbs."""

    name = "hf"

    def __init__(self, path: str | Path, dtype: str = "auto", device: str = "auto",
                 batch_size: int = 8, trust_remote_code: bool = False):
        import torch
        import transformers

        self.path = Path(path)
        if not (self.path / "config.json").is_file():
            raise FileNotFoundError(f"{self.path}: no config.json; hf: needs a local checkpoint "
                                    "directory (download it with huggingface-cli first)")
        config = json.loads((self.path / "config.json").read_text())
        model_type = config.get("model_type")
        if model_type not in FAMILIES:
            raise ValueError(f"{self.path}: model_type {model_type!r} is not supported; "
                             f"supported: {', '.join(sorted(FAMILIES))}")
        self.family = FAMILIES[model_type]
        self.model_type = model_type
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        torch_dtype = {"auto": "auto", "float32": torch.float32, "bfloat16": torch.bfloat16,
                       "float16": torch.float16}[dtype]
        cls = getattr(transformers, self.family.model_class)
        extra = {"enable_audio_output": False} if self.family.thinker else {}
        model = cls.from_pretrained(self.path, dtype=torch_dtype,
                                    trust_remote_code=trust_remote_code, **extra)
        model.eval().to(self.device)
        self.full_model = model
        self.lm = model.thinker if self.family.thinker else model
        self.processor = transformers.AutoProcessor.from_pretrained(
            self.path, trust_remote_code=trust_remote_code)
        self.tokenizer = self.processor.tokenizer
        self.batch_size = max(1, int(batch_size))
        self.capabilities = frozenset({"generate", "score", "batch", "stats_on_generate",
                                       *self.family.media})
        self.fingerprint = self.make_fingerprint(backend="hf", config=config, dtype=dtype,
                                                 weights=_weights_digest(self.path))
        eos = self.lm.generation_config.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if self.tokenizer.eos_token_id is not None:
            self.eos_ids.add(self.tokenizer.eos_token_id)
        self.pad_id = (self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None
                       else next(iter(self.eos_ids)))

    # prompt and media ----------------------------------------------------------------
    def _prompt_text(self, request: Request) -> str:
        content: list[dict[str, Any]] = []
        if request.audio is not None:
            content.append({"type": "audio"})
        if request.image is not None:
            content.append({"type": "image"})
        content.append({"type": "text", "text": request.text})
        messages = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages.append({"role": "user", "content": content})
        return self.processor.apply_chat_template(messages, add_generation_prompt=True,
                                                  tokenize=False)

    def _encode(self, requests: list[Request], texts: list[str], padding_side: str):
        kinds = {("audio" if r.audio is not None else "image" if r.image is not None else None)
                 for r in requests}
        if len(kinds) > 1:
            raise UnsupportedRequest("a batch mixes requests with and without media")
        # padding is a text option only: audio processors pad features their own way
        # (Whisper-style front ends need fixed 30 s windows)
        kwargs: dict[str, Any] = {"text": texts, "return_tensors": "pt",
                                  "text_kwargs": {"padding": True, "padding_side": padding_side}}
        if "audio" in kinds:
            kwargs[self.family.audio_kwarg] = [np.asarray(r.audio, dtype=np.float32)
                                               for r in requests]
            kwargs["sampling_rate"] = 16000
        if "image" in kinds:
            kwargs["images"] = [r.image for r in requests]
        return self.processor(**kwargs).to(self.device)

    def _batches(self, items: list[Any]):
        for start in range(0, len(items), self.batch_size):
            yield start, items[start:start + self.batch_size]

    # the two verbs ---------------------------------------------------------------------
    def generate(self, requests: list[Request], decoding: DecodingConfig | None = None,
                 with_stats: bool = False) -> list[Generation]:
        import torch
        from transformers import LogitsProcessorList

        self.require("generate", requests)
        decoding = decoding or DecodingConfig()
        out: list[Generation] = []
        for _, batch in self._batches(requests):
            inputs = self._encode(batch, [self._prompt_text(r) for r in batch], "left")
            prompt_len = inputs["input_ids"].shape[1]
            recorder = _StepStats(prompt_len) if with_stats else None
            options: dict[str, Any] = {"max_new_tokens": decoding.max_new_tokens,
                                       "pad_token_id": self.pad_id,
                                       "repetition_penalty": 1.0}
            if decoding.deterministic:
                options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            else:
                torch.manual_seed(decoding.seed)
                options.update(do_sample=True, temperature=decoding.temperature,
                               top_p=decoding.top_p, top_k=None)
            if recorder is not None:
                options["logits_processor"] = LogitsProcessorList([recorder])
            with torch.no_grad():
                sequences = self.lm.generate(**inputs, **options)
            new_tokens = sequences[:, prompt_len:].cpu().numpy()
            values = recorder.finish(sequences) if recorder is not None else None
            for row, ids in enumerate(new_tokens):
                n = len(ids)
                for t, tok in enumerate(ids):
                    if int(tok) in self.eos_ids or int(tok) == self.pad_id:
                        n = t
                        break
                kept = [int(i) for i in ids[:n]]
                text = self.tokenizer.decode(kept, skip_special_tokens=True)
                stats = None
                if values is not None:
                    stats = TokenStats(tokens=self.tokenizer.convert_ids_to_tokens(kept),
                                       values={k: v[row, :n] for k, v in values.items()})
                out.append(Generation(text=text, stats=stats))
        return out

    def score(self, requests: list[Request], continuations: list[str]) -> list[TokenStats]:
        self.require("score", requests)
        ids = [self.tokenizer(c, add_special_tokens=False)["input_ids"] for c in continuations]
        return self.score_token_ids(requests, ids)

    def score_token_ids(self, requests: list[Request],
                        continuation_ids: list[list[int]]) -> list[TokenStats]:
        """Teacher-forced statistics of given continuation token ids (what ``score`` does
        after tokenising; also used to check that generate-with-stats matches)."""
        import torch

        from telltale.models.distribution import position_stats

        out: list[TokenStats] = []
        for start, batch in self._batches(requests):
            conts = continuation_ids[start:start + len(batch)]
            # right padding keeps every real token at the position it has unbatched
            inputs = self._encode(batch, [self._prompt_text(r) for r in batch], "right")
            prompt_lens = inputs["attention_mask"].sum(-1).tolist()
            total = max(p + len(c) for p, c in zip(prompt_lens, conts, strict=True))
            width = max(total, inputs["input_ids"].shape[1])
            input_ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, (plen, cont) in enumerate(zip(prompt_lens, conts, strict=True)):
                seq = inputs["input_ids"][row, :plen].cpu().tolist() + list(cont)
                input_ids[row, :len(seq)] = torch.tensor(seq)
                mask[row, :len(seq)] = 1
            model_inputs = {k: v for k, v in inputs.items()
                            if k not in ("input_ids", "attention_mask")}
            with torch.no_grad():
                logits = self.lm(input_ids=input_ids.to(self.device),
                                 attention_mask=mask.to(self.device), **model_inputs).logits
            for row, (plen, cont) in enumerate(zip(prompt_lens, conts, strict=True)):
                n = len(cont)
                if n == 0:
                    out.append(TokenStats(tokens=[], values={k: [] for k in STAT_NAMES}))
                    continue
                rows = logits[row, plen - 1:plen - 1 + n]
                targets = torch.tensor(cont, device=rows.device)
                values = position_stats(rows, targets)
                out.append(TokenStats(tokens=self.tokenizer.convert_ids_to_tokens(list(cont)),
                                      values=values))
            del logits
        log.debug("scored %d continuations", len(requests))
        return out
