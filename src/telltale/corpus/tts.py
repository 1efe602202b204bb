"""Offline text-to-speech with the Debian engines espeak-ng, flite and festival.

Each :class:`Voice` carries the labels the audits need: gender, a coarse accent class
(``american``, ``british``, ``scottish``, ``caribbean``) and a finer region. Speaking rate
and pitch are varied per call where the engine allows it; where it does not (flite's
``rms``, festival voices other than ``kal_diphone``) the pitch factor actually used is 1.0
and callers record that value.

Engine controls used here (all measured on the Debian builds, see the corpus tests):

- espeak-ng: ``-s`` words per minute (default 175), ``-p`` pitch 0-99 (default 50); the
  ``+m1``...``+f5`` variants change the voice's formants and base pitch. Voices are named
  by file (``gmw/en+f3``), because a language name with a variant can silently resolve to
  another voice (``en-gb+f3`` speaks as a male voice), and each accent's female variant is
  checked to raise the pitch before its voices are offered.
- flite: ``--setf duration_stretch=`` and ``--setf int_f0_target_mean=`` (Hz); the latter
  has no effect on the ``rms`` voice.
- festival (``text2wave``): ``Duration_Stretch`` and, for voices whose intonation is the
  linear-regression target model (``Int_Targets_LR``), the ``target_f0_mean`` of
  ``int_lr_params``, scaled from the voice's own value.
"""

from __future__ import annotations

import functools
import random
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from telltale.console import log
from telltale.media.audio import TARGET_RATE, load_audio, save_wav

ENGINES = ("espeak-ng", "flite", "festival")

# espeak-ng English language -> (accent, region), names as `espeak-ng --voices=en` lists
# them; voices are then addressed by their file (see _espeak_files)
ESPEAK_ACCENTS = {
    "en-us": ("american", "general american"),
    "en-us-nyc": ("american", "new york city"),
    "en-gb": ("british", "england"),
    "en-gb-x-rp": ("british", "received pronunciation"),
    "en-gb-x-gbclan": ("british", "lancashire"),
    "en-gb-x-gbcwmd": ("british", "west midlands"),
    "en-gb-scotland": ("scottish", "scotland"),
    "en-029": ("caribbean", "caribbean"),
}
# the plain espeak-ng voice variants; the named ones (e.g. "Storm", "whisper") are effects
ESPEAK_VARIANTS = {"male": ("m1", "m2", "m3", "m4", "m5", "m6", "m7"),
                   "female": ("f1", "f2", "f3", "f4", "f5")}
ESPEAK_RATE_WPM = 175
ESPEAK_PITCH = 50

# flite voice -> (gender, accent, region, base f0 in Hz or None where f0 cannot be set).
# "kal" (8 kHz) and "awb_time" (a limited-domain voice that only speaks times) are left out.
FLITE_VOICES = {
    "kal16": ("male", "american", "general american", 95.0),
    "slt": ("female", "american", "general american", 170.0),
    "awb": ("male", "scottish", "scotland", 130.0),
    "rms": ("male", "american", "general american", None),
}

# festival voice -> (gender, accent, region, whether its f0 follows int_lr_params); labels
# from the voices' documentation; only kal_diphone's pitch control is verified here
FESTIVAL_VOICES = {
    "kal_diphone": ("male", "american", "general american", True),
    "ked_diphone": ("male", "american", "general american", False),
    "rab_diphone": ("male", "british", "england", False),
    "don_diphone": ("male", "british", "england", False),
    "cmu_us_slt_arctic_hts": ("female", "american", "general american", False),
    "cmu_us_clb_arctic_hts": ("female", "american", "general american", False),
    "cmu_us_bdl_arctic_hts": ("male", "american", "general american", False),
    "cmu_us_rms_arctic_hts": ("male", "american", "general american", False),
    "cmu_us_awb_arctic_hts": ("male", "scottish", "scotland", False),
    "cmu_us_jmk_arctic_hts": ("male", "canadian", "canada", False),
}


class TTSError(RuntimeError):
    """A synthesis that failed; the message names the engine, the voice and the reason."""


