"""The classical attacker of voice anonymisation: automatic speaker verification (ASV).

As the VoicePrivacy Challenge measures privacy (Tomashenko et al., 2024, evaluation plan,
Sec. 3.1), an attacker holds enrolment utterances of each speaker and decides whether a
trial utterance was spoken by them; the privacy figure is the equal error rate (EER) of
that decision: 50% means the attacker cannot link the voice at all, 0% that it always can.
Two attackers:

- **ignorant**: enrolment on original speech, trials anonymised (the attacker does not
  know a defence was applied; the challenge's "OA" condition);
- **lazy-informed**: enrolment anonymised with the same defence (other random draws),
  trials anonymised (the attacker knows the defence and applies it to their own enrolment
  data; the challenge's "AA" condition, without retraining the verifier).

The speaker encoder is Resemblyzer's pretrained GE2E model (Wan et al., 2018, "Generalized
end-to-end loss for speaker verification"), which runs offline on CPU; trials are scored by
the cosine similarity of a trial's embedding to the mean of the speaker's enrolment
embeddings. The EER's interval is a bootstrap over enrolled speakers (a speaker's target and
non-target trials drawn together), since trials of one speaker are not independent.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from telltale.media.audio import TARGET_RATE

_ENCODER: Any = None


def embed(audio: np.ndarray, rate: int = TARGET_RATE) -> np.ndarray:
    """The GE2E speaker embedding (256 values, unit norm) of one clip.

    Resemblyzer normalises the volume and trims long silences (webrtcvad) first.

    Raises
    ------
    ValueError
        For a silent clip, and when the voice-activity detector leaves too little speech
        to embed.
    """
    global _ENCODER
    from resemblyzer import VoiceEncoder, preprocess_wav

    from telltale.media.audio import SILENCE_PEAK

    audio = np.asarray(audio, dtype=np.float32)
    if audio.size == 0 or np.max(np.abs(audio)) < SILENCE_PEAK:
        raise ValueError("the clip is silent: no voice to embed")
    if _ENCODER is None:
        _ENCODER = VoiceEncoder("cpu", verbose=False)
    wav = preprocess_wav(audio, source_sr=rate)
    if wav.size < rate // 4:
        raise ValueError(f"too little speech to embed a voice ({wav.size / rate:.2f} s after "
                         "trimming silences)")
    return np.asarray(_ENCODER.embed_utterance(wav), dtype=np.float32)


def equal_error_rate(target: Sequence[float], nontarget: Sequence[float]) -> float:
    """The EER of a verifier from its target-trial and non-target-trial scores.

    The operating point where the miss rate (targets below the threshold) equals the
    false-alarm rate (non-targets at or above it), linearly interpolated between the two
    thresholds where their difference changes sign.
    """
    t = np.sort(np.asarray(target, dtype=float))
    n = np.sort(np.asarray(nontarget, dtype=float))
    if t.size == 0 or n.size == 0:
        return math.nan
    thresholds = np.unique(np.concatenate((t, n, [np.inf])))
    miss = np.searchsorted(t, thresholds, side="left") / t.size
    false_alarm = 1.0 - np.searchsorted(n, thresholds, side="left") / n.size
    gap = miss - false_alarm  # rises from <= 0 to >= 0 as the threshold grows
    i = int(np.argmax(gap >= 0))
    if i == 0 or gap[i] == 0:
        return float((miss[i] + false_alarm[i]) / 2)
    # between thresholds i-1 and i the two rates cross; interpolate on the gap
    w = gap[i] / (gap[i] - gap[i - 1])
    return float((1 - w) * (miss[i] + false_alarm[i]) / 2
                 + w * (miss[i - 1] + false_alarm[i - 1]) / 2)


@dataclass(frozen=True)
class Trials:
    """Verification trials: cosine score, whether the trial speaker is the enrolled one,
    and which enrolled speaker each trial was scored against (the bootstrap unit)."""

    scores: np.ndarray
    target: np.ndarray
    enrolled: np.ndarray


def split_enrolment(speakers: Mapping[str, str], seed: int = 0) -> tuple[list[str], list[str]]:
    """Enrolment and trial utterance ids: for each speaker with at least two utterances,
    half of them (rounded down, at least one), drawn with ``seed``, enrol; every other
    utterance is a trial. ``speakers`` maps utterance id -> speaker."""
    by_speaker: dict[str, list[str]] = defaultdict(list)
    for utt, spk in sorted(speakers.items()):
        by_speaker[spk].append(utt)
    rng = np.random.default_rng(seed)
    enrol, trial = [], []
    for spk in sorted(by_speaker):
        utts = list(rng.permutation(by_speaker[spk]))
        k = len(utts) // 2 if len(utts) >= 2 else 0
        enrol += utts[:k]
        trial += utts[k:]
    return enrol, trial


def trials(enrol: Mapping[str, np.ndarray], trial: Mapping[str, np.ndarray],
           speakers: Mapping[str, str]) -> Trials:
    """Every trial utterance scored against every enrolled speaker's model (the mean of
    their enrolment embeddings, renormalised)."""
    models: dict[str, list[np.ndarray]] = defaultdict(list)
    for utt, vector in enrol.items():
        models[speakers[utt]].append(vector)
    names = sorted(models)
    if not names or not trial:
        return Trials(np.empty(0), np.empty(0, bool), np.empty(0, object))
    centroids = np.stack([np.mean(models[s], axis=0) for s in names])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    ids = sorted(trial)
    vectors = np.stack([trial[u] / np.linalg.norm(trial[u]) for u in ids])
    scores = vectors @ centroids.T  # (trials, speakers)
    target = np.array([[speakers[u] == s for s in names] for u in ids])
    enrolled = np.broadcast_to(np.array(names, dtype=object), scores.shape)
    return Trials(scores.ravel(), target.ravel(), enrolled.ravel())


def eer_estimate(result: Trials, n_boot: int = 200, seed: int = 0,
                 confidence: float = 0.95) -> dict[str, Any]:
    """EER with a percentile bootstrap interval over enrolled speakers.

    Returns
    -------
    dict
        ``value``, ``low``, ``high`` (shares, 0-1), ``n`` (trials), ``speakers``,
        ``target_trials``, ``nontarget_trials``; NaN figures without both kinds of trial.
    """
    value = equal_error_rate(result.scores[result.target], result.scores[~result.target])
    names = np.unique(result.enrolled) if result.enrolled.size else np.empty(0, object)
    out = {"value": value, "low": math.nan, "high": math.nan, "n": int(result.scores.size),
           "speakers": int(names.size), "target_trials": int(result.target.sum()),
           "nontarget_trials": int((~result.target).sum())}
    if math.isnan(value) or names.size < 2 or n_boot <= 0:
        return out
    rows = {name: np.flatnonzero(result.enrolled == name) for name in names}
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        picked = np.concatenate([rows[n] for n in rng.choice(names, size=names.size)])
        t = result.target[picked]
        if t.any() and (~t).any():
            draws.append(equal_error_rate(result.scores[picked][t], result.scores[picked][~t]))
    alpha = (1 - confidence) / 2
    out["low"], out["high"] = (float(q) for q in np.quantile(draws, [alpha, 1 - alpha]))
    return out
