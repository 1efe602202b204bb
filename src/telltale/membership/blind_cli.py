"""``telltale blind``: phase 1 of the membership audit (blind baselines, no model).

Writes into ``--out``: ``results.json`` (per-family AUC with CI, TPR at 1% and 0.1% FPR,
the inter-dataset matrix, the matched subset, errors), ``blind_scores.csv`` (out-of-fold
score per sample and family), ``figures/blind_heatmap.png`` when the manifest holds several
datasets, ``matched_manifest.csv`` with ``--matched``, and ``run.json``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from telltale.console import log
from telltale.options import add_run_options, run_config

#: blind AUC up to which a corpus counts as distribution-matched (Lee et al., 2026, call
#: corpora with blind AUC near 0.5 "clean")
MATCHED_TOL = 0.05


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


def run_blind(args: argparse.Namespace) -> int:
    """Run phase 1 from parsed arguments; returns the exit status."""
    from telltale.manifest import ManifestError, load_manifest, write_manifest
    from telltale.membership.blind import (
        extract_features,
        heatmap_figure,
        matched_subset,
        pairwise_dataset_auc,
        score_families,
    )
    from telltale.run import RunDir

    try:
        families = tuple(f for f in args.families.split(",") if f.strip())
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
        features = extract_features(samples, families, n_jobs=args.jobs)
    except ValueError as exc:
        log.error("%s", exc)
        return 2
    for row, reason in sorted(features.errors.items()):
        log.warning("left out %s: %s", samples[row].id, reason)
    try:
        results, scores = score_families(features, folds=args.folds, seed=args.seed)
    except ValueError as exc:  # too few usable samples after errors
        log.error("%s", exc)
        return 2
    write_blind_scores(run.path / "blind_scores.csv", samples, scores)
    out: dict[str, Any] = {
        "audit": "blind", "data": str(args.data), "folds": args.folds, "seed": args.seed,
        "families": results,
        "errors": [{"sample_id": samples[i].id, "error": e}
                   for i, e in sorted(features.errors.items())],
        "skipped_rows": [str(p) for p in problems],
    }
    for family, result in results.items():
        if "auc" in result:
            auc = result["auc"]
            log.info("blind AUC %-9s %.3f [%.3f, %.3f]", family, auc["value"], auc["low"],
                     auc["high"])

    if len({s.dataset for s in samples}) > 1:
        pairwise = pairwise_dataset_auc(samples, features, seed=args.seed)
        out["pairwise"] = pairwise.to_dict()
        heatmap_figure(pairwise, run.figures / "blind_heatmap.png")
    if args.matched:
        matched = matched_subset(samples, features, tol=MATCHED_TOL, seed=args.seed,
                                 folds=args.folds)
        write_manifest(run.path / "matched_manifest.csv", _manifest_rows(matched.samples))
        out["matched"] = matched.to_dict()
        log.info("matched subset: %d samples, blind AUC %.3f -> %.3f%s", len(matched.samples),
                 matched.auc_before, matched.auc_after,
                 "" if matched.reached else " (target not reached)")
    run.write_results(out)
    run.finish(n_samples=len(samples), n_errors=len(features.errors))
    log.info("blind baselines in %s", run.results_path)
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
    blind.add_argument("--jobs", type=int, default=0,
                       help="processes for acoustic features (0: every core)")
    blind.add_argument("--matched", action="store_true",
                       help="also select a distribution-matched subset (matched_manifest.csv)")
    blind.set_defaults(func=run_blind)
