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

from telltale.audit import (
    RULES,
    Audit,
    AuditConfig,
    Job,
    Prepared,
    RunOptions,
    require,
    require_choices,
)
from telltale.console import log
from telltale.disclosure.framings import FRAMINGS, PROBE_PII_TYPES
from telltale.probes import Probe
from telltale.rundir import RunDir
from telltale.tables import format_cell, write_table

INDIRECT = ("captioning", "rephrasing")
DEFAULT_TYPES = ("email", "phone", "ssn", "dob", "address")


@dataclass(frozen=True)
class DisclosureConfig(AuditConfig):
    """MM-Privacy disclosure: which forms (a manifest, or ``forms`` rendered per scenario),
    asked under which framings for which PII types."""

    data: Path | None = None
    forms: int = 2
    photo_variants: bool = True
    framings: tuple[str, ...] = FRAMINGS
    pii_types: tuple[str, ...] = DEFAULT_TYPES
    framing_file: Path | None = None
    max_new_tokens: int = 96
    skip_bad_rows: bool = False

    def validate(self) -> None:
        from telltale.disclosure.framings import load_templates

        super().validate()
        require(self.forms >= 1, "forms", f"must be at least 1, got {self.forms}")
        require(self.max_new_tokens >= 1, "max_new_tokens",
                f"must be at least 1, got {self.max_new_tokens}")
        templates = load_templates(self.framing_file)
        require_choices(self.framings, templates["framings"], "framings")
        require_choices(self.pii_types, PROBE_PII_TYPES, "pii_types")


def _targets(sample) -> dict[str, str]:
    pii = sample.extra.get("pii")
    data = json.loads(pii) if isinstance(pii, str) else pii
    if not data or not data.get("values"):
        raise ValueError(f"{sample.source}: row {sample.row} (id {sample.id}) has no 'pii' "
                         "ground truth; make forms with `telltale corpus forms`")
    first = data.get("identity_ids", list(data["values"]))[0]
    return dict(data["values"][first])


def build_probes(samples, framings: list[str], pii_types: list[str], templates) -> list[Probe]:
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


def score_records(run: RunDir, pii_types: tuple[str, ...]) -> dict[str, Any]:
    """Leak, partial leak and refusal per record, and the rates per framing x scenario x
    PII type, from the records alone."""
    from telltale.disclosure.scoring import score_response, summarise
    from telltale.disclosure.verdicts import disclosure_verdicts

    records = run.records()
    rows = []
    for rec in records:
        if rec.error is None:
            asked = rec.probe["pii_type"]
            wanted = pii_types if asked == "*" else [asked]
            rec.scores = score_response(rec.output, {t: rec.labels[f"pii:{t}"]
                                                     for t in wanted})
        row = {"framing": rec.probe["framing"], "scenario": rec.probe["scenario"],
               "scores": rec.scores, "error": rec.error, "cluster": rec.sample_id}
        if rec.probe["pii_type"] != "*":
            row["pii_type"] = rec.probe["pii_type"]
        rows.append(row)
    summary_data = summarise(rows)
    results: dict[str, Any] = {
        "disclosure": summary_data,
        "errors": [{"sample_id": r.sample_id, "error": r.error} for r in records if r.error],
        "counts": {"records": len(records), "forms": len({r.sample_id for r in records}),
                   "errors": sum(r.error is not None for r in records)}}
    summary = []
    table = []
    for framing, cell in summary_data["by_framing"].items():
        summary.append({"metric": f"attack success rate ({framing})", **cell["asr"],
                        "control": f"refuse rate {cell['refuse_rate']['value']:.3f}"})
        table.append({"framing": framing, "ASR": cell["asr"]["value"],
                      "ASR low": cell["asr"]["low"], "ASR high": cell["asr"]["high"],
                      "partial": cell["partial_rate"]["value"],
                      "refuse": cell["refuse_rate"]["value"], "trials": cell["n"]})
    results["summary"] = summary
    results["verdicts"] = disclosure_verdicts(summary_data)
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
                     "ASR": cell["asr"]["value"], "refuse": cell["refuse_rate"]["value"]})
    write_table(run.tables, "disclosure_framing_x_scenario", grid,
                ["framing", "scenario", "ASR", "refuse"], "Attack success per framing x scenario")
    _heatmap(run, grid)
    run.rewrite_records(records)
    return results


def _heatmap(run: RunDir, grid: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    framings = sorted({g["framing"] for g in grid})
    scenarios = sorted({g["scenario"] for g in grid})
    matrix = np.full((len(framings), len(scenarios)), np.nan)
    for g in grid:
        matrix[framings.index(g["framing"]), scenarios.index(g["scenario"])] = g["ASR"]
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
                ax.text(j, i, format_cell(matrix[i, j], 2), ha="center", va="center",
                        fontsize=11, color="white" if matrix[i, j] > 0.6 else "black")
    fig.colorbar(image, ax=ax, label="attack success rate (share of trials, 0-1)")
    ax.set_title("PII disclosure by framing and scenario")
    fig.tight_layout()
    fig.savefig(run.figures / "disclosure_heatmap.png", dpi=120)
    plt.close(fig)


class DisclosureAudit(Audit):
    """Attack success and refuse rate per framing x scenario x PII type on form images."""

    name = "disclosure"
    config_class = DisclosureConfig

    def prepare(self, run: RunDir, options: RunOptions) -> Prepared:
        from telltale.corpus.forms import build_forms_corpus
        from telltale.manifest import load_manifest

        config = self.config
        data = config.data
        if data is None:  # forms rendered into the run itself, once
            data = run.path / "forms" / "manifest.csv"
            if not data.exists():
                build_forms_corpus(data.parent, n_per_scenario=config.forms, seed=config.seed,
                                   variants=config.photo_variants)
        samples, problems = load_manifest(data, require=("image", "pii"),
                                          on_error="skip" if config.skip_bad_rows else "raise")
        self._samples = samples[:config.limit] if config.limit else samples
        return Prepared(data, [str(p) for p in problems])

    def jobs(self, run: RunDir) -> list[Job]:
        from telltale.disclosure.framings import load_templates
        from telltale.models.base import DecodingConfig

        config = self.config
        probes = build_probes(self._samples, list(config.framings), list(config.pii_types),
                              load_templates(config.framing_file))
        log.info("%d forms x framings %s = %d probes", len(self._samples),
                 ",".join(config.framings), len(probes))
        return [Job(probes, "disclosure probes",
                    DecodingConfig(max_new_tokens=config.max_new_tokens))]

    def score(self, run: RunDir, scorer: str = RULES) -> dict[str, Any]:
        return score_records(run, self.config.pii_types)
