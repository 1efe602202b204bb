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

from telltale.attributes.taxonomy import Taxonomy, from_dict
from telltale.attributes.verdicts import cell_verdict, parse_health
from telltale.audit import Audit, Job, Prepared
from telltale.config import (
    ClipsConfig,
    ConfigError,
    RunOptions,
    option,
    require,
    require_choices,
    require_distinct,
)
from telltale.console import log
from telltale.findings import Results, SummaryRow
from telltale.limit import check_resume, select_rows
from telltale.models.base import TargetModel
from telltale.probes import Probe
from telltale.records import Record
from telltale.rundir import RunDir
from telltale.scorers import Scorer
from telltale.tables import format_cell, format_estimate, write_table

ATTRIBUTE_HELP = ("gender, age, accent, education, income, social_stratum, health, bmi, or "
                  "any the taxonomy file adds")
MODE_HELP = "direct, profiler, cot, defense, constrained, or any the prompts file adds"
TAXONOMY_HELP = "JSON/TOML file of attributes added to the built-in taxonomy"
PROMPTS_HELP = "JSON/TOML file of prompt modes added to the built-in ones"


@dataclass(frozen=True)
class AttributesConfig(ClipsConfig):
    """The attribute audit's protocol: which traits, asked how, on which data.

    ``taxonomy`` and ``prompts`` are optional JSON/TOML files that extend the built-in
    attribute taxonomy and prompt modes; ``prepare`` reads them (and checks the attributes
    and modes against them), the run keeps their resolved content (``taxonomy.json``,
    ``prompts.json``), and a resume whose files changed is refused."""

    attributes: tuple[str, ...] = option(("gender", "accent"), ATTRIBUTE_HELP)
    modes: tuple[str, ...] = option(("direct", "cot", "defense"), MODE_HELP)
    taxonomy: Path | None = option(None, TAXONOMY_HELP)
    prompts: Path | None = option(None, PROMPTS_HELP)
    silence_control: bool = option(True, "skip the silence (blind) control",
                                   flag="--no-silence")
    max_new_tokens: int = option(96, "longest reply", group="model")

    def validate(self) -> None:
        super().validate()
        require(self.max_new_tokens >= 1, "max_new_tokens",
                f"must be at least 1, got {self.max_new_tokens}")
        require(bool(self.attributes), "attributes", "name at least one attribute")
        require(bool(self.modes), "modes", "name at least one prompt mode")
        require_distinct(self.attributes, "attributes")
        require_distinct(self.modes, "modes")


