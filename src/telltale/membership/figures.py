"""The membership attack's figures: ROC curves on linear and log-log axes (the low-FPR
region Carlini et al., 2022 ask to be shown) and the members' and non-members' score
histograms. Plain functions of arrays; :mod:`telltale.membership.attack` calls them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from telltale import stats
from telltale.tables import format_cell


def roc_figures(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], folder: str | Path,
                stem: str = "roc", title: str = "Membership ROC") -> list[Path]:
    """ROC curves on linear and log-log axes, as PNG files.

    Parameters
    ----------
    curves : mapping label -> (y, scores)
        One curve per label; labels 1 = member. Rows with a NaN score are left out.
    folder : str or Path
        Where the figures go (created if missing).
    stem : str
        File stem: ``{stem}_linear.png`` and ``{stem}_loglog.png`` are written.
    title : str
        Title prefix of both figures.

    Returns
    -------
    list of Path
        The two files written.
    """
    from telltale.figures import pyplot, save_figure

    plt = pyplot()
    folder = Path(folder)
    prepared = []
    for label, (y, s) in curves.items():
        y, s = np.asarray(y).astype(int), np.asarray(s, dtype=float)
        ok = np.isfinite(s)
        fpr, tpr = stats.roc_points(y[ok], s[ok])
        auc = stats.roc_auc(y[ok], s[ok], n_boot=0).value
        prepared.append((f"{label} (AUC {format_cell(auc)})", fpr, tpr,
                         int((y[ok] == 0).sum())))
    # with n non-members the smallest FPR a curve can show is 1/n: the axis stops there
    floor = max((1.0 / n for *_, n in prepared if n), default=1e-3)
    paths = []
    for scale in ("linear", "loglog"):
        fig, ax = plt.subplots(figsize=(4.8, 4.4))
        for label, fpr, tpr, _ in prepared:
            ax.plot(fpr, tpr, lw=1.4, label=label)
        if scale == "loglog":
            # Carlini et al. (2022) read attacks at low FPR; the log axes show that region
            low = floor
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlim(low, 1)
            ax.set_ylim(low, 1)
            ax.plot([low, 1], [low, 1], "k:", lw=0.8)
        else:
            ax.plot([0, 1], [0, 1], "k:", lw=0.8)
        axis = " (log scale)" if scale == "loglog" else ""
        ax.set_xlabel(f"false positive rate{axis}")
        ax.set_ylabel(f"true positive rate{axis}")
        ax.set_title(f"{title} ({'log-log' if scale == 'loglog' else 'linear'})")
        ax.legend(fontsize=8, loc="lower right")
        fig.tight_layout()
        paths.append(save_figure(
            fig, folder / f"{stem}_{scale}.png",
            f"{title} on {'log-log' if scale == 'loglog' else 'linear'} axes: each curve is "
            "one out-of-fold score (the aggregated attack, then the indicators farthest from "
            "chance), its AUC in the legend without an interval (the headline figures give "
            "the aggregated AUC's 95% bootstrap interval); dotted: chance"
            + ("; the axes start at the smallest FPR one non-member gives"
               if scale == "loglog" else "") + "."))
    return paths


def score_histogram(y: np.ndarray, scores: np.ndarray, path: str | Path,
                    title: str = "Membership score") -> Path:
    """Histograms of the out-of-fold attack score of members and of non-members, on one
    axis with shared bins (as mimir draws them): where they overlap, the attack cannot
    tell a clip's membership from its score.

    Parameters
    ----------
    y : array of 0/1
        Membership (1 = member).
    scores : array of float
        One score per clip; NaN scores are left out.
    path : str or Path
        The PNG to write.
    """
    from telltale.figures import pyplot, save_figure

    plt = pyplot()
    y, scores = np.asarray(y).astype(int), np.asarray(scores, dtype=float)
    ok = np.isfinite(scores)
    bins = np.linspace(float(scores[ok].min()), float(scores[ok].max()), 31) if ok.any() \
        else np.linspace(0, 1, 31)
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    for label, member, colour in (("members", 1, "#c0392b"), ("non-members", 0, "#2e6da4")):
        chosen = scores[ok & (y == member)]
        ax.hist(chosen, bins=bins, alpha=0.55, color=colour, label=f"{label} (n={chosen.size})")
    ax.set_xlabel("out-of-fold attack score (higher: more member-like)")
    ax.set_ylabel("clips")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path, f"{title}: the out-of-fold score of each clip, members "
                                  "against non-members, 30 shared bins; no interval (a "
                                  "distribution, not an estimate). The sample browser "
                                  "lists each clip's score and rank.")
