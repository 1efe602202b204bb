"""The openai: backend against real HTTP servers on 127.0.0.1: `telltale serve` in a
subprocess serving a tiny real transformers model, and the scripted server (scripted.py:
real HTTP, answers from a script) for failures and for vLLM's scoring reply shape.
`transformers serve` is in test_third_party_server.py."""

import sys
import time

import httpx
import numpy as np
import pytest
from PIL import Image
from scripted import Flaky

from telltale.models import UnsupportedRequest, load_model
from telltale.models.base import STAT_NAMES, DecodingConfig, Request
from telltale.models.openai_api import OpenAIModel, RemoteError, stats_from_top_logprobs
from telltale.models.openai_spec import parse_openai_spec
from telltale.models.serve_cli import free_port, launch


def start_server(command: list[str]):
    proc, port = launch([sys.executable, "-m", *command], env={"TOKENIZERS_PARALLELISM": "false"})
    return proc, f"http://127.0.0.1:{port}/v1"


def served_id(url: str) -> str:
    """The model id a server lists (telltale serve: the spec it was started with)."""
    return httpx.get(f"{url}/models").json()["data"][0]["id"]


@pytest.fixture(scope="module")
def served(tiny_models):
    procs = {}
    urls = {}
    # both entry points: the telltale command line and the server module on its own
    for family, entry in (("qwen2_audio", ["telltale", "-q", "serve"]),
                          ("llava", ["telltale.models.serve_cli"])):
        procs[family], urls[family] = start_server([*entry, f"hf:{tiny_models[family]}"])
    yield urls
    for proc in procs.values():
        proc.terminate()
        proc.wait(timeout=30)


def test_generate_and_score_over_http_match_the_local_backend(served, tiny_models,
                                                               speech_clips):
    remote = OpenAIModel(served_id(served["qwen2_audio"]), served["qwen2_audio"], concurrency=4)
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
    # the blank continuation is answered by the client without a request
    assert after["requests"] - before["requests"] == 9
    assert after["backend_calls"] - before["backend_calls"] < 9


def test_images_travel_as_data_urls_and_wrong_media_is_a_clear_400(served, speech_clips):
    vision = OpenAIModel(served_id(served["llava"]), served["llava"])
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


def test_top_k_path_against_telltale_serve_slices_the_span_and_marks_the_bounds(
        served, tiny_models, speech_clips):
    """The client path vLLM gets (prompt_logprobs, return_token_ids, span slicing), here
    against telltale serve: exact where top-k is exact, a lower bound for the entropies."""
    url = served["qwen2_audio"]
    remote = OpenAIModel(served_id(url), url, exact_stats=False, top_logprobs=5)
    local = load_model(f"hf:{tiny_models['qwen2_audio']}")
    assert remote.top_logprobs == 2  # capped at what the server names
    reqs = [Request("question", audio=speech_clips[0]), Request("another")]
    conts = ["hello there speaker", "yes"]
    for a, b in zip(remote.score(reqs, conts), local.score(reqs, conts), strict=True):
        assert a.top_k == 2 and b.top_k is None and a.approximate and not b.approximate
        assert a.tokens == b.tokens and "".join(a.tokens) == "".join(b.tokens)
        for name in ("logprob", "top1_prob", "top2_prob", "renyi_inf"):
            np.testing.assert_allclose(a.values[name], b.values[name], atol=1e-4)
        np.testing.assert_allclose(a.tail_mass, 1 - b.values["top1_prob"]
                                   - b.values["top2_prob"], atol=1e-4)
        assert np.all(a.values["entropy"] <= b.values["entropy"] + 1e-6)
    generated = remote.generate(reqs, DecodingConfig(max_new_tokens=4), with_stats=True)
    direct = local.generate(reqs, DecodingConfig(max_new_tokens=4), with_stats=True)
    for a, b in zip(generated, direct, strict=True):
        assert a.text == b.text and a.stats.top_k == 2
        np.testing.assert_allclose(a.stats.values["logprob"], b.stats.values["logprob"],
                                   atol=1e-4)


def test_standard_logprobs_path_gives_chosen_token_logprobs(served, speech_clips):
    from openai import OpenAI

    from telltale.models.wire import to_messages

    client = OpenAI(base_url=served["qwen2_audio"], api_key="EMPTY")
    reply = client.chat.completions.create(
        model="tiny", messages=to_messages(Request("hi", audio=speech_clips[0])),
        max_tokens=4, temperature=0, logprobs=True, top_logprobs=2)
    entries = reply.choices[0].logprobs.content
    assert entries and all(e.logprob <= 0 for e in entries)
    assert all(len(e.top_logprobs) == 2 for e in entries)
    # greedy decoding: the chosen token is the most likely one
    assert all(e.top_logprobs[0].logprob == pytest.approx(e.logprob, abs=1e-5)
               for e in entries)


