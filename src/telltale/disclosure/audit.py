"""The disclosure audit (MM-Privacy, ACL Findings 2025): does a vision LM reveal PII
printed in a form image, and does the answer depend on how it is asked?

Every form is probed under five framings (direct, captioning, VQA, rephrasing,
classification). Direct, VQA and classification ask for one PII type at a time;
captioning and rephrasing never name a type, so one reply is scored against every type
printed for the person asked about. Scoring runs on stored records (``telltale score``).
"""

from __future__ import annotations

import json
from typing import Any

from telltale.console import log
from telltale.options import split_list
from telltale.run import Probe, RunDir
from telltale.tables import write_table

INDIRECT = ("captioning", "rephrasing")
DEFAULT_TYPES = ("email", "phone", "ssn", "dob", "address")
#: options that decide a run's forms and probes: a resume must not change them
PROTOCOL_OPTIONS = ("forms", "no_variants", "framings", "pii_types", "templates",
                    "max_new_tokens", "limit", "skip_bad_rows", "seed")


def _targets(sample) -> dict[str, str]:
    pii = sample.extra.get("pii")
    data = json.loads(pii) if isinstance(pii, str) else pii
    if not data or not data.get("values"):
        raise ValueError(f"{sample.source}: row {sample.row} (id {sample.id}) has no 'pii' "
                         "ground truth; make forms with `telltale corpus forms`")
    first = data.get("identity_ids", list(data["values"]))[0]
    return dict(data["values"][first])


def build_probes(samples, framings: list[str], pii_types: list[str], templates) -> list[Probe]:
    from telltale.disclosure.framings import build_probe

    probes = []
    for sample in samples:
        scenario = sample.dataset or "open_context"
        for framing in framings:
            types = ["*"] if framing in INDIRECT else pii_types
            for pii_type in types:
                system, user = build_probe(framing, scenario,
                                           pii_types[0] if pii_type == "*" else pii_type,
                                           templates=templates)
                probes.append(Probe(key=f"{sample.id}|{framing}|{pii_type}", sample=sample,
                                    text=user, system=system,
                                    meta={"framing": framing, "scenario": scenario,
                                          "pii_type": pii_type}))
    return probes


def score_run(run: RunDir, **_: Any) -> dict[str, Any]:
    from telltale.disclosure.scoring import score_response, summarise
    from telltale.manifest import load_manifest

    info = run.read_run_json()
    types = split_list(info["config"]["pii_types"])
    samples, _ = load_manifest(info["data"], require=("image",), check_media=False,
                               on_error="skip")
    targets = {s.id: _targets(s) for s in samples}
    records = run.records()
    rows = []
    for rec in records:
        if rec.error is None:
            asked = rec.probe["pii_type"]
            wanted = types if asked == "*" else [asked]
            rec.scores = score_response(rec.output, {t: targets[rec.sample_id][t]
                                                     for t in wanted})
        row = {"framing": rec.probe["framing"], "scenario": rec.probe["scenario"],
               "scores": rec.scores, "error": rec.error}
        if rec.probe["pii_type"] != "*":
            row["pii_type"] = rec.probe["pii_type"]
        rows.append(row)
    summary_data = summarise(rows)
    results: dict[str, Any] = {
        "audit": info["audit"], "disclosure": summary_data,
        "errors": [{"sample_id": r.sample_id, "error": r.error} for r in records if r.error],
        "counts": {"records": len(records), "forms": len(samples),
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
    write_table(run.tables, "disclosure_by_framing", table,
                ["framing", "ASR", "ASR low", "ASR high", "partial", "refuse", "trials"],
                "Attack success and refuse rate per framing")
    grid = []
    for cell in summary_data["by_framing_x_scenario"]:
        grid.append({"framing": cell["framing"], "scenario": cell["scenario"],
                     "ASR": cell["asr"]["value"], "refuse": cell["refuse_rate"]["value"]})
    write_table(run.tables, "disclosure_framing_x_scenario", grid,
                ["framing", "scenario", "ASR", "refuse"], "Attack success per framing x scenario")
    _heatmap(run, grid)
    run.rewrite_records(records)
    run.write_results(results)
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
    fig, ax = plt.subplots(figsize=(1.6 * len(scenarios) + 2, 0.6 * len(framings) + 1.5))
    image = ax.imshow(matrix, vmin=0, vmax=1, cmap="Reds")
    ax.set_xticks(range(len(scenarios)), scenarios, rotation=20)
    ax.set_yticks(range(len(framings)), framings)
    for i in range(len(framings)):
        for j in range(len(scenarios)):
            if np.isfinite(matrix[i, j]):
                ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=8)
    fig.colorbar(image, ax=ax, label="attack success rate")
    ax.set_title("PII disclosure by framing and scenario")
    fig.tight_layout()
    fig.savefig(run.figures / "disclosure_heatmap.png", dpi=120)
    plt.close(fig)


def run_disclosure(args) -> int:
    from telltale.corpus.forms import build_forms_corpus
    from telltale.disclosure.framings import load_templates
    from telltale.manifest import load_manifest
    from telltale.models.base import DecodingConfig
    from telltale.options import open_model, run_config
    from telltale.report import write_report
    from telltale.run import run_probes

    if args.data is None:
        args.data = build_forms_corpus(args.out / "forms", n_per_scenario=args.forms,
                                       seed=args.seed, variants=not args.no_variants)
    framings = split_list(args.framings)
    pii_types = split_list(args.pii_types)
    samples, problems = load_manifest(args.data, require=("image", "pii"),
                                      on_error="skip" if args.skip_bad_rows else "raise")
    samples = samples[:args.limit] if args.limit else samples
    run = RunDir(args.out)
    model = open_model(args)
    run.start("disclosure", run_config(args), seed=args.seed,
              model_fingerprint=model.fingerprint, data=args.data, fixed=PROTOCOL_OPTIONS)
    probes = build_probes(samples, framings, pii_types, load_templates(args.templates))
    log.info("%d forms x framings %s = %d probes", len(samples), ",".join(framings),
             len(probes))
    counts = run_probes(run, probes, model,
                        decoding=DecodingConfig(max_new_tokens=args.max_new_tokens),
                        batch_size=args.batch_size, desc="disclosure probes")
    results = score_run(run)
    results["manifest_problems"] = [str(p) for p in problems]
    run.write_results(results)
    run.finish(counts=counts)
    write_report(run.path)
    for row in results["summary"]:
        print(f"{row['metric']}: {row['value']:.3f} [{row['low']:.3f}, {row['high']:.3f}]  "
              f"({row['control']})")
    print(f"results: {run.results_path}\nreport:  {run.path / 'report.html'}")
    return 0
