"""Build the audio LM from real pretrained parts and audit it through ``hf:``.

Usage::

    python benchmarks/bench_audiolm.py --out runs/audiolm [--clips 96] [--seed 0]
        [--steps corpus,build,dose,whitebox,membership,attributes,mitigate] [--limit N]
        [--samples 5] [--tts-k 3]

Steps (each skipped when its output exists, so a stopped benchmark resumes):

- ``corpus``: ``--clips`` clips from ``telltale corpus speech`` (half become members);
- ``build``: ``telltale audiolm build`` in a subprocess, timed, with its peak memory (the
  largest resident set of the processes it waited for) and the load average;
- ``dose``: the membership audit (indicators and dataset inference, original audio, blind
  baselines) on the stage-1 model and on every stage-2 checkpoint, the same clips each
  time; ``dose_response.png`` plots MIA AUC and the dataset-inference p-value against the
  stage-2 epochs, with the members' and held-out clips' transcript loss from the card;
- ``whitebox``: the membership audit with ``--target reference`` (the manifest's transcript
  scored, no generation) on the stage-1 model and every audited dose checkpoint: the
  loss signal whatever the model says when asked to transcribe;
- ``membership``: the full membership audit of the target (indicators, black-box, dataset
  inference, reference = the stage-1 model; original, silence, noise, TTS);
- ``attributes``: all eight attributes, direct / CoT / defense, silence control;
- ``mitigate``: the voice defences (McAdams, pitch, TTS) with the classical attacker.

``--limit`` caps the clips of the attribute and mitigation audits (all by default).
Everything measured goes to ``OUT/bench.json``, step by step, with each step's wall time
and the load average when it started. The vLLM half is ``bench_audiolm_vllm.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from machine import load_average, machine_info

STEPS = ("corpus", "build", "dose", "whitebox", "membership", "attributes", "mitigate")


def _telltale(*args: Any) -> None:
    """``python -m telltale ...`` in a subprocess; raises on a non-zero exit."""
    cmd = [sys.executable, "-m", "telltale", "-q", *map(str, args)]
    proc = subprocess.run(cmd, check=False)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} exited with {proc.returncode}")


def update_bench(path: Path, **entries: Any) -> dict[str, Any]:
    """Merge ``entries`` into ``bench.json`` as it is on disk now (steps of two benchmark
    processes may run at once) and write it whole (a rename, so it is never torn)."""
    bench = json.loads(path.read_text()) if path.exists() else {}
    bench.update(entries)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(bench, indent=2) + "\n")
    tmp.replace(path)
    return bench


ATTRIBUTES = ("gender", "age", "accent", "education", "income", "social_stratum", "health",
              "bmi")


def attribute_manifest(manifest: Path, out: Path) -> Path:
    """``manifest`` with a blank column for every attribute it has no truth for: the
    attribute audit asks every attribute whose column exists and reports, for a blank one,
    the refusal rate and the answers' spread instead of an accuracy."""
    from telltale.manifest import read_table, write_manifest

    rows = read_table(manifest)
    for row in rows:
        for attribute in ATTRIBUTES:
            row.setdefault(attribute, "")
    return write_manifest(out, rows)


def _results(run: Path) -> dict[str, Any]:
    return json.loads((run / "results.json").read_text())


def membership_figures(run: Path) -> dict[str, Any]:
    """MIA AUC, dataset inference and the verdicts of a membership run, read where
    ``telltale.membership.scoring`` writes them: ``diagnosis`` (the indicator attack's
    verdict against the blind baselines), ``dataset_inference`` (``test`` on the model's
    features, ``blind_test`` on the blind scores, its own ``verdict``) and the typed
    ``verdicts`` list of every audit."""
    r = _results(run)
    dataset = r.get("dataset_inference", {})
    test, blind_test = dataset.get("test") or {}, dataset.get("blind_test") or {}
    diagnosis = r.get("diagnosis", {})
    return {"auc": r["attack"]["aggregated"]["auc"],
            "tpr_at_1pct_fpr": r["attack"]["aggregated"].get("tpr_at_1pct_fpr"),
            "dataset_inference_p": test.get("p"),
            "dataset_inference_blind_p": blind_test.get("p"),
            "dataset_inference_verdict": (dataset.get("verdict") or {}).get("verdict"),
            "dataset_inference_text": (dataset.get("verdict") or {}).get("text"),
            "verdict": diagnosis.get("verdict"), "verdict_text": diagnosis.get("text"),
            "verdicts": r.get("verdicts", []),
            "blind": {f: v.get("auc") for f, v in r.get("blind", {}).items()
                      if isinstance(v, dict) and "auc" in v},
            "disentanglement": {c: v.get("auc") for c, v in
                                r.get("disentanglement", {}).items()},
            "methods": {k: r[k] for k in ("blackbox", "reference") if k in r}}