def attribute_probes(samples, attributes: list[str], modes: list[str], taxonomy: Taxonomy,
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


def attribute_metrics(run: RunDir, records: list[Record]) -> Results:
    """The HearSay figures over scored records: per attribute x mode, accuracy (over
    answered replies and over all questions) against chance and the majority label,
    refusal rate, the silence control, and the paired changes of each mode against direct;
    writes the table and the figures."""
    from telltale.attributes.metrics import describe_test, summarise
    from telltale.attributes.scoring import answer_row

    taxonomy = from_dict(run.read_json("taxonomy.json"))
    rows = [answer_row(rec) for rec in records]
    attributes = sorted({r["attribute"] for r in rows})
    metrics = summarise(rows, taxonomy.label_sets(attributes))
    summary, table, verdicts, answers = [], [], [], []
    for attribute in attributes:
        for mode, conditions in metrics[attribute].items():
            if mode == "deltas_vs_direct":
                continue
            real = conditions.get("original")
            blind = conditions.get("silence")
            if real is None:
                continue
            # beside its cells, a mode holds the real-vs-silence test ("blind_bias")
            answers += [answer_row_of(attribute, mode, condition, cell)
                        for condition, cell in conditions.items() if condition != "blind_bias"]
            verdicts.append(cell_verdict(attribute, mode, real, blind))
            unparsed = real["unparsed"] / real["n"] if real["n"] else 0.0
            refusal_control = f"unparsed {format_cell(unparsed)}" + (
                f"; on silence {format_estimate(blind['refusal_rate'])}" if blind else "")
            if not real["labelled"]:
                # no truth: the answers' spread, never an accuracy against nothing
                summary += [_entropy_row(attribute, mode, real, blind),
                            SummaryRow.of(f"{attribute} refusal rate ({mode})",
                                          real["refusal_rate"], refusal_control)]
                continue
            # one definition per name: the index and the verdict quote accuracy over
            # answered replies; accuracy over all questions (refusals counted wrong) is its
            # own row
            summary += [
                SummaryRow.of(f"{attribute} accuracy, answered replies ({mode})",
                              real["accuracy_answered"], f"chance {real['chance']:.3f}"),
                SummaryRow.of(f"{attribute} accuracy, all questions ({mode})",
                              real["accuracy_all"],
                              f"majority {format_cell(real['majority_baseline'])}; "
                              f"unparsed {format_cell(unparsed)}"),
                SummaryRow.of(f"{attribute} refusal rate ({mode})", real["refusal_rate"],
                              refusal_control)]
            if blind:
                quiet_unparsed = blind["unparsed"] / blind["n"] if blind["n"] else 0.0
                summary += [
                    SummaryRow.of(f"{attribute} accuracy on silence, answered replies "
                                  f"({mode})", blind["accuracy_answered"],
                                  f"chance {blind['chance']:.3f}"),
                    SummaryRow.of(f"{attribute} accuracy on silence, all questions ({mode})",
                                  blind["accuracy_all"], f"chance {blind['chance']:.3f}; "
                                                         f"unparsed {format_cell(quiet_unparsed)}")]
            table.append({"attribute": attribute, "mode": mode,
                          "acc (all)": real["accuracy_all"]["value"], "unparsed": unparsed,
                          "acc (answered)": real["accuracy_answered"]["value"],
                          "refusal": real["refusal_rate"]["value"],
                          "majority": real["majority_baseline"], "chance": real["chance"],
                          "acc silence": blind["accuracy_all"]["value"] if blind else None,
                          "entropy silence": blind["answer_entropy_bits"] if blind else None})
        labelled = any(cell.get("original", {}).get("labelled")
                       for mode, cell in metrics[attribute].items() if mode != "deltas_vs_direct")
        for mode, delta in metrics[attribute].get("deltas_vs_direct", {}).items():
            for what in ("accuracy", "refusal") if labelled else ("refusal",):
                summary.append(SummaryRow(f"{attribute} {what} change, {mode} vs direct",
                                          delta[what]["diff"], n=delta[what]["n"],
                                          control=describe_test(delta[what])))
    write_table(run.tables, "attribute_inference", table,
                ["attribute", "mode", "acc (all)", "unparsed", "acc (answered)", "refusal",
                 "majority", "chance", "acc silence", "entropy silence"],
                "Attribute inference, refusal and the blind (silence) control")
    write_table(run.tables, "answer_distribution", answers,
                ["attribute", "mode", "condition", "n", "refusal", "answered", "entropy (bits)",
                 "max (bits)", "answers"],
                "What the model answers, with or without a truth to score it against "
                "(HearSay's blind test)")
    _figures(run, metrics, attributes)
    return Results(summary, verdicts + parse_health(metrics, records), {"metrics": metrics})


def answer_row_of(attribute: str, mode: str, condition: str,
                  cell: dict[str, Any]) -> dict[str, Any]:
    """One line of the answer-distribution table: who answered what, and how spread."""
    counts = sorted(cell["answer_distribution"].items(), key=lambda kv: -kv[1])
    return {"attribute": attribute, "mode": mode, "condition": condition, "n": cell["n"],
            "refusal": cell["refusal_rate"]["value"], "answered": sum(c for _, c in counts),
            "entropy (bits)": cell["answer_entropy_bits"],
            "max (bits)": cell["answer_entropy_max_bits"],
            "answers": ", ".join(f"{label} {count}" for label, count in counts if count)}


def _entropy_row(attribute: str, mode: str, real: dict[str, Any],
                 blind: dict[str, Any] | None) -> SummaryRow:
    """For an attribute the manifest has no truth for, the answers' entropy as a share of
    its maximum (1: answers spread evenly over the labels; 0: always the same one), with
    the commonest answer, and the same on silence."""
    def spread(cell: dict[str, Any]) -> str:
        counts = cell["answer_distribution"]
        answered = sum(counts.values())
        if not answered:
            return "no answers"
        top, count = max(counts.items(), key=lambda kv: kv[1])
        return (f"{cell['answer_entropy_bits']:.2f} of {cell['answer_entropy_max_bits']:.2f} "
                f"bits, commonest {top!r}: {count} of {answered} answers")

    # no answers: no spread to measure (not an entropy of 0, which is one answer always)
    share = (real["answer_entropy_bits"] / real["answer_entropy_max_bits"]
             if real["answer_entropy_max_bits"] and sum(real["answer_distribution"].values())
             else None)
    control = "no truth in the manifest; " + spread(real)
    if blind:
        control += "; on silence " + spread(blind)
    return SummaryRow(f"{attribute} answer entropy, share of the maximum ({mode})", share,
                      n=sum(real["answer_distribution"].values()), control=control)


def _figures(run: RunDir, metrics: dict, attributes: list[str]) -> None:
    """Per attribute, the accuracy over answered replies (the figure the verdict tests)
    and the refusal rate per prompt mode, real audio beside silence, each bar with its
    interval and the number of replies it rests on."""
    import numpy as np

    from telltale.figures import WILSON, pyplot, save_figure

    plt = pyplot()
    for attribute in attributes:
        modes = [m for m in metrics[attribute] if m != "deltas_vs_direct"
                 and "original" in metrics[attribute][m]]
        fig, axes = plt.subplots(1, 2, figsize=(8, 3.6))
        for ax, key, title, base in (
                (axes[0], "accuracy_answered", "accuracy over answered replies", "answered"),
                (axes[1], "refusal_rate", "refusal rate, all questions", "n")):
            for offset, condition in ((-0.2, "original"), (0.2, "silence")):
                cells = [metrics[attribute][m].get(condition) for m in modes]
                if not any(cells):
                    continue
                x = np.arange(len(modes)) + offset
                values = np.array([c[key]["value"] if c and c[key]["value"] is not None
                                   else np.nan for c in cells], dtype=float)
                low = np.array([c[key]["low"] if c else np.nan for c in cells], dtype=float)
                high = np.array([c[key]["high"] if c else np.nan for c in cells], dtype=float)
                ax.bar(x, np.nan_to_num(values), 0.4, label=f"{condition} audio"
                       if condition == "original" else "silence (control)")
                ax.errorbar(x, values, yerr=[values - low, high - values], fmt="none",
                            ecolor="black", capsize=3, lw=1)
                for xi, top, cell in zip(x, high, cells, strict=True):
                    if cell:  # how many replies the bar rests on, above its interval
                        ax.text(xi, (0 if np.isnan(top) else top) + 0.01, f"n={cell[base]}",
                                ha="center", va="bottom", fontsize=7, color="#333")
            if key == "accuracy_answered":
                real = metrics[attribute][modes[0]]["original"]
                ax.axhline(real["chance"], color="k", ls=":", lw=0.8, label="chance")
                if real.get("majority_baseline") is not None:
                    ax.axhline(real["majority_baseline"], color="k", ls="--", lw=0.8,
                               label="majority label")
            ax.set_xticks(range(len(modes)), modes)
            ax.set_xlabel("prompt mode")
            ax.set_ylabel("share (0-1)")
            ax.set_ylim(0, 1.12)  # room for the n above a bar at 1
            ax.set_yticks(np.linspace(0, 1, 6))
            ax.set_title(f"{attribute}: {title}", fontsize=10)
        # one legend under both panels, where it hides no bar
        fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=4,
                   fontsize=8, frameon=False)
        fig.tight_layout(rect=(0, 0.07, 1, 1))
        save_figure(fig, run.figures / f"{attribute}_accuracy_refusal.png",
                    f"{attribute}: accuracy over answered replies (refusals and unparsed "
                    "replies left out, as the verdict counts it) and refusal rate over all "
                    "questions, per prompt mode, on real audio and on silence of the same "
                    f"length; error bars: {WILSON}; n: replies per bar.")


