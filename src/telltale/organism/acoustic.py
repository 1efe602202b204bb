"""The organism's acoustic side: what its acoustic model reads and what the language
model gets back from it.

- :class:`LogMel` and :func:`normalise`: log-mel features (100 frames/s), normalised per
  utterance, with the voice statistics that normalising removes kept aside.
- :class:`CTCPrefix`: the CTC acoustic model's exact next-character distribution given
  what has been written so far (the prefix score of hybrid CTC/attention decoding).
- :class:`AudioCode`: what the frozen acoustic model hands the language model per clip.

The networks themselves (the convolutional CTC model and the language model over it) are
:class:`telltale.organism.model.OrganismNet`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


class LogMel(nn.Module):
    """25 ms / 10 ms log-mel features at 16 kHz (normalised per utterance by
    :func:`normalise`, after the voice statistics are taken)."""

    def __init__(self, n_mels: int = 40, rate: int = 16000, n_fft: int = 400, hop: int = 160):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.register_buffer("filters", torch.tensor(_mel_filters(n_mels, n_fft, rate)),
                             persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """audio (samples,) -> features (frames, n_mels). A clip shorter than one analysis
        window (empty included) is padded with silence to one frame."""
        if audio.numel() < self.n_fft:
            audio = nn.functional.pad(audio, (0, self.n_fft - audio.numel()))
        spec = torch.stft(audio, self.n_fft, self.hop, window=self.window, return_complex=True)
        power = spec.abs() ** 2
        return torch.log(self.filters @ power + 1e-6).T


def normalise(mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalise log-mel features per utterance, keeping what normalising removes.

    Parameters
    ----------
    mel : torch.Tensor, shape (frames, n_mels)
        Log-mel features of one clip.

    Returns
    -------
    features : torch.Tensor, shape (frames, n_mels)
        Zero mean and unit spread per band: what the acoustic model reads, whatever the
        recording level.
    stats : torch.Tensor, shape (2 * n_mels,)
        Each band's mean and spread: the long-term spectrum, which says most about who is
        speaking (what the language model's voice token reads).
    """
    mean, std = mel.mean(0), mel.std(0) if len(mel) > 1 else torch.zeros(mel.shape[1])
    return (mel - mean) / (std + 1e-3), torch.cat([mean, std])


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


