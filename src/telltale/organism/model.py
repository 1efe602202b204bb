"""The organism network: log-mel features -> convolutional downsampling -> a causal
transformer over [audio frames | system | user | response] characters.

Small on purpose (about a million parameters): it trains in minutes on two CPU cores,
and how much it memorises is set by how long it trains.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

PAD, BOS, SYS, USR, SEP, EOS, UNK = range(7)
SPECIAL_NAMES = ("<pad>", "<bos>", "<sys>", "<usr>", "<sep>", "<eos>", "<unk>")
WORD = re.compile(r"[a-z0-9']+|[^\sa-z0-9']")


def words_of(text: str) -> list[str]:
    """Lower-case words and punctuation marks, the organism's tokens."""
    return WORD.findall(text.lower())


class WordVocab:
    """A closed word vocabulary (built from the training manifest and the prompts) plus
    the specials; unknown words map to <unk>. Word tokens keep sequences short, which is
    what lets the organism memorise in minutes on a CPU."""

    def __init__(self, words: list[str]):
        self.words = list(words)
        self.index = {w: i + len(SPECIAL_NAMES) for i, w in enumerate(self.words)}

    @classmethod
    def build(cls, texts: list[str]) -> WordVocab:
        return cls(sorted({w for text in texts for w in words_of(text)}))

    def __len__(self) -> int:
        return len(SPECIAL_NAMES) + len(self.words)

    def encode(self, text: str) -> list[int]:
        return [self.index.get(w, UNK) for w in words_of(text)]

    def token(self, i: int) -> str:
        return SPECIAL_NAMES[i] if i < len(SPECIAL_NAMES) else self.words[i - len(SPECIAL_NAMES)]

    def decode(self, ids) -> str:
        out = ""
        for i in ids:
            if i < len(SPECIAL_NAMES):
                continue
            word = self.words[i - len(SPECIAL_NAMES)]
            glue = not out or not (word[0].isalnum() or word[0] == "'")
            out += word if glue else " " + word
        return out


@dataclass
class OrganismConfig:
    n_mels: int = 40
    d_model: int = 128
    n_layers: int = 3
    n_heads: int = 4
    d_ff: int = 384
    max_len: int = 512
    vocab_size: int = 1000

    def to_dict(self) -> dict:
        return asdict(self)


class LogMel(nn.Module):
    """25 ms / 10 ms log-mel features at 16 kHz, normalised per utterance."""

    def __init__(self, n_mels: int = 40, rate: int = 16000, n_fft: int = 400, hop: int = 160):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.register_buffer("filters", torch.tensor(_mel_filters(n_mels, n_fft, rate)),
                             persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """audio (samples,) -> features (frames, n_mels)."""
        spec = torch.stft(audio, self.n_fft, self.hop, window=self.window, return_complex=True)
        power = spec.abs() ** 2
        mel = torch.log(self.filters @ power + 1e-6).T
        return (mel - mel.mean(0)) / (mel.std(0) + 1e-3)


def _mel_filters(n_mels: int, n_fft: int, rate: int) -> np.ndarray:
    """Triangular filters on the HTK mel scale (Young et al., The HTK Book)."""
    def mel(f):
        return 2595 * np.log10(1 + f / 700)

    def hz(m):
        return 700 * (10 ** (m / 2595) - 1)

    edges = hz(np.linspace(mel(60), mel(rate / 2 - 200), n_mels + 2))
    freqs = np.linspace(0, rate / 2, n_fft // 2 + 1)
    filters = np.zeros((n_mels, freqs.size), dtype=np.float32)
    for i in range(n_mels):
        lo, mid, hi = edges[i:i + 3]
        filters[i] = np.clip(np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)), 0,
                             None)
    return filters


class Block(nn.Module):
    """A pre-norm transformer block whose attention can extend a key/value cache, so that
    greedy decoding costs one position per step instead of the whole sequence."""

    def __init__(self, d: int, heads: int, d_ff: int):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, d_ff), nn.GELU(), nn.Linear(d_ff, d))

    def forward(self, x: torch.Tensor, allowed: torch.Tensor,
                cache: tuple[torch.Tensor, torch.Tensor] | None = None):
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.heads, d // self.heads).unbind(2)
        q, k, v = (z.transpose(1, 2) for z in (q, k, v))
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
        attended = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=allowed[:, None])
        x = x + self.proj(attended.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.norm2(x)), (k, v)