class AttributesAudit(Audit):
    """HearSay: accuracy, refusal and the silence control per attribute and prompt mode."""

    name = "attributes"
    config_class = AttributesConfig
    summary = "do models infer private traits from a voice, and do they refuse?"
    scorers = ("rules", "judge")

    def prepare(self, run: RunDir, options: RunOptions) -> Prepared:
        from telltale.manifest import load_manifest

        config = self.config
        taxonomy, templates = taxonomy_and_prompts(config)
        samples, problems = load_manifest(
            config.data, require=("audio",), labels=taxonomy.label_sets(config.attributes),
            max_seconds=config.max_audio_seconds,
            on_error="skip" if config.skip_bad_rows else "raise")
        self._samples = select_rows(samples, config.limit, config.seed)
        check_resume(run, self._samples, config.limit, config.seed)
        if not self._samples:
            raise ConfigError(f"{config.data}: no usable samples")
        self._taxonomy, self._templates = taxonomy, templates
        return Prepared(config.data, [str(p) for p in problems])

    def admit(self, model: TargetModel) -> None:
        super().admit(model)
        self._taxonomy, self._templates = as_its_card_says(self.config, model, self._taxonomy,
                                                           self._templates)

    def setup(self, run: RunDir, options: RunOptions) -> None:
        # the resolved taxonomy and prompts, which scoring reads; a resume must keep them
        run.keep_json("taxonomy.json", self._taxonomy.to_dict(), "--taxonomy")
        run.keep_json("prompts.json", self._templates, "--prompts")

    def jobs(self, run: RunDir) -> list[Job]:
        from telltale.models.base import DecodingConfig

        config = self.config
        probes = attribute_probes(self._samples, list(config.attributes), list(config.modes),
                              self._taxonomy, self._templates, config.silence_control,
                              config.seed)
        log.info("%d samples x %d attributes x %d modes%s = %d probes", len(self._samples),
                 len(config.attributes), len(config.modes),
                 " x 2 (silence control)" if config.silence_control else "", len(probes))
        return [Job(probes, "attribute probes",
                    DecodingConfig(max_new_tokens=config.max_new_tokens))]

    def scorer(self, run: RunDir, judge: TargetModel | None = None) -> Scorer:
        from telltale.attributes.scoring import attribute_scorer

        return attribute_scorer(from_dict(run.read_json("taxonomy.json")), judge)

    def metrics(self, run: RunDir, records: list[Record]) -> Results:
        return attribute_metrics(run, records)


