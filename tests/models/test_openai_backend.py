"""The openai: backend against real HTTP servers on 127.0.0.1: `telltale serve` in a
subprocess serving a tiny real transformers model, and a deliberately flaky server."""

import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpx
import numpy as np
import pytest
from PIL import Image

from telltale.models import UnsupportedRequest, load_model
from telltale.models.base import STAT_NAMES, DecodingConfig, Request
from telltale.models.openai_api import OpenAIModel, RemoteError, stats_from_top_logprobs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(command: list[str]):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", *command, "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(proc.stdout.read().decode())
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, f"http://127.0.0.1:{port}/v1"
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("telltale serve did not start")


@pytest.fixture(scope="module")
def served(tiny_models):
    procs = {}
    urls = {}
    # both entry points: the telltale command line and the server module on its own
    for family, entry in (("qwen2_audio", ["telltale", "-q", "serve"]),
                          ("llava", ["telltale.models.server"])):
        procs[family], urls[family] = start_server([*entry, f"hf:{tiny_models[family]}"])
    yield urls
    for proc in procs.values():
        proc.terminate()
        proc.wait(timeout=30)


def test_generate_and_score_over_http_match_the_local_backend(served, tiny_models,
                                                               speech_clips):
    remote = OpenAIModel("tiny", served["qwen2_audio"], concurrency=4)
    local = load_model(f"hf:{tiny_models['qwen2_audio']}")
    assert {"generate", "score", "audio"} <= remote.capabilities
    reqs = [Request(f"question {i}", system="be brief" if i % 2 else None,
                    audio=speech_clips[i % len(speech_clips)]) for i in range(5)]
    decoding = DecodingConfig(max_new_tokens=5)
    before = httpx.get(f"{served['qwen2_audio']}/telltale/info").json()["batching"]
    over_http = remote.generate(reqs, decoding, with_stats=True)
    direct = local.generate(reqs, decoding, with_stats=True)
    assert [g.text for g in over_http] == [g.text for g in direct]
    for a, b in zip(over_http, direct, strict=True):
        for name in STAT_NAMES:
            np.testing.assert_allclose(a.stats.values[name], b.stats.values[name], atol=1e-4)
    conts = ["hello there", "the speaker", "", "yes", "a b c"]
    for a, b in zip(remote.score(reqs, conts), local.score(reqs, conts), strict=True):
        assert a.tokens == b.tokens
        for name in STAT_NAMES:
            np.testing.assert_allclose(a.values[name], b.values[name], atol=1e-4)
    # four clients at once: the server grouped waiting requests into shared model calls
    after = httpx.get(f"{served['qwen2_audio']}/telltale/info").json()["batching"]
    assert after["requests"] - before["requests"] == 10
    assert after["backend_calls"] - before["backend_calls"] < 10


def test_images_travel_as_data_urls_and_wrong_media_is_a_clear_400(served, speech_clips):
    vision = OpenAIModel("tiny-vl", served["llava"])
    image = Image.fromarray((np.random.default_rng(0).random((40, 50, 3)) * 255).astype("uint8"))
    out = vision.generate([Request("what is in the image?", image=image)],
                          DecodingConfig(max_new_tokens=4))
    assert isinstance(out[0].text, str)
    # the client learns the server's capabilities and refuses before sending...
    with pytest.raises(UnsupportedRequest, match="does not accept audio"):
        vision.generate([Request("what is said?", audio=speech_clips[0])])
    # ...and a client that sends anyway gets a 400 with the backend's reason
    import openai

    from telltale.models.wire import to_messages

    raw = openai.OpenAI(base_url=served["llava"], api_key="EMPTY", max_retries=0)
    with pytest.raises(openai.BadRequestError, match="does not accept audio"):
        raw.chat.completions.create(model="tiny-vl", max_tokens=3, messages=to_messages(
            Request("what is said?", audio=speech_clips[0])))


def test_standard_logprobs_path_gives_chosen_token_logprobs(served, speech_clips):
    from openai import OpenAI

    from telltale.models.wire import to_messages

    client = OpenAI(base_url=served["qwen2_audio"], api_key="EMPTY")
    reply = client.chat.completions.create(
        model="tiny", messages=to_messages(Request("hi", audio=speech_clips[0])),
        max_tokens=4, temperature=0, logprobs=True, top_logprobs=2)
    entries = reply.choices[0].logprobs.content
    assert entries and all(e.logprob <= 0 for e in entries)


