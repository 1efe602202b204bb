"""The ``organism:`` backend: the calibration model trained by ``telltale organism train``.

Answers are spelt character by character. Greedy decoding is KV-cached; its state also
carries the acoustic model's CTC prefix scores, extended by one character a step. Each
step's logits are kept only long enough to take their statistics, so
``generate(with_stats=True)`` gives the per-step statistics of the model's own answer in
the same pass, and ``score`` of that answer gives the same statistics. The fingerprint is
the sha256 of the weights file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from telltale.models.base import (
    STAT_NAMES,
    BaseModel,
    DecodingConfig,
    Generation,
    Request,
    TokenStats,
    UnsupportedRequest,
)


def card_prompts(card: dict[str, Any]) -> dict[str, Any] | None:
    """How an organism must be asked, from its card: ``taxonomy`` (the held-out question
    phrasings of each attribute) and ``modes`` (prompt modes), as
    :func:`telltale.organism.policy.audit_prompts` gives them; None for a card without a
    policy."""
    from telltale.organism.policy import audit_prompts

    if not card.get("policy"):
        return None
    taxonomy, modes = audit_prompts(card["policy"])
    return {"taxonomy": taxonomy, "modes": modes}


class OrganismModel(BaseModel):
    """The calibration organism. ``prompts`` is how its card says it must be asked
    (:func:`card_prompts`): audits that ask it attribute questions use them, and ``telltale
    serve`` publishes them beside the model's id."""

    name = "organism"

    def __init__(self, path: str | Path, device: str = "cpu", batch_size: int = 32):
        from safetensors.torch import load_file

        from telltale.digest import file_sha256
        from telltale.organism.model import OrganismConfig, OrganismNet, Vocab

        self.path = Path(path)
        card_path, weights = self.path / "card.json", self.path / "model.safetensors"
        if not card_path.is_file() or not weights.is_file():
            raise FileNotFoundError(f"{self.path}: not an organism directory (needs card.json "
                                    "and model.safetensors; make one with `telltale organism "
                                    "train`)")
        self.card = json.loads(card_path.read_text())
        vocab = Vocab.from_dict(self.card["vocab"])  # refuses cards of older formats
        net = OrganismNet(OrganismConfig(**self.card["config"]))
        net.load_state_dict(load_file(weights))
        self._setup(net.eval(), vocab, file_sha256(weights), batch_size)
        self.prompts = card_prompts(self.card)
        del device  # CPU only: the organism is small enough that a GPU would not help

    @classmethod
    def from_net(cls, net, vocab, fingerprint: str, batch_size: int = 32) -> OrganismModel:
        """Wrap a network held in memory (used while training, for evaluation)."""
        self = cls.__new__(cls)
        self.path, self.card = None, {}
        self._setup(net, vocab, fingerprint, batch_size)
        return self

    def _setup(self, net, vocab, fingerprint: str, batch_size: int) -> None:
        self.net, self.vocab = net, vocab
        self._codes: dict[str, Any] = {}
        self._never = vocab.answer_mask()
        self.batch_size = max(1, int(batch_size))
        self.fingerprint = self.make_fingerprint(backend="organism", weights=fingerprint)
        self.capabilities = frozenset({"generate", "score", "audio", "batch",
                                       "stats_on_generate"})

    def _audio(self, requests: list[Request]):
        """Audio codes (voice statistics, pooled encoder frames and the acoustic model's
        log-probabilities), reused across the many questions an audit asks of one clip."""
        import torch

        out = []
        for req in requests:
            if req.audio is None:
                raise UnsupportedRequest("the organism backend needs audio in every request")
            key = req.media_sha256()
            if key not in self._codes:
                wav = torch.from_numpy(np.asarray(req.audio, dtype=np.float32))
                self._codes[key] = self.net.encode_audio([wav])[0]
                if len(self._codes) > 256:
                    self._codes.pop(next(iter(self._codes)))
            out.append(self._codes[key])
        return out

    def _prompts(self, requests: list[Request]) -> list[list[int]]:
        from telltale.organism.model import prompt_tokens

        return [prompt_tokens(self.vocab, r.system, r.text) for r in requests]

    def generate(self, requests: list[Request], decoding: DecodingConfig | None = None,
                 with_stats: bool = False) -> list[Generation]:
        import torch

        from telltale.models.distribution import position_stats
        from telltale.organism.model import EOS, one_thread

        self.require("generate", requests)
        decoding = decoding or DecodingConfig()
        generator = torch.Generator().manual_seed(decoding.seed)
        out: list[Generation] = []
        with torch.no_grad(), one_thread():
            for start in range(0, len(requests), self.batch_size):
                batch = requests[start:start + self.batch_size]
                produced: list[list[int]] = [[] for _ in batch]
                stats: list[list[dict[str, float]]] = [[] for _ in batch]
                done = torch.zeros(len(batch), dtype=torch.bool)
                # the state carries the KV caches and the acoustic model's prefix scores
                last, state = self.net.start(self._audio(batch), self._prompts(batch))
                for _ in range(decoding.max_new_tokens):
                    # only answer characters or the end of the answer may be chosen, so
                    # that the text re-encodes to exactly the tokens whose statistics are
                    # reported
                    allowed = last.masked_fill(self._never, float("-inf"))
                    if decoding.deterministic:
                        chosen = allowed.argmax(-1)
                    else:
                        probs = torch.softmax(allowed / decoding.temperature, -1)
                        chosen = torch.multinomial(probs, 1, generator=generator)[:, 0]
                    values = position_stats(last, chosen) if with_stats else None
                    done |= chosen == EOS
                    for row in torch.nonzero(~done).flatten().tolist():
                        produced[row].append(int(chosen[row]))
                        if values is not None:
                            stats[row].append({n: float(values[n][row]) for n in STAT_NAMES})
                    if bool(done.all()):
                        break
                    last, state = self.net.step(chosen, state)
                for i in range(len(batch)):
                    token_stats = None
                    if with_stats:
                        token_stats = TokenStats(
                            tokens=[self.vocab.token(t) for t in produced[i]],
                            values={n: [s[n] for s in stats[i]] for n in STAT_NAMES})
                    out.append(Generation(self.vocab.decode(produced[i]), token_stats))
        return out

    def score(self, requests: list[Request], continuations: list[str]) -> list[TokenStats]:
        import torch

        from telltale.models.distribution import position_stats
        from telltale.organism.model import one_thread

        self.require("score", requests)
        out: list[TokenStats] = []
        with torch.no_grad(), one_thread():
            for start in range(0, len(requests), self.batch_size):
                batch = requests[start:start + self.batch_size]
                conts = [self.vocab.encode(c) for c in continuations[start:start + len(batch)]]
                logits, first = self.net(self._audio(batch), self._prompts(batch), conts)
                for row, cont in enumerate(conts):
                    # first[row]: the position predicting cont[0]
                    rows = logits[row, first[row]:first[row] + len(cont)]
                    values = position_stats(rows, torch.tensor(cont, dtype=torch.long))
                    out.append(TokenStats(tokens=[self.vocab.token(t) for t in cont],
                                          values=values))
        return out
