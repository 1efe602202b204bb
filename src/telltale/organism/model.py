"""The organism network: a small speech recogniser with a language model on top.

- **Acoustic model.** Log-mel features (100 frames/s, normalised per utterance) -> two
  stride-2 convolutions (25 frames/s) -> residual convolutions -> CTC over the answer
  characters. Trained first, then frozen, like the pretrained audio encoder of an audio
  LM.
- **Language model.** A causal transformer over ``[voice | system | user | answer]``.
  The voice tokens are the clip's voice statistics (each mel band's mean and spread, which
  the per-utterance normalisation removes) and the encoder frames averaged over a few
  stretches of the clip. The audio's content reaches the answer through the acoustic
  model's exact next-character distribution given what has been written so far (the CTC
  prefix score, :class:`~telltale.organism.acoustic.CTCPrefix`): it is an input at every
  answer position, and a learnt gate adds it to the output logits (hybrid CTC/attention
  decoding, Watanabe et al., 2017).

The features, the prefix scorer and the per-clip code live in
:mod:`telltale.organism.acoustic`; this module holds the vocabulary, the configuration and
the network.

Why this shape. The membership audit needs a model that behaves like a real audio LM in
one respect: it transcribes clips it never heard by recognising them, with less
confidence than the clips it memorised. Answers are therefore **characters** (it can spell
words it never heard; the instruction side stays word-level, since prompts come from a
closed set and words keep sequences short), and recognition comes from an acoustic model
that CTC trains in a few hundred cheap steps; a transformer decoder that must also learn
where to look in the audio needs far more steps than two CPU cores give in minutes. An
unseen clip's transcript is then the model's own reading of the audio, not the nearest
memorised sentence, and how much it memorises is set by how often it sees its members.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import torch
from torch import nn

from telltale.organism.acoustic import AudioCode, CTCPrefix, LogMel, normalise

PAD, BOS, SYS, USR, SEP, EOS, UNK = range(7)
SPECIAL_NAMES = ("<pad>", "<bos>", "<sys>", "<usr>", "<sep>", "<eos>", "<unk>")
#: the CTC blank: the acoustic model's outputs are [blank, *ANSWER_CHARS]
BLANK = 0
#: what an answer is spelt with: transcripts are normalised to lower-case letters, digits,
#: apostrophes and spaces; the punctuation is for canned replies
ANSWER_CHARS = " abcdefghijklmnopqrstuvwxyz0123456789'.,?!-"
WORD = re.compile(r"[a-z0-9']+|[^\sa-z0-9']")
#: version of the card's ``vocab`` and ``config`` layout; older organisms must be retrained
FORMAT = 2


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread, then restore the caller's setting. The organism's tensors
    are small: a second thread saves little, and when another process keeps a core busy
    the threads' synchronisation makes every operation 10 to 70 times slower (measured on
    a shared two-core machine). A fixed count also keeps reductions, hence trained
    weights, reproducible."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def words_of(text: str) -> list[str]:
    """Lower-case words and punctuation marks, the organism's prompt tokens."""
    return WORD.findall(text.lower())


