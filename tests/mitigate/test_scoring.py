"""The mitigation verdicts and trade-off, from results alone (no model)."""

import math

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
    assert "WER 0.500 -> 0.600" in verdict.text
    # accuracy over answered replies, as the attribute verdicts count it
    assert "gender inference accuracy over answered replies 0.900 -> 0.600" in verdict.text


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
