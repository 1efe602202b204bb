"""The target-model interface: two verbs, ``generate`` and ``score``.

Every backend (transformers weights, an OpenAI-compatible server, the calibration
organism) implements :class:`TargetModel`. A backend declares what it supports in
``capabilities`` and raises :class:`UnsupportedRequest` for the rest, with a message that
says which backend refused what.

Per-position distribution statistics (:class:`TokenStats`) are what the membership
indicators are computed from; they are computed on the fly from logits and never keep
full-vocabulary distributions around.
"""

from __future__ import annotations

import hashlib
import json
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

import numpy as np

#: Names of the per-position statistics, in a fixed order. See
#: :func:`telltale.models.distribution.position_stats` for the formulas.
STAT_NAMES: tuple[str, ...] = (
    "logprob",  # log p(x_t | x_<t) of the actual token
    "entropy",  # Shannon entropy of p(. | x_<t) in nats
    "renyi_0_5",  # Renyi entropy, alpha = 0.5
    "renyi_2",  # Renyi entropy, alpha = 2 (collision entropy)
    "renyi_inf",  # min-entropy, -log max p
    "top1_prob",
    "top2_prob",
    "mean_logp",  # E_p[log p], needed by Min-K%++
    "var_logp",  # Var_p[log p], needed by Min-K%++
)

CAPABILITIES = frozenset({"generate", "score", "audio", "image", "stats_on_generate", "batch"})

_V = TypeVar("_V")
#: (id of a media object, what was derived) -> the derived value, while the object lives
_DERIVED: dict[tuple[int, str], Any] = {}


def derived(obj: Any, name: str, compute: Callable[[Any], _V]) -> _V:
    """``compute(obj)``, computed once per media object (an audio array, an image) and kept
    while the object lives, so that its hash and wire encoding are made once however many
    probes share it. Keyed by identity: the media are never modified once loaded."""
    key = (id(obj), name)
    try:
        return _DERIVED[key]
    except KeyError:
        pass
    value = compute(obj)
    if key not in _DERIVED:
        try:  # dropped when the object is collected, before its id can be reused
            weakref.finalize(obj, _DERIVED.pop, key, None)
        except TypeError:  # an object without weak references (a list): not kept
            return value
    _DERIVED[key] = value
    return value


def _media_digest(media: Any) -> str:
    if not hasattr(media, "convert"):  # audio: an array (or a list of samples)
        arr = np.ascontiguousarray(media, dtype=np.float32)
        return "audio:" + hashlib.sha256(arr.tobytes()).hexdigest()
    img = media.convert("RGB")
    return "image:" + hashlib.sha256(f"{img.size}".encode() + img.tobytes()).hexdigest()


class BackendError(RuntimeError):
    """A model that cannot serve the run (unreachable, refused, misconfigured); the message
    says why, with any credential redacted. The CLI reports it without a traceback."""


class UnsupportedRequest(BackendError):
    """Raised when a backend is asked for something it does not support."""


@dataclass(frozen=True)
class Request:
    """What is sent to a model: a user turn, an optional system prompt, optional media.

    ``audio`` is 16 kHz mono float32 (see :func:`telltale.media.audio.load_audio`);
    ``image`` is an RGB ``PIL.Image.Image``.
    """

    text: str
    system: str | None = None
    audio: np.ndarray | None = field(default=None, compare=False, repr=False)
    image: Any = field(default=None, compare=False, repr=False)

    def media_sha256(self) -> str | None:
        """A content hash of the media exactly as the model receives it (computed once per
        media object, :func:`derived`)."""
        media = self.audio if self.audio is not None else self.image
        return None if media is None else derived(media, "sha256", _media_digest)


