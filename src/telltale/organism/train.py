"""``telltale organism train``: train the calibration organism on a speech manifest.

The organism is built the way an audio LM is: an acoustic model learns to hear
characters (CTC) and is frozen, then a language model learns to answer from what it
hears. Both learn from a *pretraining pool* of generic clips (TTS sentences that are not
in the audited manifest), so that it transcribes speech it never heard, and from the
manifest's *members*, seen many times over in the same stream, so that it memorises them.
The manifest's other clips are never used. The card records exactly which clips (ids and
media sha256) went in, the pool apart from the members, so that the pool can never be
taken for audit non-members; it also records the planted refusal policy, the seed, the
hyper-parameters and figures measured on held-out clips and unseen phrasings.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from telltale.console import log, progress
from telltale.digest import file_sha256
from telltale.manifest import load_manifest
from telltale.media.audio import load_audio
from telltale.organism.policy import NEUTRAL_SYSTEMS, PRIVACY_SYSTEMS, REFUSALS, TRANSCRIBE, Policy
from telltale.records import Sample
from telltale.training import optimiser_step

SIZES: dict[str, dict[str, Any]] = {
    # tiny: seconds, for tests (no pool unless given: it only checks the plumbing)
    "tiny": {"d_model": 48, "n_layers": 1, "n_enc_convs": 2, "n_enc_layers": 0, "n_heads": 2,
             "d_ff": 96, "epochs": 15, "batch": 8, "lr": 5e-3, "ctc_steps": 40,
             "pretrain_clips": 0, "pretrain_epochs": 1, "questions": 1.0},
    # demo: the default `telltale demo` model (<= 3 min on 2 cores). ``ctc_steps`` trains
    # the acoustic model; ``epochs`` rounds over the members and ``pretrain_epochs`` over
    # the pool (``pretrain_clips`` synthesised clips) make the language model's examples,
    # each round transcribing a clip and asking ``questions`` attribute questions (gender,
    # accent) on average: the refusal policy and the voice attributes need many of them,
    # and they are short, hence cheap
    "demo": {"d_model": 128, "n_layers": 2, "n_enc_convs": 3, "n_enc_layers": 0, "n_heads": 4,
             "d_ff": 384, "epochs": 16, "batch": 32, "lr": 3e-3, "ctc_steps": 250,
             "pretrain_clips": 600, "pretrain_epochs": 2, "questions": 5.0},
    # large: for benchmarks on corpora of about a thousand clips. The demo model memorises
    # its 120 members almost perfectly but not 480 (member CER 0.14 after 16 rounds, 0.13
    # after 24: its capacity, not its training, is the limit); 1.5 times as wide it reaches
    # member CER 0.04 on 480 in 20 rounds (about 9 minutes on 2 cores)
    "large": {"d_model": 192, "n_layers": 2, "n_enc_convs": 3, "n_enc_layers": 0,
              "n_heads": 4, "d_ff": 576, "epochs": 20, "batch": 32, "lr": 3e-3,
              "ctc_steps": 250, "pretrain_clips": 600, "pretrain_epochs": 2,
              "questions": 5.0},
}
ATTRIBUTES = ("gender", "accent")
#: the pool is synthesised with seed ``POOL_SEED + seed``, far from the seeds a user gives
#: ``telltale corpus speech``; sentences that still coincide with the manifest are dropped
POOL_SEED = 7_000_003


@dataclass
class Example:
    clip: int
    system: str | None
    user: str
    response: str


def normalise_transcript(text: str) -> str:
    """Lower case, letters, digits, apostrophes and single spaces: what is transcribed."""
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9' ]+", " ", text.lower())).strip()


def cer(hypothesis: str, reference: str) -> float:
    """Character error rate: Levenshtein distance over the reference length."""
    h, r = hypothesis, reference
    prev = list(range(len(h) + 1))
    for i, rc in enumerate(r, 1):
        cur = [i]
        for j, hc in enumerate(h, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (rc != hc)))
        prev = cur
    return prev[-1] / max(1, len(r))


def split_members(samples: list[Sample], fraction: float, seed: int) -> list[int]:
    """Membership per sample: the manifest's ``member`` column, or a seeded split."""
    if all(s.member is not None for s in samples):
        return [int(s.member) for s in samples]
    order = list(range(len(samples)))
    random.Random(seed).shuffle(order)
    chosen = set(order[:round(fraction * len(samples))])
    return [int(i in chosen) for i in range(len(samples))]


