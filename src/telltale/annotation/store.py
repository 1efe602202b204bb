"""The labels file of a run: ``labels.jsonl``, one JSON object per line, append-only.

Any tool may write it; every line is one person's (or one tool's) reading of one record:

=============  ==========================================================================
field          meaning
=============  ==========================================================================
``key``        the record's key in ``records.jsonl`` (required)
``annotator``  who labelled it: a name, an e-mail, a tool's name (required)
``time``       when, ISO 8601 with a time zone ("2026-12-06T10:15:00+00:00") (required)
``outcome``    attribute records: ``"answer"``, ``"refusal"``, ``"non_answer"`` or
               ``"unparsed"`` (the reply commits to no single label and declines nothing);
               PII records (disclosure, retention, forms under mitigation): an object
               ``{pii_type: "leaked" | "partial" | "none"}`` for the types the record asked
               about (required)
``label``      attribute records: the canonical label the reply gives, required when the
               outcome is ``"answer"`` and null otherwise
``refusal``    PII records: ``"answer"``, ``"refusal"`` or ``"non_answer"`` (optional)
``note``       free text (optional)
``scorer``     what the scorer said when the label was given, for the record (optional)
=============  ==========================================================================

The rules for outcomes and labels are the README's ("How replies are scored"). Labels are
never rewritten: a correction is a new line, and when the file is read the *last* line of a
(key, annotator) pair wins. A half-written last line (a process killed while writing) is
ignored on reading and cut before the next append; any other malformed line is an error
naming the file, the line and the problem.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from telltale.console import log

LABELS_FILE = "labels.jsonl"
ATTRIBUTE_OUTCOMES = ("answer", "refusal", "non_answer", "unparsed")
PII_STATUSES = ("leaked", "partial", "none")
REFUSAL_KINDS = ("answer", "refusal", "non_answer")
_FIELDS = {"key", "annotator", "time", "outcome", "label", "refusal", "note", "scorer"}


class LabelsError(ValueError):
    """A labels file or entry that breaks the schema; the message names where and why."""


def now() -> str:
    """The current time, ISO 8601 in UTC, to the second."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def check_label(entry: Mapping[str, Any], where: str = "label") -> dict[str, Any]:
    """``entry`` as a plain dict if it follows the schema (see the module doc).

    Raises
    ------
    LabelsError : naming ``where`` and the field at fault.
    """
    if not isinstance(entry, Mapping):
        raise LabelsError(f"{where}: expected a JSON object, got {type(entry).__name__}")
    stray = set(entry) - _FIELDS
    if stray:
        raise LabelsError(f"{where}: unknown field(s) {', '.join(sorted(stray))}; allowed: "
                          f"{', '.join(sorted(_FIELDS))}")
    for name in ("key", "annotator", "time"):
        if not isinstance(entry.get(name), str) or not entry[name].strip():
            raise LabelsError(f"{where}: {name!r} must be a non-empty string")
    try:
        stamp = dt.datetime.fromisoformat(entry["time"])
    except ValueError:
        raise LabelsError(f"{where}: time {entry['time']!r} is not ISO 8601") from None
    if stamp.tzinfo is None:
        raise LabelsError(f"{where}: time {entry['time']!r} has no time zone")
    outcome = entry.get("outcome")
    label = entry.get("label")
    if isinstance(outcome, str):
        if outcome not in ATTRIBUTE_OUTCOMES:
            raise LabelsError(f"{where}: outcome {outcome!r} is not one of "
                              f"{', '.join(ATTRIBUTE_OUTCOMES)}")
        if outcome == "answer" and (not isinstance(label, str) or not label.strip()):
            raise LabelsError(f"{where}: an 'answer' needs the label it gives")
        if outcome != "answer" and label is not None:
            raise LabelsError(f"{where}: outcome {outcome!r} gives no label, got {label!r}")
        if entry.get("refusal") is not None:
            raise LabelsError(f"{where}: 'refusal' belongs to PII records only")
    elif isinstance(outcome, Mapping) and outcome:
        bad = {t: s for t, s in outcome.items() if s not in PII_STATUSES}
        if bad:
            raise LabelsError(f"{where}: PII statuses must be {', '.join(PII_STATUSES)}; "
                              f"got {bad}")
        if label is not None:
            raise LabelsError(f"{where}: PII records take no 'label'")
        if entry.get("refusal") not in (None, *REFUSAL_KINDS):
            raise LabelsError(f"{where}: refusal must be one of {', '.join(REFUSAL_KINDS)}")
    else:
        raise LabelsError(f"{where}: 'outcome' must be an attribute outcome "
                          f"({', '.join(ATTRIBUTE_OUTCOMES)}) or an object of PII statuses")
    if entry.get("note") is not None and not isinstance(entry["note"], str):
        raise LabelsError(f"{where}: note must be a string")
    return dict(entry)


