"""The sample browser of a run: every record with its truth, its prompt, the media the
model got, the reply with the evidence marked, the outcome with the scorer's explanation,
and, where an attack scored it, the clip's score and rank; in ``samples.html`` beside the
report.

The page is static and works from ``file://``: the records travel in ``samples.js`` (one
compact JSON object, loaded by a script tag, so no server and no fetch), and the page shows
them 50 at a time, so a 20,000-record run stays light (see ``benchmarks/bench_report.py``).

Each record becomes one row object (:func:`browser_row`) with the fields the page shows
and filters on: ``truth`` (what the reply is judged against), ``outcome`` and
``explanation`` (what the scorer decided and why), ``marks`` (the spans of the reply the
evidence was read from, :func:`telltale.evidence.locate`), ``score``/``rank``/``member``
for membership. A page mode that needs more per record (a label a person gives) adds a
field here and a column there.

Media: the file each probe was made from, or, where the model got no file (silence,
noise, a TTS resynthesis), the media re-created into the run (:mod:`telltale.heard`).
Files are embedded as data URLs while the run's budget lasts (:data:`EMBED_FILE_BYTES` per
file, :data:`EMBED_TOTAL_BYTES` in all) and linked by relative path beyond it; the page
says so when a linked file cannot be loaded (a run folder copied without its corpus).
"""

from __future__ import annotations

import base64
import json
import mimetypes
import os
from pathlib import Path
from typing import Any

from telltale.evidence import locate
from telltale.records import Record
from telltale.rundir import RunDir
from telltale.tables import format_cell

#: largest media file embedded in the page, and the most embedded in all
EMBED_FILE_BYTES = 256_000
EMBED_TOTAL_BYTES = 8_000_000
#: longest reply kept in full (the record on disk keeps everything)
MAX_REPLY_CHARS = 2_000
#: labels that are bookkeeping or shown elsewhere, not ground truth a reader filters on
_NOT_TRUTH = {"member", "dataset", "speaker", "transcript"}
#: per-clip attack scores, the first one present is the record's score
SCORES = (("mia_score", "indicator attack"), ("blackbox_score", "black-box attack"),
          ("calibrated_score", "reference-calibrated attack"))


def outcome(record: Record) -> str:
    """What happened to one probe, in words shared by every audit: ``error``; for parsed
    answers the parser's status with ``correct``/``wrong`` for labelled answers; for PII
    scoring ``leaked``, ``partial leak``, ``refusal``, ``non_answer`` or ``no leak``;
    otherwise ``answered``."""
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
        refused = scores.get("refusal")
        return str(refused) if refused in ("refusal", "non_answer") else "no leak"
    return "answered"


def evidence(record: Record) -> list[str]:
    """The evidence the scorers reported: the parser's for its label, the text of each
    (partially) leaked value."""
    spans = []
    if (record.parsed or {}).get("evidence"):
        spans.append(str(record.parsed["evidence"]))
    for score in ((record.scores or {}).get("pii") or {}).values():
        if score.get("evidence") and (score.get("leaked") or score.get("partial")):
            spans.append(str(score["evidence"]))
    return spans


def truth(record: Record) -> dict[str, str]:
    """What the reply is judged against: the asked attribute's true label, the PII values
    scored (``pii:`` labels), membership and the reference transcript; else every label
    that is ground truth."""
    labels = record.labels or {}
    attribute = record.probe.get("attribute")
    if attribute and labels.get(attribute) not in (None, ""):
        return {attribute: str(labels[attribute])}
    scored = ((record.scores or {}).get("pii") or {})
    pii = {k.removeprefix("pii:"): str(v) for k, v in labels.items()
           if k.startswith("pii:") and v not in (None, "")
           and (not scored or k.removeprefix("pii:") in scored)}
    if pii:
        return pii
    out = {}
    if labels.get("member") is not None:
        out["member"] = "member" if int(labels["member"]) else "non-member"
    if labels.get("transcript"):
        out["transcript"] = str(labels["transcript"])
    return out or {k: str(v) for k, v in labels.items()
                   if k not in _NOT_TRUTH and not k.startswith("pii:") and v not in (None, "")}


