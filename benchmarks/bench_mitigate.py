"""The voice mitigation audit on the demo organism and its TTS corpus: every defence and
strength against the undefended original, and which protects most per point of WER lost.

    python benchmarks/bench_mitigate.py --demo demo-run --out /tmp/bench-mitigate

``--demo`` is the output of ``telltale demo`` (made there when missing). Figures go to
stdout and ``OUT/figures.json``; the run itself (report, tables, privacy-utility plot) is
``OUT/run``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from machine import machine_info

from telltale.config import RunOptions
from telltale.mitigate.audit import MitigateAudit, MitigateConfig
from telltale.mitigate.scoring import label
from telltale.mitigate.verdicts import auc_note
from telltale.runner import run_audit
from telltale.tables import format_estimate

DEFENCES = ("mcadams", "mcadams:0.8", "pitch", "pitch:2", "tts")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, default=Path("demo-run"))
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench-mitigate"))
    parser.add_argument("--limit", type=int, default=None, help="first N clips only")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--generic-wer-clips", type=int, default=40,
                        help="clips per version also decoded with the generic LM (slow)")
    args = parser.parse_args()
    if not (args.demo / "organism" / "card.json").exists():
        from telltale.demo import run_demo

        if run_demo(args.demo):
            return 1
    info = machine_info()
    started = time.perf_counter()
    config = MitigateConfig(data=args.demo / "corpus" / "membership.csv", defences=DEFENCES,
                            limit=args.limit, generic_wer_clips=args.generic_wer_clips)
    outcome = run_audit(MitigateAudit(config), RunOptions(
        out=args.out / "run", model=f"organism:{args.demo / 'organism'}", batch_size=32,
        no_cache=True, jobs=args.jobs))
    seconds = time.perf_counter() - started
    results = outcome.results
    rows = {}
    for version in config.versions():
        classical = results["classical"][version]
        gender = results["attributes"]["gender"]["direct"][version]["metrics"]
        accent = results["attributes"]["accent"]["direct"][version]["metrics"]
        membership = results["membership"][version]
        rows[version] = {
            "EER ignorant": format_estimate(classical["eer_ignorant"]),
            "EER lazy-informed": format_estimate(classical["eer_lazy_informed"]),
            "EER semi-informed": format_estimate(classical["eer_semi_informed"]),
            "WER held-out LM": format_estimate(classical["wer"]),
            "WER generic LM": format_estimate(classical.get("wer_generic", {})),
            "MIA AUC": format_estimate(membership["auc"]) + auc_note(membership),
            "gender accuracy": format_estimate(gender["accuracy_all"]),
            "accent accuracy": format_estimate(accent["accuracy_all"]),
            "refusal (gender)": format_estimate(gender["refusal_rate"])}
    print(f"{len(rows)} versions, {outcome.line}, {seconds:.0f} s on {info['cpus']} cores "
          f"(load {info['load_average']})")
    for version, row in rows.items():
        print(f"\n{label(version)}")
        for name, value in row.items():
            print(f"  {name:<20} {value}")
    print(f"\nEER: same-gender trials; WER: {results['classical']['lm']['wer']}")
    print("\nprivacy gained per WER point (gain on the 0-1 scale / WER increase in points)")
    for version, t in results["tradeoff"].items():
        print(f"  {label(version):<36} WER +{100 * t['wer_cost']:.1f} pts; MIA AUC gain "
              f"{t['membership_auc_gain']:.3f} ({t['membership_auc_gain_per_wer_point']:.4f}"
              f"/pt); EER gain {t['eer_gain']:.3f} ({t['eer_gain_per_wer_point']:.4f}/pt); "
              f"gender accuracy drop {t['attribute_accuracy_drop']:.3f}")
    figures = {"machine": info, "seconds": seconds, "rows": rows,
               "tradeoff": results["tradeoff"], "outcome": outcome.line}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "figures.json").write_text(json.dumps(figures, indent=2))
    return outcome.status


if __name__ == "__main__":
    sys.exit(main())