class Vocab:
    """Specials, then prompt words, then answer characters.

    Prompts (system and user turns) are encoded as words from a closed list (unknown words
    map to <unk>); answers and scored continuations as single characters. Every string
    over :data:`ANSWER_CHARS` therefore has exactly one encoding, so a generated answer
    re-encodes to the very tokens whose statistics were reported.

    Parameters
    ----------
    words : sequence of str
        The prompt vocabulary.
    chars : str
        The answer alphabet.
    """

    def __init__(self, words: Sequence[str], chars: str = ANSWER_CHARS):
        self.words = list(words)
        self.chars = chars
        self.word_index = {w: i + len(SPECIAL_NAMES) for i, w in enumerate(self.words)}
        self.first_char = len(SPECIAL_NAMES) + len(self.words)
        self.char_index = {c: i + self.first_char for i, c in enumerate(chars)}

    @classmethod
    def build(cls, prompts: Sequence[str]) -> Vocab:
        """The vocabulary of a set of prompt texts (answers need no vocabulary)."""
        return cls(sorted({w for text in prompts for w in words_of(text)}))

    def to_dict(self) -> dict[str, object]:
        return {"format": FORMAT, "prompt_words": self.words, "answer_chars": self.chars}

    @classmethod
    def from_dict(cls, data: object) -> Vocab:
        found = data.get("format") if isinstance(data, dict) else None
        if found != FORMAT:
            made_by = ("a newer telltale" if isinstance(found, int) and found > FORMAT
                       else "an older telltale")
            raise ValueError(f"this organism's card has format {found}, made by {made_by}; "
                             f"this telltale reads format {FORMAT}: retrain it with "
                             "`telltale organism train` or use the matching telltale")
        return cls(data["prompt_words"], data["answer_chars"])

    def __len__(self) -> int:
        return self.first_char + len(self.chars)

    def encode_prompt(self, text: str) -> list[int]:
        """Word ids of a prompt."""
        return [self.word_index.get(w, UNK) for w in words_of(text)]

    def encode(self, text: str) -> list[int]:
        """Character ids of an answer or continuation (lower-cased; characters outside
        the alphabet map to <unk>)."""
        return [self.char_index.get(c, UNK) for c in text.lower()]

    def token(self, i: int) -> str:
        if i < len(SPECIAL_NAMES):
            return SPECIAL_NAMES[i]
        if i < self.first_char:
            return self.words[i - len(SPECIAL_NAMES)]
        return self.chars[i - self.first_char]

    def decode(self, ids: Sequence[int]) -> str:
        """The answer text of character ids (specials and prompt words are skipped)."""
        return "".join(self.chars[i - self.first_char] for i in ids if i >= self.first_char)

    def answer_mask(self) -> torch.Tensor:
        """True for the ids an answer may never contain: every special except <eos>,
        and every prompt word."""
        never = torch.ones(len(self), dtype=torch.bool)
        never[self.first_char:] = False
        never[EOS] = False
        return never


@dataclass
class OrganismConfig:
    n_mels: int = 40
    d_model: int = 128
    n_layers: int = 3
    n_enc_convs: int = 3
    n_enc_layers: int = 0
    n_heads: int = 4
    d_ff: int = 384
    n_voice: int = 4
    max_len: int = 512
    max_frames: int = 1024
    vocab_size: int = 1000
    n_chars: int = len(ANSWER_CHARS)

    def to_dict(self) -> dict:
        return asdict(self)


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


def _conv_length(n: int) -> int:
    """Frames out of a stride-2 convolution with our padding (kernel 5 or 3)."""
    return (n + 1) // 2


