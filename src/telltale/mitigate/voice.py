"""Voice defences: signal-processing anonymisation applied to a clip before any model hears it.

Three families, each seeded per utterance and recording what it drew:

- ``mcadams``: the McAdams-coefficient anonymisation (Patino, Tomashenko, Todisco, Nautsch
  and Evans, 2021, "Speaker anonymisation using the McAdams coefficient", Interspeech),
  the signal-processing baseline B2 of the VoicePrivacy 2022 and 2024 Challenges. Per
  frame of 20 ms with a 10 ms shift, an LPC model of order 20 is fitted; the angle ``phi``
  of every complex pole is moved to ``phi ** alpha``, which shifts the formants (the
  vocal-tract resonances that carry much of a voice's identity) while the LPC residual
  keeps the excitation, so the words stay; frames are resynthesised and overlap-added.
  The challenge draws ``alpha`` per utterance uniformly from [0.5, 0.9] (its evaluation
  plan and configuration, ``mc_coeff_min`` / ``mc_coeff_max``); ``mcadams:A`` fixes it
  (0.8 was the 2020 challenge's fixed value).
- ``pitch``: a pitch shift by ``N`` semitones without a change of tempo (sox's ``pitch``
  effect, a WSOLA time stretch and resampling); the sign is drawn per utterance, so the
  defended voices do not all move one way.
- ``tts``: the transcript spoken again by another TTS voice (the membership audit's
  resynthesis condition, :func:`telltale.corpus.tts.resynthesize`), which keeps the words
  and replaces the whole voice.
"""

from __future__ import annotations

import random
import subprocess
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from telltale.media.audio import TARGET_RATE

#: McAdams B2 parameters (VoicePrivacy 2024 evaluation plan, baseline B2)
MCADAMS_FRAME_MS = 20
MCADAMS_SHIFT_MS = 10
MCADAMS_ORDER = 20
MCADAMS_ALPHA_RANGE = (0.5, 0.9)
#: the default pitch-shift magnitude in semitones (about a third of an octave)
PITCH_SEMITONES = 4.0
KINDS = ("mcadams", "pitch", "tts")
#: a frame whose energy (sum of squares) is below this is left silent rather than modelled
_SILENT_FRAME = 1e-10


class DefenceError(ValueError):
    """A clip this defence cannot process (too short, silent, no transcript)."""


def mcadams(audio: np.ndarray, alpha: float, rate: int = TARGET_RATE,
            frame_ms: float = MCADAMS_FRAME_MS, shift_ms: float = MCADAMS_SHIFT_MS,
            order: int = MCADAMS_ORDER) -> np.ndarray:
    """McAdams-coefficient anonymisation of one clip.

    Parameters
    ----------
    audio : np.ndarray, shape (n,)
        Mono float signal.
    alpha : float
        The McAdams coefficient (> 0): each complex LPC pole angle ``phi`` (radians, in
        (0, pi)) becomes ``phi ** alpha``, capped below pi; 1 leaves the voice unchanged.
    rate : int
        Sampling rate of ``audio`` in Hz.
    frame_ms, shift_ms : float
        Frame length and shift; 50% overlap keeps the overlap-add exact.
    order : int
        LPC order.

    Returns
    -------
    np.ndarray, shape (n,), float32
        The anonymised clip, scaled to the original's peak.

    Raises
    ------
    DefenceError
        A clip shorter than one frame, or one without any non-silent frame.
    """
    from scipy.linalg import solve_toeplitz
    from scipy.signal import get_window, lfilter

    x = np.asarray(audio, dtype=np.float64).ravel()
    frame = round(rate * frame_ms / 1000)
    shift = round(rate * shift_ms / 1000)
    if alpha <= 0:
        raise ValueError(f"the McAdams coefficient must be positive, got {alpha}")
    if x.size < frame:
        raise DefenceError(f"clip of {x.size} samples ({x.size / rate * 1000:.1f} ms) is "
                           f"shorter than one {frame_ms:g} ms LPC frame")
    # square-root periodic Hann for analysis and synthesis: their product, a Hann window,
    # sums to one at 50% overlap, so an unmodified frame (alpha 1) is rebuilt exactly
    window = np.sqrt(get_window("hann", frame, fftbins=True))
    # padded by a frame less a shift at the start, and to whole frames at the end, so that
    # every sample of the clip lies under two overlapping windows
    lead = frame - shift
    n_frames = 1 + int(np.ceil((lead + x.size - frame) / shift)) + 1
    padded = np.zeros((n_frames - 1) * shift + frame)
    padded[lead:lead + x.size] = x
    out = np.zeros_like(padded)
    modelled = 0
    for start in range(0, padded.size - frame + 1, shift):
        segment = padded[start:start + frame] * window
        autocorr = np.correlate(segment, segment, "full")[frame - 1:frame + order]
        if autocorr[0] < _SILENT_FRAME:
            continue
        # autocorrelation-method LPC (Yule-Walker equations); a tiny ridge keeps the Toeplitz
        # system solvable on frames with almost no spectral content
        autocorr[0] *= 1 + 1e-9
        coefs = np.concatenate(([1.0], -solve_toeplitz(autocorr[:order], autocorr[1:])))
        residual = lfilter(coefs, [1.0], segment)
        poles = np.roots(coefs)
        complex_poles = np.abs(poles.imag) > 1e-12
        angles = np.angle(poles[complex_poles])
        # the conjugate pairs stay pairs: the sign of the angle is kept, its size warped
        warped = np.sign(angles) * np.minimum(np.abs(angles) ** alpha, np.pi - 1e-6)
        poles[complex_poles] = np.abs(poles[complex_poles]) * np.exp(1j * warped)
        new_coefs = np.real(np.poly(poles))
        out[start:start + frame] += lfilter([1.0], new_coefs, residual) * window
        modelled += 1
    if modelled == 0:
        raise DefenceError("clip is silent: no frame above the silence floor to anonymise")
    out = out[lead:lead + x.size]
    peak_in, peak_out = np.max(np.abs(x)), np.max(np.abs(out))
    if peak_out > 0:
        out *= peak_in / peak_out
    return out.astype(np.float32)


