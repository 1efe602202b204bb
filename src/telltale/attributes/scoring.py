"""The attribute audit's per-record scorer: each stored reply parsed into a label, a
refusal, a non-answer or unparsed (by the rules, :mod:`telltale.attributes.parse`, or by an
LLM judge, :mod:`telltale.attributes.judge`), and whether the label is the true one.

The mitigation audit parses its attribute replies with the same scorer; :func:`answer_row`
is the row of a scored record that :func:`telltale.attributes.metrics.summarise` reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from telltale.attributes.parse import ParsedAnswer, parse_answer
from telltale.attributes.taxonomy import Taxonomy
from telltale.models.base import TargetModel
from telltale.records import Record
from telltale.scorers import Scorer, per_record


def _store(record: Record, answer: ParsedAnswer, parser: str,
           judge: str | None = None) -> None:
    truth = record.labels.get(record.probe["attribute"])
    record.parsed = {"label": answer.label, "status": answer.status, "hedged": answer.hedged,
                     "evidence": answer.evidence, "parser": parser}
    if judge is not None:
        record.parsed["judge"] = judge
    # the other scorer's parse stays beside this one (rules, judge and human labels are
    # compared without asking again)
    record.parsed_by = {**record.parsed_by, parser: dict(record.parsed)}
    record.scores = {"correct": bool(answer.label is not None and answer.label == truth)}


def attribute_scorer(taxonomy: Taxonomy, judge: TargetModel | None = None) -> Scorer:
    """The scorer of attribute replies: the rules, or ``judge`` (one batch of requests per
    attribute) when a judge model is given."""
    if judge is None:
        return per_record(lambda rec: _store(
            rec, parse_answer(rec.output, taxonomy[rec.probe["attribute"]]), "rules"))
    return JudgeScorer(judge, taxonomy)


class JudgeScorer:
    """Parses replies with an LLM judge (:func:`telltale.attributes.judge.judge_answer`)."""

    def __init__(self, judge: TargetModel, taxonomy: Taxonomy):
        self.judge = judge
        self.taxonomy = taxonomy

    def __call__(self, records: Sequence[Record]) -> None:
        from telltale.attributes.judge import judge_answer

        for attribute in sorted({rec.probe["attribute"] for rec in records}):
            mine = [rec for rec in records if rec.probe["attribute"] == attribute]
            answers = judge_answer(self.judge, [rec.output for rec in mine],
                                   self.taxonomy[attribute])
            for rec, answer in zip(mine, answers, strict=True):
                _store(rec, answer, "judge", getattr(self.judge, "fingerprint", None))


def answer_row(record: Record, **extra: Any) -> dict[str, Any]:
    """A scored record as :func:`telltale.attributes.metrics.summarise` reads it; the
    manifest's speaker is the cluster of the paired tests."""
    attribute = record.probe["attribute"]
    return {"sample_id": record.sample_id, "cluster": record.labels.get("speaker"),
            "attribute": attribute, "mode": record.probe["mode"],
            "condition": record.probe["condition"], "truth": record.labels.get(attribute),
            "status": record.parsed["status"], "label": record.parsed["label"], **extra}
