"""The voice attribute audit (HearSay protocol, Wang et al., 2026).

For every sample, attribute and prompt mode the model is asked once on the real audio and,
as the blind control, once on silence of the same length. Outputs are stored raw; parsing,
refusal detection and metrics run on the stored records (:func:`score_run`), so a run can
be re-scored with another parser or an LLM judge without querying the model again.
"""

from __future__ import annotations

import json
from typing import Any

from telltale.attributes.taxonomy import Taxonomy, from_dict, load_taxonomy
from telltale.console import log
from telltale.run import Probe, RunDir
from telltale.tables import write_table

#: options that decide a run's probes: a resume must not change them (the templates
#: by their content, as resolved)
PROTOCOL_OPTIONS = ("attributes", "modes", "taxonomy", "templates_resolved", "no_blind",
                    "max_new_tokens", "limit", "skip_bad_rows", "seed")


def build_probes(samples, attributes: list[str], modes: list[str], taxonomy: Taxonomy,
                 templates: dict, blind: bool, seed: int) -> list[Probe]:
    """One probe per sample x attribute x mode x condition (original, and silence if blind)."""
    from telltale.attributes.prompts import build_prompt, pick_variant

    conditions = ("original", "silence") if blind else ("original",)
    probes = []
    for sample in samples:
        for attribute in attributes:
            variant = pick_variant(taxonomy, attribute, sample.id, seed)
            for mode in modes:
                system, user = build_prompt(mode, attribute, taxonomy, variant, templates)
                for condition in conditions:
                    probes.append(Probe(
                        key=f"{sample.id}|{attribute}|{mode}|{condition}", sample=sample,
                        text=user, system=system, condition=condition,
                        meta={"attribute": attribute, "mode": mode, "variant": variant}))
    return probes


def _judge(model_spec: str, records, taxonomy: Taxonomy) -> dict[str, Any]:
    """Parse each reply with an LLM judge (:func:`telltale.attributes.judge.judge_answer`),
    one batch per attribute."""
    from telltale.attributes.judge import judge_answer
    from telltale.models import load_model

    judge = load_model(model_spec)
    parsed = {}
    for attribute in sorted({rec.probe["attribute"] for rec in records}):
        mine = [rec for rec in records if rec.probe["attribute"] == attribute]
        answers = judge_answer(judge, [rec.output for rec in mine], taxonomy[attribute])
        parsed.update({rec.key: answer for rec, answer in zip(mine, answers, strict=True)})
    return parsed


def score_run(run: RunDir, judge: str | None = None) -> dict[str, Any]:
    """Parse every stored reply, compute the metrics, write results, tables and figures."""
    from telltale.attributes.metrics import describe_test, summarise
    from telltale.attributes.parse import parse_answer

    taxonomy = from_dict(json.loads((run.path / "taxonomy.json").read_text()))
    records = run.records()
    ok = [r for r in records if r.error is None]
    parsed = _judge(judge, ok, taxonomy) if judge else {
        r.key: parse_answer(r.output, taxonomy[r.probe["attribute"]]) for r in ok}
    rows = []
    for rec in ok:
        answer = parsed[rec.key]
        rec.parsed = {"label": answer.label, "status": answer.status, "hedged": answer.hedged,
                      "evidence": answer.evidence, "parser": "judge" if judge else "rules"}
        truth = rec.labels.get(rec.probe["attribute"])
        rec.scores = {"correct": bool(answer.label is not None and answer.label == truth)}
        rows.append({"sample_id": rec.sample_id, "attribute": rec.probe["attribute"],
                     "mode": rec.probe["mode"], "condition": rec.probe["condition"],
                     "truth": truth, "status": answer.status, "label": answer.label})
    attributes = sorted({r["attribute"] for r in rows})
    metrics = summarise(rows, taxonomy.label_sets(attributes))
    errors = [{"sample_id": r.sample_id, "error": r.error} for r in records if r.error]
    results: dict[str, Any] = {"audit": "attributes", "metrics": metrics, "errors": errors,
                               "parser": "judge:" + judge if judge else "rules"}
    summary, table = [], []
    for attribute in attributes:
        for mode, conditions in metrics[attribute].items():
            if mode == "deltas_vs_direct":
                continue
            real = conditions.get("original")
            blind = conditions.get("silence")
            if real is None:
                continue
            summary.append({"metric": f"{attribute} accuracy ({mode})",
                            **real["accuracy_all"],
                            "control": f"majority {real['majority_baseline']:.3f}"
                            if real["majority_baseline"] is not None else None})
            summary.append({"metric": f"{attribute} refusal rate ({mode})",
                            **real["refusal_rate"], "control": None})
            if blind:
                summary.append({"metric": f"{attribute} accuracy on silence ({mode})",
                                **blind["accuracy_all"],
                                "control": f"chance {blind['chance']:.3f}"})
            table.append({"attribute": attribute, "mode": mode,
                          "acc (all)": real["accuracy_all"]["value"],
                          "acc (answered)": real["accuracy_answered"]["value"],
                          "refusal": real["refusal_rate"]["value"],
                          "majority": real["majority_baseline"], "chance": real["chance"],
                          "acc silence": blind["accuracy_all"]["value"] if blind else None,
                          "entropy silence": blind["answer_entropy_bits"] if blind else None})
        for mode, delta in metrics[attribute].get("deltas_vs_direct", {}).items():
            summary.append({"metric": f"{attribute} accuracy change, {mode} vs direct",
                            "value": delta["accuracy"]["diff"], "n": delta["accuracy"]["n"],
                            "control": describe_test(delta["accuracy"])})
            summary.append({"metric": f"{attribute} refusal change, {mode} vs direct",
                            "value": delta["refusal"]["diff"], "n": delta["refusal"]["n"],
                            "control": describe_test(delta["refusal"])})
    results["summary"] = summary
    results["counts"] = {"records": len(records), "errors": len(errors),
                         "samples": len({r.sample_id for r in records})}
    write_table(run.tables, "attribute_inference", table,
                ["attribute", "mode", "acc (all)", "acc (answered)", "refusal", "majority",
                 "chance", "acc silence", "entropy silence"],
                "Attribute inference, refusal and the blind (silence) control")
    _figures(run, metrics, attributes)
    run.rewrite_records(records)
    run.write_results(results)
    return results


