"""The membership audit: blind baselines, the indicator-vector attack and modality
disentanglement, following Lee et al., 2026 ("Membership Inference Attacks against Large
Audio Language Models").

Phase 2 is the two-stage protocol: the model transcribes each clip greedily and its own
output is scored as pseudo ground truth; the per-token statistics come from the same pass
when the backend can (``stats_on_generate``), otherwise from a second scoring pass. The
statistics are stored in the records, so ``telltale score`` recomputes every indicator.
"""

from __future__ import annotations

import csv
import zlib
from collections import defaultdict
from typing import Any

import numpy as np

from telltale import stats
from telltale.console import log
from telltale.models.base import TokenStats
from telltale.run import Probe, RunDir
from telltale.tables import write_table

DEFAULT_PROMPT = "Transcribe the audio."
CONDITIONS = ("original", "silence", "noise", "tts")
#: blind AUC from which distribution shift is reported (lower CI bound above 0.5 too)
SHIFT_AUC = 0.6


def build_probes(samples, conditions: list[str], prompt: str, tts_k: int, seed: int,
                 target: str = "self"):
    """Probes per sample and condition. ``target`` "self" is the two-stage protocol (the
    model's own greedy transcription is scored); "reference" scores the manifest's
    transcript instead, the white-box setting where the training text is known."""
    probes = []
    for sample in samples:
        continuation = sample.text or "" if target == "reference" else None
        for condition in conditions:
            if condition == "tts":
                for k in range(tts_k):
                    probes.append(Probe(
                        key=f"{sample.id}|tts|{k}", sample=sample, text=prompt,
                        meta={"condition": "tts", "realisation": k},
                        transform=_tts_transform(seed, k), continuation=continuation))
            else:
                probes.append(Probe(key=f"{sample.id}|{condition}", sample=sample, text=prompt,
                                    condition=condition, meta={"realisation": 0},
                                    continuation=continuation))
    return probes


def _tts_transform(seed: int, k: int):
    """The transcript spoken again by a different TTS voice (seeded per sample)."""
    def transform(sample):
        from telltale.corpus.tts import resynthesize

        if not sample.text:
            raise ValueError(f"sample {sample.id} has no transcript to resynthesise")
        key = zlib.crc32(f"{seed}|{k}|{sample.id}".encode())
        audio, _ = resynthesize(sample.text, sample.extra.get("voice"), seed=key)
        return audio
    return transform


