"""Utterance-level acoustic feature vectors for the blind baseline, of many files at once.

Each frame-level series of :func:`telltale.membership.acoustic.analyse_frames` (MFCCs, spectral
centroid, bandwidth, rolloff and flatness, RMS, zero-crossing rate, voiced pitch) is
summarised by its mean, standard deviation and 10th, 50th and 90th percentiles, the
percentiles of all series from one partition. Files are decoded and analysed on a process
pool (``n_jobs``, :func:`telltale.parallel.process_map`); a file that fails leaves a row of
NaN and its reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from telltale.membership.acoustic import (
    DEFAULT_CONFIG,
    AcousticConfig,
    analyse_frames,
    series_names,
)
from telltale.parallel import process_map

SUMMARIES = ("mean", "std", "p10", "p50", "p90")


def feature_names(config: AcousticConfig = DEFAULT_CONFIG) -> list[str]:
    """Names of the utterance-level features: ``<series>_<summary>``, e.g. ``mfcc3_p90``.

    Returns
    -------
    list of str, length ``(n_mfcc + 7) * 5`` (100 with the default configuration).
    """
    return [f"{s}_{stat}" for s in series_names(config) for stat in SUMMARIES]


#: percentiles of :data:`SUMMARIES`
_PERCENTILES = np.array([10.0, 50.0, 90.0])


def summarize(series: np.ndarray) -> np.ndarray:
    """Mean, standard deviation and 10th, 50th, 90th percentiles of each row.

    The percentiles interpolate linearly between order statistics, as ``np.percentile``
    (method "linear"); one partition of all rows around the few order statistics needed
    replaces ``np.percentile``'s general machinery, which costs more than the work here.

    Parameters
    ----------
    series : np.ndarray [shape=(n_series, n_frames)]; an empty row gives NaNs.

    Returns
    -------
    np.ndarray [shape=(n_series, 5)], in :data:`SUMMARIES` order.
    """
    series = np.atleast_2d(np.asarray(series, dtype=np.float64))
    out = np.full((series.shape[0], len(SUMMARIES)), np.nan)
    count = series.shape[1]
    if count == 0:
        return out
    out[:, 0] = series.mean(axis=1)
    out[:, 1] = series.std(axis=1)
    position = _PERCENTILES / 100.0 * (count - 1)
    low = np.floor(position).astype(np.intp)
    high = np.minimum(low + 1, count - 1)
    ordered = np.partition(series, np.union1d(low, high), axis=1)
    below, above = ordered[:, low], ordered[:, high]
    out[:, 2:] = below + (above - below) * (position - low)
    return out


def utterance_features(y: np.ndarray, config: AcousticConfig = DEFAULT_CONFIG) -> np.ndarray:
    """The utterance-level feature vector of one signal, ordered as :func:`feature_names`."""
    table, f0 = analyse_frames(y, config)
    return np.concatenate([summarize(table).ravel(), summarize(f0).ravel()])


def clip_features(path: str | Path, config: AcousticConfig = DEFAULT_CONFIG) -> np.ndarray:
    """Decode one audio file (mono, resampled to ``config.rate``) and return its features.

    Raises
    ------
    MediaError
        The file cannot be decoded (the message names it).
    """
    from telltale.media.audio import load_audio

    return utterance_features(load_audio(path, rate=config.rate), config)


def _one(job: tuple[str, AcousticConfig]) -> tuple[np.ndarray | None, str | None]:
    path, config = job
    try:
        return clip_features(path, config), None
    except Exception as exc:  # one bad file must not end the batch; the reason is kept
        message = str(exc)
        if path not in message:
            message = f"{path}: {exc.__class__.__name__}: {message}"
        return None, message


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
    # the decoder, imported lazily by load_audio, is imported here before the pool forks,
    # so that every worker inherits it instead of importing it again
    import soundfile  # noqa: F401

    names = feature_names(config)
    jobs = [(str(p), config) for p in paths]
    results = process_map(_one, jobs, n_jobs)
    matrix = np.full((len(jobs), len(names)), np.nan)
    errors: dict[int, str] = {}
    for row, (values, error) in enumerate(results):
        if error is None:
            matrix[row] = values
        else:
            errors[row] = error
    return matrix, names, errors
