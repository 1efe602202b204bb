"""The voice mitigation audit: does anonymising the voice stop the leak, and at what cost?

Every clip of the manifest is defended by each named defence (:mod:`telltale.mitigate.voice`)
and the defended clips are written into the run (``defended/<defence>/<id>.wav``, with what
each draw chose in ``defended.jsonl``), so every figure can be traced to the audio a model
heard. Then, paired per clip, against the undefended original:

- the target model is asked the attribute questions (HearSay) and transcribes the clip for
  the membership attack (the indicator vector of Lee et al., 2026), on the original and on
  every defended version;
- a classical attacker, speaker verification with a pretrained GE2E encoder, and a real
  recogniser's word error rate measure privacy and utility as the VoicePrivacy Challenge
  does (:mod:`telltale.mitigate.speaker`, :mod:`telltale.mitigate.asr`); these need no
  target model and are computed once, in ``setup``, into ``classical.jsonl``.

A clip a defence cannot process (too short for an LPC frame, silent, no transcript for
TTS) becomes a named per-sample problem: its probes are error records and the run goes on.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from telltale.audit import STATISTICS, Audit, Job, Prepared
from telltale.config import ConfigError, RunOptions
from telltale.console import log, progress
from telltale.findings import Results
from telltale.limit import check_resume, select_rows
from telltale.mitigate.config import (
    CLASSICAL_LOG,
    DEFENDED_LOG,
    ORIGINAL,
    MitigateConfig,
    defences_on_forms,
    read_log,
)
from telltale.mitigate.voice import DefenceError, VoiceDefence
from telltale.models.base import TargetModel
from telltale.probes import Probe
from telltale.records import Record, Sample
from telltale.rundir import RunDir
from telltale.scorers import Scorer


def defended_path(run: RunDir, defence: str, sample_id: str) -> Path:
    return run.path / "defended" / defence.replace(":", "_") / f"{sample_id}.wav"


def _defend_one(task: tuple[str, str, str | None, str | None, str, int, str]) -> dict[str, Any]:
    """One clip through one defence, written to ``out`` (runs in a worker process)."""
    from telltale.media.audio import load_audio, save_wav
    from telltale.media.errors import MediaError

    sample_id, media, text, voice, spec, seed, out = task
    entry: dict[str, Any] = {"id": sample_id, "defence": spec, "params": None, "error": None}
    try:
        audio, params = VoiceDefence(spec).apply(load_audio(media), key=sample_id, seed=seed,
                                                 text=text, voice=voice)
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        save_wav(out, audio)
        entry["params"] = params
    except (DefenceError, MediaError, OSError) as exc:
        entry["error"] = f"{spec} could not defend sample {sample_id}: {exc}"
    return entry


def _listen_one(task: tuple[str, str, str, str, str | None, str, str | None, bool]
                ) -> dict[str, Any]:
    """Speaker embedding and recogniser hypotheses of one clip (runs in a worker): with
    the held-out task language model ``lm`` and, where ``generic``, with the generic one.
    The entry keeps the clip's speaker, gender and reference transcript, so scoring needs
    no manifest."""
    from telltale.media.audio import load_audio
    from telltale.mitigate.asr import transcribe
    from telltale.mitigate.speaker import embed

    version, sample_id, path, lm, speaker, reference, gender, generic = task
    entry: dict[str, Any] = {"version": version, "id": sample_id, "speaker": speaker,
                             "gender": gender, "reference": reference, "embedding": None,
                             "hypothesis": None, "hypothesis_generic": None, "lm": Path(lm).name,
                             "error": None}
    try:
        audio = load_audio(path)
        entry["hypothesis"] = transcribe(audio, lm)
        entry["hypothesis_generic"] = transcribe(audio, None) if generic else None
        entry["embedding"] = [round(float(v), 6) for v in embed(audio)]
    except (ValueError, OSError) as exc:
        entry["error"] = f"{version} clip of sample {sample_id}: {exc}"
    return entry


def _speaker(sample: Sample) -> str | None:
    value = sample.extra.get("speaker")
    return str(value) if value not in (None, "") else None


def process_pending(path: Path, tasks: list[Any], key: Callable[[Any], Any],
                    done: Iterable[Any], worker: Callable[[Any], Any], jobs: int,
                    desc: str) -> None:
    """Run ``worker`` on every task whose key is not ``done`` (one pool of ``jobs``
    processes) and append what it returns (one JSON entry, or a list of them) to ``path``
    as it comes, so a killed run keeps what it finished."""
    from telltale.parallel import process_imap

    finished = set(done)
    pending = [t for t in tasks if key(t) not in finished]
    if not pending:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        # small chunks: a result is saved within seconds of being made
        for result in progress(process_imap(worker, pending, jobs, chunksize=4),
                               total=len(pending), desc=desc):
            for entry in result if isinstance(result, list) else [result]:
                fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
            fh.flush()


class MitigateAudit(Audit):
    """Attribute inference, membership and a classical attacker on defended voices."""

    name = "mitigate"
    config_class = MitigateConfig
    summary = ("does anonymising the voice (or redacting a form) stop the leak, and what "
               "does it cost? (attribute and membership audits, speaker verification EER "
               "and WER, per defence)")
    options_title = "voice defences (--data: a manifest of clips)"
    uses_jobs = True

    @classmethod
    def claims(cls, values: dict[str, Any]) -> bool:
        return not defences_on_forms(values.get("defences", ()))

    def prepare(self, run: RunDir, options: RunOptions) -> Prepared:
        from telltale.attributes.audit import taxonomy_and_prompts
        from telltale.manifest import load_manifest

        config = self.config
        needs = ["audio"]
        if config.membership:
            needs.append("member")
        if config.classical or "tts" in {VoiceDefence(d).kind for d in config.defences}:
            needs.append("text")  # the WER's reference, the words TTS speaks again
        taxonomy, templates = taxonomy_and_prompts(config)
        labels = taxonomy.label_sets(config.attributes) if config.attributes else None
        samples, problems = load_manifest(
            config.data, require=needs, labels=labels, max_seconds=config.max_audio_seconds,
            on_error="skip" if config.skip_bad_rows else "raise")
        samples = select_rows(samples, config.limit, config.seed, by_member=config.membership)
        check_resume(run, samples, config.limit, config.seed)
        if not samples:
            raise ConfigError(f"{config.data}: no usable samples")
        self._samples, self._taxonomy, self._templates = samples, taxonomy, templates
        return Prepared(config.data, [str(p) for p in problems])

    def needs(self) -> dict[str, str]:
        return {STATISTICS: "the membership probes"} if self.config.membership else {}

    def admit(self, model: TargetModel) -> None:
        from telltale.attributes.audit import as_its_card_says

        super().admit(model)
        if self.config.attributes:
            self._taxonomy, self._templates = as_its_card_says(
                self.config, model, self._taxonomy, self._templates)

    def setup(self, run: RunDir, options: RunOptions) -> None:
        if self.config.attributes:
            run.keep_json("taxonomy.json", self._taxonomy.to_dict(), "--taxonomy")
            run.keep_json("prompts.json", self._templates, "--prompts")
        self._defend(run, options.jobs)
        if self.config.classical:
            self._listen(run, options.jobs)

    def _defend(self, run: RunDir, jobs: int) -> None:
        config = self.config
        tasks = [(s.id, str(s.media), s.text, s.extra.get("voice") or None, d, config.seed,
                  str(defended_path(run, d, s.id)))
                 for d in config.defences for s in self._samples]
        logged = run.path / DEFENDED_LOG
        done = {(e["id"], e["defence"]) for e in read_log(logged)
                if e["error"] or defended_path(run, e["defence"], e["id"]).exists()}
        log.info("defending %d clips with %s", len(self._samples), ", ".join(config.defences))
        process_pending(logged, tasks, lambda t: (t[0], t[4]), done, _defend_one, jobs,
                         "defending clips")

    def _listen(self, run: RunDir, jobs: int) -> None:
        """Speaker embeddings and recogniser transcripts of every version of every clip."""
        import numpy as np

        from telltale.mitigate.asr import heldout_lms

        # each clip decoded with a model of transcripts that are not its own (asr.py)
        config = self.config
        lms = heldout_lms({s.id: s.text or "" for s in self._samples}, run.path,
                          seed=config.seed)
        ids = sorted(s.id for s in self._samples)
        generic = set(np.random.default_rng(config.seed).permutation(ids)[
            :config.generic_wer_clips].tolist()) if config.generic_wer_clips else set()
        defended = self.defended(run)
        tasks = [(version, s.id, str(media), str(lms[s.id]), _speaker(s), s.text or "",
                  s.labels.get("gender") or s.extra.get("gender") or None, s.id in generic)
                 for version in self.config.versions() for s in self._samples
                 if (media := (s.media if version == ORIGINAL
                               else defended.get((version, s.id)))) is not None
                 and not isinstance(media, str)]
        done = {(e["version"], e["id"]) for e in read_log(run.path / CLASSICAL_LOG)}
        log.info("speaker embeddings and recogniser transcripts of %d clips", len(tasks))
        process_pending(run.path / CLASSICAL_LOG, tasks, lambda t: (t[0], t[1]), done,
                         _listen_one, jobs, "speaker verification and ASR")

    def defended(self, run: RunDir) -> dict[tuple[str, str], Path | str]:
        """(defence, sample id) -> the defended clip, or the reason it could not be made."""
        return made_media(run.path / DEFENDED_LOG, lambda d, i: defended_path(run, d, i))

    def jobs(self, run: RunDir) -> list[Job]:
        from telltale.attributes.audit import attribute_probes
        from telltale.membership.audit import membership_probes
        from telltale.models.base import DecodingConfig

        config = self.config
        defended = self.defended(run)
        decoding = DecodingConfig(max_new_tokens=config.max_new_tokens)
        attribute_jobs, membership = [], []
        for version in config.versions():
            samples, failed = version_samples(self._samples, version, defended)
            if config.attributes:
                probes = attribute_probes(samples, list(config.attributes), list(config.modes),
                                          self._taxonomy, self._templates, False, config.seed)
                attribute_jobs += [tag(p, version, failed, task="attributes") for p in probes]
            if config.membership:
                probes = membership_probes(samples, ["original"], config.prompt, 1, config.seed)
                membership += [tag(p, version, failed, task="membership") for p in probes]
        jobs = []
        if attribute_jobs:
            jobs.append(Job(attribute_jobs, "attribute probes", decoding))
        if membership:
            jobs.append(Job(membership, "membership probes", decoding, with_stats=True))
        return jobs

    def scorer(self, run: RunDir, judge: TargetModel | None = None) -> Scorer | None:
        """The attribute audit's scorer on the attribute replies (membership records need
        no parsing)."""
        from telltale.attributes.scoring import attribute_scorer
        from telltale.attributes.taxonomy import from_dict
        from telltale.scorers import by_task

        if not self.config.attributes:
            return None
        taxonomy = from_dict(run.read_json("taxonomy.json"))
        return by_task({"attributes": attribute_scorer(taxonomy)},
                       lambda rec: rec.probe.get("task", ""))

    def metrics(self, run: RunDir, records: list[Record]) -> Results:
        from telltale.mitigate.scoring import mitigate_metrics

        return mitigate_metrics(run, self.config, records)


def made_media(log: Path, path_of: Callable[[str, str], Path]
               ) -> dict[tuple[str, str], Path | str]:
    """(defence, sample id) -> the file a defence made (``path_of(defence, id)``), or the
    reason its log gives for not making it."""
    return {(e["defence"], e["id"]): e["error"] or path_of(e["defence"], e["id"])
            for e in read_log(log)}


def version_samples(samples: list[Sample], version: str,
                    made: dict[tuple[str, str], Path | str]
                    ) -> tuple[list[Sample], dict[str, str]]:
    """The samples as one version presents them (media replaced by the defended file),
    and the reason for each sample the defence could not process (kept with its media)."""
    if version == ORIGINAL:
        return list(samples), {}
    out, failed = [], {}
    for sample in samples:
        path = made.get((version, sample.id),
                        f"{version}: sample {sample.id} was not defended")
        if isinstance(path, str):
            failed[sample.id] = path
            out.append(sample)
        else:
            out.append(dataclasses.replace(sample, media=path))
    return out, failed


def tag(probe: Probe, version: str, failed: dict[str, str], **meta: Any) -> Probe:
    """A probe asked on one version of its sample; where the defence failed on the sample,
    a probe whose media fails with the defence's reason, so it becomes an error record
    naming it and the run goes on."""
    reason = failed.get(probe.sample.id)
    return dataclasses.replace(probe, key=f"{version}|{probe.key}",
                               meta={**probe.meta, "defence": version, **meta},
                               transform=_failing(reason) if reason else probe.transform)


def _failing(reason: str) -> Callable[[Sample], Any]:
    def transform(sample: Sample) -> Any:
        raise DefenceError(reason)
    return transform
