"""Utterance-level acoustic features for the blind baseline, computed fast.

The acoustic blind baseline of the membership protocol (Lee et al., 2026, "Membership
Inference Attacks against Large Audio Language Models", section 2.2) summarises frame-wise
low-level descriptors per utterance: MFCCs, spectral centroid, bandwidth, rolloff and
flatness, pitch, RMS energy and zero-crossing rate.

Every definition follows librosa's (0.10/0.11) with the same frames, hop, centre padding and
formulas, so the two agree per feature (``benchmarks/bench_blind_features.py`` measures it).
What differs is the cost:

- one decode and one STFT per clip feed every spectral feature (librosa computes a fresh
  STFT in each ``librosa.feature.*`` call);
- the mel filterbank and the DCT-II matrix are built once per configuration;
- pitch is the YIN estimator (de Cheveigné & Kawahara, 2002) with the difference function
  of all frames computed in one batched FFT autocorrelation, and only on voiced frames,
  because unvoiced frames are dropped from the pitch statistics anyway;
- files are spread over a process pool (``n_jobs``).

Each frame-level series is summarised by its mean, standard deviation and 10th, 50th and
90th percentiles.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

SUMMARIES = ("mean", "std", "p10", "p50", "p90")
SPECTRAL_SERIES = ("centroid", "bandwidth", "rolloff", "flatness", "rms", "zcr")


@dataclass(frozen=True)
class AcousticConfig:
    """Frame and feature parameters (librosa argument names in brackets).

    Attributes
    ----------
    rate : sample rate in Hz of the decoded signal [sr].
    n_fft : STFT size and analysis frame of RMS and ZCR, in samples [n_fft, frame_length].
    hop : hop between frames, in samples [hop_length].
    n_mels : mel bands feeding the MFCCs [n_mels].
    n_mfcc : MFCCs kept [n_mfcc].
    top_db : dynamic range kept by ``power_to_db`` before the DCT [top_db].
    rolloff_percent : energy fraction below the rolloff frequency [roll_percent].
    fmin, fmax : pitch search range in Hz [fmin, fmax of librosa.yin].
    yin_frame : YIN analysis frame, in samples [frame_length of librosa.yin].
    trough_threshold : YIN absolute threshold on the normalised difference [trough_threshold].
    voicing_db : a frame counts as voiced only if its RMS is within this many dB of the
        loudest frame of the clip ...
    voicing_zcr : ... and its zero-crossing rate is below this value.
    """

    rate: int = 16000
    n_fft: int = 512
    hop: int = 160
    n_mels: int = 40
    n_mfcc: int = 13
    top_db: float = 80.0
    rolloff_percent: float = 0.85
    fmin: float = 65.0
    fmax: float = 400.0
    yin_frame: int = 1024
    trough_threshold: float = 0.1
    voicing_db: float = 30.0
    voicing_zcr: float = 0.25

    def __post_init__(self) -> None:
        min_period = int(np.floor(self.rate / self.fmax))
        if not 0 < self.fmin < self.fmax <= self.rate / 2:
            raise ValueError(f"need 0 < fmin < fmax <= rate/2, got {self.fmin}, {self.fmax}")
        if min_period < 1 or int(np.ceil(self.rate / self.fmin)) >= self.yin_frame - 1:
            raise ValueError(f"yin_frame {self.yin_frame} is too short for fmin {self.fmin} Hz")


DEFAULT_CONFIG = AcousticConfig()


def series_names(config: AcousticConfig = DEFAULT_CONFIG) -> list[str]:
    """Names of the frame-level series, in feature-vector order."""
    return [f"mfcc{i}" for i in range(config.n_mfcc)] + list(SPECTRAL_SERIES) + ["f0"]


def feature_names(config: AcousticConfig = DEFAULT_CONFIG) -> list[str]:
    """Names of the utterance-level features: ``<series>_<summary>``, e.g. ``mfcc3_p90``.

    Returns
    -------
    list of str, length ``(n_mfcc + 7) * 5`` (100 with the default configuration).
    """
    return [f"{s}_{stat}" for s in series_names(config) for stat in SUMMARIES]


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (Auditory Toolbox): linear below 1 kHz, logarithmic above, as
    ``librosa.hz_to_mel(htk=False)``."""
    f = np.asarray(f, dtype=np.float64)
    step, log_step = 200.0 / 3, np.log(6.4) / 27.0
    return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / log_step,
                    f / step)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    step, log_step = 200.0 / 3, np.log(6.4) / 27.0
    return np.where(m >= 15.0, 1000.0 * np.exp(log_step * (m - 15.0)), m * step)