def dose_figure(points: list[dict[str, Any]], out: Path,
                whitebox: list[dict[str, Any]] | None = None,
                history: list[dict[str, Any]] | None = None) -> Path:
    """MIA AUC (with its interval) and the dataset-inference p-value against stage-2 epochs,
    for the audit of the model's own transcription and, where the ``whitebox`` step ran,
    for the manifest transcript scored; the transcript loss of members and held-out clips
    after every epoch of the build (``history``, else the audited points)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(11, 3.3))
    series = [("own transcription", points, "o")]
    if whitebox:
        series.append(("manifest transcript (white-box)", whitebox, "s"))
    for label, rows, marker in series:
        epochs = [p["epoch"] for p in rows]
        auc = [p["auc"]["value"] for p in rows]
        err = [[p["auc"]["value"] - p["auc"]["low"] for p in rows],
               [p["auc"]["high"] - p["auc"]["value"] for p in rows]]
        axes[0].errorbar(epochs, auc, yerr=err, marker=marker, capsize=3, label=label)
        di = [(p["epoch"], p["dataset_inference_p"]) for p in rows
              if p["dataset_inference_p"] is not None]
        axes[1].semilogy([e for e, _ in di], [max(v, 1e-300) for _, v in di],
                         marker=marker, label=label)
    axes[0].axhline(0.5, color="k", ls=":", lw=0.8, label="chance")
    axes[0].set_ylabel("MIA AUC (95% CI)")
    axes[0].set_ylim(0.0, 1.05)
    axes[1].axhline(0.01, color="k", ls=":", lw=0.8, label="alpha 0.01")
    axes[1].set_ylabel("dataset inference p-value")
    losses = history or points
    epochs = [h["epoch"] for h in losses]
    axes[2].plot(epochs, [h["nll_members"] for h in losses], marker="o", label="members")
    axes[2].plot(epochs, [h["nll_heldout"] for h in losses], marker="s", label="held out")
    axes[2].set_ylabel("transcript NLL (nats/token)")
    for ax in axes:
        ax.set_xlabel("stage-2 epochs (0: stage-1 model)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = out / "dose_response.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--clips", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", default=",".join(STEPS))
    parser.add_argument("--limit", type=int, default=None,
                        help="clips of the attribute and mitigation audits (default: all)")
    parser.add_argument("--dose-epochs", default=None,
                        help="comma-separated stage-2 epochs of the dose series to audit "
                             "(default: every saved checkpoint; the stage-1 model always)")
    parser.add_argument("--samples", type=int, default=5,
                        help="black-box draws per clip in the membership step (default 5)")
    parser.add_argument("--tts-k", type=int, default=3,
                        help="TTS voices per clip in the membership step (default 3)")
    args = parser.parse_args(argv)
    steps = args.steps.split(",")
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    bench_path = out / "bench.json"
    settings = {"clips": args.clips, "seed": args.seed, "limit": args.limit,
                "samples": args.samples, "tts_k": args.tts_k, "dose_epochs": args.dose_epochs}
    update_bench(bench_path, machine=machine_info())
    corpus, model = out / "corpus", out / "model"
    manifest = model / "membership.csv"
    limit = ["--limit", args.limit] if args.limit else []

    def timed(name: str, work) -> None:
        load = load_average()
        started = time.perf_counter()
        figures = work()
        entry = {"seconds": round(time.perf_counter() - started, 1),
                 "load_average_at_start": load, "load_average_at_end": load_average(),
                 "settings": settings, **(figures or {})}
        update_bench(bench_path, **{name: entry})
        print(f"{name}: {entry['seconds']} s (load {load})", flush=True)

    if "corpus" in steps and not (corpus / "manifest.csv").exists():
        _telltale("corpus", "speech", "--out", corpus, "--clips", args.clips,
                  "--seed", args.seed)
    if "build" in steps and not (model / "card.json").exists():
        def build() -> dict[str, Any]:
            _telltale("audiolm", "build", "--data", corpus / "manifest.csv", "--out", model,
                      "--seed", args.seed)
            card = json.loads((model / "card.json").read_text())
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
            return {"peak_memory_gib": round(peak, 2), "timings": card["timings"],
                    "figures": card["figures"], "stages": {
                        k: {x: v for x, v in s.items() if x != "history"}
                        for k, s in card["stages"].items()}}
        timed("build", build)
    card = json.loads((model / "card.json").read_text())
    target = model / card["checkpoints"]["target"]
    reference = model / card["checkpoints"]["reference"]

    series = card["checkpoints"]["dose_series"]
    if args.dose_epochs:
        wanted = {int(e) for e in args.dose_epochs.split(",")}
        series = {n: e for n, e in series.items() if e in wanted}
    if "dose" in steps:
        history = {h["epoch"]: h for h in card["stages"]["stage2"]["history"]}
        points = []
        for name, epoch in [("stage1", 0), *series.items()]:
            run = out / "runs" / f"dose-{name}"
            if not (run / "results.json").exists():
                timed(f"dose-{name}", lambda m=model / name, r=run: _telltale(
                    "membership", "--model", f"hf:{m}", "--data", manifest, "--out", r,
                    "--methods", "indicators,dataset", "--conditions", "original",
                    "--seed", args.seed, "--no-cache"))
            points.append({"epoch": epoch, "checkpoint": name, **membership_figures(run),
                           "nll_members": history[epoch]["transcript_nll_members"],
                           "nll_heldout": history[epoch]["transcript_nll_heldout"]})
        whitebox = [{"epoch": epoch, **membership_figures(out / "runs" / f"whitebox-{name}")}
                    for name, epoch in [("stage1", 0),
                                        *card["checkpoints"]["dose_series"].items()]
                    if (out / "runs" / f"whitebox-{name}" / "results.json").exists()]
        losses = [{"epoch": h["epoch"], "nll_members": h["transcript_nll_members"],
                   "nll_heldout": h["transcript_nll_heldout"]} for h in history.values()]
        update_bench(bench_path, dose_response=points,
                     dose_figure=str(dose_figure(points, out, whitebox, losses)))
    if "whitebox" in steps:
        for name in ["stage1", *series]:
            run = out / "runs" / f"whitebox-{name}"
            if not (run / "results.json").exists():
                timed(f"whitebox-{name}", lambda m=model / name, r=run: (_telltale(
                    "membership", "--model", f"hf:{m}", "--data", manifest, "--out", r,
                    "--methods", "indicators,dataset", "--conditions", "original",
                    "--target", "reference", "--seed", args.seed, "--no-cache"),
                    membership_figures(r))[1])
    if "membership" in steps:
        run = out / "runs" / "membership"
        timed("membership", lambda: (_telltale(
            "membership", "--model", f"hf:{target}", "--data", manifest, "--out", run,
            "--methods", "indicators,blackbox,dataset,reference",
            "--reference-model", f"hf:{reference}",
            "--conditions", "original,silence,noise,tts", "--seed", args.seed,
            "--samples", args.samples, "--tts-k", args.tts_k, "--no-cache"),
            membership_figures(run))[1])
    if "attributes" in steps:
        run = out / "runs" / "attributes"
        asked = attribute_manifest(manifest, out / "attributes.csv")
        timed("attributes", lambda: (_telltale(
            "attributes", "--model", f"hf:{target}", "--data", asked, "--out", run,
            "--attributes", ",".join(ATTRIBUTES),
            "--modes", "direct,cot,defense", "--seed", args.seed, "--no-cache", *limit),
            {"summary": _results(run)["summary"],
             "verdicts": _results(run)["verdicts"]})[1])
    if "mitigate" in steps:
        run = out / "runs" / "mitigate"
        timed("mitigate", lambda: (_telltale(
            "mitigate", "--model", f"hf:{target}", "--data", manifest, "--out", run,
            "--defences", "mcadams,pitch,tts", "--seed", args.seed, "--no-cache", *limit),
            {"summary": _results(run)["summary"]})[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