def test_server_answers_bad_requests_with_400_and_a_json_reason(served):
    url = served["qwen2_audio"]
    hello = [{"role": "user", "content": "hi"}]
    scored = [*hello, {"role": "assistant", "content": "hello"}]
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
        ("/chat/completions", {"messages": scored, "prompt_logprobs": 1},
         "continue_final_message: true"),
        ("/chat/completions", {"messages": scored, "add_generation_prompt": False,
                               "continue_final_message": True, "prompt_logprobs": 5},
         "Requested prompt logprobs of 5, which is greater than max allowed: 2"),
        ("/chat/completions", {"messages": hello, "logprobs": True, "top_logprobs": 3},
         "greater than max allowed"),
    ]
    for route, body, reason in cases:
        kwargs = {"content": body} if isinstance(body, bytes) else {"json": body}
        reply = httpx.post(url + route, timeout=30, **kwargs)
        assert reply.status_code == 400, (route, body, reply.text)
        assert reason in reply.json()["error"]["message"]
    (entry,) = httpx.get(url + "/models").json()["data"]
    assert entry["id"].startswith("hf:")  # the model id is the spec it was started with
    # a scoring request in vLLM's fields gets vLLM's reply shape
    reply = httpx.post(url + "/chat/completions", timeout=30, json={
        "model": entry["id"], "messages": scored, "add_generation_prompt": False,
        "continue_final_message": True, "max_tokens": 1, "prompt_logprobs": 1,
        "return_token_ids": True}).json()
    assert reply["prompt_logprobs"][0] is None
    assert len(reply["prompt_logprobs"]) == len(reply["prompt_token_ids"]) > 1
    for token_id, entry in zip(reply["prompt_token_ids"][1:], reply["prompt_logprobs"][1:],
                               strict=True):
        assert str(token_id) in entry and all(e["logprob"] <= 0 for e in entry.values())


def test_serve_refuses_a_non_loopback_host_without_allow_remote():
    from argparse import Namespace

    from telltale.models.serve_cli import is_loopback, run

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")
    # refused before any model is loaded: the spec does not even exist
    args = Namespace(model="hf:/nonexistent", host="0.0.0.0", port=0, batch_size=8,
                     allow_remote=False)
    assert run(args) == 2


class Collect:
    """Every log record of telltale's logger while in the ``with`` block."""

    def __enter__(self):
        import logging

        from telltale.console import log

        class Handler(logging.Handler):
            def emit(inner, record):
                self.messages.append(record.getMessage())

        self.messages: list[str] = []
        self.handler = Handler(logging.DEBUG)
        self.logger = log
        log.addHandler(self.handler)
        return self

    def __exit__(self, *exc):
        self.logger.removeHandler(self.handler)


@pytest.mark.parametrize("script, hits", [([(429, 0), (429, 0)], 3), ([(503, 0)], 2),
                                          ([(408, 0), (500, 0)], 3), ([(200, 1.5)], 2)])
def test_retries_on_429_5xx_and_timeouts(flaky, script, hits):
    _, url = flaky
    Flaky.script = list(script)
    model = OpenAIModel("m", url, api_key="sk-verysecretkey123", timeout=0.8, backoff=0.01,
                        max_retries=3, capabilities={"generate"})
    with Collect() as collect:
        assert model.generate([Request("hi")])[0].text == "ok go"
    assert Flaky.hits == hits
    retries = [m for m in collect.messages if "retry" in m]
    assert len(retries) == hits - 1
    assert all(url in m for m in retries) and not any("sk-verysecret" in m for m in retries)


