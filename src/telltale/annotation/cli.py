"""``telltale annotate RUN``: draw a stratified sample of a run's replies and label them.

The draw (or its top-up) goes into ``annotation_sample.jsonl``; labels go into
``labels.jsonl`` one line at a time as they are given, so a session stopped at any point
(``q``, Ctrl-D, Ctrl-C) resumes at the first drawn record this annotator has not labelled.
Each record shows its cell, the prompt, the reply and the scorer's reading; Enter accepts
the reading, anything else corrects it:

- attribute replies: a label or one of its synonyms ("female", "US"), or a status:
  ``refusal``, ``non_answer``, ``unparsed``;
- PII replies: ``TYPE=STATUS`` pairs (``ssn=partial email=none``) and/or
  ``refusal=KIND`` (``answer``, ``refusal``, ``non_answer``); types not named keep the
  scorer's status.

``s`` skips a record (it stays unlabelled), ``q`` stops, and a correction may end with
``# note`` to keep a note beside the label.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, TextIO

from telltale.annotation.draw import SAMPLE_FILE, asked_types, extend_sample, record_kind
from telltale.annotation.store import (
    ATTRIBUTE_OUTCOMES,
    LABELS_FILE,
    PII_STATUSES,
    REFUSAL_KINDS,
    append_labels,
    latest,
    make_label,
    read_labels,
)


def _scorer_reading(record: dict[str, Any]) -> dict[str, Any]:
    """The scorer's reading in the labels file's shape."""
    if record_kind(record) == "attribute":
        return {"outcome": record["parsed"]["status"], "label": record["parsed"].get("label")}
    scores = record["scores"]
    return {"outcome": {t: scores["pii"][t]["status"] for t in asked_types(record)},
            "refusal": scores.get("refusal", "answer")}


def parse_correction(text: str, record: dict[str, Any], taxonomy: Any) -> dict[str, Any]:
    """The label a typed correction stands for (see the module doc).

    Raises
    ------
    ValueError : the text names no known label, status or ``TYPE=STATUS`` pair.
    """
    reading = _scorer_reading(record)
    if record_kind(record) == "attribute":
        word = text.strip()
        if word in ATTRIBUTE_OUTCOMES and word != "answer":
            return {"outcome": word, "label": None}
        attribute = taxonomy[record["probe"]["attribute"]]
        label = attribute.canonical(word)
        if label is None:
            raise ValueError(f"{word!r} is neither a label of {attribute.name} "
                             f"({', '.join(attribute.labels)}) nor a status "
                             "(refusal, non_answer, unparsed)")
        return {"outcome": "answer", "label": label}
    outcome, refusal = dict(reading["outcome"]), reading["refusal"]
    for pair in text.split():
        name, _, value = pair.partition("=")
        if name == "refusal" and value in REFUSAL_KINDS:
            refusal = value
        elif name in outcome and value in PII_STATUSES:
            outcome[name] = value
        else:
            raise ValueError(f"{pair!r}: expected TYPE=STATUS with TYPE one of "
                             f"{', '.join(outcome)} and STATUS one of "
                             f"{', '.join(PII_STATUSES)}, or refusal=KIND")
    return {"outcome": outcome, "refusal": refusal}


def _show(record: dict[str, Any], index: int, total: int, out: TextIO) -> None:
    reading = _scorer_reading(record)
    if record_kind(record) == "attribute":
        said = reading["label"] if reading["outcome"] == "answer" else reading["outcome"]
        evidence = record["parsed"].get("evidence")
    else:
        said = " ".join(f"{t}={s}" for t, s in reading["outcome"].items())
        said += f" refusal={reading['refusal']}"
        evidence = record["scores"].get("refusal_reason")
    out.write(f"\n[{index}/{total}] {record['key']}\n")
    out.write(f"prompt: {(record.get('prompt') or '')[:300]}\n")
    out.write("reply:\n  " + (record.get("output") or "").replace("\n", "\n  ") + "\n")
    out.write(f"scorer: {said}" + (f"  ({evidence})" if evidence else "") + "\n")


def label_loop(run: Path, annotator: str, stdin: TextIO, out: TextIO) -> int:
    """Ask for a label for every drawn record ``annotator`` has not labelled yet; each
    answer is appended to the labels file at once. Returns the number of labels written."""
    from telltale.attributes.taxonomy import from_dict
    from telltale.records import read_records

    sample = [line["key"] for line in _sample(run)]
    records = {r.key: r for r in read_records(run / "records.jsonl")}
    done = latest(read_labels(run / LABELS_FILE), annotator)
    todo = [key for key in sample if key not in done and key in records]
    taxonomy = from_dict(_read_json(run / "taxonomy.json")) if (run / "taxonomy.json").exists() \
        else None
    out.write(f"{len(sample) - len(todo)} of {len(sample)} drawn records labelled by "
              f"{annotator}; Enter accepts the scorer, s skips, q quits\n")
    written = 0
    for index, key in enumerate(todo, start=len(sample) - len(todo) + 1):
        record = records[key].__dict__
        _show(record, index, len(sample), out)
        while True:
            out.write("> ")
            out.flush()
            line = stdin.readline()
            if not line or line.strip() == "q":
                return written
            text, _, note = line.strip().partition("#")
            if text.strip() == "s":
                break
            try:
                given = (_scorer_reading(record) if not text.strip()
                         else parse_correction(text, record, taxonomy))
            except ValueError as exc:
                out.write(f"  {exc}\n")
                continue
            append_labels(run / LABELS_FILE, [make_label(
                key, annotator, given["outcome"], label=given.get("label"),
                refusal=given.get("refusal"), note=note.strip() or None,
                scorer=_scorer_reading(record))])
            written += 1
            break
    return written


def _sample(run: Path) -> list[dict[str, Any]]:
    from telltale.annotation.draw import read_sample

    return read_sample(run / SAMPLE_FILE)


def _read_json(path: Path) -> Any:
    import json

    return json.loads(path.read_text(encoding="utf-8"))


def _run(args: argparse.Namespace) -> int:
    import sys

    from telltale.records import read_records

    run = Path(args.run_dir)
    if not (run / "records.jsonl").exists():
        raise FileNotFoundError(f"{run}: no records.jsonl (not a run directory?)")
    sample, added = extend_sample(run / SAMPLE_FILE, read_records(run / "records.jsonl"),
                                  args.size, args.seed)
    print(f"{run / SAMPLE_FILE}: {len(sample)} records ({len(added)} drawn now, seed "
          f"{args.seed})")
    if args.draw_only or not sample:
        return 0
    written = label_loop(run, args.annotator, sys.stdin, sys.stdout)
    print(f"\n{written} labels written to {run / LABELS_FILE}")
    return 0


def register(subparsers) -> None:
    from telltale.arguments import add_command

    parser = add_command(subparsers, "annotate",
                         help="label a stratified sample of a run's replies (scorer error)")
    parser.add_argument("run_dir", type=Path, metavar="RUN")
    parser.add_argument("--size", type=int, default=100,
                        help="records the sample should hold (a larger size tops it up)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draw")
    parser.add_argument("--annotator", default=os.environ.get("USER") or "annotator",
                        help="name kept with every label")
    parser.add_argument("--draw-only", action="store_true",
                        help="draw (or top up) the sample and stop")
    parser.set_defaults(func=_run)