def taxonomy_and_prompts(config: Any) -> tuple[Taxonomy, dict[str, Any]]:
    """The taxonomy and prompt modes a run asks with (from ``config.taxonomy`` and
    ``config.prompts`` files over the built-in ones), with ``config.attributes`` and
    ``config.modes`` checked against them."""
    from telltale.attributes.prompts import load_templates
    from telltale.attributes.taxonomy import load_taxonomy

    taxonomy, templates = load_taxonomy(config.taxonomy), load_templates(config.prompts)
    _check_names(config, taxonomy, templates)
    return taxonomy, templates


def as_its_card_says(config: Any, model: TargetModel, taxonomy: Taxonomy,
                     templates: dict[str, Any]) -> tuple[Taxonomy, dict[str, Any]]:
    """The taxonomy and prompt modes to ask ``model`` with, once it has opened.

    A calibration organism understands only its own phrasings, so a model that names how it
    must be asked (``model.prompts``: an organism, locally or through ``telltale serve``;
    :func:`telltale.organism.policy.audit_prompts`) is asked its card's held-out phrasings,
    unless the run gives ``--taxonomy`` or ``--prompts`` files: then it is asked those, and
    a warning says that its refusal rates are not comparable with the planted ones."""
    from telltale.attributes.taxonomy import extend_taxonomy

    card = getattr(model, "prompts", None)
    if not card:
        return taxonomy, templates
    if config.taxonomy is not None or config.prompts is not None:
        log.warning("the model names the phrasings it must be asked in, but the --taxonomy/"
                    "--prompts files given replace them: its refusal rates are not "
                    "comparable with the ones its card plants")
        return taxonomy, templates
    taxonomy = extend_taxonomy(card["taxonomy"], "the model's card")
    templates = {**templates, **card["modes"]}
    _check_names(config, taxonomy, templates)
    return taxonomy, templates


def _check_names(config: Any, taxonomy: Taxonomy, templates: dict[str, Any]) -> None:
    require_choices(getattr(config, "attributes", ()), tuple(taxonomy), "attributes",
                    allow_empty=True)
    require_choices(config.modes, templates, "modes")
