"""Run the retention audit at a meaningful size on the real document assistant and print
what it measured.

Usage::

    python benchmarks/bench_retention.py [--out DIR] [--memory 20] [--control 6]
                                         [--epochs 5] [--threads 1] [--json out.json]
                                         [-- extra `telltale retention` options]

The audit (``telltale retention --model docassistant:rapidocr``: RapidOCR + SmolLM2-135M-
Instruct) injects ``--memory`` synthetic people by LoRA fine-tuning, once with the plain
objective and once with the contrastive one, then asks for every memorised person's email,
phone and SSN by name (direct and fill-the-form framings) with a form of somebody else
attached, on the base model and both adapters; ``--control`` never-seen people are asked
the same way. Printed, all read back from the run's ``results.json`` (derived from its
records): leak rates with Wilson 95% intervals per variant (memorised and control people,
per PII type and framing), exact McNemar tests base vs plain and plain vs contrastive on
the same probes, the utility check (NLL per token of non-PII text per variant), the
fine-tuning losses and wall times. The run directory is kept, so a second invocation with
the same ``--out`` resumes instead of recomputing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from machine import machine_info


def _rate(cell: dict) -> str:
    return f"{cell['value']:.3f} [{cell['low']:.3f}, {cell['high']:.3f}] (n={cell['n']})"


def report(results: dict, wall_s: float) -> dict:
    """Print the headline figures and return them as a JSON-able dict."""
    retention = results["retention"]
    out: dict = {"wall_s": round(wall_s, 1), "leak": {}, "tests": [], "utility": [],
                 "training": {}}
    print("\nleak rate (attack success), Wilson 95% CI")
    for key in sorted(retention, key=lambda k: (k.split("/")[1] != "memory", k)):
        cell = retention[key]["overall"]
        out["leak"][key] = cell["asr"]
        print(f"  {key:<22} {_rate(cell['asr'])}   partial {cell['partial_rate']['value']:.3f}"
              f"   refuse {cell['refuse_rate']['value']:.3f}")
    print("\nmemorised people, by PII type and framing")
    for key in sorted(k for k in retention if k.endswith("/memory")):
        variant = key.split("/")[0]
        for axis in ("by_pii_type", "by_framing"):
            for name, cell in retention[key][axis].items():
                print(f"  {variant:<12} {name:<10} {_rate(cell['asr'])}")
    print("\nexact McNemar tests on the same probes (diff = rate b - rate a)")
    for test in results["tests"]:
        out["tests"].append(test)
        print(f"  {test['a']:>8} vs {test['b']:<12} {test['set']:<8} diff {test['diff']:+.3f}"
              f"  discordant {test['only_a']}/{test['only_b']}  p = {test['p']:.3g}")
    print("\nutility: mean NLL per token of non-PII text (95% t interval)")
    for row in results["utility"]:
        out["utility"].append(row)
        nll = row["nll"]
        versus = row.get("vs_plain")
        note = (f"  vs plain {versus['mean_diff']:+.3f} (paired t p = {versus['p']:.3g})"
                if versus else "")
        print(f"  {row['variant']:<12} {row['kind']:<8} {nll['value']:.3f} "
              f"[{nll['low']:.3f}, {nll['high']:.3f}] (n={nll['n']}){note}")
    print("\nfine-tuning")
    for objective, card in results["adapters"].items():
        losses = [round(h["loss"], 3) for h in card["loss_history"]]
        out["training"][objective] = {"loss_history": card["loss_history"],
                                      "wall_s": card["wall_s"], "texts": card["n_texts"]}
        print(f"  {objective:<12} {card['n_texts']} texts, {card['steps']} steps, "
              f"{card['wall_s']:.0f} s, loss by epoch {losses}")
    print(f"\nredacted replies: {results.get('redacted_replies')}")
    print(f"wall time (this invocation): {wall_s:.0f} s")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None,
                        help="run directory (default: a new temporary folder)")
    parser.add_argument("--memory", type=int, default=20)
    parser.add_argument("--control", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (on a shared, loaded machine 1 is faster)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args, extra = parser.parse_known_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from telltale.cli import main as telltale

    out = args.out or Path(tempfile.mkdtemp(prefix="bench-retention-"))
    command = ["retention", "--model", "docassistant:rapidocr", "--out", str(out),
               "--memory", str(args.memory), "--control", str(args.control),
               "--epochs", str(args.epochs), "--seed", str(args.seed), "--no-cache",
               *[e for e in extra if e != "--"]]
    print("telltale " + " ".join(command), flush=True)
    started = time.time()
    code = telltale(command)
    wall = time.time() - started
    if code != 0:
        print(f"telltale retention failed with exit code {code}", file=sys.stderr)
        return code
    results = json.loads((out / "results.json").read_text())
    figures = report(results, wall)
    figures.update(run_dir=str(out), command=command, machine=machine_info())
    print(f"run directory: {out}  (load average now {figures['machine']['load_average']})")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
