"""The mitigation audits' options (voice defences, :class:`MitigateConfig`; form defences
are the redaction audit's), the names of the logs they write, and how a version is named."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telltale.attributes.audit import (
    MODE_HELP,
    PROMPTS_HELP,
    TAXONOMY_HELP,
)
from telltale.config import ClipsConfig, ConfigError, option, require, require_distinct
from telltale.membership.config import DEFAULT_PROMPT
from telltale.mitigate.voice import VoiceDefence

#: image defences: black boxes over the PII found, or a strong blur of it
FORM_DEFENCES = ("redact", "blur")
DEFENCES_HELP = ("voices: mcadams (VoicePrivacy B2: alpha drawn per clip in 0.5-0.9), "
                 "mcadams:ALPHA, pitch (+-4 semitones), pitch:SEMITONES, tts (another TTS "
                 "voice reads the transcript); several strengths of one defence may be given. "
                 "Form images: redact (black boxes over the PII OCR finds), blur")


ORIGINAL = "original"
DEFENDED_LOG = "defended.jsonl"
CLASSICAL_LOG = "classical.jsonl"


@dataclass(frozen=True)
class MitigateConfig(ClipsConfig):
    """Which defences, and which audits run on the original and on every defended version.

    ``attributes`` empty skips the attribute questions; ``membership`` False skips the
    membership attack; ``classical`` False skips speaker verification and WER."""

    defences: tuple[str, ...] = option(("mcadams", "pitch", "tts"), DEFENCES_HELP,
                                       group="defences")
    attributes: tuple[str, ...] = option(("gender", "accent"), "attributes asked on every "
                                                               "version ('' to skip)")
    modes: tuple[str, ...] = option(("direct",), MODE_HELP)
    taxonomy: Path | None = option(None, TAXONOMY_HELP)
    prompts: Path | None = option(None, PROMPTS_HELP)
    membership: bool = option(True, "skip the membership attack (no member column needed)",
                              flag="--no-membership")
    prompt: str = option(DEFAULT_PROMPT, "the membership attack's transcription prompt")
    classical: bool = option(True, "skip speaker verification (EER) and the recogniser's "
                                   "WER", flag="--no-classical")
    max_new_tokens: int = option(48, "longest reply", group="model")
    folds: int = option(10, "folds of the out-of-fold membership classifier")
    #: PocketSphinx's generic language model decodes about ten times slower than the task
    #: model (5-30 s a clip on 2 cores), so it decodes a sample of the clips
    generic_wer_clips: int = option(0, "clips per version also decoded with the recogniser's "
                                       "generic language model (the same clips, drawn with "
                                       "the seed, in every version; 0: none)")

    def validate(self) -> None:
        super().validate()
        require(bool(self.defences), "defences", "name at least one defence")
        require_distinct(self.defences, "defences")
        for spec in self.defences:
            try:
                VoiceDefence(spec)
            except ValueError as exc:
                raise ConfigError(f"--defences: {exc}") from None
        require(bool(self.attributes) or self.membership or self.classical, "attributes",
                "nothing to measure: give attributes, or keep the membership or classical "
                "measurements on")
        require(self.max_new_tokens >= 1, "max_new_tokens",
                f"must be at least 1, got {self.max_new_tokens}")
        require(self.folds >= 2, "folds", f"must be at least 2, got {self.folds}")
        require(self.generic_wer_clips >= 0, "generic_wer_clips",
                f"must be 0 (none) or more, got {self.generic_wer_clips}")

    def versions(self) -> tuple[str, ...]:
        """The undefended original and every defence, in the order given."""
        return (ORIGINAL, *self.defences)


def read_log(path: Path) -> list[dict[str, Any]]:
    """The entries of a ``defended.jsonl`` / ``classical.jsonl`` file (none if absent)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]




def label(version: str) -> str:
    """A version as the report names it."""
    return "original, undefended" if version == ORIGINAL else VoiceDefence(version).describe()


def defences_on_forms(defences: tuple[str, ...]) -> bool:
    """Whether ``defences`` name form defences (the redaction audit) rather than voice
    defences; both at once is refused."""
    on_forms = [d for d in defences if d in FORM_DEFENCES]
    if on_forms and len(on_forms) < len(defences):
        raise ConfigError(f"--defences: {', '.join(on_forms)} defend form images and "
                          f"{', '.join(d for d in defences if d not in on_forms)} voices; "
                          "run them as two audits")
    return bool(on_forms)
