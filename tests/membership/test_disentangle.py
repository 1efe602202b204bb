"""Phase 3: AUC per condition, paired t-tests against scipy, and the tables (Markdown,
LaTeX) in the paper's layouts."""

import numpy as np
import pytest
from scipy import stats as sps
from sklearn.metrics import roc_auc_score

from telltale.membership.disentangle import (
    disentangle,
    disentanglement_rows,
    disentanglement_wide_rows,
    mia_blind_rows,
    write_membership_tables,
)
from telltale.stats import Estimate
from telltale.tables import to_latex, to_markdown

N = 120


@pytest.fixture(scope="module")
def conditions():
    """Original scores that separate members; silence and noise that do not; three TTS
    realisations that do not either (one sample missing from one realisation)."""
    rng = np.random.default_rng(0)
    y = np.array([1, 0] * (N // 2))
    original = rng.normal(0, 1, N) + 1.5 * y
    scores = {"original": original, "silence": rng.normal(0, 1, N),
              "noise": rng.normal(0.2, 1, N), "tts": rng.normal(0, 1, (3, N))}
    scores["tts"][1, 5] = np.nan
    return y, scores, disentangle(y, scores, n_boot=50, seed=0)


def test_auc_per_condition(conditions):
    y, scores, out = conditions
    assert list(out) == ["original", "silence", "noise", "tts"]
    assert out["original"]["auc"]["value"] == pytest.approx(roc_auc_score(y, scores["original"]))
    assert out["original"]["auc"]["value"] > 0.8 and out["original"]["delta_vs_original"] == 0
    assert out["original"]["paired_t"] is None
    for condition in ("silence", "noise", "tts"):
        assert abs(out[condition]["auc_mean"] - 0.5) < 0.15
        assert out[condition]["delta_vs_original"] == pytest.approx(
            out[condition]["auc_mean"] - out["original"]["auc_mean"])
    tts = scores["tts"]
    per_real = [roc_auc_score(y[np.isfinite(r)], r[np.isfinite(r)]) for r in tts]
    assert out["tts"]["realisations"] == 3
    assert out["tts"]["auc_realisations"] == pytest.approx(per_real)
    assert out["tts"]["auc_mean"] == pytest.approx(np.mean(per_real))
    assert out["tts"]["auc_sd"] == pytest.approx(np.std(per_real, ddof=1))
    assert out["silence"]["auc_sd"] == 0.0


def test_paired_t_tests_match_scipy(conditions):
    y, scores, out = conditions
    ref = sps.ttest_rel(scores["noise"], scores["original"])
    assert out["noise"]["paired_t"]["t"] == pytest.approx(ref.statistic)
    assert out["noise"]["paired_t"]["p"] == pytest.approx(ref.pvalue)
    assert out["noise"]["paired_t"]["n"] == N
    members = y == 1
    ref = sps.ttest_rel(scores["silence"][members], scores["original"][members])
    assert out["silence"]["paired_t_members"]["t"] == pytest.approx(ref.statistic)
    assert out["silence"]["paired_t_members"]["p"] == pytest.approx(ref.pvalue)
    # TTS: the mean over the realisations a sample has (sample 5 lacks one)
    tts_mean = np.nanmean(scores["tts"], axis=0)
    assert tts_mean[5] == pytest.approx(np.mean(scores["tts"][[0, 2], 5]))
    ref = sps.ttest_rel(tts_mean, scores["original"])
    assert out["tts"]["paired_t"]["t"] == pytest.approx(ref.statistic)
    assert out["tts"]["paired_t"]["p"] == pytest.approx(ref.pvalue)
    # members lose their advantage, non-members do not
    assert out["silence"]["paired_t_members"]["mean_diff"] < -1.0
    assert abs(out["silence"]["paired_t_nonmembers"]["mean_diff"]) < 0.4


def test_bad_shapes_are_refused():
    y = np.array([1, 0, 1, 0])
    with pytest.raises(ValueError, match="needs the original"):
        disentangle(y, {"silence": np.zeros(4)})
    with pytest.raises(ValueError, match=r"condition 'noise' have shape \(3,\)"):
        disentangle(y, {"original": np.zeros(4), "noise": np.zeros(3)})


def test_disentanglement_tables(conditions):
    _, _, out = conditions
    rows, columns = disentanglement_rows(out)
    assert columns == ["condition", "AUC", "SD", "ΔAUC", "members t", "members p",
                       "non-members t", "non-members p", "n"]
    assert [r["condition"] for r in rows] == ["Original", "Silence", "Noise", "Synthesized"]
    assert rows[2]["members t"] == out["noise"]["paired_t_members"]["t"]
    assert rows[2]["non-members p"] == f"{out['noise']['paired_t_nonmembers']['p']:.3g}"
    assert rows[0]["SD"] is None and rows[0]["members p"] is None
    md = to_markdown(rows, columns)
    assert md.count("\n") == 2 + 4 and "| Original | " in md and "| – |" in md
    tex = to_latex(rows, columns, caption="Modality disentanglement")
    assert r"$\Delta$AUC" in tex and r"\toprule" in tex and tex.count(r" \\") == 5

    wide, wide_cols = disentanglement_wide_rows({"VoxPopuli": out})
    assert wide_cols == ["Dataset", "Original", "Silence", "Noise", "Synthesized"]
    tts = out["tts"]
    expected = f"{tts['auc_mean']:.3f} ± {tts['auc_sd']:.3f}"
    assert wide[0]["Synthesized"].startswith(expected)
    assert wide[0]["Original"] == f"{out['original']['auc_mean']:.3f}"
    # the members' scores fall under silence, significantly, so the cell is starred
    assert out["silence"]["paired_t_members"]["p"] < 0.05 and wide[0]["Silence"].endswith("*")


def test_a_collapse_is_tested_on_the_members_own_shift():
    """Members fall and non-members rise by as much: the pooled test cancels to p near 1
    beside an AUC that collapsed; the table tests (and stars) the members' own shift."""
    rng = np.random.default_rng(1)
    y = np.array([1, 0] * (N // 2))
    original = rng.normal(0, 0.2, N) + np.where(y == 1, 1.0, -1.0)
    noise = original - np.where(y == 1, 1.0, -1.0) + rng.normal(0, 0.2, N)
    out = disentangle(y, {"original": original, "noise": noise}, n_boot=0)
    assert out["noise"]["delta_vs_original"] < -0.3 and out["noise"]["paired_t"]["p"] > 0.5
    rows, _ = disentanglement_rows(out)
    assert float(rows[1]["members p"]) < 1e-10 and float(rows[1]["non-members p"]) < 1e-10
    wide, _ = disentanglement_wide_rows({"d": out})
    assert wide[0]["Noise"].endswith("*")


def test_mia_vs_blind_table_in_the_paper_layout(conditions, tmp_path):
    _, _, out = conditions
    entry = {"mia_auc": Estimate(0.876, 0.84, 0.91, 400),
             "blind": {"metadata": {"auc": {"value": 0.719, "low": 0.68, "high": 0.76}},
                       "text": Estimate(0.756, 0.7, 0.8, 400),
                       "acoustic": {"value": 0.789, "low": 0.75, "high": 0.83}},
             "correlation": {"metadata": {"pearson_r": 0.59, "spearman_rho": 0.55},
                             "text": {"pearson_r": -0.01, "spearman_rho": 0.06}},
             "verdict": "confounded"}
    rows, columns = mia_blind_rows({"Gigaspeech": entry})
    assert columns == ["Dataset", "MIA AUC", "metadata (r/ρ)", "text (r/ρ)", "acoustic (r/ρ)",
                       "verdict"]
    assert rows[0]["MIA AUC"] == "0.876 [0.840, 0.910]"
    assert rows[0]["metadata (r/ρ)"] == "0.719 (.59/.55)"
    assert rows[0]["text (r/ρ)"] == "0.756 (-.01/.06)"
    assert rows[0]["acoustic (r/ρ)"] == "0.789 (–/–)"

    paths = write_membership_tables(tmp_path, {"Gigaspeech": entry}, {"Gigaspeech": out})
    assert sorted(p.name for p in paths) == sorted(
        f"{stem}.{ext}" for stem in ("mia_vs_blind", "disentanglement", "disentanglement_tests")
        for ext in ("md", "tex"))
    tex = (tmp_path / "mia_vs_blind.tex").read_text()
    assert r"$\rho$" in tex and r"\label{tab:mia_vs_blind}" in tex and "Lee et al." in tex
    assert "0.719 (.59/.55)" in (tmp_path / "mia_vs_blind.md").read_text()


def test_generic_table_rendering_escapes_and_formats():
    rows = [{"name": "a_b & c|d", "value": 0.12345, "n": 7, "ok": True},
            {"name": "x", "value": float("nan")}]
    md = to_markdown(rows, ["name", "value", "n", "ok"], digits=2)
    assert r"| a_b & c\|d | 0.12 | 7 | yes |" in md and "| x | – | – | – |" in md
    tex = to_latex(rows, ["name", "value"], caption="50% of #1", label="tab:x")
    assert r"a\_b \& c|d & 0.123 \\" in tex
    assert r"\caption{50\% of \#1}" in tex and r"\label{tab:x}" in tex
    assert "x & -- \\\\" in tex
