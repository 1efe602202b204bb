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
from collections import Counter
from pathlib import Path
from typing import Any

from telltale.findings import Level, Verdict
from telltale.runcheck import failures, foreign_prompts, organism_card
from telltale.rundir import RunDir
from telltale.tables import format_cell, format_estimate

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#1d2330}
h1{font-size:1.6em;margin-bottom:.2em}
h2{border-bottom:2px solid #e3e7ef;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.8em 0;font-size:.92em}
.wrap{overflow-x:auto}
th,td{border:1px solid #d5dae5;padding:.3em .6em; text-align:right}
th{background:#f1f4f9}
td.v{white-space:nowrap}
.summary td:last-child,.summary th:last-child{text-align:left}
td:first-child,th:first-child{text-align:left}
.meta{color:#5b6478;font-size:.9em;overflow-wrap:anywhere}
.verdict{padding:.8em 1em;border-radius:6px;margin:1em 0;font-weight:600}
.verdict.ok{background:#e6f5ea;border:1px solid #8fcf9f}
.verdict.warn{background:#fff4e0;border:1px solid #f0bd63}
.verdict.info{background:#eaf1fb;border:1px solid #9db9e6}
.verdict.caution{background:#f3ecfa;border:1px solid #a98bd0}
.verdict.fail{background:#fde8e8;border:1px solid #e08080}
figure.fig{margin:1.2em 0}
figure.fig img{display:block;max-width:100%;height:auto;border:1px solid #e3e7ef;cursor:zoom-in}
figcaption{font-size:.88em;color:#3d4556;margin-top:.3em}
#zoom{position:fixed;inset:0;background:rgba(20,24,32,.85);overflow:auto;z-index:9;
  display:none;cursor:zoom-out;padding:1em}
#zoom.open{display:block}
#zoom img{max-width:none;background:#fff}
details{margin:1em 0}
details.evidence{margin:.4em 0 0;font-weight:400}
pre{font-size:.8em;overflow:auto}
@media (max-width:900px){body{margin:1em auto;padding:0 .5em} th,td{padding:.25em .4em}}
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
        "<div class='wrap'><table><thead><tr>",
        *(f"<th>{html.escape(h)}</th>" for h in header),
        "</tr></thead><tbody>",
    ]
    for row in body:
        out.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _summary_table(summary: list[dict[str, Any]]) -> str:
    out = [
        "<div class='wrap'><table class='summary'><thead><tr><th>metric</th>"
        "<th>value [95% CI]</th><th>n</th>"
        "<th>control</th></tr></thead><tbody>"
    ]
    for row in summary:
        out.append(
            f"<tr><td>{html.escape(str(row.get('metric')))}</td>"
            f"<td class='v'>{html.escape(format_estimate(row))}</td>"
            f"<td>{_fmt(row.get('n'))}</td><td>{_fmt(row.get('control'))}</td></tr>"
        )
    out.append("</tbody></table></div>")
    return "".join(out)


def scorer_error_section(results: dict[str, Any]) -> list[str]:
    """How wrong the scorer is on this run, where it holds human labels or two parses:
    agreement and Cohen's kappa per class, and how many replies they rest on."""
    from telltale.annotation.correct import SCORER_ERROR_COLUMNS, scorer_error_rows

    rows = scorer_error_rows(results)
    if not rows:
        return []
    error = results.get("scorer_error") or {}
    intro = ("<p>The scorer's labels against people's on a sample of this run's replies "
             "(and against the other scorer where both parsed them). Rows ending in "
             "<i>, corrected</i> above carry this error into the headline; the verdicts "
             "are decided on them.</p>" if error.get("corrected") else
             "<p>The scorer's labels against people's on a sample of this run's replies "
             "(and against the other scorer where both parsed them); this audit's rates "
             "are not corrected for it.</p>" if error else
             "<p>The two scorers' parses of the same replies against each other.</p>")
    out = ["<div class='wrap'><table class='summary'><thead><tr>"
           + "".join(f"<th>{html.escape(c)}</th>" for c in SCORER_ERROR_COLUMNS)
           + "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{_fmt(row[c])}</td>" for c in SCORER_ERROR_COLUMNS)
                   + "</tr>")
    out.append("</tbody></table></div>")
    return ["<h2>Scorer error</h2>" + intro + "".join(out)]


#: fewest verdicts shown open; every headline, leak and caution is open whatever their number
VERDICTS_SHOWN = 2
#: a verdict longer than this shows its first clause and folds the rest
VERDICT_CHARS = 240
#: the order verdicts are shown in: what a reader must see first
_LEVEL_ORDER = {Level.LEAK: 0, Level.CAUTION: 1, Level.INCONCLUSIVE: 2, Level.NO_LEAK: 3}


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
    # a text that opens with its own label ("Inconclusive: ...") is not labelled twice
    labelled = re.match(rf"{re.escape(label)}[:.]\s", text, flags=re.IGNORECASE)
    head = "" if labelled else f"<b>{html.escape(label)}.</b> "
    return f"<div class='verdict {html.escape(level)}'>{head}{shown}</div>"


def verdict_boxes(verdicts: list[Verdict]) -> list[str]:
    """The verdict boxes: an audit's headline verdicts (one per defence of a mitigation
    run) first, then leaks, cautions, inconclusive verdicts and those that showed no leak.
    Every headline, leak and caution stays open, so the strongest findings are never
    folded under weaker ones; the rest are folded beyond :data:`VERDICTS_SHOWN` open
    boxes."""
    ordered = sorted(verdicts, key=lambda v: (not v.headline, _LEVEL_ORDER[v.level]))
    shown = max(VERDICTS_SHOWN, sum(v.headline or v.level in (Level.LEAK, Level.CAUTION)
                                    for v in verdicts))
    parts = [_verdict_box(v) for v in ordered[:shown]]
    rest = ordered[shown:]
    if rest:
        kinds = Counter(v.name for v in rest)
        names = ", ".join(f"{n} {name.lower()}" for name, n in kinds.items())
        parts.append(f"<details><summary>{len(rest)} more verdicts ({html.escape(names)})"
                     "</summary>" + "".join(_verdict_box(v) for v in rest) + "</details>")
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


def _count(n: int, noun: str) -> str:
    """``1 record``, ``3 records``."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def failure_banner(info: dict[str, Any], results: dict[str, Any]) -> str | None:
    """One sentence when probes failed or manifest rows were dropped, else None."""
    failed, asked = failures(info, results)
    dropped = len(results.get("manifest_problems", []))
    if not failed and not dropped:
        return None
    text = []
    if failed:
        text.append(f"{failed} {'probe' if failed == 1 else 'probes'} failed"
                    + (f" of {asked}" if asked else "")
                    + " (grouped under Errors below); the figures use the others only.")
    if dropped:
        text.append(f"{dropped} manifest {'row was' if dropped == 1 else 'rows were'} dropped "
                    "(listed in results.json).")
    if "FAILED" in str(info.get("outcome", "")):
        text.insert(0, "This run FAILED.")
    return " ".join(text)


def _figures(run: RunDir) -> list[str]:
    """Every figure of the run at its own size, scaled down to the page where it is wider,
    with its caption (what its error bars are) and a click that opens it at full size."""
    from PIL import Image

    from telltale.figures import figure_caption

    parts = []
    for fig in sorted(run.figures.glob("*.png")):
        with Image.open(fig) as image:
            width, height = image.size
        data = base64.b64encode(fig.read_bytes()).decode()
        caption = figure_caption(fig) or "(no caption recorded: the figure names its own axes)"
        name = fig.stem.replace("_", " ")
        parts.append(
            f"<figure class='fig' id='figure-{html.escape(fig.stem)}'>"
            f"<img alt='{html.escape(name)}' width='{width}' height='{height}' "
            f"src='data:image/png;base64,{data}' title='click to open at full size'>"
            f"<figcaption><b>{html.escape(name)}</b> ({width} x {height} px; "
            f"<span class='shown'></span>click to enlarge, or open "
            f"<a href='figures/{html.escape(fig.name)}'>the file</a>). "
            f"{html.escape(caption)}</figcaption></figure>")
    return parts


#: opens a clicked figure at its full size over the page; a click or Escape closes it
_ZOOM = """<div id='zoom' role='dialog' aria-label='figure at full size'></div><script>
const zoom = document.getElementById('zoom');
function enlarge(img) {
  const big = img.cloneNode();
  big.removeAttribute('width'); big.removeAttribute('height');
  zoom.replaceChildren(big); zoom.classList.add('open');
}
for (const img of document.querySelectorAll('figure.fig img')) {
  img.addEventListener('click', () => enlarge(img));
}
// report.html#zoom=figure-<name> opens with that figure at full size (a link to it)
const asked = location.hash.match(/^#zoom=(.+)$/);
if (asked && document.getElementById(asked[1])) {
  enlarge(document.getElementById(asked[1]).querySelector('img'));
}
zoom.addEventListener('click', () => zoom.classList.remove('open'));
// a figure wider than the page is scaled to it: the caption says how far
function shown() {
  for (const img of document.querySelectorAll('figure.fig img')) {
    const note = img.parentElement.querySelector('.shown');
    const width = img.clientWidth;  // without its border
    note.dataset.width = width;
    note.textContent = width < img.naturalWidth ? `shown at ${width} px; ` : '';
  }
}
window.addEventListener('load', shown);
window.addEventListener('resize', shown);
document.addEventListener('keydown', e => {
  if (e.key === 'Escape') zoom.classList.remove('open');
});
</script>"""


def render(run: RunDir) -> str:
    """The report page as an HTML string."""
    results = run.read_results()
    info = run.read_run_json()
    audit = results.get("audit") or info.get("audit") or "audit"
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>telltale — {html.escape(audit)}</title><style>{STYLE}</style></head><body>",
        f"<h1>telltale: {html.escape(audit)} audit</h1>",
        "<p class='meta'>"
        + (f"model <code>{html.escape(str(info['model']))}</code> · fingerprint "
           f"<code>{html.escape(str(info.get('model_fingerprint')))}</code> · "
           if info.get("model") else "no model · ")
        + f"data <code>{html.escape(str(info.get('data') or 'made by the audit'))}</code>"
        f" · seed {html.escape(str(info.get('seed')))}"
        f" · telltale {html.escape(str(info.get('telltale_version')))}"
        f" ({html.escape(str(info.get('git_revision') or 'no git revision'))})"
        f" · started {html.escape(str(info.get('started')))}</p>",
    ]
    banner = failure_banner(info, results)
    if banner:
        parts.append(f"<div class='verdict fail'>{html.escape(banner)}</div>")
    foreign = foreign_prompts(info.get("model"), run.records()) \
        if organism_card(info.get("model")) else None
    if foreign:
        parts.append(f"<div class='verdict caution'><b>Caution.</b> {html.escape(foreign)}."
                     "</div>")
    parts += verdict_boxes([Verdict.from_dict(v) for v in results.get("verdicts", [])])
    counts = results.get("counts", {})
    if counts:
        parts.append(
            "<p>"
            + " · ".join(f"{html.escape(k.replace('_', ' '))}: <b>{_fmt(v)}</b>"
                         for k, v in counts.items())
            + "</p>"
        )
    if run.records_path.exists():
        parts.append("<p><a href='samples.html'>Browse every record</a>: its truth, prompt, "
                     "the media the model got, the reply with the evidence marked, the outcome "
                     "and why; filter by condition, mode, framing, label, membership and "
                     "outcome, sort, jump to a page" + ("; each clip's attack score and rank"
                     if audit in ("membership", "mitigate") else "") + ".</p>")
    if results.get("summary"):
        parts.append("<h2>Headline figures</h2>" + _summary_table(results["summary"]))
    parts += scorer_error_section(results)
    tables = sorted(run.tables.glob("*.md"))
    if tables:
        parts.append("<h2>Tables</h2>")
        for table in tables:
            parts.append(f"<h3>{html.escape(table.stem.replace('_', ' '))}</h3>")
            parts.append(_markdown_table(table.read_text()))
    figures = _figures(run)
    if figures:
        parts += ["<h2>Figures</h2>", *figures, _ZOOM]
    errors = results.get("errors", [])
    if errors:
        groups = group_errors(errors)
        parts.append(
            f"<h2>Errors ({_count(len(errors), 'record')}, {_count(len(groups), 'kind')})</h2>"
            "<table><thead><tr>"
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
