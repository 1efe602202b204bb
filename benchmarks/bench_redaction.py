"""Form redaction: how much PII the OCR-only redactor covers and how much of the rest stays
readable, over every scenario x layout, clean and photo-like; then disclosure by the
document assistant before and after redaction.

    python benchmarks/bench_redaction.py --out /tmp/bench-redaction [--forms 1] [--no-audit]

Figures go to stdout and ``OUT/figures.json``; the audit run (report, tables) is
``OUT/run``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from machine import machine_info

from telltale.corpus.forms import LAYOUTS, SCENARIOS, render_form
from telltale.corpus.identities import make_identities
from telltale.mitigate.redact import coverage, locate_pii, readable_share, redact
from telltale.models.docassistant import OCR

COUNTS = ("pii_fields", "fully_covered", "non_pii_fields", "over_redacted",
          "non_pii_readable", "readable_fields", "pii_readable", "pii_read_fields")


def measure_forms(seed: int) -> dict[str, dict[str, int]]:
    """Coverage and readable share pooled over one form per scenario x layout, for the
    clean render and its photo-like variant."""
    ocr = OCR("rapidocr")
    people = make_identities(8 * len(SCENARIOS) * len(LAYOUTS), seed)
    totals = {variant: dict.fromkeys(COUNTS, 0) for variant in ("clean", "photo")}
    k = 0
    for scenario in SCENARIOS:
        for layout in LAYOUTS:
            who = people[k:k + 4] if scenario == "open_context" else people[k]
            k += 4
            for variant, tally in totals.items():
                image, truth = render_form(scenario, who, layout=layout, variant=variant,
                                           seed=seed * 1000 + k)
                boxes = locate_pii(image, lines=ocr.lines(image))
                measured = coverage(boxes, truth)
                read = readable_share(redact(image, boxes), truth, ocr)
                for key in ("pii_fields", "fully_covered", "non_pii_fields", "over_redacted",
                            "non_pii_readable", "pii_readable"):
                    tally[key] += measured.get(key, read.get(key, 0))
                tally["readable_fields"] += read["non_pii_fields"]
                tally["pii_read_fields"] += read["pii_fields"]
    return totals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench-redaction"))
    parser.add_argument("--forms", type=int, default=1, help="forms per scenario (audit)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", action="store_true",
                        help="audit the photo-like variants too (twice the probes)")
    parser.add_argument("--no-audit", action="store_true",
                        help="skip the disclosure audit on the document assistant")
    args = parser.parse_args()
    info = machine_info()
    started = time.perf_counter()
    totals = measure_forms(args.seed)
    figures = {"machine": info, "forms": totals, "forms_seconds": time.perf_counter() - started}
    for variant, t in totals.items():
        print(f"{variant}: PII fields fully covered {t['fully_covered']}/{t['pii_fields']}, "
              f"non-PII redacted by mistake {t['over_redacted']}/{t['non_pii_fields']}, "
              f"non-PII readable after {t['non_pii_readable']}/{t['readable_fields']}, PII "
              f"readable after {t['pii_readable']}/{t['pii_read_fields']}")
    if not args.no_audit:
        from telltale.audit import RunOptions
        from telltale.mitigate.redaction_audit import RedactionAudit, RedactionConfig
        from telltale.runner import run_audit

        started = time.perf_counter()
        config = RedactionConfig(forms=args.forms, defences=("redact", "blur"),
                                 photo_variants=args.variants, seed=args.seed)
        outcome = run_audit(RedactionAudit(config), RunOptions(
            out=args.out / "run", model="docassistant:rapidocr", batch_size=8, no_cache=True))
        figures["audit_seconds"] = time.perf_counter() - started
        figures["audit"] = {v: {k: e.get(k) for k in ("overall", "change", "pii_covered",
                                                       "non_pii_readable", "pii_readable")}
                            for v, e in outcome.results["versions"].items()}
        print(outcome.line, f"({figures['audit_seconds']:.0f} s)")
        for row in outcome.results["summary"]:
            from telltale.tables import format_estimate

            print(f"  {row['metric']}: {format_estimate(row)}"
                  + (f"  ({row['control']})" if row.get("control") else ""))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "figures.json").write_text(json.dumps(figures, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
