"""Each installed Debian TTS engine really speaks, with the labels its voices claim."""

import numpy as np
import pytest

from telltale.corpus.tts import TTSError, Voice, available_voices, resynthesize, synthesize

VOICES = available_voices()
ENGINES = sorted({v.engine for v in VOICES})


def median_f0(audio: np.ndarray, rate: int = 16000) -> float:
    """Median autocorrelation pitch over voiced 40 ms frames (70-400 Hz)."""
    frame, hop = 640, 320
    f0s = []
    for start in range(0, len(audio) - frame, hop):
        x = audio[start:start + frame] - audio[start:start + frame].mean()
        if np.sqrt(np.mean(x**2)) < 0.02:
            continue
        ac = np.correlate(x, x, "full")[frame - 1:]
        lo, hi = rate // 400, rate // 70
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.3 * ac[0]:
            f0s.append(rate / lag)
    return float(np.median(f0s))


@pytest.mark.parametrize("engine", ENGINES)
def test_each_engine_speaks(engine):
    voice = next(v for v in VOICES if v.engine == engine)
    audio = synthesize("The quick brown fox jumps over the lazy dog.", voice)
    seconds = len(audio) / 16000
    assert audio.dtype == np.float32 and 1.0 < seconds < 6.0
    assert np.sqrt(np.mean(audio**2)) > 0.01


def test_espeak_female_variants_are_higher_pitched_than_male():
    if "espeak-ng" not in ENGINES:
        pytest.skip("espeak-ng is not installed")
    text = "Please tell me where the nearest station is."
    male = synthesize(text, Voice("espeak-ng", "en-us+m3", "male", "american"))
    female = synthesize(text, Voice("espeak-ng", "en-us+f3", "female", "american"))
    assert median_f0(female) > 1.3 * median_f0(male)


def test_rate_changes_duration():
    voice = VOICES[0]
    slow = synthesize("one two three four five six", voice, rate=0.8)
    fast = synthesize("one two three four five six", voice, rate=1.25)
    assert len(slow) > 1.2 * len(fast)


def test_errors_are_clear():
    with pytest.raises(TTSError, match="empty"):
        synthesize("  ", VOICES[0])
    with pytest.raises(TTSError, match="unknown TTS engine"):
        synthesize("hello", Voice("say", "alex", "male", "american"))
    if "festival" in ENGINES:
        with pytest.raises(TTSError, match=r"festival \(no_such_voice\) failed"):
            synthesize("hello", Voice("festival", "no_such_voice", "male", "x"))


def test_resynthesis_uses_another_voice():
    audio, voice = resynthesize("hello there", exclude_voice=VOICES[0].voice, seed=1)
    assert voice.voice != VOICES[0].voice and len(audio) > 1000
