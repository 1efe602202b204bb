"""Black-box membership inference from sampled transcriptions: text in, text out.

A model that returns no log-probabilities still shows how sure it is: asked several times
at a temperature, it repeats a clip it was trained on nearly word for word, and wanders on
one it never saw. SaMIA (Kaneko et al., 2024, "Sampling-based Pseudo-Likelihood for
Membership Inference Attacks") turns this into a score: sample several continuations and
average their ROUGE-1 overlap with the reference text; the mean overlap stands in for the
likelihood. For speech the "continuation" is the transcription of the whole clip, so the
features per clip are:

- ``rouge1_reference`` / ``rouge2_reference``: SaMIA's score, the mean ROUGE-N recall of
  the samples against the manifest transcript (where one exists);
- ``rouge1_greedy`` / ``rouge2_greedy``: the same against the model's own greedy
  transcription, the pseudo ground truth of the two-stage protocol (no transcript needed);
- ``rouge1_pairwise`` / ``rouge2_pairwise``: mean ROUGE-N F1 over pairs of samples, their
  agreement with each other;
- ``exact_greedy``: the share of samples identical to the greedy transcription (after
  normalisation); ``distinct``: distinct samples over samples.

The features are aggregated like the log-probability indicators (out-of-fold logistic
regression, :func:`telltale.membership.attack.aggregate_attack`).
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

FEATURES = ("rouge1_reference", "rouge2_reference", "rouge1_greedy", "rouge2_greedy",
            "rouge1_pairwise", "rouge2_pairwise", "exact_greedy", "distinct")
_WORD = re.compile(r"[\w']+")
#: "Sure!", "Okay,", "Here is the transcription:", "Transcript -" at the start of a reply
_PREAMBLE = re.compile(
    r"^(?:(?:sure|okay|ok|certainly|of course|absolutely)\b[!.,]*\s*)?"
    r"(?:(?:here(?:'s| is)|this is)?\s*(?:the\s+)?(?:audio\s+)?transcri(?:pt|ption|bed"
    r"(?: text)?)(?:\s+of the audio)?(?: is)?\s*[:\-]\s*)?", re.IGNORECASE)


def words(text: str | None) -> list[str]:
    """Lower-cased words without punctuation or a chat preamble ("Sure! Here is the
    transcription: Hello, World!" -> ["hello", "world"]): audio LMs wrap the same
    transcription in varying politeness, which is no disagreement about the audio."""
    text = _PREAMBLE.sub("", (text or "").strip())
    return _WORD.findall(text.lower())


def _ngrams(tokens: Sequence[str], n: int) -> Counter:
    return Counter(zip(*(tokens[i:] for i in range(n)), strict=False))


def rouge_recall(candidate: Sequence[str], reference: Sequence[str], n: int) -> float:
    """ROUGE-N recall (Lin, 2004): clipped n-gram matches over the reference's n-grams;
    NaN when the reference has no n-gram."""
    ref = _ngrams(reference, n)
    total = sum(ref.values())
    if not total:
        return float("nan")
    return sum((_ngrams(candidate, n) & ref).values()) / total


def rouge_f1(a: Sequence[str], b: Sequence[str], n: int) -> float:
    """Symmetric ROUGE-N F1 of two texts; 1.0 when both have no n-gram (both empty agree),
    0.0 when only one has none."""
    ca, cb = _ngrams(a, n), _ngrams(b, n)
    na, nb = sum(ca.values()), sum(cb.values())
    if not na and not nb:
        return 1.0
    if not na or not nb:
        return 0.0
    overlap = sum((ca & cb).values())
    return 2.0 * overlap / (na + nb)


def clip_features(samples: Sequence[str], greedy: str | None,
                  reference: str | None = None) -> dict[str, float]:
    """The black-box features of one clip (see the module docstring).

    Parameters
    ----------
    samples : the sampled transcriptions (at least two for the pairwise features).
    greedy : the greedy transcription (None when the black-box run has none).
    reference : the manifest transcript, when there is one.
    """
    if not samples:
        raise ValueError("black-box features need at least one sampled transcription")
    drawn = [words(s) for s in samples]
    nan = float("nan")
    out: dict[str, float] = {}
    for name, target in (("reference", reference), ("greedy", greedy)):
        tokens = None if target is None else words(target)
        for n in (1, 2):
            defined = tokens is not None and len(tokens) >= n
            out[f"rouge{n}_{name}"] = (float(np.mean([rouge_recall(d, tokens, n)
                                                      for d in drawn])) if defined else nan)
    pairs = list(itertools.combinations(drawn, 2))
    for n in (1, 2):
        out[f"rouge{n}_pairwise"] = (float(np.mean([rouge_f1(a, b, n) for a, b in pairs]))
                                     if pairs else nan)
    out["exact_greedy"] = (nan if greedy is None else
                           float(np.mean([d == words(greedy) for d in drawn])))
    out["distinct"] = len({tuple(d) for d in drawn}) / len(drawn)
    return out


def feature_matrix(per_clip: Sequence[dict[str, float]]) -> tuple[np.ndarray, list[str]]:
    """Rows of :func:`clip_features` as a matrix, dropping features missing for every clip
    (no transcripts: no ``*_reference`` column)."""
    X = np.array([[row.get(f, np.nan) for f in FEATURES] for row in per_clip], dtype=float)
    keep = ~np.all(np.isnan(X), axis=0) if len(X) else np.zeros(len(FEATURES), bool)
    return X[:, keep], [f for f, k in zip(FEATURES, keep, strict=True) if k]
