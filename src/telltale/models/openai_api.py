"""The ``openai:`` backend: any OpenAI-compatible chat server (vLLM, SGLang, hosted APIs,
or ``telltale serve``).

Requests run concurrently up to ``concurrency``; 429, 408, 5xx, timeouts and connection
errors are retried with exponential backoff and jitter; any other 4xx fails at once with the
server's message. ``score`` and exact per-token statistics need a server that exposes the
telltale extension (``telltale serve``); elsewhere ``generate(with_stats=True)`` builds
statistics from the returned top-k log-probabilities (see :func:`stats_from_top_logprobs`).
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

from telltale.console import log
from telltale.models.base import (
    CAPABILITIES,
    STAT_NAMES,
    BaseModel,
    DecodingConfig,
    Generation,
    Request,
    TokenStats,
    UnsupportedRequest,
)
from telltale.models.wire import to_messages

T = TypeVar("T")


class RemoteError(RuntimeError):
    """A request the server rejected for good (a 4xx other than 408 and 429), or a server
    that stayed unavailable through every retry."""


def stats_from_top_logprobs(entries: list[dict[str, Any]]) -> TokenStats:
    """Per-token statistics from an OpenAI ``logprobs.content`` list.

    Parameters
    ----------
    entries : list of dict
        One dict per generated token, as in ``choices[0].logprobs.content`` of a chat
        completion: ``token`` (str), ``logprob`` (float, natural log) and ``top_logprobs``
        (list of ``{"token", "logprob"}``, the k most likely tokens at that step; may be empty).

    Returns
    -------
    TokenStats
        One entry per token. ``logprob`` is exact. ``top1_prob`` and ``renyi_inf`` are exact
        when the top list is not empty, ``top2_prob`` when it has at least two entries.
        With an empty top list the chosen token is taken as the most likely one, which is
        exact under greedy decoding only, and ``top2_prob`` is 0.

    Notes
    -----
    The server returns a truncated distribution: the top-k probabilities and nothing about
    the other tokens. The residual mass ``1 - sum(top-k)`` is kept explicitly as one extra
    outcome, so the distribution sums to one. Merging outcomes never increases Shannon or
    Renyi entropy (both are Schur-concave), so ``entropy``, ``renyi_0_5`` and ``renyi_2`` are
    lower bounds of the true values; ``mean_logp`` (= -entropy) is an upper bound and
    ``var_logp`` an approximation. They are approximations, not the exact statistics of
    :func:`telltale.models.distribution.position_stats`; a server run by ``telltale serve``
    returns the exact ones, and :class:`OpenAIModel` uses those when it can.
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
        # top-k log-probabilities rounded by the server can sum to slightly more than one
        p = p / p.sum()
        logp = np.log(p)
        entropy = float(-(p * logp).sum())
        values["logprob"].append(float(entry["logprob"]))
        values["entropy"].append(entropy)
        values["renyi_0_5"].append(float(2 * np.log(np.sqrt(p).sum())))
        values["renyi_2"].append(float(-np.log((p * p).sum())))
        # the residual bucket may be heavier than any single token: use the known top-1
        values["renyi_inf"].append(float(-top[0]))
        values["top1_prob"].append(float(math.exp(top[0])))
        values["top2_prob"].append(float(math.exp(top[1])) if len(top) > 1 else 0.0)
        values["mean_logp"].append(-entropy)
        values["var_logp"].append(float((p * logp * logp).sum() - entropy * entropy))
    return TokenStats(tokens=tokens, values=values)