@dataclass(frozen=True)
class Voice:
    """One TTS voice and the speaker labels it stands for.

    Attributes
    ----------
    engine : str
        ``"espeak-ng"``, ``"flite"`` or ``"festival"``.
    voice : str
        The engine's own voice name, e.g. ``"slt"``, ``"kal_diphone"``; for espeak-ng the
        voice file and variant, e.g. ``"gmw/en-GB-scotland+f3"``.
    gender : str
        ``"male"`` or ``"female"``.
    accent : str
        Coarse accent class, e.g. ``"american"``, ``"british"``, ``"scottish"``.
    region : str
        Finer region, e.g. ``"west midlands"``; empty when unknown.
    pitch_control : bool
        Whether the engine can change this voice's pitch per call.
    """

    engine: str
    voice: str
    gender: str
    accent: str
    region: str = ""
    pitch_control: bool = True

    @property
    def base(self) -> str:
        """The voice without its espeak-ng variant (``"gmw/en-US+f3"`` -> ``"gmw/en-US"``)."""
        return self.voice.split("+", 1)[0]

    def to_dict(self) -> dict[str, str | bool]:
        """The fields as a plain dict (for JSON and manifests)."""
        return asdict(self)


def _probe(cmd: list[str]) -> str:
    """stdout of a short listing command; empty when it cannot run."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                              check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


@functools.cache
def _espeak_files() -> dict[str, str]:
    """espeak-ng language name -> voice file, e.g. ``"en-gb" -> "gmw/en"``.

    Voices are addressed by file: a language name with a variant can resolve to another
    voice (``en-gb+f3`` speaks as the male ``en-uk`` fallback, silently). ``mb/`` voices
    need the separate mbrola synthesiser and are left out.
    """
    files: dict[str, str] = {}
    # columns: Pty Language Age/Gender VoiceName File [Other languages]
    for line in _probe(["espeak-ng", "--voices"]).splitlines()[1:]:
        fields = line.split()
        if len(fields) > 4 and not fields[4].startswith("mb/"):
            files.setdefault(fields[1], fields[4])
    return files


@functools.cache
def _listed(engine: str) -> tuple[frozenset[str], frozenset[str]]:
    """The voice names an engine lists as installed (espeak-ng: voice files), and
    (espeak-ng only) its variants; empty when the engine is missing."""
    if engine == "espeak-ng" and shutil.which("espeak-ng"):
        variants = {line.split()[4].removeprefix("!v/")
                    for line in _probe(["espeak-ng", "--voices=variant"]).splitlines()[1:]
                    if len(line.split()) > 4}
        return frozenset(_espeak_files().values()), frozenset(variants)
    if engine == "flite" and shutil.which("flite"):
        # "Voices available: kal awb_time kal16 awb rms slt"
        return frozenset(_probe(["flite", "-lv"]).split()[2:]), frozenset()
    if engine == "festival" and shutil.which("text2wave") and shutil.which("festival"):
        listed = _probe(["festival", "--batch", "(print (voice.list))"]).strip("()\n ")
        return frozenset(listed.split()), frozenset()
    return frozenset(), frozenset()


def _is_installed(voice: Voice) -> bool:
    """Whether the engine has this voice (and variant). espeak-ng and flite fall back to
    a default voice, exit status 0, for a name they lack, which would mislabel the clip."""
    names, variants = _listed(voice.engine)
    base, _, variant = voice.voice.partition("+")
    return base in names and (not variant or variant in variants)


@functools.cache
def _espeak_variants_apply(base: str) -> bool:
    """Whether ``base+f3`` really speaks higher than ``base+m3`` (by over 40 %): the
    gender labels of the espeak-ng voices rest on it. One short phrase each."""
    f0 = {}
    with tempfile.TemporaryDirectory(prefix="telltale-tts-") as tmp:
        for variant in ("m3", "f3"):
            out = Path(tmp) / f"{variant}.wav"
            try:
                subprocess.run(["espeak-ng", "-v", f"{base}+{variant}", "-w", str(out),
                                "--stdin"], input="Hello, how are you today?", text=True,
                               capture_output=True, timeout=30, check=True)
                f0[variant] = median_f0(load_audio(out))
            except (OSError, subprocess.SubprocessError, ValueError):
                return False
    return bool(f0["f3"] > 1.4 * f0["m3"])


def _installed(engines: tuple[str, ...]) -> list[Voice]:
    voices: list[Voice] = []
    if "espeak-ng" in engines:
        for name, (accent, region) in ESPEAK_ACCENTS.items():
            base = _espeak_files().get(name)
            if base is None:
                continue
            if not _espeak_variants_apply(base):
                log.warning("espeak-ng voice %s (%s): its female variants do not raise the "
                            "pitch; left out", name, base)
                continue
            for gender, options in ESPEAK_VARIANTS.items():
                voices.extend(Voice("espeak-ng", f"{base}+{v}", gender, accent, region)
                              for v in options)
    if "flite" in engines:
        voices.extend(Voice("flite", name, gender, accent, region, f0 is not None)
                      for name, (gender, accent, region, f0) in FLITE_VOICES.items())
    if "festival" in engines:
        voices.extend(Voice("festival", name, *labels)
                      for name, labels in FESTIVAL_VOICES.items())
    return [v for v in voices if _is_installed(v)]


def available_voices(engines: tuple[str, ...] | list[str] = ENGINES) -> list[Voice]:
    """The voices of ``engines`` that are really installed here, with their labels.

    Parameters
    ----------
    engines : sequence of str
        Engines to probe, any of ``ENGINES``.

    Returns
    -------
    list of Voice
        In a fixed order (engine, then the catalogue order above). Voices the engines list
        but this module has no labels for are left out, as are espeak-ng accents whose
        female variant does not raise the pitch. The probe runs once per process.

    Raises
    ------
    TTSError
        If an engine name is unknown.
    """
    unknown = sorted(set(engines) - set(ENGINES))
    if unknown:
        raise TTSError(f"unknown TTS engine(s) {', '.join(unknown)} "
                       f"(known: {', '.join(ENGINES)})")
    return _installed(tuple(engines))


def _command(voice: Voice, text: str, out: Path, rate: float,
             pitch: float) -> tuple[list[str], str]:
    """The engine's command line and the text to send on its stdin.

    ``rate`` is a speed factor (>1 speaks faster), ``pitch`` a factor on the voice's base
    f0; both are 1.0 for the engine's defaults. Text goes through stdin (flite: ``-t``) so
    that a sentence starting with ``-`` is never taken for an option.
    """
    if voice.engine == "espeak-ng":
        return (["espeak-ng", "-v", voice.voice, "-s", str(round(ESPEAK_RATE_WPM * rate)),
                 "-p", str(int(np.clip(round(ESPEAK_PITCH * pitch), 0, 99))),
                 "-w", str(out), "--stdin"], text)
    if voice.engine == "flite":
        cmd = ["flite", "-voice", voice.voice, "--setf", f"duration_stretch={1 / rate:.4f}"]
        base_f0 = FLITE_VOICES.get(voice.voice, (None, None, None, None))[3]
        if base_f0 is not None:
            cmd += ["--setf", f"int_f0_target_mean={base_f0 * pitch:.1f}"]
        return ([*cmd, "-t", text, "-o", str(out)], "")
    if voice.engine == "festival":
        cmd = ["text2wave", "-o", str(out), "-eval", f"(voice_{voice.voice})", "-eval",
               "(Parameter.set 'Duration_Stretch "
               f"(/ (or (Parameter.get 'Duration_Stretch) 1.0) {rate:.4f}))"]
        if voice.pitch_control:
            # an entry consed to the front of the alist shadows the voice's own value
            cmd += ["-eval", "(set! int_lr_params (cons (list 'target_f0_mean (* "
                             f"{pitch:.4f} (cadr (assoc 'target_f0_mean int_lr_params)))) "
                             "int_lr_params))"]
        return cmd, text
    raise TTSError(f"unknown TTS engine {voice.engine!r} (known: {', '.join(ENGINES)})")


def synthesize(text: str, voice: Voice, rate: float = 1.0, pitch: float = 1.0,
               out_path: str | Path | None = None, timeout: float = 60.0) -> np.ndarray:
    """Speak ``text`` with ``voice``.

    Parameters
    ----------
    text : str
        What to say (plain text).
    voice : Voice
        One of :func:`available_voices`.
    rate : float
        Speaking-rate factor, 1.0 = the engine's default, 1.2 = 20 % faster.
    pitch : float
        Factor on the voice's base pitch; ignored (the voice speaks at 1.0) when
        ``voice.pitch_control`` is false.
    out_path : str or Path, optional
        Where to also write the clip as a 16 kHz mono 16-bit WAV.
    timeout : float
        Seconds the engine may take.

    Returns
    -------
    np.ndarray
        The speech, float32, mono, 16 kHz.

    Raises
    ------
    TTSError
        Empty text, a non-positive rate or pitch, an unknown engine, an engine that is
        missing, fails, times out or writes no audio; the message names engine and voice.
    """
    if not text.strip():
        raise TTSError("nothing to say: the text is empty")
    if rate <= 0 or pitch <= 0:
        raise TTSError(f"rate and pitch must be positive (got rate={rate}, pitch={pitch})")
    who = f"{voice.engine} ({voice.voice})"
    if voice.engine in ENGINES and not _is_installed(voice):
        program = "text2wave" if voice.engine == "festival" else voice.engine
        if not shutil.which(program):
            raise TTSError(f"{who}: the program {program!r} is not installed "
                           f"(apt-get install {voice.engine})")
        raise TTSError(f"{who}: this voice is not installed (see `telltale corpus voices`)")
    with tempfile.TemporaryDirectory(prefix="telltale-tts-") as tmp:
        raw = Path(tmp) / "raw.wav"
        cmd, stdin = _command(voice, text, raw, rate, pitch)
        try:
            proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True,
                                  timeout=timeout, check=False)
        except FileNotFoundError:
            raise TTSError(f"{who}: the program {cmd[0]!r} is not installed "
                           f"(apt-get install {voice.engine})") from None
        except subprocess.TimeoutExpired:
            raise TTSError(f"{who}: timed out after {timeout:g} s") from None
        # festival reports Scheme errors (e.g. an unknown voice) on stderr with exit status 0
        failed = proc.returncode != 0 or "SIOD ERROR" in proc.stderr
        if failed or not raw.is_file() or raw.stat().st_size <= 44:
            detail = proc.stderr.strip().splitlines()[-1:] or ["no audio written"]
            raise TTSError(f"{who} failed (exit status {proc.returncode}): {detail[0]}")
        audio = load_audio(raw, TARGET_RATE)
    if out_path is not None:
        save_wav(out_path, audio)
    return audio


def median_f0(audio: np.ndarray, rate: int = TARGET_RATE, fmin: float = 70.0,
              fmax: float = 400.0) -> float:
    """Median fundamental frequency of the voiced frames, by autocorrelation.

    Frames of 40 ms every 20 ms; a frame counts as voiced when its RMS is above 10 % of
    the clip's loudest frame and its normalised autocorrelation peak in ``[fmin, fmax]``
    exceeds 0.3.

    Parameters
    ----------
    audio : np.ndarray
        Mono signal.
    rate : int
        Its sample rate in Hz.
    fmin, fmax : float
        Pitch search range in Hz.

    Returns
    -------
    float
        Median f0 in Hz, or ``nan`` when no frame is voiced.
    """
    frame, hop = int(0.04 * rate), int(0.02 * rate)
    x = np.asarray(audio, dtype=np.float64)
    if len(x) < frame:
        return float("nan")
    starts = np.arange(0, len(x) - frame + 1, hop)
    frames = x[starts[:, None] + np.arange(frame)]
    frames -= frames.mean(axis=1, keepdims=True)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    frames = frames[rms > 0.1 * rms.max()] if rms.max() > 0 else frames[:0]
    if not len(frames):
        return float("nan")
    spectrum = np.fft.rfft(frames, n=2 * frame, axis=1)
    ac = np.fft.irfft(np.abs(spectrum) ** 2, axis=1)[:, :frame]
    lo, hi = int(rate / fmax), int(rate / fmin)
    lags = lo + np.argmax(ac[:, lo:hi], axis=1)
    peak = ac[np.arange(len(ac)), lags] / np.maximum(ac[:, 0], 1e-12)
    voiced = lags[peak > 0.3]
    return float(np.median(rate / voiced)) if len(voiced) else float("nan")


def resynthesize(text: str, exclude_voice: str | None, seed: int,
                 voices: list[Voice] | None = None, rate: float = 1.0,
                 pitch: float = 1.0) -> tuple[np.ndarray, Voice]:
    """Speak ``text`` again with a seeded choice of another voice.

    This is the membership audit's TTS-resynthesis condition: the same words from a
    speaker the model cannot have heard with them.

    Parameters
    ----------
    text : str
        The transcript.
    exclude_voice : str or None
        The original clip's voice name (e.g. ``"gmw/en-US+m3"``); every variant of the
        same base voice is excluded too, since variants share the accent model.
        None for recorded speech.
    seed : int
        Picks the voice (same seed, same voice).
    voices : list of Voice, optional
        Candidates; default all installed voices.
    rate, pitch : float
        As in :func:`synthesize`.

    Returns
    -------
    (np.ndarray, Voice)
        16 kHz mono float32 speech and the voice used.

    Raises
    ------
    TTSError
        When no other voice is installed, or the synthesis fails.
    """
    excluded = exclude_voice.split("+", 1)[0] if exclude_voice else None
    pool = [v for v in (voices if voices is not None else available_voices())
            if v.base != excluded]
    if not pool:
        raise TTSError(f"no TTS voice other than {exclude_voice!r} is installed for resynthesis")
    voice = random.Random(seed).choice(pool)
    return synthesize(text, voice, rate, pitch), voice
