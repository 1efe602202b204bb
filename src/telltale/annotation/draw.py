"""Which records people label: a seeded draw stratified by cell and by the scorer's outcome.

A *cell* is what a headline rate is computed over: attribute x mode x condition (with the
defence under mitigation) for attribute records; framing x scenario x PII type (with the
model variant in retention, the defence under mitigation) for PII records. The *outcome*
is what the scorer said: the status of an attribute reply (answer / refusal / non_answer /
unparsed), or the leak status of the asked type with the refusal kind for a PII reply
("partial|refusal"). A stratum is one (cell, outcome) pair.

The draw takes the scorer's outcomes in turn (so that a rare outcome, such as 2% of
replies left unparsed, is labelled as often as the common ones), within an outcome the
cells in turn, and within a stratum the records in an order fixed by the seed and the
record key alone. A draw of N is therefore the first N of one sequence: asking for more
later adds records and keeps every one drawn before, and the same seed and records give the
same draw. Over-sampling rare outcomes is undone by weights: each line of the sample file
keeps its stratum and the stratum's size at draw time, so a labelled record weighs
``stratum size / labelled records of the stratum`` (:func:`weights`).

The sample file, ``annotation_sample.jsonl`` in the run directory, is appended to, never
rewritten: one line per drawn record, ``{"key", "cell", "outcome", "stratum_size",
"seed"}``, in draw order.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

SAMPLE_FILE = "annotation_sample.jsonl"
ATTRIBUTE_AXES = ("defence", "attribute", "mode", "condition")
PII_AXES = ("variant", "defence", "framing", "scenario", "pii_type")
_RANK = {"leaked": 2, "partial": 1, "none": 0}


def as_dict(record: Any) -> dict[str, Any]:
    """A record as a plain dict (a :class:`~telltale.records.Record` or a dict)."""
    return asdict(record) if is_dataclass(record) else dict(record)


def record_kind(record: Mapping[str, Any]) -> str | None:
    """``"attribute"`` for a parsed attribute reply, ``"pii"`` for a reply scored for PII,
    None for anything else (errors, utility probes, unscored records)."""
    if record.get("error") or record.get("output") is None:
        return None
    probe = record.get("probe") or {}
    if "attribute" in probe and "status" in (record.get("parsed") or {}):
        return "attribute"
    if "pii" in (record.get("scores") or {}):
        return "pii"
    return None


def asked_types(record: Mapping[str, Any]) -> list[str]:
    """The PII types a PII record is scored for: the asked one, or all it was scored on."""
    asked = (record.get("probe") or {}).get("pii_type")
    scored = list((record.get("scores") or {}).get("pii") or {})
    return [asked] if asked in scored else scored


def cell_of(record: Mapping[str, Any]) -> str:
    """The record's cell, as ``axis=value`` pairs joined by ``|``."""
    probe = record.get("probe") or {}
    axes = ATTRIBUTE_AXES if record_kind(record) == "attribute" else PII_AXES
    # retention's "variant" is the model variant; an attribute probe's is a phrasing index
    return "|".join(f"{axis}={probe[axis]}" for axis in axes
                    if isinstance(probe.get(axis), str))


def outcome_of(record: Mapping[str, Any]) -> str:
    """What the scorer said about the record (the stratum's second half)."""
    if record_kind(record) == "attribute":
        return str(record["parsed"]["status"])
    scores = record["scores"]
    statuses = [scores["pii"][t]["status"] for t in asked_types(record)]
    leak = max(statuses, key=_RANK.__getitem__) if statuses else "none"
    return f"{leak}|{scores.get('refusal', 'answer')}"


def _rank(seed: int, text: str) -> bytes:
    return hashlib.sha256(f"{seed}\x00{text}".encode()).digest()


def _interleave(sequences: Sequence[Sequence[Any]]) -> Iterator[Any]:
    """One item of each sequence in turn, skipping the exhausted ones."""
    longest = max((len(s) for s in sequences), default=0)
    for i in range(longest):
        for sequence in sequences:
            if i < len(sequence):
                yield sequence[i]


def draw_order(records: Iterable[Any], seed: int) -> list[dict[str, Any]]:
    """Every labelable record in the order the draw takes them (see the module doc).

    Returns
    -------
    One dict per record: ``key``, ``cell``, ``outcome``, ``stratum_size`` and ``seed``.
    """
    strata: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for record in map(as_dict, records):
        if record_kind(record) is not None:
            strata[outcome_of(record)][cell_of(record)].append(record["key"])
    per_outcome = []
    for outcome in sorted(strata, key=lambda o: _rank(seed, "outcome:" + o)):
        cells = strata[outcome]
        ordered = [[{"key": key, "cell": cell, "outcome": outcome,
                     "stratum_size": len(cells[cell]), "seed": seed}
                    for key in sorted(cells[cell], key=lambda k: _rank(seed, k))]
                   for cell in sorted(cells, key=lambda c: _rank(seed, "cell:" + c))]
        per_outcome.append(list(_interleave(ordered)))
    return list(_interleave(per_outcome))


def read_sample(path: str | Path) -> list[dict[str, Any]]:
    """The lines of a sample file (``[]`` when there is none); errors name file and line."""
    path = Path(path)
    if not path.exists():
        return []
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            raise ValueError(f"{path}: line {number} is not valid JSON") from None
        if not isinstance(item, dict) or not {"key", "seed"} <= set(item):
            raise ValueError(f"{path}: line {number} needs at least 'key' and 'seed'")
        out.append(item)
    return out


def extend_sample(path: str | Path, records: Iterable[Any], size: int,
                  seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Draw records into a sample file until it holds ``size`` of them (or all there are).

    Parameters
    ----------
    path : the sample file (``annotation_sample.jsonl`` of the run).
    records : the run's records.
    size : how many the sample should hold; a smaller number than it holds draws nothing.
    seed : the draw's seed; a sample drawn with another seed is not topped up.

    Returns
    -------
    (sample, added) : every line of the sample after the call, and the lines added now.

    Raises
    ------
    ValueError : ``size`` is negative, or the file was drawn with another seed.
    """
    if size < 0:
        raise ValueError(f"sample size must be at least 0, got {size}")
    path = Path(path)
    sample = read_sample(path)
    seeds = {item["seed"] for item in sample}
    if seeds and seeds != {seed}:
        raise ValueError(f"{path} was drawn with seed {sorted(seeds)[0]}; top it up with that "
                         "seed (or move the file away to draw a new sample)")
    have = {item["key"] for item in sample}
    added = []
    for item in draw_order(records, seed):
        if len(sample) + len(added) >= size:
            break
        if item["key"] not in have:
            added.append(item)
    if added:
        with open(path, "a", encoding="utf-8") as handle:
            for item in added:
                handle.write(json.dumps(item, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    return sample + added, added


def weights(sample: Iterable[Mapping[str, Any]], labelled: Iterable[str]) -> dict[str, float]:
    """Inverse inclusion weights of the labelled records of a sample.

    Parameters
    ----------
    sample : the sample file's lines (they carry each stratum and its size at draw time).
    labelled : keys of the records that have a label.

    Returns
    -------
    ``{key: stratum_size / labelled records of the stratum}`` for labelled keys in the
    sample; keys labelled outside the sample get no weight (they were not drawn at random).
    """
    labelled = set(labelled)
    mine = [item for item in sample if item["key"] in labelled]
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for item in mine:
        counts[(item.get("cell", ""), item.get("outcome", ""))] += 1
    return {item["key"]: item.get("stratum_size", 1)
            / counts[(item.get("cell", ""), item.get("outcome", ""))] for item in mine}
