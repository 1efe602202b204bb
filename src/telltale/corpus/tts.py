"""Offline text-to-speech with the Debian engines espeak-ng, flite and festival.

Each :class:`Voice` carries the labels the audits need (gender, accent region). Speaking
rate and pitch are varied per clip where the engine allows it and recorded either way.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from telltale.media.audio import TARGET_RATE, load_audio, save_wav

ESPEAK_ACCENTS = {  # espeak-ng voice -> accent region
    "en-us": "american", "en-us-nyc": "american", "en-gb": "british", "en-gb-x-rp": "british",
    "en-gb-x-gbclan": "british", "en-gb-x-gbcwmd": "british", "en-gb-scotland": "scottish",
    "en-029": "caribbean",
}
ESPEAK_VARIANTS = {"male": ("m1", "m2", "m3", "m4", "m7"), "female": ("f1", "f2", "f3", "f4", "f5")}
FLITE_VOICES = {"kal": ("male", "american"), "rms": ("male", "american"),
                "awb": ("male", "scottish"), "slt": ("female", "american")}
FESTIVAL_VOICES = {"kal_diphone": ("male", "american")}
ENGINES = ("espeak-ng", "flite", "festival")


class TTSError(RuntimeError):
    """A synthesis that failed; the message names the engine, voice and reason."""


@dataclass(frozen=True)
class Voice:
    engine: str
    voice: str  # the engine's voice name, e.g. "en-gb-scotland+f3"
    gender: str
    accent: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def available_voices(engines: tuple[str, ...] = ENGINES) -> list[Voice]:
    """Every voice of the requested engines that is really installed here."""
    voices: list[Voice] = []
    if "espeak-ng" in engines and shutil.which("espeak-ng"):
        listed = subprocess.run(["espeak-ng", "--voices=en"], capture_output=True, text=True,
                                timeout=30).stdout
        names = {line.split()[1] for line in listed.splitlines()[1:] if len(line.split()) > 1}
        for name, accent in ESPEAK_ACCENTS.items():
            if name in names:
                for gender, variants in ESPEAK_VARIANTS.items():
                    voices.extend(Voice("espeak-ng", f"{name}+{v}", gender, accent)
                                  for v in variants)
    if "flite" in engines and shutil.which("flite"):
        listed = subprocess.run(["flite", "-lv"], capture_output=True, text=True,
                                timeout=30).stdout.split()
        voices.extend(Voice("flite", name, *labels) for name, labels in FLITE_VOICES.items()
                      if name in listed)
    if "festival" in engines and shutil.which("text2wave"):
        for name, labels in FESTIVAL_VOICES.items():
            if list(Path("/usr/share/festival/voices").glob(f"*/{name}")):
                voices.append(Voice("festival", name, *labels))
    return voices


def _command(voice: Voice, text: str, out: Path, rate: float,
             pitch: float) -> tuple[list[str], str | None]:
    """The engine command line, and what to send on stdin.

    ``rate`` is a speed factor (1.0 = the engine's default), ``pitch`` a factor on the
    voice's base pitch."""
    if voice.engine == "espeak-ng":
        return (["espeak-ng", "-v", voice.voice, "-s", str(round(170 * rate)),
                 "-p", str(round(np.clip(50 * pitch, 0, 99))), "-w", str(out), text], None)
    if voice.engine == "flite":
        base = 190.0 if voice.gender == "female" else 110.0
        return (["flite", "-voice", voice.voice, "--setf", f"duration_stretch={1 / rate:.3f}",
                 "--setf", f"int_f0_target_mean={base * pitch:.1f}", "-t", text, "-o", str(out)],
                None)
    if voice.engine == "festival":
        stretch = f"(Parameter.set 'Duration_Stretch {1 / rate:.3f})"
        return (["text2wave", "-o", str(out), "-eval", f"(voice_{voice.voice})", "-eval",
                 stretch], text)
    raise TTSError(f"unknown TTS engine {voice.engine!r}")


def synthesize(text: str, voice: Voice, rate: float = 1.0, pitch: float = 1.0,
               out_path: str | Path | None = None, timeout: float = 60.0) -> np.ndarray:
    """Speak ``text`` with ``voice``; returns 16 kHz mono float32 (and writes a 16-bit WAV
    to ``out_path`` when given). Festival ignores ``pitch``: its diphone voices have no
    per-call pitch control."""
    if not text.strip():
        raise TTSError("nothing to say: the text is empty")
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        cmd, stdin = _command(voice, text, raw, rate, pitch)
        try:
            proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True,
                                  timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise TTSError(f"{voice.engine} ({voice.voice}): {exc}") from None
        # festival reports Scheme errors on stderr with exit status 0
        failed = proc.returncode != 0 or "SIOD ERROR" in (proc.stderr or "")
        if failed or not raw.is_file() or raw.stat().st_size < 100:
            detail = (proc.stderr or "no audio written").strip().splitlines()[-1:]
            raise TTSError(f"{voice.engine} ({voice.voice}) failed: {' '.join(detail)}")
        audio = load_audio(raw, TARGET_RATE)
    if out_path is not None:
        save_wav(out_path, audio)
    return audio


def resynthesize(text: str, exclude_voice: str | None, seed: int,
                 voices: list[Voice] | None = None) -> tuple[np.ndarray, Voice]:
    """Speak ``text`` with a seeded choice of voice other than ``exclude_voice`` (the
    membership audit's TTS-resynthesis condition: same words, a different speaker)."""
    pool = [v for v in (voices or available_voices()) if v.voice != exclude_voice]
    if not pool:
        raise TTSError("no other TTS voice is installed for resynthesis")
    voice = random.Random(seed).choice(pool)
    return synthesize(text, voice), voice
