"""The sample browser of a run: every record with its prompt, its media, the reply with the
evidence highlighted, and its outcome, filterable, in ``samples.html`` beside the report.

The page is static and works from ``file://``: the records travel in ``samples.js`` (one
compact JSON object, loaded by a script tag, so no server and no fetch), and the page shows
them 50 at a time, so a 20,000-record run stays light (see
``benchmarks/bench_report.py``). Media files are embedded as data URLs while the run's
embedding budget lasts (:data:`EMBED_FILE_BYTES` per file, :data:`EMBED_TOTAL_BYTES` in
all) and linked by relative path beyond it. The player plays the file the probe was made
from (the record's ``media``: the manifest's, or a defended clip or redacted form the audit
wrote); a silence or noise condition is described, not re-rendered.
"""

from __future__ import annotations

import base64
import json
import mimetypes
import os
from pathlib import Path
from typing import Any

from telltale.records import Record
from telltale.rundir import RunDir

#: largest media file embedded in the page, and the most embedded in all
EMBED_FILE_BYTES = 256_000
EMBED_TOTAL_BYTES = 8_000_000
#: longest reply kept in full (the record on disk keeps everything)
MAX_REPLY_CHARS = 2_000
#: labels that are bookkeeping, not ground truth a reader filters on
_NOT_TRUTH = {"member", "dataset", "speaker", "transcript"}


def outcome(record: Record) -> str:
    """What happened to one probe, in words shared by every audit: ``error``; for parsed
    answers the parser's status with ``correct``/``wrong`` for labelled answers; for PII
    scoring ``leaked``, ``partial`` or the refusal kind; otherwise ``answered``."""
    if record.error:
        return "error"
    parsed, scores = record.parsed or {}, record.scores or {}
    if parsed.get("status"):
        if parsed["status"] == "answer" and "correct" in scores:
            return "answer: correct" if scores["correct"] else "answer: wrong"
        return str(parsed["status"])
    if "pii" in scores:
        if scores.get("any_leaked"):
            return "leaked"
        if scores.get("any_partial"):
            return "partial leak"
        return str(scores.get("refusal") or "no leak")
    return "answered"


def evidence(record: Record) -> list[str]:
    """The spans of the reply to highlight: the parser's evidence for its label, the text
    of each (partially) leaked value."""
    spans = []
    if (record.parsed or {}).get("evidence"):
        spans.append(str(record.parsed["evidence"]))
    for score in ((record.scores or {}).get("pii") or {}).values():
        if score.get("evidence") and (score.get("leaked") or score.get("partial")):
            spans.append(str(score["evidence"]))
    return spans


def _manifest_media(info: dict[str, Any]) -> dict[str, Path]:
    """sample id -> media file, from the run's manifest (for records made before records
    named their file); empty when the manifest is gone or changed."""
    from telltale.manifest import load_manifest

    data = info.get("data")
    if not data or not Path(data).exists():
        return {}
    try:
        samples, _ = load_manifest(data, check_media=False, on_error="skip")
    except ValueError:  # a manifest changed since the run: the browser goes without media
        return {}
    return {s.id: Path(s.media) for s in samples if s.media is not None}


def _embedded(files: dict[str, Path], run: RunDir) -> dict[str, dict[str, str]]:
    """media key -> {"kind", "src"}: a data URL while the budget lasts, else a path
    relative to the run."""
    budget = EMBED_TOTAL_BYTES
    out = {}
    for key, path in files.items():
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        size = path.stat().st_size
        if size <= EMBED_FILE_BYTES and size <= budget:
            budget -= size
            src = f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode()
        else:
            src = os.path.relpath(path, run.path)
        out[key] = {"kind": mime.partition("/")[0], "src": src}
    return out


def _row(record: Record, index: int) -> dict[str, Any]:
    truth = {k: v for k, v in record.labels.items()
             if k not in _NOT_TRUTH and not k.startswith("pii:") and v not in (None, "")}
    output = record.output or ""
    return {"i": index, "key": record.key, "sample": record.sample_id,
            "probe": {k: v for k, v in record.probe.items() if isinstance(v, str | int)},
            "prompt": record.prompt or "", "system": record.system or "",
            "reply": output[:MAX_REPLY_CHARS] + ("…" if len(output) > MAX_REPLY_CHARS else ""),
            "outcome": outcome(record), "evidence": evidence(record),
            "truth": {k: str(v) for k, v in truth.items()}, "error": record.error or ""}


def write_samples(run: RunDir) -> Path:
    """Write ``samples.js`` and ``samples.html`` into the run directory; the page."""
    info = run.read_run_json()
    records = run.records()
    manifest = _manifest_media(info)
    rows, files = [], {}
    for index, record in enumerate(records):
        row = _row(record, index)
        # the file this probe was made from: a defended clip, a redacted form, or the
        # manifest's own
        path = Path(record.media) if record.media else manifest.get(record.sample_id)
        if path is not None and path.is_file():
            row["media"] = str(path)
            files.setdefault(str(path), path)
        rows.append(row)
    data = {"audit": info.get("audit", ""), "model": str(info.get("model") or ""),
            "records": rows, "media": _embedded(files, run)}
    # "</" would end the script element early in a page that inlined it; escaped, it is
    # the same JSON
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    (run.path / "samples.js").write_text(f"window.TELLTALE_SAMPLES={payload};\n",
                                         encoding="utf-8")
    page = run.path / "samples.html"
    template = (Path(__file__).with_name("samples.html")).read_text(encoding="utf-8")
    page.write_text(template, encoding="utf-8")
    return page