@lru_cache(maxsize=8)
def _spectral_constants(rate: int, n_fft: int, n_mels: int,
                        n_mfcc: int) -> tuple[np.ndarray, ...]:
    """Cached per configuration: (bin frequencies, periodic Hann window, Slaney-normalised
    mel filterbank ``librosa.filters.mel(norm="slaney")``, orthonormal DCT-II matrix,
    [1, f, f^2] per bin with f in kHz for the spectral moments)."""
    freqs = np.linspace(0.0, rate / 2.0, n_fft // 2 + 1)
    # scipy.signal.get_window("hann", n_fft, fftbins=True), the window librosa.stft uses
    window = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(rate / 2.0), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    # Slaney normalisation: each triangle has unit area in Hz
    filters = (np.maximum(0.0, np.minimum(lower, upper))
               * (2.0 / (edges[2:] - edges[:-2]))[:, None]).astype(np.float32)
    k = np.arange(n_mfcc)[:, None]
    dct = np.cos(np.pi / n_mels * (np.arange(n_mels)[None, :] + 0.5) * k) * np.sqrt(2.0 / n_mels)
    dct[0] /= np.sqrt(2.0)
    khz = freqs / 1000.0
    powers = np.column_stack([np.ones_like(khz), khz, khz ** 2]).astype(np.float32)
    return freqs, window, filters, dct, powers


def _frames(y: np.ndarray, length: int, hop: int, mode: str) -> np.ndarray:
    """Centred frames, shape (n_frames, length): the signal padded by ``length // 2`` on
    both sides (``mode`` as np.pad), frame ``t`` starting at ``t * hop`` (a view)."""
    padded = np.pad(y, length // 2, mode=mode)
    count = 1 + (padded.size - length) // hop
    step = padded.strides[0]
    return np.lib.stride_tricks.as_strided(padded, (count, length), (step * hop, step),
                                           writeable=False)


def _yin_periods(config: AcousticConfig) -> tuple[int, int, int]:
    """(min_period, max_period, FFT size) of the YIN search, in samples."""
    import scipy.fft

    min_period = int(np.floor(config.rate / config.fmax))
    max_period = min(int(np.ceil(config.rate / config.fmin)), config.yin_frame - 1)
    # a linear (non-circular) autocorrelation up to lag L needs frame + L points, not 2 frame
    size = scipy.fft.next_fast_len(config.yin_frame + max_period + 1, real=True)
    return min_period, max_period, size


def _yin(y: np.ndarray, which: np.ndarray, config: AcousticConfig) -> np.ndarray:
    """YIN f0 in Hz of the centred frames ``which`` (indices) of ``y``, exactly as
    ``librosa.yin`` (frame ``yin_frame``, zero padding, hop ``hop``) computes them.

    The difference function d(tau) = 2 (r(0) - r(tau)) - sum_{j < tau} x_j^2 comes from the
    frame's autocorrelation r (de Cheveigné & Kawahara, 2002, eq. 7 with librosa's energy
    term), normalised by its cumulative mean (eq. 8); the period is the first trough below
    the absolute threshold (step 4), else the global minimum, refined by parabolic
    interpolation (step 5). All frames are transformed in one batched real FFT.
    """
    import scipy.fft

    min_period, max_period, size = _yin_periods(config)
    half = config.yin_frame // 2
    # frames of FFT length straight from the padded signal (one copy), then the samples
    # past the analysis frame zeroed: the zero-padded input of a linear autocorrelation
    padded = np.pad(y, (half, half + size - config.yin_frame))
    step = padded.strides[0]
    count = 1 + (y.size + 2 * half - config.yin_frame) // config.hop
    windows = np.lib.stride_tricks.as_strided(padded, (count, size),
                                              (step * config.hop, step), writeable=False)
    buffer = windows[which]
    buffer[:, config.yin_frame:] = 0.0
    spectrum = scipy.fft.rfft(buffer, axis=1)
    spectrum *= spectrum.conj()  # power spectrum, kept complex for the inverse transform
    acf = scipy.fft.irfft(spectrum, size, axis=1, overwrite_x=True)[:, :max_period + 1]
    energy = np.cumsum(buffer[:, :max_period] ** 2, axis=1)
    diff = 2.0 * (acf[:, :1] - acf[:, 1:]) - energy  # d(tau) for tau = 1..max_period
    cumulative = np.cumsum(diff, axis=1) / np.arange(1, max_period + 1)
    numerator = diff[:, min_period - 1:]
    denominator = cumulative[:, min_period - 1:]
    cmnd = numerator / (denominator + np.finfo(denominator.dtype).tiny)

    interior = cmnd[:, 1:-1]
    trough = np.empty(cmnd.shape, dtype=bool)
    trough[:, 1:-1] = (interior < cmnd[:, :-2]) & (interior <= cmnd[:, 2:])
    trough[:, 0] = cmnd[:, 0] < cmnd[:, 1]
    trough[:, -1] = cmnd[:, -1] < cmnd[:, -2]
    below = trough & (cmnd < config.trough_threshold)
    period = np.where(below.any(axis=1), below.argmax(axis=1), cmnd.argmin(axis=1))

    # parabolic interpolation around the chosen lag only (librosa leaves both ends unshifted)
    rows = np.arange(period.size)
    inside = (period > 0) & (period < cmnd.shape[1] - 1)
    left = cmnd[rows, np.maximum(period - 1, 0)]
    centre = cmnd[rows, period]
    right = cmnd[rows, np.minimum(period + 1, cmnd.shape[1] - 1)]
    a = right + left - 2.0 * centre
    b = (right - left) / 2.0
    usable = inside & (np.abs(b) < np.abs(a))
    shift = np.where(usable, -b / np.where(usable, a, 1.0), 0.0)
    return config.rate / (min_period + period + shift)


def frame_features(y: np.ndarray, config: AcousticConfig = DEFAULT_CONFIG
                   ) -> dict[str, np.ndarray]:
    """Frame-level series of one mono signal, all spectral ones from one STFT.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], mono signal at ``config.rate`` Hz (float32 or float64).
    config : frame and feature parameters.

    Returns
    -------
    dict
        ``mfcc0`` .. ``mfcc{n_mfcc-1}``, ``centroid``, ``bandwidth``, ``rolloff`` (Hz),
        ``flatness``, ``rms``, ``zcr``: arrays of ``1 + n // hop`` frames, as the
        corresponding ``librosa.feature`` function with ``center=True``; ``f0``: YIN pitch
        in Hz of the voiced frames only (possibly empty), as ``librosa.yin`` on those frames.
    """
    y = np.ascontiguousarray(y, dtype=np.float32)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"need a non-empty mono signal, got shape {y.shape}")
    import scipy.fft

    freqs, window, filters, dct, powers = _spectral_constants(config.rate, config.n_fft,
                                                              config.n_mels, config.n_mfcc)
    frames = _frames(y, config.n_fft, config.hop, "constant")
    # float32 throughout, as librosa computes for a float32 signal
    spectrum = scipy.fft.rfft(frames * window, axis=1, overwrite_x=True)
    power = spectrum.real ** 2 + spectrum.imag ** 2  # (frames, bins)
    magnitude = np.sqrt(power)

    # MFCC: librosa.feature.mfcc = DCT-II(power_to_db(mel power spectrogram, top_db))
    mel_db = 10.0 * np.log10(np.maximum(power @ filters.T, np.float32(1e-10)))
    mel_db = np.maximum(mel_db, mel_db.max() - np.float32(config.top_db))
    mfcc = mel_db.astype(np.float64) @ dct.T  # (frames, n_mfcc)

    # centroid = E_w[f] and bandwidth = sqrt(E_w[(f - centroid)^2]) = sqrt(E_w[f^2] -
    # centroid^2), w the L1-normalised magnitude; frequencies in kHz keep float32 exact enough
    moments = (magnitude @ powers).astype(np.float64)
    total = np.where(moments[:, 0] < np.finfo(np.float32).tiny, 1.0, moments[:, 0])
    centroid = 1000.0 * moments[:, 1] / total
    bandwidth = 1000.0 * np.sqrt(np.maximum(moments[:, 2] / total
                                            - (moments[:, 1] / total) ** 2, 0.0))
    cumulative = np.cumsum(magnitude, axis=1)
    reached = cumulative >= np.float32(config.rolloff_percent) * cumulative[:, -1:]
    rolloff = freqs[reached.argmax(axis=1)]
    floor = np.maximum(power, np.float32(1e-10))
    flatness = (np.exp(np.log(floor).mean(axis=1, dtype=np.float64))
                / floor.mean(axis=1, dtype=np.float64))

    rms = np.sqrt(np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / config.n_fft)
    # librosa.feature.zero_crossing_rate pads by repeating the edge samples, treats
    # |x| <= 1e-10 as +0, and divides the crossings inside a frame by the frame length
    signs = np.signbit(np.where(np.abs(y) <= 1e-10, np.float32(0.0), y))
    crossings = np.zeros(y.size, dtype=np.int64)
    np.cumsum(signs[1:] != signs[:-1], out=crossings[1:])
    # crossings inside padded frame [s, s + n_fft) are counted from s + 1 on; the edge
    # padding adds none, so the counts are read at clipped indices of the unpadded signal
    starts = np.arange(rms.size) * config.hop - config.n_fft // 2
    last = np.clip(starts + config.n_fft - 1, 0, y.size - 1)
    zcr = (crossings[last] - crossings[np.clip(starts, 0, y.size - 1)]) / config.n_fft

    # voicing gate (short-time energy and zero-crossing rate; Rabiner & Schafer, 1978,
    # "Digital Processing of Speech Signals", sec. 4.5): YIN only runs where it is used
    loud = rms >= rms.max() * 10.0 ** (-config.voicing_db / 20.0)
    voiced = loud & (zcr < config.voicing_zcr) & (rms > 0)
    which = np.flatnonzero(voiced)
    f0 = _yin(y, which, config) if which.size else np.empty(0)

    out = {f"mfcc{i}": mfcc[:, i] for i in range(config.n_mfcc)}
    out.update(centroid=centroid, bandwidth=bandwidth, rolloff=rolloff, flatness=flatness,
               rms=rms, zcr=zcr, f0=f0)
    return out


def summarize(series: np.ndarray) -> np.ndarray:
    """Mean, standard deviation and 10th, 50th, 90th percentiles of each row.

    Parameters
    ----------
    series : np.ndarray [shape=(n_series, n_frames)]; an empty row gives NaNs.

    Returns
    -------
    np.ndarray [shape=(n_series, 5)], in :data:`SUMMARIES` order.
    """
    series = np.atleast_2d(np.asarray(series, dtype=np.float64))
    if series.shape[1] == 0:
        return np.full((series.shape[0], len(SUMMARIES)), np.nan)
    percentiles = np.percentile(series, [10, 50, 90], axis=1).T
    return np.column_stack([series.mean(axis=1), series.std(axis=1), percentiles])


def utterance_features(y: np.ndarray, config: AcousticConfig = DEFAULT_CONFIG) -> np.ndarray:
    """The utterance-level feature vector of one signal, ordered as :func:`feature_names`."""
    series = frame_features(y, config)
    names = series_names(config)
    framewise = np.vstack([series[n] for n in names[:-1]])
    return np.concatenate([summarize(framewise).ravel(), summarize(series["f0"]).ravel()])


def clip_features(path: str | Path, config: AcousticConfig = DEFAULT_CONFIG) -> np.ndarray:
    """Decode one audio file (mono, resampled to ``config.rate``) and return its features.

    Raises
    ------
    MediaError
        The file cannot be decoded (the message names it).
    """
    from telltale.media.audio import load_audio

    return utterance_features(load_audio(path, rate=config.rate), config)


def _single_threaded_blas() -> None:
    """Pool initialiser: the matrices here are tiny, and BLAS threads in every worker
    would oversubscribe the cores the pool already uses (and cost more than they save)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)


def _one(job: tuple[str, AcousticConfig]) -> tuple[np.ndarray | None, str | None]:
    path, config = job
    try:
        return clip_features(path, config), None
    except Exception as exc:  # one bad file must not end the batch; the reason is kept
        message = str(exc)
        if path not in message:
            message = f"{path}: {exc.__class__.__name__}: {message}"
        return None, message


def resolve_jobs(n_jobs: int | None) -> int:
    """``None`` or a value below 1 means every core this process may use."""
    if n_jobs is None or n_jobs < 1:
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not on Linux
            return os.cpu_count() or 1
    return n_jobs


def extract_acoustic(paths: Sequence[str | Path], n_jobs: int | None = None,
                     config: AcousticConfig = DEFAULT_CONFIG
                     ) -> tuple[np.ndarray, list[str], dict[int, str]]:
    """Utterance-level acoustic features of many audio files.

    Parameters
    ----------
    paths : audio files (any format :func:`telltale.media.audio.load_audio` decodes).
    n_jobs : worker processes; ``None`` or < 1 uses every available core.
    config : frame and feature parameters.

    Returns
    -------
    matrix : np.ndarray [shape=(len(paths), len(names))], float64; the row of a file that
        failed is all NaN. Pitch statistics are NaN for a clip without voiced frames.
    names : list of str, :func:`feature_names` of ``config``.
    errors : dict mapping row index -> reason (naming the file) for each file that failed.
    """
    names = feature_names(config)
    jobs = [(str(p), config) for p in paths]
    workers = min(resolve_jobs(n_jobs), len(jobs))
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers, initializer=_single_threaded_blas) as pool:
            results = list(pool.map(_one, jobs, chunksize=max(1, len(jobs) // (4 * workers))))
    else:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):
            results = [_one(job) for job in jobs]
    matrix = np.full((len(jobs), len(names)), np.nan)
    errors: dict[int, str] = {}
    for row, (values, error) in enumerate(results):
        if error is None:
            matrix[row] = values
        else:
            errors[row] = error
    return matrix, names, errors
