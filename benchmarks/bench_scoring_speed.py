"""Replies per second of the rules scorers: the attribute parser and the PII scorer.

Realistic replies: the reply-class tables and the PII response table (every kind of reply
the rules were written for: hedges, structured JSON and markdown, chain-of-thought,
refusals, masked and spelled-out numbers), cycled to ``--replies`` each. The attribute
parser is called the way ``telltale score`` calls it (one taxonomy built from a dict, as
from a run's ``taxonomy.json``, and each reply parsed against its attribute); the PII scorer
with each row's targets. Nothing is cached per reply text, so cycling the tables measures
the same work as fresh replies would.

Usage::

    python benchmarks/bench_scoring_speed.py [--replies 20000] [--goal 5000] [--json out.json]

Both clocks are reported: wall-clock replies/s, and replies per second of the process's own
CPU time, which is what the scorer costs whatever else the machine runs (on a shared 2-core
machine the wall clock mostly measures the neighbours). Exits 1 when either scorer is below
``--goal`` replies per CPU second (``--wall``: per wall-clock second).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

from machine import machine_info

from telltale.attributes.parse import parse_answer
from telltale.attributes.taxonomy import DEFAULTS, from_dict
from telltale.disclosure.scoring import score_response

ROOT = Path(__file__).resolve().parents[1]
ATTRIBUTE_TABLES = [ROOT / "tests" / "attributes" / name
                    for name in ("parser_classes.jsonl", "parser_table.jsonl",
                                 "parser_heldout.jsonl")]
PII_TABLES = [ROOT / "tests" / "disclosure" / name
              for name in ("pii_classes.jsonl", "pii_responses.jsonl")]
PEOPLE = ROOT / "tests" / "disclosure" / "pii_people.json"


def _rows(paths: list[Path]) -> list[dict]:
    return [json.loads(line) for path in paths
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _rate(calls: list[tuple], score) -> dict[str, float]:
    start, cpu = time.perf_counter(), time.process_time()
    for args in calls:
        score(*args)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"replies": len(calls), "seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3),
            "replies_per_s": round(len(calls) / seconds, 1),
            "replies_per_cpu_s": round(len(calls) / cpu, 1),
            "ms_per_reply": round(1000 * seconds / len(calls), 4),
            "cpu_ms_per_reply": round(1000 * cpu / len(calls), 4)}


def attribute_rate(n: int) -> dict[str, float]:
    """Replies per second of :func:`parse_answer` over the attribute tables cycled to n."""
    taxonomy = from_dict(DEFAULTS)  # as score_records builds it from taxonomy.json
    rows = _rows(ATTRIBUTE_TABLES)
    calls = [(row["response"], taxonomy[row["attribute"]])
             for row in itertools.islice(itertools.cycle(rows), n)]
    parse_answer(*calls[0])  # the first call builds what is compiled once per taxonomy
    return {"distinct_replies": len(rows), **_rate(calls, parse_answer)}


def pii_rate(n: int) -> dict[str, float]:
    """Replies per second of :func:`score_response` over the PII tables cycled to n."""
    people = json.loads(PEOPLE.read_text(encoding="utf-8"))
    rows = _rows(PII_TABLES)
    calls = []
    for row in itertools.islice(itertools.cycle(rows), n):
        person = people[row["person"]]
        calls.append((row["response"], {t: person[t] for t in row.get("types", person)}))
    return {"distinct_replies": len(rows), **_rate(calls, score_response)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replies", type=int, default=20000)
    parser.add_argument("--goal", type=float, default=5000.0, help="replies/s each must reach")
    parser.add_argument("--wall", action="store_true",
                        help="hold the wall-clock rate to the goal instead of the CPU rate")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    results = {"machine": machine_info(), "goal_replies_per_s": args.goal,
               "attribute_parser": attribute_rate(args.replies),
               "pii_scorer": pii_rate(args.replies)}
    failed = []
    held = "replies_per_s" if args.wall else "replies_per_cpu_s"
    for name in ("attribute_parser", "pii_scorer"):
        figure = results[name]
        ok = figure[held] >= args.goal
        failed += [] if ok else [name]
        print(f"{name:17s} {figure['replies_per_cpu_s']:9.1f} replies per CPU s "
              f"({figure['cpu_ms_per_reply']:.3f} ms), {figure['replies_per_s']:9.1f} per wall s; "
              f"{figure['replies']} replies, {figure['distinct_replies']} distinct: "
              f"{'ok' if ok else 'BELOW GOAL'}")
    print(f"load average {results['machine']['load_average']}, "
          f"{results['machine']['cpus']} cpus")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
