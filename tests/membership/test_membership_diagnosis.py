"""The verdict of the blind-baseline protocol (Lee et al., 2026) for each case it names."""

from telltale.membership.audit import diagnose
from telltale.stats import Estimate


def blind(value, low):
    return {"metadata": {"auc": {"value": 0.5, "low": 0.42, "high": 0.58}},
            "acoustic": {"auc": {"value": value, "low": low, "high": min(1.0, value + 0.05)}}}


def test_shift_with_correlated_scores_is_confounded():
    verdict = diagnose(blind(0.97, 0.94), Estimate(0.95, 0.92, 0.98, 200),
                       {"pearson_r": 0.8, "pearson_p": 1e-9})
    assert verdict["verdict"] == "confounded" and "acoustic" in verdict["text"]


def test_shift_without_correlation_is_flagged_but_not_confounded():
    verdict = diagnose(blind(0.8, 0.72), Estimate(0.9, 0.85, 0.95, 200),
                       {"pearson_r": 0.05, "pearson_p": 0.5})
    assert verdict["verdict"] == "shift present"


def test_matched_data_with_signal_is_credible_and_chance_is_no_signal():
    matched = blind(0.52, 0.44)
    assert diagnose(matched, Estimate(0.8, 0.74, 0.86, 200),
                    {"pearson_r": 0.1, "pearson_p": 0.2})["verdict"] == "credible"
    assert diagnose(matched, Estimate(0.53, 0.46, 0.6, 200),
                    {"pearson_r": 0.0, "pearson_p": 0.9})["verdict"] == "no signal"
    # a negative correlation is no evidence of confounding
    assert diagnose(blind(0.9, 0.85), Estimate(0.8, 0.74, 0.86, 200),
                    {"pearson_r": -0.6, "pearson_p": 1e-6})["verdict"] == "shift present"