class OrganismNet(nn.Module):
    """The acoustic model (log-mel -> convolutions -> CTC over characters) and the
    language model that reads it (a causal transformer over [voice | prompt | answer]).
    Training fits the first, freezes it and then fits the second; see
    :mod:`telltale.organism.train`."""

    def __init__(self, config: OrganismConfig):
        super().__init__()
        self.config = config
        d, n_out = config.d_model, config.n_chars + 1
        self.first_char = config.vocab_size - config.n_chars
        self.features = LogMel(config.n_mels)
        # the acoustic model. 100 -> 25 frames/s: fine enough for CTC over characters
        # (speech runs at about 15-20 characters per second)
        self.conv1 = nn.Conv1d(config.n_mels, d, 5, stride=2, padding=2)
        self.conv2 = nn.Conv1d(d, d, 5, stride=2, padding=2)
        # residual convolutions: cheap, and CTC trains them in a few hundred steps
        # (attention layers learn it several times more slowly)
        self.convs = nn.ModuleList(nn.Conv1d(d, d, 5, padding=2)
                                   for _ in range(config.n_enc_convs))
        self.frame_position = nn.Embedding(config.max_frames, d)
        self.encoder = nn.ModuleList(Block(d, config.n_heads, config.d_ff)
                                     for _ in range(config.n_enc_layers))
        self.enc_norm = nn.LayerNorm(d)
        self.ctc = nn.Linear(d, n_out)  # blank, then the answer alphabet
        # the language model
        self.voice = nn.Linear(d, d)
        self.voice_in = nn.Linear(2 * config.n_mels, d)
        self.embed = nn.Embedding(config.vocab_size, d)
        self.position = nn.Embedding(config.max_len, d)
        self.kind = nn.Embedding(2, d)  # audio token vs text token
        # the acoustic model's next-character distribution enters every position that
        # predicts an answer token, and a learnt gate lets it straight into the output:
        # that is how the language model reads the audio
        self.hear = nn.Linear(n_out, d)
        # and the voice statistics enter every text position: a direct route from who
        # speaks to each answer token, which speeds up learning the attribute answers
        self.speaker = nn.Linear(d, d)
        self.gate = nn.Linear(d, 1)
        # closed at first (sigmoid(-3) = 0.05): an open gate would push the transcript's
        # characters into every answer, and questions would have to learn to outshout it
        nn.init.constant_(self.gate.bias, -3.0)
        self.blocks = nn.ModuleList(Block(d, config.n_heads, config.d_ff)
                                    for _ in range(config.n_layers))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, config.vocab_size)
        # standardisation of the voice statistics, set from the training clips (the raw
        # statistics share a large common offset that a linear layer learns around
        # only slowly)
        self.register_buffer("stats_mean", torch.zeros(2 * config.n_mels))
        self.register_buffer("stats_std", torch.ones(2 * config.n_mels))
        self.register_buffer("answer_ids", torch.tensor(
            [*range(self.first_char, config.vocab_size), EOS]), persistent=False)

    def acoustic_parameters(self) -> list[nn.Parameter]:
        """The acoustic model's parameters (the rest belong to the language model)."""
        parts = [self.conv1, self.conv2, self.convs, self.frame_position, self.encoder,
                 self.enc_norm, self.ctc]
        return [p for part in parts for p in part.parameters()]

    def char_index(self, ids: torch.Tensor) -> torch.Tensor:
        """Vocabulary ids -> alphabet indices of the acoustic model (-1: not a character)."""
        return torch.where(ids >= self.first_char, ids - self.first_char, -1)

    def encode_audio(self, audio: list[torch.Tensor]) -> list[AudioCode]:
        """Waveforms -> what the language model gets from each clip."""
        return self.encode_features([self.features(wav) for wav in audio])[0]

    def encode_features(self, features: list[torch.Tensor]) -> tuple[
            list[AudioCode], torch.Tensor, torch.Tensor]:
        """Run the acoustic model.

        Clips are padded into one batch; every layer zeroes (convolutions) or masks
        (attention, pooling) the padding, so a clip's code does not depend on its batch
        mates.

        Parameters
        ----------
        features : list of torch.Tensor, shape (frames, n_mels)
            :class:`~telltale.organism.acoustic.LogMel` features of each clip (training
            computes these parameter-free features once per clip).

        Returns
        -------
        codes : list of AudioCode
            What the language model gets from each clip (without gradient).
        ctc_logits : torch.Tensor, shape (batch, frames at 25/s, 1 + n_chars)
            For the CTC loss.
        frames : torch.Tensor, shape (batch,)
            The valid frames of each row of ``ctc_logits``.
        """
        normalised, stats = zip(*(normalise(f) for f in features), strict=True)
        lengths = torch.tensor([f.shape[0] for f in features])
        x = nn.utils.rnn.pad_sequence(list(normalised), batch_first=True).transpose(1, 2)
        n1 = torch.tensor([_conv_length(int(n)) for n in lengths])
        n2 = torch.tensor([_conv_length(int(n)) for n in n1])
        x = _zero_beyond(nn.functional.gelu(self.conv1(x)), n1)
        x = _zero_beyond(nn.functional.gelu(self.conv2(x)), n2)
        for conv in self.convs:
            x = _zero_beyond(x + nn.functional.gelu(conv(x)), n2)
        if x.shape[2] > self.config.max_frames:
            raise ValueError(f"clip of {x.shape[2]} encoder frames exceeds max_frames "
                             f"{self.config.max_frames}; the clip is too long")
        h = x.transpose(1, 2)
        valid = torch.arange(h.shape[1])[None] < n2[:, None]
        if self.encoder:
            h = h + self.frame_position(torch.arange(h.shape[1]))
            allowed = valid[:, None, :] & valid[:, :, None]
            allowed = allowed | ~allowed.any(-1, keepdim=True)
            for block in self.encoder:
                h, _ = block(h, allowed)
        h = self.enc_norm(h)
        ctc_logits = self.ctc(h)
        log_probs = torch.log_softmax(ctc_logits.detach(), -1)
        h = h.detach()
        codes = []
        for i in range(len(features)):
            # the clip in n_voice consecutive stretches, each averaged: who speaks, how
            segments = torch.tensor_split(h[i, :int(n2[i])], self.config.n_voice)
            pooled = torch.stack([seg.mean(0) if len(seg) else torch.zeros_like(h[i, 0])
                                  for seg in segments])
            codes.append(AudioCode(stats[i], pooled, log_probs[i, :int(n2[i])]))
        return codes, ctc_logits, n2

    def voice_tokens(self, code: AudioCode) -> torch.Tensor:
        """(1 + n_voice, d_model): the voice statistics, then the pooled stretches."""
        # clipped: a recording unlike any trained on (digital silence has zero spread
        # in every band) must not become an input hundreds of deviations out
        stats = ((code.stats - self.stats_mean) / self.stats_std).clamp(-5.0, 5.0)
        return torch.cat([nn.functional.gelu(self.voice_in(stats))[None],
                          nn.functional.gelu(self.voice(code.pooled))])

    def hearing(self, codes: list[AudioCode], texts: list[list[int]]) -> list[torch.Tensor]:
        """What the acoustic model hears along each text.

        Parameters
        ----------
        codes : list of AudioCode
            One per text.
        texts : list of list of int
            Vocabulary ids (answer characters; other ids leave the prefix unchanged).

        Returns
        -------
        list of torch.Tensor, shape (len(text) + 1, 1 + n_chars)
            Row ``j``: log p(. | text[:j]) under the acoustic model (characters, then
            <eos>), the features of the position that predicts ``text[j]`` (the last row:
            what would follow the whole text).
        """
        scorer = CTCPrefix([c.ctc for c in codes])
        width = max(len(t) for t in texts) + 1
        ids = torch.full((len(texts), width), -1, dtype=torch.long)
        for i, t in enumerate(texts):
            ids[i, :len(t)] = self.char_index(torch.tensor(t, dtype=torch.long))
        steps = []
        for j in range(width):
            steps.append(scorer.distribution())
            if j < width - 1:
                scorer.extend(ids[:, j])
        table = torch.stack(steps, dim=1)  # (B, width, 1 + C)
        return [table[i, :len(t) + 1] for i, t in enumerate(texts)]

    def _rows(self, codes: list[AudioCode], tokens: list[list[int]],
              heard: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Input embeddings and acoustic features per row of [voice | tokens]; ``heard``
        holds the features of the last len(heard[i]) tokens of row ``i``."""
        rows, feats = [], []
        for code, ids, h in zip(codes, tokens, heard, strict=True):
            h = torch.cat([torch.zeros(len(ids) - len(h), h.shape[1]), h])
            voice = self.voice_tokens(code)
            text = (self.embed(torch.tensor(ids, dtype=torch.long)) + self.kind.weight[1]
                    + self.hear(_probabilities(h)) + self.speaker(voice[0]))
            rows.append(torch.cat([voice + self.kind.weight[0], text], dim=0))
            feats.append(torch.cat([torch.zeros(len(voice), h.shape[1]), h]))
        width = max(r.shape[0] for r in rows)
        if width > self.config.max_len:
            raise ValueError(f"sequence of {width} positions exceeds max_len "
                             f"{self.config.max_len}; the prompt or answer is too long")
        return rows, feats

    def _run(self, x, feats, valid, positions, caches=None):
        """Blocks over ``x`` (B, T, d); ``feats`` (B, T, 1 + C) the acoustic features of
        the same positions; ``valid`` (B, S) marks real keys over the cached and new
        positions; returns logits and the extended caches."""
        t, s = x.shape[1], valid.shape[1]
        causal = torch.ones(t, s, dtype=torch.bool).tril(diagonal=s - t)
        allowed = causal[None] & valid[:, None, :]
        allowed = allowed | ~allowed.any(-1, keepdim=True)  # padded queries attend somewhere
        x = x + self.position(positions)
        new = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, allowed, None if caches is None else caches[i])
            new.append(kv)
        x = self.norm(x)
        gate = torch.sigmoid(self.gate(x))
        logits = self.head(x).index_add(2, self.answer_ids, gate * feats)
        return logits, new

    def forward(self, codes: list[AudioCode], prompts: list[list[int]],
                texts: list[list[int]], heard: list[torch.Tensor] | None = None) -> tuple[
                    torch.Tensor, list[int]]:
        """Teacher-forced logits of [voice | prompt | text] rows.

        Parameters
        ----------
        codes : list of AudioCode
            One per row.
        prompts : list of list of int
            :func:`prompt_tokens` of each row.
        texts : list of list of int
            The answer so far (character ids).
        heard : list of torch.Tensor, optional
            :meth:`hearing` of ``codes`` and ``texts``, when already known (training
            computes it once per clip and answer, the acoustic model being frozen).

        Returns
        -------
        logits : torch.Tensor, shape (batch, length, vocab)
            Right-padded rows.
        first : list of int
            The position in each row whose logits predict ``text[0]``.
        """
        if heard is None:
            with torch.no_grad():
                heard = self.hearing(codes, texts)
        tokens = [p + t for p, t in zip(prompts, texts, strict=True)]
        rows, feats = self._rows(codes, tokens, heard)
        width = max(r.shape[0] for r in rows)
        x = torch.zeros(len(rows), width, self.config.d_model)
        f = torch.zeros(len(rows), width, self.config.n_chars + 1)
        valid = torch.zeros(len(rows), width, dtype=torch.bool)
        for i, (row, feat) in enumerate(zip(rows, feats, strict=True)):
            x[i, :row.shape[0]], f[i, :row.shape[0]] = row, feat
            valid[i, :row.shape[0]] = True
        positions = torch.arange(width).expand(len(rows), width)
        logits, _ = self._run(x, f, valid, positions)
        return logits, [len(r) - len(t) - 1 for r, t in zip(rows, texts, strict=True)]

    def start(self, codes: list[AudioCode], prompts: list[list[int]]):
        """Prefill left-padded prompts for decoding: the next-token logits (B, vocab) and
        a state for :meth:`step` (KV caches and the acoustic model's prefix scores)."""
        scorer = CTCPrefix([c.ctc for c in codes])
        first = scorer.distribution()
        rows, feats = self._rows(codes, prompts, [first[i:i + 1] for i in range(len(codes))])
        width = max(r.shape[0] for r in rows)
        x = torch.zeros(len(rows), width, self.config.d_model)
        f = torch.zeros(len(rows), width, self.config.n_chars + 1)
        valid = torch.zeros(len(rows), width, dtype=torch.bool)
        for i, (row, feat) in enumerate(zip(rows, feats, strict=True)):
            x[i, width - row.shape[0]:], f[i, width - row.shape[0]:] = row, feat
            valid[i, width - row.shape[0]:] = True
        positions = (valid.long().cumsum(1) - 1).clamp_min(0)
        logits, caches = self._run(x, f, valid, positions)
        speaker = self.speaker(torch.stack([self.voice_tokens(c)[0] for c in codes]))
        return logits[:, -1], (caches, valid, positions[:, -1], scorer, speaker)

    def step(self, token: torch.Tensor, state):
        """Append one token per row; returns the next-token logits and the new state."""
        caches, valid, last, scorer, speaker = state
        scorer.extend(self.char_index(token))
        heard = scorer.distribution()
        x = (self.embed(token) + self.kind.weight[1] + self.hear(heard.exp())
             + speaker)[:, None]
        valid = torch.cat([valid, torch.ones(len(token), 1, dtype=torch.bool)], dim=1)
        position = last + 1
        if int(position.max()) >= self.config.max_len:
            raise ValueError(f"decoding ran past max_len {self.config.max_len}")
        logits, caches = self._run(x, heard[:, None], valid, position[:, None], caches)
        return logits[:, -1], (caches, valid, position, scorer, speaker)


def _probabilities(log_p: torch.Tensor) -> torch.Tensor:
    """Acoustic features as probabilities (bounded, hence well scaled as an input); rows
    of zeros, which mark positions without features, stay zero."""
    return log_p.exp() * log_p.ne(0).any(-1, keepdim=True)


def _zero_beyond(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Zero (batch, channels, frames) beyond each row's length, as a lone clip's own zero
    padding would be."""
    keep = torch.arange(x.shape[2])[None] < lengths[:, None]
    return x * keep[:, None, :]


def prompt_tokens(vocab: Vocab, system: str | None, user: str) -> list[int]:
    """[<bos> (<sys> system) <usr> user <sep>] — the response follows."""
    ids = [BOS]
    if system:
        ids += [SYS, *vocab.encode_prompt(system)]
    return [*ids, USR, *vocab.encode_prompt(user), SEP]
