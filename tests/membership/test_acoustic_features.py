"""The fast acoustic blind-baseline features against librosa, on real espeak-ng speech."""

from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from telltale.media.audio import load_audio
from telltale.membership import acoustic
from telltale.membership.acoustic import (
    DEFAULT_CONFIG,
    AcousticConfig,
    frame_features,
    librosa_series,
    series_names,
)
from telltale.membership.acoustic_utterance import (
    clip_features,
    extract_acoustic,
    feature_names,
    summarize,
    utterance_features,
)

SENTENCES = [
    ("en", 150, 40, "The committee will meet again on Thursday afternoon."),
    ("en-us", 190, 70, "Please bring the blue folder and two pencils."),
    ("en-gb-scotland", 130, 55, "Seven ships sailed quietly past the northern island."),
    ("en+f3", 170, 60, "A gentle rain fell over the market all morning."),
    ("en-gb-x-rp", 160, 30, "My brother bought a second hand bicycle yesterday."),
    ("en+m3", 140, 45, "The children laughed at the clever little dog."),
    ("en-us", 175, 50, "Numbers like twelve and ninety were written on the wall."),
    ("en-gb-x-gbclan", 155, 65, "Do you think the train will be late tonight?"),
]


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[Path]:
    """Eight espeak-ng sentences (22.05 kHz WAV, so decoding resamples them)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    folder = tmp_path_factory.mktemp("espeak")
    paths = []
    for i, (voice, rate, pitch, text) in enumerate(SENTENCES):
        path = folder / f"clip{i}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-p", str(pitch),
                        "-w", str(path), text], check=True, capture_output=True)
        paths.append(path)
    return paths


def assert_series_match(ours: dict[str, np.ndarray], ref: dict[str, np.ndarray],
                        rtol: float = 1e-4) -> None:
    """Same series, same frames, values equal to ``rtol`` of each series' largest value."""
    assert list(ours) == list(ref) == series_names()
    for name in ref:
        assert ours[name].shape == ref[name].shape, name
        scale = np.abs(ref[name]).max() if ref[name].size else 0.0
        np.testing.assert_allclose(ours[name], ref[name], rtol=0, atol=rtol * scale + 1e-12,
                                   err_msg=name)


def test_frame_series_match_librosa(clips):
    pytest.importorskip("librosa")
    for path in clips[:2]:
        y = load_audio(path)
        ours = frame_features(y)
        assert_series_match(ours, librosa_series(y))
        # speech has voiced frames, and their pitch is in the search range
        assert 20 < ours["f0"].size < y.size // DEFAULT_CONFIG.hop
        assert np.all((ours["f0"] >= DEFAULT_CONFIG.fmin) & (ours["f0"] <= DEFAULT_CONFIG.fmax))


def test_utterance_features_correlate_with_librosa(clips):
    pytest.importorskip("librosa")
    matrix, names, errors = extract_acoustic(clips, n_jobs=2)
    assert errors == {}
    assert names == feature_names() and matrix.shape == (len(clips), len(names))
    ref = []
    for path in clips:
        series = librosa_series(load_audio(path))
        framewise = np.vstack([series[name] for name in series_names()[:-1]])
        ref.append(np.concatenate([summarize(framewise).ravel(),
                                   summarize(series["f0"]).ravel()]))
    ref = np.array(ref)
    for j, name in enumerate(names):
        if np.ptp(ref[:, j]) == 0:  # constant across clips (e.g. a 0 Hz rolloff floor)
            np.testing.assert_allclose(matrix[:, j], ref[:, j], atol=1e-6, err_msg=name)
            continue
        r = np.corrcoef(matrix[:, j], ref[:, j])[0, 1]
        assert r >= 0.99, f"{name}: r = {r:.4f}"


@pytest.mark.filterwarnings("ignore:n_fft=512 is too large:UserWarning")
@pytest.mark.parametrize("size", [1, 100, 400, 700, 1500])
def test_clips_shorter_than_a_frame_match_librosa(size):
    """Shorter than the STFT frame (512) or the YIN frame (1024): the same frame count as
    librosa (1 + n // hop, centred, zero-padded) and the same values."""
    pytest.importorskip("librosa")
    t = np.arange(size) / DEFAULT_CONFIG.rate
    y = (0.3 * np.sin(2 * np.pi * 150 * t) + 0.1 * np.sin(2 * np.pi * 2100 * t)
         ).astype(np.float32)
    ours = frame_features(y)
    assert ours["rms"].shape == (1 + size // DEFAULT_CONFIG.hop,)
    assert_series_match(ours, librosa_series(y))
    assert np.isfinite(utterance_features(y)[:-5]).all()


def test_clipped_speech_matches_librosa(clips):
    """Speech driven 20 times into saturation: flat-topped, square-ish frames."""
    pytest.importorskip("librosa")
    y = np.clip(20.0 * load_audio(clips[2]), -1.0, 1.0).astype(np.float32)
    assert np.mean(np.abs(y) == 1.0) > 0.1
    assert_series_match(frame_features(y), librosa_series(y))


def test_silence_has_no_pitch_but_finite_spectral_features():
    y = np.zeros(DEFAULT_CONFIG.rate, dtype=np.float32)
    series = frame_features(y)
    assert series["f0"].size == 0
    assert all(np.isfinite(v).all() for k, v in series.items() if k != "f0")
    features = utterance_features(y)
    assert np.isnan(features[-5:]).all() and np.isfinite(features[:-5]).all()


def test_silence_matches_librosa():
    pytest.importorskip("librosa")
    y = np.zeros(3000, dtype=np.float32)
    y[1000:1400] = 0.5 * np.sin(np.arange(400) / 5.0)  # one burst between silences
    assert_series_match(frame_features(y), librosa_series(y))


def test_stereo_and_other_rates_are_decoded_upstream(tmp_path):
    """A 44.1 kHz stereo file gives the features of its 16 kHz mono mix (load_audio)."""
    import soundfile as sf

    rng = np.random.default_rng(0)
    t = np.arange(44100) / 44100
    left = 0.4 * np.sin(2 * np.pi * 180 * t) + 0.01 * rng.standard_normal(t.size)
    right = 0.2 * np.sin(2 * np.pi * 180 * t + 0.3)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.column_stack([left, right]), 44100, subtype="FLOAT")
    mono16k = load_audio(path)
    assert mono16k.size == 16000
    np.testing.assert_array_equal(clip_features(path), utterance_features(mono16k))
    f0_median = clip_features(path)[feature_names().index("f0_p50")]
    assert abs(f0_median - 180.0) < 2.0


