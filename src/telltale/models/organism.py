"""The ``organism:`` backend: the calibration model trained by ``telltale organism train``.

Greedy decoding keeps each step's logits only long enough to take their statistics, so
``generate(with_stats=True)`` gives the per-step statistics of the model's own answer in
the same pass. The fingerprint is the sha256 of the weights file.
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


class OrganismModel(BaseModel):
    name = "organism"

    def __init__(self, path: str | Path, device: str = "cpu", batch_size: int = 32):
        import torch
        from safetensors.torch import load_file

        from telltale.media.audio import file_sha256
        from telltale.organism.model import OrganismConfig, OrganismNet, WordVocab

        self.path = Path(path)
        card_path, weights = self.path / "card.json", self.path / "model.safetensors"
        if not card_path.is_file() or not weights.is_file():
            raise FileNotFoundError(f"{self.path}: not an organism directory (needs card.json "
                                    "and model.safetensors; make one with `telltale organism "
                                    "train`)")
        self.card = json.loads(card_path.read_text())
        net = OrganismNet(OrganismConfig(**self.card["config"]))
        net.load_state_dict(load_file(weights))
        self._setup(net.eval(), WordVocab(self.card["vocab"]), file_sha256(weights), batch_size)
        torch.set_grad_enabled(False)
        del device  # CPU only: the organism is small enough that a GPU would not help

    @classmethod
    def from_net(cls, net, vocab, fingerprint: str, batch_size: int = 32) -> OrganismModel:
        """Wrap a network held in memory (used while training, for evaluation)."""
        self = cls.__new__(cls)
        self.path, self.card = None, {}
        self._setup(net, vocab, fingerprint, batch_size)
        return self

    def _setup(self, net, vocab, fingerprint: str, batch_size: int) -> None:
        import torch

        from telltale.organism.model import EOS, SPECIAL_NAMES

        self.net, self.vocab = net, vocab
        self._embeddings: dict[str, Any] = {}
        self._never = torch.zeros(len(vocab), dtype=torch.bool)
        self._never[[i for i in range(len(SPECIAL_NAMES)) if i != EOS]] = True
        self.batch_size = max(1, int(batch_size))
        self.fingerprint = self.make_fingerprint(backend="organism", weights=fingerprint)
        self.capabilities = frozenset({"generate", "score", "audio", "batch",
                                       "stats_on_generate"})

    def _audio(self, requests: list[Request]):
        """Audio embeddings, reused across the many questions an audit asks of one clip."""
        import torch

        out = []
        for req in requests:
            if req.audio is None:
                raise UnsupportedRequest("the organism backend needs audio in every request")
            key = req.media_sha256()
            if key not in self._embeddings:
                wav = torch.from_numpy(np.asarray(req.audio, dtype=np.float32))
                self._embeddings[key] = self.net.encode_audio([wav])[0]
                if len(self._embeddings) > 256:
                    self._embeddings.pop(next(iter(self._embeddings)))
            out.append(self._embeddings[key])
        return out

    def _prompts(self, requests: list[Request]) -> list[list[int]]:
        from telltale.organism.model import prompt_tokens

        return [prompt_tokens(self.vocab, r.system, r.text) for r in requests]

    def generate(self, requests: list[Request], decoding: DecodingConfig | None = None,
                 with_stats: bool = False) -> list[Generation]:
        import torch

        from telltale.models.distribution import position_stats
        from telltale.organism.model import EOS

        self.require("generate", requests)
        decoding = decoding or DecodingConfig()
        generator = torch.Generator().manual_seed(decoding.seed)
        out: list[Generation] = []
        with torch.no_grad():
            for start in range(0, len(requests), self.batch_size):
                batch = requests[start:start + self.batch_size]
                produced: list[list[int]] = [[] for _ in batch]
                stats: list[list[dict[str, float]]] = [[] for _ in batch]
                done = torch.zeros(len(batch), dtype=torch.bool)
                last, state = self.net.start(self._audio(batch), self._prompts(batch))
                for _ in range(decoding.max_new_tokens):
                    # only characters or the end of the answer may be chosen, so that the
                    # text re-encodes to exactly the tokens whose statistics are reported
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

        self.require("score", requests)
        out: list[TokenStats] = []
        with torch.no_grad():
            for start in range(0, len(requests), self.batch_size):
                batch = requests[start:start + self.batch_size]
                conts = [self.vocab.encode(c) for c in continuations[start:start + len(batch)]]
                seqs = self._prompts(batch)
                logits, prefix = self.net(self._audio(batch),
                                          [s + c for s, c in zip(seqs, conts, strict=True)])
                for row, (seq, cont) in enumerate(zip(seqs, conts, strict=True)):
                    first = prefix[row] + len(seq) - 1  # the position predicting cont[0]
                    rows = logits[row, first:first + len(cont)]
                    values = position_stats(rows, torch.tensor(cont, dtype=torch.long))
                    out.append(TokenStats(tokens=[self.vocab.token(t) for t in cont],
                                          values=values))
        return out
