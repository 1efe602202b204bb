"""Samples and records: the units every audit reads and writes.

A :class:`Sample` is one row of a manifest (one media item with its text and labels).
A :class:`Record` is one (sample, probe) result as stored in ``records.jsonl``; records are
the source of truth from which every metric is derived.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MEDIA_KINDS = ("audio", "image")


@dataclass
class Sample:
    """One media item of a manifest.

    ``media`` is an absolute path (resolved against the manifest's folder) or None for
    text-only samples; ``row`` is the 1-based data row number in the manifest, used in
    error messages.
    """

    id: str
    media: Path | None = None
    kind: str | None = None  # "audio" | "image" | None
    text: str | None = None
    member: int | None = None
    dataset: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    row: int = 0
    source: Path | None = None  # the manifest file


@dataclass
class Record:
    """One (sample, probe) result.

    ``key`` identifies the pair uniquely inside a run and is what resume uses to skip
    finished work. ``error`` is set (and ``output`` left empty) when the sample could not
    be processed; such records are counted in the report and never retried silently.
    """

    key: str
    sample_id: str
    probe: dict[str, Any] = field(default_factory=dict)
    #: the media file the probe was made from (before any condition): the manifest's, or a
    #: file the audit wrote, such as a defended clip
    media: str | None = None
    #: sha256 of the decoded media the model got (after any condition or transform)
    media_sha256: str | None = None
    #: sha256 of ``media``'s bytes when the probe was asked: a resume checks it against the
    #: file as it is now (:meth:`telltale.rundir.RunDir.check_media`)
    media_file_sha256: str | None = None
    prompt: str | None = None
    system: str | None = None
    output: str | None = None
    parsed: dict[str, Any] = field(default_factory=dict)
    #: every parse a scorer has made of the reply, by scorer ("rules", "judge"), so that a
    #: run scored by the rules and by a judge compares them without asking again;
    #: ``parsed`` is the current one. Left out of ``records.jsonl`` while empty.
    parsed_by: dict[str, Any] = field(default_factory=dict)
    scores: dict[str, Any] = field(default_factory=dict)
    token_stats: dict[str, list[float]] | None = None
    labels: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_json(self) -> str:
        # the fields hold no dataclasses, and _json_safe copies every container it meets,
        # so asdict's deep copy (two thirds of the time, issue 26) adds nothing
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__}
        if not fields["parsed_by"]:
            del fields["parsed_by"]
        return json.dumps(_json_safe(fields), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def _json_safe(value: Any) -> Any:
    """Convert numpy scalars/arrays and non-finite floats to JSON-representable values."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return _json_safe(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def json_safe(value: Any) -> Any:
    """Public alias of the JSON conversion used for records and results."""
    return _json_safe(value)


def read_records(path: Path) -> Iterator[Record]:
    """Read a records.jsonl file, ignoring a truncated last line left by a killed run."""
    path = Path(path)
    if not path.exists():
        return
    with open(path, encoding="utf-8") as fh:
        lines = fh.readlines()
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line:
            continue
        try:
            yield Record.from_dict(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):
                return  # partial write of a killed run; the pair is simply redone
            raise ValueError(f"{path}: line {number} is not valid JSON") from None