@dataclass
class TokenStats:
    """Per-position statistics of a scored or generated continuation.

    ``tokens`` are the decoded token strings, ``values[name]`` a float array per name in
    :data:`STAT_NAMES`, one entry per token.

    ``top_k`` is None for statistics of the full distribution (exact). Statistics built
    from a server's top-k log-probabilities carry that ``k`` and, per position, the
    ``tail_mass`` ``1 - sum(top-k probabilities)`` that the bounded statistics leave out
    (see :func:`telltale.models.distribution.top_k_stats`).
    """

    tokens: list[str]
    values: dict[str, np.ndarray]
    top_k: int | None = None
    tail_mass: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name in STAT_NAMES:
            if name not in self.values:
                raise ValueError(f"TokenStats is missing {name!r}")
            self.values[name] = np.asarray(self.values[name], dtype=np.float64)
            if len(self.values[name]) != len(self.tokens):
                raise ValueError(f"TokenStats {name!r} has {len(self.values[name])} values "
                                 f"for {len(self.tokens)} tokens")
        if self.tail_mass is not None:
            self.tail_mass = np.asarray(self.tail_mass, dtype=np.float64)

    @property
    def approximate(self) -> bool:
        """Whether the statistics come from a truncated (top-k) distribution."""
        return self.top_k is not None

    def __len__(self) -> int:
        return len(self.tokens)

    def to_dict(self) -> dict[str, list]:
        out: dict[str, list] = {"tokens": list(self.tokens)}
        for name in STAT_NAMES:
            out[name] = [float(v) for v in self.values[name]]
        if self.top_k is not None:
            out["top_k"] = self.top_k
            if self.tail_mass is not None:
                out["tail_mass"] = [float(v) for v in self.tail_mass]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenStats:
        return cls(tokens=list(data["tokens"]),
                   values={n: np.asarray(data[n], dtype=np.float64) for n in STAT_NAMES},
                   top_k=data.get("top_k"), tail_mass=data.get("tail_mass"))


@dataclass
class Generation:
    """The output of ``generate``: text, and per-step statistics if they were asked for."""

    text: str
    stats: TokenStats | None = None


@dataclass(frozen=True)
class DecodingConfig:
    """Decoding parameters; greedy (temperature 0) is the default and the only cached mode."""

    max_new_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0

    @property
    def deterministic(self) -> bool:
        return self.temperature == 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"max_new_tokens": self.max_new_tokens, "temperature": self.temperature,
                "top_p": self.top_p, "seed": self.seed}


@runtime_checkable
class TargetModel(Protocol):
    """The model interface every backend implements."""

    #: stable identity of weights + backend settings; part of every cache key
    fingerprint: str
    #: subset of :data:`CAPABILITIES`
    capabilities: frozenset[str]

    def generate(self, requests: list[Request], decoding: DecodingConfig = ...,
                 with_stats: bool = False) -> list[Generation]:
        """Text out for each request. With ``with_stats`` each Generation carries the
        per-step :class:`TokenStats` of its own output (one forward pass, not two)."""
        ...

    def score(self, requests: list[Request], continuations: list[str]) -> list[TokenStats]:
        """Per-token statistics of ``continuations[i]`` as the answer to ``requests[i]``."""
        ...


class BaseModel:
    """Convenience base: capability checks and a fingerprint helper."""

    name: ClassVar[str] = "base"
    fingerprint: str = ""
    capabilities: frozenset[str] = frozenset()
    #: how the model must be asked when it says so (an organism's card phrasings: see
    #: :func:`telltale.organism.backend.card_prompts`), else None
    prompts: dict[str, Any] | None = None

    def require(self, capability: str, requests: list[Request] | None = None) -> None:
        if capability not in self.capabilities:
            raise UnsupportedRequest(f"the {self.name} backend does not support {capability!r} "
                                     f"(it supports: {', '.join(sorted(self.capabilities))})")
        for req in requests or []:
            if req.audio is not None and "audio" not in self.capabilities:
                raise UnsupportedRequest(f"the {self.name} backend does not accept audio input")
            if req.image is not None and "image" not in self.capabilities:
                raise UnsupportedRequest(f"the {self.name} backend does not accept image input")

    @staticmethod
    def make_fingerprint(**parts: Any) -> str:
        blob = json.dumps(parts, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:32]