def make_label(key: str, annotator: str, outcome: str | Mapping[str, str], *,
               label: str | None = None, refusal: str | None = None, note: str | None = None,
               scorer: Any = None, time: str | None = None) -> dict[str, Any]:
    """A checked label entry, stamped now unless ``time`` is given."""
    entry: dict[str, Any] = {"key": key, "annotator": annotator, "time": time or now(),
                             "outcome": dict(outcome) if isinstance(outcome, Mapping)
                             else outcome}
    for name, value in (("label", label), ("refusal", refusal), ("note", note),
                        ("scorer", scorer)):
        if value is not None:
            entry[name] = value
    return check_label(entry)


def append_labels(path: str | Path, entries: Iterable[Mapping[str, Any]]) -> int:
    """Append entries to a labels file (created if absent); nothing already there changes.

    Every entry is checked before any is written, so a bad one writes none. A half-written
    last line left by a killed writer (never a complete label) is cut first.

    Returns
    -------
    The number of entries written.
    """
    path = Path(path)
    checked = [check_label(e, f"{path}: new label {i + 1}") for i, e in enumerate(entries)]
    if not checked:
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    _drop_torn_tail(path)
    with open(path, "a", encoding="utf-8") as handle:
        for entry in checked:
            handle.write(json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return len(checked)


def _drop_torn_tail(path: Path) -> None:
    """Cut a last line a killed writer left half-written (it holds no complete label), so
    that the next entry does not join it into one invalid line."""
    if not path.exists():
        return
    with open(path, "rb+") as handle:
        data = handle.read()
        if data and not data.endswith(b"\n"):
            handle.truncate(data.rfind(b"\n") + 1)
            log.warning("%s: dropped a half-written last line", path)


def read_labels(path: str | Path) -> list[dict[str, Any]]:
    """Every entry of a labels file, in file order (``[]`` when there is none).

    Raises
    ------
    LabelsError : a line (other than a half-written last one) is not valid JSON or breaks
        the schema; the message names the file and the line.
    """
    path = Path(path)
    if not path.exists():
        return []
    raw = path.read_text(encoding="utf-8")
    lines = raw.split("\n")
    entries = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            if number == len(lines) and not raw.endswith("\n"):
                log.warning("%s: ignoring a half-written last line", path)
                continue
            raise LabelsError(f"{path}: line {number} is not valid JSON ({exc.msg})") from None
        entries.append(check_label(data, f"{path}: line {number}"))
    return entries


def latest(entries: Iterable[Mapping[str, Any]],
           annotator: str | None = None) -> dict[str, dict[str, Any]]:
    """The last entry per record key, of one annotator.

    Parameters
    ----------
    entries : entries in file order (:func:`read_labels`).
    annotator : whose labels; may be None only when the entries hold one annotator.

    Returns
    -------
    ``{key: entry}``, the last entry of each key winning.

    Raises
    ------
    LabelsError : ``annotator`` is None and several annotators labelled.
    """
    entries = list(entries)
    if annotator is None:
        names = annotators(entries)
        if len(names) > 1:
            raise LabelsError(f"labels of several annotators ({', '.join(names)}); name one")
        annotator = names[0] if names else None
    return {e["key"]: dict(e) for e in entries if e["annotator"] == annotator}


def annotators(entries: Iterable[Mapping[str, Any]]) -> list[str]:
    """The annotators of the entries, in order of first appearance."""
    return list(dict.fromkeys(e["annotator"] for e in entries))
