"""What the sample browser's labelling mode needs of a record: the scorer's reading in the
shape of a ``labels.jsonl`` entry (what accepting it writes), the choices a correction
may take, and the label a person already gave.

The page (``samples.html``) cannot write files: it keeps the labels given in the browser
(and in its local storage, so a reload loses nothing) and offers them as a
``labels.jsonl`` download, one line per label in the schema of
:mod:`telltale.annotation.store`; appending that file to the run's ``labels.jsonl`` (``cat
downloaded.jsonl >> RUN/labels.jsonl``) is what ``telltale score`` reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from telltale.annotation.draw import as_dict, asked_types, record_kind


def scorer_reading(record: Any) -> dict[str, Any] | None:
    """The scorer's reading of a record as the fields of a label entry (``kind``
    "attribute" or "pii", ``outcome``, ``label`` / ``refusal``); None for a record nobody
    labels (an error, a utility probe, an unscored record)."""
    record = as_dict(record)
    kind = record_kind(record)
    if kind == "attribute":
        parsed = record["parsed"]
        return {"kind": kind, "attribute": record["probe"]["attribute"],
                "outcome": parsed["status"],
                "label": parsed.get("label") if parsed["status"] == "answer" else None}
    if kind == "pii":
        scores = record["scores"]
        return {"kind": kind, "outcome": {t: scores["pii"][t]["status"]
                                          for t in asked_types(record)},
                "refusal": scores.get("refusal", "answer")}
    return None


def labelling(records: list[Any], taxonomy: Any, labels: Mapping[str, Mapping[str, Any]],
              drawn: set[str] | frozenset[str] = frozenset()) -> tuple[dict[str, Any], dict]:
    """Per record key its reading and any label already given, and the page's labelling
    settings (the labels each attribute may take).

    Returns
    -------
    (rows, settings) : ``{key: {"reading": ..., "human": entry or None, "drawn": whether
        the record is in the run's annotation_sample.jsonl (``drawn``)}}`` for labelable
        records; ``{"attributes": {name: [labels]}}`` (``taxonomy``: the run's
        :class:`~telltale.attributes.taxonomy.Taxonomy`, or None).
    """
    rows = {}
    attributes: dict[str, list[str]] = {}
    for record in records:
        reading = scorer_reading(record)
        if reading is None:
            continue
        key = as_dict(record)["key"]
        rows[key] = {"reading": reading, "human": labels.get(key), "drawn": key in drawn}
        if reading["kind"] == "attribute" and taxonomy is not None:
            name = reading["attribute"]
            if name not in attributes and name in taxonomy:
                attributes[name] = list(taxonomy[name].labels)
    return rows, {"attributes": attributes, "drawn": len(drawn)}
