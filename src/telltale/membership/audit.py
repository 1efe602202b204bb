"""The membership audit: blind baselines, the indicator-vector attack and modality
disentanglement, following Lee et al., 2026 ("Membership Inference Attacks against Large
Audio Language Models").

Phase 2 is the two-stage protocol: the model transcribes each clip greedily and its own
output is scored as pseudo ground truth; the per-token statistics come from the same pass
when the backend can (``stats_on_generate``), otherwise from a second scoring pass. The
statistics are stored in the records, so ``telltale score`` recomputes every indicator.
"""

from __future__ import annotations

import dataclasses
import zlib
from typing import Any

from telltale.audit import STATISTICS, Audit, Job, Prepared
from telltale.config import RunOptions
from telltale.findings import Results
from telltale.limit import check_resume
from telltale.membership.blind_audit import FAMILIES, load_members, run_baselines
from telltale.membership.config import DRAW, REFERENCE, MembershipConfig
from telltale.probes import Probe
from telltale.records import Record
from telltale.rundir import RunDir


def membership_probes(samples, conditions: list[str], prompt: str, tts_k: int, seed: int,
                 target: str = "self"):
    """Probes per sample and condition. ``target`` "self" is the two-stage protocol (the
    model's own greedy transcription is scored); "reference" scores the manifest's
    transcript instead, the white-box setting where the training text is known."""
    probes = []
    for sample in samples:
        continuation = sample.text or "" if target == "reference" else None
        # the speaker travels into the records: folds, label shuffles and bootstrap
        # replicates keep a voice's clips together (telltale.calibration)
        speaker = sample.extra.get("speaker")
        truth = {"speaker": str(speaker)} if speaker not in (None, "") else {}
        if sample.text:
            # what the greedy transcription is checked against (membership.fidelity) and
            # what a black-box draw is compared with, so scoring needs no manifest
            truth["transcript"] = sample.text
        for condition in conditions:
            if condition == "tts":
                for k in range(tts_k):
                    probes.append(Probe(
                        key=f"{sample.id}|tts|{k}", sample=sample, text=prompt,
                        meta={"condition": "tts", "realisation": k}, truth=truth,
                        transform=_tts_transform(seed, k), continuation=continuation))
            else:
                probes.append(Probe(key=f"{sample.id}|{condition}", sample=sample, text=prompt,
                                    condition=condition, meta={"realisation": 0},
                                    truth=truth, continuation=continuation))
    return probes


def _tts_transform(seed: int, k: int):
    """The transcript spoken again by a different TTS voice (seeded per sample)."""
    def transform(sample):
        from telltale.corpus.tts import resynthesize

        if not sample.text:
            raise ValueError(f"sample {sample.id} has no transcript to resynthesise")
        key = zlib.crc32(f"{seed}|{k}|{sample.id}".encode())
        audio, _ = resynthesize(sample.text, sample.extra.get("voice"), seed=key)
        return audio
    return transform


class MembershipAudit(Audit):
    """Blind baselines, the indicator-vector attack and modality disentanglement."""

    name = "membership"
    config_class = MembershipConfig
    summary = "membership inference with the blind-baseline protocol"
    uses_jobs = True

    def prepare(self, run: RunDir, options: RunOptions) -> Prepared:
        config = self.config
        samples, problems = load_members(config.data, config.skip_bad_rows, config.limit,
                                         config.max_audio_seconds, config.seed)
        check_resume(run, samples, config.limit, config.seed)
        if config.target == "reference" and not all(s.text for s in samples):
            raise ValueError(f"{config.data}: --target reference needs a transcript in every "
                             "row")
        self._samples = samples
        return Prepared(config.data, problems)

    def setup(self, run: RunDir, options: RunOptions) -> None:
        config, samples = self.config, self._samples
        if config.baselines:  # phase 1
            families = FAMILIES if all(s.text for s in samples) else ("metadata", "acoustic")
            run_baselines(run, samples, families, config.folds, config.seed, options.jobs,
                          config.permutations)

    def jobs(self, run: RunDir) -> list[Job]:
        from telltale.models.base import DecodingConfig

        config = self.config
        greedy = DecodingConfig(max_new_tokens=config.max_new_tokens)
        probes = membership_probes(self._samples, list(config.conditions), config.prompt,
                              config.tts_k, config.seed, config.target)
        jobs = [Job(probes, "membership probes", greedy,
                    with_stats="indicators" in config.methods)]
        originals = [p for p in probes if p.meta.get("condition", p.condition) == "original"]
        if "blackbox" in config.methods:
            for draw in range(config.samples):
                # one seed per draw: a backend seeds per request or per batch, so draws differ
                sampled = DecodingConfig(max_new_tokens=config.max_new_tokens,
                                         temperature=config.temperature,
                                         seed=config.seed * 1000 + draw)
                jobs.append(Job([_retag(p, DRAW, draw) for p in originals],
                                f"black-box draw {draw + 1}/{config.samples}", sampled))
        if "reference" in config.methods:
            jobs.append(Job([_retag(p, REFERENCE, 0) for p in originals],
                            "reference model probes", greedy, with_stats=True,
                            variant=REFERENCE))
        return jobs

    def needs(self) -> dict[str, str]:
        needs = {}
        if "indicators" in self.config.methods:
            needs[STATISTICS] = "the log-probability attack (--methods indicators)"
        if self.config.target == "reference":
            needs["score"] = "the scored transcripts (--target reference)"
        return needs

    def check_model(self, spec: str) -> None:
        # the reference model is checked when a run needs it, not when a finished run is
        # re-scored on a machine without it
        if self.config.reference_model is not None:
            from telltale.models import check_spec

            check_spec(self.config.reference_model)

    def open_variant(self, variant: str, model: Any, run: RunDir, options: RunOptions) -> Any:
        from telltale.runner import open_model

        if variant != REFERENCE or self.config.reference_model is None:
            return super().open_variant(variant, model, run, options)
        return open_model(options, spec=self.config.reference_model)

    def media_probe(self, record: Record, sample: Any) -> Probe | None:
        """As :meth:`Audit.media_probe`, and a TTS resynthesis rebuilt with its voice."""
        if record.probe.get("condition") != "tts":
            return super().media_probe(record, sample)
        config = self.config
        probes = membership_probes([sample], ["tts"], config.prompt, config.tts_k, config.seed,
                                   config.target)
        return next((p for p in probes if p.key == record.key), None)

    def metrics(self, run: RunDir, records: list[Record]) -> Results:
        from telltale.membership.scoring import membership_metrics

        return membership_metrics(run, self.config, records)


def _retag(probe: Probe, condition: str, realisation: int) -> Probe:
    """``probe`` asked again on the same original audio, recorded under ``condition``."""
    # the reference model scores the target's own transcription, so both likelihoods are
    # of the same text (Carlini et al., 2022; Zarifzadeh et al., 2024); with --target
    # reference both score the manifest's transcript already
    source = probe.key if condition == REFERENCE and probe.continuation is None else None
    return dataclasses.replace(probe, key=f"{probe.sample.id}|{condition}|{realisation}",
                               meta={**probe.meta, "condition": condition,
                                     "realisation": realisation},
                               continuation_of=source)