def test_other_4xx_fails_at_once_and_the_retry_budget_bounds_the_rest(flaky):
    _, url = flaky
    Flaky.script = [(400, 0)]
    model = OpenAIModel("m", url, backoff=0.01, capabilities={"generate"})
    with pytest.raises(RemoteError, match=r"m at http://127\.0\.0\.1.*HTTP 400.*scripted 400"):
        model.generate([Request("hi")])
    assert Flaky.hits == 1
    Flaky.script = [(503, 0)] * 10
    with pytest.raises(RemoteError, match="giving up after 3 attempts"):
        OpenAIModel("m", url, backoff=0.01, max_retries=2,
                    capabilities={"generate"}).generate([Request("hi")])
    # a budget of 0.5 s of backoff: with a 0.2 s base the third wait (>= 0.8 s) is refused
    Flaky.script = [(503, 0)] * 10
    started = time.monotonic()
    with pytest.raises(RemoteError, match="retry budget"):
        OpenAIModel("m", url, backoff=0.2, max_retries=8, retry_budget=0.5,
                    capabilities={"generate"}).generate([Request("hi")])
    assert time.monotonic() - started < 2.0


def test_a_dead_or_wrong_endpoint_fails_in_seconds_with_the_reason(flaky):
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    started = time.monotonic()
    with pytest.raises(RemoteError, match="refused the connection"):
        OpenAIModel("m", dead)
    _, url = flaky
    with pytest.raises(RemoteError, match="not the root of an OpenAI-compatible API"):
        OpenAIModel("m", url.removesuffix("/v1") + "/wrong")
    with pytest.raises(RemoteError, match="does not serve model 'other'; it serves m"):
        OpenAIModel("other", url)
    Flaky.models_status = 401
    with pytest.raises(RemoteError, match="HTTP 401"):
        OpenAIModel("m", url)
    assert time.monotonic() - started < 10
    assert Flaky.hits == 0  # no completion was attempted


def test_probing_finds_what_a_plain_server_does_and_refusals_carry_its_reason(flaky):
    _, url = flaky
    model = OpenAIModel("m", url, top_logprobs=5)
    assert {"generate", "stats_on_generate", "score", "audio", "image"} <= model.capabilities
    assert Flaky.hits == 4  # one probe per capability
    too_many = OpenAIModel("m", url, top_logprobs=50)
    assert "score" not in too_many.capabilities
    with pytest.raises(UnsupportedRequest, match="greater than max allowed: 20"):
        too_many.score([Request("hi")], ["ok"])
    Flaky.give_logprobs = False
    Flaky.scores = False
    plain = OpenAIModel("m", url)
    assert plain.capabilities == {"generate", "audio", "image", "batch"}
    with pytest.raises(UnsupportedRequest, match="ignored the fields"):
        plain.generate([Request("hi")], with_stats=True)


def test_score_slices_the_assistant_span_out_of_vllm_prompt_logprobs(flaky):
    _, url = flaky
    model = OpenAIModel("m", url, top_logprobs=3)
    Flaky.bodies.clear()
    (stats, empty) = model.score([Request("who?", system="be brief"), Request("x")],
                                 ["ok, go", "  "])
    (body,) = Flaky.bodies  # the blank continuation costs no request
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant"]
    assert body["messages"][-1]["content"] == "ok, go"
    assert (body["add_generation_prompt"], body["continue_final_message"], body["max_tokens"],
            body["prompt_logprobs"], body["return_token_ids"]) == (False, True, 1, 3, True)
    assert stats.tokens == list("ok, go") and stats.top_k == 3 and len(empty) == 0
    letter = np.array([c.islower() for c in "ok, go"])
    np.testing.assert_allclose(stats.values["logprob"], np.where(letter, np.log(0.5),
                                                                 np.log(1e-3)))
    # the rank-30 observed token is no part of the top 3
    np.testing.assert_allclose(stats.values["top1_prob"], 0.5)
    np.testing.assert_allclose(stats.values["top2_prob"], 0.25)
    np.testing.assert_allclose(stats.tail_mass, 0.125)
    p = np.array([0.5, 0.25, 0.125, 0.125])
    np.testing.assert_allclose(stats.values["entropy"], -(p * np.log(p)).sum())


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
    sent = sorted((b for b in Flaky.bodies if b.get("seed") == 3),
                  key=lambda b: len(b["messages"]))
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
    # stats from the top-2: exact log-probabilities and top probabilities, tail bucket
    stats = out[0].stats
    assert stats.tokens == ["ok", " go"] and stats.top_k == 2
    np.testing.assert_allclose(stats.values["logprob"], np.log([0.6, 0.9]))
    np.testing.assert_allclose(stats.values["top2_prob"], [0.3, 0.02])
    np.testing.assert_allclose(stats.tail_mass, [0.1, 0.08])
    p = np.array([0.6, 0.3, 0.1])
    assert stats.values["entropy"][0] == pytest.approx(-(p * np.log(p)).sum())
    # a server that stops returning log-probabilities cannot give statistics
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
    assert Flaky.hits == 0  # refused before sending, and nothing probed
    with pytest.raises(ValueError, match="unknown capabilities"):
        OpenAIModel("m", url, capabilities={"telepathy"})