def write_blind(run: RunDir, samples, families, folds: int, seed: int, jobs: int) -> dict:
    """Phase 1 into the run directory: results and per-sample out-of-fold scores."""
    from telltale.membership.blind import (
        extract,
        heatmap_figure,
        pairwise_dataset_auc,
        score_families,
    )

    features = extract(samples, tuple(families), n_jobs=jobs)
    results, scores = score_families(features, tuple(families), folds, seed)
    with open(run.path / "blind_scores.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        names = sorted(scores)
        writer.writerow(["id", "member", *names])
        for sample in samples:
            if sample.id in scores[names[0]]:
                writer.writerow([sample.id, sample.member,
                                 *(f"{scores[n][sample.id]:.6f}" for n in names)])
    datasets = {s.dataset for s in samples}
    if len(datasets) > 1:
        labels, matrix = pairwise_dataset_auc(features, seed=seed)
        heatmap_figure(labels, matrix, run.figures / "blind_heatmap.png")
        results["pairwise"] = {"labels": labels, "auc": matrix.tolist()}
    results["errors"] = [{"sample_id": samples[i].id, "error": e}
                         for i, e in sorted(features.errors.items())]
    return results


def read_blind_scores(run: RunDir) -> dict[str, dict[str, float]]:
    path = run.path / "blind_scores.csv"
    if not path.exists():
        return {}
    out: dict[str, dict[str, float]] = defaultdict(dict)
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            for name, value in row.items():
                if name not in ("id", "member"):
                    out[name][row["id"]] = float(value)
    return dict(out)


def _roc_figures(run: RunDir, curves: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for scale in ("linear", "loglog"):
        fig, ax = plt.subplots(figsize=(4.6, 4.2))
        for label, (y, s) in curves.items():
            fpr, tpr = stats.roc_points(y, s)
            auc = stats.roc_auc(y, s, n_boot=0).value
            ax.plot(fpr, tpr, label=f"{label} (AUC {auc:.2f})")
        if scale == "loglog":
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlim(1e-3, 1)
            ax.set_ylim(1e-3, 1)
            ax.plot([1e-3, 1], [1e-3, 1], "k:", lw=0.8)
        else:
            ax.plot([0, 1], [0, 1], "k:", lw=0.8)
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.set_title(f"Membership ROC ({scale})")
        ax.legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        fig.savefig(run.figures / f"roc_{scale}.png", dpi=120)
        plt.close(fig)


def diagnose(blind: dict[str, Any], mia_auc: stats.Estimate,
             correlation: dict[str, float]) -> dict[str, str]:
    """The verdict of the blind-baseline protocol, with its reason."""
    aucs = {f: blind[f]["auc"] for f in ("metadata", "text", "acoustic", "combined")
            if f in blind}
    worst = max(aucs, key=lambda f: aucs[f]["value"]) if aucs else None
    shifted = bool(worst) and aucs[worst]["value"] >= SHIFT_AUC and aucs[worst]["low"] > 0.5
    signal = mia_auc.low > 0.5
    tied = (correlation.get("pearson_p", 1.0) < 0.05 and correlation.get("pearson_r", 0) > 0)
    if shifted and tied:
        return {"verdict": "confounded", "level": "warn", "text": (
            f"Confounded by distribution shift: the {worst} blind baseline separates members "
            f"from non-members without the model (AUC {aucs[worst]['value']:.3f}) and the "
            f"model's membership scores follow the blind scores (Pearson r "
            f"{correlation['pearson_r']:.2f}, p {correlation['pearson_p']:.2g}). The MIA AUC "
            f"of {mia_auc.value:.3f} cannot be read as memorisation; use a matched subset.")}
    if shifted:
        return {"verdict": "shift present", "level": "warn", "text": (
            f"Distribution shift present (the {worst} blind AUC is "
            f"{aucs[worst]['value']:.3f}) though the MIA scores do not follow the blind "
            f"scores; the MIA AUC of {mia_auc.value:.3f} should be confirmed on a matched "
            "subset.")}
    if signal:
        return {"verdict": "credible", "level": "ok", "text": (
            f"Membership signal credible: MIA AUC {mia_auc} with every blind baseline at "
            "chance" + (f" (largest: {worst} {aucs[worst]['value']:.3f})." if worst else "."))}
    return {"verdict": "no signal", "level": "info", "text": (
        f"No membership signal: the MIA AUC {mia_auc} includes chance.")}


def score_run(run: RunDir, **_: Any) -> dict[str, Any]:
    """Every phase 2 and 3 figure from the stored records (and phase 1 scores)."""
    from telltale.membership.indicators import indicator_matrix

    info = run.read_run_json()
    seed = int(info.get("seed") or 0)
    folds = int(info.get("config", {}).get("folds", 10))
    records = run.records()
    ok = [r for r in records if r.error is None and r.token_stats is not None]
    errors = [{"sample_id": r.sample_id, "error": r.error} for r in records if r.error]
    groups: dict[tuple[str, int], dict[str, Any]] = defaultdict(dict)
    for rec in ok:
        groups[(rec.probe["condition"], int(rec.probe.get("realisation", 0)))][rec.sample_id] = rec
    results: dict[str, Any] = run.read_results() if run.results_path.exists() else {}
    blind = results.get("blind", {})
    results.update(audit="membership", errors=errors)
    originals = groups.get(("original", 0), {})
    if not originals:
        raise ValueError(f"{run.path}: no successful original-condition records to score")
    ids = sorted(originals)
    y = np.array([int(originals[i].labels["member"]) for i in ids])

    def aggregate(recs: dict[str, Any], order: list[str]):
        X, names = indicator_matrix([(TokenStats.from_dict(recs[i].token_stats),
                                      recs[i].output or "") for i in order])
        labels = np.array([int(recs[i].labels["member"]) for i in order])
        return X, names, labels, stats.oof_logistic_scores(X, labels, folds, seed)

    empty = sum(len(originals[i].token_stats.get("tokens", [])) == 0 for i in ids)
    if empty == len(ids):
        raise ValueError(f"{run.path}: the model returned an empty transcription for every "
                         "sample, so there is nothing to score; check the prompt and model")
    X, names, _, mia = aggregate(originals, ids)
    for row, sample_id in enumerate(ids):
        originals[sample_id].scores = {
            "indicators": dict(zip(names, X[row].tolist(), strict=True)),
            "mia_score": float(mia[row])}
    per_indicator = {}
    for j, name in enumerate(names):
        column = X[:, j]
        finite = np.isfinite(column)
        if finite.sum() > 3 and len(set(y[finite])) == 2:
            per_indicator[name] = stats.roc_auc(y[finite], column[finite], n_boot=200,
                                                seed=seed).to_dict()
    mia_auc = stats.roc_auc(y, mia, seed=seed)
    attack = {"aggregated": {"auc": mia_auc.to_dict(),
                             "tpr_at_1pct_fpr": stats.tpr_at_fpr(y, mia, 0.01),
                             "tpr_at_0.1pct_fpr": stats.tpr_at_fpr(y, mia, 0.001)},
              "indicators": per_indicator, "n_indicators": len(names), "n": int(y.size)}
    curves = {"aggregated (LR)": (y, mia)}
    best = sorted(per_indicator, key=lambda n: -abs(per_indicator[n]["value"] - 0.5))[:2]
    for name in best:
        curves[name] = (y, np.nan_to_num(X[:, names.index(name)], nan=-1e9))

    blind_scores = read_blind_scores(run).get("combined", {})
    shared = [i for i in ids if i in blind_scores]
    correlation: dict[str, float] = {}
    if len(shared) > 3:
        b = [blind_scores[i] for i in shared]
        m = [mia[ids.index(i)] for i in shared]
        correlation["pearson_r"], correlation["pearson_p"] = stats.pearson(b, m)
        correlation["spearman_rho"], correlation["spearman_p"] = stats.spearman(b, m)
        correlation["n"] = len(shared)
    verdict = diagnose(blind, mia_auc, correlation)

    disentangle: dict[str, Any] = {}
    for condition in sorted({c for c, _ in groups} - {"original"}):
        aucs, per_sample = [], []
        for (cond, k), recs in sorted(groups.items()):
            if cond != condition:
                continue
            order = [i for i in ids if i in recs]
            labels = np.array([int(recs[i].labels["member"]) for i in order])
            if len(set(labels)) < 2:
                continue
            _, _, labels, scores = aggregate(recs, order)
            aucs.append(stats.roc_auc(labels, scores, n_boot=200, seed=seed + k).value)
            per_sample.append(dict(zip(order, scores, strict=True)))
        if not aucs:
            continue
        common = [i for i in ids if all(i in d for d in per_sample)]
        mean_scores = [float(np.mean([d[i] for d in per_sample])) for i in common]
        test = stats.paired_ttest(mean_scores, [mia[ids.index(i)] for i in common])
        labels = np.array([int(originals[i].labels["member"]) for i in common])
        disentangle[condition] = {
            "auc": stats.roc_auc(labels, mean_scores, seed=seed).to_dict(),
            "auc_realisations_mean": float(np.mean(aucs)),
            "auc_realisations_sd": float(np.std(aucs, ddof=1)) if len(aucs) > 1 else 0.0,
            "realisations": len(aucs), "delta_vs_original": float(np.mean(aucs)) - mia_auc.value,
            "paired_t_vs_original": test}
        curves[condition] = (labels, np.array(mean_scores))

    results.update(attack=attack, correlation=correlation, diagnosis=verdict,
                   disentanglement=disentangle, verdicts=[verdict])
    results["counts"] = {"samples": len(ids), "members": int(y.sum()),
                         "non-members": int((1 - y).sum()), "records": len(records),
                         "errors": len(errors)}
    summary = [{"metric": f"MIA AUC (aggregated LR over {len(names)} indicators)",
                **_ci(mia_auc.to_dict()), "control": "chance 0.5"},
               {"metric": "TPR at 1% FPR", "value": attack["aggregated"]["tpr_at_1pct_fpr"],
                "n": int(y.size), "control": "0.01"}]
    for family in ("metadata", "text", "acoustic", "combined"):
        if family in blind:
            summary.append({"metric": f"blind AUC ({family})", **_ci(blind[family]["auc"]),
                            "control": "chance 0.5"})
    for condition, values in disentangle.items():
        summary.append({"metric": f"MIA AUC under {condition}", **_ci(values["auc"]),
                        "control": f"original {mia_auc.value:.3f}"})
    results["summary"] = summary

    blind_row = {"MIA AUC": mia_auc.value}
    for family in ("metadata", "text", "acoustic"):
        blind_row[f"blind {family}"] = blind.get(family, {}).get("auc", {}).get("value")
    blind_row["Pearson r"] = correlation.get("pearson_r")
    blind_row["Spearman rho"] = correlation.get("spearman_rho")
    write_table(run.tables, "mia_vs_blind", [blind_row], list(blind_row),
                "Membership inference against blind baselines")
    rows = [{"condition": "original", "AUC": mia_auc.value, "delta": 0.0, "t": None, "p": None}]
    rows += [{"condition": c, "AUC": v["auc_realisations_mean"], "SD": v["auc_realisations_sd"],
              "delta": v["delta_vs_original"], "t": v["paired_t_vs_original"]["t"],
              "p": v["paired_t_vs_original"]["p"]} for c, v in disentangle.items()]
    write_table(run.tables, "disentanglement", rows, ["condition", "AUC", "SD", "delta", "t", "p"],
                "Modality disentanglement")
    top = sorted(per_indicator.items(), key=lambda kv: -kv[1]["value"])
    write_table(run.tables, "indicators", [{"indicator": n, "AUC": v["value"], "low": v["low"],
                                            "high": v["high"]} for n, v in top],
                ["indicator", "AUC", "low", "high"], "Per-indicator AUC")
    _roc_figures(run, curves)
    run.rewrite_records(records)
    run.write_results(results)
    return results


def _ci(est: dict[str, Any]) -> dict[str, Any]:
    return {"value": est["value"], "low": est["low"], "high": est["high"], "n": est["n"]}


def run_membership(args) -> int:
    from telltale.manifest import load_manifest
    from telltale.models.base import DecodingConfig
    from telltale.options import open_model, run_config
    from telltale.report import write_report
    from telltale.run import run_probes

    conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]
    unknown = set(conditions) - set(CONDITIONS)
    if unknown or "original" not in conditions:
        raise ValueError(f"--conditions must include original and be among {CONDITIONS}; "
                         f"got {args.conditions!r}")
    samples, problems = load_manifest(args.data, require=("audio", "member"),
                                      on_error="skip" if args.skip_bad_rows else "raise")
    samples = samples[:args.limit] if args.limit else samples
    run = RunDir(args.out)
    model = open_model(args)
    run.start("membership", run_config(args), seed=args.seed,
              model_fingerprint=model.fingerprint, data=args.data)
    results: dict[str, Any] = run.read_results() if run.results_path.exists() else {}
    if "blind" not in results and not args.no_blind:
        log.info("phase 1: blind baselines on %d samples", len(samples))
        families = ("metadata", "text", "acoustic") if all(s.text for s in samples) else (
            "metadata", "acoustic")
        results["blind"] = write_blind(run, samples, families, args.folds, args.seed, args.jobs)
        results["manifest_problems"] = [str(p) for p in problems]
        run.write_results(results)
    log.info("phase 2/3: %d samples x conditions %s", len(samples), ",".join(conditions))
    if args.target == "reference" and not all(s.text for s in samples):
        raise ValueError(f"{args.data}: --target reference needs a transcript in every row")
    probes = build_probes(samples, conditions, args.prompt, args.tts_k, args.seed, args.target)
    counts = run_probes(run, probes, model, decoding=DecodingConfig(
        max_new_tokens=args.max_new_tokens), with_stats=True, batch_size=args.batch_size,
        desc="membership probes")
    log.info("probes: %s", counts)
    results = score_run(run)
    run.finish(counts=counts)
    write_report(run.path)
    print(results["diagnosis"]["text"])
    print(f"results: {run.results_path}\nreport:  {run.path / 'report.html'}")
    return 0


def run_blind(args) -> int:
    from telltale.manifest import load_manifest, write_manifest
    from telltale.membership.blind import matched_subset
    from telltale.options import run_config
    from telltale.report import write_report

    samples, problems = load_manifest(args.data, require=("audio", "member"),
                                      on_error="skip" if args.skip_bad_rows else "raise")
    samples = samples[:args.limit] if args.limit else samples
    families = tuple(f.strip() for f in args.families.split(","))
    run = RunDir(args.out)
    run.start("blind", run_config(args), seed=args.seed, data=args.data)
    blind = write_blind(run, samples, families, args.folds, args.seed, args.jobs)
    results: dict[str, Any] = {"audit": "blind", "blind": blind,
                               "manifest_problems": [str(p) for p in problems],
                               "errors": blind["errors"]}
    summary = [{"metric": f"blind AUC ({f})", **_ci(blind[f]["auc"]), "control": "chance 0.5"}
               for f in (*families, "combined") if f in blind]
    if args.matched:
        scores = read_blind_scores(run)["combined"]
        chosen = matched_subset(samples, scores, seed=args.seed)
        rows = [{"id": s.id, "audio": str(s.media), "text": s.text, "member": s.member,
                 "dataset": s.dataset, **s.labels, **s.extra} for s in chosen]
        path = write_manifest(run.path / "matched_manifest.csv", rows)
        check = write_blind(RunDir(run.path / "matched"), chosen, families, args.folds,
                            args.seed, args.jobs)
        results["matched"] = {"manifest": str(path), "n": len(chosen),
                              "blind": {f: check[f] for f in (*families, "combined")
                                        if f in check}}
        summary.append({"metric": "blind AUC (combined) on the matched subset",
                        **_ci(check["combined"]["auc"]), "control": "target 0.5"})
    results["summary"] = summary
    run.write_results(results)
    run.finish()
    write_report(run.path)
    for row in summary:
        print(f"{row['metric']}: {row['value']:.3f} [{row['low']:.3f}, {row['high']:.3f}]")
    print(f"results: {run.results_path}")
    return 0
