"""Blind baselines on a small real TTS corpus: espeak-ng and flite speak the same kind of
sentences, so the engine is a pure distribution shift the baselines must find."""

from __future__ import annotations

import csv
import json
import random
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from telltale.cli import main
from telltale.manifest import load_manifest, write_manifest
from telltale.membership import blind, blind_matching, blind_pairwise

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("flite") is None,
    reason="espeak-ng and flite are needed")

WORDS = ("river garden window morning yellow quiet doctor station letter paper music "
         "winter summer bridge valley market teacher family number careful gentle sudden "
         "distant modern coffee table mountain evening city train").split()
ESPEAK_VOICES = ("en", "en-us", "en-gb-scotland", "en+f3", "en+m3", "en-gb-x-rp")
FLITE_VOICES = ("kal16", "slt", "awb", "rms")
PER_ENGINE = 40


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 10))).capitalize() + "."


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> list[dict]:
    """80 clips, half espeak-ng and half flite, with engine-independent sentences."""
    folder = tmp_path_factory.mktemp("tts")
    rng = random.Random(7)
    rows = []
    for i in range(2 * PER_ENGINE):
        engine = "espeak" if i < PER_ENGINE else "flite"
        text = _sentence(rng)
        path = folder / f"{engine}{i:03d}.wav"
        if engine == "espeak":
            cmd = ["espeak-ng", "-v", rng.choice(ESPEAK_VOICES), "-s",
                   str(rng.randint(140, 190)), "-w", str(path), text]
        else:
            cmd = ["flite", "-voice", rng.choice(FLITE_VOICES), "-t", text, "-o", str(path)]
        subprocess.run(cmd, check=True, capture_output=True)
        rows.append({"id": f"s{i:03d}", "audio": str(path), "text": text, "dataset": engine})
    return rows


def _samples(tmp_path: Path, rows: list[dict], members: list[int]):
    manifest = write_manifest(tmp_path / "m.csv",
                              [{**r, "member": m} for r, m in zip(rows, members, strict=True)])
    samples, _ = load_manifest(manifest, require=("audio", "member"))
    return manifest, samples


@pytest.fixture(scope="module")
def features(corpus, tmp_path_factory):
    """Features of the whole corpus (membership is attached per test)."""
    _, samples = _samples(tmp_path_factory.mktemp("m"), corpus, [1] * len(corpus))
    return blind.extract_features(samples, n_jobs=2)


def _relabel(features, members):
    for sample, m in zip(features.samples, members, strict=True):
        sample.member = m
    return features


def test_engine_shift_is_found_by_every_family_but_text(features):
    by_engine = [1 if s.dataset == "espeak" else 0 for s in features.samples]
    results, scores = blind.score_families(_relabel(features, by_engine), folds=10, seed=0,
                                           n_boot=200)
    assert set(results) == {"metadata", "text", "acoustic", "combined"}
    assert results["acoustic"]["auc"]["value"] >= 0.95
    assert results["metadata"]["auc"]["value"] >= 0.95  # native rate, bytes per second
    assert results["combined"]["auc"]["value"] >= 0.95
    # the sentences do not depend on the engine
    assert results["text"]["auc"]["low"] < 0.5 + 0.25
    auc = results["acoustic"]["auc"]
    assert auc["low"] <= auc["value"] <= auc["high"] and auc["n"] == 2 * PER_ENGINE
    # 40 non-members cannot support an operating point at 1% FPR (it needs 100)
    assert results["acoustic"]["tpr_at_1pct_fpr"] is None
    assert set(scores["acoustic"]) == {s.id for s in features.samples}


def test_random_split_is_near_chance(features):
    members = np.random.default_rng(3).permutation([1, 0] * PER_ENGINE).tolist()
    results, _ = blind.score_families(_relabel(features, members), folds=10, seed=0,
                                      n_boot=200)
    for family in ("metadata", "acoustic", "text", "combined"):
        assert abs(results[family]["auc"]["value"] - 0.5) < 0.2, family


