"""The voice attribute audit (HearSay protocol, Wang et al., 2026).

For every sample, attribute and prompt mode the model is asked once on the real audio and,
as the blind control, once on silence of the same length. Outputs are stored raw; parsing,
refusal detection and metrics run on the stored records (``score_run``), so a run can be
re-scored with another parser or an LLM judge without querying the model again.
"""

from __future__ import annotations

from telltale.run import Probe

DEFAULT_MODES = ("direct", "cot", "defense")


def build_probes(samples, attributes: list[str], modes: list[str], taxonomy, templates,
                 blind: bool, seed: int) -> list[Probe]:
    """One probe per sample x attribute x mode x condition (original, and silence if blind)."""
    from telltale.attributes.prompts import build_prompt, pick_variant

    conditions = ("original", "silence") if blind else ("original",)
    probes = []
    for sample in samples:
        for attribute in attributes:
            for mode in modes:
                variant = pick_variant(templates, mode, attribute, sample.id, seed)
                system, user = build_prompt(mode, attribute, taxonomy, variant, templates)
                for condition in conditions:
                    probes.append(Probe(
                        key=f"{sample.id}|{attribute}|{mode}|{condition}", sample=sample,
                        text=user, system=system, condition=condition,
                        meta={"attribute": attribute, "mode": mode, "variant": variant}))
    return probes
