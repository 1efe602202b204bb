"""The ``openai:`` backend: any OpenAI-compatible chat server (vLLM, SGLang, hosted APIs,
or ``telltale serve``).

Requests run concurrently up to ``concurrency``; 429, 5xx, timeouts and connection errors
are retried with exponential backoff and jitter; any other 4xx fails at once with the
server's message. ``score`` and exact per-token statistics need a server that exposes the
telltale extension (``telltale serve``); elsewhere ``generate(with_stats=True)`` builds
statistics from the returned top-k log-probabilities (see :func:`stats_from_top_logprobs`).
"""

from __future__ import annotations

import math
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from telltale.console import log
from telltale.models.base import (
    STAT_NAMES,
    BaseModel,
    DecodingConfig,
    Generation,
    Request,
    TokenStats,
    UnsupportedRequest,
)
from telltale.models.wire import to_messages


class RemoteError(RuntimeError):
    """A request the server rejected for good (a 4xx other than 429)."""


def stats_from_top_logprobs(entries: list[dict[str, Any]]) -> TokenStats:
    """Per-token statistics from an OpenAI ``logprobs.content`` list.

    ``logprob``, ``top1_prob`` and ``top2_prob`` are exact when the server returns at least
    two alternatives. The entropies and the moments of log p are computed over the top-k
    tokens plus one bucket holding the residual mass ``1 - sum(top-k)``: with a truncated
    distribution this is the closest one can get, and it under-estimates the entropy of
    a flat tail. Servers that run ``telltale serve`` return exact statistics instead.
    """
    tokens: list[str] = []
    values: dict[str, list[float]] = {n: [] for n in STAT_NAMES}
    for entry in entries:
        tokens.append(entry["token"])
        top = sorted((t["logprob"] for t in entry.get("top_logprobs") or []), reverse=True)
        if not top:
            top = [entry["logprob"]]
        probs = np.exp(np.asarray(top, dtype=float))
        residual = max(0.0, 1.0 - probs.sum())
        p = np.append(probs, residual) if residual > 1e-12 else probs
        p = p / p.sum()
        logp = np.log(p)
        entropy = float(-(p * logp).sum())
        values["logprob"].append(float(entry["logprob"]))
        values["entropy"].append(entropy)
        values["renyi_0_5"].append(float(2 * np.log(np.sqrt(p).sum())))
        values["renyi_2"].append(float(-np.log((p * p).sum())))
        values["renyi_inf"].append(float(-np.log(p.max())))
        values["top1_prob"].append(float(math.exp(top[0])))
        values["top2_prob"].append(float(math.exp(top[1])) if len(top) > 1 else 0.0)
        values["mean_logp"].append(-entropy)
        values["var_logp"].append(float((p * logp * logp).sum() - entropy * entropy))
    return TokenStats(tokens=tokens, values=values)


