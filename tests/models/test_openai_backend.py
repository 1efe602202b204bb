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


def start_server(spec: str):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "telltale", "-q", "serve", spec, "--port",
                             str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
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
    for family in ("qwen2_audio", "llava"):
        procs[family], urls[family] = start_server(f"hf:{tiny_models[family]}")
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


class Flaky(BaseHTTPRequestHandler):
    """Answers from a script: each entry is (status, delay seconds)."""

    script: ClassVar[list[tuple[int, float]]] = []
    hits = 0

    def do_POST(self):
        type(self).hits += 1
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        status, delay = self.script.pop(0) if self.script else (200, 0.0)
        time.sleep(delay)
        body = {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "ok"}}]}
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
    yield server, f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


@pytest.mark.parametrize("script, hits", [([(429, 0), (429, 0)], 3), ([(503, 0)], 2),
                                          ([(200, 1.5)], 2)])
def test_retries_on_429_5xx_and_timeouts(flaky, script, hits):
    _, url = flaky
    Flaky.script = list(script)
    model = OpenAIModel("m", url, timeout=0.8, backoff=0.01, max_retries=3)
    assert model.generate([Request("hi")])[0].text == "ok"
    assert Flaky.hits == hits


def test_other_4xx_fails_at_once_and_names_the_server(flaky):
    _, url = flaky
    Flaky.script = [(400, 0)]
    model = OpenAIModel("m", url, backoff=0.01)
    with pytest.raises(RemoteError, match=r"m at http://127\.0\.0\.1.*HTTP 400.*scripted 400"):
        model.generate([Request("hi")])
    assert Flaky.hits == 1
    assert "score" not in model.capabilities
    Flaky.script = [(503, 0)] * 10
    with pytest.raises(RemoteError, match="giving up after 3 attempts"):
        OpenAIModel("m", url, backoff=0.01, max_retries=2).generate([Request("hi")])


def test_api_key_stays_out_of_fingerprint_and_repr(flaky):
    _, url = flaky
    model = OpenAIModel("m", url, api_key="sk-verysecretkey123")
    assert "sk-verysecret" not in repr(model) and "sk-verysecret" not in model.fingerprint


def test_stats_from_top_logprobs_exact_parts_and_residual_bucket():
    entries = [{"token": "a", "logprob": np.log(0.5),
                "top_logprobs": [{"token": "a", "logprob": np.log(0.5)},
                                 {"token": "b", "logprob": np.log(0.3)}]}]
    stats = stats_from_top_logprobs(entries)
    p = np.array([0.5, 0.3, 0.2])
    assert stats.values["top1_prob"][0] == pytest.approx(0.5)
    assert stats.values["top2_prob"][0] == pytest.approx(0.3)
    assert stats.values["entropy"][0] == pytest.approx(-(p * np.log(p)).sum())
