"""``telltale corpus speech``: a labelled speech corpus made offline with real TTS engines.

Sentences come from Faker (seeded): half plain English word sequences, half everyday
sentences about people, places and work, the kind of content a privacy audit asks about.
Voices are assigned so that (gender, accent) groups are balanced as far as the installed
voices allow, and engines are rotated inside each group. Each voice speaks at one of three
pitch levels, a "speaker" being a (voice, pitch level) pair, while the speaking rate is
drawn per clip. Every clip's labels, the rate and pitch actually used, and the median f0
measured from the written audio go into the manifest.
"""

from __future__ import annotations

import random
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telltale.console import log, progress
from telltale.corpus.tts import ENGINES, TTSError, Voice, available_voices, median_f0, synthesize
from telltale.manifest import write_manifest

PITCH_LEVELS = (0.88, 1.0, 1.12)
RATE_RANGE = (0.85, 1.2)
MIN_WORDS, MAX_WORDS = 6, 16

# Sentences about people and places; the fields are Faker providers. No digits, so every
# engine reads them the same way and transcripts stay exact.
TEMPLATES = (
    "{first_name} {last_name} moved to {city} last {month_name} to work as {job}.",
    "Please ask {first_name} to call me back before {day_of_week} evening.",
    "The meeting with {company} has been moved to {day_of_week} morning.",
    "My neighbour {first_name} grew up in {state} and still misses the {safe_color_name} hills.",
    "I heard that {first_name} left {company} to start a new life in {city}.",
    "We will drive from {city} to {state} on {day_of_week} if the weather holds.",
    "Could you send the letter to {first_name} {last_name} at the office in {city}?",
    "{first_name} said the {safe_color_name} car outside belongs to someone from {company}.",
    "Every {month_name} my friend {first_name} visits our grandparents in {state}.",
    "The {job} from {city} starts on {day_of_week} and needs a desk near the window.",
)


# Faker draws day and month names from a random date between 1970 and *now*, so the same
# seed gives other names as the clock moves on; these are drawn from fixed lists instead.
CALENDAR_FIELDS = {
    "day_of_week": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
                    "Sunday"),
    "month_name": ("January", "February", "March", "April", "May", "June", "July",
                   "August", "September", "October", "November", "December"),
}


def make_sentences(n: int, seed: int, min_words: int = MIN_WORDS,
                   max_words: int = MAX_WORDS) -> list[str]:
    """Distinct English sentences for a speech corpus.

    Parameters
    ----------
    n : int
        How many sentences.
    seed : int
        Seeds Faker and the choice between word sequences and templates.
    min_words, max_words : int
        Inclusive bounds on the number of words.

    Returns
    -------
    list of str
        ``n`` distinct sentences without digits; the same list for the same seed and
        Faker version, and the first ``k`` of them do not depend on ``n``.
    """
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[str] = []
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 50 * n + 1000:
            raise RuntimeError(f"could only make {len(out)} distinct sentences of {n}")
        if rng.random() < 0.5:
            sentence = fake.sentence(nb_words=rng.randint(min_words, max_words),
                                     variable_nb_words=False)
        else:
            template = rng.choice(TEMPLATES)
            fields = {name: (fake.random_element(CALENDAR_FIELDS[name])
                             if name in CALENDAR_FIELDS else getattr(fake, name)())
                      for name in re.findall(r"{(\w+)}", template)}
            if "job" in fields:  # Faker jobs read like "Engineer, civil (contracting)"
                job = re.sub(r"\s*\(.*?\)", "", fields["job"].split(",")[0]).lower()
                fields["job"] = ("an " if job[:1] in "aeiou" else "a ") + job
            sentence = template.format(**fields)
        words = len(sentence.split())
        if (sentence in seen or not min_words <= words <= max_words
                or re.search(r"\d", sentence) or not sentence.isascii()):
            continue
        seen.add(sentence)
        out.append(sentence)
    return out


@dataclass(frozen=True)
class ClipPlan:
    """What one clip will be: its id, words, voice, rate and pitch factor."""

    id: str
    text: str
    voice: Voice
    rate: float
    pitch: float

    @property
    def speaker(self) -> str:
        """A stable speaker id: the voice and its pitch level."""
        return f"{self.voice.engine}:{self.voice.voice}:p{self.pitch:.2f}"


