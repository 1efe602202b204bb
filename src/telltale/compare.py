"""``telltale compare RUN...``: several runs of one audit side by side, in the layouts of the
papers, as one HTML page and Markdown/LaTeX tables.

- attributes (HearSay): models x attributes, accuracy over answered replies and refusal
  rate per prompt mode, with the silence control beside real audio;
- disclosure (MM-Privacy): models x framings, attack success and refuse rate;
- membership (Lee et al., 2026): models x datasets, MIA AUC beside the blind-baseline AUCs
  and the verdict;
- every audit: the headline rows of each run, metric by metric.

Runs are compared only when they measured the same thing: the same audit and the same
protocol options (every config field but the data, which is what a models x datasets
table varies). Each figure is read from the run's ``results.json`` and formatted by the
same function as its own report, so a number reads the same on both pages.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telltale.tables import MISSING, format_estimate, to_latex, to_markdown

#: config fields that may differ between compared runs
VARYING = ("data",)


class CompareError(ValueError):
    """Runs that cannot be put side by side, and why."""


@dataclass
class RunView:
    """What a comparison reads of one run directory."""

    path: Path
    audit: str
    config: dict[str, Any]
    model: str
    results: dict[str, Any]

    @property
    def label(self) -> str:
        data = Path(str(self.config.get("data") or "")).stem
        return f"{self.model} | {data}" if data else self.model


def load_run(path: Path) -> RunView:
    path = Path(path)
    for name in ("run.json", "results.json"):
        if not (path / name).exists():
            raise CompareError(f"{path}: no {name} (not a finished telltale run)")
    info = json.loads((path / "run.json").read_text(encoding="utf-8"))
    results = json.loads((path / "results.json").read_text(encoding="utf-8"))
    return RunView(path, info["audit"], info.get("config", {}),
                   str(info.get("model") or "no model"), results)


def check_comparable(runs: Sequence[RunView]) -> None:
    """Refuse runs of different audits or protocol options, naming what differs."""
    if len(runs) < 2:
        raise CompareError("compare needs at least two runs")
    first = runs[0]
    for run in runs[1:]:
        if run.audit != first.audit:
            raise CompareError(f"{run.path} is a {run.audit} run and {first.path} a "
                               f"{first.audit} run: only runs of one audit compare")
        differ = sorted(k for k in set(first.config) | set(run.config)
                        if k not in VARYING and first.config.get(k) != run.config.get(k))
        if differ:
            options = ", ".join("--" + k.replace("_", "-") for k in differ)
            raise CompareError(f"{run.path} and {first.path} differ in {options}: their "
                               "figures measure different things")


def _cell(estimate: dict[str, Any] | None) -> str:
    """A rate or AUC with its interval, as on the reports."""
    return format_estimate(estimate) if estimate else MISSING


def summary_rows(runs: Sequence[RunView]) -> tuple[list[dict[str, Any]], list[str]]:
    """Every headline metric (rows) of every run (columns)."""
    columns = ["metric", *(r.label for r in runs)]
    metrics: dict[str, dict[str, str]] = {}
    for run in runs:
        for row in run.results.get("summary", []):
            metrics.setdefault(row["metric"], {})[run.label] = _cell(row)
    return [{"metric": m, **cells} for m, cells in metrics.items()], columns


def attribute_rows(runs: Sequence[RunView]) -> tuple[list[dict[str, Any]], list[str]]:
    """HearSay's layout: one row per model and mode, per attribute the accuracy over
    answered replies, the refusal rate and the accuracy on silence."""
    attributes = list(runs[0].config.get("attributes", []))
    columns = ["model", "mode"]
    for attribute in attributes:
        columns += [f"{attribute} acc.", f"{attribute} refusal", f"{attribute} silence acc."]
    rows = []
    for run in runs:
        for mode in run.config.get("modes", []):
            row: dict[str, Any] = {"model": run.label, "mode": mode}
            for attribute in attributes:
                cell = run.results["metrics"].get(attribute, {}).get(mode, {})
                real, quiet = cell.get("original", {}), cell.get("silence", {})
                row[f"{attribute} acc."] = _cell(real.get("accuracy_answered"))
                row[f"{attribute} refusal"] = _cell(real.get("refusal_rate"))
                row[f"{attribute} silence acc."] = _cell(quiet.get("accuracy_answered"))
            rows.append(row)
    return rows, columns


def disclosure_rows(runs: Sequence[RunView]) -> tuple[list[dict[str, Any]], list[str]]:
    """MM-Privacy's layout: one row per model, per framing the attack success and the
    refuse rate."""
    framings = list(runs[0].results["disclosure"]["by_framing"])
    columns = ["model"] + [f"{f} {k}" for f in framings for k in ("ASR", "refuse")]
    rows = []
    for run in runs:
        by = run.results["disclosure"]["by_framing"]
        row: dict[str, Any] = {"model": run.label}
        for framing in framings:
            row[f"{framing} ASR"] = _cell(by.get(framing, {}).get("asr"))
            row[f"{framing} refuse"] = _cell(by.get(framing, {}).get("refuse_rate"))
        rows.append(row)
    return rows, columns


def membership_rows(runs: Sequence[RunView]) -> tuple[list[dict[str, Any]], list[str]]:
    """Lee et al.'s layout: one row per model and dataset, the MIA AUC beside the blind
    baselines and the verdict."""
    families = ("metadata", "text", "acoustic", "combined")
    columns = ["model | data", "MIA AUC", *(f"blind {f}" for f in families), "verdict"]
    rows = []
    for run in runs:
        attack = run.results.get("attack", {}).get("aggregated", {})
        blind = run.results.get("blind", {})
        rows.append({"model | data": run.label, "MIA AUC": _cell(attack.get("auc")),
                     **{f"blind {f}": _cell(blind.get(f, {}).get("auc")) for f in families},
                     "verdict": run.results.get("diagnosis", {}).get("verdict", MISSING)})
    return rows, columns


LAYOUTS = {"attributes": ("Accuracy and refusal by model and attribute", attribute_rows),
           "disclosure": ("Attack success and refusal by model and framing", disclosure_rows),
           "membership": ("Membership AUC beside the blind baselines", membership_rows)}


def _html_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r.get(c, MISSING)))}</td>"
                                    for c in columns) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def compare_runs(paths: Sequence[Path], out: Path) -> Path:
    """Write ``compare.html``, ``compare.md`` and ``compare.tex`` into ``out``; the page.

    Raises
    ------
    CompareError
        A path that is no finished run, or runs that measured different things.
    """
    from telltale.report import STYLE

    runs = [load_run(p) for p in paths]
    check_comparable(runs)
    audit = runs[0].audit
    sections = []
    if audit in LAYOUTS:
        title, layout = LAYOUTS[audit]
        sections.append((title, *layout(runs)))
    sections.append(("Headline figures", *summary_rows(runs)))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.md").write_text("\n\n".join(
        f"## {title}\n\n{to_markdown(rows, columns)}" for title, rows, columns in sections),
        encoding="utf-8")
    (out / "compare.tex").write_text("\n\n".join(
        to_latex(rows, columns, caption=title, label=f"tab:compare-{i}")
        for i, (title, rows, columns) in enumerate(sections)), encoding="utf-8")
    listing = "".join(f"<li>{html.escape(r.label)}: <code>{html.escape(str(r.path))}</code>"
                      "</li>" for r in runs)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>telltale compare: "
            f"{html.escape(audit)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{html.escape(audit)}: {len(runs)} runs</h1><ul>{listing}</ul>"
            + "".join(f"<h2>{html.escape(title)}</h2>{_html_table(rows, columns)}"
                      for title, rows, columns in sections) + "</body></html>")
    path = out / "compare.html"
    path.write_text(page, encoding="utf-8")
    return path
