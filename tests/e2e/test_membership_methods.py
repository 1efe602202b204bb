"""The membership methods beyond log-probabilities, end to end on the small demo organism:
the black-box attack through a server that returns text only, and reference calibration."""

import json

import pytest
from cli import served, telltale


def _results(run):
    return json.loads((run / "results.json").read_text())


def _records(run):
    return [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]


# make test-slow: the default suite's 10-minute budget (18 and 12 s)
@pytest.mark.slow
def test_black_box_attack_through_a_text_only_server(demo, tmp_path):
    spec = f"organism:{demo / 'organism'}"
    data = demo / "corpus" / "membership.csv"
    with served(spec, "--text-only") as port:
        model = f"openai:{spec}@http://127.0.0.1:{port}/v1"
        run = tmp_path / "blackbox"
        telltale("-q", "membership", "--model", model, "--data", data, "--no-cache",
                 "--conditions", "original", "--methods", "blackbox,dataset", "--samples", "3",
                 "--no-baselines", "--out", run)
        # the log-probability attack cannot run there, and says why as soon as the model
        # has opened: before phase 1's baselines, leaving no run directory
        refused = telltale("membership", "--model", model, "--data", data, "--no-cache",
                           "--conditions", "original", "--out", tmp_path / "logprob",
                           check=False)
    assert refused.returncode != 0 and "text only" in refused.stderr
    assert "the log-probability attack (--methods indicators) need" in refused.stderr
    assert "blind" not in refused.stderr and not (tmp_path / "logprob").exists()
    results = _results(run)
    records = _records(run)
    n = results["counts"]["samples"]
    assert len(records) == 4 * n  # the greedy transcription and three draws per clip
    assert all(r["token_stats"] is None for r in records)
    draws = [r for r in records if r["probe"]["condition"] == "draw"]
    assert all(r["labels"]["transcript"] for r in draws)
    assert len({r["output"] for r in draws}) > n  # sampling at T=1 varies the text
    blackbox = results["blackbox"]
    assert blackbox["model_calls_per_clip"]["blackbox"] == 4
    auc = blackbox["attack"]["aggregated"]["auc"]
    assert 0 <= auc["low"] <= auc["value"] <= auc["high"] <= 1
    # 16 + 16 clips: dataset inference runs, and says its sample is small
    assert results["dataset_inference"]["test"]["n_suspect"] == 16
    assert any(v["text"].startswith("Black-box") for v in results["verdicts"])
    # re-scoring from the records alone gives the same figures
    rescored = tmp_path / "copy"
    rescored.mkdir()
    for name in ("run.json", "records.jsonl"):
        (rescored / name).write_bytes((run / name).read_bytes())
    telltale("-q", "score", rescored)
    assert _results(rescored)["blackbox"]["attack"] == blackbox["attack"]


# make test-slow: the default suite's 10-minute budget (18 and 12 s)
@pytest.mark.slow
def test_a_reference_identical_to_the_target_cancels_every_signal(demo, tmp_path):
    spec = f"organism:{demo / 'organism'}"
    run = tmp_path / "reference"
    telltale("-q", "membership", "--model", spec, "--data", demo / "corpus" / "membership.csv",
             "--no-cache", "--conditions", "original", "--no-baselines", "--methods",
             "indicators,reference", "--reference-model", spec, "--out", run)
    reference = _results(run)["reference"]
    assert reference["calibrated"]["auc"]["value"] == 0.5  # every difference is 0
    assert reference["loss_ratio"]["auc"]["value"] == 0.5
    assert reference["uncalibrated"]["auc"]["value"] != 0.5
    assert reference["model"] == spec
    records = _records(run)
    assert {r["probe"]["condition"] for r in records} == {"original", "reference"}
    # the reference scores the target's own transcription: the same text, not its own
    said = {r["sample_id"]: r["output"] for r in records
            if r["probe"]["condition"] == "original"}
    assert all(r["output"] == said[r["sample_id"]] for r in records
               if r["probe"]["condition"] == "reference" and not r["error"])
    assert reference["text"] == "the target's transcription, scored by both models"


def test_method_options_are_checked_before_anything_runs(demo, tmp_path):
    data = demo / "corpus" / "membership.csv"
    common = ["membership", "--model", f"organism:{demo / 'organism'}", "--data", data]
    for extra, message in (
            (["--methods", "reference"], "--methods"),
            (["--methods", "indicators,reference"], "--reference-model"),
            (["--methods", "blackbox"], "--conditions"),
            (["--methods", "blackbox", "--conditions", "original", "--samples", "1"],
             "--samples"),
            (["--methods", "magic"], "--methods"),
            (["--methods", "indicators,reference", "--reference-model", "organism:/nonexistent"],
             "/nonexistent")):
        proc = telltale(*common, *extra, "--out", tmp_path / "x", check=False)
        assert proc.returncode == 2 and message in proc.stderr, (extra, proc.stderr)
        assert not (tmp_path / "x").exists()
