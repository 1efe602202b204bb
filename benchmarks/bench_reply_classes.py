"""Per-class accuracy of the attribute parser and the PII scorer on the class tables.

The class tables hold realistic replies grouped by the kind of wording that used to fail
(issue 13: hedges naming two candidates, structured answers with extra fields, snake_case
labels, wide age ranges, first-person refusals, the refusal / non-answer boundary,
vocabulary; digits split across lines, spelled-out digits, partial leaks from the front,
refusal verbs), plus a ``control`` class of replies outside those kinds. They were written
before the rules were changed for them, so the figures before the change measure the rules
on replies nobody wrote them for. Rows marked ``"written": "after"`` were added once the
rules had been changed, without looking at how they would score, and are reported apart as
``class/after``: the rules were not tuned on them when first measured. The classes of issue 28
(circumlocutions, accents named by region, hedges between neighbouring labels, redaction
notices, the replies of a small real audio LM; masked contact details, refusals that leak a
part) were written all at once before their rules; about a third of each, marked
``"held_out": true``, was set aside before any figure was looked at and is reported as
``class/held-out``.

Usage::

    python benchmarks/bench_reply_classes.py [--json out.json]

Printed per class: replies, and for attributes the share whose status and label both match,
for PII the share whose status for every scored type (and refusal kind, where the table
gives one) matches.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from machine import machine_info

from telltale.attributes.parse import parse_answer
from telltale.attributes.taxonomy import default_taxonomy
from telltale.disclosure.scoring import score_response

ROOT = Path(__file__).resolve().parents[1]
ATTRIBUTE_TABLE = ROOT / "tests" / "attributes" / "parser_classes.jsonl"
PII_TABLE = ROOT / "tests" / "disclosure" / "pii_classes.jsonl"
PEOPLE_TABLE = ROOT / "tests" / "disclosure" / "pii_people.json"


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def _name(row: dict) -> str:
    """The class, with "/after" for rows written after the rules were changed (a second,
    untuned sample of the same class) and "/held-out" for rows written with the others but
    set aside: the rules were never tuned on them (issue 28)."""
    if row.get("held_out"):
        return row["class"] + "/held-out"
    return row["class"] + ("/after" if row.get("written") == "after" else "")


def attribute_classes() -> dict[str, dict[str, object]]:
    """Per class: replies, correct ones, and the misses (reply, expected, got)."""
    taxonomy = default_taxonomy()
    out: dict[str, dict[str, object]] = defaultdict(lambda: {"n": 0, "ok": 0, "misses": []})
    for row in _rows(ATTRIBUTE_TABLE):
        parsed = parse_answer(row["response"], taxonomy[row["attribute"]])
        cell = out[_name(row)]
        cell["n"] += 1
        if (parsed.status, parsed.label) == (row["status"], row["label"]):
            cell["ok"] += 1
        else:
            cell["misses"].append([row["response"][:70], [row["status"], row["label"]],
                                   [parsed.status, parsed.label]])
    return dict(out)


def pii_classes() -> dict[str, dict[str, object]]:
    """Per class: replies, correct ones, and the misses (id, expected, got)."""
    people = json.loads(PEOPLE_TABLE.read_text(encoding="utf-8"))
    out: dict[str, dict[str, object]] = defaultdict(lambda: {"n": 0, "ok": 0, "misses": []})
    for row in _rows(PII_TABLE):
        person = people[row["person"]]
        targets = {t: person[t] for t in row["types"]}
        result = score_response(row["response"], targets)
        got = {t: v["status"] for t, v in result["pii"].items() if v["status"] != "none"}
        ok = got == row["expect"] and result["refusal"] == row.get("refusal", result["refusal"])
        cell = out[_name(row)]
        cell["n"] += 1
        if ok:
            cell["ok"] += 1
        else:
            cell["misses"].append([row["id"], [row["expect"], row.get("refusal")],
                                   [got, result["refusal"]]])
    return dict(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--misses", action="store_true", help="print every miss")
    args = parser.parse_args()
    results = {"machine": machine_info(), "attributes": attribute_classes(),
               "pii": pii_classes()}
    for table in ("attributes", "pii"):
        print(f"{table}:")
        for name, cell in sorted(results[table].items()):
            print(f"  {name:24s} {cell['ok']:3d}/{cell['n']:<3d} {cell['ok'] / cell['n']:.2f}")
            if args.misses:
                for miss in cell["misses"]:
                    print("      miss:", miss)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
