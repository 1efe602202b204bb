"""Manifests: how users bring data (CSV, JSONL or Parquet, one row per sample).

Columns (see DESIGN.md): ``id``, ``audio`` or ``image`` (a path relative to the manifest
file), ``text``, ``member`` (1/0), ``dataset``, and one column per attribute. Any other
column is kept in ``Sample.extra``.

Validation checks every row and reports every problem at once (row, column, reason). With
``on_error="skip"`` bad rows are dropped and returned as :class:`RowProblem` entries so the
run can record why.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telltale.records import Sample

RESERVED = ("id", "audio", "image", "text", "member", "dataset")
TRUE_VALUES = {"1", "true", "yes", "member", "train"}
FALSE_VALUES = {"0", "false", "no", "nonmember", "non-member", "test"}


@dataclass(frozen=True)
class RowProblem:
    """One reason a manifest row cannot be used. ``row`` is the 1-based data row."""

    source: Path
    row: int
    column: str
    reason: str
    sample_id: str | None = None

    def __str__(self) -> str:
        ident = f" (id {self.sample_id})" if self.sample_id else ""
        return f"{self.source}: row {self.row}{ident}, column {self.column!r}: {self.reason}"


class ManifestError(ValueError):
    """The manifest cannot be used; ``problems`` lists every bad row."""

    def __init__(self, source: Path, problems: Sequence[RowProblem] = (), message: str = ""):
        self.source = source
        self.problems = list(problems)
        if not message:
            shown = "\n  ".join(str(p) for p in self.problems[:50])
            more = len(self.problems) - 50
            tail = f"\n  ... and {more} more" if more > 0 else ""
            message = (f"{source}: {len(self.problems)} problem(s) in the manifest "
                       f"(use --skip-bad-rows to drop them and go on):\n  {shown}{tail}")
        super().__init__(message)


def read_table(path: str | Path) -> list[dict[str, Any]]:
    """Read a CSV, JSONL or Parquet file into a list of row dicts (values as read)."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(path, message=f"{path}: manifest file not found")
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".tsv"):
            with open(path, newline="", encoding="utf-8-sig") as fh:
                return list(csv.DictReader(fh, delimiter="\t" if suffix == ".tsv" else ","))
        if suffix in (".jsonl", ".ndjson"):
            rows = []
            with open(path, encoding="utf-8") as fh:
                for number, line in enumerate(fh, start=1):
                    if line.strip():
                        try:
                            rows.append(json.loads(line))
                        except json.JSONDecodeError as exc:
                            raise ManifestError(
                                path, message=f"{path}: row {number} is not valid JSON ({exc})"
                            ) from None
            return rows
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path).to_pylist()
    except UnicodeDecodeError as exc:
        raise ManifestError(path, message=f"{path}: not a UTF-8 text file ({exc})") from None
    raise ManifestError(path, message=f"{path}: unknown manifest format {suffix!r} "
                                      "(expected .csv, .tsv, .jsonl or .parquet)")


def _blank(value: Any) -> bool:
    if value is None or (isinstance(value, float) and value != value):
        return True
    return str(value).strip() == ""


def _parse_member(value: Any) -> int | None:
    text = str(value).strip().lower()
    if text in TRUE_VALUES:
        return 1
    if text in FALSE_VALUES:
        return 0
    raise ValueError(f"member must be 1 or 0, got {value!r}")


def _check_media(path: Path, kind: str, max_seconds: float | None = None) -> str | None:
    """Whether a media file is usable (audio decoded in full: NaN or infinite samples,
    silence only and clips over ``max_seconds`` are refused); the reason, or None."""
    if not path.is_file():
        return f"file not found: {path}"
    if path.stat().st_size == 0:
        return f"file is empty: {path}"
    if kind == "audio":
        from telltale.media.audio import check_audio
        from telltale.media.errors import MediaError

        try:
            check_audio(path, max_seconds)
        except MediaError as exc:
            return exc.reason + f": {path}"
        return None
    from PIL import Image

    try:
        with Image.open(path) as img:
            img.verify()
    except Exception as exc:
        return f"cannot decode image ({exc.__class__.__name__}): {path}"
    return None


