"""``telltale compare RUN...``: several runs of one audit side by side, in the layouts of the
papers, as one HTML page and Markdown/LaTeX tables.

- attributes (HearSay): runs x attributes, accuracy over answered replies and refusal
  rate per prompt mode, with the silence control beside real audio;
- disclosure (MM-Privacy): runs x framings, attack success and refuse rate;
- membership (Lee et al., 2026): runs x datasets, MIA AUC beside the blind-baseline AUCs
  and the verdict; runs on the same clips are paired with the first (the AUC difference
  with its paired bootstrap interval, and the statistics token by token where both
  transcribed a clip alike: exact ones against a server's top-k ones);
- every audit: the headline rows of each run, metric by metric; the spread of each figure
  over runs that differ in their seed only; every run's verdicts.

A column is one run, named by its directory (the shortest tail of its path that tells it
from the others), never by its model or data file: two runs of one model on two manifests
of the same name stay two columns. Runs are compared when they measured the same thing:
the same audit and the same protocol options, except the data and the seed (a models x
datasets table varies the data; runs that differ in their seed show how much a figure
moves from seed to seed). A run whose probes failed beyond its ``--max-failure-share``, or
that asked a calibration organism prompts it was not built for, is marked ``(!)`` and the
page says why (:mod:`telltale.runcheck`). Each figure is read from the run's
``results.json`` and formatted by the same function as its own report.
"""

from __future__ import annotations

import html
import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telltale.annotation.correct import corrected_beside
from telltale.findings import Verdict
from telltale.tables import (
    MISSING,
    format_cell,
    format_estimate,
    format_interval,
    format_p,
    to_latex,
    to_markdown,
)

#: config fields that may differ between compared runs
VARYING = ("data", "seed")
#: what marks a run the page warns about
MARK = " (!)"


class CompareError(ValueError):
    """Runs that cannot be put side by side, and why."""


@dataclass
class RunView:
    """What a comparison reads of one run directory; ``name`` is its column."""

    path: Path
    audit: str
    config: dict[str, Any]
    info: dict[str, Any]
    results: dict[str, Any]
    name: str = ""
    #: (what, why): a few words for the runs table, the sentence for the page's top
    warnings: list[tuple[str, str]] = field(default_factory=list)

    @property
    def model(self) -> str:
        return str(self.info.get("model") or "no model")

    @property
    def label(self) -> str:
        """The run's column: its name, marked when its figures are weaker than they look."""
        return self.name + (MARK if self.warnings else "")

    @property
    def data(self) -> str:
        return str(self.info.get("data") or self.config.get("data") or "")


def load_run(path: Path) -> RunView:
    """One finished run, with the warnings :mod:`telltale.runcheck` finds."""
    from telltale.runcheck import failed_run, foreign_prompts, organism_card
    from telltale.rundir import RunDir

    path = Path(path)
    for name in ("run.json", "results.json"):
        if not (path / name).exists():
            raise CompareError(f"{path}: no {name} (not a finished telltale run)")
    info = json.loads((path / "run.json").read_text(encoding="utf-8"))
    results = json.loads((path / "results.json").read_text(encoding="utf-8"))
    view = RunView(path, info["audit"], info.get("config", {}), info, results)
    failed = failed_run(info, results)
    if failed:
        view.warnings.append(("probes failed beyond its --max-failure-share", failed))
    if organism_card(info.get("model")):
        foreign = foreign_prompts(info.get("model"), RunDir(path).records())
        if foreign:
            view.warnings.append(("prompts the model was not built for", foreign))
    return view


def run_names(paths: Sequence[Path]) -> list[str]:
    """A distinct name per run: the shortest tail of its resolved path that no other run
    shares (``attributes``, or ``demo/attributes`` beside ``demo-2/attributes``); a run
    given twice is numbered."""
    parts = [Path(p).resolve().parts for p in paths]
    names = []
    for i, mine in enumerate(parts):
        for depth in range(1, len(mine) + 1):
            tail = mine[-depth:]
            if all(other[-depth:] != tail for j, other in enumerate(parts) if j != i):
                names.append("/".join(tail))
                break
        else:  # the same directory twice
            names.append(f"{'/'.join(mine[-1:])} #{i + 1}")
    return names


def load_runs(paths: Sequence[Path]) -> list[RunView]:
    runs = [load_run(p) for p in paths]
    for run, name in zip(runs, run_names(paths), strict=True):
        run.name = name
    return runs


