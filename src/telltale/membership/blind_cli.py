"""``telltale blind``: phase 1 of the membership audit (blind baselines, no model).

Writes into ``--out``: ``results.json`` (``blind``: per-family AUC with CI, TPR at 1% and
0.1% FPR, the inter-dataset matrix, errors; ``matched``; a verdict and headline summary),
``blind_scores.csv`` (out-of-fold score per sample and family), ``figures/blind_heatmap.png``
when the manifest holds several datasets, ``matched_manifest.csv`` with ``--matched``,
``run.json`` and ``report.html``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from telltale.console import log
from telltale.membership.blind import PERMUTATIONS, SHIFT_AUC, chance_control, is_shifted
from telltale.options import add_run_options, run_config, split_list

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
    from telltale.membership.blind import (
        extract_features,
        heatmap_figure,
        pairwise_dataset_auc,
        score_families,
    )

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


def _row(metric: str, auc: dict[str, Any], control: str) -> dict[str, Any]:
    return {"metric": metric, "value": auc["value"], "low": auc["low"], "high": auc["high"],
            "n": auc["n"], "control": control}



def _verdict(blind: dict[str, Any]) -> dict[str, str]:
    """Shift when a family's AUC reaches :data:`SHIFT_AUC` above chance
    (:func:`~telltale.membership.blind.is_shifted`)."""
    aucs = {f: blind[f]["auc"] for f in ("metadata", "text", "acoustic", "combined")
            if "auc" in blind.get(f, {})}
    shifted = {f: a for f, a in aucs.items()
               if is_shifted(a["value"], a["low"], blind[f].get("null"))}
    if shifted:
        worst = max(shifted, key=lambda f: shifted[f]["value"])
        a = shifted[worst]
        return {"level": "warning", "text": (
            f"Distribution shift: the {worst} blind baseline tells members from non-members "
            f"without any model (AUC {a['value']:.3f} [{a['low']:.3f}, {a['high']:.3f}]). "
            "A membership attack on this corpus would be confounded; use a matched subset "
            "(--matched) or another split.")}
    return {"level": "ok", "text": (
        "No distribution shift detected by the blind baselines (every AUC below "
        f"{SHIFT_AUC}, or its CI or label-shuffle band includes it); a membership attack on "
        "this corpus can be read as memorisation.")}


def run_blind(args: argparse.Namespace) -> int:
    """Run phase 1 from parsed arguments; returns the exit status."""
    from telltale.manifest import ManifestError, load_manifest, write_manifest
    from telltale.membership.blind import matched_subset
    from telltale.report import write_report
    from telltale.run import RunDir

    try:
        families = tuple(split_list(args.families))
        samples, problems = load_manifest(
            args.data, require=("audio", "member"),
            on_error="skip" if args.skip_bad_rows else "raise")
    except (ManifestError, ValueError) as exc:
        log.error("%s", exc)
        return 2
    for problem in problems:
        log.warning("skipped %s", problem)
    if args.limit:
        samples = samples[:args.limit]
    counts = [sum(s.member == m for s in samples) for m in (1, 0)]
    if min(counts) < 2:
        log.error("%s: need at least two members and two non-members (found %d and %d)",
                  args.data, *counts)
        return 2

    run = RunDir(args.out)
    run.start("blind", run_config(args), seed=args.seed, data=args.data)
    try:
        blind = write_blind(run, samples, families, args.folds, args.seed, args.jobs,
                            args.permutations)
    except ValueError as exc:  # unknown family, or too few usable samples after errors
        log.error("%s", exc)
        return 2
    features = blind.pop("features")
    summary = [_row(f"blind AUC ({f})", blind[f]["auc"], chance_control(blind[f]))
               for f in (*FAMILIES, "combined") if "auc" in blind.get(f, {})]
    results: dict[str, Any] = {
        "audit": "blind", "blind": blind, "folds": args.folds, "seed": args.seed,
        "counts": {"samples": len(samples), "members": counts[0], "non-members": counts[1],
                   "left out": len(blind["errors"]), "manifest rows skipped": len(problems)},
        "verdicts": [_verdict(blind)], "errors": blind["errors"],
        "manifest_problems": [str(p) for p in problems],
    }
    if args.matched:
        matched = matched_subset(samples, features, tol=MATCHED_TOL, seed=args.seed,
                                 folds=args.folds)
        path = write_manifest(run.path / "matched_manifest.csv",
                              _manifest_rows(matched.samples))
        results["matched"] = {"manifest": str(path), **matched.to_dict()}
        summary.append({"metric": "blind AUC (combined) on the matched subset",
                        "value": matched.auc_after, "low": None, "high": None,
                        "n": len(matched.samples), "control": f"target 0.5 + {MATCHED_TOL}"})
        if not matched.reached:
            results["verdicts"].append({"level": "warning", "text": (
                f"The matched subset did not reach blind AUC <= {0.5 + MATCHED_TOL} "
                f"({matched.auc_after:.3f} on {len(matched.samples)} samples).")})
    results["summary"] = summary
    run.write_results(results)
    run.finish()
    write_report(run.path)
    for row in summary:
        ci = f" [{row['low']:.3f}, {row['high']:.3f}]" if row["low"] is not None else ""
        print(f"{row['metric']}: {row['value']:.3f}{ci}  ({row['control']})")
    print(results["verdicts"][0]["text"])
    print(f"results: {run.results_path}")
    return 0


def register(subparsers) -> None:
    """Add ``telltale blind`` to the CLI."""
    blind = subparsers.add_parser(
        "blind", help="membership phase 1: blind baselines (no model) for distribution shift",
        description=__doc__)
    add_run_options(blind)
    blind.add_argument("--families", default="metadata,text,acoustic",
                       help="comma-separated: metadata,text,acoustic (combined is added)")
    blind.add_argument("--folds", type=int, default=10, help="stratified CV folds")
    blind.add_argument("--permutations", type=int, default=PERMUTATIONS,
                       help="label shuffles that measure how far chance alone moves each "
                            "blind AUC (0: none)")
    blind.add_argument("--jobs", type=int, default=0,
                       help="processes for the acoustic features and the label shuffles "
                            "(0: every core)")
    blind.add_argument("--matched", action="store_true",
                       help="also select a distribution-matched subset (matched_manifest.csv)")
    blind.set_defaults(func=run_blind)
