"""Voice defences on real signals: McAdams (VoicePrivacy B2), sox pitch shift, TTS."""

import numpy as np
import pytest
from scipy.linalg import solve_toeplitz
from scipy.signal import freqz, lfilter

from telltale.mitigate.voice import DefenceError, VoiceDefence, mcadams, pitch_shift

RATE = 16_000


def _vowel(pole_angle: float, seconds: float = 0.5, f0: float = 120.0) -> np.ndarray:
    """A pulse train through one resonance at ``pole_angle`` radians (a one-formant vowel)."""
    n = int(RATE * seconds)
    pulses = np.zeros(n)
    pulses[:: int(RATE / f0)] = 1.0
    pole = 0.97 * np.exp(1j * pole_angle)
    coefs = np.real(np.poly([pole, np.conj(pole)]))
    return (lfilter([1.0], coefs, pulses) * 0.1).astype(np.float32)


def _formant_angle(x: np.ndarray, order: int = 12) -> float:
    """Angle (radians) of the peak of the signal's order-12 LPC spectral envelope."""
    r = np.correlate(x, x, "full")[x.size - 1:x.size + order].astype(float)
    coefs = np.concatenate(([1.0], -solve_toeplitz(r[:order], r[1:])))
    angles, response = freqz([1.0], coefs, worN=4096)
    return float(angles[np.argmax(np.abs(response))])


def test_alpha_one_rebuilds_the_clip():
    x = _vowel(0.4)
    y = mcadams(x, 1.0)
    assert np.max(np.abs(y - x)) < 1e-4 * np.max(np.abs(x))


@pytest.mark.parametrize("angle, alpha", [(0.3, 0.8), (0.3, 0.6), (1.5, 0.8), (2.0, 0.9)])
def test_formant_moves_to_angle_to_the_power_alpha(angle, alpha):
    """Patino et al. 2021: a pole at angle phi moves to phi ** alpha (low formants rise,
    high ones fall, for alpha < 1)."""
    y = mcadams(_vowel(angle), alpha)
    measured = _formant_angle(y)
    assert _formant_angle(_vowel(angle)) == pytest.approx(angle, abs=0.01)
    assert measured == pytest.approx(angle ** alpha, abs=0.02)


def test_peak_is_kept():
    x = _vowel(0.5)
    assert np.max(np.abs(mcadams(x, 0.7))) == pytest.approx(np.max(np.abs(x)), rel=1e-5)


def test_a_clip_shorter_than_one_lpc_frame_is_named():
    with pytest.raises(DefenceError, match="shorter than one 20 ms LPC frame"):
        mcadams(np.ones(100, dtype=np.float32) * 0.1, 0.8)


def test_a_silent_clip_is_named():
    with pytest.raises(DefenceError, match="silent"):
        mcadams(np.zeros(RATE, dtype=np.float32), 0.8)


def test_silent_stretches_stay_silent():
    x = np.concatenate([np.zeros(RATE // 2, np.float32), _vowel(0.4)])
    y = mcadams(x, 0.8)
    assert np.all(y[: RATE // 2 - 320] == 0)
    assert np.max(np.abs(y[RATE // 2:])) > 0


@pytest.mark.parametrize("semitones", [12, -12, 4])
def test_pitch_shift_moves_a_tone_and_keeps_the_length(semitones):
    t = np.arange(RATE) / RATE
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    shifted = pitch_shift(tone, semitones)
    assert abs(shifted.size - tone.size) <= 2
    middle = shifted[RATE // 4: 3 * RATE // 4]
    spectrum = np.abs(np.fft.rfft(middle * np.hanning(middle.size)))
    peak = np.argmax(spectrum) * RATE / middle.size
    assert peak == pytest.approx(220 * 2 ** (semitones / 12), rel=0.03)


def test_defences_are_seeded_per_clip_and_record_their_draws():
    x = _vowel(0.4, seconds=0.3)
    first = VoiceDefence("mcadams").apply(x, key="a", seed=0)
    again = VoiceDefence("mcadams").apply(x, key="a", seed=0)
    other = VoiceDefence("mcadams").apply(x, key="b", seed=0)
    assert np.array_equal(first[0], again[0]) and first[1] == again[1]
    assert 0.5 <= first[1]["alpha"] <= 0.9 and first[1] != other[1]
    assert VoiceDefence("mcadams:0.8").apply(x, key="a", seed=0)[1] == {"alpha": 0.8}
    signs = {VoiceDefence("pitch").apply(x, key=str(k), seed=0)[1]["semitones"]
             for k in range(12)}
    assert signs == {4.0, -4.0}


def test_tts_needs_a_transcript():
    with pytest.raises(DefenceError, match="no transcript"):
        VoiceDefence("tts").apply(_vowel(0.4), key="a", seed=0, text="")


def test_tts_speaks_the_words_in_another_voice():
    audio, params = VoiceDefence("tts").apply(_vowel(0.4), key="a", seed=0,
                                              text="hello there", voice="gmw/en-US+m3")
    assert audio.size > RATE // 4 and not params["voice"].startswith("espeak-ng:gmw/en-US+")


@pytest.mark.parametrize("spec, problem", [
    ("whisper", "unknown voice defence"), ("mcadams:x", "not a number"),
    ("mcadams:0", "alpha"), ("pitch:0", "semitones"), ("tts:2", "no strength")])
def test_bad_specs_are_refused(spec, problem):
    with pytest.raises(ValueError, match=problem):
        VoiceDefence(spec)
