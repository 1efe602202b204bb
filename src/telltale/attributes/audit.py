"""The voice attribute audit (HearSay protocol, Wang et al., 2026).

For every sample, attribute and prompt mode the model is asked once on the real audio and,
as the blind control, once on silence of the same length. Outputs are stored raw; parsing,
refusal detection and metrics run on the stored records (:func:`score_run`), so a run can
be re-scored with another parser or an LLM judge without querying the model again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telltale.attributes.taxonomy import Taxonomy, from_dict, load_taxonomy
from telltale.attributes.verdicts import cell_verdict, parse_health
from telltale.audit import (
    RULES,
    Audit,
    ClipsConfig,
    ConfigError,
    Job,
    Prepared,
    RunOptions,
    parse_scorer,
    require,
    require_choices,
)
from telltale.console import log
from telltale.probes import Probe
from telltale.rundir import RunDir
from telltale.tables import write_table


@dataclass(frozen=True)
class AttributesConfig(ClipsConfig):
    """The attribute audit's protocol: which traits, asked how, on which data.

    ``taxonomy`` and ``prompts`` are optional JSON/TOML files that extend the built-in
    attribute taxonomy and prompt modes; the run keeps their resolved content
    (``taxonomy.json``, ``prompts.json``) and a resume whose files changed is refused."""

    attributes: tuple[str, ...] = ("gender", "age")
    modes: tuple[str, ...] = ("direct", "cot", "defense")
    taxonomy: Path | None = None
    prompts: Path | None = None
    silence_control: bool = True
    max_new_tokens: int = 96

    def validate(self) -> None:
        from telltale.attributes.prompts import load_templates

        super().validate()
        require(self.max_new_tokens >= 1, "max_new_tokens",
                f"must be at least 1, got {self.max_new_tokens}")
        taxonomy = load_taxonomy(self.taxonomy)
        require_choices(self.attributes, tuple(taxonomy), "attributes")
        require_choices(self.modes, load_templates(self.prompts), "modes")


def build_probes(samples, attributes: list[str], modes: list[str], taxonomy: Taxonomy,
                 templates: dict, blind: bool, seed: int) -> list[Probe]:
    """One probe per sample x attribute x mode x condition (original, and silence if blind).

    A manifest's ``speaker`` column travels into the records: the paired tests cluster on
    it, since clips of one voice are not independent evidence."""
    from telltale.attributes.prompts import build_prompt, pick_variant

    conditions = ("original", "silence") if blind else ("original",)
    probes = []
    for sample in samples:
        speaker = sample.extra.get("speaker")
        truth = {"speaker": str(speaker)} if speaker not in (None, "") else {}
        for attribute in attributes:
            variant = pick_variant(taxonomy, attribute, sample.id, seed)
            for mode in modes:
                system, user = build_prompt(mode, attribute, taxonomy, variant, templates)
                for condition in conditions:
                    probes.append(Probe(
                        key=f"{sample.id}|{attribute}|{mode}|{condition}", sample=sample,
                        text=user, system=system, condition=condition, truth=truth,
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


def score_records(run: RunDir, scorer: str = RULES) -> dict[str, Any]:
    """Parse every stored reply (rules or an LLM judge), compute the metrics, write
    records, tables and figures; returns the results."""
    from telltale.attributes.metrics import describe_test, summarise
    from telltale.attributes.parse import parse_answer

    _, judge = parse_scorer(scorer)
    taxonomy = from_dict(run.read_json("taxonomy.json"))
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
        rows.append({"sample_id": rec.sample_id, "cluster": rec.labels.get("speaker"),
                     "attribute": rec.probe["attribute"],
                     "mode": rec.probe["mode"], "condition": rec.probe["condition"],
                     "truth": truth, "status": answer.status, "label": answer.label})
    attributes = sorted({r["attribute"] for r in rows})
    metrics = summarise(rows, taxonomy.label_sets(attributes))
    errors = [{"sample_id": r.sample_id, "error": r.error} for r in records if r.error]
    results: dict[str, Any] = {"audit": "attributes", "metrics": metrics, "errors": errors}
    summary, table, verdicts = [], [], []
    for attribute in attributes:
        for mode, conditions in metrics[attribute].items():
            if mode == "deltas_vs_direct":
                continue
            real = conditions.get("original")
            blind = conditions.get("silence")
            if real is None:
                continue
            verdicts.append(cell_verdict(attribute, mode, real, blind))
            unparsed = real["unparsed"] / real["n"] if real["n"] else 0.0
            # one definition per name: the index and the verdict quote accuracy over
            # answered replies; accuracy over all questions (refusals counted wrong) is its
            # own row
            summary.append({"metric": f"{attribute} accuracy, answered replies ({mode})",
                            **real["accuracy_answered"],
                            "control": f"chance {real['chance']:.3f}"})
            summary.append({"metric": f"{attribute} accuracy, all questions ({mode})",
                            **real["accuracy_all"],
                            "control": (f"majority {real['majority_baseline']:.3f}"
                                        if real["majority_baseline"] is not None else "")
                            + f"; unparsed {unparsed:.0%}"})
            summary.append({"metric": f"{attribute} refusal rate ({mode})",
                            **real["refusal_rate"], "control": None})
            if blind:
                quiet_unparsed = blind["unparsed"] / blind["n"] if blind["n"] else 0.0
                summary.append({"metric": f"{attribute} accuracy on silence, answered "
                                          f"replies ({mode})", **blind["accuracy_answered"],
                                "control": f"chance {blind['chance']:.3f}"})
                summary.append({"metric": f"{attribute} accuracy on silence, all questions "
                                          f"({mode})", **blind["accuracy_all"],
                                "control": f"chance {blind['chance']:.3f}; unparsed "
                                           f"{quiet_unparsed:.0%}"})
            table.append({"attribute": attribute, "mode": mode,
                          "acc (all)": real["accuracy_all"]["value"], "unparsed": unparsed,
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
    results["verdicts"] = verdicts + parse_health(metrics, ok)
    results["counts"] = {"records": len(records), "errors": len(errors),
                         "samples": len({r.sample_id for r in records})}
    write_table(run.tables, "attribute_inference", table,
                ["attribute", "mode", "acc (all)", "unparsed", "acc (answered)", "refusal",
                 "majority",
                 "chance", "acc silence", "entropy silence"],
                "Attribute inference, refusal and the blind (silence) control")
    _figures(run, metrics, attributes)
    run.rewrite_records(records)
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
                real = metrics[attribute][modes[0]]["original"]
                ax.axhline(real["chance"], color="k", ls=":", lw=0.8, label="chance")
                if real.get("majority_baseline") is not None:
                    ax.axhline(real["majority_baseline"], color="k", ls="--", lw=0.8,
                               label="majority label")
            ax.set_xticks(range(len(modes)), modes)
            ax.set_xlabel("prompt mode")
            ax.set_ylabel("share of all questions (0-1)")
            ax.set_ylim(0, 1)
            ax.set_title(f"{attribute}: {title}")
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(run.figures / f"{attribute}_accuracy_refusal.png", dpi=120)
        plt.close(fig)


class AttributesAudit(Audit):
    """HearSay: accuracy, refusal and the silence control per attribute and prompt mode."""

    name = "attributes"
    config_class = AttributesConfig
    scorers = ("rules", "judge")

    def prepare(self, run: RunDir, options: RunOptions) -> Prepared:
        from telltale.manifest import load_manifest

        config = self.config
        taxonomy, templates = taxonomy_and_prompts(config, options.model)
        samples, problems = load_manifest(
            config.data, require=("audio",), labels=taxonomy.label_sets(config.attributes),
            max_seconds=config.max_audio_seconds,
            on_error="skip" if config.skip_bad_rows else "raise")
        self._samples = samples[:config.limit] if config.limit else samples
        if not self._samples:
            raise ConfigError(f"{config.data}: no usable samples")
        self._taxonomy, self._templates = taxonomy, templates
        return Prepared(config.data, [str(p) for p in problems])

    def setup(self, run: RunDir, options: RunOptions) -> None:
        # the resolved taxonomy and prompts, which scoring reads; a resume must keep them
        keep_file(run, "taxonomy.json", self._taxonomy.to_dict(), "--taxonomy")
        keep_file(run, "prompts.json", self._templates, "--prompts")

    def jobs(self, run: RunDir) -> list[Job]:
        from telltale.models.base import DecodingConfig

        config = self.config
        probes = build_probes(self._samples, list(config.attributes), list(config.modes),
                              self._taxonomy, self._templates, config.silence_control,
                              config.seed)
        log.info("%d samples x %d attributes x %d modes%s = %d probes", len(self._samples),
                 len(config.attributes), len(config.modes),
                 " x 2 (silence control)" if config.silence_control else "", len(probes))
        return [Job(probes, "attribute probes",
                    DecodingConfig(max_new_tokens=config.max_new_tokens))]

    def score(self, run: RunDir, scorer: str = RULES) -> dict[str, Any]:
        return score_records(run, scorer)


def taxonomy_and_prompts(config: AttributesConfig, model: str | None):
    """The taxonomy and prompt modes a run asks with. A calibration organism understands
    only its own phrasings, so without ``taxonomy``/``prompts`` files it is asked the
    held-out phrasings its card records (:func:`telltale.organism.policy.audit_prompts`)."""
    import json

    from telltale.attributes.prompts import load_templates
    from telltale.attributes.taxonomy import extend_taxonomy

    taxonomy, templates = load_taxonomy(config.taxonomy), load_templates(config.prompts)
    if model and model.startswith("organism:") and config.taxonomy is None \
            and config.prompts is None:
        from telltale.organism.policy import audit_prompts

        card = json.loads((Path(model.partition(":")[2]) / "card.json").read_text())
        questions, modes = audit_prompts(card["policy"])
        taxonomy = extend_taxonomy(questions, f"{model} card.json")
        templates = {**templates, **modes}
    return taxonomy, templates


def keep_file(run: RunDir, name: str, content: Any, option: str) -> None:
    """Write ``content`` into the run, or check that a resumed run holds the same."""
    from telltale.records import json_safe

    if (run.path / name).exists():
        if run.read_json(name) != json_safe(content):
            raise ValueError(f"{run.path / name} differs from the {option} file now given; "
                             "resume with the same file or use a new --out directory")
        return
    run.write_json(name, content)
