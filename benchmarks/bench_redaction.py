"""Measure the form-redaction defence on rendered forms and print what it achieved.

Usage::

    python benchmarks/bench_redaction.py [--per-scenario 3] [--seed 0] [--engine rapidocr]
                                         [--variant photo [rotation ...]] [--json out.json]
                                         [--audit OUT]

For each scenario, ``--per-scenario`` forms are rendered (cycling through the layouts, one
new person each, 5 per ``open_context`` table), clean and as each photo-like ``--variant``
(:data:`telltale.corpus.photo.VARIANTS`).
On each image :func:`telltale.mitigate.redact.locate_pii` finds the PII with OCR (no
ground truth), :func:`~telltale.mitigate.redact.redact` paints it out (black boxes, and
blur), and OCR reads the result again. Printed per image kind, pooled over forms: PII fields
fully covered (>= 95 % of the box area) with a Wilson 95 % interval, the mean covered share
with a t interval, per PII type; non-PII fields hidden by mistake (mean share of their area,
and fields more than half hidden, Wilson); the share of non-PII and of PII field values OCR
reads before and after redaction (Wilson); and the OCR time per image.

``--audit OUT`` then runs the redaction audit (``telltale mitigate --defences redact,blur``)
on the document assistant, one clean form per scenario under all five framings, into
``OUT``: disclosure before and after redaction, paired per probe.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections import defaultdict
from typing import Any

from machine import machine_info

from telltale.corpus.forms import LAYOUTS, SCENARIOS, render_form
from telltale.corpus.identities import make_identities
from telltale.mitigate.redact import FULLY_COVERED, coverage, locate_pii, readable_share, redact
from telltale.models.docassistant import OCR
from telltale.stats import Estimate, mean_ci, wilson


def _pooled(estimates: list[Estimate]) -> Estimate:
    """Several forms' Wilson estimates as one over all their items."""
    k = sum(round(e.value * e.n) for e in estimates if e.n)
    return wilson(k, sum(e.n for e in estimates))


def measure(images: list[tuple[Any, dict]], ocr: OCR, today: dt.date) -> dict[str, Any]:
    """Redaction figures pooled over ``images`` (each an image and its ground truth)."""
    covered: list[float] = []
    by_type: dict[str, list[float]] = defaultdict(list)
    hidden_other: list[float] = []
    readable: dict[str, list[Estimate]] = defaultdict(list)
    ocr_s: list[float] = []
    for image, truth in images:
        start = time.perf_counter()
        boxes = locate_pii(image, ocr=ocr, today=today, source=f"{truth['scenario']} form")
        ocr_s.append(time.perf_counter() - start)
        cov = coverage(boxes, truth)
        covered += [f["covered"] for f in cov["fields"]]
        for f in cov["fields"]:
            by_type[f["pii_type"]].append(f["covered"])
        hidden_other += [f["covered"] for f in cov["non_pii_fields"]]
        before = readable_share(image, truth, ocr)
        readable["non_pii_before"].append(before["non_pii"])
        readable["pii_before"].append(before["pii"])
        for style in ("box", "blur"):
            after = readable_share(redact(image, boxes, style=style), truth, ocr)
            readable[f"non_pii_after_{style}"].append(after["non_pii"])
            readable[f"pii_after_{style}"].append(after["pii"])
    return {
        "forms": len(images),
        "fully_covered": wilson(sum(c >= FULLY_COVERED for c in covered), len(covered)),
        "mean_covered": mean_ci(covered),
        "per_type": {k: wilson(sum(c >= FULLY_COVERED for c in v), len(v))
                     for k, v in sorted(by_type.items())},
        "over_redacted_mean_share": mean_ci(hidden_other),
        "over_redacted_fields": wilson(sum(c > 0.5 for c in hidden_other), len(hidden_other)),
        "readable": {k: _pooled(v) for k, v in readable.items()},
        "ocr_s_per_image": mean_ci(ocr_s),
    }


def audit(folder: str, seed: int) -> dict[str, Any]:
    """Disclosure by the document assistant before and after redaction (and blur)."""
    from telltale.config import RunOptions
    from telltale.mitigate.redaction_audit import RedactionAudit, RedactionConfig
    from telltale.runner import run_audit
    from telltale.tables import format_estimate

    start = time.perf_counter()
    config = RedactionConfig(forms=1, photo_variants=False, defences=("redact", "blur"),
                             seed=seed)
    outcome = run_audit(RedactionAudit(config), RunOptions(
        out=folder, model="docassistant:rapidocr", batch_size=8, no_cache=True))
    seconds = time.perf_counter() - start
    print(f"== redaction audit on the document assistant: {outcome.line} ({seconds:.0f} s)")
    for row in outcome.results["summary"]:
        print(f"  {row['metric']}: {format_estimate(row)}"
              + (f"  ({row['control']})" if row.get("control") else ""))
    return {"seconds": seconds, "outcome": outcome.line, "summary": outcome.results["summary"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-scenario", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engine", default="rapidocr", choices=("rapidocr", "tesseract"))
    parser.add_argument("--variant", nargs="+", default=["photo"],
                        help="photo-like variants to measure beside the clean renders")
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--audit", metavar="OUT", help="also run the redaction audit on the "
                                                       "document assistant into OUT")
    args = parser.parse_args(argv)
    machine = machine_info()
    people = iter(make_identities(args.per_scenario * 8, args.seed))
    forms = []
    for s_index, scenario in enumerate(SCENARIOS):
        for i in range(args.per_scenario):
            who = ([next(people) for _ in range(5)] if scenario == "open_context"
                   else next(people))
            seed = args.seed * 1000 + s_index * 100 + i
            forms.append((scenario, who, LAYOUTS[i % len(LAYOUTS)], seed))
    ocr = OCR(args.engine)
    today = dt.date.today()
    out: dict[str, Any] = {"machine": machine, "engine": args.engine, "today": str(today)}
    for variant in ("clean", *args.variant):
        images = [render_form(s, who, layout=layout, variant=variant, seed=seed)
                  for s, who, layout, seed in forms]
        figures = measure(images, ocr, today)
        out[variant] = figures
        print(f"== {variant}: {figures['forms']} forms ({args.per_scenario} per scenario), "
              f"OCR {args.engine}, locating {figures['ocr_s_per_image']} s per image")
        full = figures["fully_covered"]
        print(f"  PII fields fully covered  {full} (n={full.n})")
        print(f"  mean covered share        {figures['mean_covered']}")
        for kind, est in figures["per_type"].items():
            print(f"    {kind:<10} fully covered {est} (n={est.n})")
        print(f"  non-PII area hidden       {figures['over_redacted_mean_share']} "
              f"(mean share per field, n={figures['over_redacted_mean_share'].n})")
        print(f"  non-PII fields > half hidden {figures['over_redacted_fields']}")
        for key, est in figures["readable"].items():
            print(f"  readable {key:<20} {est} (n={est.n})")
    if args.audit:
        out["audit"] = audit(args.audit, args.seed)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=1, default=lambda o: o.to_dict())
    print(json.dumps({"machine": machine}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
