"""Utterance-level acoustic features for the blind baseline, computed fast.

One decode and one STFT per clip feed every spectral feature; the mel filterbank and DCT
matrix are built once; pitch is the YIN estimator (de Cheveigné & Kawahara, 2002) with the
difference function of all frames computed at once through FFT autocorrelation. The
definitions follow librosa's (same frames, centre padding and formulas), so the two agree
per feature (see ``benchmarks/bench_blind_features.py``).

Each frame-level series is summarised by its mean, standard deviation and 10th, 50th and
90th percentiles.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np

from telltale.media.audio import load_audio
from telltale.media.errors import MediaError

RATE = 16000
N_FFT = 512
HOP = 160
N_MELS = 40
N_MFCC = 13
FMIN, FMAX = 65.0, 400.0
YIN_FRAME = 1024
SERIES = ([f"mfcc{i}" for i in range(N_MFCC)]
          + ["centroid", "bandwidth", "rolloff", "flatness", "rms", "zcr", "f0"])
SUMMARIES = ("mean", "std", "p10", "p50", "p90")


def feature_names() -> list[str]:
    return [f"{s}_{stat}" for s in SERIES for stat in SUMMARIES]


def _hz_to_mel(f):
    """Slaney's mel scale (linear below 1 kHz, logarithmic above), as in librosa."""
    f = np.asarray(f, dtype=float)
    mel = f / (200.0 / 3)
    log_region = f >= 1000.0
    return np.where(log_region, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27),
                    mel)


def _mel_to_hz(m):
    m = np.asarray(m, dtype=float)
    return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27) * (m - 15.0)), m * 200.0 / 3)


