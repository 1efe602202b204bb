"""The membership audit's protocol options and the names its records use (shared by the
audit, which asks the probes, and by scoring, which reads them)."""

from __future__ import annotations

from dataclasses import dataclass

from telltale.config import ClipsConfig, option, require, require_choices
from telltale.membership.blind import PERMUTATIONS

DEFAULT_PROMPT = "Transcribe the audio."
CONDITIONS = ("original", "silence", "noise", "tts")
#: indicators: the log-probability attack; blackbox: sampled transcriptions (SaMIA);
#: dataset: set-level dataset inference; reference: calibration by a reference model
METHODS = ("indicators", "blackbox", "dataset", "reference")
#: the record ``condition`` of a black-box draw and of the reference model's transcription
DRAW, REFERENCE = "draw", "reference"
TARGETS = ("self", "reference")


@dataclass(frozen=True)
class MembershipConfig(ClipsConfig):
    """Phases 1-3 of the membership protocol (Lee et al., 2026)."""

    conditions: tuple[str, ...] = option(("original", "silence", "noise"),
                                         "original,silence,noise,tts (modality "
                                         "disentanglement)")
    tts_k: int = option(3, "TTS resynthesis realisations per clip")
    prompt: str = option(DEFAULT_PROMPT, "the transcription prompt")
    target: str = option("self", "score the model's own transcription (two-stage protocol) "
                                 "or the manifest transcript (white-box)", choices=TARGETS)
    max_new_tokens: int = option(96, "longest transcription", group="model")
    folds: int = option(10, "stratified cross-validation folds")
    baselines: bool = option(True, "skip phase 1 (the blind baselines)",
                             flag="--no-baselines")
    permutations: int = option(PERMUTATIONS, "label shuffles that measure how far chance "
                                             "alone moves each blind AUC (0: none)")
    methods: tuple[str, ...] = option(
        ("indicators", "dataset"),
        "indicators (log-probability attack), blackbox (sampled transcriptions, no "
        "log-probabilities needed), dataset (set-level dataset inference), reference "
        "(calibration by --reference-model)")
    samples: int = option(5, "sampled transcriptions per clip for the blackbox method")
    temperature: float = option(1.0, "sampling temperature of the blackbox method")
    reference_model: str | None = option(
        None, "a model that did not train on the clips (a base model, a sibling checkpoint, "
              "an organism trained on other clips) for the reference method", metavar="SPEC")

    def validate(self) -> None:
        super().validate()
        require_choices(self.conditions, CONDITIONS, "conditions")
        require("original" in self.conditions, "conditions", "must include original")
        require_choices(self.methods, METHODS, "methods")
        require(bool({"indicators", "blackbox"} & set(self.methods)), "methods",
                "needs indicators or blackbox (the per-clip features every method uses)")
        if "indicators" not in self.methods:
            require(self.conditions == ("original",), "conditions",
                    "silence, noise and tts are scored by the indicators (log-probabilities); "
                    "without the indicators method pass --conditions original")
            require("reference" not in self.methods, "methods",
                    "reference calibrates the indicators; add indicators")
        require(("reference" in self.methods) == (self.reference_model is not None),
                "reference_model", "the reference method and --reference-model go together")
        require(self.samples >= 2, "samples",
                f"the black-box attack compares at least 2 samples, got {self.samples}")
        require(self.temperature > 0, "temperature",
                f"sampling needs a temperature above 0, got {self.temperature}")
        require(self.tts_k >= 1, "tts_k", f"must be at least 1, got {self.tts_k}")
        require(self.target in TARGETS, "target", f"choose from {', '.join(TARGETS)}")
        require(self.max_new_tokens >= 1, "max_new_tokens",
                f"must be at least 1, got {self.max_new_tokens}")
        require(self.folds >= 2, "folds", f"must be at least 2, got {self.folds}")
        require(self.permutations >= 0, "permutations",
                f"must be 0 (none) or more, got {self.permutations}")
