"""The classical attacker (GE2E speaker verification, EER) and the recogniser's WER, on
real TTS speech with the real Resemblyzer and PocketSphinx models."""

import numpy as np
import pytest

from telltale.corpus.tts import ENGINES, available_voices, synthesize
from telltale.mitigate.asr import heldout_lms, transcribe, write_task_lm
from telltale.mitigate.speaker import (
    eer_estimate,
    embed,
    equal_error_rate,
    semi_informed_trials,
    split_enrolment,
    trial_rows,
    trials,
)
from telltale.wer import word_errors

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


def test_recogniser_with_a_task_model_reads_tts_speech(tmp_path, two_voices):
    lm = write_task_lm(SENTENCES, tmp_path / "task.arpa")
    errors = [word_errors(s, transcribe(clip, lm)) for s, clip in
              zip(SENTENCES, two_voices["m"], strict=True)]
    wer = sum(e for e, _ in errors) / sum(n for _, n in errors)
    assert wer < 0.5
    with pytest.raises(ValueError, match="no transcript"):
        write_task_lm(["", "  "], tmp_path / "empty.arpa")


def _voices(seed: int, speakers: int = 20, utterances: int = 6, nuisance: float = 0.0):
    """Embeddings of ``speakers`` voices (half female, the genders far apart), with a
    defence's ``nuisance`` noise in 8 fixed directions on every utterance."""
    rng = np.random.default_rng(seed)
    gender_axis = np.zeros(32)
    gender_axis[0] = 3.0
    directions = rng.normal(size=(8, 32))
    emb, spk, gen = {}, {}, {}
    for s in range(speakers):
        gender = "female" if s % 2 else "male"
        centre = rng.normal(size=32) + (gender_axis if gender == "female" else -gender_axis)
        for u in range(utterances):
            key = f"s{s}u{u}"
            defence = nuisance * rng.normal(size=8) @ directions
            emb[key] = centre + 0.3 * rng.normal(size=32) + defence
            spk[key], gen[key] = f"s{s}", gender
    return emb, spk, gen


def test_trials_are_scored_within_each_gender_and_logged():
    emb, spk, gen = _voices(0)
    enrol, trial = split_enrolment(spk)
    result = trials({u: emb[u] for u in enrol}, {u: emb[u] for u in trial}, spk, gen)
    # every trial meets the 10 enrolled speakers of its gender, never the other 10
    assert result.scores.size == len(trial) * 10
    assert all(gen[u] == g for u, g in zip(result.utterance, result.gender, strict=True))
    mixed = trials({u: emb[u] for u in enrol}, {u: emb[u] for u in trial}, spk)
    assert mixed.scores.size == len(trial) * 20 and set(mixed.gender) == {""}
    estimate = eer_estimate(result, n_boot=20)
    assert set(estimate["by_gender"]) == {"female", "male"}
    assert estimate["value"] == pytest.approx(np.mean(
        [estimate["by_gender"][g]["value"] for g in ("female", "male")]))
    rows = trial_rows(result, version="original", attacker="ignorant")
    assert len(rows) == result.scores.size and rows[0]["version"] == "original"
    assert {"trial", "enrolled", "gender", "score", "target"} <= set(rows[0])


def test_the_semi_informed_back_end_learns_to_ignore_the_defence():
    """A defence that adds strong noise in a few fixed directions hides the voice from
    cosine scoring; a WCCN back-end trained on other speakers' defended speech learns
    those directions are not the speaker and finds the voice again."""
    emb, spk, gen = _voices(1, speakers=30, nuisance=3.0)
    enrol, trial = split_enrolment(spk)
    enrolled, tested = {u: emb[u] for u in enrol}, {u: emb[u] for u in trial}
    lazy = eer_estimate(trials(enrolled, tested, spk, gen), n_boot=0)["value"]
    semi = semi_informed_trials(enrolled, tested, spk, gen, seed=0)
    assert semi.scores.size > 0 and set(semi.gender) == {"female", "male"}
    assert eer_estimate(semi, n_boot=0)["value"] < lazy - 0.1


def test_each_clip_is_decoded_with_a_language_model_of_other_sentences(tmp_path):
    texts = {f"c{i}": s for i, s in enumerate(SENTENCES)}
    texts["c9"] = SENTENCES[0]  # the same sentence read twice shares a fold
    lms = heldout_lms(texts, tmp_path, seed=0)
    assert lms["c9"] == lms["c0"] and len(set(lms.values())) == 2
    for clip, sentence in texts.items():
        model = lms[clip].read_text()
        other = [w for w in sentence.split() if all(w not in t for t in SENTENCES
                                                     if t != sentence)]
        assert other and not any(f" {w} " in model or f" {w}\n" in model for w in other)
    with pytest.raises(ValueError, match="at least 2"):
        heldout_lms({"a": "one sentence", "b": "one sentence"}, tmp_path)