def pitch_shift(audio: np.ndarray, semitones: float, rate: int = TARGET_RATE) -> np.ndarray:
    """Shift the pitch by ``semitones`` keeping the duration (sox ``pitch`` effect).

    Raises
    ------
    DefenceError
        When sox is not installed or fails on the clip.
    """
    x = np.asarray(audio, dtype=np.float32).ravel()
    raw = ["-t", "raw", "-r", str(rate), "-e", "floating-point", "-b", "32", "-c", "1"]
    try:
        proc = subprocess.run(["sox", *raw, "-", *raw, "-", "pitch", f"{semitones * 100:.1f}"],
                              input=x.tobytes(), capture_output=True, timeout=120, check=False)
    except FileNotFoundError:
        raise DefenceError("sox is not installed (apt-get install sox)") from None
    if proc.returncode != 0:
        raise DefenceError(f"sox pitch failed: {proc.stderr.decode(errors='replace').strip()}")
    out = np.frombuffer(proc.stdout, dtype=np.float32).copy()
    if out.size == 0:
        raise DefenceError(f"sox pitch returned no audio for a clip of {x.size} samples")
    return out


@dataclass(frozen=True)
class VoiceDefence:
    """One voice defence at one strength, as named on the command line.

    ``mcadams`` (alpha drawn per utterance from [0.5, 0.9]) or ``mcadams:A`` (alpha fixed);
    ``pitch`` (+-4 semitones, sign drawn per utterance) or ``pitch:N``; ``tts``.
    """

    spec: str

    def __post_init__(self) -> None:
        kind, _, value = self.spec.partition(":")
        if kind not in KINDS:
            raise ValueError(f"unknown voice defence {self.spec!r}; choose from "
                             "mcadams[:ALPHA], pitch[:SEMITONES], tts")
        if kind == "tts" and value:
            raise ValueError(f"defence {self.spec!r}: tts takes no strength")
        if value:
            try:
                number = float(value)
            except ValueError:
                raise ValueError(f"defence {self.spec!r}: {value!r} is not a number") from None
            if kind == "mcadams" and not 0 < number <= 2:
                raise ValueError(f"defence {self.spec!r}: alpha must be in (0, 2]")
            if kind == "pitch" and not 0 < abs(number) <= 24:
                raise ValueError(f"defence {self.spec!r}: semitones must be within +-24, not 0")

    @property
    def kind(self) -> str:
        return self.spec.partition(":")[0]

    @property
    def strength(self) -> float | None:
        value = self.spec.partition(":")[2]
        return float(value) if value else None

    def describe(self) -> str:
        """A label for tables, plots and verdicts (no parentheses: a verdict's first
        parenthesis opens its evidence)."""
        if self.kind == "mcadams":
            return (f"McAdams, alpha {self.strength:g}" if self.strength is not None else
                    "McAdams, alpha 0.5-0.9 per clip")
        if self.kind == "pitch":
            step = self.strength if self.strength is not None else PITCH_SEMITONES
            return f"pitch shift, {step:+g} semitones" if self.strength is not None \
                else f"pitch shift, +-{step:g} semitones"
        return "TTS resynthesis in another voice"

    def apply(self, audio: np.ndarray, *, key: str, seed: int, text: str | None = None,
              voice: str | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """The defended clip and the parameters drawn for it.

        ``key`` (the sample id) and ``seed`` seed every draw, so a clip is defended the
        same way on every run; ``text`` and ``voice`` (the manifest's transcript and TTS
        voice) are needed by ``tts`` only.
        """
        rng = random.Random(zlib.crc32(f"{seed}|{self.spec}|{key}".encode()))
        if self.kind == "mcadams":
            alpha = self.strength if self.strength is not None else \
                rng.uniform(*MCADAMS_ALPHA_RANGE)
            return mcadams(audio, alpha), {"alpha": round(alpha, 6)}
        if self.kind == "pitch":
            step = self.strength if self.strength is not None else \
                rng.choice((-1, 1)) * PITCH_SEMITONES
            return pitch_shift(audio, step), {"semitones": step}
        from telltale.corpus.tts import TTSError, resynthesize

        if not text:
            raise DefenceError("no transcript to resynthesise (the manifest's text is empty)")
        try:
            spoken, used = resynthesize(text, voice, seed=rng.getrandbits(31))
        except TTSError as exc:
            raise DefenceError(str(exc)) from None
        return spoken, {"voice": f"{used.engine}:{used.voice}"}
