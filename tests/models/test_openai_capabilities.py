"""What the openai: backend learns from a server before the first probe, against the
scripted server (scripted.py, real HTTP): capabilities tried rather than assumed, the
weights the server reports in the fingerprint, and the proxy the environment names."""

import threading

import pytest
from PIL import Image
from scripted import Flaky

from telltale.models import UnsupportedRequest, load_model
from telltale.models.base import Request
from telltale.models.openai_api import OpenAIModel, RemoteError


def test_media_input_is_tried_not_assumed(flaky, speech_clips):
    """An audio-only vLLM model refuses an image with a 400 only when one reaches it: the
    probe sends one, and the refusal comes back with vLLM's words before any probe runs."""
    _, url = flaky
    Flaky.refuse = {"image_url": "At most 0 image(s) may be provided in one prompt."}
    model = OpenAIModel("m", url)
    assert "audio" in model.capabilities and "image" not in model.capabilities
    image = Image.new("RGB", (20, 20))
    Flaky.hits = 0
    with pytest.raises(UnsupportedRequest, match=r"does not accept image input.*At most 0 "
                                                 r"image\(s\)"):
        model.generate([Request("what is shown?", image=image)])
    assert Flaky.hits == 0
    Flaky.refuse = {"input_audio": "At most 0 audio(s) may be provided in one prompt."}
    vision = OpenAIModel("m", url)
    assert "image" in vision.capabilities and "audio" not in vision.capabilities
    with pytest.raises(UnsupportedRequest, match=r"audio input.*At most 0 audio"):
        vision.score([Request("who speaks?", audio=speech_clips[0])], ["me"])


def test_the_fingerprint_holds_what_the_server_reports_of_its_weights(flaky):
    """vLLM's /v1/models names the weights (root) and the context length: weights swapped
    behind one URL change the fingerprint; a run fingerprinted before (name, URL and k
    only) resumes through the aliases, and so does a batch-file run of the same model."""
    from telltale.models.openai_api import served_fingerprint

    _, url = flaky
    plain = OpenAIModel("m", url, capabilities={"generate"})
    assert plain.fingerprint == OpenAIModel.make_fingerprint(
        backend="openai", model="m", base_url=url, server=None, top_k=20)  # as before
    Flaky.entry = {"root": "/models/qwen-a", "max_model_len": 8192, "created": 1}
    first = OpenAIModel("m", url, capabilities={"generate"})
    Flaky.entry = {"root": "/models/qwen-b", "max_model_len": 8192, "created": 2}
    swapped = OpenAIModel("m", url, capabilities={"generate"})
    assert len({plain.fingerprint, first.fingerprint, swapped.fingerprint}) == 3
    assert plain.fingerprint in first.fingerprint_aliases  # runs made before the change
    batch = served_fingerprint("m", {"generate"}, 20, {"root": "/models/qwen-b"})
    assert batch in swapped.fingerprint_aliases and batch not in first.fingerprint_aliases
    # a restart (another "created") changes nothing; a spec that pins the weights is checked
    Flaky.entry = {"root": "/models/qwen-b", "max_model_len": 8192, "created": 3}
    assert OpenAIModel("m", url, capabilities={"generate"}).fingerprint == swapped.fingerprint
    with pytest.raises(RemoteError, match="names root=/models/qwen-a but the server reports "
                                          "/models/qwen-b"):
        load_model(f"openai:m@{url},root=/models/qwen-a")
    offline = load_model("openai:m@batch,capabilities=generate,root=/models/qwen-b")
    assert offline.fingerprint == batch and Flaky.hits == 0


def test_a_server_that_names_its_weights_is_known_by_them_not_by_its_url(flaky):
    """A local vLLM gets another port at every start: the same weights reached at another
    URL keep the fingerprint (the run resumes); a run fingerprinted with the URL resumes at
    that URL; a server that does not name its weights is still told apart by its URL."""
    _, url = flaky
    other_url = url.replace("127.0.0.1", "localhost")  # the same server, another URL
    assert other_url != url
    Flaky.entry = {"root": "/models/qwen-a", "max_model_len": 8192}
    here = OpenAIModel("m", url, capabilities={"generate"})
    there = OpenAIModel("m", other_url, capabilities={"generate"})
    assert here.fingerprint == there.fingerprint
    with_url = OpenAIModel.make_fingerprint(backend="openai", model="m", base_url=url,
                                            server=None, top_k=20, root="/models/qwen-a",
                                            max_model_len=8192)
    assert with_url in here.fingerprint_aliases and with_url not in there.fingerprint_aliases
    Flaky.entry = {}
    assert (OpenAIModel("m", url, capabilities={"generate"}).fingerprint
            != OpenAIModel("m", other_url, capabilities={"generate"}).fingerprint)


def test_a_plain_http_proxy_from_the_environment_carries_the_requests(flaky, monkeypatch):
    """HTTP_PROXY is honoured as urllib reads it: requests go to the proxy with the whole
    URL and its credentials. (Loopback targets never use a proxy, so the test lets this
    one count as remote.)"""
    import http.client
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import urlsplit

    from telltale.models import http as telltale_http

    seen = []

    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def forward(self):
            seen.append((self.command, self.path, self.headers.get("Proxy-Authorization")))
            target = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
            conn.request(self.command, target.path + (f"?{target.query}" if target.query
                                                      else ""), body=body or None,
                         headers={"Content-Type": "application/json"})
            reply = conn.getresponse()
            data = reply.read()
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = forward

        def log_message(self, *args):
            pass

    proxy = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        _, url = flaky
        monkeypatch.setenv("HTTP_PROXY", f"http://alice:proxypass@127.0.0.1:"
                                         f"{proxy.server_address[1]}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.setattr(telltale_http, "_loopback", lambda host: False)
        model = OpenAIModel("m", url, capabilities={"generate"})
        assert model.generate([Request("hi")])[0].text == "ok go"
    finally:
        proxy.shutdown()
    assert [(c, p) for c, p, _ in seen] == [("GET", f"{url}/models"),
                                            ("GET", f"{url}/telltale/info"),
                                            ("POST", f"{url}/chat/completions")]
    assert all(auth and auth.startswith("Basic ") for _, _, auth in seen)