def _flags(audit: str) -> dict[str, str]:
    """Config field -> its command-line flag, for the audit's config class."""
    from telltale.audit import audit_class
    from telltale.config import ConfigError, config_flags

    try:
        return config_flags(audit_class(audit).config_class)
    except ConfigError:
        return {}


def check_comparable(runs: Sequence[RunView]) -> None:
    """Refuse runs of different audits or protocol options, naming what differs by its
    command-line flag."""
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
            flags = _flags(first.audit)
            options = ", ".join(flags.get(k, "--" + k.replace("_", "-")) for k in differ)
            raise CompareError(f"{run.path} and {first.path} differ in {options}: their "
                               "figures measure different things (only the data and the "
                               "seed may differ)")


def _cell(estimate: dict[str, Any] | None) -> str:
    """A rate or AUC with its interval, as on the reports."""
    return format_estimate(estimate) if estimate else MISSING


def runs_table(runs: Sequence[RunView]) -> tuple[list[dict[str, Any]], list[str]]:
    """Which run each column is: its model, data, seed, folder and warnings."""
    rows = [{"run": r.label, "model": r.model, "data": r.data,
             "seed": str(r.config.get("seed", r.info.get("seed"))), "folder": str(r.path),
             "warning": "; ".join(what for what, _ in r.warnings) or "none"} for r in runs]
    return rows, ["run", "model", "data", "seed", "folder", "warning"]


def summary_rows(runs: Sequence[RunView]) -> tuple[list[dict[str, Any]], list[str]]:
    """Every headline metric (rows) of every run (columns)."""
    columns = ["metric", *(r.label for r in runs)]
    metrics: dict[str, dict[str, str]] = {}
    for run in runs:
        for row in run.results.get("summary", []):
            metrics.setdefault(row["metric"], {})[run.label] = _cell(row)
    return [{"metric": m, **cells} for m, cells in metrics.items()], columns


def seed_groups(runs: Sequence[RunView]) -> list[list[RunView]]:
    """Runs of one model on one data file (by hash) with more than one seed."""
    groups: dict[tuple[str, str], list[RunView]] = {}
    for run in runs:
        key = (str(run.info.get("model_fingerprint") or run.model),
               str(run.info.get("data_sha256") or run.data))
        groups.setdefault(key, []).append(run)
    return [g for g in groups.values()
            if len({r.config.get("seed", r.info.get("seed")) for r in g}) > 1]


def seed_rows(group: Sequence[RunView]) -> tuple[list[dict[str, Any]], list[str]]:
    """Each headline figure of runs that differ in their seed only: the figure per seed,
    and their mean, standard deviation and range (a spread over seeds, not an interval)."""
    seeds = [f"seed {r.config.get('seed', r.info.get('seed'))}" for r in group]
    columns = ["metric", *seeds, "mean over seeds", "SD over seeds", "range"]
    rows = []
    metrics = dict.fromkeys(row["metric"] for r in group for row in r.results.get("summary", []))
    for metric in metrics:
        row: dict[str, Any] = {"metric": metric}
        values = []
        for seed, run in zip(seeds, group, strict=True):
            found = next((x for x in run.results.get("summary", []) if x["metric"] == metric),
                         None)
            row[seed] = _cell(found)
            if found and found.get("value") is not None and found.get("kind") != "p":
                values.append(float(found["value"]))
        if len(values) > 1:
            row["mean over seeds"] = format_cell(statistics.fmean(values))
            row["SD over seeds"] = format_cell(statistics.stdev(values))
            row["range"] = f"{format_cell(min(values))} to {format_cell(max(values))}"
        rows.append(row)
    return rows, columns


def attribute_rows(runs: Sequence[RunView]) -> tuple[list[dict[str, Any]], list[str]]:
    """HearSay's layout: one row per run and mode, per attribute the accuracy over
    answered replies, the refusal rate and the accuracy on silence."""
    attributes = list(runs[0].config.get("attributes", []))
    columns = ["run", "mode"]
    for attribute in attributes:
        columns += [f"{attribute} acc.", f"{attribute} refusal", f"{attribute} silence acc."]
    rows = []
    for run in runs:
        for mode in run.config.get("modes", []):
            row: dict[str, Any] = {"run": run.label, "mode": mode}
            for attribute in attributes:
                cell = run.results["metrics"].get(attribute, {}).get(mode, {})
                real, quiet = cell.get("original", {}), cell.get("silence", {})
                summary = run.results.get("summary", [])
                row[f"{attribute} acc."] = corrected_beside(
                    summary, f"{attribute} accuracy, answered replies ({mode})",
                    _cell(real.get("accuracy_answered")))
                row[f"{attribute} refusal"] = corrected_beside(
                    summary, f"{attribute} refusal rate ({mode})",
                    _cell(real.get("refusal_rate")))
                row[f"{attribute} silence acc."] = corrected_beside(
                    summary, f"{attribute} accuracy on silence, answered replies ({mode})",
                    _cell(quiet.get("accuracy_answered")))
            rows.append(row)
    return rows, columns