def test_server_answers_bad_requests_with_400_and_a_json_reason(served):
    url = served["qwen2_audio"]
    hello = [{"role": "user", "content": "hi"}]
    cases = [
        ("/chat/completions", b"{not json", "not valid JSON"),
        ("/chat/completions", {"messages": hello, "stream": True}, "stream"),
        ("/chat/completions", {"messages": []}, "non-empty"),
        ("/chat/completions", {"messages": [{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": "bm90IGF1ZGlv", "format": "wav"}}
        ]}]}, "bad request"),
        ("/chat/completions", {"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "http://example.com/a.png"}}]}]},
         "data: URL"),
        ("/telltale/score", {"messages": hello}, "continuation"),
    ]
    for route, body, reason in cases:
        kwargs = {"content": body} if isinstance(body, bytes) else {"json": body}
        reply = httpx.post(url + route, timeout=30, **kwargs)
        assert reply.status_code == 400, (route, body, reply.text)
        assert reason in reply.json()["error"]["message"]
    (entry,) = httpx.get(url + "/models").json()["data"]
    assert entry["id"].startswith("hf:")  # the model id is the spec it was started with


def test_serve_refuses_a_non_loopback_host_without_allow_remote():
    from argparse import Namespace

    from telltale.models.serve_cli import is_loopback, run

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")
    # refused before any model is loaded: the spec does not even exist
    args = Namespace(model="hf:/nonexistent", host="0.0.0.0", port=0, batch_size=8,
                     allow_remote=False)
    assert run(args) == 2


class Flaky(BaseHTTPRequestHandler):
    """A plain OpenAI-compatible server answering from a script: each entry is (status,
    delay seconds). It keeps the request bodies and returns top-k log-probabilities when
    asked, like vLLM does."""

    script: ClassVar[list[tuple[int, float]]] = []
    bodies: ClassVar[list[dict]] = []
    hits = 0
    give_logprobs = True

    def do_POST(self):
        type(self).hits += 1
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        self.bodies.append(request)
        status, delay = self.script.pop(0) if self.script else (200, 0.0)
        time.sleep(delay)
        choice = {"index": 0, "finish_reason": "stop",
                  "message": {"role": "assistant", "content": "ok go"}}
        if request.get("logprobs") and self.give_logprobs:
            k = request["top_logprobs"]
            step = [("ok", [0.6, 0.3, 0.05]), (" go", [0.9, 0.02])]
            choice["logprobs"] = {"content": [
                {"token": tok, "logprob": float(np.log(probs[0])), "bytes": None,
                 "top_logprobs": [{"token": f"t{j}", "logprob": float(np.log(q)),
                                   "bytes": None} for j, q in enumerate(probs[:k])]}
                for tok, probs in step]}
        body = {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                "choices": [choice]}
        if status != 200:
            body = {"error": {"message": f"scripted {status}", "type": "test"}}
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out and hung up, as scripted

    def do_GET(self):
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture()
def flaky():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Flaky.hits = 0
    Flaky.script = []
    Flaky.bodies = []
    Flaky.give_logprobs = True
    yield server, f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


@pytest.mark.parametrize("script, hits", [([(429, 0), (429, 0)], 3), ([(503, 0)], 2),
                                          ([(408, 0), (500, 0)], 3), ([(200, 1.5)], 2)])
def test_retries_on_429_5xx_and_timeouts(flaky, script, hits):
    import logging

    from telltale.console import log

    class Collect(logging.Handler):
        def __init__(self):
            super().__init__(logging.WARNING)
            self.messages: list[str] = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    collect = Collect()
    _, url = flaky
    Flaky.script = list(script)
    model = OpenAIModel("m", url, api_key="sk-verysecretkey123", timeout=0.8, backoff=0.01,
                        max_retries=3)
    log.addHandler(collect)
    try:
        assert model.generate([Request("hi")])[0].text == "ok go"
    finally:
        log.removeHandler(collect)
    assert Flaky.hits == hits
    retries = [m for m in collect.messages if "retry" in m]
    assert len(retries) == hits - 1
    assert all(url in m for m in retries) and not any("sk-verysecret" in m for m in retries)


def test_other_4xx_fails_at_once_and_names_the_server(flaky):
    _, url = flaky
    Flaky.script = [(400, 0)]
    model = OpenAIModel("m", url, backoff=0.01)
    with pytest.raises(RemoteError, match=r"m at http://127\.0\.0\.1.*HTTP 400.*scripted 400"):
        model.generate([Request("hi")])
    assert Flaky.hits == 1
    assert "score" not in model.capabilities
    with pytest.raises(UnsupportedRequest, match="telltale serve"):
        model.score([Request("hi")], ["ok"])
    Flaky.script = [(503, 0)] * 10
    with pytest.raises(RemoteError, match="giving up after 3 attempts"):
        OpenAIModel("m", url, backoff=0.01, max_retries=2).generate([Request("hi")])