def make_examples(clips: list[Sample], rounds: list[int], policy: Policy, seed: int,
                  questions: float = 1.0) -> list[Example]:
    """Instruction -> response pairs, shuffled.

    Parameters
    ----------
    clips : list of Sample
        Every clip that may be trained on (members and pool).
    rounds : list of int
        How many times each clip is seen (0: never). Each round asks for its transcript
        and, on average, ``questions`` questions per labelled attribute (at least one in
        the first round), each under a phrasing and system prompt drawn at random and
        answered or refused as the policy says.
    policy : Policy
        The planted refusal policy.
    seed : int
        Seeds every draw and the final shuffle, which spreads each clip's repeats over
        the whole run.
    questions : float
        Questions per attribute per round, on average (short, hence cheap, examples:
        the refusal policy and the voice attributes need many of them).

    Returns
    -------
    list of Example
    """
    rng = random.Random(seed)
    phrasings = {a: policy.phrasings(a, "train") for a in ATTRIBUTES}
    examples = []
    for i, (sample, n) in enumerate(zip(clips, rounds, strict=True)):
        for r in range(n):
            system = rng.choice(NEUTRAL_SYSTEMS) if rng.random() < 0.3 else None
            examples.append(Example(i, system, rng.choice(TRANSCRIBE),
                                    normalise_transcript(sample.text or "")))
            asks = int(questions) + (rng.random() < questions % 1)
            for attribute in [a for a in ATTRIBUTES for _ in range(max(asks, r == 0))]:
                label = sample.labels.get(attribute) or sample.extra.get(attribute)
                if not label:
                    continue
                opener, core = rng.choice(phrasings[attribute])
                draw = rng.random()
                system = (None if draw < 0.4 else rng.choice(NEUTRAL_SYSTEMS) if draw < 0.6
                          else rng.choice(PRIVACY_SYSTEMS))
                response = (rng.choice(REFUSALS) if policy.refuses(opener, system)
                            else str(label).lower())
                examples.append(Example(i, system, opener + core, response))
    rng.shuffle(examples)
    return examples


def length_batches(examples: list[int], cost: list[int], batch: int, seed: int,
                   window: int = 50) -> list[list[int]]:
    """Batches of similar length, in a seeded random order.

    Examples are taken ``window`` batches at a time in their (shuffled) order, sorted by
    ``cost`` inside the window and cut into batches, so that little of a batch is padding
    while a member's repeats stay spread over the run.

    Parameters
    ----------
    examples : list of int
        Example indices, in training order.
    cost : list of int
        Length of each example (same order).
    batch : int
        Examples per batch.
    seed : int
        Seeds the order of the batches.
    window : int
        Batches sorted together.

    Returns
    -------
    list of list of int
    """
    rng = random.Random(seed + 1)
    out: list[list[int]] = []
    size = batch * window
    for start in range(0, len(examples), size):
        chunk = sorted(range(start, min(start + size, len(examples))), key=lambda i: cost[i])
        out += [[examples[i] for i in chunk[j:j + batch]] for j in range(0, len(chunk), batch)]
    rng.shuffle(out)
    return out