def _figures(run: RunDir, metrics: dict, attributes: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    for attribute in attributes:
        modes = [m for m in metrics[attribute] if m != "deltas_vs_direct"
                 and "original" in metrics[attribute][m]]
        fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
        for ax, key, title in ((axes[0], "accuracy_all", "accuracy"),
                               (axes[1], "refusal_rate", "refusal rate")):
            for offset, condition in ((-0.2, "original"), (0.2, "silence")):
                cells = [metrics[attribute][m].get(condition) for m in modes]
                if not any(cells):
                    continue
                values = [c[key]["value"] if c else np.nan for c in cells]
                err = [[(c[key]["value"] - c[key]["low"]) if c else 0 for c in cells],
                       [(c[key]["high"] - c[key]["value"]) if c else 0 for c in cells]]
                ax.bar(np.arange(len(modes)) + offset, values, 0.4, yerr=err, capsize=3,
                       label=condition)
            if key == "accuracy_all":
                ax.axhline(metrics[attribute][modes[0]]["original"]["chance"], color="k", ls=":",
                           lw=0.8, label="chance")
            ax.set_xticks(range(len(modes)), modes)
            ax.set_ylim(0, 1)
            ax.set_title(f"{attribute}: {title}")
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(run.figures / f"{attribute}_accuracy_refusal.png", dpi=120)
        plt.close(fig)


def run_attributes(args) -> int:
    from telltale.attributes.prompts import load_templates
    from telltale.manifest import load_manifest
    from telltale.models.base import DecodingConfig
    from telltale.options import open_model, run_config, split_list
    from telltale.report import write_report
    from telltale.run import run_probes

    taxonomy = load_taxonomy(args.taxonomy)
    templates = load_templates(args.templates)
    attributes = split_list(args.attributes)
    modes = split_list(args.modes)
    for mode in modes:
        if mode not in templates:
            raise ValueError(f"unknown mode {mode!r}; known: {', '.join(templates)}")
    samples, problems = load_manifest(args.data, require=("audio",),
                                      labels=taxonomy.label_sets(attributes),
                                      on_error="skip" if args.skip_bad_rows else "raise")
    samples = samples[:args.limit] if args.limit else samples
    run = RunDir(args.out)
    model = open_model(args)
    run.start("attributes", {**run_config(args), "templates_resolved": templates},
              seed=args.seed, model_fingerprint=model.fingerprint, data=args.data,
              fixed=PROTOCOL_OPTIONS)
    (run.path / "taxonomy.json").write_text(json.dumps(taxonomy.to_dict(), indent=2))
    probes = build_probes(samples, attributes, modes, taxonomy, templates, not args.no_blind,
                          args.seed)
    log.info("%d samples x %d attributes x %d modes%s = %d probes", len(samples),
             len(attributes), len(modes), " x 2 (silence control)" if not args.no_blind else "",
             len(probes))
    counts = run_probes(run, probes, model,
                        decoding=DecodingConfig(max_new_tokens=args.max_new_tokens),
                        batch_size=args.batch_size, desc="attribute probes")
    results = score_run(run)
    results["manifest_problems"] = [str(p) for p in problems]
    run.write_results(results)
    run.finish(counts=counts)
    write_report(run.path)
    for row in results["summary"]:
        ci = f" [{row['low']:.3f}, {row['high']:.3f}]" if row.get("low") is not None else ""
        print(f"{row['metric']}: {row['value']:.3f}{ci}  ({row.get('control') or ''})")
    print(f"results: {run.results_path}\nreport:  {run.path / 'report.html'}")
    return 0
