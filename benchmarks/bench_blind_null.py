"""Blind AUCs on random member splits: how far from 0.5 chance alone takes them, by size.

A corpus split into members and non-members at random has no distribution shift, so every
blind family should read chance. How close to 0.5 one split lands depends on how many
clips there are, and more than the usual AUC formula suggests: clips of one voice or one
engine move together, and a cross-validated classifier learns from the very labels it is
scored against. This benchmark measures that spread with the audit's own classifier
(``telltale.membership.blind``: stratified 10-fold logistic regression per family), so
that a target such as "blind AUC within 0.5 +- 0.07 on a random split" can be checked
against what the sample size allows.

Usage::

    python benchmarks/bench_blind_null.py [--sizes 240,480,960,2000] [--splits 25]
                                          [--seed 0] [--data MANIFEST] [--json out.json]

The corpus (``telltale corpus speech`` with ``--seed``, the largest size; or ``--data``)
is featurised once; each size takes its first clips, the way a smaller corpus of the same
seed would be made. For each of ``--splits`` random half/half member splits every family is
scored. Printed per size and family: mean and SD of the AUC, the share of splits within
0.5 +- 0.07, the share that a bootstrap interval alone would call shifted (AUC >= 0.6 with
its CI above 0.5; telltale's rule, ``telltale.membership.blind.is_shifted``, also asks for
the AUC to clear its label-shuffle band, which takes 20 more scorings per family and is
left out here), and per size the share of splits with every family within 0.5 +- 0.07.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import machine_info

from telltale import stats
from telltale.manifest import load_manifest
from telltale.membership.blind import FAMILIES as FEATURE_FAMILIES
from telltale.membership.blind import SHIFT_AUC, extract_features, oof_scores

FAMILIES = (*FEATURE_FAMILIES, "combined")
BAND = 0.07


def split_aucs(features, size: int, splits: int, rng: np.random.Generator
               ) -> dict[str, list[dict[str, float]]]:
    """AUC (with bootstrap CI) of every family on ``splits`` random member splits of the
    first ``size`` clips."""
    rows = np.arange(size)
    out: dict[str, list[dict[str, float]]] = {family: [] for family in FAMILIES}
    for _ in range(splits):
        y = rng.permutation(np.arange(size) < size // 2).astype(int)
        for family in FAMILIES:
            auc = stats.roc_auc(y, oof_scores(features, family, rows, y), n_boot=500)
            out[family].append({"auc": auc.value, "low": auc.low, "high": auc.high})
    return out


def summarise(aucs: dict[str, list[dict[str, float]]]) -> dict[str, object]:
    values = {family: np.array([a["auc"] for a in runs]) for family, runs in aucs.items()}
    inside = {family: np.abs(v - 0.5) <= BAND for family, v in values.items()}
    return {
        "families": {family: {
            "mean": float(v.mean()), "sd": float(v.std(ddof=1)),
            "min": float(v.min()), "max": float(v.max()),
            "within_band": float(inside[family].mean()),
            "ci_rule_shifted": float(np.mean([a["auc"] >= SHIFT_AUC and a["low"] > 0.5
                                             for a in aucs[family]])),
        } for family, v in values.items()},
        "all_families_within_band": float(np.mean(np.all(list(inside.values()), axis=0))),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="240,480,960,2000")
    parser.add_argument("--splits", type=int, default=25, help="random splits per size")
    parser.add_argument("--seed", type=int, default=0, help="corpus and split seed")
    parser.add_argument("--data", type=Path, help="a speech manifest to use instead")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))

    with tempfile.TemporaryDirectory(prefix="telltale-bench-null-") as tmp:
        manifest = args.data
        if manifest is None:
            from telltale.corpus.speech import build_speech_corpus

            manifest = build_speech_corpus(Path(tmp) / "corpus", sizes[-1], seed=args.seed)
        samples, _ = load_manifest(manifest, require=("audio", "text"))
        if len(samples) < sizes[-1]:
            raise SystemExit(f"{manifest} has {len(samples)} clips, fewer than {sizes[-1]}")
        samples = samples[:sizes[-1]]
        for sample in samples:  # the splits below assign membership
            sample.member = 0
        started = time.perf_counter()
        features = extract_features(samples)
        if features.errors:
            raise SystemExit(f"unreadable clips: {list(features.errors.values())[:3]}")
        feature_seconds = time.perf_counter() - started

    machine = machine_info()
    rng = np.random.default_rng(args.seed)
    result: dict[str, object] = {"machine": machine, "seed": args.seed, "splits": args.splits,
                                 "band": BAND, "shift_auc": SHIFT_AUC,
                                 "feature_seconds": round(feature_seconds, 1), "sizes": {}}
    print(f"{args.splits} random member splits per size; blind AUC per family: mean +- SD "
          f"[min, max], share within 0.5 +- {BAND}, share with AUC >= {SHIFT_AUC} and CI above 0.5")
    for size in sizes:
        started = time.perf_counter()
        figures = summarise(split_aucs(features, size, args.splits, rng))
        figures["seconds"] = round(time.perf_counter() - started, 1)
        result["sizes"][size] = figures
        print(f"n = {size}: every family within the band on "
              f"{figures['all_families_within_band']:.0%} of splits ({figures['seconds']} s)")
        for family, f in figures["families"].items():
            print(f"  {family:<9} {f['mean']:.3f} +- {f['sd']:.3f} [{f['min']:.3f}, "
                  f"{f['max']:.3f}]  within {f['within_band']:.0%}  CI rule shifted "
                  f"{f['ci_rule_shifted']:.0%}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