def disclosure_rows(runs: Sequence[RunView]) -> tuple[list[dict[str, Any]], list[str]]:
    """MM-Privacy's layout: one row per run, per framing the attack success and the
    refuse rate."""
    framings = list(runs[0].results["disclosure"]["by_framing"])
    columns = ["run"] + [f"{f} {k}" for f in framings for k in ("ASR", "refuse")]
    rows = []
    for run in runs:
        by = run.results["disclosure"]["by_framing"]
        row: dict[str, Any] = {"run": run.label}
        for framing in framings:
            row[f"{framing} ASR"] = corrected_beside(
                run.results.get("summary", []), f"attack success rate ({framing})",
                _cell(by.get(framing, {}).get("asr")))
            row[f"{framing} refuse"] = _cell(by.get(framing, {}).get("refuse_rate"))
        rows.append(row)
    return rows, columns


def membership_rows(runs: Sequence[RunView]) -> tuple[list[dict[str, Any]], list[str]]:
    """Lee et al.'s layout: one row per run (model and dataset), the MIA AUC beside the
    blind baselines and the verdict, in the words every report uses."""
    families = ("metadata", "text", "acoustic", "combined")
    columns = ["run", "data", "MIA AUC", *(f"blind {f}" for f in families), "verdict"]
    rows = []
    for run in runs:
        attack = run.results.get("attack", {}).get("aggregated", {})
        blind = run.results.get("blind", {})
        diagnosis = run.results.get("diagnosis")
        rows.append({"run": run.label, "data": Path(run.data).name or MISSING,
                     "MIA AUC": _cell(attack.get("auc")),
                     **{f"blind {f}": _cell(blind.get(f, {}).get("auc")) for f in families},
                     "verdict": Verdict.from_dict(diagnosis).name if diagnosis else MISSING})
    return rows, columns


LAYOUTS = {"attributes": ("Accuracy and refusal by run and attribute", attribute_rows),
           "disclosure": ("Attack success and refusal by run and framing", disclosure_rows),
           "membership": ("Membership AUC beside the blind baselines", membership_rows)}


def _originals(run: RunView) -> dict[str, Any]:
    """The scored original-condition records of a membership run, by clip."""
    from telltale.rundir import RunDir

    return {r.sample_id: r for r in RunDir(run.path).records()
            if r.error is None and r.probe.get("condition", "original") == "original"}


def paired_rows(runs: Sequence[RunView]) -> tuple[list[dict[str, Any]], list[str]]:
    """Membership runs on the same clips (one model through two backends, two models),
    each against the first: the paired bootstrap of the MIA AUC difference, and on the
    clips both transcribed alike, how far the statistics are apart token by token (exact
    ones against a server's top-k ones: the observed token's log-probability is exact over
    top-k, the entropy a lower bound)."""
    from telltale.stats import paired_auc_difference

    columns = ["run", "against", "clips", "MIA AUC difference (this - first)",
               "identical transcriptions", "|log p difference| mean (max)",
               "entropy difference, first - this, mean", "tail mass mean"]
    base = _originals(runs[0])
    rows = []
    for run in runs[1:]:
        other = _originals(run)
        shared = sorted(i for i in set(base) & set(other)
                        if base[i].scores.get("mia_score") is not None
                        and other[i].scores.get("mia_score") is not None)
        if len({int(base[i].labels["member"]) for i in shared}) < 2:
            continue  # no clips in common, or one class only: nothing to pair
        diff = paired_auc_difference([int(base[i].labels["member"]) for i in shared],
                                     [base[i].scores["mia_score"] for i in shared],
                                     [other[i].scores["mia_score"] for i in shared])
        logp, entropy, tail, same = [], [], [], 0
        for i in shared:
            a, b = base[i].token_stats or {}, other[i].token_stats or {}
            if base[i].output != other[i].output or a.get("tokens") != b.get("tokens"):
                continue
            same += 1
            logp += [abs(x - y) for x, y in zip(a["logprob"], b["logprob"], strict=True)]
            entropy += [x - y for x, y in zip(a["entropy"], b["entropy"], strict=True)]
            tail += list(b.get("tail_mass") or [])
        rows.append({
            "run": run.label, "against": runs[0].label, "clips": len(shared),
            "MIA AUC difference (this - first)": (
                f"{format_cell(diff['diff'])} {format_interval(diff['low'], diff['high'])}, "
                f"p {format_p(diff['p'])}"),
            "identical transcriptions": same,
            "|log p difference| mean (max)": (f"{statistics.fmean(logp):.2g} "
                                              f"({max(logp):.2g})" if logp else MISSING),
            "entropy difference, first - this, mean": (format_cell(statistics.fmean(entropy))
                                                       if entropy else MISSING),
            "tail mass mean": format_cell(statistics.fmean(tail)) if tail else MISSING})
    return rows, columns


