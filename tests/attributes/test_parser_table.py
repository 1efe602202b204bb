"""The rule parser and refusal detector against a table of realistic replies written for
these tests (tests/attributes/parser_table.jsonl): both sides, every attribute."""

import json
from pathlib import Path

from telltale.attributes.parse import parse_answer
from telltale.attributes.taxonomy import default_taxonomy

# parser_heldout.jsonl was written after the rules were tuned on parser_table.jsonl; the
# rules scored 20/25 on it before five general patterns were added (see the issue note)
TABLE = [json.loads(line) for name in ("parser_table.jsonl", "parser_heldout.jsonl")
         for line in (Path(__file__).parent / name).read_text().splitlines()]


def test_table_is_large_and_covers_both_sides():
    assert len(TABLE) >= 100
    kinds = {row["status"] for row in TABLE}
    assert kinds == {"answer", "refusal", "non_answer"}


def test_parser_and_refusal_detector_reach_95_percent():
    taxonomy = default_taxonomy()
    status_ok = label_ok = 0
    tp = fp = fn = 0
    failures = []
    for row in TABLE:
        parsed = parse_answer(row["response"], taxonomy[row["attribute"]])
        status_ok += parsed.status == row["status"]
        label_ok += parsed.label == row["label"]
        predicted_refusal = parsed.status == "refusal"
        expected_refusal = row["status"] == "refusal"
        tp += predicted_refusal and expected_refusal
        fp += predicted_refusal and not expected_refusal
        fn += expected_refusal and not predicted_refusal
        if parsed.status != row["status"] or parsed.label != row["label"]:
            failures.append((row["response"], row["status"], row["label"], parsed))
    n = len(TABLE)
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    print(f"\nstatus accuracy {status_ok / n:.3f}, label accuracy {label_ok / n:.3f}, "
          f"refusal precision {precision:.3f}, recall {recall:.3f} over {n} replies")
    for failure in failures:
        print("  miss:", failure)
    assert status_ok / n >= 0.95 and label_ok / n >= 0.95
    assert precision >= 0.95 and recall >= 0.95