class CTCPrefix:
    """The exact next-character distribution of a CTC acoustic model, given what has
    been written so far, for a batch of clips.

    For a prefix ``h`` and a character ``c``, ``psi(h c)`` is the probability that the
    CTC model's transcript starts with ``h c``, and ``P(h)`` the probability that it is
    exactly ``h``; ``p(c | h) = psi(h c) / psi(h)`` and ``p(<eos> | h) = P(h) / psi(h)``
    sum to one (the prefix score of Watanabe et al., 2017, "Hybrid CTC/Attention
    Architecture for End-to-End Speech Recognition"). The forward variables of ``h`` are
    kept per frame, and extending ``h`` by one character is a linear recurrence over
    frames, solved at once with cumulative log-sum-exps instead of a loop. The
    distributions handed out are floored at :attr:`LOG_P_MIN` (so they sum to one only up
    to the mass the floor adds to characters the acoustic model rules out).

    Parameters
    ----------
    log_probs : list of torch.Tensor
        Per clip, CTC log-probabilities (frames, 1 + n_chars), blank first.
    """

    #: floor of a log-probability: keeps padded frames and impossible paths finite, so
    #: that differences of cumulative sums never meet inf - inf
    FLOOR = -1e4
    #: floor of the distributions handed out: what the acoustic model rules out stays
    #: unlikely without swamping the language model's own logits
    LOG_P_MIN = -30.0

    def __init__(self, log_probs: list[torch.Tensor]):
        lengths = torch.tensor([lp.shape[0] for lp in log_probs])
        y = nn.utils.rnn.pad_sequence([lp.double() for lp in log_probs], batch_first=True)
        y = y.clamp_min(self.FLOOR)
        beyond = torch.arange(y.shape[1])[None] >= lengths[:, None]
        # past a clip's end only blanks are possible, so P(h) carries over unchanged
        y[..., 0] = y[..., 0].masked_fill(beyond, 0.0)
        y[..., 1:] = y[..., 1:].masked_fill(beyond[..., None], self.FLOOR)
        self.y = y  # (B, T, 1 + C)
        self.p_chars = y[..., 1:].exp()
        self.cum = torch.cat([torch.zeros(len(log_probs), 1, y.shape[2], dtype=y.dtype),
                              y.cumsum(1)], dim=1)  # (B, T + 1, 1 + C), index 0: no frame
        b, t = y.shape[0], y.shape[1] + 1
        self.gn = torch.full((b, t), self.FLOOR * t, dtype=y.dtype)  # ends in a character
        self.gb = self.cum[..., 0].clone()  # ends in a blank: the empty prefix
        self.last = torch.full((b,), -1, dtype=torch.long)

    def distribution(self) -> torch.Tensor:
        """log p(next | prefix) per clip, (B, n_chars + 1): the characters, then <eos>."""
        # psi(h c) = sum_t phi[t-1] y_t(c): one batched product in the probability
        # domain, each row scaled by its largest term (float64 leaves 700 nats of room)
        phi = torch.logaddexp(self.gb, self.gn)[:, :-1]  # (B, T)
        psi = _log_dot(phi, self.p_chars)  # (B, C)
        # repeating the last character needs a blank in between
        has_last = self.last >= 0
        if bool(has_last.any()):
            col = self.last.clamp_min(0)
            p_last = self.p_chars.gather(2, col[:, None, None].expand(
                -1, self.p_chars.shape[1], 1))  # (B, T, 1)
            repeat = _log_dot(self.gb[:, :-1], p_last)[:, 0]
            psi = psi.scatter(1, col[:, None], torch.where(
                has_last, repeat, psi.gather(1, col[:, None])[:, 0])[:, None])
        end = torch.logaddexp(self.gn[:, -1], self.gb[:, -1])
        log_p = torch.log_softmax(torch.cat([psi, end[:, None]], dim=1), dim=1)
        return log_p.clamp_min(self.LOG_P_MIN).float()

    def extend(self, chars: torch.Tensor) -> None:
        """Append character ``chars[i]`` (an index into the alphabet) to prefix ``i``;
        a negative index leaves that prefix as it is (an answer that ended, or a
        character the acoustic model does not write)."""
        keep = chars < 0
        col = chars.clamp_min(0) + 1
        index = col[:, None, None].expand(-1, self.cum.shape[1], 1)
        cum_c = self.cum.gather(2, index)[..., 0]  # (B, T + 1)
        phi = torch.where((chars == self.last)[:, None], self.gb,
                          torch.logaddexp(self.gb, self.gn))
        floor = torch.full_like(cum_c[:, :1], self.FLOOR * cum_c.shape[1])
        # gn'[t] = y_t(c) + logaddexp(gn'[t-1], phi[t-1]), solved in closed form
        gn = torch.cat([floor, cum_c[:, 1:] + torch.logcumsumexp(
            phi[:, :-1] - cum_c[:, :-1], dim=1)], dim=1)
        cum_b = self.cum[..., 0]
        # gb'[t] = y_t(blank) + logaddexp(gb'[t-1], gn'[t-1])
        gb = torch.cat([floor, cum_b[:, 1:] + torch.logcumsumexp(
            gn[:, :-1] - cum_b[:, :-1], dim=1)], dim=1)
        self.gn = torch.where(keep[:, None], self.gn, gn)
        self.gb = torch.where(keep[:, None], self.gb, gb)
        self.last = torch.where(keep, self.last, chars)


@dataclass
class AudioCode:
    """What the acoustic model makes of one clip, all without gradient: the language
    model reads it as the output of a frozen, pretrained audio encoder.

    ``stats`` (2 n_mels,) are the clip's voice statistics, ``pooled`` (n_voice, d_model)
    the encoder frames averaged over consecutive stretches of the clip, and ``ctc``
    (frames, 1 + n_chars) the acoustic model's log-probabilities, blank first.
    """

    stats: torch.Tensor
    pooled: torch.Tensor
    ctc: torch.Tensor


def _log_dot(log_w: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """log sum_t exp(log_w[b, t]) p[b, t, c] -> (B, C), for log weights that may span
    hundreds of nats (a row of -inf or floor values gives a very negative result)."""
    top = log_w.max(dim=1, keepdim=True).values
    dot = torch.bmm((log_w - top).exp()[:, None, :], p)[:, 0]
    return dot.clamp_min(1e-300).log() + top
