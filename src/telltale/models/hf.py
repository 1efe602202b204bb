"""The ``hf:`` backend: transformers checkpoints of audio and vision language models.

Supported families (by ``config.model_type``):

============================  ==========================================  ============
model_type                    model class                                 media
============================  ==========================================  ============
``qwen2_audio``               Qwen2AudioForConditionalGeneration          audio
``qwen2_5_omni``              Qwen2_5OmniThinkerForConditionalGeneration  audio, image
``qwen2_5_omni_thinker``      Qwen2_5OmniThinkerForConditionalGeneration  audio, image
``audioflamingo3``            AudioFlamingo3ForConditionalGeneration      audio
``qwen2_vl``                  Qwen2VLForConditionalGeneration             image
``llava``                     LlavaForConditionalGeneration               image
============================  ==========================================  ============

Qwen2.5-Omni is text out only: just its thinker is loaded (the talker and token2wav
weights in the checkpoint are skipped), which is the part that produces the text.

Prompts go through the checkpoint's own chat template with the family's media content
part; media and text go through the checkpoint's own processor. The Qwen2-VL and
Qwen2.5-Omni processors cannot be built without torchvision (their video processor needs
it); where it is missing, :class:`_QwenParts` reproduces what those processors do for
images and audio from the same parts (tokenizer, image processor, feature extractor).

Batches are left-padded for generation and right-padded for scoring, so that in a
forward pass without explicit positions every real token keeps the position it has
unbatched.
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
    BaseModel,
    DecodingConfig,
    Generation,
    Request,
    TokenStats,
    UnsupportedRequest,
)
from telltale.models.transformers_common import (
    decoding_defined_by_caller,
    generate_rows,
    loading_options,
    plan_batches,
    score_rows,
)

SAMPLING_RATE = 16000
#: config attributes naming media placeholder tokens, across the supported families
PLACEHOLDER_ATTRS = ("audio_token_index", "audio_token_id", "image_token_index",
                     "image_token_id", "video_token_index", "video_token_id")


@dataclass(frozen=True)
class Family:
    """How one ``model_type`` is loaded and what media it accepts."""

    model_class: str
    media: frozenset[str]
    #: the weights live under ``thinker.`` in a Qwen2.5-Omni checkpoint
    thinker: bool = False


FAMILIES: dict[str, Family] = {
    "qwen2_audio": Family("Qwen2AudioForConditionalGeneration", frozenset({"audio"})),
    "qwen2_5_omni": Family("Qwen2_5OmniThinkerForConditionalGeneration",
                           frozenset({"audio", "image"}), thinker=True),
    "qwen2_5_omni_thinker": Family("Qwen2_5OmniThinkerForConditionalGeneration",
                                   frozenset({"audio", "image"})),
    "audioflamingo3": Family("AudioFlamingo3ForConditionalGeneration", frozenset({"audio"})),
    "qwen2_vl": Family("Qwen2VLForConditionalGeneration", frozenset({"image"})),
    "llava": Family("LlavaForConditionalGeneration", frozenset({"image"})),
}

DTYPES = ("auto", "float32", "bfloat16", "float16")


#: options an ``hf:`` spec may carry after ``?``, and the values each accepts (None: any)
SPEC_OPTIONS: dict[str, tuple[str, ...] | None] = {
    "dtype": DTYPES, "device": None, "attn": None, "kernels": ("off", "hub")}


def split_spec_options(text: str) -> tuple[str, dict[str, str]]:
    """``<dir>?key=value&...`` -> (``<dir>``, options), each key checked against
    :data:`SPEC_OPTIONS`."""
    from telltale.models.specs import split_options

    return split_options(text, SPEC_OPTIONS, "hf")


def checkpoint_digest(path: Path) -> str:
    """Identity of a checkpoint directory's files.

    Files up to 16 MiB (config, tokenizer, chat template, processor configs) are hashed
    whole. Larger files (the weight shards) are identified by name, size and the sha256 of
    their first and last MiB, not by a full hash: hashing multi-GB shards would add
    minutes to every start, and size plus head (a safetensors header lists every tensor's
    name, dtype and offsets) plus tail changes whenever a checkpoint is re-trained,
    re-quantised or re-sharded. Modification times are not used, so a copied checkpoint
    keeps its fingerprint.

    Parameters
    ----------
    path : Path
        The checkpoint directory.

    Returns
    -------
    str
        Hex sha256 over the files in name order.
    """
    digest = hashlib.sha256()
    for file in sorted(p for p in path.iterdir() if p.is_file()):
        size = file.stat().st_size
        digest.update(f"{file.name}:{size}\n".encode())
        with open(file, "rb") as fh:
            if size > 16 << 20:
                digest.update(fh.read(1 << 20))
                fh.seek(max(0, size - (1 << 20)))
                digest.update(fh.read(1 << 20))
            else:
                digest.update(fh.read())
    return digest.hexdigest()


def _read_chat_template(path: Path, tokenizer: Any) -> str | None:
    """The checkpoint's chat template: ``chat_template.jinja``, ``chat_template.json``,
    or the tokenizer's own, in that order (the order transformers' processors use)."""
    if (path / "chat_template.jinja").is_file():
        return (path / "chat_template.jinja").read_text()
    if (path / "chat_template.json").is_file():
        return json.loads((path / "chat_template.json").read_text())["chat_template"]
    return getattr(tokenizer, "chat_template", None)


class _QwenParts:
    """The Qwen2-VL / Qwen2.5-Omni processor for images and audio, built from its parts.

    Mirrors ``Qwen2VLProcessor`` and ``Qwen2_5OmniProcessor`` (transformers 5): each image
    placeholder becomes ``grid_t * grid_h * grid_w / merge_size**2`` image tokens; each
    audio placeholder (Omni) becomes as many audio tokens as the audio encoder outputs
    for the clip's unpadded Whisper frames, from features padded to the 30 s window; and
    Qwen2-VL gets the ``mm_token_type_ids`` its multimodal RoPE needs (1 marks image
    tokens).
    """

    def __init__(self, path: Path, model_type: str, tokenizer: Any, chat_template: str | None):
        import transformers

        self.path = path
        self.tokenizer = tokenizer
        self.chat_template = chat_template
        self.omni = model_type.startswith("qwen2_5_omni")
        self.image_processor = transformers.AutoImageProcessor.from_pretrained(path)
        self.feature_extractor = (transformers.AutoFeatureExtractor.from_pretrained(path)
                                  if self.omni else None)
        self.image_token = tokenizer.image_token if self.omni else "<|image_pad|>"
        self.audio_token = tokenizer.audio_token if self.omni else None
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)

    def apply_chat_template(self, messages: list[dict], add_generation_prompt: bool = True,
                            tokenize: bool = False) -> str:
        if self.chat_template is None:
            raise ValueError(f"{self.path}: the checkpoint has no chat template")
        return self.tokenizer.apply_chat_template(messages, chat_template=self.chat_template,
                                                  add_generation_prompt=add_generation_prompt,
                                                  tokenize=tokenize)

    @staticmethod
    def _expand(texts: list[str], token: str, counts: list[int]) -> list[str]:
        """Replace the i-th occurrence of ``token`` (in reading order over the batch) by
        ``counts[i]`` copies, as the processors' ``replace_*_token`` do."""
        out, k = [], 0
        for text in texts:
            pieces = text.split(token)
            if k + len(pieces) - 1 > len(counts):
                raise ValueError(f"more {token} placeholders in the prompts than media items")
            rebuilt = pieces[0]
            for piece in pieces[1:]:
                rebuilt += token * int(counts[k]) + piece
                k += 1
            out.append(rebuilt)
        if k != len(counts):
            raise ValueError(f"{len(counts)} media items but {k} {token} placeholders")
        return out

    def __call__(self, text: list[str], images: list | None = None,
                 audio: list[np.ndarray] | None = None, padding_side: str = "left") -> dict:
        from transformers.models.qwen2_5_omni.processing_qwen2_5_omni import (
            _get_feat_extract_output_lengths,
        )

        data: dict[str, Any] = {}
        if images is not None:
            pixels = self.image_processor(images=images, return_tensors="pt")
            merge = self.image_processor.merge_size ** 2
            counts = [int(g.prod()) // merge for g in pixels["image_grid_thw"]]
            text = self._expand(text, self.image_token, counts)
            data.update(pixels)
        if audio is not None:
            if not self.omni:
                raise UnsupportedRequest("Qwen2-VL does not accept audio input")
            feats = self.feature_extractor(audio, sampling_rate=SAMPLING_RATE,
                                           padding="max_length", return_attention_mask=True,
                                           return_tensors="pt")
            mask = feats.pop("attention_mask")
            counts = _get_feat_extract_output_lengths(mask.sum(-1)).tolist()
            text = self._expand(text, self.audio_token, counts)
            data["input_features"] = feats["input_features"]
            data["feature_attention_mask"] = mask
        enc = self.tokenizer(text, padding=True, padding_side=padding_side, return_tensors="pt")
        data.update(enc)
        if not self.omni:
            data["mm_token_type_ids"] = (enc["input_ids"] == self.image_token_id).long()
        return data


class HFModel(BaseModel):
    """A local transformers checkpoint behind the two verbs.

    Parameters
    ----------
    path : str or Path
        Checkpoint directory (``config.json``, weights, tokenizer, processor files).
    dtype : {"auto", "float32", "bfloat16", "float16"}
        Weight dtype; ``auto`` keeps the checkpoint's.
    device : str
        ``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda``, ``cuda:1``, ...
    batch_size : int
        Requests per forward pass / generate call.
    trust_remote_code : bool
        Passed to transformers; only needed for checkpoints that ship their own code.
    attn : str, optional
        Attention implementation (``eager``, ``sdpa``, ``flash_attention_2``, ...); the
        model's default when None.
    hub_kernels : bool
        Let transformers replace layers with kernels from the model hub. Off by default:
        loading never reaches the network (see
        :func:`telltale.models.transformers_common.loading_options`).
    weights : transformers model, optional
        An already-built model of the checkpoint's architecture, used instead of loading
        weight files (benchmarks build random weights directly on the device).

    The loading options can also be given in the spec after ``?``:
    ``hf:<dir>?dtype=bfloat16&attn=sdpa&device=cuda:1&kernels=hub``
    (see :data:`SPEC_OPTIONS`).
    """

    name = "hf"

    def __init__(self, path: str | Path, dtype: str = "auto", device: str = "auto",
                 batch_size: int = 8, trust_remote_code: bool = False, attn: str | None = None,
                 hub_kernels: bool = False, weights: Any = None):
        import torch

        path, spec = split_spec_options(str(path))
        dtype = spec.get("dtype", dtype)
        device = spec.get("device", device)
        attn = spec.get("attn", attn)
        hub_kernels = spec.get("kernels", "hub" if hub_kernels else "off") == "hub"
        self.path = Path(path).expanduser()
        if not self.path.is_dir():
            raise FileNotFoundError(f"{self.path}: no such checkpoint directory (hf: needs a "
                                    "local directory; download it with `hf download` first)")
        if not (self.path / "config.json").is_file():
            raise FileNotFoundError(f"{self.path}: no config.json; not a transformers checkpoint")
        if dtype not in DTYPES:
            raise ValueError(f"dtype {dtype!r} is not one of {', '.join(DTYPES)}")
        try:
            config = json.loads((self.path / "config.json").read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{self.path / 'config.json'}: not valid JSON ({err})") from err
        model_type = config.get("model_type")
        if model_type not in FAMILIES:
            raise ValueError(f"{self.path}: model_type {model_type!r} is not supported; "
                             f"supported: {', '.join(sorted(FAMILIES))}")
        self.model_type = model_type
        self.family = FAMILIES[model_type]
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" \
            else device
        self.batch_size = max(1, int(batch_size))

        self.lm = weights.eval() if weights is not None else self._load_weights(
            dtype, trust_remote_code, loading_options(attn, hub_kernels))

        self.processor = self._load_processor(trust_remote_code)
        self.tokenizer = self.processor.tokenizer
        self.capabilities = frozenset({"generate", "score", "batch", "stats_on_generate",
                                       *self.family.media})
        # the attention implementation changes reduction orders, hence scores in low
        # precision; hub kernels replace layers
        self.fingerprint = self.make_fingerprint(
            backend="hf", family=model_type, dtype=dtype, config=config,
            files=checkpoint_digest(self.path), attn=attn, hub_kernels=hub_kernels,
            weights=None if weights is None else "in memory")

        self.eos_ids, self.pad_id = decoding_defined_by_caller(self.lm, self.tokenizer,
                                                               self.path)
        self.placeholder_ids = self._placeholder_ids()
        log.info("loaded %s (%s) from %s on %s", self.family.model_class, model_type, self.path,
                 self.device)

    def _load_weights(self, dtype: str, trust_remote_code: bool,
                      options: dict[str, Any]) -> Any:
        import torch
        import transformers

        cls = getattr(transformers, self.family.model_class)
        options.update(dtype="auto" if dtype == "auto" else getattr(torch, dtype),
                       device_map=self.device, trust_remote_code=trust_remote_code,
                       output_loading_info=True)
        if self.family.thinker:
            full = transformers.AutoConfig.from_pretrained(
                self.path, trust_remote_code=trust_remote_code, local_files_only=True)
            options.update(config=full.thinker_config, key_mapping={r"^thinker\.": ""})
        model, info = cls.from_pretrained(self.path, **options)
        if info.get("missing_keys"):
            missing = sorted(info["missing_keys"])
            raise ValueError(f"{self.path}: {len(missing)} weights missing from the checkpoint "
                             f"(first: {', '.join(missing[:3])})")
        return model

    def _load_processor(self, trust_remote_code: bool) -> Any:
        import transformers

        try:
            return transformers.AutoProcessor.from_pretrained(
                self.path, trust_remote_code=trust_remote_code, local_files_only=True)
        except ImportError as err:
            if self.model_type not in ("qwen2_vl", "qwen2_5_omni", "qwen2_5_omni_thinker"):
                raise
            log.info("%s processor unavailable (%s); building it from its parts",
                     self.model_type, str(err).strip().splitlines()[0])
        tokenizer = transformers.AutoTokenizer.from_pretrained(
            self.path, trust_remote_code=trust_remote_code, local_files_only=True)
        return _QwenParts(self.path, self.model_type, tokenizer,
                          _read_chat_template(self.path, tokenizer))

    def _placeholder_ids(self) -> list[int]:
        """Media placeholder token ids: they must never be generated, since the next
        forward pass would look for media features to put there."""
        ids: set[int] = set()
        for config in (self.lm.config, getattr(self.lm.config, "thinker_config", None)):
            for attr in PLACEHOLDER_ATTRS:
                value = getattr(config, attr, None) if config is not None else None
                if isinstance(value, int) and 0 <= value < len(self.tokenizer):
                    ids.add(value)
        return sorted(ids)

    # prompt and media ----------------------------------------------------------------
    def chat_text(self, request: Request, answer: str | None = None) -> str:
        """The checkpoint's chat template applied to one exchange: the system prompt, the
        user turn with the family's media content part, and either the generation prompt
        (``answer`` None) or the assistant turn holding ``answer`` (for training texts)."""
        content: list[dict[str, Any]] = []
        if request.audio is not None:
            content.append({"type": "audio"})
        if request.image is not None:
            content.append({"type": "image"})
        content.append({"type": "text", "text": request.text})
        messages = []
        if request.system:
            messages.append({"role": "system",
                             "content": [{"type": "text", "text": request.system}]})
        messages.append({"role": "user", "content": content})
        if answer is not None:
            messages.append({"role": "assistant",
                             "content": [{"type": "text", "text": answer}]})
        return self.processor.apply_chat_template(messages, add_generation_prompt=answer is None,
                                                  tokenize=False)

    def _encode(self, requests: list[Request], padding_side: str) -> dict[str, Any]:
        """Processor outputs for one batch of requests that all carry the same media kind."""
        texts = [self.chat_text(r) for r in requests]
        audio = ([np.asarray(r.audio, dtype=np.float32) for r in requests]
                 if requests[0].audio is not None else None)
        images = ([r.image.convert("RGB") for r in requests]
                  if requests[0].image is not None else None)
        if isinstance(self.processor, _QwenParts):
            data = self.processor(texts, images=images, audio=audio, padding_side=padding_side)
        else:
            # padding is a text option only: the audio processors pad features their own
            # way (Whisper front ends use fixed 30 s windows)
            kwargs: dict[str, Any] = {"text": texts, "return_tensors": "pt",
                                      "text_kwargs": {"padding": True,
                                                      "padding_side": padding_side}}
            if audio is not None:
                kwargs.update(audio=audio, sampling_rate=SAMPLING_RATE)
            if images is not None:
                kwargs["images"] = images
            data = dict(self.processor(**kwargs))
        return {k: v.to(self.device) if hasattr(v, "to") else v for k, v in data.items()}

    def _batches(self, requests: list[Request]) -> list[list[int]]:
        """Indices of ``requests`` in batches of at most ``batch_size`` that share one media
        kind (a processor call takes audio for all of its texts or for none), each batch of
        similar lengths: media size first (audio samples, image pixels: they set the
        number of media tokens), then the prompt's characters."""
        kinds, lengths = [], []
        for req in requests:
            if req.audio is not None and req.image is not None:
                raise UnsupportedRequest("a request carries both audio and an image; the hf "
                                         "backend takes one medium per request")
            kinds.append("audio" if req.audio is not None else
                         "image" if req.image is not None else "")
            media = (len(req.audio) if req.audio is not None else
                     req.image.width * req.image.height if req.image is not None else 0)
            lengths.append((media, len(req.text) + len(req.system or "")))
        return plan_batches(kinds, lengths, self.batch_size)

    def _token_strings(self, ids: list[int]) -> list[str]:
        return [self.tokenizer.decode([i]) for i in ids]

    # the two verbs ---------------------------------------------------------------------
    def generate(self, requests: list[Request], decoding: DecodingConfig | None = None,
                 with_stats: bool = False) -> list[Generation]:
        """Text out for each request; see :meth:`telltale.models.base.TargetModel.generate`.

        Greedy when ``decoding.temperature == 0``; otherwise multinomial sampling with
        temperature and nucleus ``top_p``, seeded with ``decoding.seed`` per batch. With
        ``with_stats`` the per-step statistics are those of the model's own distribution
        (before temperature, top-p or placeholder suppression), recorded as each step's
        logits appear (:class:`telltale.models.transformers_common.StepStats`).
        """
        self.require("generate", requests)
        decoding = decoding or DecodingConfig()
        out: list[Generation | None] = [None] * len(requests)
        stops = self.eos_ids | {self.pad_id}
        for idx in self._batches(requests):
            inputs = self._encode([requests[i] for i in idx], "left")
            rows = generate_rows(self.lm, inputs, decoding, with_stats, stops,
                                 suppress=self.placeholder_ids, device=self.device)
            for i, (kept, values) in zip(idx, rows, strict=True):
                stats = (TokenStats(tokens=self._token_strings(kept), values=values)
                         if values is not None else None)
                out[i] = Generation(text=self.tokenizer.decode(kept, skip_special_tokens=True),
                                    stats=stats)
        return out  # type: ignore[return-value]

    def score(self, requests: list[Request], continuations: list[str]) -> list[TokenStats]:
        """Teacher-forced statistics of ``continuations[i]`` as the answer to ``requests[i]``.

        The continuation is tokenised on its own (no special tokens) and appended to the
        templated prompt, which ends with the assistant turn's header."""
        if len(requests) != len(continuations):
            raise ValueError(f"score got {len(requests)} requests and {len(continuations)} "
                             "continuations")
        self.require("score", requests)
        ids = [self.tokenizer(c, add_special_tokens=False)["input_ids"] for c in continuations]
        return self.score_token_ids(requests, ids)

    def score_token_ids(self, requests: list[Request],
                        continuation_ids: list[list[int]]) -> list[TokenStats]:
        """Teacher-forced statistics of given continuation token ids.

        Parameters
        ----------
        requests : list of Request
        continuation_ids : list of list of int
            Token ids of each continuation, appended to the templated prompt.

        Returns
        -------
        list of TokenStats
            One per request, with one entry per continuation token.
        """
        self.require("score", requests)
        out: list[TokenStats | None] = [None] * len(requests)
        for idx in self._batches(requests):
            conts = [list(continuation_ids[i]) for i in idx]
            inputs = self._encode([requests[i] for i in idx], "right")
            for i, cont, values in zip(idx, conts, score_rows(self.lm, inputs, conts, self.pad_id,
                                                              self.device), strict=True):
                out[i] = TokenStats(tokens=self._token_strings(cont), values=values)
        log.debug("scored %d continuations", len(requests))
        return out  # type: ignore[return-value]
