"""The rules scorer against human labels on the labelled reply set, and corrected headlines.

``tests/attributes/labelled_replies.jsonl`` holds attribute replies labelled by a person by
the README's rules ("How replies are scored"), not by what the scorer says: replies of the
demo's attribute run (the calibration organism, drawn with ``telltale annotate --seed 0``,
stratified by the scorer's outcome at the time), replies of SmolLM2-135M-Instruct
(``scripts/smollm2_attribute_replies.py``) and hand-written replies in the style of
instruction-tuned audio LMs. Printed: agreement on the status (answer / refusal /
non_answer / unparsed) and on the reading (the label of an answer, else the status), each
with Cohen's kappa and bootstrap intervals, overall, per source and per attribute; the
per-class recall and precision of the status.

With ``--run DIR`` (the demo's ``attributes`` run directory, which ``telltale demo``
rebuilds byte for byte), the run's replies are parsed with the current rules and every cell's
accuracy and refusal rate is printed raw and corrected with the labelled demo replies
(:func:`telltale.annotation.measure.corrected_attribute_cells`, weighted by the draw's
strata).

Usage::

    python benchmarks/bench_agreement.py [--run demo-run/attributes] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from machine import machine_info

from telltale.agreement import agreement
from telltale.annotation.measure import corrected_attribute_cells, reading
from telltale.annotation.store import make_label
from telltale.attributes.parse import parse_answer
from telltale.attributes.taxonomy import default_taxonomy
from telltale.records import read_records

ROOT = Path(__file__).resolve().parents[1]
LABELLED = ROOT / "tests" / "attributes" / "labelled_replies.jsonl"


def _rows() -> list[dict]:
    return [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def _short(result: dict) -> dict:
    """Agreement and kappa with their intervals, and n."""
    return {"n": result["n"], "agreement": result["agreement"], "kappa": result["kappa"]}


def scorer_agreement(rows: list[dict], n_boot: int) -> dict:
    """Status and reading agreement of the rules with the labels, overall and by group."""
    taxonomy = default_taxonomy()
    for row in rows:
        parsed = parse_answer(row["response"], taxonomy[row["attribute"]])
        row["got"] = (parsed.status, parsed.label)
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        groups["all"].append(row)
        groups[f"source={row['source']}"].append(row)
        groups[f"attribute={row['attribute']}"].append(row)
    out = {}
    for name, mine in sorted(groups.items()):
        status = agreement([r["status"] for r in mine], [r["got"][0] for r in mine],
                           n_boot=n_boot)
        read = agreement([f"{r['attribute']}:{reading(r['status'], r['label'])}" for r in mine],
                         [f"{r['attribute']}:{reading(*r['got'])}" for r in mine],
                         n_boot=n_boot)
        out[name] = {"status": _short(status), "reading": _short(read)}
        if name == "all":
            out[name]["status_per_class"] = status["per_class"]
            out[name]["status_matrix"] = {"classes": status["classes"],
                                          "rows_human_columns_scorer": status["matrix"]}
            out[name]["misses"] = [[r["id"], r["response"][:70], [r["status"], r["label"]],
                                    list(r["got"])] for r in mine
                                   if (r["status"], r["label"]) != r["got"]]
    return out


def corrected_demo(run: Path, rows: list[dict]) -> list[dict]:
    """Every cell of the demo run, raw and corrected with the labelled demo replies."""
    taxonomy = default_taxonomy()
    records = []
    for record in read_records(run / "records.jsonl"):
        if record.error is None:
            parsed = parse_answer(record.output, taxonomy[record.probe["attribute"]])
            record.parsed = {"status": parsed.status, "label": parsed.label}
            records.append(record)
    demo = [r for r in rows if r["source"] == "demo-organism"]
    labels = {r["key"]: make_label(r["key"], "labelled-set", r["status"], label=r["label"],
                                   time="2026-12-07T00:00:00+00:00") for r in demo}
    sample = [{"key": r["key"], "cell": r["cell"], "outcome": r["outcome"],
               "stratum_size": r["stratum_size"], "seed": 0} for r in demo]
    return corrected_attribute_cells(records, labels, sample)


def _figure(estimate: dict) -> str:
    if estimate["value"] is None:
        return "n/a"
    return f"{estimate['value']:.3f} [{estimate['low']:.3f}, {estimate['high']:.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, help="the demo's attributes run directory")
    parser.add_argument("--n-boot", type=int, default=2000)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    rows = _rows()
    results = {"machine": machine_info(), "labelled": len(rows),
               "agreement": scorer_agreement(rows, args.n_boot)}
    print(f"{len(rows)} labelled replies")
    for name, figures in results["agreement"].items():
        print(f"  {name:26s} n={figures['status']['n']:3d}  status agreement "
              f"{_figure(figures['status']['agreement'])} kappa "
              f"{_figure(figures['status']['kappa'])}; reading agreement "
              f"{_figure(figures['reading']['agreement'])} kappa "
              f"{_figure(figures['reading']['kappa'])}")
    for label, cell in results["agreement"]["all"]["status_per_class"].items():
        print(f"  status {label:10s} n={cell['n']:3d} recall {_figure(cell['recall'])} "
              f"precision {_figure(cell['precision'])}")
    for miss in results["agreement"]["all"]["misses"]:
        print("    miss:", miss)
    if args.run:
        results["corrected"] = corrected_demo(args.run, rows)
        for cell in results["corrected"]:
            rates = cell["rates"]
            print(f"  {cell['cell']:52s} n={cell['n']:3d} " + "; ".join(
                f"{name} raw {rates[name]['raw']:.3f} corrected {_figure(rates[name])}"
                for name in ("accuracy_all", "refusal_rate")))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