def explain(record: Record) -> str:
    """Why the scorer decided what it did, in a line: the label it read and the evidence,
    its own explanation where the evidence is none ("no label mentioned"), each PII type's
    finding, or the error."""
    if record.error:
        return record.error
    parsed, scores = record.parsed or {}, record.scores or {}
    status = parsed.get("status")
    said = parsed.get("evidence")
    quoted = bool(said) and locate(record.output or "", str(said)) is not None
    if status == "answer":
        text = f"read the label {parsed.get('label')!r}" + (" (hedged)" if parsed.get("hedged")
                                                            else "")
        return text + (f" from {said!r}" if quoted else f"; {said}" if said else "")
    if status:  # the outcome names the status; this says what it rests on
        return f"evidence {said!r}" if quoted else str(said or "no reason given")
    if "pii" in scores:
        parts = [f"{t} {v['status']}" + (f" ({v['evidence']!r})" if v.get("evidence") else "")
                 for t, v in scores["pii"].items()]
        reason = scores.get("refusal_reason")
        refused = scores.get("refusal") in ("refusal", "non_answer")
        return "; ".join(parts) + (f"; {scores['refusal']}: {reason}" if refused and reason
                                   else "")
    return ""


def marks(reply: str, spans: list[str]) -> list[list[int]]:
    """Non-overlapping ``[start, end]`` offsets of ``reply`` to mark, in order."""
    found = sorted(filter(None, (locate(reply, s) for s in spans)))
    out: list[list[int]] = []
    for start, end in found:
        if not out or start >= out[-1][1]:
            out.append([start, end])
    return out


def _scored(record: Record) -> tuple[str, float] | None:
    for key, name in SCORES:
        value = (record.scores or {}).get(key)
        if isinstance(value, int | float):
            return name, float(value)
    return None


def ranks(records: list[Record]) -> dict[str, tuple[int, int]]:
    """Record key -> (rank, of) of its attack score among the records scored by the same
    attack under the same condition; rank 1 is the most member-like, and tied scores share
    the best rank among them (1, 1, 3)."""
    groups: dict[tuple[str, str], list[tuple[float, str]]] = {}
    for record in records:
        found = _scored(record)
        if found:
            group = (found[0], str(record.probe.get("condition")))
            groups.setdefault(group, []).append((found[1], record.key))
    out = {}
    for scored in groups.values():
        values = sorted((s for s, _ in scored), reverse=True)
        for score, key in scored:
            out[key] = (values.index(score) + 1, len(scored))
    return out


def browser_row(record: Record, index: int, rank: tuple[int, int] | None = None
                ) -> dict[str, Any]:
    """One record as the page holds it (see the module docstring)."""
    output = record.output or ""
    reply = output[:MAX_REPLY_CHARS] + ("…" if len(output) > MAX_REPLY_CHARS else "")
    labels = record.labels or {}
    row: dict[str, Any] = {
        "i": index, "key": record.key, "sample": record.sample_id,
        "probe": {k: v for k, v in record.probe.items() if isinstance(v, str | int)},
        "prompt": record.prompt or "", "system": record.system or "", "reply": reply,
        "outcome": outcome(record), "explanation": explain(record),
        "marks": marks(reply, evidence(record)), "truth": truth(record),
        "labels": {k: str(v) for k, v in labels.items()
                   if k not in _NOT_TRUTH and not k.startswith("pii:") and v not in (None, "")},
        "error": record.error or ""}
    if labels.get("member") is not None:
        row["member"] = "member" if int(labels["member"]) else "non-member"
    found = _scored(record)
    if found:
        row["score"], row["scorer"] = found[1], found[0]
        row["score_text"] = format_cell(found[1])
    if rank:
        row["rank"], row["of"] = rank
    return row