def plan_clips(n: int, voices: list[Voice], seed: int,
               words: tuple[int, int] = (MIN_WORDS, MAX_WORDS)) -> list[ClipPlan]:
    """Assign sentences, voices, rates and pitches to ``n`` clips, deterministically.

    Clips cycle over the (gender, accent) groups in a seeded order; inside a group the
    engines take turns and the voice within an engine is drawn at random. The pitch level
    is fixed per voice (drawn once), so that a voice at a level is one speaker; voices
    whose pitch the engine cannot set stay at 1.0.

    Parameters
    ----------
    n : int
        Number of clips.
    voices : list of Voice
        The voices to use.
    seed : int
        Seed for sentences and assignment.
    words : (int, int)
        Inclusive bounds on the words per sentence.

    Returns
    -------
    list of ClipPlan
    """
    if not voices:
        raise TTSError("no voices to synthesise with")
    rng = random.Random(seed)
    groups: dict[tuple[str, str], dict[str, list[Voice]]] = {}
    for voice in voices:
        groups.setdefault((voice.gender, voice.accent), {}).setdefault(
            voice.engine, []).append(voice)
    order = sorted(groups)
    rng.shuffle(order)
    turns = dict.fromkeys(order, 0)
    levels = {v: (rng.choice(PITCH_LEVELS) if v.pitch_control else 1.0) for v in voices}
    sentences = make_sentences(n, seed, *words)
    plans = []
    for i, text in enumerate(sentences):
        key = order[i % len(order)]
        engines = sorted(groups[key])
        engine = engines[turns[key] % len(engines)]
        turns[key] += 1
        voice = rng.choice(groups[key][engine])
        rate = round(rng.uniform(*RATE_RANGE), 3)
        plans.append(ClipPlan(f"tts{seed}-{i:05d}", text, voice, rate, levels[voice]))
    return plans


def _synthesise_clip(plan: ClipPlan, audio_dir: Path) -> dict[str, Any] | None:
    """Synthesise one clip to ``audio_dir/<id>.wav``; its manifest row, or None (logged)
    when the engine fails."""
    path = audio_dir / f"{plan.id}.wav"
    try:
        audio = synthesize(plan.text, plan.voice, plan.rate, plan.pitch, out_path=path)
    except TTSError as exc:
        log.warning("clip %s skipped: %s", plan.id, exc)
        return None
    f0 = median_f0(audio)
    return {"id": plan.id, "audio": str(path.resolve()), "text": plan.text,
            "dataset": f"tts-{plan.voice.engine}", "gender": plan.voice.gender,
            "accent": plan.voice.accent, "region": plan.voice.region,
            "engine": plan.voice.engine, "voice": plan.voice.voice, "rate": plan.rate,
            "pitch": plan.pitch, "speaker": plan.speaker,
            "f0_hz": "" if f0 != f0 else round(f0, 1),
            "duration": round(len(audio) / 16000, 3)}


def build_speech_corpus(out_dir: str | Path, n_clips: int, seed: int = 0,
                        engines: tuple[str, ...] | list[str] = ENGINES, jobs: int = 2,
                        voices: list[Voice] | None = None,
                        words: tuple[int, int] = (MIN_WORDS, MAX_WORDS)) -> Path:
    """Synthesise a labelled speech corpus and write its manifest.

    Parameters
    ----------
    out_dir : str or Path
        Output folder; clips go to ``out_dir/audio/<id>.wav`` (16 kHz mono 16-bit),
        the manifest to ``out_dir/manifest.csv``. Existing clips of the same ids are
        overwritten.
    n_clips : int
        Number of clips to plan.
    seed : int
        Same seed, same sentences, voices, rates and pitches (and the same audio bytes,
        as the three engines are deterministic).
    engines : sequence of str
        Which TTS engines to use (those installed among them).
    jobs : int
        Clips synthesised at once (threads; the work is in the engine subprocesses).
    voices : list of Voice, optional
        Use exactly these voices instead of probing ``engines``.
    words : (int, int)
        Inclusive bounds on the words per sentence (short ones make short clips; below
        about ten words only Faker's word sequences fit, as the templates are longer).

    Returns
    -------
    Path
        The manifest. Columns: id, audio, text, dataset (``tts-<engine>``), gender,
        accent, region, engine, voice, rate, pitch, speaker, f0_hz (median f0 measured
        from the clip), duration (seconds).

    Raises
    ------
    TTSError
        If no voice is installed for ``engines`` or every clip failed. A single failed
        clip is logged and left out.
    """
    if n_clips < 1:
        raise ValueError(f"n_clips must be at least 1 (got {n_clips})")
    out_dir = Path(out_dir)
    audio_dir = out_dir / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    voices = available_voices(tuple(engines)) if voices is None else list(voices)
    if not voices:
        raise TTSError(f"none of the TTS engines {', '.join(engines)} is installed "
                       "(apt-get install espeak-ng flite festival)")
    plans = plan_clips(n_clips, voices, seed, words)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(progress(pool.map(lambda p: _synthesise_clip(p, audio_dir), plans),
                                total=len(plans), desc="synthesising"))
    rows = [r for r in results if r is not None]
    elapsed = time.perf_counter() - started
    if not rows:
        raise TTSError(f"all {len(plans)} clips failed to synthesise (see the warnings)")
    log.info("synthesised %d of %d clips in %.1f s (%.2f clips/s)", len(rows), len(plans),
             elapsed, len(rows) / max(elapsed, 1e-9))
    return write_manifest(out_dir / "manifest.csv", rows)
