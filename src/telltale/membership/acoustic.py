"""Frame-level acoustic series for the blind baseline, computed fast.

The acoustic blind baseline of the membership protocol (Lee et al., 2026, "Membership
Inference Attacks against Large Audio Language Models", section 2.2) summarises frame-wise
low-level descriptors per utterance: MFCCs, spectral centroid, bandwidth, rolloff and
flatness, pitch, RMS energy and zero-crossing rate. This module computes the frame-level
series; :mod:`telltale.membership.acoustic_utterance` summarises them per utterance and
runs them over many files.

Every definition follows librosa 0.11's with the same frames, hop, centre padding and
formulas, so the two agree per feature (:func:`librosa_series` is the straightforward
librosa computation; ``benchmarks/bench_blind_features.py`` compares them). Pitch
statistics cover voiced frames only: frames whose RMS is within ``voicing_db`` of the
clip's loudest frame and whose zero-crossing rate is below ``voicing_zcr``.
What differs is the cost:

- one decode and one STFT per clip feed every spectral feature (librosa computes a fresh
  STFT in each ``librosa.feature.*`` call), in float32 as librosa computes;
- the mel filterbank, the DCT-II matrix and the spectral moments are matrix products with
  matrices built once per configuration;
- pitch is the YIN estimator (de Cheveigné & Kawahara, 2002) on voiced frames only,
  because unvoiced frames are dropped from the pitch statistics anyway, with the
  difference function of a block of frames from one batched FFT autocorrelation and its
  cumulative mean from matrix products;
- frames are processed in fixed-size blocks through reused scratch arrays, so the memory
  stays cached and no clip-sized temporary is mapped and page-faulted in afresh.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft

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
        # centred frames of an even length give every series the same 1 + n // hop frames
        if self.n_fft % 2 or self.yin_frame % 2:
            raise ValueError(f"n_fft and yin_frame must be even, got {self.n_fft}, "
                             f"{self.yin_frame}")


DEFAULT_CONFIG = AcousticConfig()


def series_names(config: AcousticConfig = DEFAULT_CONFIG) -> list[str]:
    """Names of the frame-level series, in feature-vector order."""
    return [f"mfcc{i}" for i in range(config.n_mfcc)] + list(SPECTRAL_SERIES) + ["f0"]


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
    mel filterbank ``librosa.filters.mel(norm="slaney")`` transposed to (bins, n_mels),
    orthonormal DCT-II matrix (n_mfcc, n_mels), [1, f, f^2] per bin with f in kHz for the
    spectral moments). Power spectra are (frames, bins), so right-multiplying them by the
    transposed filterbank gives the mel energies without transposing the spectrum."""
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
    filters = np.ascontiguousarray(filters.T)
    k = np.arange(n_mfcc)[:, None]
    dct = np.cos(np.pi / n_mels * (np.arange(n_mels)[None, :] + 0.5) * k) * np.sqrt(2.0 / n_mels)
    dct[0] /= np.sqrt(2.0)
    khz = freqs / 1000.0
    powers = np.column_stack([np.ones_like(khz), khz, khz ** 2]).astype(np.float32)
    return freqs, window, filters, dct, powers


#: frames analysed at once. Every array of a block then has the same size (at most
#: 0.7 MB), and comes from :class:`_Scratch` or is recycled by the allocator block after
#: block and clip after clip. Clip-sized temporaries, of a new size with every clip, are
#: instead fresh memory mappings whose pages fault in, zero-filled by the kernel: about
#: 1300 page faults and 40% of the CPU time per 4 s clip when whole clips were analysed
#: at once. Larger blocks save little Python overhead and fall out of the CPU caches.
_BLOCK = 128
#: columns summed at once by :func:`_cumsum_rows`
_SCAN_GROUP = 16


class _Scratch(threading.local):
    """Block-sized arrays of one thread (about 2 MB), reused from block to block and clip
    to clip (see :data:`_BLOCK`). Each name serves one purpose; what an array holds when
    handed out is whatever its last use left there."""

    def __init__(self) -> None:
        self.arrays: dict[tuple[str, int, str], np.ndarray] = {}

    def __call__(self, name: str, rows: int, width: int,
                 dtype: type[np.generic] = np.float32) -> np.ndarray:
        """The first ``rows`` rows of the array ``name`` of ``width`` columns."""
        key = (name, width, np.dtype(dtype).str)
        array = self.arrays.get(key)
        if array is None or array.shape[0] < rows:
            array = self.arrays[key] = np.zeros((max(rows, _BLOCK), width), dtype=dtype)
        return array[:rows]