def test_names_shape_and_serial_equals_parallel(clips):
    names = feature_names()
    assert len(names) == (DEFAULT_CONFIG.n_mfcc + 7) * 5 == len(set(names))
    assert names[0] == "mfcc0_mean" and names[-1] == "f0_p90"
    serial, _, _ = extract_acoustic(clips[:3], n_jobs=1)
    parallel, _, _ = extract_acoustic(clips[:3], n_jobs=2)
    np.testing.assert_array_equal(serial, parallel)
    assert np.isfinite(serial).all()


def test_bad_file_gives_an_error_entry_naming_it(clips, tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio")
    missing = tmp_path / "missing.wav"
    matrix, _, errors = extract_acoustic([clips[0], broken, missing, clips[1]], n_jobs=2)
    assert sorted(errors) == [1, 2]
    assert str(broken) in errors[1] and str(missing) in errors[2]
    assert np.isnan(matrix[[1, 2]]).all()
    assert np.isfinite(matrix[[0, 3]]).all()


def speech_like(seconds: float, seed: int) -> np.ndarray:
    """Voiced bursts with a gliding pitch between noise and silence, at 16 kHz."""
    rng = np.random.default_rng(seed)
    n = int(seconds * DEFAULT_CONFIG.rate)
    t = np.arange(n) / DEFAULT_CONFIG.rate
    pitch = 120 + 60 * np.sin(2 * np.pi * 0.7 * t)
    voiced = np.sin(2 * np.pi * np.cumsum(pitch) / DEFAULT_CONFIG.rate)
    gate = (np.sin(2 * np.pi * 2.5 * t) > 0).astype(float)
    return (0.5 * gate * voiced + 0.02 * (1 - gate) * rng.standard_normal(n)).astype(np.float32)


def test_blocks_and_reused_scratch_do_not_change_results(monkeypatch):
    """Frames are processed in blocks through reused scratch arrays: another block size,
    or another clip analysed in between, gives the same features."""
    a, b = speech_like(3.1, 0), speech_like(1.3, 1)
    first = utterance_features(a)
    utterance_features(b)
    np.testing.assert_array_equal(utterance_features(a), first)
    monkeypatch.setattr(acoustic, "_BLOCK", 7)
    np.testing.assert_allclose(utterance_features(a), first, rtol=1e-5, atol=1e-6)


def test_threads_get_their_own_scratch():
    signals = [speech_like(2.0 + 0.5 * i, i) for i in range(6)]
    serial = [utterance_features(y) for y in signals]
    with ThreadPoolExecutor(3) as pool:
        threaded = list(pool.map(utterance_features, signals * 3))
    for i, values in enumerate(threaded):
        np.testing.assert_array_equal(values, serial[i % len(signals)])


def test_float64_input_is_analysed_as_float32():
    y = speech_like(1.0, 2)
    np.testing.assert_array_equal(utterance_features(y.astype(np.float64)),
                                  utterance_features(y))


@pytest.mark.parametrize("scale", [1.0, 640.0])
@pytest.mark.parametrize("width", [16, 256, 272])
def test_cumsum_rows_is_a_scaled_cumsum(width, scale):
    x = np.random.default_rng(width).random((9, width), dtype=np.float32)
    out = np.empty_like(x)
    np.testing.assert_allclose(acoustic._cumsum_rows(x, out, scale=scale),
                               scale * np.cumsum(x, axis=1, dtype=np.float64), rtol=2e-6)


@pytest.mark.parametrize("frames", [0, 1, 2, 5, 423])
def test_summarize_is_mean_std_and_percentiles(frames):
    x = np.random.default_rng(frames).standard_normal((4, frames))
    out = summarize(x)
    assert out.shape == (4, 5)
    if frames == 0:
        assert np.isnan(out).all()
        return
    np.testing.assert_allclose(out, np.column_stack(
        [x.mean(axis=1), x.std(axis=1), np.percentile(x, [10, 50, 90], axis=1).T]),
        rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("changes", [{"n_fft": 511}, {"yin_frame": 1023},
                                     {"fmin": 10.0}, {"fmax": 9000.0}])
def test_inconsistent_configurations_are_refused(changes):
    with pytest.raises(ValueError):
        AcousticConfig(**changes)


def test_non_mono_or_empty_signals_are_refused():
    for y in (np.zeros(0, dtype=np.float32), np.zeros((2, 800), dtype=np.float32)):
        with pytest.raises(ValueError):
            frame_features(y)
