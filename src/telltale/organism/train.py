"""``telltale organism train``: train the calibration organism on a speech manifest.

Only the *member* share of the manifest is trained on (a seeded random split unless the
manifest has a ``member`` column); the card records exactly which clips (ids and media
sha256), the planted refusal policy, the seed, the hyper-parameters and figures measured
on held-out clips and unseen phrasings.
"""

from __future__ import annotations

import json
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from telltale.console import log, progress
from telltale.manifest import load_manifest
from telltale.media.audio import file_sha256, load_audio
from telltale.organism.policy import NEUTRAL_SYSTEMS, PRIVACY_SYSTEMS, REFUSALS, TRANSCRIBE, Policy
from telltale.records import Sample

SIZES: dict[str, dict[str, Any]] = {
    # tiny: seconds, for tests; demo: the default `telltale demo` model (<= 3 min, 2 cores)
    "tiny": {"d_model": 48, "n_layers": 1, "n_heads": 2, "d_ff": 96, "epochs": 15,
             "batch": 8, "lr": 5e-3},
    "demo": {"d_model": 128, "n_layers": 3, "n_heads": 4, "d_ff": 384, "epochs": 30,
             "batch": 24, "lr": 3e-3},
}
ATTRIBUTES = ("gender", "accent")


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


def make_examples(samples: list[Sample], members: list[int], policy: Policy, epochs: int,
                  seed: int) -> list[Example]:
    """Instruction -> response pairs for the member clips, ``epochs`` rounds of one
    transcription and one question per attribute per clip."""
    rng = random.Random(seed)
    phrasings = {a: policy.phrasings(a, "train") for a in ATTRIBUTES}
    examples = []
    for _ in range(epochs):
        for i, sample in enumerate(samples):
            if not members[i]:
                continue
            system = rng.choice(NEUTRAL_SYSTEMS) if rng.random() < 0.3 else None
            examples.append(Example(i, system, rng.choice(TRANSCRIBE),
                                    normalise_transcript(sample.text or "")))
            for attribute in ATTRIBUTES:
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


def train_organism(manifest: str | Path, out_dir: str | Path, *, size: str = "demo",
                   epochs: int | None = None, seed: int = 0, member_fraction: float = 0.5,
                   refuse_rate: float = 0.2, privacy_refuse_rate: float = 0.8,
                   eval_limit: int = 60) -> Path:
    """Train, evaluate and save an organism; returns the output directory."""
    import torch
    from safetensors.torch import save_file

    from telltale.models.organism import OrganismModel
    from telltale.organism.model import EOS, OrganismConfig, OrganismNet, WordVocab, prompt_tokens

    if size not in SIZES:
        raise ValueError(f"unknown organism size {size!r}; choose from {', '.join(SIZES)}")
    hp = dict(SIZES[size])
    hp["epochs"] = epochs or hp["epochs"]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    torch.manual_seed(seed)
    torch.set_num_threads(2)  # fixed, so that reductions and hence weights are reproducible
    torch.use_deterministic_algorithms(True)

    samples, _ = load_manifest(manifest, require=("audio", "text"))
    members = split_members(samples, member_fraction, seed)
    policy = Policy(refuse_rate=refuse_rate, privacy_refuse_rate=privacy_refuse_rate, seed=seed)
    vocab = WordVocab.build([
        *(normalise_transcript(s.text or "") for s in samples), *TRANSCRIBE, *PRIVACY_SYSTEMS,
        *NEUTRAL_SYSTEMS, *REFUSALS, *policy.openers,
        *(core for cores in policy.cores.values() for core in cores),
        *(str(s.labels.get(a) or s.extra.get(a) or "") for s in samples for a in ATTRIBUTES)])
    log.info("decoding %d clips", len(samples))
    audio = [torch.from_numpy(load_audio(s.media)) for s in samples]
    config = OrganismConfig(d_model=hp["d_model"], n_layers=hp["n_layers"],
                            n_heads=hp["n_heads"], d_ff=hp["d_ff"], vocab_size=len(vocab))
    net = OrganismNet(config)
    with torch.no_grad():
        features = [net.features(wav) for wav in audio]
    examples = make_examples(samples, members, policy, hp["epochs"], seed)
    batches = [examples[i:i + hp["batch"]] for i in range(0, len(examples), hp["batch"])]
    optimiser = torch.optim.AdamW(net.parameters(), lr=hp["lr"], weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=hp["lr"],
                                                   total_steps=len(batches), pct_start=0.1)
    losses = []
    net.train()
    for batch in progress(batches, total=len(batches), desc="training"):
        prompts = [prompt_tokens(vocab, ex.system, ex.user) for ex in batch]
        answers = [[*vocab.encode(ex.response), EOS] for ex in batch]
        emb = net.encode_features([features[ex.clip] for ex in batch])
        logits, prefix = net(emb, [p + a[:-1] for p, a in zip(prompts, answers, strict=True)])
        loss_terms = []
        for row, (prompt, answer) in enumerate(zip(prompts, answers, strict=True)):
            first = prefix[row] + len(prompt) - 1
            loss_terms.append(torch.nn.functional.cross_entropy(
                logits[row, first:first + len(answer)], torch.tensor(answer), reduction="sum"))
        loss = torch.stack(loss_terms).sum() / sum(len(a) for a in answers)
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        losses.append(float(loss.detach()))
    train_seconds = time.perf_counter() - started
    net.eval()
    weights = out_dir / "model.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, weights)
    model = OrganismModel.from_net(net, vocab, file_sha256(weights))
    figures = evaluate(model, samples, members, audio, policy, limit=eval_limit)
    figures.update(train_seconds=round(train_seconds, 1), steps=len(batches),
                   examples=len(examples), final_loss=float(np.mean(losses[-20:])),
                   first_loss=float(np.mean(losses[:20])))
    card = {
        "kind": "telltale-organism", "size": size, "seed": seed, "hyperparameters": hp,
        "config": config.to_dict(), "vocab": vocab.words, "policy": policy.to_dict(),
        "manifest": str(Path(manifest).resolve()),
        "training_set": [{"id": s.id, "sha256": file_sha256(s.media)}
                         for s, m in zip(samples, members, strict=True) if m],
        "heldout_set": [{"id": s.id, "sha256": file_sha256(s.media)}
                        for s, m in zip(samples, members, strict=True) if not m],
        "figures": figures,
    }
    (out_dir / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    log.info("organism trained in %.0fs: %s", train_seconds, json.dumps(figures))
    return out_dir


def evaluate(model, samples: list[Sample], members: list[int], audio, policy: Policy,
             limit: int = 60) -> dict[str, Any]:
    """Transcription CER (members vs held-out clips), held-out gender accuracy and the
    refusal rates on unseen phrasings with and without a privacy system prompt."""
    from telltale.models.base import DecodingConfig, Request
    from telltale.refusal import detect_refusal

    rng = random.Random(0)
    held = [i for i, m in enumerate(members) if not m][:limit]
    train = [i for i, m in enumerate(members) if m][:limit]
    decoding = DecodingConfig(max_new_tokens=120)

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
    answering = [p for p in policy.phrasings("gender", "heldout")
                 if p[0] not in policy.privacy_refusing_openers]
    for attribute in ATTRIBUTES:
        labelled = [i for i in held if samples[i].labels.get(attribute) or
                    samples[i].extra.get(attribute)]
        prompts = [o + c for o, c in (rng.choice(answering if attribute == "gender" else [
            p for p in policy.phrasings(attribute, "heldout")
            if p[0] not in policy.privacy_refusing_openers]) for _ in labelled)]
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