def test_label_shuffles_measure_the_spread_of_chance(features):
    by_engine = [1 if s.dataset == "espeak" else 0 for s in features.samples]
    shifted, _ = blind.score_families(_relabel(features, by_engine), folds=5, seed=0,
                                      n_boot=0, permutations=20)
    null = shifted["acoustic"]["null"]
    assert null["n_permutations"] == 20
    assert abs(null["mean"] - 0.5) < 0.1 and 0.0 < null["sd"] < 0.15
    # 20 shuffles at the one-sided 5% level: the band is their range, and a shift is
    # above all of them (p = 1/21)
    assert null["band"][1] < shifted["acoustic"]["auc"]["value"]
    assert 0.0 <= null["band"][0] <= null["band"][1] <= 1.0
    assert null["p_shift"] == 1 / 21 and null["above"] and not null["below"]
    assert blind.is_shifted(shifted["acoustic"]["auc"]["value"], 0.0, null)
    members = np.random.default_rng(3).permutation([1, 0] * PER_ENGINE).tolist()
    random_split, _ = blind.score_families(_relabel(features, members), folds=5, seed=0,
                                           n_boot=0, permutations=20)
    assert random_split["acoustic"]["null"]["p_shift"] > 0.05
    assert not random_split["acoustic"]["null"]["above"]
    # 12 shuffles cannot reach p <= 0.05: no band, nothing is above it
    few = blind.permutation_null(_relabel(features, by_engine), "acoustic",
                                 np.arange(len(by_engine)), np.array(by_engine), 1.0, 12,
                                 folds=5)
    assert few["band"] == [0.0, 1.0] and few["p_shift"] == 1 / 13 and not few["above"]
    assert "null" not in blind.score_families(features, folds=5, n_boot=0)[0]["acoustic"]
    # the shuffles run on a process pool; the band does not depend on how many processes
    rows = np.arange(len(members))
    serial, pooled = (blind.permutation_null(_relabel(features, members), "combined", rows,
                                             np.array(members), 0.5, 6, folds=5, n_jobs=jobs)
                      for jobs in (1, 2))
    assert serial == pooled