_scratch = _Scratch()


def _scan_width(length: int) -> int:
    """``length`` rounded up to whole groups of :data:`_SCAN_GROUP` columns."""
    return -(-length // _SCAN_GROUP) * _SCAN_GROUP


@lru_cache(maxsize=8)
def _scan_matrices(width: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(inclusive prefix within a group, times ``scale``; exclusive prefix across groups)
    as matrices of 0 and ``scale`` or 1."""
    groups = width // _SCAN_GROUP
    return (np.triu(np.full((_SCAN_GROUP, _SCAN_GROUP), scale, dtype=np.float32)),
            np.triu(np.ones((groups, groups), dtype=np.float32), k=1))


def _cumsum_rows(x: np.ndarray, out: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """``scale * np.cumsum(x, axis=1)`` of a float32 array whose width is a multiple of
    :data:`_SCAN_GROUP`, written to ``out`` (same shape, not overlapping ``x``).

    ``np.cumsum`` adds one element after another, bound by the latency of each addition;
    two small matrix products (prefix sums within groups of columns, then across the
    group totals) do the same sums about four times faster. Rounding differs from
    sequential float32 summation by a few units in the last place. Every column of ``x``
    must be finite (pad with zeros): a product with the triangular matrix touches all of
    them, and 0 * inf is NaN.
    """
    rows, width = x.shape
    within, across = _scan_matrices(width, scale)
    np.matmul(x.reshape(-1, _SCAN_GROUP), within, out=out.reshape(-1, _SCAN_GROUP))
    grouped = out.reshape(rows, width // _SCAN_GROUP, _SCAN_GROUP)
    grouped += (grouped[:, :, -1] @ across)[:, :, None]
    return out


@lru_cache(maxsize=8)
def _yin_periods(config: AcousticConfig) -> tuple[int, int, int, np.ndarray]:
    """(min_period, max_period, FFT size, 1 / tau for tau = min_period..max_period) of the
    YIN search, in samples."""
    min_period = int(np.floor(config.rate / config.fmax))
    max_period = min(int(np.ceil(config.rate / config.fmin)), config.yin_frame - 1)
    # a linear (non-circular) autocorrelation up to lag L needs frame + L points, not 2 frame
    size = scipy.fft.next_fast_len(config.yin_frame + max_period + 1, real=True)
    reciprocal = (1.0 / np.arange(min_period, max_period + 1)).astype(np.float32)
    return min_period, max_period, size, reciprocal


def _voiced(rms: np.ndarray, zcr: np.ndarray, config: AcousticConfig) -> np.ndarray:
    """Voicing gate from short-time energy and zero-crossing rate (Rabiner & Schafer,
    1978, "Digital Processing of Speech Signals", ch. 4): boolean mask of the frames whose
    RMS is within ``voicing_db`` of the clip's loudest, whose zero-crossing rate is below
    ``voicing_zcr`` and that are not silent."""
    loud = rms >= rms.max() * 10.0 ** (-config.voicing_db / 20.0)
    return loud & (zcr < config.voicing_zcr) & (rms > 0)


def _yin_block(windows: np.ndarray, which: np.ndarray, config: AcousticConfig,
               periods: tuple[int, int, int, np.ndarray], period: np.ndarray,
               neighbours: np.ndarray) -> None:
    """YIN lag search of frames ``which`` (at most :data:`_BLOCK`), as ``librosa.yin``.

    Parameters
    ----------
    windows : np.ndarray [shape=(frames, fft size)], float32 view: the analysis frame of
        ``yin_frame`` samples followed by anything (zeroed in the copy made here).
    which : indices of the frames wanted.
    periods : :func:`_yin_periods` of ``config``.
    period : out, the lag index chosen per frame (offset by ``min_period``).
    neighbours : out, shape (frames, 3), the normalised difference at the lags before, at
        and after it, for :func:`_yin_f0`.

    Notes
    -----
    The difference function d(tau) = 2 (r(0) - r(tau)) - sum_{j < tau} x_j^2 comes from the
    frame's autocorrelation r (de Cheveigné & Kawahara, 2002, eq. 7 with librosa's energy
    term), normalised by its cumulative mean (eq. 8); the period is the first trough below
    the absolute threshold (step 4), else the global minimum. r comes from one batched real
    FFT of the zero-padded frames and a DCT-I of their power spectra: a real, even
    spectrum's inverse FFT is the DCT-I of its first half (times the FFT size), computed in
    place instead of a complex inverse FFT.
    """
    min_period, max_period, size, reciprocal = periods
    rows, width = which.size, _scan_width(max_period)
    # a gather into a temporary and a copy beat np.take(out=) by half
    frames = _scratch("yin_frames", rows, size)
    np.copyto(frames, windows[which])
    frames[:, config.yin_frame:] = 0.0
    squares = _scratch("yin_squares", rows, width)
    np.square(frames[:, :max_period], out=squares[:, :max_period])
    squares[:, max_period:] = 0.0
    # sum_{j < tau} x_j^2 times size / 2: the DCT-I below is the autocorrelation times the
    # FFT size, so the energy term is scaled to match instead
    energy = _cumsum_rows(squares, _scratch("yin_energy", rows, width),
                          scale=size / 2.0)[:, :max_period]
    power = np.abs(scipy.fft.rfft(frames, axis=1),
                   out=_scratch("yin_power", rows, size // 2 + 1))
    np.square(power, out=power)
    acf = scipy.fft.dct(power, type=1, axis=1, overwrite_x=True)
    # d(tau) * size / 2 for tau = 1..max_period
    diff = _scratch("yin_diff", rows, width)
    np.subtract(acf[:, :1], acf[:, 1:max_period + 1], out=diff[:, :max_period])
    diff[:, max_period:] = 0.0
    diff[:, :max_period] -= energy
    cumulative = _cumsum_rows(diff, _scratch("yin_cumulative", rows, width))
    denominator = cumulative[:, min_period - 1:max_period]
    denominator *= reciprocal
    denominator += np.finfo(np.float32).tiny
    cmnd = np.divide(diff[:, min_period - 1:max_period], denominator, out=denominator)

    # troughs as librosa.util.localmin, except that the first lag may be one too
    interior = cmnd[:, 1:-1]
    trough = _scratch("yin_trough", rows, cmnd.shape[1], np.bool_)
    np.less(interior, cmnd[:, :-2], out=trough[:, 1:-1])
    trough[:, 1:-1] &= interior <= cmnd[:, 2:]
    np.less(cmnd[:, 0], cmnd[:, 1], out=trough[:, 0])
    np.less(cmnd[:, -1], cmnd[:, -2], out=trough[:, -1])
    trough &= cmnd < config.trough_threshold
    np.copyto(period, np.where(trough.any(axis=1), trough.argmax(axis=1), cmnd.argmin(axis=1)))
    lags = np.clip(period[:, None] + np.arange(-1, 2), 0, cmnd.shape[1] - 1)
    neighbours[:] = cmnd[np.arange(rows)[:, None], lags]


def _yin_f0(period: np.ndarray, neighbours: np.ndarray, config: AcousticConfig,
            periods: tuple[int, int, int, np.ndarray]) -> np.ndarray:
    """f0 in Hz from :func:`_yin_block`'s lags, refined by parabolic interpolation
    (de Cheveigné & Kawahara, 2002, step 5) as librosa does: a shift of at most one lag,
    none at either end of the search range."""
    min_period, max_period, _, _ = periods
    left, centre, right = neighbours.astype(np.float64).T
    a = right + left - 2.0 * centre
    b = (right - left) / 2.0
    usable = (period > 0) & (period < max_period - min_period) & (np.abs(b) < np.abs(a))
    shift = np.where(usable, -b / np.where(usable, a, 1.0), 0.0)
    return config.rate / (min_period + period + shift)


def _spectral_block(frames: np.ndarray, config: AcousticConfig, mel: np.ndarray,
                    moments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One STFT of a block of frames and everything computed from it.

    Writes the mel power (frames, n_mels) to ``mel`` and the magnitude moments
    [sum, sum f, sum f^2] (f in kHz) to ``moments``; returns (rolloff bin, flatness).
    """
    _, window, filters, _, powers = _spectral_constants(config.rate, config.n_fft,
                                                        config.n_mels, config.n_mfcc)
    rows, bins = frames.shape[0], config.n_fft // 2 + 1
    width = _scan_width(bins)
    windowed = np.multiply(frames, window, out=_scratch("stft_frames", rows, config.n_fft))
    # float32 throughout, as librosa computes for a float32 signal
    magnitude = _scratch("stft_magnitude", rows, width)
    np.abs(scipy.fft.rfft(windowed, axis=1), out=magnitude[:, :bins])
    magnitude[:, bins:] = 0.0
    power = np.square(magnitude[:, :bins], out=_scratch("stft_power", rows, bins))
    np.matmul(power, filters, out=mel)
    np.matmul(magnitude[:, :bins], powers, out=moments)
    cumulative = _cumsum_rows(magnitude, _scratch("stft_cumulative", rows, width))
    threshold = np.float32(config.rolloff_percent) * cumulative[:, bins - 1:bins]
    reached = np.greater_equal(cumulative[:, :bins], threshold,
                               out=_scratch("stft_reached", rows, bins, np.bool_))
    # spectral flatness: geometric over arithmetic mean of the floored power (the means
    # as matrix-vector products, several times faster than .mean on rows this short)
    average = np.full(bins, 1.0 / bins, dtype=np.float32)
    np.maximum(power, np.float32(1e-10), out=power)
    arithmetic = power @ average
    np.log(power, out=power)
    return reached.argmax(axis=1), np.exp(power @ average) / arithmetic


def analyse_frames(y: np.ndarray, config: AcousticConfig) -> tuple[np.ndarray, np.ndarray]:
    """Frame-level series of one mono signal: (table, f0).

    ``table`` [shape=(n_series - 1, 1 + n // hop)], float64, holds the framewise series of
    :func:`series_names` (all but ``f0``) as rows; ``f0`` the YIN pitch of the voiced frames.
    """
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"need a non-empty mono signal, got shape {y.shape}")
    freqs, _, _, dct, _ = _spectral_constants(config.rate, config.n_fft, config.n_mels,
                                              config.n_mfcc)
    periods = _yin_periods(config)
    size = periods[2]
    # one zero-padded copy serves the centred STFT frames and the longer YIN frames (plus
    # the zeros their FFT size reads past them)
    left = max(config.n_fft, config.yin_frame) // 2
    right = max(config.n_fft // 2, config.yin_frame // 2 + size - config.yin_frame)
    padded = np.empty(left + y.size + right, dtype=np.float32)
    padded[:left] = 0.0
    padded[left:left + y.size] = y
    padded[left + y.size:] = 0.0
    count = 1 + y.size // config.hop

    def framed(length: int, width: int) -> np.ndarray:
        """Centred frames of ``length`` samples, each read ``width`` samples long, as a
        strided view (no copy)."""
        step = padded.strides[0]
        return np.lib.stride_tricks.as_strided(padded[left - length // 2:], (count, width),
                                               (step * config.hop, step), writeable=False)

    frames = framed(config.n_fft, config.n_fft)
    mel = np.empty((count, config.n_mels), dtype=np.float32)
    moments = np.empty((count, 3), dtype=np.float32)
    table = np.empty((config.n_mfcc + len(SPECTRAL_SERIES), count))
    centroid, bandwidth, rolloff, flatness, rms, zcr = table[config.n_mfcc:]
    for start in range(0, count, _BLOCK):
        block = slice(start, min(start + _BLOCK, count))
        bins, flatness[block] = _spectral_block(frames[block], config, mel[block],
                                                moments[block])
        rolloff[block] = freqs[bins]

    # MFCC: librosa.feature.mfcc = DCT-II(power_to_db(mel power spectrogram, top_db))
    mel_db = np.log10(np.maximum(mel, np.float32(1e-10), out=mel), out=mel)
    mel_db *= np.float32(10.0)
    np.maximum(mel_db, mel_db.max() - np.float32(config.top_db), out=mel_db)
    np.matmul(dct, mel_db.T, out=table[:config.n_mfcc])
    # centroid = E_w[f] and bandwidth = sqrt(E_w[(f - centroid)^2]) = sqrt(E_w[f^2] -
    # centroid^2), w the L1-normalised magnitude (a silent frame keeps w = 0, as librosa's
    # normalisation leaves it); frequencies in kHz keep the float32 moments exact enough
    sums = moments.T.astype(np.float64)
    sums[1:] /= np.where(sums[0] < np.finfo(np.float32).tiny, 1.0, sums[0])
    np.multiply(sums[1], 1000.0, out=centroid)
    np.sqrt(np.maximum(sums[2] - sums[1] ** 2, 0.0), out=bandwidth)
    bandwidth *= 1000.0
    rms[:] = np.sqrt(np.einsum("ij,ij->i", frames, frames) / np.float32(config.n_fft))

    # librosa.feature.zero_crossing_rate pads by repeating the edge samples, treats
    # |x| <= 1e-10 as +0 (so a sample is negative iff x < -1e-10), and divides the
    # crossings between consecutive samples of a frame by the frame length. The edge
    # padding adds no crossing, so frame [s, s + n_fft) of the padded signal counts the
    # crossings at positions s + 1 .. s + n_fft - 1 of the unpadded one, clipped to it.
    negative = y < np.float32(-1e-10)
    changes = np.flatnonzero(negative[1:] != negative[:-1]) + 1
    starts = np.arange(count) * config.hop - config.n_fft // 2
    inside = np.searchsorted(changes, starts + config.n_fft, side="left")
    zcr[:] = (inside - np.searchsorted(changes, starts, side="right")) / config.n_fft

    # YIN only runs where its estimate is used
    voiced = np.flatnonzero(_voiced(rms, zcr, config))
    period = np.empty(voiced.size, dtype=np.intp)
    neighbours = np.empty((voiced.size, 3), dtype=np.float32)
    windows = framed(config.yin_frame, size)
    for start in range(0, voiced.size, _BLOCK):
        block = slice(start, start + _BLOCK)
        _yin_block(windows, voiced[block], config, periods, period[block], neighbours[block])
    return table, _yin_f0(period, neighbours, config, periods)


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
    table, f0 = analyse_frames(y, config)
    names = series_names(config)
    return {**dict(zip(names[:-1], table, strict=True)), names[-1]: f0}


def librosa_series(y: np.ndarray, config: AcousticConfig = DEFAULT_CONFIG
                   ) -> dict[str, np.ndarray]:
    """The series of :func:`frame_features` the straightforward way: one librosa call per
    feature, each with its own STFT or framing, and ``librosa.yin`` over every frame.

    The reference that the fast path is tested and benchmarked against; needs librosa
    (the ``dev`` extra). Same parameters, librosa's defaults for everything else.
    """
    import librosa

    c = config
    stft = {"n_fft": c.n_fft, "hop_length": c.hop}
    frame = {"frame_length": c.n_fft, "hop_length": c.hop}
    # what librosa.feature.mfcc(y=...) computes, with top_db taken from the configuration
    mel = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=c.rate, n_mels=c.n_mels,
                                                             **stft), top_db=c.top_db)
    out = dict(zip(series_names(c), librosa.feature.mfcc(S=mel, n_mfcc=c.n_mfcc), strict=False))
    out["centroid"] = librosa.feature.spectral_centroid(y=y, sr=c.rate, **stft)[0]
    out["bandwidth"] = librosa.feature.spectral_bandwidth(y=y, sr=c.rate, **stft)[0]
    out["rolloff"] = librosa.feature.spectral_rolloff(y=y, sr=c.rate,
                                                      roll_percent=c.rolloff_percent, **stft)[0]
    out["flatness"] = librosa.feature.spectral_flatness(y=y, **stft)[0]
    out["rms"] = librosa.feature.rms(y=y, **frame)[0]
    out["zcr"] = librosa.feature.zero_crossing_rate(y, **frame)[0]
    f0 = librosa.yin(y, fmin=c.fmin, fmax=c.fmax, sr=c.rate, frame_length=c.yin_frame,
                     hop_length=c.hop, trough_threshold=c.trough_threshold)
    out["f0"] = f0[_voiced(out["rms"], out["zcr"], c)]
    return out