def load_manifest(
    path: str | Path,
    *,
    require: Iterable[str] = (),
    labels: Mapping[str, Iterable[str]] | None = None,
    check_media: bool = True,
    max_seconds: float | None = None,
    on_error: str = "raise",
) -> tuple[list[Sample], list[RowProblem]]:
    """Load and validate a manifest.

    Parameters
    ----------
    path : manifest file (.csv, .tsv, .jsonl, .parquet).
    require : columns that must be present and non-empty in every row, e.g.
        ``("audio", "member")`` for the membership audit.
    labels : for attribute columns, the allowed values; a value outside the set is a
        problem ("unknown label value"). Matching is case-insensitive.
    check_media : decode each media file to catch missing, empty or undecodable media,
        and audio with NaN or infinite samples, silence only, or more than ``max_seconds``.
    max_seconds : the longest clip accepted (None: any length).
    on_error : ``"raise"`` raises :class:`ManifestError` listing every problem;
        ``"skip"`` drops bad rows and returns their problems.

    Returns
    -------
    (samples, problems)
    """
    if on_error not in ("raise", "skip"):
        raise ValueError("on_error must be 'raise' or 'skip'")
    path = Path(path).resolve()
    rows = read_table(path)
    if not rows:
        raise ManifestError(path, message=f"{path}: the manifest has no rows")
    base = path.parent
    require = tuple(require)
    label_sets = {k: {str(v).lower() for v in vs} for k, vs in (labels or {}).items()}
    columns = set().union(*(r.keys() for r in rows))
    missing_columns = [c for c in (*require, *label_sets) if c not in columns]
    if "id" not in columns:
        missing_columns.insert(0, "id")
    if missing_columns:
        raise ManifestError(path, message=f"{path}: missing column(s) {', '.join(missing_columns)}"
                                          f" (found: {', '.join(sorted(columns))})")

    samples: list[Sample] = []
    problems: list[RowProblem] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, start=1):
        row_problems: list[RowProblem] = []
        sid = None if _blank(row.get("id")) else str(row["id"]).strip()

        def problem(column: str, reason: str, _number=number, _sid=sid, _out=row_problems):
            _out.append(RowProblem(path, _number, column, reason, _sid))

        if sid is None:
            problem("id", "empty id")
        elif sid in seen:
            problem("id", f"duplicate id (first seen in row {seen[sid]})")
        else:
            seen[sid] = number
        for column in require:
            if _blank(row.get(column)):
                problem(column, f"empty {column}")
        media, kind = None, None
        for candidate in ("audio", "image"):
            if not _blank(row.get(candidate)):
                kind = candidate
                media = Path(str(row[candidate]).strip())
                media = media if media.is_absolute() else (base / media)
                if check_media:
                    reason = _check_media(media, candidate, max_seconds)
                    if reason:
                        problem(candidate, reason)
                break
        member = None
        if not _blank(row.get("member")):
            try:
                member = _parse_member(row["member"])
            except ValueError as exc:
                problem("member", str(exc))
        sample_labels: dict[str, str] = {}
        for column, allowed in label_sets.items():
            value = row.get(column)
            if _blank(value):
                continue  # missing labels are allowed; the audit counts them
            if str(value).strip().lower() not in allowed:
                choices = ", ".join(sorted(allowed))
                problem(column, f"unknown label value {value!r} (allowed: {choices})")
            else:
                sample_labels[column] = str(value).strip().lower()
        extra = {k: v for k, v in row.items()
                 if k not in RESERVED and k not in label_sets and not _blank(v)}
        if row_problems:
            problems.extend(row_problems)
            continue
        samples.append(Sample(
            id=sid or "", media=media, kind=kind,
            text=None if _blank(row.get("text")) else str(row["text"]).strip(),
            member=member,
            dataset=None if _blank(row.get("dataset")) else str(row["dataset"]).strip(),
            labels=sample_labels, extra=extra, row=number, source=path))
    if problems and on_error == "raise":
        raise ManifestError(path, problems)
    return samples, problems


def write_manifest(path: str | Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Write rows as a manifest; absolute media paths under the manifest folder become
    relative to it (relative paths are taken as already relative to it).

    The format follows the suffix (.csv, .jsonl or .parquet).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    base = path.parent.resolve()
    clean: list[dict[str, Any]] = []
    for row in rows:
        out = dict(row)
        for column in ("audio", "image"):
            if out.get(column) and Path(out[column]).is_absolute():
                media = Path(out[column]).resolve()
                try:
                    out[column] = media.relative_to(base).as_posix()
                except ValueError:
                    out[column] = str(media)
        clean.append(out)
    columns: list[str] = []
    for row in clean:
        columns.extend(c for c in row if c not in columns)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(clean)
    elif suffix == ".jsonl":
        with open(path, "w", encoding="utf-8") as fh:
            for row in clean:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    elif suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        # from_pylist takes its schema from the first row: give every row every column
        pq.write_table(pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in clean]),
                       path)
    else:
        raise ValueError(f"{path}: unknown manifest format {suffix!r}")
    return path