def test_tfidf_is_fitted_on_training_folds_only(features, monkeypatch):
    from sklearn.feature_extraction.text import TfidfVectorizer

    fitted: list[set[str]] = []
    original = TfidfVectorizer.fit_transform

    def spy(self, raw_documents, y=None):
        fitted.append(set(raw_documents))
        return original(self, raw_documents, y)

    monkeypatch.setattr(TfidfVectorizer, "fit_transform", spy)
    members = [i % 2 for i in range(len(features.samples))]
    rows = np.arange(len(features.samples))
    blind.oof_scores(_relabel(features, members), "text", rows, np.array(members),
                     folds=5, seed=0)
    texts = set(features.texts)
    assert len(texts) == len(features.texts)  # unique sentences make the check exact
    assert len(fitted) == 5
    held_out = [texts - seen for seen in fitted]
    assert all(len(h) == len(texts) // 5 for h in held_out)
    # every text is held out of exactly one fit: the fold that scores it
    assert sorted(t for h in held_out for t in h) == sorted(texts)


def test_text_shift_is_found():
    rng = random.Random(1)
    topic_a = "invoice payment account balance transfer bank".split()
    topic_b = "goal match referee stadium league season".split()
    texts = [" ".join(rng.choice(WORDS + (topic_a if i % 2 else topic_b)) for _ in range(8))
             for i in range(60)]
    y = np.array([i % 2 for i in range(60)])
    feats = blind.BlindFeatures([], np.zeros((60, 0)), [], np.zeros((60, 0)), [], texts,
                                ("text",))
    scores = blind.oof_scores(feats, "text", np.arange(60), y, folds=10, seed=0)
    assert blind.summarize_scores(y, scores, n_boot=0)["auc"]["value"] > 0.9


def test_matched_subset_removes_the_shift(features):
    # members mostly espeak (70%), non-members mostly flite: blind AUC well above chance
    members = [1 if (s.dataset == "espeak") == (i % 10 < 7) else 0
               for i, s in enumerate(features.samples)]
    _relabel(features, members)
    result = blind_matching.matched_subset(features.samples, features, target_auc=0.5, tol=0.05,
                                  seed=0, folds=5, family="acoustic")
    assert result.auc_before > 0.62
    assert result.reached and result.auc_after <= 0.55
    kept = result.samples
    assert sum(s.member for s in kept) * 2 == len(kept) >= 20
    assert result.to_dict()["history"][0]["auc"] == result.auc_before
    # the engine confound shrinks: espeak share 70% vs 30% before matching
    share = [np.mean([s.dataset == "espeak" for s in kept if s.member == m]) for m in (1, 0)]
    assert abs(share[0] - share[1]) < 0.25


def test_pairwise_heatmap(features, tmp_path):
    members = np.random.default_rng(5).permutation([1, 0] * PER_ENGINE).tolist()
    pairwise = blind_pairwise.pairwise_dataset_auc(features.samples, _relabel(features, members),
                                          family="acoustic", folds=5)
    assert pairwise.datasets == ["espeak", "flite"]
    assert np.all(np.diag(pairwise.auc) < 0.75)  # members vs non-members within an engine
    assert pairwise.auc[0, 1] > 0.9 and pairwise.auc[1, 0] > 0.9  # across engines
    assert pairwise.n[0, 0] == PER_ENGINE
    png = blind_pairwise.heatmap_figure(pairwise, tmp_path / "figures" / "heatmap.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_end_to_end(corpus, tmp_path):
    # members 90% espeak-ng: a shift every family sees beyond what chance gives the
    # largest of the four families on 30 label shuffles of 80 clips (family-wise p)
    members = [1 if (r["dataset"] == "espeak") == (i % 10 < 9) else 0
               for i, r in enumerate(corpus)]
    rows = [{**r, "member": m} for r, m in zip(corpus, members, strict=True)]
    rows.append({"id": "broken", "audio": str(tmp_path / "nope.wav"), "text": "x", "member": 1,
                 "dataset": "espeak"})
    manifest = write_manifest(tmp_path / "m.csv", rows)
    out = tmp_path / "run"
    assert main(["blind", "--data", str(manifest), "--out", str(out), "--folds", "5",
                 "--matched", "--jobs", "2", "--skip-bad-rows"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["blind"]["acoustic"]["auc"]["value"] > 0.62
    assert results["verdicts"][0]["level"] == "warn"  # the engine shift is reported
    assert "nope.wav" in results["manifest_problems"][0]
    assert len(results["blind"]["pairwise"]["auc"]) == 2
    assert (out / "report.html").exists() and (out / "run.json").exists()
    assert (out / "figures" / "blind_heatmap.png").stat().st_size > 1000
    with open(out / "blind_scores.csv") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == len(corpus)
    assert set(table[0]) == {"id", "member", "metadata", "text", "acoustic", "combined"}
    matched, _ = load_manifest(out / "matched_manifest.csv", require=("audio", "member"))
    assert len(matched) == results["matched"]["n"] and results["matched"]["n"] >= 20
    # re-scored from the run directory alone, the manifest gone, skipped rows still listed
    manifest.unlink()
    assert main(["score", str(out)]) == 0
    rescored = json.loads((out / "results.json").read_text())
    assert rescored["summary"] == results["summary"]
    assert rescored["manifest_problems"] == results["manifest_problems"]
    manifest = write_manifest(tmp_path / "m.csv", rows)
    # without --skip-bad-rows the broken row stops the run with a clear status
    assert main(["blind", "--data", str(manifest), "--out", str(out / "x")]) == 2
    assert not (out / "x").exists()  # refused before anything was written


def test_without_transcripts_text_is_skipped_and_the_rest_scored(features):
    from dataclasses import replace

    by_engine = [1 if s.dataset == "espeak" else 0 for s in features.samples]
    silent = replace(_relabel(features, by_engine), texts=[""] * len(features.texts))
    results, scores = blind.score_families(silent, folds=5, n_boot=0)
    assert results["text"] == {"skipped": "no transcripts"} and "text" not in scores
    assert results["combined"]["auc"]["value"] >= 0.95
