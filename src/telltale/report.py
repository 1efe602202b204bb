"""The self-contained HTML report of a run: headline figures, verdicts, tables, figures.

Everything on the page is read from the run directory (``results.json``, ``run.json``,
``tables/*.md``, ``figures/*.png``); figures are embedded as data URIs so the page is a
single file that can be mailed or archived.
"""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path
from typing import Any

from telltale.findings import Level, Verdict
from telltale.rundir import RunDir
from telltale.tables import format_cell, format_estimate

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#1d2330}
h1{font-size:1.6em;margin-bottom:.2em}
h2{border-bottom:2px solid #e3e7ef;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.8em 0;font-size:.92em}
th,td{border:1px solid #d5dae5;padding:.3em .6em; text-align:right}
th{background:#f1f4f9}
td:first-child,th:first-child{text-align:left}
.meta{color:#5b6478;font-size:.9em}
.verdict{padding:.8em 1em;border-radius:6px;margin:1em 0;font-weight:600}
.verdict.ok{background:#e6f5ea;border:1px solid #8fcf9f}
.verdict.warn{background:#fff4e0;border:1px solid #f0bd63}
.verdict.info{background:#eaf1fb;border:1px solid #9db9e6}
.verdict.caution{background:#f3f0e6;border:1px solid #b8a878}
.verdict.fail{background:#fde8e8;border:1px solid #e08080}
figure{display:inline-block;margin:.6em;vertical-align:top}
figure img{max-width:480px;border:1px solid #e3e7ef}
figcaption{font-size:.85em;color:#5b6478;text-align:center}
details{margin:1em 0}
details.evidence{margin:.4em 0 0;font-weight:400}
pre{font-size:.8em;overflow:auto}
"""


def _fmt(value: Any) -> str:
    """A cell as the tables print it (:func:`telltale.tables.format_cell`), HTML-escaped."""
    digits = 1 if isinstance(value, float) and abs(value) >= 1000 else 3
    return html.escape(format_cell(value, digits))


def _markdown_table(text: str) -> str:
    """Render a pipe table (as written in ``tables/*.md``) to HTML."""
    rows = [line.strip() for line in text.splitlines() if line.strip().startswith("|")]
    if len(rows) < 2:
        return f"<pre>{html.escape(text)}</pre>"
    # tables.markdown_table escapes a pipe inside a cell as \|: split on the others only
    cells = [[c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", row.strip()[1:-1])]
             for row in rows]
    header, body = cells[0], [r for r in cells[2:]]
    out = [
        "<table><thead><tr>",
        *(f"<th>{html.escape(h)}</th>" for h in header),
        "</tr></thead><tbody>",
    ]
    for row in body:
        out.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _summary_table(summary: list[dict[str, Any]]) -> str:
    out = [
        "<table><thead><tr><th>metric</th><th>value [95% CI]</th><th>n</th>"
        "<th>control</th></tr></thead><tbody>"
    ]
    for row in summary:
        out.append(
            f"<tr><td>{html.escape(str(row.get('metric')))}</td>"
            f"<td>{html.escape(format_estimate(row))}</td>"
            f"<td>{_fmt(row.get('n'))}</td><td>{_fmt(row.get('control'))}</td></tr>"
        )
    out.append("</tbody></table>")
    return "".join(out)


#: verdicts shown open at the top; the others are folded below them
VERDICTS_SHOWN = 2
#: a verdict longer than this shows its first clause and folds the rest
VERDICT_CHARS = 240


def _verdict_box(verdict: Verdict) -> str:
    # the same words and colours on every audit's report (telltale.findings.LEVEL_NAMES);
    # a verdict that is no leak finding (a shift in the data) names itself
    level, label, text = verdict.level.value, verdict.name, verdict.text
    # a long verdict (the membership diagnosis lists every blind family) opens with its
    # claim and folds the evidence, which follows the first parenthesis
    cut = text.find(" (")
    if len(text) > VERDICT_CHARS and 0 < cut < VERDICT_CHARS:
        shown = (f"{html.escape(text[:cut])}. <details class='evidence'><summary>evidence"
                 f"</summary>{html.escape(text)}</details>")
    else:
        shown = html.escape(text)
    return f"<div class='verdict {html.escape(level)}'><b>{html.escape(label)}.</b> {shown}</div>"


def _verdicts(verdicts: list[Verdict]) -> list[str]:
    """The verdict boxes: an audit's headline verdicts (one per defence of a mitigation
    run) first and all open, then leaks; at least :data:`VERDICTS_SHOWN` open, the rest
    folded."""
    ordered = sorted(verdicts, key=lambda v: (not v.headline, v.level != Level.LEAK))
    shown = max(VERDICTS_SHOWN, sum(v.headline for v in verdicts))
    parts = [_verdict_box(v) for v in ordered[:shown]]
    if len(ordered) > shown:
        parts.append(f"<details><summary>{len(ordered) - shown} more verdicts"
                     "</summary>" + "".join(_verdict_box(v) for v in ordered[shown:])
                     + "</details>")
    return parts


def _error_kind(message: str) -> str:
    """What an error message says with its particulars (paths, numbers, quoted values)
    taken out, so that the same failure on many samples counts as one kind."""
    text = re.sub(r"(/[^\s:'\"()]+)+", "<path>", message)
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "<value>", text)
    text = re.sub(r"\d+(\.\d+)?", "<n>", text)
    return text[:160]


def group_errors(errors: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Error records grouped by kind (:func:`_error_kind`), largest group first."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for err in errors:
        groups.setdefault(_error_kind(str(err.get("error"))), []).append(err)
    return dict(sorted(groups.items(), key=lambda kv: -len(kv[1])))


def failure_banner(info: dict[str, Any], results: dict[str, Any]) -> str | None:
    """One sentence when probes failed or manifest rows were dropped, else None."""
    counts = info.get("counts") or {}
    failed = counts.get("errors", 0) or len(results.get("errors", []))
    dropped = len(results.get("manifest_problems", []))
    if not failed and not dropped:
        return None
    text = []
    if failed:
        asked = sum(counts.get(k, 0) for k in ("done", "skipped", "errors")) or None
        text.append(f"{failed} probes failed" + (f" of {asked}" if asked else "")
                    + " (grouped under Errors below); the figures use the others only.")
    if dropped:
        text.append(f"{dropped} manifest rows were dropped (listed in results.json).")
    if "FAILED" in str(info.get("outcome", "")):
        text.insert(0, "This run FAILED.")
    return " ".join(text)


def render(run: RunDir) -> str:
    """The report page as an HTML string."""
    results = run.read_results()
    info = run.read_run_json()
    audit = results.get("audit") or info.get("audit") or "audit"
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>telltale — {html.escape(audit)}</title><style>{STYLE}</style></head><body>",
        f"<h1>telltale: {html.escape(audit)} audit</h1>",
        "<p class='meta'>"
        f"model <code>{html.escape(str(info.get('model') or '–'))}</code>"
        f" · fingerprint <code>{html.escape(str(info.get('model_fingerprint')))}</code>"
        f" · data <code>{html.escape(str(info.get('data')))}</code>"
        f" · seed {html.escape(str(info.get('seed')))}"
        f" · telltale {html.escape(str(info.get('telltale_version')))}"
        f" ({html.escape(str(info.get('git_revision') or 'no git revision'))})"
        f" · started {html.escape(str(info.get('started')))}</p>",
    ]
    banner = failure_banner(info, results)
    if banner:
        parts.append(f"<div class='verdict fail'>{html.escape(banner)}</div>")
    parts += _verdicts([Verdict.from_dict(v) for v in results.get("verdicts", [])])
    counts = results.get("counts", {})
    if counts:
        parts.append(
            "<p>"
            + " · ".join(f"{html.escape(k)}: <b>{_fmt(v)}</b>" for k, v in counts.items())
            + "</p>"
        )
    if run.records_path.exists():
        parts.append("<p><a href='samples.html'>Browse every record</a>: prompt, media, reply "
                     "with the evidence highlighted, outcome; filter by condition, mode, "
                     "framing, label and outcome.</p>")
    if results.get("summary"):
        parts.append("<h2>Headline figures</h2>" + _summary_table(results["summary"]))
    tables = sorted(run.tables.glob("*.md"))
    if tables:
        parts.append("<h2>Tables</h2>")
        for table in tables:
            parts.append(f"<h3>{html.escape(table.stem.replace('_', ' '))}</h3>")
            parts.append(_markdown_table(table.read_text()))
    figures = sorted(run.figures.glob("*.png"))
    if figures:
        parts.append("<h2>Figures</h2>")
        for fig in figures:
            data = base64.b64encode(fig.read_bytes()).decode()
            parts.append(
                f"<figure><img alt='{html.escape(fig.stem)}' "
                f"src='data:image/png;base64,{data}'>"
                f"<figcaption>{html.escape(fig.stem.replace('_', ' '))}</figcaption></figure>"
            )
    errors = results.get("errors", [])
    if errors:
        groups = group_errors(errors)
        parts.append(
            f"<h2>Errors ({len(errors)} records, {len(groups)} kinds)</h2><table><thead><tr>"
            "<th>kind</th><th>records</th><th>samples (first five)</th><th>example</th>"
            "</tr></thead><tbody>")
        for kind, members in groups.items():
            ids = ", ".join(sorted({str(e.get("sample_id")) for e in members})[:5])
            parts.append(
                f"<tr><td>{html.escape(kind)}</td><td>{len(members)}</td>"
                f"<td>{html.escape(ids)}</td><td>{html.escape(str(members[0].get('error')))}"
                "</td></tr>")
        parts.append("</tbody></table>")
    parts.append(
        "<details><summary>results.json</summary><pre>"
        + html.escape(json.dumps(results, indent=2, sort_keys=True))
        + "</pre></details>"
    )
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(run_dir: str | Path) -> Path:
    """Write ``report.html`` into the run directory and return its path."""
    from telltale.samples import write_samples

    run = RunDir(run_dir)
    if run.records_path.exists():
        write_samples(run)
    out = run.path / "report.html"
    out.write_text(render(run), encoding="utf-8")
    return out
