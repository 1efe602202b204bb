"""Each installed Debian TTS engine really speaks, with the labels and controls its voices
claim (gender from pitch, rate from duration, pitch factor from measured f0)."""

import re

import numpy as np
import pytest

from telltale.corpus.tts import (
    ESPEAK_ACCENTS,
    TTSError,
    Voice,
    available_voices,
    median_f0,
    resynthesize,
    synthesize,
)

VOICES = available_voices()
ENGINES = sorted({v.engine for v in VOICES})
PANGRAM = "The quick brown fox jumps over the lazy dog near the river bank."

pytestmark = pytest.mark.skipif(not VOICES, reason="no TTS engine (espeak-ng, flite, festival) "
                                                   "is installed")


def needs(engine):
    return pytest.mark.skipif(engine not in ENGINES, reason=f"{engine} is not installed")


def rms(audio):
    return float(np.sqrt(np.mean(np.asarray(audio, dtype=np.float64) ** 2)))


@pytest.mark.parametrize("f0", [85.0, 120.0, 210.0, 260.0])
def test_median_f0_recovers_the_pitch_of_a_harmonic_signal(f0):
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    # glottal-like source: decaying harmonics, a little noise, and a silent half second
    signal = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 12))
    signal = np.concatenate([np.zeros(8000), signal]) + 0.01 * rng.standard_normal(24000)
    assert abs(median_f0(signal) - f0) / f0 < 0.03
    assert np.isnan(median_f0(np.zeros(16000)))


def test_voice_catalogue_is_labelled():
    assert all(v.gender in ("male", "female") and v.accent for v in VOICES)
    assert len({(v.engine, v.voice) for v in VOICES}) == len(VOICES)
    with pytest.raises(TTSError, match="unknown TTS engine"):
        available_voices(("say",))


ESPEAK_BASES = sorted({v.base for v in VOICES if v.engine == "espeak-ng"})


@pytest.mark.parametrize("voice", [v for v in VOICES if v.engine != "espeak-ng"] + [
    next(v for v in VOICES if v.base == base) for base in ESPEAK_BASES],
    ids=lambda v: f"{v.engine}:{v.voice}")
def test_each_voice_speaks(voice):
    audio = synthesize(PANGRAM, voice)
    seconds = len(audio) / 16000
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert 2.0 < seconds < 8.0  # 13 words at 2-6 words per second
    assert rms(audio) > 0.02
    assert 60 < median_f0(audio) < 320


@pytest.mark.parametrize("base", ESPEAK_BASES)
def test_espeak_female_variants_are_higher_pitched_than_male(base):
    text = "Please tell me where the nearest station is."
    f0 = {v: median_f0(synthesize(text, v)) for v in VOICES if v.base == base}
    male = [f for v, f in f0.items() if v.gender == "male"]
    female = [f for v, f in f0.items() if v.gender == "female"]
    assert len(male) >= 5 and len(female) >= 5
    assert max(male) < 130 < 150 < min(female)


@needs("espeak-ng")
def test_espeak_accents_are_installed_as_catalogued():
    accents = {(v.accent, v.region) for v in VOICES if v.engine == "espeak-ng"}
    assert {("american", "general american"), ("british", "england"),
            ("scottish", "scotland")} <= accents
    assert set(ESPEAK_ACCENTS.values()) >= accents


@pytest.mark.parametrize("engine", ENGINES)
def test_rate_and_pitch_controls(engine):
    for voice in (v for v in VOICES if v.engine == engine and "+m" not in v.voice):
        slow = synthesize(PANGRAM, voice, rate=0.85)
        fast = synthesize(PANGRAM, voice, rate=1.2)
        assert len(slow) > 1.25 * len(fast), voice
        low = median_f0(synthesize(PANGRAM, voice, pitch=0.88))
        high = median_f0(synthesize(PANGRAM, voice, pitch=1.12))
        if voice.pitch_control:
            assert high > 1.12 * low, voice
        else:  # the label says fixed pitch: it must really be fixed
            assert abs(high - low) < 0.03 * low, voice
        if engine == "espeak-ng":
            break  # the espeak-ng variants share one pitch mechanism


def test_written_clip_is_16k_mono_pcm(tmp_path):
    import soundfile as sf

    out = tmp_path / "clip.wav"
    audio = synthesize("Hello there.", VOICES[0], out_path=out)
    info = sf.info(str(out))
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    assert info.frames == len(audio)


def test_errors_are_clear():
    with pytest.raises(TTSError, match="empty"):
        synthesize("  ", VOICES[0])
    with pytest.raises(TTSError, match="must be positive"):
        synthesize("hello", VOICES[0], rate=0)
    with pytest.raises(TTSError, match="unknown TTS engine 'say'"):
        synthesize("hello", Voice("say", "alex", "male", "american"))
    with pytest.raises(TTSError, match=r"timed out after 1e-06 s"):
        synthesize(PANGRAM * 20, VOICES[-1], timeout=1e-6)
    # espeak-ng and flite would silently speak with a default voice: refused up front
    for engine, name in (("espeak-ng", "gmw/en-US+nosuchvariant"), ("espeak-ng", "en-gb+f3"),
                         ("flite", "no_such_voice"), ("festival", "no_such_voice")):
        if engine in ENGINES:
            message = f"{engine} ({name}): this voice is not installed"
            with pytest.raises(TTSError, match=re.escape(message)):
                synthesize("hello", Voice(engine, name, "male", "american"))


def test_resynthesis_uses_another_speaker_and_is_seeded():
    original = next((v for v in VOICES if "+" in v.voice), VOICES[0])
    audio, voice = resynthesize("hello there", exclude_voice=original.voice, seed=1)
    assert voice.base != original.base and rms(audio) > 0.01
    assert resynthesize("hello there", original.voice, seed=1)[1] == voice
    picks = {resynthesize("hi", None, seed=s)[1] for s in range(8)}
    assert len(picks) > 1
    with pytest.raises(TTSError, match="no TTS voice other than"):
        resynthesize("hi", original.voice, seed=0, voices=[original])


@pytest.mark.parametrize("engine", ENGINES)
def test_synthesis_is_deterministic_and_text_is_never_an_option(engine):
    voice = next(v for v in VOICES if v.engine == engine)
    first = synthesize("-v minus signs are words here", voice, rate=1.1, pitch=0.9)
    second = synthesize("-v minus signs are words here", voice, rate=1.1, pitch=0.9)
    assert np.array_equal(first, second)
    assert len(first) / 16000 > 1.0 and rms(first) > 0.02
