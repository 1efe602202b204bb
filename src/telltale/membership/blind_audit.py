"""The blind audit: phase 1 of the membership protocol (blind baselines, no model).

Writes into the run directory: ``blind.json`` (per-family AUC with CI, TPR at 1% and 0.1%
FPR, the label-shuffle band, the inter-dataset matrix, samples left out),
``blind_scores.csv`` (out-of-fold score per sample and family), ``figures/blind_heatmap.png``
when the manifest holds several datasets, and with ``matched`` ``matched.json`` and
``matched_manifest.csv``. Scoring reads only these files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telltale.audit import Audit, Prepared
from telltale.config import (
    ClipsConfig,
    ConfigError,
    RunOptions,
    option,
    require,
    require_choices,
)
from telltale.console import log
from telltale.findings import Results, SummaryRow, Verdict, caution, inconclusive, leak, no_leak
from telltale.limit import check_resume
from telltale.membership.blind import (
    PERMUTATIONS,
    SHIFT_AUC,
    below_band_note,
    chance_control,
    is_shifted,
    too_few,
)
from telltale.records import Record
from telltale.rundir import RunDir
from telltale.tables import format_cell, format_estimate

#: blind AUC up to which a corpus counts as distribution-matched (Lee et al., 2026, call
#: corpora with blind AUC near 0.5 "clean")
MATCHED_TOL = 0.05
FAMILIES = ("metadata", "text", "acoustic")


def write_blind_scores(path: Path, samples, scores: dict[str, dict[str, float]]) -> None:
    """One row per scored sample: id, member, then one column per family."""
    import csv

    names = list(scores)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "member", *names])
        for sample in samples:
            if names and sample.id in scores[names[0]]:
                writer.writerow([sample.id, sample.member,
                                 *(f"{scores[n][sample.id]:.6f}" for n in names)])


def _manifest_rows(samples) -> list[dict[str, Any]]:
    rows = []
    for s in samples:
        row: dict[str, Any] = {"id": s.id, "audio": str(s.media), "text": s.text or "",
                               "member": s.member, "dataset": s.dataset or ""}
        row.update(s.labels)
        row.update(s.extra)
        rows.append(row)
    return rows


def write_blind(run, samples, families, folds: int, seed: int, jobs: int | None,
                permutations: int = 0) -> dict:
    """Phase 1 into a run directory: ``blind_scores.csv``, ``figures/blind_heatmap.png``
    (several datasets) and the figures as a dict.

    Returns
    -------
    dict
        One entry per scored family (``metadata``, ``text``, ``acoustic``, ``combined``:
        see :func:`telltale.membership.blind.score_families`), ``pairwise`` (several
        datasets), ``errors`` (samples left out, with the reason naming the file), and
        ``features`` (the :class:`~telltale.membership.blind.BlindFeatures`, not JSON; the
        caller pops it).
    """
    from telltale.membership.blind import extract_features, score_families
    from telltale.membership.blind_pairwise import heatmap_figure, pairwise_dataset_auc

    features = extract_features(samples, families, n_jobs=jobs)
    for row, reason in sorted(features.errors.items()):
        log.warning("left out %s: %s", samples[row].id, reason)
    results, scores = score_families(features, folds=folds, seed=seed,
                                     permutations=permutations, n_jobs=jobs)
    write_blind_scores(run.path / "blind_scores.csv", samples, scores)
    out: dict[str, Any] = dict(results)
    if len({s.dataset for s in samples}) > 1:
        pairwise = pairwise_dataset_auc(samples, features, seed=seed)
        out["pairwise"] = pairwise.to_dict()
        heatmap_figure(pairwise, run.figures / "blind_heatmap.png")
    out["errors"] = [{"sample_id": samples[i].id, "error": e}
                     for i, e in sorted(features.errors.items())]
    out["features"] = features
    return out


def blind_verdict(blind: dict[str, Any]) -> Verdict:
    """Shift when a family's AUC reaches :data:`SHIFT_AUC` above chance
    (:func:`~telltale.membership.blind.is_shifted`); inconclusive on too few clips."""
    aucs = {f: blind[f]["auc"] for f in ("metadata", "text", "acoustic", "combined")
            if "auc" in blind.get(f, {})}
    shifted = {f: a for f, a in aucs.items()
               if is_shifted(a["value"], a["low"], blind[f].get("null"))}
    counts = blind.get("counts", {})
    small = too_few(counts.get("members", 0), counts.get("non-members", 0))
    note = below_band_note(blind)
    if small:
        return inconclusive(small + note)
    if shifted:
        worst = max(shifted, key=lambda f: shifted[f]["value"])
        a = shifted[worst]
        return leak(
            f"Distribution shift: the {worst} blind baseline tells members from non-members "
            f"without any model (AUC {format_estimate(a)}). "
            "A membership attack on this corpus would be confounded; use a matched subset "
            "(--matched) or another split." + note, label="Distribution shift")
    return no_leak(
        "No distribution shift detected by the blind baselines (every AUC below "
        f"{SHIFT_AUC}, or within what label shuffles give the largest family); a "
        "membership attack on this corpus can be read as memorisation." + note, label="No shift")


@dataclass(frozen=True)
class BlindConfig(ClipsConfig):
    """Phase 1 alone: which baselines, how cross-validated, how many label shuffles."""

    families: tuple[str, ...] = option(FAMILIES, "metadata, text, acoustic (combined is "
                                                  "added)")
    folds: int = option(10, "stratified cross-validation folds")
    permutations: int = option(PERMUTATIONS, "label shuffles that measure how far chance "
                                             "alone moves each blind AUC (0: none)")
    matched: bool = option(False, "also select a distribution-matched subset "
                                  "(matched_manifest.csv)")

    def validate(self) -> None:
        super().validate()
        require_choices(self.families, FAMILIES, "families")
        require(self.folds >= 2, "folds", f"must be at least 2, got {self.folds}")
        require(self.permutations >= 0, "permutations",
                f"must be 0 (none) or more, got {self.permutations}")


def load_members(data: Path, skip_bad_rows: bool, limit: int | None,
                 max_seconds: float | None = None, seed: int = 0):
    """The manifest's samples (with a member column; ``limit`` of them, half members,
    drawn with ``seed``: :func:`telltale.limit.select_rows`) and its problems; refuses a
    sample that leaves members or non-members with fewer than two clips."""
    from telltale.limit import select_rows
    from telltale.manifest import load_manifest

    samples, problems = load_manifest(data, require=("audio", "member"),
                                      max_seconds=max_seconds,
                                      on_error="skip" if skip_bad_rows else "raise")
    samples = select_rows(samples, limit, seed, by_member=True)
    counts = [sum(s.member == m for s in samples) for m in (1, 0)]
    if min(counts) < 2:
        raise ConfigError(f"{data}: need at least two members and two non-members"
                          f"{' within --limit' if limit else ''} (found {counts[0]} and "
                          f"{counts[1]})")
    return samples, [str(p) for p in problems]


def run_baselines(run: RunDir, samples, families, folds: int, seed: int, jobs: int | None,
                  permutations: int):
    """Phase 1 into the run directory (``blind.json`` and what :func:`write_blind`
    writes), unless it is there already; returns the features, or None when reused."""
    if (run.path / "blind.json").exists():
        return None
    log.info("phase 1: blind baselines on %d samples", len(samples))
    run.create()
    blind = write_blind(run, samples, families, folds, seed, jobs, permutations)
    features = blind.pop("features")
    members = sum(s.member == 1 for s in samples)
    blind["counts"] = {"samples": len(samples), "members": members,
                       "non-members": len(samples) - members}
    run.write_json("blind.json", blind)
    return features


def blind_summary(blind: dict[str, Any]) -> list[SummaryRow]:
    """A headline row per scored family."""
    return [SummaryRow.of(f"blind AUC ({f})", blind[f]["auc"], chance_control(blind[f]))
            for f in (*FAMILIES, "combined") if "auc" in blind.get(f, {})]


class BlindAudit(Audit):
    """Can members be told from non-members without the model? (Lee et al., 2026)"""

    name = "blind"
    config_class = BlindConfig
    summary = "membership phase 1: blind baselines (no model) for distribution shift"
    uses_model = False
    uses_jobs = True

    def prepare(self, run: RunDir, options: RunOptions) -> Prepared:
        config = self.config
        self._samples, problems = load_members(config.data, config.skip_bad_rows,
                                               config.limit, config.max_audio_seconds,
                                               config.seed)
        check_resume(run, self._samples, config.limit, config.seed)
        return Prepared(config.data, problems)

    def setup(self, run: RunDir, options: RunOptions) -> None:
        from telltale.manifest import write_manifest
        from telltale.membership.blind_matching import matched_subset

        config, samples = self.config, self._samples
        features = run_baselines(run, samples, config.families, config.folds, config.seed,
                                 options.jobs, config.permutations)
        if config.matched and features is not None:
            matched = matched_subset(samples, features, tol=MATCHED_TOL, seed=config.seed,
                                     folds=config.folds)
            path = write_manifest(run.path / "matched_manifest.csv",
                                  _manifest_rows(matched.samples))
            run.write_json("matched.json", {"manifest": str(path), **matched.to_dict()})

    def metrics(self, run: RunDir, records: list[Record]) -> Results:
        blind = run.read_json("blind.json")
        found = Results(blind_summary(blind), [blind_verdict(blind)], {
            "blind": blind, "folds": self.config.folds, "seed": self.config.seed,
            "counts": {**blind["counts"], "left out": len(blind["errors"])},
            "errors": blind["errors"]})
        if (run.path / "matched.json").exists():
            matched = run.read_json("matched.json")
            found.details["matched"] = matched
            found.summary.append(SummaryRow(
                "blind AUC (combined) on the matched subset", matched["auc_after"],
                n=matched["n"], control=f"target 0.5 + {MATCHED_TOL}"))
            if not matched["reached_target"]:
                found.verdicts.append(caution(
                    f"The matched subset did not reach blind AUC <= {0.5 + MATCHED_TOL} "
                    f"({format_cell(matched['auc_after'])} on {matched['n']} samples)."))
        return found
