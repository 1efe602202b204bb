"""Blind separability between datasets: the inter-dataset AUC matrix of Lee et al.
(2026, "Membership Inference Attacks against Large Audio Language Models", Fig. 2) and
its heatmap.

Each cell is the cross-validated AUC of a blind feature family
(:func:`telltale.membership.blind.oof_scores`) separating two groups of samples;
pairings that are membership-neutral (members of one dataset against members of another)
measure pure distribution shift between the sources.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from telltale import stats
from telltale.membership.blind import BlindFeatures, extract_features, oof_scores
from telltale.records import Sample


@dataclass
class PairwiseAUC:
    """Inter-dataset blind AUCs (Lee et al., 2026, Fig. 2 layout).

    ``auc[i, i]``: dataset i's members against its own non-members (the usual intra-dataset
    question). ``auc[i, j]`` above the diagonal (i < j): dataset i's members against
    dataset j's members; below it (i > j): i's non-members against j's non-members. The
    off-diagonal pairings are membership-neutral: a high AUC there is pure distribution
    shift between the sources. ``n[i, j]`` is the number of samples behind each cell;
    NaN where a side has fewer than two samples.
    """

    datasets: list[str]
    auc: np.ndarray
    n: np.ndarray
    family: str

    def to_dict(self) -> dict[str, Any]:
        return {"datasets": self.datasets, "family": self.family,
                "layout": "diagonal: members vs non-members of one dataset; above: members "
                          "of row vs members of column; below: non-members of row vs "
                          "non-members of column",
                "auc": self.auc.tolist(), "n": self.n.tolist()}


def pairwise_dataset_auc(samples: Sequence[Sample], features: BlindFeatures | None = None,
                         family: str = "combined", folds: int = 5, seed: int = 0,
                         n_jobs: int | None = None) -> PairwiseAUC:
    """Blind AUC of every pairing of datasets (see :class:`PairwiseAUC`).

    Parameters
    ----------
    samples : samples with ``dataset`` and ``member`` set (others are ignored).
    features : their features from :func:`~telltale.membership.blind.extract_features`
        (computed when None).
    family : the feature family (or ``"combined"``) separating the groups.
    folds : cross-validation folds per cell (fewer when a group is smaller).
    """
    samples = list(samples)
    if features is None:
        features = extract_features(samples, n_jobs=n_jobs)
    elif [s.id for s in features.samples] != [s.id for s in samples]:
        raise ValueError("features were computed for other samples")
    if family == "text" and "text" not in features.families:
        raise ValueError("no text features")
    usable = features.usable()
    groups: dict[tuple[str, int], list[int]] = {}
    for i, sample in enumerate(samples):
        if usable[i]:
            groups.setdefault((sample.dataset or "(none)", sample.member), []).append(i)
    datasets = sorted({d for d, _ in groups})
    size = len(datasets)
    auc, n = np.full((size, size), np.nan), np.zeros((size, size), dtype=int)
    for a, first in enumerate(datasets):
        for b, second in enumerate(datasets):
            if a == b:
                positive, negative = groups.get((first, 1), []), groups.get((first, 0), [])
            else:
                role = 1 if a < b else 0
                positive, negative = groups.get((first, role), []), groups.get((second, role), [])
            n[a, b] = len(positive) + len(negative)
            if min(len(positive), len(negative)) < 2:
                continue
            rows = np.array(positive + negative)
            y = np.r_[np.ones(len(positive), int), np.zeros(len(negative), int)]
            scores = oof_scores(features, family, rows, y, folds, seed)
            auc[a, b] = stats.roc_auc(y, scores, n_boot=0).value
    return PairwiseAUC(datasets, auc, n, family)


def heatmap_figure(pairwise: PairwiseAUC, path: str | Path) -> Path:
    """Draw :class:`PairwiseAUC` as an annotated heatmap (PNG, Agg backend)."""
    from telltale.figures import pyplot, save_figure
    from telltale.tables import format_cell

    plt = pyplot()
    labels, matrix = pairwise.datasets, pairwise.auc
    side = 1.1 * len(labels) + 2.4
    fig, ax = plt.subplots(figsize=(side + 1.2, side))
    image = ax.imshow(np.ma.masked_invalid(matrix), vmin=0.0, vmax=1.0, cmap="RdBu_r")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for a in range(len(labels)):
        for b in range(len(labels)):
            text = format_cell(matrix[a, b]) if np.isfinite(matrix[a, b]) else "n/a"
            dark = np.isfinite(matrix[a, b]) and abs(matrix[a, b] - 0.5) > 0.3
            ax.text(b, a, f"{text}\nn={pairwise.n[a, b]}", ha="center", va="center",
                    fontsize=9, color="white" if dark else "black")
    fig.colorbar(image, ax=ax, label=f"blind AUC ({pairwise.family})", shrink=0.8)
    ax.set_title("Blind separability between datasets\n"
                 "diagonal: members vs non-members; above: members vs members;\n"
                 "below: non-members vs non-members", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path, f"Cross-validated blind AUC ({pairwise.family} features, no "
                                  "model) of every pairing of datasets; n: clips in the cell. "
                                  "Point estimates without intervals; n/a: a side with fewer "
                                  "than two clips.")