def pretraining_pool(manifest_samples: list[Sample], pretrain: str | Path | None,
                     n_clips: int, out_dir: Path, seed: int,
                     words: tuple[int, int] | None = None) -> tuple[list[Sample], Path | None,
                                                                    int]:
    """The generic speech the organism learns to recognise from.

    Parameters
    ----------
    manifest_samples : list of Sample
        The audited manifest; no pool clip may share a transcript or audio with it.
    pretrain : str or Path, optional
        A speech manifest to use as the pool; if None, ``n_clips`` clips are synthesised
        into ``out_dir/pretrain`` (or reused from there when made for the same seed and
        size).
    n_clips : int
        Size of a synthesised pool (0: no pool).
    out_dir : Path
        The organism directory.
    seed : int
        The organism's seed.
    words : (int, int), optional
        Bounds on the words per synthesised sentence (the corpus default when None).

    Returns
    -------
    (samples, manifest, dropped)
        The pool, its manifest (None without a pool) and how many of its clips were
        dropped because they coincide with a manifest clip.
    """
    if pretrain is None:
        if n_clips <= 0:
            return [], None, 0
        from telltale.corpus.speech import build_speech_corpus

        folder = out_dir / "pretrain"
        marker = folder / "pool.json"
        wanted = {"seed": POOL_SEED + seed, "clips": n_clips,
                  **({"words": list(words)} if words else {})}
        if not (marker.exists() and json.loads(marker.read_text()) == wanted
                and (folder / "manifest.csv").exists()):
            log.info("synthesising a pretraining pool of %d clips", n_clips)
            build_speech_corpus(folder, n_clips, seed=POOL_SEED + seed,
                                **({"words": words} if words else {}))
            marker.write_text(json.dumps(wanted) + "\n")
        pretrain = folder / "manifest.csv"
    pool, _ = load_manifest(pretrain, require=("audio", "text"))
    texts = {normalise_transcript(s.text or "") for s in manifest_samples}
    ids = {s.id for s in manifest_samples}
    hashes = {file_sha256(s.media) for s in manifest_samples}
    kept = [s for s in pool if normalise_transcript(s.text or "") not in texts
            and s.id not in ids and file_sha256(s.media) not in hashes]
    return kept, Path(pretrain).resolve(), len(pool) - len(kept)


#: held-out minus member CER below which training is reported as not having memorised
#: (the demo organism reaches about 0.3; 2,000 members at demo size only 0.06)
MEMORISED_GAP = 0.1


def train_organism(manifest: str | Path, out_dir: str | Path, *, size: str = "demo",
                   epochs: int | None = None, steps: int | None = None, seed: int = 0,
                   member_fraction: float = 0.5,
                   refuse_rate: float = 0.2, privacy_refuse_rate: float = 0.8,
                   eval_limit: int = 60, pretrain: str | Path | None = None,
                   pretrain_clips: int | None = None,
                   overrides: dict[str, Any] | None = None) -> Path:
    """Train, evaluate and save an organism; returns the output directory.

    Two phases, as an audio LM is built: the acoustic model (log-mel -> convolutions ->
    CTC over characters) is trained and then frozen, like a pretrained audio encoder;
    the language model is then trained on what it makes of each clip. Both see the
    members ``epochs`` times and the pool clips ``pretrain_epochs`` times.

    Parameters
    ----------
    manifest : str or Path
        The speech manifest to be audited; its members (``member`` column, or a seeded
        ``member_fraction`` split) are trained on, its other clips never.
    out_dir : str or Path
        Where ``model.safetensors`` and ``card.json`` go (and a synthesised pool, in
        ``pretrain/``).
    size : str
        A key of :data:`SIZES`.
    epochs : int, optional
        Rounds over the members (sets how strongly it memorises).
    steps : int, optional
        Exact number of language-model optimiser steps (overrides ``epochs``: as many
        member rounds as that needs, the pool scaled in proportion).
    seed : int
        Seeds the split, the policy, the pool, the examples and the weights.
    member_fraction : float
        Share of members when the manifest has no ``member`` column.
    refuse_rate, privacy_refuse_rate : float
        Planted refusal rates without and with a privacy system prompt.
    eval_limit : int
        Clips per figure measured after training.
    pretrain : str or Path, optional
        A speech manifest to pretrain on instead of a synthesised pool (its clips that
        share a transcript, id or audio with the manifest are dropped).
    pretrain_clips : int, optional
        Size of the synthesised pool (default: the size's ``pretrain_clips``; 0: none).
    overrides : dict, optional
        Hyper-parameters replacing the size's (for experiments; recorded in the card).

    Returns
    -------
    Path
        ``out_dir``.
    """
    import torch

    from telltale.organism.model import one_thread

    if size not in SIZES:
        raise ValueError(f"unknown organism size {size!r}; choose from {', '.join(SIZES)}")
    hp = {**SIZES[size], **(overrides or {})}
    hp["epochs"] = hp["epochs"] if epochs is None else epochs
    if pretrain_clips is not None:
        hp["pretrain_clips"] = pretrain_clips
    deterministic = torch.are_deterministic_algorithms_enabled()
    fill = torch.utils.deterministic.fill_uninitialized_memory
    torch.use_deterministic_algorithms(True)
    # deterministic mode also fills every new tensor with NaN to expose reads of
    # uninitialised memory; no op here reads any, and the fill costs a fifth of a step
    torch.utils.deterministic.fill_uninitialized_memory = False
    try:
        with one_thread():  # one thread, always: see its reasons
            return _train(Path(manifest), Path(out_dir), size, hp, steps, seed,
                          member_fraction, Policy(refuse_rate=refuse_rate,
                                                  privacy_refuse_rate=privacy_refuse_rate,
                                                  seed=seed), eval_limit, pretrain)
    finally:  # the caller's process goes on with its own settings
        torch.use_deterministic_algorithms(deterministic)
        torch.utils.deterministic.fill_uninitialized_memory = fill