def _embedded(files: dict[str, Path], run: RunDir) -> dict[str, dict[str, Any]]:
    """media key -> {"kind", "src", "linked"}: a data URL while the budget lasts, else a
    path relative to the run (``linked``)."""
    budget = EMBED_TOTAL_BYTES
    out = {}
    for key, path in files.items():
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        size = path.stat().st_size
        if size <= EMBED_FILE_BYTES and size <= budget:
            budget -= size
            data = base64.b64encode(path.read_bytes()).decode()
            src, linked = f"data:{mime};base64,{data}", False
        else:
            src, linked = os.path.relpath(path, run.path), True
        out[key] = {"kind": mime.partition("/")[0], "src": src, "linked": linked}
    return out


def _labelling(run: RunDir, records: list[Record]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Each labelable record's reading and label (:mod:`telltale.annotation.browser`), and
    the page's labelling settings with the annotator whose labels are shown."""
    from telltale.annotation.browser import labelling
    from telltale.annotation.correct import run_labels

    try:
        from telltale.attributes.taxonomy import from_dict

        taxonomy = from_dict(run.read_json("taxonomy.json"))
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        taxonomy = None
    from telltale.annotation.draw import SAMPLE_FILE, read_sample

    found = run_labels(run)
    drawn = {item["key"] for item in read_sample(run.path / SAMPLE_FILE)}
    rows, settings = labelling(records, taxonomy, found.by_key if found else {}, drawn)
    settings["annotator"] = found.annotator if found else ""
    return rows, settings


def write_samples(run: RunDir, jobs: int = 2) -> Path:
    """Write ``samples.js`` and ``samples.html`` into the run directory (re-creating the
    media of silence, noise and TTS probes first, :mod:`telltale.heard`); the page."""
    from telltale.audit import from_run
    from telltale.heard import heard_files, manifest_samples

    info = run.read_run_json()
    records = run.records()
    samples = manifest_samples(info)
    try:
        audit = from_run(run)
    except (ValueError, TypeError, FileNotFoundError):  # a run of an audit not known here
        audit = None
    heard = heard_files(run, records, audit, samples, int(info.get("seed") or 0), jobs)
    ranked = ranks(records)
    labelled, settings = _labelling(run, records)
    rows, files = [], {}
    for index, record in enumerate(records):
        row = browser_row(record, index, ranked.get(record.key))
        if record.key in labelled:  # the labelling mode's reading and any label given
            row.update(labelled[record.key])
        sample = samples.get(record.sample_id)
        if "member" in row["truth"] and "transcript" not in row["truth"] and sample \
                and sample.text:
            row["truth"]["transcript"] = sample.text  # the records do not carry it
        if record.key in heard:
            path, row["media_note"] = heard[record.key].path, heard[record.key].note
        else:  # the file this probe was made from: a defended clip, a redacted form, ...
            path = Path(record.media) if record.media else (sample.media if sample else None)
        if path is not None and Path(path).is_file():
            row["media"] = str(path)
            files.setdefault(str(path), Path(path))
        elif path is not None:
            row["media_note"] = f"{row.get('media_note', 'media')} (file {path} not found)"
        rows.append(row)
    data = {"audit": info.get("audit", ""), "model": str(info.get("model") or ""),
            "records": rows, "media": _embedded(files, run), "labelling": settings,
            "embed_bytes": EMBED_TOTAL_BYTES}
    # "</" would end the script element early in a page that inlined it; escaped, it is
    # the same JSON
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    (run.path / "samples.js").write_text(f"window.TELLTALE_SAMPLES={payload};\n",
                                         encoding="utf-8")
    page = run.path / "samples.html"
    template = (Path(__file__).with_name("samples.html")).read_text(encoding="utf-8")
    page.write_text(template, encoding="utf-8")
    return page