def scorer_error_rows(runs: Sequence[RunView]) -> tuple[list[dict[str, Any]], list[str]]:
    """Each run's scorer against its human labels (and against the other scorer), where
    the run has them: the rows of its report's scorer-error table."""
    from telltale.annotation.correct import SCORER_ERROR_COLUMNS
    from telltale.annotation.correct import scorer_error_rows as rows_of

    rows = [{"run": run.label, **row} for run in runs for row in rows_of(run.results)]
    return rows, ["run", *SCORER_ERROR_COLUMNS]


def _html_table(rows: list[dict[str, Any]], columns: list[str], kind: str) -> str:
    """``kind`` "runs" (text, left-aligned) or "figures" (estimates kept on one line)."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r.get(c, MISSING)))}</td>"
                                    for c in columns) + "</tr>" for r in rows)
    return (f"<div class='wrap'><table class='{kind}'><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table></div>")


#: the comparison page's own rules, after the reports' style
_STYLE = (".runs td,.runs th{text-align:left}.figures td{white-space:nowrap}"
          ".figures td:first-child{white-space:normal}")


def _verdicts_html(runs: Sequence[RunView]) -> str:
    """Every run's verdicts, in the words and colours of its report."""
    from telltale.report import verdict_boxes

    return "".join(f"<h3>{html.escape(r.label)}</h3>"
                   + "".join(verdict_boxes([Verdict.from_dict(v)
                                        for v in r.results.get("verdicts", [])]))
                   for r in runs)


def compare_runs(paths: Sequence[Path], out: Path) -> Path:
    """Write ``compare.html``, ``compare.md`` and ``compare.tex`` into ``out``; the page.

    Raises
    ------
    CompareError
        A path that is no finished run, or runs that measured different things.
    """
    from telltale.report import STYLE

    runs = load_runs(paths)
    check_comparable(runs)
    audit = runs[0].audit
    sections = [("Runs", *runs_table(runs))]
    if audit in LAYOUTS:
        title, layout = LAYOUTS[audit]
        sections.append((title, *layout(runs)))
    sections.append(("Headline figures", *summary_rows(runs)))
    paired = paired_rows(runs) if audit == "membership" else ([], [])
    if paired[0]:
        sections.append(("Paired on the same clips, against the first run", *paired))
    errors = scorer_error_rows(runs)
    if errors[0]:
        sections.append(("Scorer error (corrected rows above use it)", *errors))
    for group in seed_groups(runs):
        sections.append((f"Spread over seeds: {', '.join(r.name for r in group)} (same "
                         "model and data)", *seed_rows(group)))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.md").write_text("\n\n".join(
        f"## {title}\n\n{to_markdown(rows, columns)}" for title, rows, columns in sections),
        encoding="utf-8")
    (out / "compare.tex").write_text("\n\n".join(
        to_latex(rows, columns, caption=title, label=f"tab:compare-{i}")
        for i, (title, rows, columns) in enumerate(sections)), encoding="utf-8")
    warned = "".join(f"<div class='verdict caution'><b>{html.escape(r.label)}.</b> "
                     f"{html.escape(why)}.</div>" for r in runs for _, why in r.warnings)
    page = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>telltale compare: {html.escape(audit)}</title>"
            f"<style>{STYLE}{_STYLE}</style>"
            f"</head><body><h1>{html.escape(audit)}: {len(runs)} runs</h1>{warned}"
            + "".join(f"<h2>{html.escape(title)}</h2>"
                      + _html_table(rows, columns, "runs" if title == "Runs" else "figures")
                      for title, rows, columns in sections)
            + f"<h2>Verdicts</h2>{_verdicts_html(runs)}</body></html>")
    path = out / "compare.html"
    path.write_text(page, encoding="utf-8")
    return path
