"""The black-box (SaMIA-style) features on sampled transcriptions written the way speech
recognisers and audio LMs answer: casing, punctuation, filler and chat wrappers vary."""

from __future__ import annotations

import numpy as np
import pytest

from telltale.membership.blackbox import (
    FEATURES,
    clip_features,
    feature_matrix,
    rouge_f1,
    rouge_recall,
    words,
)

TRANSCRIPT = "the quick brown fox jumps over the lazy dog"
# a memorised clip: the samples repeat the transcript with surface noise only
MEMBER_DRAWS = ["The quick brown fox jumps over the lazy dog.",
                "the quick brown fox jumps over the lazy dog",
                "Sure! The quick brown fox jumps over the lazy dog.",
                "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG"]
# an unseen clip: each sample hears something else
NONMEMBER_DRAWS = ["the quick brown socks jump over a lazy log",
                   "a quick round box jumped over the hazy fog",
                   "Transcription: quick brown fox bumps other lady dogs",
                   "uh the brown fax jumps over the dog"]


def test_words_ignore_case_and_punctuation_but_keep_contractions():
    assert words("It's the QUICK, brown fox!") == ["it's", "the", "quick", "brown", "fox"]
    assert words(None) == [] and words("...") == []
    for wrapped in ("Sure! The quick fox.", "Here is the transcription: the quick fox",
                    "Okay, here's the transcript of the audio: The quick fox",
                    "Transcription - the quick fox"):
        assert words(wrapped) == ["the", "quick", "fox"], wrapped
    assert words("Transcripts are hard") == ["transcripts", "are", "hard"]


def test_rouge_recall_clips_repeated_ngrams_and_f1_is_symmetric():
    ref = words("the cat the dog")
    assert rouge_recall(words("the the the the"), ref, 1) == pytest.approx(0.5)
    assert rouge_recall(words("the cat sat"), ref, 2) == pytest.approx(1 / 3)
    assert np.isnan(rouge_recall(words("a b"), words("one"), 2))
    a, b = words("the cat sat"), words("the cat ran away")
    assert rouge_f1(a, b, 1) == rouge_f1(b, a, 1) == pytest.approx(2 * 2 / 7)
    assert rouge_f1([], [], 1) == 1.0 and rouge_f1([], a, 1) == 0.0


def test_a_memorised_clip_scores_higher_on_every_agreement_feature():
    member = clip_features(MEMBER_DRAWS, greedy=TRANSCRIPT, reference=TRANSCRIPT)
    other = clip_features(NONMEMBER_DRAWS, greedy="the quick brown fox jumps over a lazy dog",
                          reference=TRANSCRIPT)
    for name in FEATURES:
        if name == "distinct":  # fewer distinct samples for the memorised clip
            assert member[name] < other[name]
        else:
            assert member[name] > other[name], name
    assert member["rouge1_reference"] == 1.0 and member["exact_greedy"] == 1.0


def test_without_transcript_or_greedy_those_features_are_missing_not_zero():
    features = clip_features(NONMEMBER_DRAWS, greedy=None, reference=None)
    assert np.isnan(features["rouge1_reference"]) and np.isnan(features["exact_greedy"])
    assert 0 < features["rouge1_pairwise"] < 1
    X, names = feature_matrix([features, clip_features(MEMBER_DRAWS, None, None)])
    assert "rouge1_reference" not in names and X.shape == (2, len(names))
    with pytest.raises(ValueError, match="at least one sampled"):
        clip_features([], TRANSCRIPT)


def test_features_separate_members_from_non_members_on_a_noisy_population():
    from telltale.membership.attack import aggregate_attack

    rng = np.random.default_rng(0)
    vocab = words("a the of to and in is it you that he was for on are with as his they at "
                  "be this from have or by one had not but what all were when we there can")

    def draws(sentence: list[str], error: float) -> list[str]:
        return [" ".join(w if rng.random() > error else str(rng.choice(vocab))
                         for w in sentence) for _ in range(5)]

    rows, y = [], []
    for i in range(60):
        sentence = list(rng.choice(vocab, size=12))
        member = i % 2
        rows.append(clip_features(draws(sentence, 0.1 if member else 0.3),
                                  " ".join(sentence), " ".join(sentence)))
        y.append(member)
    X, names = feature_matrix(rows)
    result = aggregate_attack(X, np.array(y), names, folds=5, n_boot=200, indicator_boot=0)
    assert result.auc.low > 0.7
