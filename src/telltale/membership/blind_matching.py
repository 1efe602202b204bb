"""Distribution matching on the blind features: a subset of members and non-members
that the blind classifier cannot tell apart.

Greedy 1:1 nearest-neighbour matching on the logit of the propensity of membership, with
a caliper (Austin, 2011), re-estimated round by round until the blind AUC
(:func:`telltale.membership.blind.oof_scores`) reaches its target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from telltale import stats
from telltale.console import log
from telltale.membership.blind import BlindFeatures, oof_scores
from telltale.records import Sample


@dataclass
class MatchedSubset:
    """A distribution-matched subset: ``samples`` (members and non-members in equal
    numbers), its blind AUC before and after matching, and how it was reached
    (``history``: one entry per round with its size, AUC, caliper and propensity ``C``)."""

    samples: list[Sample]
    auc_before: float
    auc_after: float
    rounds: int
    caliper: float
    reached: bool
    history: list[dict[str, float]]

    def to_dict(self) -> dict[str, Any]:
        members = sum(s.member == 1 for s in self.samples)
        return {"n": len(self.samples), "n_members": members,
                "n_nonmembers": len(self.samples) - members, "auc_before": self.auc_before,
                "auc_after": self.auc_after, "rounds": self.rounds,
                "caliper_sd": self.caliper, "reached_target": self.reached,
                "history": self.history}


#: regularisation strengths tried for the propensity model
PROPENSITY_C = (1.0, 0.1, 0.01, 0.001)


def propensity_scores(features: BlindFeatures, family: str, rows: np.ndarray, y: np.ndarray,
                      folds: int = 10, seed: int = 0) -> tuple[np.ndarray, float]:
    """Out-of-fold propensity of membership given the blind features, from the logistic
    regression whose ``C`` in :data:`PROPENSITY_C` gives the lowest out-of-fold log loss.

    Matching wants a calibrated propensity that follows the systematic shift; the
    lightly regularised classifier used for the AUC overfits small samples, which spreads
    its probabilities within each source and lets the caliper pair across sources.

    Returns
    -------
    (scores, C)
    """
    best: tuple[float, np.ndarray, float] | None = None
    for C in PROPENSITY_C:
        p = np.clip(oof_scores(features, family, rows, y, folds, seed, C=C), 1e-6, 1 - 1e-6)
        loss = -float(np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
        if best is None or loss < best[0]:
            best = (loss, p, C)
    assert best is not None
    return best[1], best[2]


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _match_pairs(logit: np.ndarray, y: np.ndarray, width: float,
                 rng: np.random.Generator) -> np.ndarray:
    """Greedy 1:1 nearest-neighbour matching without replacement on the logit of the
    propensity score, within a caliper of ``width`` (Austin, 2011, "Optimal caliper widths
    for propensity-score matching", Pharm. Stat. 10:150). Members are taken in random
    order. Returns the positions kept (pairs)."""
    members = np.flatnonzero(y == 1)
    pool = list(np.flatnonzero(y == 0))
    keep: list[int] = []
    for m in rng.permutation(members):
        if not pool:
            break
        gaps = np.abs(logit[pool] - logit[m])
        best = int(np.argmin(gaps))
        if gaps[best] <= width:
            keep.extend([int(m), pool.pop(best)])
    return np.array(sorted(keep), dtype=int)


def matched_subset(samples: Sequence[Sample], features: BlindFeatures,
                   target_auc: float = 0.5, tol: float = 0.05, seed: int = 0,
                   family: str = "combined", folds: int = 10, caliper: float = 0.2,
                   max_rounds: int = 8, min_pairs: int = 10) -> MatchedSubset:
    """Select members and non-members the blind classifier cannot tell apart.

    Each round scores the current subset out-of-fold with the blind ``family`` classifier
    of :func:`~telltale.membership.blind.score_families`, stops when its AUC is at most
    ``target_auc + tol``, and otherwise keeps the member/non-member pairs matched on the
    propensity of membership
    (:func:`propensity_scores`; :func:`_match_pairs` with a caliper of ``caliper``
    standard deviations of its logit). The propensity is re-estimated on the matched
    subset each round, since a classifier refitted there can find differences the first
    one averaged over; the caliper halves when a round loses no pair but misses the
    target.

    The criterion is one-sided: an out-of-fold AUC below chance on a matched subset is the
    known negative bias of stratified cross-validation when there is no signal (Parker,
    Günter & Bedo, 2007, "Stratification bias in low signal microarray studies", BMC
    Bioinformatics 8:326), not a shift to be matched away.

    Returns
    -------
    MatchedSubset
        ``reached`` says whether the target was met; the subset stops shrinking at
        ``min_pairs`` pairs.
    """
    samples = list(samples)
    if [s.id for s in features.samples] != [s.id for s in samples]:
        raise ValueError("features were computed for other samples")
    rng = np.random.default_rng(seed)
    rows = np.flatnonzero(features.usable())
    history: list[dict[str, float]] = []
    width_sd = caliper
    auc_before = float("nan")
    for round_ in range(max_rounds + 1):
        y = np.array([samples[i].member for i in rows], dtype=int)
        scores = oof_scores(features, family, rows, y, folds, seed)
        auc = stats.roc_auc(y, scores, n_boot=0).value
        if round_ == 0:
            auc_before = auc
        history.append({"round": round_, "n": int(rows.size), "auc": auc, "caliper_sd": width_sd})
        log.info("matching round %d: %d samples, blind AUC %.3f", round_, rows.size, auc)
        if auc <= target_auc + tol or round_ == max_rounds:
            break
        propensity, C = propensity_scores(features, family, rows, y, folds, seed)
        history[-1]["propensity_C"] = C
        logit = _logit(propensity)
        keep = _match_pairs(logit, y, width_sd * float(np.std(logit) or 1.0), rng)
        if keep.size < 2 * min_pairs:
            log.warning("matching stopped: fewer than %d pairs within the caliper", min_pairs)
            break
        if keep.size == rows.size:
            width_sd /= 2
        rows = rows[keep]
    chosen = [samples[i] for i in rows]
    return MatchedSubset(chosen, auc_before, auc, len(history) - 1, width_sd,
                         auc <= target_auc + tol, history)