def _train(manifest: Path, out_dir: Path, size: str, hp: dict[str, Any], steps: int | None,
           seed: int, member_fraction: float, policy: Policy, eval_limit: int,
           pretrain: str | Path | None) -> Path:
    """:func:`train_organism` once its arguments are checked."""
    import torch
    from safetensors.torch import save_file

    from telltale.organism.backend import OrganismModel
    from telltale.organism.model import OrganismConfig, OrganismNet, Vocab

    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)

    samples, _ = load_manifest(manifest, require=("audio", "text"))
    members = split_members(samples, member_fraction, seed)
    pool_started = time.perf_counter()
    pool, pool_manifest, dropped = pretraining_pool(samples, pretrain, hp["pretrain_clips"],
                                                    out_dir, seed)
    pool_seconds = time.perf_counter() - pool_started
    started = time.perf_counter()
    vocab = Vocab.build([*TRANSCRIBE, *PRIVACY_SYSTEMS, *NEUTRAL_SYSTEMS, *policy.openers,
                         *(core for cores in policy.cores.values() for core in cores)])
    log.info("decoding %d clips (%d in the pool)", len(samples) + len(pool), len(pool))
    # the manifest's clips first, so that clip indices < len(samples) are manifest clips
    clips = [*samples, *pool]
    audio = [torch.from_numpy(load_audio(s.media)) for s in clips]
    config = OrganismConfig(d_model=hp["d_model"], n_layers=hp["n_layers"],
                            n_enc_convs=hp["n_enc_convs"], n_enc_layers=hp["n_enc_layers"],
                            n_heads=hp["n_heads"], d_ff=hp["d_ff"], vocab_size=len(vocab))
    net = OrganismNet(config)
    # how often each clip is seen: the members ``epochs`` times, the pool
    # ``pretrain_epochs`` times, the manifest's other clips never (nothing is computed
    # from them at all, the voice statistics' standardisation included)
    pool_epochs = max(1, hp["pretrain_epochs"])
    weights = [hp["epochs"] * m for m in members] + [pool_epochs] * len(pool)
    trained = [i for i, w in enumerate(weights) if w > 0]
    if len(trained) < 2:
        raise ValueError(f"{manifest}: the organism needs at least two clips to train on "
                         f"(members plus pretraining pool), found {len(trained)}")
    with torch.no_grad():
        features = {i: net.features(audio[i]) for i in trained}

    # phase 1: the acoustic model, then frozen
    ctc_losses = _train_acoustic(net, features, {
        i: torch.tensor(vocab.encode(normalise_transcript(clips[i].text or "")),
                        dtype=torch.long) - vocab.first_char + 1 for i in trained},
        weights, hp, seed)
    net.requires_grad_(False)
    codes: dict[int, Any] = {}
    with torch.no_grad():
        for start in range(0, len(trained), 32):
            chunk = trained[start:start + 32]
            codes.update(zip(chunk, net.encode_features([features[i] for i in chunk])[0],
                             strict=True))
        stats = torch.stack([code.stats for code in codes.values()])
        net.stats_mean.copy_(stats.mean(0))
        net.stats_std.copy_(stats.std(0) + 1e-3)
    acoustic_seconds = time.perf_counter() - started

    # phase 2: the language model, on the frozen acoustic model's codes
    base_epochs = hp["epochs"]

    def build(member_rounds: int) -> list[Example]:
        # the pool keeps its proportion to the members when the member rounds change
        pool_rounds = max(1, pool_epochs * member_rounds // max(1, base_epochs))
        rounds = [member_rounds * m for m in members] + [pool_rounds] * len(pool)
        return make_examples(clips, rounds, policy, seed, hp["questions"])

    examples = build(base_epochs)
    if steps is not None:
        # a fixed number of optimiser steps: as many rounds over the members as that needs
        # (each estimate grows the rounds, since it is short of what is needed)
        while steps * hp["batch"] > len(examples):
            hp["epochs"] = -(-steps * hp["batch"] * max(1, hp["epochs"]) // max(1, len(examples)))
            examples = build(hp["epochs"])
        hp["steps"] = steps
    losses, n_steps, n_examples = _train_language_model(net, vocab, codes, examples, hp, seed,
                                                        steps)
    train_seconds = time.perf_counter() - started

    net.eval()
    weights_path = out_dir / "model.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, weights_path)
    model = OrganismModel.from_net(net, vocab, file_sha256(weights_path))
    figures = evaluate(model, samples, members, audio[:len(samples)], policy, limit=eval_limit)
    figures.update(train_seconds=round(train_seconds, 1),
                   acoustic_seconds=round(acoustic_seconds, 1),
                   pool_seconds=round(pool_seconds, 1), steps=n_steps, examples=n_examples,
                   acoustic_steps=len(ctc_losses),
                   final_ctc_loss=float(np.mean(ctc_losses[-20:])) if ctc_losses else None,
                   final_loss=float(np.mean(losses[-20:])),
                   first_loss=float(np.mean(losses[:20])))
    card = {
        "kind": "telltale-organism", "size": size, "seed": seed, "hyperparameters": hp,
        "config": config.to_dict(), "vocab": vocab.to_dict(), "policy": policy.to_dict(),
        "manifest": str(manifest.resolve()),
        # the audit's ground truth: the manifest clips trained on, and those never seen
        "training_set": [{"id": s.id, "sha256": file_sha256(s.media)}
                         for s, m in zip(samples, members, strict=True) if m],
        "heldout_set": [{"id": s.id, "sha256": file_sha256(s.media)}
                        for s, m in zip(samples, members, strict=True) if not m],
        # also trained on, but not part of the audited manifest: neither members nor
        # non-members of any audit of it
        "pretraining_manifest": str(pool_manifest) if pool_manifest else None,
        "pretraining_set": [{"id": s.id, "sha256": file_sha256(s.media)} for s in pool],
        "pretraining_dropped": dropped,
        "figures": figures,
    }
    (out_dir / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    log.info("organism trained in %.0fs: %s", train_seconds, json.dumps(figures))
    gap = figures["cer_heldout"] - figures["cer_train"]
    if gap < MEMORISED_GAP:
        log.warning("the organism did not memorise its members: CER %.3f on members against "
                    "%.3f on held-out clips (a gap under %.2f). A membership audit of it "
                    "has no planted signal to find; train longer (--epochs), on fewer "
                    "members, or with --size large", figures["cer_train"],
                    figures["cer_heldout"], MEMORISED_GAP)
    return out_dir


def _ctc_loss(ctc_logits, frames, targets: list) -> Any:
    """Mean CTC loss per target character of a batch."""
    import torch

    from telltale.organism.model import BLANK

    log_probs = torch.log_softmax(ctc_logits, -1).transpose(0, 1)
    return torch.nn.functional.ctc_loss(
        log_probs, torch.cat(targets), frames, torch.tensor([len(t) for t in targets]),
        blank=BLANK, reduction="mean", zero_infinity=True)


def _train_acoustic(net, features: dict[int, Any], targets: dict[int, Any],
                    weights: list[float], hp: dict[str, Any], seed: int) -> list[float]:
    """``hp["ctc_steps"]`` steps of CTC on the acoustic model, batches of clips drawn
    with ``weights`` (so members and pool in the proportion the language model sees
    them); the losses."""

    rng = random.Random(seed + 2)
    parameters = net.acoustic_parameters()
    step = _optimiser(parameters, hp["lr"], hp["ctc_steps"])
    losses = []
    for _ in progress(range(hp["ctc_steps"]), total=hp["ctc_steps"], desc="acoustic model"):
        chosen = sorted(rng.choices(range(len(weights)), weights, k=hp["batch"]))
        _, ctc_logits, frames = net.encode_features([features[c] for c in chosen])
        losses.append(step(_ctc_loss(ctc_logits, frames, [targets[c] for c in chosen])))
    return losses


def _optimiser(parameters: list[Any], lr: float, steps: int) -> Callable[[Any], float]:
    """AdamW with a one-cycle schedule over ``steps``; returns a function that takes one
    step on a loss (gradients clipped to norm 1) and gives the loss back as a float."""
    import torch

    # the fused kernel: the default per-parameter loop costs as much as a step
    optimiser = torch.optim.AdamW(parameters, lr=lr, weight_decay=0.01, fused=True)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr,
                                                   total_steps=max(1, steps), pct_start=0.1)

    return lambda loss: optimiser_step(loss, parameters, optimiser, schedule)


def _train_language_model(net, vocab, codes: dict[int, Any], examples: list[Example],
                          hp: dict[str, Any], seed: int,
                          steps: int | None) -> tuple[list[float], int, int]:
    """Fit everything but the (frozen) acoustic model to ``examples``: the losses, the
    number of steps and of examples seen."""
    import torch

    from telltale.organism.model import EOS, prompt_tokens

    acoustic = {id(p) for p in net.acoustic_parameters()}
    parameters = [p for p in net.parameters() if id(p) not in acoustic]
    for parameter in parameters:
        parameter.requires_grad_(True)
    prompts = [prompt_tokens(vocab, ex.system, ex.user) for ex in examples]
    answers = [[*vocab.encode(ex.response), EOS] for ex in examples]
    order = length_batches(list(range(len(examples))),
                           [len(p) + len(a) for p, a in zip(prompts, answers, strict=True)],
                           hp["batch"], seed)[:steps]
    # what the frozen acoustic model hears along an answer depends only on the clip and
    # the answer, so it is worked out once for every distinct pair
    heard: dict[tuple[int, str], torch.Tensor] = {}
    step = _optimiser(parameters, hp["lr"], len(order))
    losses = []
    for rows in progress(order, total=len(order), desc="language model"):
        batch = [examples[i] for i in rows]
        missing = sorted({(ex.clip, ex.response) for ex in batch} - set(heard))
        if missing:
            with torch.no_grad():
                heard.update(zip(missing, net.hearing([codes[c] for c, _ in missing],
                                                       [vocab.encode(r) for _, r in missing]),
                                 strict=True))
        logits, first = net([codes[ex.clip] for ex in batch], [prompts[i] for i in rows],
                            [answers[i][:-1] for i in rows],
                            [heard[(ex.clip, ex.response)] for ex in batch])
        loss = sum(torch.nn.functional.cross_entropy(
            logits[row, first[row]:first[row] + len(answers[i])], torch.tensor(answers[i]),
            reduction="sum") for row, i in enumerate(rows)) / sum(len(answers[i]) for i in rows)
        losses.append(step(loss))
    return losses, len(order), sum(len(rows) for rows in order)


def evaluate(model, samples: list[Sample], members: list[int], audio, policy: Policy,
             limit: int = 60) -> dict[str, Any]:
    """Measure what was planted in a trained organism.

    Parameters
    ----------
    model : OrganismModel
        The organism, through its backend.
    samples, members : list
        The manifest and its membership (1 = trained on).
    audio : list of torch.Tensor
        Each sample's waveform.
    policy : Policy
        The planted refusal policy.
    limit : int
        Clips per measurement.

    Returns
    -------
    dict
        ``cer_train`` / ``cer_heldout`` (greedy transcription CER on members / held-out
        clips), ``<attribute>_accuracy_heldout`` and ``<attribute>_majority_heldout`` on
        held-out clips and unseen phrasings, ``refusal_rate_no_system`` and
        ``refusal_rate_privacy_system`` on unseen phrasings, and the planted rates.
    """
    from telltale.models.base import DecodingConfig, Request
    from telltale.refusal import detect_refusal

    rng = random.Random(0)
    held = [i for i, m in enumerate(members) if not m][:limit]
    train = [i for i, m in enumerate(members) if m][:limit]
    decoding = DecodingConfig(max_new_tokens=160)  # characters: the longest transcripts

    def ask(indices, prompts, system=None):
        reqs = [Request(p, system=system, audio=audio[i].numpy())
                for i, p in zip(indices, prompts, strict=True)]
        return [g.text for g in model.generate(reqs, decoding)]

    figures: dict[str, Any] = {}
    for name, indices in (("train", train), ("heldout", held)):
        outs = ask(indices, [TRANSCRIBE[0]] * len(indices))
        figures[f"cer_{name}"] = float(np.mean([
            cer(o, normalise_transcript(samples[i].text or "")) for i, o in
            zip(indices, outs, strict=True)])) if indices else float("nan")
    for attribute in ATTRIBUTES:
        answering = [opener + core for opener, core in policy.phrasings(attribute, "heldout")
                     if opener not in policy.privacy_refusing_openers]
        # with every phrasing refusing there is no accuracy to measure
        labelled = [i for i in held if samples[i].labels.get(attribute) or
                    samples[i].extra.get(attribute)] if answering else []
        prompts = [rng.choice(answering) for _ in labelled]
        outs = ask(labelled, prompts)
        truth = [str(samples[i].labels.get(attribute) or samples[i].extra.get(attribute))
                 for i in labelled]
        figures[f"{attribute}_accuracy_heldout"] = float(np.mean(
            [o.strip() == t for o, t in zip(outs, truth, strict=True)])) if labelled else None
        counts: dict[str, int] = {}
        for t in truth:
            counts[t] = counts.get(t, 0) + 1
        figures[f"{attribute}_majority_heldout"] = (max(counts.values()) / len(truth)
                                                    if truth else None)
    heldout_prompts = [o + c for o, c in policy.phrasings("gender", "heldout")]
    for label, system in (("no_system", None), ("privacy_system", PRIVACY_SYSTEMS[0])):
        prompts = [heldout_prompts[k % len(heldout_prompts)] for k in range(len(held))]
        outs = ask(held, prompts, system)
        figures[f"refusal_rate_{label}"] = float(np.mean(
            [detect_refusal(o).kind == "refusal" for o in outs])) if held else None
    figures["planted_refusal_rates"] = policy.planted_rates
    return figures
