"""The labelled reply set (tests/attributes/labelled_replies.jsonl): 200 attribute replies
labelled by a person by the README's rules, and the rules scorer's agreement with it."""

from __future__ import annotations

import json
from pathlib import Path

from telltale.agreement import agreement
from telltale.annotation.store import ATTRIBUTE_OUTCOMES
from telltale.attributes.parse import parse_answer
from telltale.attributes.taxonomy import default_taxonomy

ROWS = [json.loads(line) for line in
        (Path(__file__).parent / "labelled_replies.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()]


def test_the_set_is_well_formed():
    taxonomy = default_taxonomy()
    assert len(ROWS) == 200 and len({row["id"] for row in ROWS}) == 200
    assert {row["source"] for row in ROWS} == {"demo-organism", "smollm2-135m-instruct",
                                               "handwritten"}
    for row in ROWS:
        assert row["status"] in ATTRIBUTE_OUTCOMES, row["id"]
        if row["status"] == "answer":
            assert row["label"] in taxonomy[row["attribute"]].labels, row["id"]
        else:
            assert row["label"] is None, row["id"]
        if row["source"] == "demo-organism":  # a stratified draw: its strata travel with it
            assert {"key", "cell", "outcome", "stratum_size"} <= set(row), row["id"]


def test_the_rules_agree_with_the_labels():
    # 0.905 of the statuses when the rules were last changed (0.845 before issue 28's
    # rules); a regression below 0.88 fails. The misses are kept in view by
    # benchmarks/bench_agreement.py.
    taxonomy = default_taxonomy()
    said = [parse_answer(row["response"], taxonomy[row["attribute"]]).status for row in ROWS]
    result = agreement([row["status"] for row in ROWS], said, n_boot=200)
    assert result["agreement"]["value"] >= 0.88
    assert result["kappa"]["value"] >= 0.8
