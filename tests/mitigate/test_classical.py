"""The classical attacker (GE2E speaker verification, EER) and the recogniser's WER, on
real TTS speech with the real Resemblyzer and PocketSphinx models."""

import numpy as np
import pytest

from telltale.corpus.tts import ENGINES, available_voices, synthesize
from telltale.mitigate.asr import (
    transcribe,
    wer_difference,
    wer_estimate,
    word_errors,
    write_task_lm,
)
from telltale.mitigate.speaker import (
    eer_estimate,
    embed,
    equal_error_rate,
    split_enrolment,
    trials,
)

SENTENCES = ["the weather is cold in the morning", "please call my sister after work",
             "we will drive to the river on sunday", "the office opens at nine today"]


def test_eer_of_separated_and_identical_scores():
    assert equal_error_rate([0.9, 0.8, 0.7], [0.1, 0.2, 0.3]) == 0.0
    assert equal_error_rate([0.5, 0.5], [0.5, 0.5]) == pytest.approx(0.5)
    # one target below one non-target out of four each: miss = false alarm = 1/4
    assert equal_error_rate([0.9, 0.8, 0.7, 0.2], [0.1, 0.15, 0.3, 0.75]) \
        == pytest.approx(0.25)


def test_eer_of_overlapping_gaussians_matches_theory():
    """Two unit-variance Gaussians d apart have EER = Phi(-d/2)."""
    from scipy.stats import norm

    rng = np.random.default_rng(0)
    target, nontarget = rng.normal(2.0, 1.0, 20000), rng.normal(0.0, 1.0, 20000)
    assert equal_error_rate(target, nontarget) == pytest.approx(norm.cdf(-1.0), abs=0.01)


def test_enrolment_split_and_trials():
    speakers = {f"a{i}": "A" for i in range(4)} | {f"b{i}": "B" for i in range(3)} | {"c0": "C"}
    enrol, trial = split_enrolment(speakers, seed=1)
    assert sorted(enrol + trial) == sorted(speakers)
    assert sum(speakers[u] == "A" for u in enrol) == 2 and "c0" in trial
    vectors = {"A": np.array([1.0, 0.0]), "B": np.array([0.0, 1.0]), "C": np.array([1.0, 1.0])}
    emb = {u: vectors[s] for u, s in speakers.items()}
    result = trials({u: emb[u] for u in enrol}, {u: emb[u] for u in trial}, speakers)
    assert result.scores.size == len(trial) * 2  # A and B are enrolled, C only tested
    assert result.target.sum() == sum(speakers[u] in ("A", "B") for u in trial)
    estimate = eer_estimate(result, n_boot=50)
    assert estimate["value"] == 0.0 and estimate["speakers"] == 2


@pytest.fixture(scope="module")
def two_voices():
    voices = [v for v in available_voices(ENGINES) if v.engine == "espeak-ng"]
    male = next(v for v in voices if v.gender == "male")
    female = next(v for v in voices if v.gender == "female" and v.accent != male.accent)
    return {name: [synthesize(s, voice) for s in SENTENCES]
            for name, voice in (("m", male), ("f", female))}


def test_ge2e_links_a_voice_and_tells_two_apart(two_voices):
    vectors = {f"{name}{i}": embed(clip) for name, clips in two_voices.items()
               for i, clip in enumerate(clips)}
    assert all(v.shape == (256,) for v in vectors.values())
    same = float(vectors["m0"] @ vectors["m1"])
    other = float(vectors["m0"] @ vectors["f1"])
    assert same > other + 0.05
    speakers = {u: u[0] for u in vectors}
    enrol, trial = split_enrolment(speakers)
    result = trials({u: vectors[u] for u in enrol}, {u: vectors[u] for u in trial}, speakers)
    assert eer_estimate(result, n_boot=20)["value"] <= 0.25


def test_silence_and_too_little_speech_are_refused():
    with pytest.raises(ValueError, match="silent"):
        embed(np.zeros(16000, dtype=np.float32))
    click = np.zeros(16000, dtype=np.float32)
    click[8000:8040] = 0.5
    with pytest.raises(ValueError, match="too little speech"):
        embed(click)


@pytest.mark.parametrize("reference, hypothesis, errors", [
    ("the cat sat", "the cat sat", 0), ("the cat sat", "the bat sat", 1),
    ("the cat sat", "the sat", 1), ("the cat sat", "the cat sat down", 1),
    ("The cat, sat!", "the cat sat", 0), ("well-known fact", "well known fact", 0),
    ("a b c d", "", 4), ("", "extra words", 2)])
def test_word_errors(reference, hypothesis, errors):
    assert word_errors(reference, hypothesis)[0] == errors


def test_wer_interval_and_paired_change():
    estimate = wer_estimate([1, 0, 2, 1], [5, 5, 5, 5], n_boot=200)
    assert estimate["value"] == pytest.approx(0.2)
    assert estimate["low"] <= 0.2 <= estimate["high"]
    change = wer_difference([0] * 20, [1] * 20, [5] * 20, n_boot=200)
    assert change["diff"] == pytest.approx(0.2) and change["low"] == pytest.approx(0.2)
    assert change["p"] == pytest.approx(1 / 201)


def test_recogniser_with_a_task_model_reads_tts_speech(tmp_path, two_voices):
    lm = write_task_lm(SENTENCES, tmp_path / "task.arpa")
    errors = [word_errors(s, transcribe(clip, lm)) for s, clip in
              zip(SENTENCES, two_voices["m"], strict=True)]
    wer = sum(e for e, _ in errors) / sum(n for _, n in errors)
    assert wer < 0.5
    with pytest.raises(ValueError, match="no transcript"):
        write_task_lm(["", "  "], tmp_path / "empty.arpa")
