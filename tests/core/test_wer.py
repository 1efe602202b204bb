"""Word error rate arithmetic (telltale.wer)."""

import pytest

from telltale.wer import wer_difference, wer_estimate, word_errors


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