class OpenAIModel(BaseModel):
    """A model behind an OpenAI-compatible HTTP endpoint."""

    name = "openai"

    def __init__(self, model: str, base_url: str, api_key: str | None = None,
                 concurrency: int = 8, timeout: float = 60.0, max_retries: int = 5,
                 backoff: float = 0.5, top_logprobs: int = 5, seed: int = 0):
        import httpx
        from openai import OpenAI

        self.model = model
        self.base_url = base_url.rstrip("/")
        self.concurrency = max(1, int(concurrency))
        self.max_retries = max_retries
        self.backoff = backoff
        self.top_logprobs = top_logprobs
        self._jitter = random.Random(seed)
        # the key is only handed to the client; it is never part of repr or fingerprint
        self._client = OpenAI(base_url=self.base_url,
                              api_key=api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY",
                              timeout=timeout, max_retries=0)
        self.server_info: dict[str, Any] = {}
        try:
            reply = httpx.get(f"{self.base_url}/telltale/info", timeout=min(timeout, 10.0))
            if reply.status_code == 200:
                self.server_info = reply.json()
        except httpx.HTTPError:
            pass  # an ordinary OpenAI-compatible server: no telltale extension
        caps = {"generate", "audio", "image", "batch", "stats_on_generate"}
        if self.server_info:
            caps.add("score")
            caps &= set(self.server_info.get("capabilities", caps)) | {"batch", "stats_on_generate"}
        self.capabilities = frozenset(caps)
        self.fingerprint = self.make_fingerprint(
            backend="openai", model=model, base_url=self.base_url,
            server=self.server_info.get("fingerprint"))

    def __repr__(self) -> str:
        return f"OpenAIModel(model={self.model!r}, base_url={self.base_url!r})"

    # retries ------------------------------------------------------------------------------
    def _call(self, fn, *args, **kwargs):
        import openai

        retryable = (openai.RateLimitError, openai.InternalServerError, openai.APITimeoutError,
                     openai.APIConnectionError)
        for attempt in range(self.max_retries + 1):
            try:
                return fn(*args, **kwargs)
            except retryable as exc:
                if attempt == self.max_retries:
                    raise RemoteError(f"{self.model} at {self.base_url}: giving up after "
                                      f"{attempt + 1} attempts ({type(exc).__name__}: {exc})"
                                      ) from None
                delay = self.backoff * 2**attempt * (1 + self._jitter.random())
                log.warning("%s at %s: %s; retry %d/%d in %.2fs", self.model, self.base_url,
                            type(exc).__name__, attempt + 1, self.max_retries, delay)
                time.sleep(delay)
            except openai.APIStatusError as exc:
                raise RemoteError(f"{self.model} at {self.base_url} rejected the request "
                                  f"(HTTP {exc.status_code}): {exc.message}") from None
        raise AssertionError("unreachable")

    def _map(self, fn, items: list[Any]) -> list[Any]:
        if len(items) <= 1 or self.concurrency == 1:
            return [fn(item) for item in items]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(fn, items))

    # the two verbs -------------------------------------------------------------------------
    def generate(self, requests: list[Request], decoding: DecodingConfig | None = None,
                 with_stats: bool = False) -> list[Generation]:
        self.require("generate", requests)
        decoding = decoding or DecodingConfig()

        def one(request: Request) -> Generation:
            kwargs: dict[str, Any] = {"model": self.model, "messages": to_messages(request),
                                      "temperature": decoding.temperature,
                                      "max_tokens": decoding.max_new_tokens,
                                      "seed": decoding.seed}
            if decoding.top_p != 1.0:
                kwargs["top_p"] = decoding.top_p
            if with_stats:
                if self.server_info:
                    kwargs["extra_body"] = {"telltale_stats": True}
                else:
                    kwargs.update(logprobs=True, top_logprobs=self.top_logprobs)
            reply = self._call(self._client.chat.completions.create, **kwargs)
            choice = reply.choices[0]
            text = choice.message.content or ""
            if not with_stats:
                return Generation(text)
            exact = (reply.model_extra or {}).get("telltale_stats")
            if exact is not None:
                return Generation(text, TokenStats.from_dict(exact))
            if choice.logprobs is None or choice.logprobs.content is None:
                raise UnsupportedRequest(f"{self.model} at {self.base_url} returned no "
                                         "log-probabilities; per-token statistics need them")
            entries = [c.model_dump() for c in choice.logprobs.content]
            return Generation(text, stats_from_top_logprobs(entries))

        return self._map(one, requests)

    def score(self, requests: list[Request], continuations: list[str]) -> list[TokenStats]:
        if not self.server_info:
            raise UnsupportedRequest(
                f"{self.model} at {self.base_url} cannot score a given continuation: OpenAI-"
                "compatible chat servers do not expose teacher-forced log-probabilities; serve "
                "the model with `telltale serve` for exact scoring")
        self.require("score", requests)
        import httpx

        def one(pair: tuple[Request, str]) -> TokenStats:
            request, continuation = pair

            def post():
                reply = self._client.post(
                    "/telltale/score", cast_to=httpx.Response,
                    body={"messages": to_messages(request), "continuation": continuation})
                return reply.json()

            return TokenStats.from_dict(self._call(post))

        return self._map(one, list(zip(requests, continuations, strict=True)))
