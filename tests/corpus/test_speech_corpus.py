"""The synthetic speech corpus: labelled, loadable, balanced and deterministic."""

import re
from collections import Counter

import pytest

from telltale.corpus.speech import build_speech_corpus, make_sentences, plan_clips
from telltale.corpus.tts import Voice, available_voices
from telltale.digest import file_sha256
from telltale.manifest import load_manifest
from telltale.media.audio import load_audio

VOICES = available_voices()
pytestmark = pytest.mark.skipif(not VOICES, reason="no TTS engine is installed")
COLUMNS = ("id", "audio", "text", "dataset", "gender", "accent", "engine", "voice", "rate",
           "pitch", "speaker")


def test_small_corpus_is_labelled_loadable_and_deterministic(tmp_path):
    manifest = build_speech_corpus(tmp_path / "a", 8, seed=3)
    header = manifest.read_text().splitlines()[0].split(",")
    assert set(COLUMNS) <= set(header)
    samples, problems = load_manifest(manifest, require=("audio", "text", "accent", "speaker"),
                                      labels={"gender": ["male", "female"]})
    assert not problems and len(samples) == 8
    assert {s.labels["gender"] for s in samples} == {"male", "female"}
    for s in samples:
        assert s.dataset == f"tts-{s.extra['engine']}"
        assert s.extra["speaker"] == (f"{s.extra['engine']}:{s.extra['voice']}:"
                                      f"p{float(s.extra['pitch']):.2f}")
        audio = load_audio(s.media)
        assert abs(len(audio) / 16000 - float(s.extra["duration"])) < 0.01
        assert 60 < float(s.extra["f0_hz"]) < 320
        assert 0.85 <= float(s.extra["rate"]) <= 1.2

    again = build_speech_corpus(tmp_path / "b", 8, seed=3, jobs=1)
    assert manifest.read_text() == again.read_text()  # paths are relative to the manifest
    assert ([file_sha256(tmp_path / "a" / "audio" / f"{s.id}.wav") for s in samples] ==
            [file_sha256(tmp_path / "b" / "audio" / f"{s.id}.wav") for s in samples])
    other = build_speech_corpus(tmp_path / "c", 8, seed=4)
    assert not {s.text for s in load_manifest(other)[0]} & {s.text for s in samples}


def test_voice_assignment_balances_gender_and_accent():
    plans = plan_clips(80, VOICES, seed=0)
    groups = Counter((p.voice.gender, p.voice.accent) for p in plans)
    assert len(groups) == len({(v.gender, v.accent) for v in VOICES})
    assert max(groups.values()) - min(groups.values()) <= 1
    # engines take turns inside a group
    engines = {v.engine for v in VOICES if (v.gender, v.accent) == ("male", "american")}
    used = {p.voice.engine for p in plans if (p.voice.gender, p.voice.accent) ==
            ("male", "american")}
    assert used == engines
    # one pitch level per voice: a voice at a level is one speaker
    levels = {}
    for p in plans:
        assert levels.setdefault(p.voice, p.pitch) == p.pitch
        if not p.voice.pitch_control:
            assert p.pitch == 1.0
    assert [p.id for p in plans] == [p.id for p in plan_clips(80, VOICES, seed=0)]


def test_a_failing_voice_loses_its_clips_not_the_corpus(tmp_path):
    good = next(v for v in VOICES if v.gender == "male")
    broken = Voice(good.engine, "no-such-voice", "female", good.accent)
    manifest = build_speech_corpus(tmp_path, 6, seed=0, voices=[good, broken])
    samples, _ = load_manifest(manifest)
    assert len(samples) == 3 and {s.extra["voice"] for s in samples} == {good.voice}


def test_sentences_are_distinct_sized_and_stable():
    sentences = make_sentences(300, seed=0)
    assert len(set(sentences)) == 300
    assert all(6 <= len(s.split()) <= 16 for s in sentences)
    assert not any(re.search(r"\d", s) for s in sentences)
    assert make_sentences(20, seed=0) == sentences[:20]
    assert make_sentences(20, seed=1) != sentences[:20]


def test_sentences_do_not_depend_on_the_clock(monkeypatch):
    """Faker's day and month names come from a random date up to *now*: a corpus built
    a day later would read differently. The builder must not ask Faker for them."""
    from faker.providers.date_time import Provider

    before = make_sentences(200, seed=3)
    assert any(day in s for s in before for day in ("Monday", "Friday", "Sunday"))

    def clock_bound(*args, **kwargs):
        raise AssertionError("a clock-dependent Faker provider was used")

    monkeypatch.setattr(Provider, "day_of_week", clock_bound)
    monkeypatch.setattr(Provider, "month_name", clock_bound)
    assert make_sentences(200, seed=3) == before
