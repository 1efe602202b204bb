"""``telltale corpus speech``: a labelled speech corpus made offline with real TTS engines.

Sentences come from Faker (seeded). Voices are assigned round-robin over a seeded
shuffle so that gender and accent are balanced as far as the installed voices allow;
speaking rate and pitch are drawn per clip. Every clip's labels are in the manifest.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from telltale.console import log, progress
from telltale.corpus.tts import ENGINES, TTSError, Voice, available_voices, synthesize
from telltale.manifest import write_manifest


def make_sentences(n: int, seed: int, min_words: int = 6, max_words: int = 16) -> list[str]:
    """``n`` distinct English sentences, the same for the same seed."""
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        sentence = fake.sentence(nb_words=rng.randint(min_words, max_words),
                                 variable_nb_words=False)
        if sentence not in seen:
            seen.add(sentence)
            out.append(sentence)
    return out


def _balanced_voices(voices: list[Voice], n: int, seed: int) -> list[Voice]:
    """Cycle over (gender, accent) groups so labels are as balanced as the voices allow."""
    rng = random.Random(seed)
    groups: dict[tuple[str, str], list[Voice]] = {}
    for voice in voices:
        groups.setdefault((voice.gender, voice.accent), []).append(voice)
    keys = sorted(groups)
    rng.shuffle(keys)
    picks = []
    for i in range(n):
        group = groups[keys[i % len(keys)]]
        picks.append(group[rng.randrange(len(group))])
    return picks


def build_speech_corpus(out_dir: str | Path, n_clips: int, seed: int = 0,
                        engines: tuple[str, ...] = ENGINES, jobs: int = 2) -> Path:
    """Synthesise ``n_clips`` labelled clips into ``out_dir/audio`` and write
    ``out_dir/manifest.csv``; returns the manifest path. A clip that fails to synthesise
    is logged and left out."""
    out_dir = Path(out_dir)
    (out_dir / "audio").mkdir(parents=True, exist_ok=True)
    voices = available_voices(tuple(engines))
    if not voices:
        raise TTSError(f"none of the TTS engines {', '.join(engines)} is installed "
                       "(apt-get install espeak-ng flite festival)")
    sentences = make_sentences(n_clips, seed)
    picks = _balanced_voices(voices, n_clips, seed)
    rng = random.Random(seed + 1)
    plan = [(f"tts{seed}-{i:05d}", text, voice, round(rng.uniform(0.8, 1.25), 3),
             round(rng.uniform(0.8, 1.2), 3)) for i, (text, voice) in
            enumerate(zip(sentences, picks, strict=True))]

    def make(item: tuple[str, str, Voice, float, float]) -> dict[str, Any] | None:
        clip_id, text, voice, rate, pitch = item
        path = out_dir / "audio" / f"{clip_id}.wav"
        try:
            if not path.exists():
                synthesize(text, voice, rate, pitch, out_path=path)
        except TTSError as exc:
            log.warning("clip %s skipped: %s", clip_id, exc)
            return None
        pitch_label = pitch if voice.engine != "festival" else 1.0
        return {"id": clip_id, "audio": str(path.resolve()), "text": text,
                "dataset": f"tts-{voice.engine}", "gender": voice.gender,
                "accent": voice.accent, "engine": voice.engine, "voice": voice.voice,
                "rate": rate, "pitch": pitch_label,
                "speaker": f"{voice.engine}:{voice.voice}:{round(pitch_label, 1)}"}

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        rows = [r for r in progress(pool.map(make, plan), total=len(plan), desc="synthesising")
                if r is not None]
    elapsed = time.perf_counter() - started
    log.info("synthesised %d clips in %.1fs (%.1f clips/s)", len(rows), elapsed,
             len(rows) / max(elapsed, 1e-9))
    return write_manifest(out_dir / "manifest.csv", rows)