class OrganismNet(nn.Module):
    def __init__(self, config: OrganismConfig):
        super().__init__()
        self.config = config
        d = config.d_model
        self.features = LogMel(config.n_mels)
        # three stride-2 convolutions: 100 -> 12.5 frames per second
        self.audio_in = nn.Sequential(
            nn.Conv1d(config.n_mels, d, 5, stride=2, padding=2), nn.GELU(),
            nn.Conv1d(d, d, 5, stride=2, padding=2), nn.GELU(),
            nn.Conv1d(d, d, 5, stride=2, padding=2), nn.GELU())
        self.embed = nn.Embedding(config.vocab_size, d)
        self.position = nn.Embedding(config.max_len, d)
        self.kind = nn.Embedding(2, d)  # audio frame vs text token
        # the clip's mean embedding is added to every text position: a direct route from
        # "which voice, which recording" to every answer token, which speeds up learning
        self.pool = nn.Linear(d, d)
        self.blocks = nn.ModuleList(Block(d, config.n_heads, config.d_ff)
                                    for _ in range(config.n_layers))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, config.vocab_size)

    def encode_audio(self, audio: list[torch.Tensor]) -> list[torch.Tensor]:
        """Each waveform -> (frames, d_model) audio embeddings."""
        return self.encode_features([self.features(wav) for wav in audio])

    def encode_features(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        """Log-mel features (frames, n_mels) -> audio embeddings; training computes the
        parameter-free features once per clip and calls this directly."""
        return [self.audio_in(f.T[None])[0].T for f in features]

    def _rows(self, audio_emb, tokens) -> list[torch.Tensor]:
        rows = []
        for emb, ids in zip(audio_emb, tokens, strict=True):
            text = (self.embed(torch.tensor(ids, dtype=torch.long)) + self.kind.weight[1]
                    + self.pool(emb.mean(0)))
            rows.append(torch.cat([emb + self.kind.weight[0], text], dim=0))
        width = max(r.shape[0] for r in rows)
        if width > self.config.max_len:
            raise ValueError(f"sequence of {width} positions exceeds max_len "
                             f"{self.config.max_len}; the clip or prompt is too long")
        return rows

    def _run(self, x, valid, positions, caches=None):
        """Blocks over ``x`` (B, T, d); ``valid`` (B, S) marks real keys over the cached
        and new positions; returns logits and the extended caches."""
        t, s = x.shape[1], valid.shape[1]
        causal = torch.ones(t, s, dtype=torch.bool).tril(diagonal=s - t)
        allowed = causal[None] & valid[:, None, :]
        allowed = allowed | ~allowed.any(-1, keepdim=True)  # padded queries attend somewhere
        x = x + self.position(positions)
        new = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, allowed, None if caches is None else caches[i])
            new.append(kv)
        return self.head(self.norm(x)), new

    def forward(self, audio_emb: list[torch.Tensor], tokens: list[list[int]]) -> tuple[
            torch.Tensor, list[int]]:
        """Logits (batch, length, vocab) for right-padded [audio | tokens] sequences, and
        the audio prefix length of each row."""
        rows = self._rows(audio_emb, tokens)
        width = max(r.shape[0] for r in rows)
        x = torch.zeros(len(rows), width, self.config.d_model)
        valid = torch.zeros(len(rows), width, dtype=torch.bool)
        for i, row in enumerate(rows):
            x[i, :row.shape[0]] = row
            valid[i, :row.shape[0]] = True
        positions = torch.arange(width).expand(len(rows), width)
        logits, _ = self._run(x, valid, positions)
        return logits, [e.shape[0] for e in audio_emb]

    def start(self, audio_emb: list[torch.Tensor], tokens: list[list[int]]):
        """Prefill left-padded prompts for decoding: the next-token logits (B, vocab) and
        a state for :meth:`step`."""
        rows = self._rows(audio_emb, tokens)
        width = max(r.shape[0] for r in rows)
        x = torch.zeros(len(rows), width, self.config.d_model)
        valid = torch.zeros(len(rows), width, dtype=torch.bool)
        for i, row in enumerate(rows):
            x[i, width - row.shape[0]:] = row
            valid[i, width - row.shape[0]:] = True
        positions = (valid.long().cumsum(1) - 1).clamp_min(0)
        logits, caches = self._run(x, valid, positions)
        pooled = torch.stack([self.pool(e.mean(0)) for e in audio_emb])
        return logits[:, -1], (caches, valid, positions[:, -1], pooled)

    def step(self, token: torch.Tensor, state):
        """Append one token per row; returns the next-token logits and the new state."""
        caches, valid, last, pooled = state
        x = (self.embed(token) + self.kind.weight[1] + pooled)[:, None]
        valid = torch.cat([valid, torch.ones(len(token), 1, dtype=torch.bool)], dim=1)
        position = last + 1
        if int(position.max()) >= self.config.max_len:
            raise ValueError(f"decoding ran past max_len {self.config.max_len}")
        logits, caches = self._run(x, valid, position[:, None], caches)
        return logits[:, -1], (caches, valid, position, pooled)


def prompt_tokens(vocab: WordVocab, system: str | None, user: str) -> list[int]:
    """[<bos> (<sys> system) <usr> user <sep>] — the response follows."""
    ids = [BOS]
    if system:
        ids += [SYS, *vocab.encode(system)]
    return [*ids, USR, *vocab.encode(user), SEP]
