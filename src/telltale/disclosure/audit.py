"""The disclosure audit (MM-Privacy, ACL Findings 2025): does a vision LM reveal PII
printed in a form image, and does the answer depend on how it is asked?

Every form is probed under five framings (direct, captioning, VQA, rephrasing,
classification). Direct, VQA and classification ask for one PII type at a time;
captioning and rephrasing never name a type, so one reply is scored against every type
printed for the person asked about. Scoring runs on stored records (``telltale score``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telltale.audit import Audit, Job, Prepared
from telltale.config import (
    AuditConfig,
    RunOptions,
    option,
    require,
    require_choices,
    require_distinct,
)
from telltale.console import log
from telltale.disclosure.framings import FRAMINGS, PROBE_PII_TYPES
from telltale.findings import Results, SummaryRow
from telltale.limit import check_resume, select_rows
from telltale.models.base import TargetModel
from telltale.probes import Probe
from telltale.records import Record
from telltale.rundir import RunDir
from telltale.scorers import Scorer, per_record
from telltale.tables import format_cell, write_table

INDIRECT = ("captioning", "rephrasing")
DEFAULT_TYPES = ("email", "phone", "ssn", "dob", "address")


@dataclass(frozen=True)
class DisclosureConfig(AuditConfig):
    """MM-Privacy disclosure: which forms (a manifest, or ``forms`` rendered per scenario),
    asked under which framings for which PII types."""

    data: Path | None = option(None, "a forms manifest (telltale corpus forms); without it "
                                     "forms are rendered into the run", metavar="MANIFEST",
                               group="run")
    limit: int | None = option(None, "audit N forms drawn at random with --seed",
                               group="run")
    skip_bad_rows: bool = option(False, "drop unusable manifest rows (recorded in results) "
                                        "instead of stopping", group="run")
    forms: int = option(2, "without --data: forms per scenario to render", group="forms")
    photo_variants: bool = option(True, "clean renders only (no photo-like variants)",
                                  flag="--no-variants", group="forms")
    framings: tuple[str, ...] = option(FRAMINGS, "framings to ask under (and any the "
                                                 "framing file adds)", group="forms")
    pii_types: tuple[str, ...] = option(DEFAULT_TYPES, ", ".join(PROBE_PII_TYPES),
                                        group="forms")
    framing_file: Path | None = option(None, "JSON/TOML file of framings added to the "
                                             "built-in ones", group="forms")
    max_new_tokens: int = option(96, "longest reply", group="model")

    def validate(self) -> None:
        super().validate()
        require(self.limit is None or self.limit >= 1, "limit",
                f"must be a positive number of forms, got {self.limit}")
        require(self.forms >= 1, "forms", f"must be at least 1, got {self.forms}")
        require(self.max_new_tokens >= 1, "max_new_tokens",
                f"must be at least 1, got {self.max_new_tokens}")
        require(bool(self.framings), "framings", "name at least one framing")
        require_distinct(self.framings, "framings")
        require_choices(self.pii_types, PROBE_PII_TYPES, "pii_types")


def _targets(sample) -> dict[str, str]:
    pii = sample.extra.get("pii")
    data = json.loads(pii) if isinstance(pii, str) else pii
    if not data or not data.get("values"):
        raise ValueError(f"{sample.source}: row {sample.row} (id {sample.id}) has no 'pii' "
                         "ground truth; make forms with `telltale corpus forms`")
    first = data.get("identity_ids", list(data["values"]))[0]
    return dict(data["values"][first])


def disclosure_probes(samples, framings: list[str], pii_types: list[str], templates) -> list[Probe]:
    """Probes per form, framing and asked PII type; each record keeps the PII printed on
    its form (``pii:<type>`` labels), so scoring needs nothing but the records."""
    from telltale.disclosure.framings import build_probe

    probes = []
    for sample in samples:
        truth = {f"pii:{t}": v for t, v in _targets(sample).items()}
        scenario = sample.dataset or "open_context"
        for framing in framings:
            types = ["*"] if framing in INDIRECT else pii_types
            for pii_type in types:
                system, user = build_probe(framing, scenario,
                                           pii_types[0] if pii_type == "*" else pii_type,
                                           templates=templates)
                probes.append(Probe(key=f"{sample.id}|{framing}|{pii_type}", sample=sample,
                                    text=user, system=system, truth=truth,
                                    meta={"framing": framing, "scenario": scenario,
                                          "pii_type": pii_type}))
    return probes


def pii_scorer(pii_types: tuple[str, ...]) -> Scorer:
    """Leak, partial leak and refusal of each reply, for the PII type it asked for (every
    type in ``pii_types`` for a framing that names none)."""
    from telltale.disclosure.scoring import score_response

    def score_one(rec: Record) -> None:
        asked = rec.probe["pii_type"]
        wanted = pii_types if asked == "*" else [asked]
        rec.scores = score_response(rec.output, {t: rec.labels[f"pii:{t}"] for t in wanted})
    return per_record(score_one)


def trial_row(rec: Record) -> dict[str, Any]:
    """A scored record as :func:`telltale.disclosure.scoring.summarise` reads it; trials
    on one form are one cluster (their interval counts the form once)."""
    row = {"framing": rec.probe["framing"], "scenario": rec.probe["scenario"],
           "scores": rec.scores, "error": rec.error, "cluster": rec.sample_id}
    if rec.probe["pii_type"] != "*":
        row["pii_type"] = rec.probe["pii_type"]
    return row


def disclosure_metrics(run: RunDir, records: list[Record]) -> Results:
    """Attack success, partial leaks and refusal per framing x scenario x PII type, with
    the verdicts, tables and the heatmap."""
    from telltale.disclosure.scoring import summarise
    from telltale.disclosure.verdicts import disclosure_verdicts

    summary_data = summarise([trial_row(rec) for rec in records])
    summary = []
    table = []
    for framing, cell in summary_data["by_framing"].items():
        summary.append(SummaryRow.of(f"attack success rate ({framing})", cell["asr"],
                                     f"refuse rate {cell['refuse_rate']['value']:.3f}"))
        table.append({"framing": framing, "ASR": cell["asr"]["value"],
                      "ASR low": cell["asr"]["low"], "ASR high": cell["asr"]["high"],
                      "partial": cell["partial_rate"]["value"],
                      "refuse": cell["refuse_rate"]["value"], "trials": cell["n"]})
    write_table(run.tables, "disclosure_by_framing", table,
                ["framing", "ASR", "ASR low", "ASR high", "partial", "refuse", "trials"],
                "Attack success and refuse rate per framing")
    by_type = [{"PII type": pii_type, "ASR": cell["asr"]["value"], "ASR low": cell["asr"]["low"],
                "ASR high": cell["asr"]["high"], "refuse": cell["refuse_rate"]["value"],
                "trials": cell["n"]} for pii_type, cell in summary_data["by_pii_type"].items()]
    write_table(run.tables, "disclosure_by_pii_type", by_type,
                ["PII type", "ASR", "ASR low", "ASR high", "refuse", "trials"],
                "Attack success and refuse rate per PII type")
    grid = []
    for cell in summary_data["by_framing_x_scenario"]:
        grid.append({"framing": cell["framing"], "scenario": cell["scenario"],
                     "ASR": cell["asr"]["value"], "ASR low": cell["asr"]["low"],
                     "ASR high": cell["asr"]["high"], "refuse": cell["refuse_rate"]["value"],
                     "trials": cell["asr"]["n"]})
    write_table(run.tables, "disclosure_framing_x_scenario", grid,
                ["framing", "scenario", "ASR", "ASR low", "ASR high", "refuse", "trials"],
                "Attack success per framing x scenario (Wilson 95% intervals)")
    _heatmap(run, grid)
    return Results(summary, disclosure_verdicts(summary_data), {
        "disclosure": summary_data, "counts": {"forms": len({r.sample_id for r in records})}})


def _heatmap(run: RunDir, grid: list[dict[str, Any]]) -> None:
    import numpy as np

    from telltale.figures import pyplot, save_figure

    plt = pyplot()
    framings = sorted({g["framing"] for g in grid})
    scenarios = sorted({g["scenario"] for g in grid})
    matrix = np.full((len(framings), len(scenarios)), np.nan)
    trials = np.zeros(matrix.shape, dtype=int)
    for g in grid:
        at = framings.index(g["framing"]), scenarios.index(g["scenario"])
        matrix[at], trials[at] = g["ASR"], g["trials"]
    # cells sized so that an 11 pt annotation reads at 100% zoom
    fig, ax = plt.subplots(figsize=(1.9 * len(scenarios) + 3, 0.8 * len(framings) + 2))
    image = ax.imshow(matrix, vmin=0, vmax=1, cmap="Reds", aspect="auto")
    ax.set_xticks(range(len(scenarios)), scenarios, rotation=20)
    ax.set_yticks(range(len(framings)), framings)
    ax.set_xlabel("scenario")
    ax.set_ylabel("framing")
    for i in range(len(framings)):
        for j in range(len(scenarios)):
            if np.isfinite(matrix[i, j]):
                # white on the dark half of the colour map, black on the light half
                ax.text(j, i, f"{format_cell(matrix[i, j])}\nn={trials[i, j]}", ha="center",
                        va="center", fontsize=10,
                        color="white" if matrix[i, j] > 0.6 else "black")
    fig.colorbar(image, ax=ax, label="attack success rate (share of trials, 0-1)")
    ax.set_title("PII disclosure by framing and scenario")
    fig.tight_layout()
    save_figure(fig, run.figures / "disclosure_heatmap.png",
                "Attack success rate (share of trials in which a PII value was revealed in "
                "full) per framing and scenario; n: trials in the cell. The table "
                "disclosure framing x scenario gives each cell's 95% Wilson interval.")


class DisclosureAudit(Audit):
    """Attack success and refuse rate per framing x scenario x PII type on form images."""

    name = "disclosure"
    config_class = DisclosureConfig
    summary = "does a vision LM leak PII printed in a form, however it is asked?"

    def prepare(self, run: RunDir, options: RunOptions) -> Prepared:
        from telltale.disclosure.framings import load_templates

        config = self.config
        self._templates = load_templates(config.framing_file)
        require_choices(config.framings, self._templates["framings"], "framings")
        if config.data is None:  # forms are rendered into the run in setup
            return Prepared()
        self._samples, problems = self._load(config.data)
        check_resume(run, self._samples, config.limit, config.seed)
        return Prepared(config.data, [str(p) for p in problems])

    def _load(self, data: Path) -> tuple[list[Any], list[Any]]:
        from telltale.manifest import load_manifest

        config = self.config
        samples, problems = load_manifest(data, require=("image", "pii"),
                                          on_error="skip" if config.skip_bad_rows else "raise")
        return select_rows(samples, config.limit, config.seed), problems

    def setup(self, run: RunDir, options: RunOptions) -> None:
        from telltale.corpus.forms import build_forms_corpus

        config = self.config
        run.keep_json("framings.json", self._templates, "--framing-file")
        if config.data is None:  # rendered once, after the model has opened
            data = run.path / "forms" / "manifest.csv"
            if not data.exists():
                build_forms_corpus(data.parent, n_per_scenario=config.forms, seed=config.seed,
                                   variants=config.photo_variants)
            self._samples, _ = self._load(data)
            check_resume(run, self._samples, config.limit, config.seed)

    def jobs(self, run: RunDir) -> list[Job]:
        from telltale.models.base import DecodingConfig

        config = self.config
        probes = disclosure_probes(self._samples, list(config.framings), list(config.pii_types),
                              self._templates)
        log.info("%d forms x framings %s = %d probes", len(self._samples),
                 ",".join(config.framings), len(probes))
        return [Job(probes, "disclosure probes",
                    DecodingConfig(max_new_tokens=config.max_new_tokens))]

    def scorer(self, run: RunDir, judge: TargetModel | None = None) -> Scorer:
        return pii_scorer(self.config.pii_types)

    def metrics(self, run: RunDir, records: list[Record]) -> Results:
        return disclosure_metrics(run, records)
