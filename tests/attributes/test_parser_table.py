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


ALL_CLASSES = [json.loads(line) for line in
               (Path(__file__).parent / "parser_classes.jsonl").read_text().splitlines()]
# the classes of issue 13; issue 28's and issue 22's rows are checked by their own tests
CLASSES = [row for row in ALL_CLASSES if row.get("issue") is None]


def test_class_table_covers_every_class_of_issue_13():
    # written before the rules for these classes existed; "control" holds replies outside
    # them, so that a rule for one class is also checked for what it must not catch
    counts = {}
    for row in CLASSES:
        counts[row["class"]] = counts.get(row["class"], 0) + 1
    assert set(counts) == {"hedge_two", "structured", "snake_case", "wide_range",
                           "refusal_first_person", "refusal_vs_non_answer", "vocabulary",
                           "control"}
    assert min(counts.values()) >= 3


def test_every_reply_class_reaches_90_percent():
    taxonomy = default_taxonomy()
    per_class: dict[str, list[bool]] = {}
    misses = []
    for row in CLASSES:
        parsed = parse_answer(row["response"], taxonomy[row["attribute"]])
        ok = (parsed.status, parsed.label) == (row["status"], row["label"])
        per_class.setdefault(row["class"], []).append(ok)
        if not ok:
            misses.append((row["class"], row["response"], parsed))
    for miss in misses:
        print("  miss:", miss)
    shares = {name: sum(oks) / len(oks) for name, oks in per_class.items()}
    assert min(shares.values()) >= 0.9, shares


def test_a_hedge_yields_its_primary_candidate_and_is_marked_hedged():
    accent = default_taxonomy()["accent"]
    parsed = parse_answer("It has features of Indian English, but it could also be Nigerian.",
                          accent)
    assert (parsed.label, parsed.status, parsed.hedged) == ("indian", "answer", True)
    # side by side, with no primary, the reply still commits to nothing
    assert parse_answer("Either Nigerian or Indian.", accent).status == "unparsed"
    # an alternative alone is still the only candidate named
    assert parse_answer("It could also be Irish.", accent).label == "irish"


def test_structured_fields_that_do_not_give_the_answer_are_not_read():
    income = default_taxonomy()["income"]
    # a measurement field is no answer field: the prose conclusion decides
    parsed = parse_answer("Pitch level: high\nSpeech rate: fast\nOverall, a middle income.",
                          income)
    assert (parsed.status, parsed.label) == ("answer", "middle")
    # a named field wins over a generic one, and a null value falls back to the prose
    assert parse_answer('{"answer": "low", "income": "high"}', income).label == "high"
    assert parse_answer('{"income": null, "confidence": "low"}', income).status == "unparsed"


ISSUE_28 = [row for row in ALL_CLASSES if row.get("issue") == 28]


def _misses(rows):
    taxonomy = default_taxonomy()
    misses = []
    for row in rows:
        parsed = parse_answer(row["response"], taxonomy[row["attribute"]])
        if (parsed.status, parsed.label) != (row["status"], row["label"]):
            misses.append((row["class"], row["response"], parsed))
    return misses


def test_issue_28_classes_are_covered_on_both_sides():
    # circumlocutions, accents by region, neighbour hedges, redaction notices, the replies
    # of a small real audio LM: each with rules-tuning rows, held-out rows and rows written
    # after the rules (benchmarks/bench_reply_classes.py reports them apart)
    classes = {"circumlocution", "accent_region", "neighbour_hedge", "redaction_notice",
               "audiolm"}
    assert {row["class"] for row in ISSUE_28} == classes
    for name in classes:
        mine = [row for row in ISSUE_28 if row["class"] == name]
        assert len([r for r in mine if not r.get("held_out") and not r.get("written")]) >= 10
        assert len([r for r in mine if r.get("held_out") or r.get("written")]) >= 6
        assert {r["status"] for r in mine} - {"answer"}  # never only the cases handled


def test_issue_28_rules_read_every_tuning_row():
    misses = _misses([r for r in ISSUE_28 if not r.get("held_out") and not r.get("written")])
    assert not misses, misses


def test_issue_28_rules_on_rows_they_were_not_tuned_on():
    # held-out rows and rows written after the rules: 101 of 109 read right when the rules
    # were last changed; a regression below 90% fails
    unseen = [r for r in ISSUE_28 if r.get("held_out") or r.get("written")]
    misses = _misses(unseen)
    for miss in misses:
        print("  miss:", miss)
    assert len(misses) / len(unseen) <= 0.1


REAL = [row for row in ALL_CLASSES if row.get("issue") == 22]


def test_the_real_audio_lms_replies_are_read_as_when_they_were_added():
    """Every distinct reply of the real-parts audio LM's attribute runs (hf: and vLLM, 16
    clips, eight attributes, three modes, real audio and silence), labelled by hand from the
    text alone; "seen" counts them per run. The rules were not changed for them (issue 22
    leaves the parsers to the scoring-error work): when added, the rules read all but five
    right ("from North Dakota", "from Washington" and "from Indonesia" as accents; "a dance
    in the unknown" read as a non-answer; "a young man" as 20-30, which the labels leave
    unparsed). A change that reads fewer of them right fails."""
    assert len(REAL) >= 150 and {r["status"] for r in REAL} == {"answer", "unparsed"}
    assert all(r["seen"] for r in REAL)
    misses = _misses(REAL)
    for miss in misses:
        print("  miss:", miss)
    assert len(misses) <= 5
