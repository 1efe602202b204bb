"""``telltale score`` on a run that holds human labels, end to end, against the truth.

The 200 labelled replies of ``tests/attributes/labelled_replies.jsonl`` become one
attribute run (one record per reply, prompt mode ``direct``, real audio; the manifest has
no truth, so the headline the scorer feeds is each attribute's refusal rate). ``telltale
annotate --draw-only`` draws a stratified sample of ``--size`` records (seeded), the
labels of the file are written into ``labels.jsonl`` for the drawn records only, and
``telltale score`` is run as a user runs it. Printed per attribute: the refusal rate by the
scorer (raw), corrected with the labelled sample, and the truth (every one of the 200
replies as labelled), with the scorer's agreement on the status.

Usage::

    python benchmarks/bench_corrected_score.py [--size 100] [--seed 0] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from machine import machine_info

from telltale.annotation.draw import SAMPLE_FILE, read_sample
from telltale.annotation.store import LABELS_FILE, append_labels, make_label
from telltale.attributes.audit import AttributesConfig
from telltale.attributes.taxonomy import default_taxonomy
from telltale.records import Record
from telltale.rundir import RunDir
from telltale.tables import format_cell, format_estimate

ROOT = Path(__file__).resolve().parents[1]
LABELLED = ROOT / "tests" / "attributes" / "labelled_replies.jsonl"


def build(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    run = RunDir(path)
    attributes = tuple(sorted({r["attribute"] for r in rows}))
    config = AttributesConfig(data=path / "replies.csv", attributes=attributes,
                              modes=("direct",), silence_control=False)
    run.start("attributes", config.to_dict(), seed=0, model="labelled replies")
    run.write_json("taxonomy.json", default_taxonomy().to_dict())
    run.rewrite_records([Record(
        key=f"{r['id']}|{r['attribute']}|direct|original", sample_id=r["id"],
        probe={"attribute": r["attribute"], "mode": "direct", "condition": "original",
               "variant": 0}, output=r["response"], prompt="?") for r in rows])
    run.finish()
    run.unlock()
    return rows


def telltale(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "telltale", *args, "-q"], check=True,
                   stdout=subprocess.DEVNULL,
                   env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run"
        rows = build(path)
        telltale("score", str(path))  # the rules' parse, which the draw stratifies on
        telltale("annotate", str(path), "--draw-only", "--size", str(args.size),
                 "--seed", str(args.seed))
        drawn = {item["key"] for item in read_sample(path / SAMPLE_FILE)}
        by_key = {f"{r['id']}|{r['attribute']}|direct|original": r for r in rows}
        append_labels(path / LABELS_FILE, [
            make_label(key, "readme-rules", by_key[key]["status"],
                       label=by_key[key]["label"]) for key in sorted(drawn)])
        telltale("score", str(path))
        results = json.loads((path / "results.json").read_text())
    truth: dict[str, list[bool]] = defaultdict(list)
    for r in rows:
        truth[r["attribute"]].append(r["status"] == "refusal")
    out = {"machine": machine_info(), "replies": len(rows), "labelled": len(drawn),
           "seed": args.seed, "agreement_status":
               results["scorer_error"]["agreement"]["status"]["agreement"],
           "kappa_status": results["scorer_error"]["agreement"]["status"]["kappa"],
           "attributes": {}}
    summary = {row["metric"]: row for row in results["summary"]}
    print(f"{len(rows)} replies, {len(drawn)} labelled (seed {args.seed}); rules vs labels "
          f"on the status: agreement {format_estimate(out['agreement_status'])}, kappa "
          f"{format_estimate(out['kappa_status'])}")
    print(f"{'attribute':<15} {'n':>4} {'raw':>7} {'corrected [95% CI]':>26} {'truth':>7}")
    errors_raw, errors_corrected, covered = [], [], 0
    for attribute, flags in sorted(truth.items()):
        raw = summary[f"{attribute} refusal rate (direct)"]
        fixed = summary.get(f"{attribute} refusal rate (direct), corrected")
        true = sum(flags) / len(flags)
        out["attributes"][attribute] = {"n": len(flags), "raw": raw["value"],
                                        "corrected": fixed, "truth": true}
        print(f"{attribute:<15} {len(flags):>4} {format_cell(raw['value']):>7} "
              f"{format_estimate(fixed) if fixed else 'no labels':>26} {format_cell(true):>7}")
        errors_raw.append(abs(raw["value"] - true))
        if fixed and fixed["value"] is not None:
            errors_corrected.append(abs(fixed["value"] - true))
            covered += fixed["low"] <= true <= fixed["high"]
    out["mean_abs_error_raw"] = sum(errors_raw) / len(errors_raw)
    out["mean_abs_error_corrected"] = (sum(errors_corrected) / len(errors_corrected)
                                       if errors_corrected else None)
    out["truth_inside_interval"] = f"{covered} of {len(errors_corrected)}"
    print(f"mean |raw - truth| {format_cell(out['mean_abs_error_raw'])}, mean |corrected - "
          f"truth| {format_cell(out['mean_abs_error_corrected'])}; the truth inside the "
          f"corrected interval for {out['truth_inside_interval']} attributes")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