def test_wire_format_and_top_logprob_stats_from_a_plain_server(flaky, speech_clips):
    import base64
    import io

    import soundfile as sf

    _, url = flaky
    audio = speech_clips[0]
    image = Image.fromarray((np.random.default_rng(1).random((8, 12, 3)) * 255).astype("uint8"))
    model = OpenAIModel("m", url, top_logprobs=2)
    out = model.generate([Request("who speaks?", system="be brief", audio=audio),
                          Request("what is shown?", image=image)],
                         DecodingConfig(max_new_tokens=7, seed=3), with_stats=True)
    sent = sorted(Flaky.bodies, key=lambda b: len(b["messages"]))
    assert [b["messages"][0]["role"] for b in sent] == ["user", "system"]
    for body in sent:
        assert (body["temperature"], body["max_tokens"], body["seed"]) == (0.0, 7, 3)
        assert body["logprobs"] is True and body["top_logprobs"] == 2
    image_part, text_part = sent[0]["messages"][0]["content"]
    prefix = "data:image/png;base64,"
    assert image_part["image_url"]["url"].startswith(prefix)
    png = base64.b64decode(image_part["image_url"]["url"][len(prefix):])
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png))), np.asarray(image))
    assert text_part == {"type": "text", "text": "what is shown?"}
    audio_part = sent[1]["messages"][1]["content"][0]
    assert audio_part["input_audio"]["format"] == "wav"
    wav, rate = sf.read(io.BytesIO(base64.b64decode(audio_part["input_audio"]["data"])),
                        dtype="float32", always_2d=True)
    assert rate == 16000 and wav.shape[1] == 1 and np.array_equal(wav[:, 0], audio)
    # stats from the top-2: exact log-probabilities and top probabilities, residual bucket
    stats = out[0].stats
    assert stats.tokens == ["ok", " go"]
    np.testing.assert_allclose(stats.values["logprob"], np.log([0.6, 0.9]))
    np.testing.assert_allclose(stats.values["top2_prob"], [0.3, 0.02])
    p = np.array([0.6, 0.3, 0.1])
    assert stats.values["entropy"][0] == pytest.approx(-(p * np.log(p)).sum())
    # a server that returns no log-probabilities cannot give statistics
    Flaky.give_logprobs = False
    with pytest.raises(UnsupportedRequest, match="no log-probabilities"):
        model.generate([Request("hi")], with_stats=True)


def test_declared_capabilities(flaky, speech_clips):
    _, url = flaky
    text_only = OpenAIModel("m", url, capabilities={"generate"})
    assert text_only.capabilities == {"generate", "batch"}
    with pytest.raises(UnsupportedRequest, match="does not accept audio"):
        text_only.generate([Request("what is said?", audio=speech_clips[0])])
    with pytest.raises(UnsupportedRequest, match="stats_on_generate"):
        text_only.generate([Request("hi")], with_stats=True)
    assert Flaky.hits == 0  # refused before sending
    with pytest.raises(ValueError, match="cannot be declared able to score"):
        OpenAIModel("m", url, capabilities={"generate", "score"})
    with pytest.raises(ValueError, match="unknown capabilities"):
        OpenAIModel("m", url, capabilities={"telepathy"})


def test_api_key_stays_out_of_fingerprint_and_repr(flaky, monkeypatch):
    _, url = flaky
    model = OpenAIModel("m", url, api_key="sk-verysecretkey123")
    assert "sk-verysecret" not in repr(model) and "sk-verysecret" not in model.fingerprint
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fromtheenvironment")
    from_env = OpenAIModel("m", url)
    assert from_env.fingerprint == model.fingerprint  # the key is no part of the identity
    assert OpenAIModel("m2", url).fingerprint != model.fingerprint


def test_stats_from_top_logprobs_against_the_full_distribution():
    import torch

    from telltale.models.distribution import position_stats

    # the true next-token distribution: two visible tokens and a tail of five
    true_p = np.array([0.3, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1])
    exact = position_stats(torch.tensor(np.log(true_p)[None, :], dtype=torch.float32),
                           torch.tensor([1]))
    entries = [{"token": "b", "logprob": np.log(0.2),
                "top_logprobs": [{"token": "a", "logprob": np.log(0.3)},
                                 {"token": "b", "logprob": np.log(0.2)}]}]
    approx = stats_from_top_logprobs(entries)
    for name in ("logprob", "top1_prob", "top2_prob", "renyi_inf"):
        assert approx.values[name][0] == pytest.approx(exact[name][0], abs=1e-6), name
    # merging the tail into one outcome can only lower entropies
    for name in ("entropy", "renyi_0_5", "renyi_2"):
        assert approx.values[name][0] < exact[name][0], name
    merged = np.array([0.3, 0.2, 0.5])
    assert approx.values["entropy"][0] == pytest.approx(-(merged * np.log(merged)).sum())
