"""The mitigation verdicts and trade-off, from results alone (no model)."""

import math

import numpy as np
import pytest

from telltale.findings import Level
from telltale.mitigate.audit import MitigateConfig
from telltale.mitigate.scoring import _defence_verdict, _tradeoff


def _est(value, low, high, n=100):
    return {"value": value, "low": low, "high": high, "n": n}


def _results(auc_after, level_after, gender_level_after, wer_after=0.6, eer_after=0.4):
    config_levels = {"original": "warn", "mcadams": level_after}
    return {
        "membership": {v: {"auc": _est(0.95 if v == "original" else auc_after, 0.9, 0.99),
                           "verdict_level": config_levels[v]} for v in config_levels},
        "attributes": {"gender": {"direct": {
            v: {"metrics": {"accuracy_all": _est(0.8 if v == "original" else 0.5, 0.4, 0.6),
                            "accuracy_answered": _est(0.9 if v == "original" else 0.6, 0.5,
                                                      0.7)},
                "verdict_level": "warn" if v == "original" else gender_level_after,
                **({"change": {"accuracy": {"diff": -0.3}}} if v != "original" else {})}
            for v in ("original", "mcadams")}}},
        "classical": {
            "original": {"eer_lazy_informed": _est(0.05, 0.03, 0.08),
                         "wer": _est(0.5, 0.45, 0.55)},
            "mcadams": {"eer_lazy_informed": _est(eer_after, 0.3, 0.5),
                        "wer": _est(wer_after, 0.55, 0.65),
                        "wer_change": {"diff": wer_after - 0.5, "low": 0.05, "high": 0.15}}},
    }


@pytest.fixture
def config(tmp_path):
    (tmp_path / "m.csv").write_text("id\n")
    return MitigateConfig(data=tmp_path / "m.csv", defences=("mcadams",),
                          attributes=("gender",))


def test_a_defence_that_leaves_a_leak_says_which(config):
    verdict = _defence_verdict(_results(0.8, "warn", "ok"), config, "mcadams")
    assert verdict.level == Level.LEAK and verdict.headline
    assert "leaks remain: membership" in verdict.text
    assert "no longer shown: gender inference (" in verdict.text
    assert "membership AUC 0.950 -> 0.800" in verdict.text
    assert "WER with a held-out task LM 0.500 -> 0.600" in verdict.text
    # accuracy over answered replies, as the attribute verdicts count it
    assert "gender inference accuracy over answered replies 0.900 -> 0.600" in verdict.text


def test_an_auc_far_below_chance_is_a_signal_not_privacy(config):
    """0.206 on 40 clips (issue 24) was the "most private" defence by "lower: more
    private"; beyond its label-shuffle band it tells members apart the other way round."""
    from telltale.mitigate.verdicts import membership_verdict

    below = {"auc": _est(0.206, 0.08, 0.358, 40),
             "null": {"band": [0.31, 0.69], "p_shift": 1.0, "p_below": 1 / 31,
                      "above": False, "below": True, "n_permutations": 30, "unit": "clip"}}
    verdict = membership_verdict("membership, pitch", below, (20, 20))
    assert verdict.level == Level.CAUTION and "other way round" in verdict.text
    results = _results(0.206, "caution", "ok")
    results["membership"]["mcadams"].update(below)
    headline = _defence_verdict(results, config, "mcadams")
    assert headline.level == Level.CAUTION
    assert "other way round, below chance: membership" in headline.text
    assert "0.950 -> 0.206 (below chance" in headline.text
    # within its band, an AUC below 0.5 is no signal; above it, a leak; no band, no verdict
    within = {**below, "null": {**below["null"], "below": False, "p_below": 0.2}}
    assert membership_verdict("m", within, (20, 20)).level == Level.NO_LEAK
    above = {"auc": _est(0.8, 0.6, 0.9), "null": {**below["null"], "above": True,
                                                  "below": False}}
    assert membership_verdict("m", above, (20, 20)).level == Level.LEAK
    assert membership_verdict("m", {"auc": above["auc"]}, (20, 20)).level == Level.INCONCLUSIVE


def test_a_defence_that_removes_every_leak_shown(config):
    verdict = _defence_verdict(_results(0.52, "ok", "ok"), config, "mcadams")
    assert verdict.level == Level.NO_LEAK
    assert "leaks remain" not in verdict.text


def test_too_small_a_sample_is_inconclusive(config):
    verdict = _defence_verdict(_results(0.52, "info", "ok"), config, "mcadams")
    assert verdict.level == Level.INCONCLUSIVE and "inconclusive: membership" in verdict.text


def test_privacy_per_wer_point(config):
    trade = _tradeoff(_results(0.6, "ok", "ok", wer_after=0.6, eer_after=0.35), config)
    row = trade["mcadams"]
    assert row["wer_cost"] == pytest.approx(0.1)
    assert row["membership_auc_gain"] == pytest.approx(0.45 - 0.1)
    assert row["membership_auc_gain_per_wer_point"] == pytest.approx(0.35 / 10)
    assert row["eer_gain"] == pytest.approx(0.3)
    assert row["attribute_accuracy_drop"] == pytest.approx(0.3)
    free = _tradeoff(_results(0.6, "ok", "ok", wer_after=0.49), config)["mcadams"]
    assert math.isnan(free["eer_gain_per_wer_point"])  # no WER lost: no ratio


def test_classical_figures_name_the_language_model_of_every_wer():
    """From classical.jsonl entries alone: the held-out task LM's WER everywhere, the
    generic LM's beside it where some clips were decoded with it, trials logged."""
    from telltale.mitigate.classical import classical_figures, classical_summary

    rng = np.random.default_rng(0)
    entries = []
    for version in ("original", "mcadams"):
        for s in range(8):
            voice = rng.normal(size=16)
            for u in range(3):
                clip = f"s{s}u{u}"
                entries.append({
                    "version": version, "id": clip, "speaker": f"s{s}",
                    "gender": "female" if s % 2 else "male", "reference": "the cat sat",
                    "embedding": (voice + rng.normal(scale=0.3 if version == "original"
                                                     else 3.0, size=16)).tolist(),
                    "hypothesis": "the cat sat" if version == "original" else "the sat",
                    "hypothesis_generic": "a cat" if u == 0 else None, "error": None})
    figures, log = classical_figures(entries, ("original", "mcadams"), seed=0)
    assert figures["gendered"] and "held-out task LM" in figures["lm"]["wer"]
    assert figures["mcadams"]["wer"]["value"] == pytest.approx(1 / 3)
    assert figures["mcadams"]["wer_change"]["diff"] == pytest.approx(1 / 3)
    assert figures["original"]["wer_generic"]["n"] == 8  # the clips decoded with it
    assert set(figures["lm"]) == {"wer", "wer_generic"}
    assert {"eer_ignorant", "eer_lazy_informed", "eer_semi_informed"} <= set(
        figures["mcadams"])
    assert {row["attacker"] for row in log} == {"ignorant", "lazy_informed", "semi_informed"}
    rows = classical_summary(figures, ("original", "mcadams"), str)
    wer = [r.metric for r in rows if r.metric.startswith("WER")]
    assert len(wer) == 4 and all("LM" in m for m in wer)