@lru_cache(maxsize=4)
def _mel_and_dct(n_fft: int = N_FFT, n_mels: int = N_MELS, n_mfcc: int = N_MFCC):
    """Slaney-normalised triangular mel filters and an orthonormal DCT-II matrix."""
    freqs = np.linspace(0, RATE / 2, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(RATE / 2), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    filters = np.maximum(0, np.minimum(lower, upper)) * (2.0 / (edges[2:] - edges[:-2]))[:, None]
    k = np.arange(n_mels)
    dct = np.cos(np.pi / n_mels * (k[None, :] + 0.5) * np.arange(n_mfcc)[:, None])
    dct *= np.sqrt(2.0 / n_mels)
    dct[0] /= np.sqrt(2.0)
    return filters, dct


def _frames(y: np.ndarray, length: int, hop: int, pad_mode: str) -> np.ndarray:
    padded = np.pad(y, length // 2, mode=pad_mode)
    count = 1 + (len(padded) - length) // hop
    return np.lib.stride_tricks.as_strided(
        padded, (count, length), (padded.strides[0] * hop, padded.strides[0]), writeable=False)


def _yin(y: np.ndarray) -> np.ndarray:
    """YIN f0 per frame (Hz), as librosa.yin (0.11) defines it: the cumulative-mean-
    normalised difference function (de Cheveigné & Kawahara, 2002) from the frame's
    autocorrelation, its first local minimum below 0.1 (else its global minimum) between
    the periods of ``FMAX`` and ``FMIN``, refined by parabolic interpolation. Every frame
    gets an estimate."""
    frames = _frames(y, YIN_FRAME, HOP, "constant")
    min_period = int(np.floor(RATE / FMAX))
    max_period = min(int(np.ceil(RATE / FMIN)), YIN_FRAME - 1)
    # autocorrelation of all frames in one zero-padded FFT
    size = 1 << int(np.ceil(np.log2(2 * YIN_FRAME - 1)))
    spectrum = np.fft.rfft(frames, size, axis=1)
    acf = np.fft.irfft(spectrum * np.conj(spectrum), size, axis=1)[:, :max_period + 1]
    # d(k) = 2 (r(0) - r(k)) - sum_{m<k} y_m^2
    energy = np.cumsum(frames[:, :max_period] ** 2, axis=1)
    diff = np.zeros((len(frames), max_period + 1))
    diff[:, 1:] = 2 * (acf[:, :1] - acf[:, 1:]) - energy
    numerator = diff[:, min_period:max_period + 1]
    cumulative = np.cumsum(diff[:, 1:], axis=1) / np.arange(1, max_period + 1)
    cmnd = numerator / (cumulative[:, min_period - 1:max_period] + np.finfo(float).tiny)
    # parabolic refinement of every interior point
    a = cmnd[:, 2:] + cmnd[:, :-2] - 2 * cmnd[:, 1:-1]
    b = (cmnd[:, 2:] - cmnd[:, :-2]) / 2
    shifts = np.zeros_like(cmnd)
    inner = np.abs(b) < np.abs(a)
    shifts[:, 1:-1] = np.where(inner, -b / np.where(inner, a, 1.0), 0.0)
    trough = np.zeros_like(cmnd, dtype=bool)
    trough[:, 1:-1] = (cmnd[:, 1:-1] < cmnd[:, :-2]) & (cmnd[:, 1:-1] <= cmnd[:, 2:])
    trough[:, 0] = cmnd[:, 0] < cmnd[:, 1]
    below = trough & (cmnd < 0.1)
    period = np.where(below.any(1), below.argmax(1), cmnd.argmin(1))
    rows = np.arange(len(period))
    return RATE / (min_period + period + shifts[rows, period])


def _summary(series: np.ndarray) -> list[float]:
    series = series[np.isfinite(series)]
    if series.size == 0:
        return [float("nan")] * len(SUMMARIES)
    p10, p50, p90 = np.percentile(series, [10, 50, 90])
    return [float(series.mean()), float(series.std()), float(p10), float(p50), float(p90)]


def frame_features(y: np.ndarray) -> dict[str, np.ndarray]:
    """Frame-level series of one 16 kHz mono signal, all from one STFT."""
    filters, dct = _mel_and_dct()
    frames = _frames(y, N_FFT, HOP, "constant")
    window = np.hanning(N_FFT + 1)[:-1]
    magnitude = np.abs(np.fft.rfft(frames * window, axis=1)).T  # (bins, frames)
    power = magnitude ** 2
    freqs = np.linspace(0, RATE / 2, magnitude.shape[0])[:, None]
    mel_db = 10 * np.log10(np.maximum(filters @ power, 1e-10))
    mel_db = np.maximum(mel_db, mel_db.max() - 80.0)
    total = np.maximum(magnitude.sum(0, keepdims=True), 1e-12)
    norm = magnitude / total
    centroid = (freqs * norm).sum(0)
    bandwidth = np.sqrt(((freqs - centroid) ** 2 * norm).sum(0))
    cumulative = np.cumsum(magnitude, axis=0)
    rolloff = freqs[np.argmax(cumulative >= 0.85 * cumulative[-1:], axis=0), 0]
    flat_power = np.maximum(power, 1e-10)
    flatness = np.exp(np.log(flat_power).mean(0)) / flat_power.mean(0)
    raw = _frames(y, N_FFT, HOP, "constant")
    rms = np.sqrt((raw ** 2).mean(1))
    signs = np.signbit(raw)
    zcr = (signs[:, 1:] != signs[:, :-1]).mean(1)
    out = {f"mfcc{i}": row for i, row in enumerate(dct @ mel_db)}
    out.update(centroid=centroid, bandwidth=bandwidth, rolloff=rolloff, flatness=flatness,
               rms=rms, zcr=zcr, f0=_yin(y))
    return out


def clip_features(path: str | Path) -> np.ndarray:
    """The summarised feature vector of one audio file (see :func:`feature_names`)."""
    series = frame_features(load_audio(path))
    return np.array([v for name in SERIES for v in _summary(series[name])])


def _safe(path: str) -> tuple[np.ndarray | None, str | None]:
    try:
        return clip_features(path), None
    except MediaError as exc:
        return None, str(exc)


def extract_acoustic(paths: list[str | Path], n_jobs: int = 2) -> tuple[
        np.ndarray, list[str], dict[int, str]]:
    """Feature matrix for many files, in parallel over ``n_jobs`` processes.

    Returns ``(matrix, names, errors)``; a file that cannot be decoded gets a NaN row and
    an entry ``errors[row] = reason`` (naming the file) instead of stopping the run."""
    names = feature_names()
    items = [str(p) for p in paths]
    if n_jobs > 1 and len(items) > 8:
        with ProcessPoolExecutor(max_workers=n_jobs) as pool:
            results = list(pool.map(_safe, items, chunksize=8))
    else:
        results = [_safe(p) for p in items]
    matrix = np.full((len(items), len(names)), np.nan)
    errors: dict[int, str] = {}
    for i, (row, err) in enumerate(results):
        if err is not None:
            errors[i] = err
        else:
            matrix[i] = row
    return matrix, names, errors
