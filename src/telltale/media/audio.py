"""Audio decoding to the one format every model here receives: 16 kHz mono float32."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np

from telltale.media.errors import MediaError

TARGET_RATE = 16_000


def resample(audio: np.ndarray, orig_rate: int, target_rate: int = TARGET_RATE) -> np.ndarray:
    """Band-limited resampling (libsoxr, 'HQ' quality) of a mono float signal."""
    if orig_rate == target_rate:
        return np.asarray(audio, dtype=np.float32)
    import soxr

    return soxr.resample(np.asarray(audio, dtype=np.float32), orig_rate, target_rate,
                         quality="HQ").astype(np.float32)


def _decode(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
        return data, int(rate)
    except Exception as sf_error:  # libsndfile cannot read it: try ffmpeg (m4a, aac, webm...)
        if shutil.which("ffmpeg") is None:
            raise MediaError(path, f"cannot decode audio ({sf_error})") from None
        proc = subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "wav", "-ac", "1",
             "-ar", str(TARGET_RATE), "-"], capture_output=True, check=False)
        if proc.returncode != 0 or not proc.stdout:
            detail = proc.stderr.decode(errors="replace").strip().splitlines()
            reason = detail[-1] if detail else str(sf_error)
            raise MediaError(path, f"cannot decode audio ({reason})") from None
        data, rate = sf.read(io.BytesIO(proc.stdout), dtype="float32", always_2d=True)
        return data, int(rate)


#: peak amplitude below which a clip counts as silence-only (-80 dBFS)
SILENCE_PEAK = 1e-4


def check_audio(path: str | Path, max_seconds: float | None = None) -> None:
    """Decode a clip once and refuse what no probe could use.

    Raises
    ------
    MediaError
        As :func:`load_audio`, and for a clip longer than ``max_seconds`` or one whose
        peak stays below :data:`SILENCE_PEAK` (silence only: no voice to audit).
    """
    path = Path(path)
    if not path.is_file():
        raise MediaError(path, "file not found")
    if path.stat().st_size == 0:
        raise MediaError(path, "file is empty")
    data, rate = _decode(path)
    if data.size == 0:
        raise MediaError(path, "audio has no samples")
    if not np.all(np.isfinite(data)):
        raise MediaError(path, "audio contains NaN or infinite samples")
    seconds = data.shape[0] / rate
    if max_seconds is not None and seconds > max_seconds:
        raise MediaError(path, f"clip is {seconds:.1f} s long, more than the {max_seconds:g} s "
                               "allowed (--max-audio-seconds)")
    if float(np.max(np.abs(data))) < SILENCE_PEAK:
        raise MediaError(path, "audio is silence only (peak below -80 dBFS)")


def load_audio(path: str | Path, rate: int = TARGET_RATE) -> np.ndarray:
    """Decode an audio file to mono float32 at ``rate`` Hz.

    Any format libsndfile reads (WAV, FLAC, OGG, MP3, ...) is decoded directly, others
    through ffmpeg when it is installed. Channels are averaged.

    Raises
    ------
    MediaError
        If the file is missing, empty, undecodable or holds no samples.
    """
    path = Path(path)
    if not path.is_file():
        raise MediaError(path, "file not found")
    if path.stat().st_size == 0:
        raise MediaError(path, "file is empty")
    data, orig_rate = _decode(path)
    if data.size == 0:
        raise MediaError(path, "audio has no samples")
    # one channel needs no averaging pass (a measurable share of blind-feature time)
    mono = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1)
    if not np.all(np.isfinite(mono)):
        raise MediaError(path, "audio contains NaN or infinite samples")
    return resample(mono, orig_rate, rate)


def audio_info(path: str | Path) -> dict[str, float | int | str]:
    """Container facts without decoding: native sample rate, channels, frames, format."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception as exc:
        raise MediaError(path, f"cannot read audio header ({exc})") from None
    return {"sample_rate": int(info.samplerate), "channels": int(info.channels),
            "frames": int(info.frames), "duration": float(info.duration),
            "format": str(info.format)}


def save_wav(path: str | Path, audio: np.ndarray, rate: int = TARGET_RATE) -> None:
    import soundfile as sf

    sf.write(str(path), np.asarray(audio, dtype=np.float32), rate, subtype="PCM_16")
