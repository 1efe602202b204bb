import numpy as np
import pytest
import soundfile as sf

from telltale.media.audio import load_audio, resample
from telltale.media.conditions import apply_condition
from telltale.media.errors import MediaError
from telltale.media.image import load_image


def test_decodes_formats_to_16k_mono_float32(media_dir):
    for name, seconds in (("a.wav", 1.0), ("b.flac", 0.5), ("c.ogg", 0.7)):
        audio = load_audio(media_dir / name)
        assert audio.dtype == np.float32 and audio.ndim == 1
        assert len(audio) == pytest.approx(seconds * 16000, abs=40)
        assert 0.15 < np.abs(audio).max() < 0.4


def test_mp3_decodes_when_libsndfile_can_write_it(media_dir):
    path = media_dir / "e.mp3"
    try:
        sf.write(path, np.sin(np.arange(16000) / 10).astype(np.float32) * 0.3, 16000,
                 format="MP3")
    except (sf.LibsndfileError, TypeError, ValueError):
        pytest.skip("this libsndfile build has no MP3 encoder")
    assert len(load_audio(path)) == pytest.approx(16000, abs=1200)


def test_resampling_keeps_a_tone_at_its_frequency():
    rate = 44100
    t = np.arange(rate) / rate
    out = resample(np.sin(2 * np.pi * 1000 * t), rate, 16000)
    spectrum = np.abs(np.fft.rfft(out))
    assert np.argmax(spectrum) == pytest.approx(1000, abs=2)  # 1 Hz bins over 1 s


@pytest.mark.parametrize("name, reason", [("missing.wav", "file not found"),
                                          ("empty.wav", "file is empty"),
                                          ("text.wav", "cannot decode audio")])
def test_bad_audio_names_the_file(media_dir, name, reason):
    with pytest.raises(MediaError, match=reason) as err:
        load_audio(media_dir / name)
    assert name in str(err.value)


def test_image_loading_and_errors(media_dir):
    assert load_image(media_dir / "d.png").size == (32, 24)
    with pytest.raises(MediaError, match="cannot decode image"):
        load_image(media_dir / "text.wav")


def test_conditions_keep_length_and_noise_is_seeded():
    audio = np.ones(1000, dtype=np.float32)
    assert not apply_condition(audio, "silence").any()
    n1 = apply_condition(audio, "noise", seed=3, key="s1", noise_level=0.1)
    n2 = apply_condition(audio, "noise", seed=3, key="s1", noise_level=0.1)
    n3 = apply_condition(audio, "noise", seed=3, key="s2", noise_level=0.1)
    assert n1.shape == audio.shape and np.array_equal(n1, n2) and not np.array_equal(n1, n3)
    assert np.std(n1) == pytest.approx(0.1, rel=0.15)
    with pytest.raises(ValueError, match="unknown media condition"):
        apply_condition(audio, "reverb")
