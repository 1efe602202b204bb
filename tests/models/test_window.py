"""The window: probes sent to an OpenAI-compatible server with up to ``concurrency`` in
flight, against a real HTTP server on 127.0.0.1 (the scripted one of
test_openai_backend.py, which answers from a script and counts requests in flight)."""

import numpy as np
import pytest
import soundfile as sf
from scripted import Flaky

from telltale.cache import CachedModel, ResponseCache
from telltale.dispatch import run_probes
from telltale.models import wire
from telltale.models.base import DecodingConfig
from telltale.models.openai_api import OpenAIModel
from telltale.probes import MediaLoader, Probe
from telltale.records import Sample
from telltale.rundir import RunDir


class NoWindow:
    """The same backend seen without its ``concurrency``: run_probes then sends it forward
    batches, the path in-process backends take; the records must not differ."""

    def __init__(self, model):
        self.model = model
        self.fingerprint = model.fingerprint
        self.capabilities = model.capabilities

    def generate(self, *args, **kwargs):
        return self.model.generate(*args, **kwargs)

    def score(self, *args, **kwargs):
        return self.model.score(*args, **kwargs)


@pytest.fixture
def clips(tmp_path, speech_clips):
    paths = []
    for i, clip in enumerate(speech_clips):
        paths.append(tmp_path / f"clip{i}.wav")
        sf.write(paths[-1], clip, 16000)
    return paths


def _probes(clips, per_clip=3, conditions=("original", "silence")):
    probes = []
    for c, path in enumerate(clips):
        sample = Sample(id=f"s{c}", media=path, kind="audio", labels={"gender": "female"})
        for q in range(per_clip):
            for condition in conditions:
                probes.append(Probe(key=f"s{c}|q{q}|{condition}", sample=sample,
                                    text=f"question {q}?", system="be brief" if q else None,
                                    condition=condition, meta={"question": q}))
    return probes


def _run(tmp_path, name):
    run = RunDir(tmp_path / name)
    run.start("test", {})
    return run


def _by_key(run):
    return {r.key: r.to_json() for r in run.records()}


def test_the_window_keeps_concurrency_in_flight_whatever_the_batch_size(flaky, tmp_path,
                                                                        clips):
    _, url = flaky
    model = OpenAIModel("m", url, concurrency=6)
    probes = _probes(clips, per_clip=4)  # 32 probes
    Flaky.delay = 0.1
    Flaky.in_flight = Flaky.most_in_flight = 0
    windowed = _run(tmp_path, "window")
    counts = run_probes(windowed, probes, model, batch_size=2, loader=MediaLoader())
    assert counts == {"done": 32, "skipped": 0, "errors": 0, "pending": 0}
    # batches of 2 kept 2 in flight before; the window keeps 6, and never more
    assert Flaky.most_in_flight == 6
    # the forward-batch path over the same backend gives the same records
    batched = _run(tmp_path, "batched")
    run_probes(batched, probes, NoWindow(model), batch_size=4, loader=MediaLoader())
    assert _by_key(windowed) == _by_key(batched) and len(_by_key(windowed)) == 32


def test_each_clip_is_encoded_once_and_cache_hits_never_reach_the_server(flaky, tmp_path,
                                                                         clips, monkeypatch):
    _, url = flaky
    encoded = []
    real = wire.wav_base64
    monkeypatch.setattr(wire, "wav_base64", lambda a, *k: encoded.append(1) or real(a, *k))
    model = OpenAIModel("m", url, concurrency=4)
    cache = ResponseCache(tmp_path / "cache.sqlite")
    probes = _probes(clips)  # 4 clips x 3 questions x 2 conditions
    Flaky.hits = 0
    encoded.clear()  # (the capability probe sent an audio too)
    first = _run(tmp_path, "first")
    run_probes(first, probes, CachedModel(model, cache), loader=MediaLoader())
    # one encoding per clip and condition, shared by its three questions
    assert len(encoded) == 8 and Flaky.hits == 24
    again = _run(tmp_path, "again")
    cached = CachedModel(model, cache)
    counts = run_probes(again, probes, cached, loader=MediaLoader())
    assert counts["done"] == 24 and Flaky.hits == 24 and cached.hits == 24
    assert _by_key(first) == _by_key(again)


def test_one_bad_probe_is_one_error_record_and_a_resume_redoes_only_it(flaky, tmp_path,
                                                                       clips):
    _, url = flaky
    model = OpenAIModel("m", url, concurrency=4, max_retries=0)
    probes = _probes(clips)
    probes[5].text = "poisoned question"
    Flaky.poison = "poisoned"
    run = _run(tmp_path, "run")
    counts = run_probes(run, probes, model, loader=MediaLoader())
    assert counts["done"] == 23 and counts["errors"] == 1
    (bad,) = [r for r in run.records() if r.error]
    assert bad.key == probes[5].key and "HTTP 400" in bad.error and "scripted poison" in bad.error
    Flaky.poison = None
    Flaky.hits = 0
    run.drop_errors()  # as the runner does once, before the first job of an attempt
    again = run_probes(run, probes, model, loader=MediaLoader())
    assert again == {"done": 1, "skipped": 23, "errors": 0, "pending": 0} and Flaky.hits == 1
    assert len(run.records()) == 24 and not any(r.error for r in run.records())


def test_statistics_from_a_second_request_on_the_same_slot(flaky, tmp_path, clips):
    """A server without log-probabilities on generate but with scoring: each probe's text is
    generated, then scored, one request after the other, both on the probe's slot."""
    _, url = flaky
    Flaky.give_logprobs = False
    model = OpenAIModel("m", url, concurrency=3, top_logprobs=3)
    assert "stats_on_generate" not in model.capabilities and "score" in model.capabilities
    Flaky.hits = 0
    Flaky.bodies.clear()
    run = _run(tmp_path, "run")
    probes = _probes(clips[:2], per_clip=2, conditions=("original",))
    run_probes(run, probes, model, with_stats=True, loader=MediaLoader(),
               decoding=DecodingConfig(max_new_tokens=5))
    assert Flaky.hits == 8
    for rec in run.records():
        assert rec.output == "ok go" and rec.token_stats["top_k"] == 3
        assert "".join(rec.token_stats["tokens"]) == "ok go"
        # the scripted server's distribution: a lowercase letter has p = 0.5, else 1e-3
        np.testing.assert_allclose(rec.token_stats["logprob"],
                                   [np.log(0.5 if c.islower() else 1e-3) for c in "ok go"])
    scored = [b for b in Flaky.bodies if b.get("prompt_logprobs")]
    assert len(scored) == 4 and all(b["messages"][-1] == {"role": "assistant",
                                                          "content": "ok go"} for b in scored)