def test_openai_spec_parsing_keeps_userinfo_and_reads_options():
    assert parse_openai_spec("m@http://user:KEY@host:8000/v1") == (
        "m", "http://user:KEY@host:8000/v1", {})
    assert parse_openai_spec("org/m@v2@https://h/v1?api_key=K,timeout=30,retries=2,"
                             "concurrency=64") == (
        "org/m@v2", "https://h/v1?api_key=K", {"timeout": 30.0, "max_retries": 2,
                                               "concurrency": 64})
    with pytest.raises(ValueError, match="openai:<model>@<base_url>") as err:
        parse_openai_spec("m@host:KEYKEY@nohttp")
    assert "KEYKEY" not in str(err.value)
    with pytest.raises(ValueError, match="timeout='soon' is not a float"):
        parse_openai_spec("m@http://h/v1,timeout=soon")
    with pytest.raises(RemoteError, match="refused the connection") as err:
        load_model(f"openai:m@http://user:KEYKEY@127.0.0.1:{free_port()}/v1,timeout=2")
    assert "KEYKEY" not in str(err.value)


def test_planted_keys_reach_the_server_but_no_message_log_or_fingerprint(flaky, monkeypatch):
    """Keys in the query string, the userinfo, the api_key and the environment: the server
    gets them; errors (the server echoes the query back), retry logs, repr and the
    fingerprint do not."""
    server, url = flaky
    port = server.server_address[1]
    keys = ["sk-querykey0123456789", "userinfo-pass-987", "sk-apikey-555555", "sk-envkey-7777"]
    monkeypatch.setenv("OPENAI_API_KEY", keys[3])
    planted = f"http://alice:{keys[1]}@127.0.0.1:{port}/v1?api_key={keys[0]}"
    with Collect() as collect:
        model = OpenAIModel("m", planted, backoff=0.01, max_retries=1)
        from_env = OpenAIModel("m", f"http://127.0.0.1:{port}/v1?api_key={keys[0]}",
                               backoff=0.01, max_retries=1, capabilities={"generate"})
        with_key = OpenAIModel("m", url, api_key=keys[2], backoff=0.01, max_retries=0,
                               capabilities={"generate"})
        errors = []
        for client in (model, from_env, with_key):
            for script in ([(503, 0)] * 3, [(400, 0)]):
                Flaky.script = list(script)
                with pytest.raises(RemoteError) as err:
                    client.generate([Request("hi")])
                errors.append(str(err.value))
    assert any("api_key=" in e for e in errors)  # the server did echo the query...
    paths = " ".join(path for path, _ in Flaky.seen)
    assert keys[0] in paths  # ...the key reached the server
    auth = {a for _, a in Flaky.seen}
    assert any(a and a.startswith("Basic ") for a in auth)  # userinfo as basic auth
    assert f"Bearer {keys[2]}" in auth and f"Bearer {keys[3]}" in auth
    shown = [*errors, *collect.messages, repr(model), model.fingerprint, model.base_url,
             repr(from_env), from_env.fingerprint]
    for key in keys:
        assert not any(key in text for text in shown), key
    assert model.base_url == f"http://<redacted>@127.0.0.1:{port}/v1?api_key=<redacted>"


def test_redact_url_and_scrub():
    from telltale.credentials import redact_url, redact_urls, scrub, url_secrets

    assert redact_url("https://h:8/v1") == "https://h:8/v1"
    assert redact_url("https://u:p4ss@h/v1?api-version=2024&key=abcd#frag") == (
        "https://<redacted>@h/v1?api-version=<redacted>&key=<redacted>")
    assert url_secrets("https://u:p%40ss@h/v1?key=abcd&n=2") == ["p%40ss", "abcd", "p@ss"]
    assert scrub("HTTP 429 for key=abcd", url_secrets("http://h/?key=abcd&n=2")) == (
        "HTTP 429 for key=<redacted>")
    spec = "openai:m@http://user:KEYKEY@host/v1?api_key=sk-q1,timeout=30"
    assert redact_urls(f"model {spec}.") == (
        "model openai:m@http://<redacted>@host/v1?api_key=<redacted>,timeout=30.")
    # run.json's config goes through the same redaction
    from telltale.credentials import scrub_secrets

    assert scrub_secrets({"model": spec}) == {"model": redact_urls(spec)}


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
    approx = stats_from_top_logprobs(entries, 2)
    for name in ("logprob", "top1_prob", "top2_prob", "renyi_inf"):
        assert approx.values[name][0] == pytest.approx(exact[name][0], abs=1e-6), name
    # merging the tail into one outcome can only lower entropies
    for name in ("entropy", "renyi_0_5", "renyi_2"):
        assert approx.values[name][0] < exact[name][0], name
    merged = np.array([0.3, 0.2, 0.5])
    assert approx.values["entropy"][0] == pytest.approx(-(merged * np.log(merged)).sum())


