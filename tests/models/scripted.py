"""The scripted OpenAI-compatible server of the backend tests: real HTTP on 127.0.0.1,
answers from a script (statuses, delays, refusals), and vLLM's reply shapes for scoring and
log-probabilities, which no server that runs here produces with token ids of a real
template. The ``flaky`` fixture (conftest.py) starts it."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import ClassVar

import numpy as np


class Flaky(BaseHTTPRequestHandler):
    """A plain OpenAI-compatible server answering from a script: each entry is (status,
    delay seconds). It keeps the request bodies, paths and headers, returns top-k
    log-probabilities when asked, and scores a final assistant turn the way vLLM does,
    with a character-level "tokenizer" (token id = code point) and a known distribution:
    the rank-r alternative has probability 0.5**r, a lowercase letter is the rank-1 token,
    any other character has probability 1e-3 (rank 30). Error messages echo the request
    path, query included, as some servers do."""

    script: ClassVar[list[tuple[int, float]]] = []
    bodies: ClassVar[list[dict]] = []
    seen: ClassVar[list[tuple[str, str | None]]] = []
    hits = 0
    give_logprobs = True
    scores = True
    models_status = 200
    #: content part type -> the message of the 400 it gets (vLLM's for a model without it)
    refuse: ClassVar[dict[str, str]] = {}
    #: extra fields of the model's /v1/models entry (vLLM reports root and max_model_len)
    entry: ClassVar[dict] = {}
    #: a token listed after the text's in ``logprobs.content``, as vLLM lists the
    #: end-of-turn token that stopped generation (None: none, as OpenAI's API)
    end_token: ClassVar[str | None] = None
    #: a prompt holding this text gets a 400 (one bad sample)
    poison: str | None = None
    #: seconds before each answer when no script entry says otherwise
    delay = 0.0
    #: chat completions being answered now, and the most at once
    in_flight = 0
    most_in_flight = 0
    lock = threading.Lock()

    def reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out and hung up, as scripted

    def do_POST(self):
        cls = type(self)
        with cls.lock:
            cls.hits += 1
            cls.in_flight += 1
            cls.most_in_flight = max(cls.most_in_flight, cls.in_flight)
            status, delay = self.script.pop(0) if self.script else (200, cls.delay)
        try:
            answer = self.answer(status, delay)
        finally:
            with cls.lock:  # no longer in flight once the reply is on its way
                cls.in_flight -= 1
        self.reply(*answer)

    def answer(self, status: int, delay: float) -> tuple[int, dict]:
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        self.bodies.append(request)
        self.seen.append((self.path, self.headers.get("Authorization")))
        time.sleep(delay)
        if self.poison and self.poison in json.dumps(request["messages"]):
            return (400, {"error": {"message": "scripted poison", "type": "test"}})
        parts = [p.get("type") for m in request["messages"] if isinstance(m["content"], list)
                 for p in m["content"]]
        refused = [self.refuse[p] for p in parts if p in self.refuse]
        if refused:
            return (400, {"error": {"message": refused[0], "type": "BadRequestError"}})
        if status != 200:
            return (status, {"error": {"message": f"scripted {status} for "
                                                            f"{self.path}", "type": "test"}})
        body = {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "ok go"}}]}
        k = request.get("prompt_logprobs")
        if k is not None and self.scores:
            if k > 20:
                return (400, {"error": {"message": f"Requested prompt logprobs of "
                                                             f"{k}, which is greater than max "
                                                             "allowed: 20", "type": "test"}})
            prompt = "".join(f"<{m['role']}>" + (m["content"] if isinstance(m["content"], str)
                                                 else "".join(p.get("text", "") for p in
                                                              m["content"]))
                             for m in request["messages"])
            body["prompt_token_ids"] = [ord(c) for c in prompt]
            body["prompt_logprobs"] = [None]
            for c in prompt[1:]:
                entry = {str(100000 + r): {"logprob": float(np.log(0.5 ** r)), "rank": r,
                                           "decoded_token": "?"} for r in range(1, k + 1)}
                if c.islower():
                    entry.pop("100001", None)
                    entry[str(ord(c))] = {"logprob": float(np.log(0.5)), "rank": 1,
                                          "decoded_token": c}
                else:
                    entry[str(ord(c))] = {"logprob": float(np.log(1e-3)), "rank": 30,
                                          "decoded_token": c}
                body["prompt_logprobs"].append(entry)
        if request.get("logprobs") and self.give_logprobs:
            k = request["top_logprobs"]
            step = [("ok", [0.6, 0.3, 0.05]), (" go", [0.9, 0.02])]
            if self.end_token:
                step.append((self.end_token, [0.8, 0.1]))
            body["choices"][0]["logprobs"] = {"content": [
                {"token": tok, "logprob": float(np.log(probs[0])), "bytes": None,
                 "top_logprobs": [{"token": f"t{j}", "logprob": float(np.log(q)),
                                   "bytes": None} for j, q in enumerate(probs[:k])]}
                for tok, probs in step]}
        return (200, body)

    def do_GET(self):
        if self.path.split("?")[0] == "/v1/models" and self.models_status == 200:
            return self.reply(200, {"object": "list", "data": [{"id": "m", "object": "model",
                                                                 **self.entry}]})
        return self.reply(self.models_status if self.path.startswith("/v1/models") else 404,
                          {"error": {"message": f"no route {self.path}", "type": "test"}})

    def log_message(self, *args):
        pass
