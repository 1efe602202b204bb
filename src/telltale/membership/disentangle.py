"""Phase 3 of the membership audit: modality disentanglement, and the tables of the paper.

Lee et al., 2026 ("Membership Inference Attacks against Large Audio Language Models",
Sec. 2.4 and Table 2) score every sample again with its audio replaced: by silence (zeros,
isolating what the text prior alone leaks), Gaussian noise (non-semantic acoustic input) and
a resynthesis of the transcript in another voice (K realisations; the AUC is averaged over
them and its SD reported). If the AUC collapses to chance once the original audio is gone,
the model's memory binds this voice to this text. Their test of each condition against the
original is a paired t-test; here it runs on the per-sample aggregated scores (for TTS the
mean over realisations), on all samples and on members and non-members apart: a collapse
shows as members' scores falling while non-members' stay.

The functions take aligned per-sample score arrays (NaN where a sample is missing in a
condition), so they run on stored records without a model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from telltale import stats
from telltale.membership.attack import as_estimate
from telltale.stats import Estimate
from telltale.tables import write_table

#: display names of the conditions, in the paper's column order
CONDITION_LABELS = {"original": "Original", "silence": "Silence", "noise": "Noise",
                    "tts": "Synthesized"}
BLIND_FAMILIES = ("metadata", "text", "acoustic")


def _auc_or_nan(y: np.ndarray, s: np.ndarray, n_boot: int, seed: int) -> Estimate:
    ok = np.isfinite(s)
    if np.bincount(y[ok], minlength=2).min() < 1:
        return Estimate(math.nan, math.nan, math.nan, int(ok.sum()))
    return stats.roc_auc(y[ok], s[ok], n_boot=n_boot, seed=seed)


def disentangle(y: np.ndarray, scores: Mapping[str, np.ndarray], n_boot: int = 1000,
                seed: int = 0) -> dict[str, dict[str, Any]]:
    """AUC per condition and paired t-tests against the original.

    Parameters
    ----------
    y : np.ndarray, shape (n,)
        1 for members, 0 for non-members.
    scores : mapping condition -> np.ndarray, shape (n,) or (K, n)
        Per-sample aggregated MIA scores per condition, aligned with ``y``; a 2-D array
        holds ``K`` realisations (TTS). Must contain ``"original"``. NaN marks a sample
        missing in that condition (left out of that AUC and of the paired tests).
    n_boot : int
        Bootstrap replicates of each AUC interval.
    seed : int
        Seed of the bootstraps.

    Returns
    -------
    dict condition -> dict
        ``auc`` (of the per-sample mean over realisations, with CI), ``auc_realisations``
        (one AUC per realisation), ``auc_mean`` and ``auc_sd`` (over realisations; the SD is
        0 with one realisation), ``realisations``, ``delta_vs_original`` (``auc_mean``
        minus the original's), ``paired_t`` (all samples, condition minus original:
        ``t``, ``p``, ``mean_diff``, ``n``), ``paired_t_members``, ``paired_t_nonmembers``.
        The original has ``delta_vs_original`` 0 and no tests (None).
    """
    y = np.asarray(y).astype(int)
    if "original" not in scores:
        raise ValueError(f"disentanglement needs the original condition; got {sorted(scores)}")
    matrices = {}
    for condition, values in scores.items():
        m = np.atleast_2d(np.asarray(values, dtype=float))
        if m.ndim != 2 or m.shape[1] != y.size:
            raise ValueError(f"scores of condition {condition!r} have shape "
                             f"{np.asarray(values).shape}; expected ({y.size},) or (K, {y.size})")
        matrices[condition] = m
    if matrices["original"].shape[0] != 1:
        raise ValueError("the original condition must have exactly one realisation")
    original = matrices["original"][0]
    out: dict[str, dict[str, Any]] = {}
    base_auc = math.nan
    for condition, m in matrices.items():
        aucs = [_auc_or_nan(y, row, 0, seed).value for row in m]
        finite = np.isfinite(m)
        count = finite.sum(axis=0)
        total = np.where(finite, m, 0.0).sum(axis=0)
        # a sample keeps the mean of the realisations it has; with none it is missing
        mean_scores = np.divide(total, count, out=np.full(y.size, np.nan), where=count > 0)
        auc = _auc_or_nan(y, mean_scores, n_boot, seed)
        finite_aucs = [a for a in aucs if not math.isnan(a)]
        auc_mean = float(np.mean(finite_aucs)) if finite_aucs else math.nan
        entry: dict[str, Any] = {
            "auc": auc.to_dict(), "auc_realisations": aucs, "auc_mean": auc_mean,
            "auc_sd": float(np.std(finite_aucs, ddof=1)) if len(finite_aucs) > 1 else 0.0,
            "realisations": int(m.shape[0])}
        if condition == "original":
            base_auc = auc_mean
            entry.update(delta_vs_original=0.0, paired_t=None, paired_t_members=None,
                         paired_t_nonmembers=None)
        else:
            entry["paired_t"] = stats.paired_ttest(mean_scores, original)
            entry["paired_t_members"] = stats.paired_ttest(mean_scores[y == 1], original[y == 1])
            entry["paired_t_nonmembers"] = stats.paired_ttest(mean_scores[y == 0],
                                                              original[y == 0])
        out[condition] = entry
    for condition, entry in out.items():
        if condition != "original":
            entry["delta_vs_original"] = entry["auc_mean"] - base_auc
    return {c: out[c] for c in ("original", *(c for c in out if c != "original"))}


def calibrate_conditions(result: dict[str, dict[str, Any]],
                         matrices: Mapping[str, Sequence[np.ndarray]], y: np.ndarray,
                         original: Mapping[str, Any], folds: int = 10, seed: int = 0,
                         permutations: int = 0, clusters: Sequence[Any] | None = None,
                         n_jobs: int | None = None) -> dict[str, dict[str, Any]]:
    """Each condition's AUC with the refit bootstrap interval and label-shuffle null of the
    whole attack (:func:`telltale.membership.attack.calibrated_auc`) in place of the
    bootstrap of fixed scores, which is too narrow (:mod:`telltale.calibration`).

    Parameters
    ----------
    result : :func:`disentangle` output (changed in place and returned).
    matrices : condition -> the indicator matrix of each realisation, rows aligned with
        ``y``; the original is not recomputed but taken from ``original`` (the attack's
        ``aggregated`` entry: ``auc`` and ``null``).
    """
    from telltale.membership.attack import calibrated_auc

    if "original" in result:
        result["original"]["auc"] = dict(original["auc"])
        result["original"]["null"] = original.get("null")
    for condition, entry in result.items():
        if condition == "original" or condition not in matrices:
            continue
        auc, null = calibrated_auc(matrices[condition], y, entry["auc"]["value"], folds, seed,
                                   permutations=permutations, clusters=clusters,
                                   n_jobs=n_jobs)
        entry["auc"], entry["null"] = auc.to_dict(), null
    return result


def condition_control(entry: Mapping[str, Any], original: Mapping[str, Any]) -> str:
    """The control of a condition's AUC in the headline rows: the original's AUC and, where
    labels were shuffled, the band (and the side, where the AUC falls outside it)."""
    from telltale.membership.attack import auc_control

    text = f"original {original['value']:.3f}"
    if entry.get("null"):
        text += "; " + auc_control(entry)
    return text


def _auc(value: float) -> str:
    """An AUC cell on the 0-1 scale every telltale page uses (the paper prints x 100)."""
    return "–" if value is None or math.isnan(value) else f"{value:.3f}"


def _p(value: float | None) -> str | None:
    """A p-value to three significant digits (5.5e-45, not 0.000)."""
    return None if value is None or math.isnan(value) else f"{value:.3g}"


def _r(value: float) -> str:
    """A correlation as the paper prints it: two decimals, no leading zero (``.59``)."""
    if value is None or math.isnan(value):
        return "–"
    return f"{value:.2f}".replace("0.", ".", 1)


def disentanglement_rows(result: Mapping[str, Mapping[str, Any]]
                         ) -> tuple[list[dict[str, Any]], list[str]]:
    """The disentanglement table of one run, one row per condition.

    The AUC falls when members' scores fall towards the non-members', so the test of the
    headline is the members' own paired t-test of their scores against the original; the
    non-members' test is beside it. The test pooling both classes is not shown: when
    members fall and non-members rise (their scores are set apart by the attack in
    opposite directions) the two shifts cancel and a pooled p near 1 sits beside an AUC
    that collapsed.

    Parameters
    ----------
    result : mapping
        Output of :func:`disentangle`.

    Returns
    -------
    rows : list of dict
        ``condition``, ``AUC`` (mean over realisations), ``SD``, ``ΔAUC`` (vs original),
        ``members t`` and ``members p`` (members' paired t-test against the original),
        ``non-members t`` and ``non-members p``, ``n``.
    columns : list of str
    """
    rows = []
    for condition, v in result.items():
        members = v.get("paired_t_members") or {}
        others = v.get("paired_t_nonmembers") or {}
        rows.append({"condition": CONDITION_LABELS.get(condition, condition),
                     "AUC": v["auc_mean"], "SD": v["auc_sd"] if v["realisations"] > 1 else None,
                     "ΔAUC": v["delta_vs_original"], "members t": members.get("t"),
                     "members p": _p(members.get("p")), "non-members t": others.get("t"),
                     "non-members p": _p(others.get("p")), "n": v["auc"]["n"]})
    return rows, ["condition", "AUC", "SD", "ΔAUC", "members t", "members p",
                  "non-members t", "non-members p", "n"]


def disentanglement_wide_rows(per_dataset: Mapping[str, Mapping[str, Mapping[str, Any]]],
                              conditions: Sequence[str] = tuple(CONDITION_LABELS),
                              alpha: float = 0.05) -> tuple[list[dict[str, Any]], list[str]]:
    """The paper's Table 2 layout: one row per dataset (or dataset and model), AUC (0-1) per
    condition, the SD over realisations as ``± SD``, and ``*`` where the paired t-test
    against the original has p < ``alpha``.

    Parameters
    ----------
    per_dataset : mapping label -> :func:`disentangle` output
    conditions : sequence of str
        Condition columns, in order; a condition a dataset lacks prints as missing.
    alpha : float
        Significance level of the ``*`` mark (the members' paired t-test against the
        original).

    Returns
    -------
    rows : list of dict
    columns : list of str
        ``Dataset`` then the condition labels.
    """
    columns = ["Dataset", *(CONDITION_LABELS.get(c, c) for c in conditions)]
    rows = []
    for label, result in per_dataset.items():
        row: dict[str, Any] = {"Dataset": label}
        for condition in conditions:
            v = result.get(condition)
            if v is None:
                continue
            cell = _auc(v["auc_mean"])
            if v["realisations"] > 1:
                cell += f" ± {v['auc_sd']:.3f}"
            # the members' own shift, what a change of the AUC claims (see
            # disentanglement_rows)
            test = v.get("paired_t_members") or {}
            if test.get("p") is not None and test["p"] < alpha:
                cell += "*"
            row[CONDITION_LABELS.get(condition, condition)] = cell
        rows.append(row)
    return rows, columns


def mia_blind_rows(per_dataset: Mapping[str, Mapping[str, Any]],
                   families: Sequence[str] = BLIND_FAMILIES
                   ) -> tuple[list[dict[str, Any]], list[str]]:
    """The paper's Table 1 layout: MIA AUC beside the blind AUCs, each blind AUC followed
    by the Pearson and Spearman correlation of its scores with the MIA scores.

    Parameters
    ----------
    per_dataset : mapping label -> dict
        Per dataset (or dataset and model): ``mia_auc`` (Estimate or ``{"value", "low",
        "high"}``), ``blind`` (family -> AUC, as in :func:`telltale.membership.attack.diagnose`),
        ``correlation`` (family -> output of
        :func:`telltale.membership.attack.blind_correlations`) and optionally ``verdict``.
    families : sequence of str
        Blind families, in column order.

    Returns
    -------
    rows : list of dict
        Cells as in the paper, on the 0-1 scale (AUC, three decimals); the MIA AUC with its
        95% CI; a blind cell ``0.719 (.59/.55)`` holds its AUC and (Pearson r / Spearman rho).
    columns : list of str
        ``Dataset``, ``MIA AUC``, one column per family, and ``verdict`` when given.
    """
    with_verdict = any("verdict" in v for v in per_dataset.values())
    columns = ["Dataset", "MIA AUC", *(f"{f} (r/ρ)" for f in families)]
    columns += ["verdict"] if with_verdict else []
    rows = []
    for label, entry in per_dataset.items():
        mia = as_estimate(entry["mia_auc"])
        row: dict[str, Any] = {"Dataset": label, "MIA AUC": (
            f"{_auc(mia.value)} [{_auc(mia.low)}, {_auc(mia.high)}]")}
        for family in families:
            auc = entry.get("blind", {}).get(family)
            if auc is None:
                continue
            corr = entry.get("correlation", {}).get(family, {})
            row[f"{family} (r/ρ)"] = (f"{_auc(as_estimate(auc).value)} "
                                      f"({_r(corr.get('pearson_r', math.nan))}/"
                                      f"{_r(corr.get('spearman_rho', math.nan))})")
        if with_verdict:
            row["verdict"] = entry.get("verdict")
        rows.append(row)
    return rows, columns


def write_membership_tables(folder: str | Path,
                            mia_blind: Mapping[str, Mapping[str, Any]],
                            disentanglement: Mapping[str, Mapping[str, Mapping[str, Any]]]
                            | None = None) -> list[Path]:
    """Write the membership tables, Markdown and LaTeX, into ``folder``.

    Parameters
    ----------
    folder : str or Path
        The run's ``tables/`` folder.
    mia_blind : mapping label -> dict
        Input of :func:`mia_blind_rows`.
    disentanglement : mapping label -> :func:`disentangle` output, optional
        Phase 3 results per dataset; with one dataset its long table
        (:func:`disentanglement_rows`) is written too.

    Returns
    -------
    list of Path
        ``mia_vs_blind``, and with phase 3 ``disentanglement`` (paper layout) and, for a
        single dataset, ``disentanglement_tests``; each as ``.md`` and ``.tex``.
    """
    folder = Path(folder)
    paths: list[Path] = []
    rows, columns = mia_blind_rows(mia_blind)
    paths += write_table(folder, "mia_vs_blind", rows, columns, caption=(
        "MIA performance (AUC, 95% CI) against blind baselines. In parentheses: "
        "Pearson r / Spearman rho between the blind and the MIA scores; a high blind AUC "
        "with a positive correlation marks a confound (Lee et al., 2026, Table 1)."))
    if disentanglement:
        rows, columns = disentanglement_wide_rows(disentanglement)
        paths += write_table(folder, "disentanglement", rows, columns, caption=(
            "Modality disentanglement (sample-level AUC). Synthesized: mean ± SD over "
            "realisations. *: members' paired t-test against Original, p < 0.05."))
        if len(disentanglement) == 1:
            (result,) = disentanglement.values()
            rows, columns = disentanglement_rows(result)
            paths += write_table(folder, "disentanglement_tests", rows, columns, caption=(
                "Disentanglement: AUC per condition, change against the original, and the "
                "paired t-tests of members' and of non-members' scores against the "
                "original (the members' own shift is what a fall of the AUC claims)."))
    return paths