def test_statistics_of_a_generation_are_those_of_its_text_without_the_end_token(flaky):
    """vLLM lists the end-of-turn token that stopped generation in logprobs.content though
    the text leaves it out (the real-parts audio LM: "...holds." then "<|im_end|>"); hf:
    and scoring give the text's tokens alone, so the backend drops it."""
    from telltale.models.wire import without_end_token

    _, url = flaky
    Flaky.end_token = "<|im_end|>"
    got = OpenAIModel("m", url, capabilities={"generate", "stats_on_generate"}).generate(
        [Request("hi")], with_stats=True)[0]
    assert got.text == "ok go" and got.stats.tokens == ["ok", " go"]
    entries = [{"token": "holds"}, {"token": "."}, {"token": "<|im_end|>"}]
    assert without_end_token(entries, "It holds.", "stop") == entries[:2]
    # cut at the length limit, every entry is a token of the text; so is a last token the
    # text ends with, and an OpenAI reply lists no end token at all
    assert without_end_token(entries[:2], "It holds", "length") == entries[:2]
    assert without_end_token(entries[:2], "It holds.", "stop") == entries[:2]
    assert without_end_token([], "", "stop") == []


def test_endpoint_options_on_the_command_line_reach_the_backend(flaky, tmp_path):
    from telltale.cli import build_parser
    from telltale.commands import run_options_from_args
    from telltale.runner import open_model

    _, url = flaky
    args = build_parser().parse_args(
        ["attributes", "--model", f"openai:m@{url}", "--data", "m.csv", "--out",
         str(tmp_path / "run"), "--no-cache", "--retries", "1", "--timeout", "5",
         "--concurrency", "3"])
    model = open_model(run_options_from_args(args))
    assert model.concurrency == 3 and model.max_retries == 1
    Flaky.script = [(503, 0)] * 10
    with pytest.raises(RemoteError, match="giving up after 2 attempts"):
        model.generate([Request("hi")])
    # an option written into the spec wins over the flag
    args.model = f"openai:m@{url},retries=0"
    assert open_model(run_options_from_args(args)).max_retries == 0


@pytest.mark.parametrize("flags, model, message", [
    (["--timeout", "0"], "openai:m@http://127.0.0.1:9/v1", "--timeout: must be a positive"),
    (["--retries", "-1"], "openai:m@http://127.0.0.1:9/v1", "--retries: must be 0 or more"),
    (["--concurrency", "2"], "organism:{tmp}", "apply to openai: endpoints only"),
])
def test_bad_endpoint_options_are_refused_before_anything_runs(tmp_path, capsys, flags, model,
                                                               message):
    from telltale.cli import main

    (tmp_path / "m.csv").write_text("id,audio,gender\n")
    status = main(["attributes", "--model", model.format(tmp=tmp_path), "--data",
                   str(tmp_path / "m.csv"), "--out", str(tmp_path / "run"), *flags])
    assert status == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("audit", ["attributes", "mitigate"])
def test_a_dead_endpoint_stops_the_run_before_anything_is_written(tmp_path, capsys, audit):
    """The model opens before the audit writes its protocol files, defended media or
    baselines: a dead endpoint leaves no run directory behind."""
    from telltale.cli import main
    from telltale.media.audio import save_wav

    rng = np.random.default_rng(0)
    rows = ["id,audio,text,gender,accent,member"]
    for i in range(4):
        save_wav(tmp_path / f"c{i}.wav", (0.1 * rng.standard_normal(8000)).astype(np.float32))
        rows.append(f"c{i},c{i}.wav,hello there,female,american,{i % 2}")
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    dead = f"openai:m@http://127.0.0.1:{free_port()}/v1,timeout=2,retries=0"
    status = main([audit, "--model", dead, "--data", str(tmp_path / "m.csv"),
                   "--out", str(tmp_path / "run"), "--attributes", "gender"])
    assert status == 1 and "127.0.0.1" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
