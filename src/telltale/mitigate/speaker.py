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

- **semi-informed**: as lazy-informed, and the verifier adapted to the defence: a
  within-class covariance normalisation (WCCN) back-end, trained on speech anonymised the
  same way by speakers outside the trial list, whitens the embeddings before cosine
  scoring (the 2022 and 2024 challenges retrain the whole verifier on anonymised data; a
  back-end trained on anonymised speech is the part of that which runs on CPU here). The
  speakers are split in two halves; each half's trials are scored with the back-end of the
  other's. (An LDA back-end with Ledoit-Wolf shrinkage was tried first: on a few dozen
  speakers it keeps the directions the defence's noise dominates, and gained nothing on a
  synthetic defence where WCCN halved the EER.)

Trials are scored within each gender, against enrolled speakers of the same gender only,
as the challenge's female and male trial lists are (a cross-gender impostor is easy to
reject and would flatter the verifier); the EER is computed per gender and the headline is
their mean. Every trial score can be logged (:func:`trial_rows`).

The speaker encoder is Resemblyzer's pretrained GE2E model (Wan et al., 2018, "Generalized
end-to-end loss for speaker verification"), which runs offline on CPU; trials are scored by
the cosine similarity of a trial's embedding to the mean of the speaker's enrolment
embeddings. The EER's interval is a bootstrap over enrolled speakers (a speaker's target and
non-target trials drawn together, within each gender), since trials of one speaker are not
independent.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
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
    which enrolled speaker each trial was scored against (the bootstrap unit), the trial
    utterance and the gender of its list ("" where genders are not known)."""

    scores: np.ndarray
    target: np.ndarray
    enrolled: np.ndarray
    utterance: np.ndarray
    gender: np.ndarray

    @classmethod
    def empty(cls) -> Trials:
        return cls(np.empty(0), np.empty(0, bool), *(np.empty(0, object) for _ in range(3)))

    @classmethod
    def concat(cls, parts: Sequence[Trials]) -> Trials:
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(t, f) for t in parts])
                     for f in ("scores", "target", "enrolled", "utterance", "gender")))


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
           speakers: Mapping[str, str], genders: Mapping[str, str] | None = None,
           transform: Callable[[np.ndarray], np.ndarray] | None = None) -> Trials:
    """Every trial utterance scored against every enrolled speaker's model (the mean of
    their enrolment embeddings, renormalised), within its gender where ``genders``
    (utterance -> gender) is given: a trial meets only enrolled speakers of its own gender.
    ``transform`` (e.g. an LDA back-end) maps embeddings (rows) before scoring."""
    def project(vectors: np.ndarray) -> np.ndarray:
        out = transform(vectors) if transform is not None else vectors
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    models: dict[str, list[np.ndarray]] = defaultdict(list)
    for utt, vector in enrol.items():
        models[speakers[utt]].append(vector)
    names = sorted(models)
    if not names or not trial:
        return Trials.empty()
    gender_of = {s: (genders or {}).get(next(u for u in enrol if speakers[u] == s), "")
                 for s in names}
    centroids = np.stack([project(np.stack(models[s])).mean(axis=0) for s in names])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    ids = sorted(trial)
    vectors = project(np.stack([trial[u] for u in ids]))
    scores = vectors @ centroids.T  # (trials, speakers)
    rows, cols = np.nonzero(np.array([[genders is None or gender_of[s] == genders.get(u, "")
                                       for s in names] for u in ids]))
    return Trials(scores[rows, cols],
                  np.array([speakers[ids[r]] == names[c]
                            for r, c in zip(rows, cols, strict=True)], bool),
                  np.array([names[c] for c in cols], dtype=object),
                  np.array([ids[r] for r in rows], dtype=object),
                  np.array([gender_of[names[c]] for c in cols], dtype=object))


def wccn_backend(vectors: np.ndarray, labels: Sequence[str]
                 ) -> Callable[[np.ndarray], np.ndarray]:
    """Within-class covariance normalisation (Hatch et al., 2006, "Within-class covariance
    normalization for SVM-based speaker recognition") fitted on ``vectors`` of the speakers
    ``labels``: embeddings are centred and whitened by the within-speaker covariance, so
    directions in which one speaker's utterances vary (what a defence adds) weigh little.
    The covariance is shrunk towards a scaled identity by the Ledoit-Wolf estimate, since a
    few dozen speakers do not determine a 256-dimensional one. Returns the transform of
    embedding rows."""
    from sklearn.covariance import ledoit_wolf

    labels = np.asarray(list(labels))
    if np.unique(labels).size < 3:
        raise ValueError("a back-end needs at least three training speakers")
    X = np.asarray(vectors, dtype=float)
    residual = X.copy()
    for name in np.unique(labels):
        residual[labels == name] -= X[labels == name].mean(axis=0)
    covariance, _ = ledoit_wolf(residual, assume_centered=True)
    values, vectors_ = np.linalg.eigh(covariance)
    whiten = vectors_ / np.sqrt(np.maximum(values, 1e-12))
    centre = X.mean(axis=0)
    return lambda rows: (np.asarray(rows) - centre) @ whiten


def semi_informed_trials(enrol: Mapping[str, np.ndarray], trial: Mapping[str, np.ndarray],
                         speakers: Mapping[str, str], genders: Mapping[str, str] | None,
                         seed: int = 0) -> Trials:
    """The semi-informed attacker (see the module docstring): enrolment and trials
    defended, speakers split in two seeded halves, each half scored (within itself) through
    a WCCN back-end (:func:`wccn_backend`) trained on every defended utterance of the
    other half."""
    everyone = sorted(set(speakers[u] for u in (*enrol, *trial)))
    rng = np.random.default_rng(seed)
    halves = [set(everyone[i] for i in part) for part in
              np.array_split(rng.permutation(len(everyone)), 2)]
    pooled = {**enrol, **trial}
    parts = []
    for mine, other in ((halves[0], halves[1]), (halves[1], halves[0])):
        train = [u for u in sorted(pooled) if speakers[u] in other]
        if len({speakers[u] for u in train}) < 3:
            continue
        backend = wccn_backend(np.stack([pooled[u] for u in train]),
                               [speakers[u] for u in train])
        parts.append(trials({u: v for u, v in enrol.items() if speakers[u] in mine},
                            {u: v for u, v in trial.items() if speakers[u] in mine},
                            speakers, genders, backend))
    return Trials.concat(parts)


def trial_rows(result: Trials, **meta: Any) -> list[dict[str, Any]]:
    """One JSON-ready row per trial score (with ``meta``, e.g. version and attacker)."""
    return [{**meta, "trial": str(u), "enrolled": str(e), "gender": str(g),
             "score": round(float(s), 6), "target": bool(t)}
            for s, t, e, u, g in zip(result.scores, result.target, result.enrolled,
                                     result.utterance, result.gender, strict=True)]


def eer_estimate(result: Trials, n_boot: int = 200, seed: int = 0,
                 confidence: float = 0.95) -> dict[str, Any]:
    """EER with a percentile bootstrap interval over enrolled speakers. With gendered
    trial lists the EER is computed per gender (``by_gender``) and the figure is their mean,
    the speakers resampled within each gender.

    Returns
    -------
    dict
        ``value``, ``low``, ``high`` (shares, 0-1), ``n`` (trials), ``speakers``,
        ``target_trials``, ``nontarget_trials`` and, with genders, ``by_gender`` (gender ->
        ``value`` and the counts); NaN figures without both kinds of trial.
    """
    lists = sorted(g for g in set(result.gender.tolist()) if g) or [None]

    def eer_of(rows: np.ndarray | None = None) -> float:
        values = []
        for g in lists:
            mask = np.ones(result.scores.size, bool) if g is None else result.gender == g
            keep = np.flatnonzero(mask) if rows is None else rows[mask[rows]]
            t = result.target[keep]
            values.append(equal_error_rate(result.scores[keep][t], result.scores[keep][~t]))
        finite = [v for v in values if not math.isnan(v)]
        return float(np.mean(finite)) if finite else math.nan

    value = eer_of()
    names = np.unique(result.enrolled) if result.enrolled.size else np.empty(0, object)
    out: dict[str, Any] = {
        "value": value, "low": math.nan, "high": math.nan, "n": int(result.scores.size),
        "speakers": int(names.size), "target_trials": int(result.target.sum()),
        "nontarget_trials": int((~result.target).sum())}
    if lists != [None]:
        out["by_gender"] = {}
        for g in lists:
            keep = result.gender == g
            t = result.target[keep]
            out["by_gender"][g] = {
                "value": equal_error_rate(result.scores[keep][t], result.scores[keep][~t]),
                "speakers": int(np.unique(result.enrolled[keep]).size),
                "target_trials": int(t.sum()), "nontarget_trials": int((~t).sum())}
    if math.isnan(value) or names.size < 2 or n_boot <= 0:
        return out
    rows = {name: np.flatnonzero(result.enrolled == name) for name in names}
    pools = [np.array([n for n in names if g is None or result.gender[rows[n][0]] == g],
                      dtype=object) for g in lists]
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        picked = np.concatenate([rows[n] for pool in pools if pool.size
                                 for n in rng.choice(pool, size=pool.size)])
        draw = eer_of(picked)
        if not math.isnan(draw):
            draws.append(draw)
    alpha = (1 - confidence) / 2
    out["low"], out["high"] = (float(q) for q in np.quantile(draws, [alpha, 1 - alpha]))
    return out