class OpenAIModel(BaseModel):
    """A model behind an OpenAI-compatible HTTP endpoint.

    Parameters
    ----------
    model : str
        The model id the server knows the model by.
    base_url : str
        The API root, e.g. ``http://127.0.0.1:8000/v1``.
    api_key : str, optional
        Sent as the bearer token. Defaults to ``$OPENAI_API_KEY``, else ``"EMPTY"`` (local
        servers ignore it). It is handed to the client only: never logged, never part of
        ``repr`` or ``fingerprint``.
    concurrency : int
        Most requests in flight at once.
    timeout : float
        Seconds per HTTP request before it counts as timed out (and is retried).
    max_retries : int
        Retries after the first attempt on 429, 408, 5xx, timeouts and connection errors.
    backoff : float
        Base delay in seconds; retry ``i`` (from 0) waits ``backoff * 2**i * (1 + u)`` with
        ``u`` uniform in [0, 1) from a generator seeded with ``seed``.
    top_logprobs : int
        ``k`` asked for with ``generate(with_stats=True)`` on servers without the telltale
        extension (the OpenAI API allows at most 20).
    capabilities : iterable of str, optional
        What the server accepts, a subset of :data:`telltale.models.base.CAPABILITIES`, for
        servers that cannot say it themselves (e.g. a text-only vLLM that returns
        log-probabilities: ``{"generate", "stats_on_generate"}``). By default a
        ``telltale serve`` server's own capabilities are used, and any other server is
        assumed to take audio and images, to return log-probabilities and to be unable to
        score. ``"batch"`` is added whenever ``"generate"`` is there.
    seed : int
        Seed of the backoff jitter.
    """

    name = "openai"

    def __init__(self, model: str, base_url: str, api_key: str | None = None,
                 concurrency: int = 8, timeout: float = 60.0, max_retries: int = 5,
                 backoff: float = 0.5, top_logprobs: int = 5,
                 capabilities: Iterable[str] | None = None, seed: int = 0):
        import httpx
        from openai import OpenAI

        if not model:
            raise ValueError("OpenAIModel needs a model id")
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base URL {base_url!r} for model {model!r} must start with "
                             "http:// or https://")
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.concurrency = max(1, int(concurrency))
        self.max_retries = max(0, int(max_retries))
        self.backoff = float(backoff)
        self.top_logprobs = int(top_logprobs)
        self._jitter = random.Random(seed)
        # retries are ours (logged, tested), so the client's own are switched off
        self._client = OpenAI(base_url=self.base_url,
                              api_key=api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY",
                              timeout=timeout, max_retries=0)
        self.server_info: dict[str, Any] = {}
        try:
            reply = httpx.get(f"{self.base_url}/telltale/info", timeout=min(timeout, 10.0))
            if reply.status_code == 200 and isinstance(reply.json(), dict):
                self.server_info = reply.json()
        except (httpx.HTTPError, ValueError):
            pass  # an ordinary OpenAI-compatible server: no telltale extension
        if capabilities is not None:
            caps = set(capabilities)
            unknown = caps - CAPABILITIES
            if unknown:
                raise ValueError(f"unknown capabilities {sorted(unknown)} for {model!r}; "
                                 f"expected a subset of {sorted(CAPABILITIES)}")
            if "score" in caps and not self.server_info:
                raise ValueError(f"{model} at {self.base_url} does not expose the telltale "
                                 "scoring extension, so it cannot be declared able to score")
        elif self.server_info:
            caps = set(self.server_info.get("capabilities", ())) & CAPABILITIES
        else:
            # the usual multimodal chat server, whose log-probabilities give the statistics
            caps = {"generate", "audio", "image", "stats_on_generate"}
        if "generate" in caps:
            caps.add("batch")  # many requests per call, sent concurrently
        self.capabilities = frozenset(caps)
        self.fingerprint = self.make_fingerprint(
            backend="openai", model=model, base_url=self.base_url,
            server=self.server_info.get("fingerprint"))

    def __repr__(self) -> str:
        return f"OpenAIModel(model={self.model!r}, base_url={self.base_url!r})"

    # retries ------------------------------------------------------------------------------
    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` with retries on transient failures.

        Raises
        ------
        RemoteError
            On a 4xx other than 408 and 429 (at once), or when the retries run out.
        """
        import openai

        transient = (openai.RateLimitError, openai.InternalServerError, openai.APITimeoutError,
                     openai.APIConnectionError)
        for attempt in range(self.max_retries + 1):
            try:
                return fn(*args, **kwargs)
            except (openai.APIStatusError, *transient) as exc:
                status = getattr(exc, "status_code", None)
                if not isinstance(exc, transient) and status != 408:
                    raise RemoteError(f"{self.model} at {self.base_url} rejected the request "
                                      f"(HTTP {status}): {exc.message}") from None
                if attempt == self.max_retries:
                    raise RemoteError(f"{self.model} at {self.base_url}: giving up after "
                                      f"{attempt + 1} attempts ({type(exc).__name__}: {exc})"
                                      ) from None
                delay = self.backoff * 2**attempt * (1 + self._jitter.random())
                log.warning("%s at %s: %s; retry %d/%d in %.2fs", self.model, self.base_url,
                            type(exc).__name__, attempt + 1, self.max_retries, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")

    def _map(self, fn: Callable[[Any], T], items: list[Any]) -> list[T]:
        """``[fn(item) for item in items]`` with at most ``concurrency`` calls in flight."""
        if len(items) <= 1 or self.concurrency == 1:
            return [fn(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(items))) as pool:
            return list(pool.map(fn, items))

    # the two verbs -------------------------------------------------------------------------
    def generate(self, requests: list[Request], decoding: DecodingConfig | None = None,
                 with_stats: bool = False) -> list[Generation]:
        """Chat completions for each request, in order.

        Parameters
        ----------
        requests : list of Request
            Audio goes as an ``input_audio`` part (base64 WAV, 16 kHz mono), an image as an
            ``image_url`` part (PNG data URL), ``system`` as a system message.
        decoding : DecodingConfig, optional
            Greedy by default; ``seed`` is always sent.
        with_stats : bool
            Also return per-step :class:`TokenStats` of each answer: exact ones from a
            ``telltale serve`` server, else built from ``logprobs=True, top_logprobs=k`` by
            :func:`stats_from_top_logprobs` (approximations, see there).

        Returns
        -------
        list of Generation

        Raises
        ------
        UnsupportedRequest
            For media the server does not take, or stats from a server that returns no
            log-probabilities.
        RemoteError
            When the server rejects a request or stays unavailable.
        """
        self.require("generate", requests)
        if with_stats:
            self.require("stats_on_generate")
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
            if not reply.choices:
                raise RemoteError(f"{self.model} at {self.base_url} returned no choices")
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
        """Exact per-token statistics of ``continuations[i]`` as the answer to
        ``requests[i]``, from the ``/v1/telltale/score`` extension of ``telltale serve``.

        Raises
        ------
        UnsupportedRequest
            On any other server: the chat API has no way to teacher-force a given answer
            (the completions ``echo`` path would need the model's chat template and media
            encoding on the client side, which the client does not have).
        """
        if not self.server_info:
            raise UnsupportedRequest(
                f"{self.model} at {self.base_url} cannot score a given continuation: OpenAI-"
                "compatible chat servers do not expose teacher-forced log-probabilities; serve "
                "the model with `telltale serve` for exact scoring")
        self.require("score", requests)
        if len(requests) != len(continuations):
            raise ValueError(f"score got {len(requests)} requests and {len(continuations)} "
                             "continuations")
        import httpx

        def one(pair: tuple[Request, str]) -> TokenStats:
            request, continuation = pair

            def post() -> Any:
                reply = self._client.post(
                    "/telltale/score", cast_to=httpx.Response,
                    body={"model": self.model, "messages": to_messages(request),
                          "continuation": continuation})
                return reply.json()

            return TokenStats.from_dict(self._call(post))

        return self._map(one, list(zip(requests, continuations, strict=True)))
