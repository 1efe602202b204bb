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

from telltale.console import log
from telltale.membership.blind import chance_control
from telltale.membership.blind_cli import write_blind
from telltale.models.base import TokenStats
from telltale.run import Probe, RunDir

DEFAULT_PROMPT = "Transcribe the audio."
CONDITIONS = ("original", "silence", "noise", "tts")
#: options that decide the probes and the blind results a run keeps: a resume must not
#: change them (RunDir.check_options)
PROTOCOL_OPTIONS = ("conditions", "tts_k", "prompt", "target", "max_new_tokens", "limit",
                    "skip_bad_rows", "seed", "no_blind", "folds", "blind_permutations")


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


def read_blind_scores(run: RunDir) -> dict[str, dict[str, float]]:
    """Out-of-fold blind score per family and sample id, from ``blind_scores.csv``."""
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


def score_run(run: RunDir, **_: Any) -> dict[str, Any]:
    """Every phase 2 and 3 figure from the stored records (and phase 1 scores)."""
    from telltale.membership.attack import analyse
    from telltale.membership.disentangle import disentangle, write_membership_tables
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
    if all(len(originals[i].token_stats.get("tokens", [])) == 0 for i in ids):
        raise ValueError(f"{run.path}: the model returned an empty transcription for every "
                         "sample, so there is nothing to score; check the prompt and model")

    def indicators(recs: dict[str, Any]) -> tuple[np.ndarray, list[str]]:
        """Indicator matrix aligned with ``ids`` (NaN rows for samples missing in recs)."""
        present = [i for i in ids if i in recs]
        X, names = indicator_matrix([(TokenStats.from_dict(recs[i].token_stats),
                                      recs[i].output or "") for i in present])
        full = np.full((len(ids), len(names)), np.nan)
        full[[ids.index(i) for i in present]] = X
        return full, names

    X, names = indicators(originals)
    blind_scores = read_blind_scores(run)
    families = {f: blind[f] for f in ("metadata", "text", "acoustic", "combined")
                if "auc" in blind.get(f, {})}
    aligned = {f: np.array([blind_scores[f].get(i, np.nan) for i in ids])
               for f in families if f in blind_scores}
    phase2, mia = analyse(X, y, names, blind_aucs=families, blind_scores=aligned, folds=folds,
                          seed=seed, figures=run.figures)
    for row, sample_id in enumerate(ids):
        originals[sample_id].scores = {
            "indicators": dict(zip(names, X[row].tolist(), strict=True)),
            "mia_score": None if np.isnan(mia[row]) else float(mia[row])}

    # phase 3: each condition's records scored by the same out-of-fold attack
    condition_scores: dict[str, list[np.ndarray]] = {"original": [mia]}
    for (condition, _k), recs in sorted(groups.items()):
        if condition == "original":
            continue
        Xc, _ = indicators(recs)
        present = ~np.all(np.isnan(Xc), axis=1)
        if np.bincount(y[present], minlength=2).min() < 2:
            continue
        _, scores = analyse(Xc, y, names, folds=folds, seed=seed, n_boot=0, indicator_boot=0)
        condition_scores.setdefault(condition, []).append(scores)
    disentangled = disentangle(y, {c: np.vstack(v) for c, v in condition_scores.items()},
                               seed=seed) if len(condition_scores) > 1 else {}

    verdict = phase2["diagnosis"]
    mia_auc = phase2["attack"]["aggregated"]["auc"]
    results.update(attack=phase2["attack"], correlation=phase2["correlation"],
                   diagnosis=verdict, disentanglement=disentangled,
                   verdicts=[{"level": verdict["level"], "text": verdict["text"]}])
    results["counts"] = {"samples": len(ids), "members": int(y.sum()),
                         "non-members": int((1 - y).sum()), "records": len(records),
                         "errors": len(errors)}
    summary = [{"metric": f"MIA AUC (aggregated LR over {len(names)} indicators)",
                **_ci(mia_auc), "control": "chance 0.5"},
               {"metric": "TPR at 1% FPR",
                "value": phase2["attack"]["aggregated"]["tpr_at_1pct_fpr"],
                "n": int(y.size), "control": "0.01"}]
    for family, values in families.items():
        summary.append({"metric": f"blind AUC ({family})", **_ci(values["auc"]),
                        "control": chance_control(values)})
    for condition, values in disentangled.items():
        if condition != "original":
            summary.append({"metric": f"MIA AUC under {condition}", **_ci(values["auc"]),
                            "control": f"original {mia_auc['value']:.3f}"})
    results["summary"] = summary
    label = str(info.get("data") or "data")
    write_membership_tables(
        run.tables, {label: {"mia_auc": mia_auc, "blind": families,
                             "correlation": phase2["correlation"],
                             "verdict": verdict["verdict"]}},
        {label: disentangled} if disentangled else None)
    run.rewrite_records(records)
    run.write_results(results)
    return results


def _ci(est: dict[str, Any]) -> dict[str, Any]:
    return {"value": est["value"], "low": est["low"], "high": est["high"], "n": est["n"]}


def run_membership(args) -> int:
    from telltale.manifest import load_manifest
    from telltale.models.base import DecodingConfig
    from telltale.options import open_model, run_config, split_list
    from telltale.report import write_report
    from telltale.run import run_probes

    conditions = split_list(args.conditions)
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
              model_fingerprint=model.fingerprint, data=args.data, fixed=PROTOCOL_OPTIONS)
    results: dict[str, Any] = run.read_results() if run.results_path.exists() else {}
    if "blind" not in results and not args.no_blind:
        log.info("phase 1: blind baselines on %d samples", len(samples))
        families = ("metadata", "text", "acoustic") if all(s.text for s in samples) else (
            "metadata", "acoustic")
        results["blind"] = write_blind(run, samples, families, args.folds, args.seed, args.jobs,
                                       args.blind_permutations)
        results["blind"].pop("features")  # the feature matrices, not JSON
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
