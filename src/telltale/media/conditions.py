"""Media conditions of a probe: the original signal or a controlled replacement.

``silence`` and ``noise`` keep the length of the original so that any difference in a
model's answer comes from content, not duration (HearSay's blind control; the membership
protocol's modality disentanglement).
"""

from __future__ import annotations

import zlib

import numpy as np

CONDITIONS = ("original", "silence", "noise")


def silence_like(audio: np.ndarray) -> np.ndarray:
    """Digital silence of the same length."""
    return np.zeros_like(np.asarray(audio, dtype=np.float32))


def noise_like(audio: np.ndarray, level: float = 0.05, seed: int = 0,
               key: str = "") -> np.ndarray:
    """Gaussian noise of the same length with standard deviation ``level``.

    The generator is seeded from ``seed`` and ``key`` (a sample id) so that every sample
    gets its own noise, identical from run to run.
    """
    rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
    return rng.normal(0.0, level, size=np.asarray(audio).shape).astype(np.float32)


def apply_condition(audio: np.ndarray, condition: str, seed: int = 0, key: str = "",
                    noise_level: float = 0.05) -> np.ndarray:
    """Return the audio a model receives under ``condition`` (original, silence, noise)."""
    if condition == "original":
        return np.asarray(audio, dtype=np.float32)
    if condition == "silence":
        return silence_like(audio)
    if condition == "noise":
        return noise_like(audio, level=noise_level, seed=seed, key=key)
    raise ValueError(f"unknown media condition {condition!r}; expected one of {CONDITIONS}")
