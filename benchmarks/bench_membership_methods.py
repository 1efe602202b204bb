"""Membership beyond log-probabilities on the demo organism: the black-box attack (direct and
through a text-only `telltale serve`), dataset inference (p against set size, the rate under
the null, a shifted suspect set) and reference calibration.

    python benchmarks/bench_membership_methods.py --demo demo-run --out /tmp/bench-methods

``--demo`` is the output of ``telltale demo`` (made there when missing). The reference
organism is trained the demo's way on a second corpus synthesised with another seed, so
it never saw an audited clip. Figures go to stdout and ``OUT/figures.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

from machine import machine_info

from telltale.config import RunOptions
from telltale.membership.audit import MembershipAudit, MembershipConfig
from telltale.models.serve_cli import launch
from telltale.runner import run_audit


def _run(out: Path, model: str, data: Path, **config: Any) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    options = RunOptions(out=out, model=model, batch_size=32, no_cache=True)
    outcome = run_audit(MembershipAudit(MembershipConfig(data=data, max_new_tokens=48,
                                                         **config)), options)
    if outcome.status:
        raise SystemExit(f"{out}: {outcome.line}")
    return outcome.results, time.perf_counter() - started


def _auc(block: dict[str, Any]) -> str:
    auc = block["attack"]["aggregated"]["auc"] if "attack" in block else block["auc"]
    return f"{auc['value']:.3f} [{auc['low']:.3f}, {auc['high']:.3f}]"


def _shifted_manifest(manifest: Path, out: Path) -> Path:
    """Members read by espeak-ng as the suspect set against non-members read by the other
    engines: membership and a change of recording at once."""
    with open(manifest, newline="") as fh:
        rows = [r for r in csv.DictReader(fh)
                if (r["member"] == "1") == (r["engine"] == "espeak-ng")]
    out.mkdir(parents=True, exist_ok=True)
    path = out / "shifted.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "audio": str(manifest.parent / row["audio"])})
    return path


def _reference_organism(out: Path, clips: int, seed: int) -> Path:
    """An organism trained the demo's way on clips no audit asks about."""
    from telltale.corpus.speech import build_speech_corpus
    from telltale.organism.train import train_organism

    corpus, organism = out / "reference-corpus", out / "reference-organism"
    if not (corpus / "manifest.csv").exists():
        build_speech_corpus(corpus, clips, seed=seed)
    if not (organism / "card.json").exists():
        train_organism(corpus / "manifest.csv", organism, size="demo", seed=seed)
    return organism


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", type=Path, default=Path("demo-run"))
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench-membership-methods"))
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--reference-clips", type=int, default=240)
    args = parser.parse_args()
    if not (args.demo / "corpus" / "membership.csv").exists():
        from telltale.demo import run_demo

        run_demo(args.demo)
    spec = f"organism:{args.demo / 'organism'}"
    data = args.demo / "corpus" / "membership.csv"
    figures: dict[str, Any] = {"machine": machine_info()}

    direct, seconds = _run(args.out / "direct", spec, data, conditions=("original",),
                           methods=("indicators", "blackbox", "dataset"),
                           samples=args.samples)
    di = direct["dataset_inference"]
    figures["direct"] = {
        "seconds": round(seconds, 1), "logprob_auc": _auc(direct),
        "logprob_tpr_at_1pct_fpr": direct["attack"]["aggregated"]["tpr_at_1pct_fpr"],
        "blackbox_auc": _auc(direct["blackbox"]),
        "blackbox_tpr_at_1pct_fpr": direct["blackbox"]["attack"]["aggregated"][
            "tpr_at_1pct_fpr"],
        "calls_per_clip": direct["blackbox"]["model_calls_per_clip"],
        "blackbox_verdict": direct["blackbox"]["diagnosis"]["verdict"],
        "dataset_p": di["test"]["p"], "dataset_blind_p": (di["blind_test"] or {}).get("p"),
        "dataset_verdict": di["verdict"]["verdict"],
        "smallest_set_below_0.01": di["smallest_size_below_alpha"],
        "p_by_size": di["p_by_size"], "null": di["null"]}

    server, port = launch([sys.executable, "-m", "telltale", "-q", "serve", spec, "--text-only",
                          "--batch-size", "32"])
    try:
        remote, seconds = _run(args.out / "text-only", f"openai:{spec}@http://127.0.0.1:{port}/v1,concurrency=32",
                               data, conditions=("original",),
                               methods=("blackbox", "dataset"), samples=args.samples)
    finally:
        server.terminate()
        server.wait(timeout=30)
    figures["text_only_server"] = {
        "seconds": round(seconds, 1), "blackbox_auc": _auc(remote["blackbox"]),
        "dataset_p": remote["dataset_inference"]["test"]["p"],
        "calls_per_clip": remote["blackbox"]["model_calls_per_clip"]["blackbox"]}

    shifted, _ = _run(args.out / "shifted", spec, _shifted_manifest(data, args.out),
                      conditions=("original",), methods=("indicators", "dataset"))
    sdi = shifted["dataset_inference"]
    figures["shifted_suspect_set"] = {
        "n_suspect": sdi["test"]["n_suspect"], "n_reference": sdi["test"]["n_reference"],
        "p": sdi["test"]["p"], "blind_p": (sdi["blind_test"] or {}).get("p"),
        "verdict": sdi["verdict"]["verdict"], "membership_verdict": shifted["diagnosis"][
            "verdict"]}

    reference = _reference_organism(args.out, args.reference_clips, seed=1)
    calibrated, seconds = _run(args.out / "reference", spec, data, conditions=("original",),
                               methods=("indicators", "reference"),
                               reference_model=f"organism:{reference}", baselines=False)
    block = calibrated["reference"]
    figures["reference"] = {"seconds": round(seconds, 1), **{
        k: {"auc": _auc(block[k]), "tpr_at_1pct_fpr": block[k]["tpr_at_1pct_fpr"]}
        for k in ("uncalibrated", "calibrated", "loss", "loss_ratio")},
        "non_members": calibrated["counts"]["non-members"]}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "figures.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
