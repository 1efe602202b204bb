"""The ``openai:`` backend: any OpenAI-compatible chat server (vLLM, SGLang, ``transformers
serve``, hosted APIs, or ``telltale serve``).

At start the backend checks the endpoint (``GET /models``: a refused connection, a 404, a
401 or a model the server does not list stops at once, with the reason) and asks what it
can do: ``telltale serve`` says so at ``/telltale/info``; any other server is probed with
one tiny request per verb (log-probabilities on generate; scoring with vLLM's
``prompt_logprobs`` fields, see :mod:`telltale.models.wire`). What a server refused is
refused later with the server's own reason.

Requests run concurrently up to ``concurrency``. 429, 408, 5xx, timeouts and dropped
connections are retried with exponential backoff and jitter, within a total retry budget
shared by all requests; any other 4xx fails at once with the server's message.

Statistics: ``telltale serve`` returns the backend's exact ones. From other servers they
are built from the top-k log-probabilities (:func:`telltale.models.distribution.top_k_stats`)
and marked with ``top_k`` and the tail mass: some are exact, the others only bounded.

Credentials (the API key, a URL's userinfo or query values) never reach ``repr``, the
fingerprint, logs or error messages (:mod:`telltale.credentials`).
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import numpy as np

from telltale.console import log
from telltale.credentials import redact_url, scrub, url_secrets
from telltale.models.base import (
    CAPABILITIES,
    STAT_NAMES,
    BackendError,
    BaseModel,
    DecodingConfig,
    Generation,
    Request,
    TokenStats,
    UnsupportedRequest,
)
from telltale.models.distribution import top_k_stats
from telltale.models.wire import MAX_LOGPROBS, score_fields, span_stats, to_messages

T = TypeVar("T")

#: options an ``openai:`` spec may carry after the URL, as ``,name=value``, and their types
SPEC_OPTIONS: dict[str, type] = {"timeout": float, "retries": int, "concurrency": int,
                                 "top_logprobs": int, "retry_budget": float}
#: the least value of the numeric options (``timeout`` must be above it, the rest at least it)
SPEC_MINIMA: dict[str, float] = {"timeout": 0.0, "retries": 0, "concurrency": 1,
                                 "top_logprobs": 1, "retry_budget": 0.0}
#: any trailing ``,name=value``: known names are read, others refused (not left in the URL)
_OPTION = re.compile(r",([A-Za-z_][A-Za-z0-9_]*)=([^,]*)$")


class RemoteError(BackendError):
    """A request the server rejected for good (a 4xx other than 408 and 429), an endpoint
    that is not there, or a server that stayed unavailable through the retry budget."""


def _reason(exc: Any) -> str:
    """The server's own words for an HTTP error: OpenAI's ``{"error": {"message"}}`` or
    FastAPI's ``{"detail"}`` (``transformers serve``)."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        detail = body.get("message") or body.get("detail")
        if detail:
            return str(detail)
    return str(getattr(exc, "message", exc))


def parse_openai_spec(rest: str) -> tuple[str, str, dict[str, Any]]:
    """Split the part of an ``openai:`` spec after the scheme.

    ``<model>@<base_url>[,name=value...]``: the model id ends at the ``@`` that starts the
    URL (``@http://`` or ``@https://``), so a URL with userinfo such as
    ``http://user:KEY@host/v1`` stays whole. Options are those of :data:`SPEC_OPTIONS`
    (``retries`` is ``max_retries``), e.g. ``openai:m@http://127.0.0.1:8000/v1,timeout=30``.

    Returns
    -------
    model, base_url, options

    Raises
    ------
    ValueError
        With the expected form; the message never holds the URL's credentials.
    """
    match = re.search(r"@(?=https?://)", rest)
    if not match or not rest[:match.start()]:
        # the spec is not echoed: whatever follows the model id may hold a credential
        raise ValueError("openai spec needs the form openai:<model>@<base_url>, the URL "
                         "starting with http:// or https://")
    model, url = rest[:match.start()], rest[match.end():]
    options: dict[str, Any] = {}
    while found := _OPTION.search(url):
        name, value = found.groups()
        options["max_retries" if name == "retries" else name] = spec_option(name, value)
        url = url[:found.start()]
    return model, url, options


def spec_option(name: str, text: str) -> Any:
    """The value of the ``openai:`` spec option ``,name=text``, checked as the command-line
    option of the same name is.

    Raises
    ------
    ValueError
        For a name not in :data:`SPEC_OPTIONS` (the value is not echoed: it may be a
        credential), a value of the wrong type, or one below :data:`SPEC_MINIMA`.
    """
    if name not in SPEC_OPTIONS:
        raise ValueError(f"openai spec option {name!r} is unknown; the spec takes "
                         f"{', '.join(SPEC_OPTIONS)} (as ,name=value after the URL)")
    kind = SPEC_OPTIONS[name]
    try:
        value = kind(text)
    except ValueError:
        raise ValueError(f"openai spec option {name}={text!r} is not a "
                         f"{kind.__name__}") from None
    least = SPEC_MINIMA.get(name)
    if least is not None and (value < least or (name == "timeout" and value == least)):
        bound = f"above {least:g}" if name == "timeout" else f"at least {least:g}"
        raise ValueError(f"openai spec option {name}={text}: must be {bound}")
    return value


def served_prompts(entry: Any) -> dict[str, Any] | None:
    """How a served model must be asked, when its ``/v1/models`` entry says so (``telltale
    serve`` of an organism: :data:`telltale.models.server.PROMPTS_FIELD`); else None."""
    extra = getattr(entry, "model_extra", None) or {}
    prompts = extra.get("telltale_prompts")
    if isinstance(prompts, dict) and isinstance(prompts.get("taxonomy"), dict) \
            and isinstance(prompts.get("modes"), dict):
        return prompts
    return None


class OpenAIModel(BaseModel):
    """A model behind an OpenAI-compatible HTTP endpoint.

    Parameters
    ----------
    model : str
        The model id the server knows the model by.
    base_url : str
        The API root, e.g. ``http://127.0.0.1:8000/v1``. Userinfo (``user:KEY@``) is sent as
        HTTP basic auth, query parameters (``?api_key=KEY``) with every request; both are
        kept out of ``repr``, the fingerprint, logs and errors.
    api_key : str, optional
        Sent as the bearer token. Defaults to ``$OPENAI_API_KEY``, else ``"EMPTY"`` (local
        servers ignore it). Never logged, never part of ``repr`` or ``fingerprint``.
    concurrency : int
        Most requests in flight at once.
    timeout : float
        Seconds per HTTP request before it counts as timed out (and is retried).
    max_retries : int
        Retries of one request after its first attempt on 429, 408, 5xx, timeouts and
        dropped connections.
    retry_budget : float
        Seconds of backoff all requests together may spend waiting before a retry; when it
        is spent, the next transient failure is final. Bounds how long a run keeps going
        against a server that has gone away.
    backoff : float
        Base delay in seconds; retry ``i`` (from 0) waits ``backoff * 2**i * (1 + u)`` with
        ``u`` uniform in [0, 1) from a generator seeded with ``seed``.
    top_logprobs : int
        ``k`` of the top-k log-probabilities asked for statistics and scoring on servers
        without exact statistics. vLLM refuses more than its ``--max-logprobs`` (default
        20); a ``telltale serve`` server's own limit caps it.
    capabilities : iterable of str, optional
        What the server accepts, a subset of :data:`telltale.models.base.CAPABILITIES`.
        Given, it replaces asking the server. By default a ``telltale serve`` server's own
        capabilities are used; any other server is probed for log-probabilities and for
        scoring and assumed to take audio and images (declare a text-only server here).
        ``"batch"`` is added whenever ``"generate"`` is there.
    exact_stats : bool
        Use a ``telltale serve`` server's exact statistics. False takes the top-k path any
        vLLM-compatible server gives (to compare the two on one server).
    seed : int
        Seed of the backoff jitter.

    Raises
    ------
    RemoteError
        When nothing answers at ``base_url``, it is no OpenAI API root, it refuses the
        credentials, or it does not serve ``model``.
    """

    name = "openai"

    def __init__(self, model: str, base_url: str, api_key: str | None = None,
                 concurrency: int = 8, timeout: float = 60.0, max_retries: int = 5,
                 retry_budget: float = 120.0, backoff: float = 0.5,
                 top_logprobs: int = MAX_LOGPROBS, capabilities: Iterable[str] | None = None,
                 exact_stats: bool = True, seed: int = 0):
        from openai import OpenAI

        if not model:
            raise ValueError("OpenAIModel needs a model id")
        self.base_url = redact_url(base_url.rstrip("/"))
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base URL {self.base_url!r} for model {model!r} must start with "
                             "http:// or https://")
        key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        self._secrets = [*url_secrets(base_url), key]
        self.model = model
        self.concurrency = max(1, int(concurrency))
        self.max_retries = max(0, int(max_retries))
        self.backoff = float(backoff)
        self.top_logprobs = int(top_logprobs)
        if self.top_logprobs < 1:
            raise ValueError(f"top_logprobs must be at least 1, got {top_logprobs}")
        self._jitter = random.Random(seed)
        self._budget = float(retry_budget)
        self._budget_lock = threading.Lock()
        # the query travels as default_query: the SDK appends routes to the URL's path
        parts = urlsplit(base_url.rstrip("/"))
        # retries are ours (logged, tested, budgeted), so the client's own are switched off
        self._client = OpenAI(base_url=urlunsplit((*parts[:3], "", "")), api_key=key,
                              timeout=timeout, max_retries=0,
                              default_query=dict(parse_qsl(parts.query)) or None)
        #: capability -> the server's reason for refusing it, shown when it is asked for
        self.refusals: dict[str, str] = {}
        self.server_info = self._check_endpoint(min(timeout, 10.0))
        self.exact = bool(self.server_info) and exact_stats
        if self.server_info:
            served_k = int(self.server_info.get("max_logprobs", self.top_logprobs))
            self.top_logprobs = max(1, min(self.top_logprobs, served_k))
        if capabilities is not None:
            caps = set(capabilities)
            unknown = caps - CAPABILITIES
            if unknown:
                raise ValueError(f"unknown capabilities {sorted(unknown)} for {model!r}; "
                                 f"expected a subset of {sorted(CAPABILITIES)}")
        elif self.server_info:
            caps = set(self.server_info.get("capabilities", ())) & CAPABILITIES
        else:
            caps = {"generate", "audio", "image"} | self._probe()
        if "generate" in caps:
            caps.add("batch")  # many requests per call, sent concurrently
        self.capabilities = frozenset(caps)
        self.fingerprint = self.make_fingerprint(
            backend="openai", model=model, base_url=self.base_url,
            server=self.server_info.get("fingerprint"),
            top_k=None if self.exact else self.top_logprobs)

    def __repr__(self) -> str:
        return f"OpenAIModel(model={self.model!r}, base_url={self.base_url!r})"

    def _safe(self, text: str) -> str:
        """``text`` with this backend's credentials scrubbed out."""
        return scrub(text, self._secrets)

    # the endpoint and what it can do --------------------------------------------------------
    def _check_endpoint(self, timeout: float) -> dict[str, Any]:
        """Fail fast on an endpoint that cannot work; the telltale extension's info if the
        server has it, else ``{}``."""
        import httpx
        import openai

        client = self._client.with_options(timeout=timeout)
        where = f"{self.model} at {self.base_url}"
        try:
            listing = {m.id: m for m in client.models.list()}
        except openai.APIConnectionError as exc:
            kind = "did not answer in time" if isinstance(exc, openai.APITimeoutError) \
                else "refused the connection or could not be reached"
            raise RemoteError(f"{where}: the server {kind} (GET /models); is it running, and "
                              "is the URL right?") from None
        except openai.NotFoundError:
            raise RemoteError(f"{where}: GET /models answered 404, so this is not the root of "
                              "an OpenAI-compatible API (it usually ends in /v1)") from None
        except openai.APIStatusError as exc:
            raise RemoteError(self._safe(f"{where}: GET /models answered HTTP "
                                         f"{exc.status_code}: {_reason(exc)}")) from None
        if listing and self.model not in listing:
            raise RemoteError(self._safe(f"{where}: the server does not serve model "
                                         f"{self.model!r}; it serves {', '.join(listing)}"))
        self.prompts = served_prompts(listing.get(self.model))
        try:
            info = client.get("/telltale/info", cast_to=httpx.Response).json()
        except (openai.APIError, ValueError):
            return {}  # an ordinary OpenAI-compatible server: no telltale extension
        return info if isinstance(info, dict) and "telltale" in info else {}

    def _probe(self) -> set[str]:
        """Ask the server, with one tiny request each, whether it returns log-probabilities
        on generate and scores a given continuation; record why not in :attr:`refusals`."""
        import httpx
        import openai

        found: set[str] = set()
        hello = Request("Say OK.")
        k = self.top_logprobs
        probes = {
            "stats_on_generate": dict(messages=to_messages(hello), max_tokens=1,
                                      temperature=0.0, logprobs=True, top_logprobs=k),
            "score": {"messages": to_messages(hello, "OK"), **score_fields(k)},
        }
        for capability, body in probes.items():
            try:
                reply = self._client.post("/chat/completions", cast_to=httpx.Response,
                                          body={"model": self.model, **body}).json()
            except openai.APIStatusError as exc:
                self.refusals[capability] = self._safe(f"the probe was refused with HTTP "
                                                       f"{exc.status_code}: {_reason(exc)}")
                continue
            except (openai.APIError, ValueError) as exc:
                raise RemoteError(self._safe(f"{self.model} at {self.base_url}: the probe "
                                             f"for {capability} failed: "
                                             f"{type(exc).__name__}")) from None
            try:
                if capability == "score":
                    span_stats(reply, "OK", k)
                elif not reply["choices"][0]["logprobs"]["content"]:
                    raise ValueError("empty logprobs.content")
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                self.refusals[capability] = self._safe(f"the server ignored the fields: {exc}")
                continue
            found.add(capability)
        return found

    def require(self, capability: str, requests: list[Request] | None = None) -> None:
        try:
            super().require(capability, requests)
        except UnsupportedRequest as exc:
            reason = self.refusals.get(capability)
            if reason is None:
                raise
            raise UnsupportedRequest(f"{exc}; {self.model} at {self.base_url}: {reason}") from None

    # retries ------------------------------------------------------------------------------
    def _spend(self, delay: float) -> bool:
        """Take ``delay`` seconds from the retry budget; False when it does not hold them."""
        with self._budget_lock:
            if delay > self._budget:
                return False
            self._budget -= delay
            return True

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` with retries on transient failures.

        Raises
        ------
        RemoteError
            On a 4xx other than 408 and 429 (at once), or when the retries or the retry
            budget run out.
        """
        import openai

        transient = (openai.RateLimitError, openai.InternalServerError, openai.APITimeoutError,
                     openai.APIConnectionError)
        where = f"{self.model} at {self.base_url}"
        for attempt in range(self.max_retries + 1):
            try:
                return fn(*args, **kwargs)
            except (openai.APIStatusError, *transient) as exc:
                status = getattr(exc, "status_code", None)
                if not isinstance(exc, transient) and status != 408:
                    raise RemoteError(self._safe(f"{where} rejected the request (HTTP "
                                                 f"{status}): {_reason(exc)}")) from None
                what = f"HTTP {status}" if status else type(exc).__name__
                delay = self.backoff * 2**attempt * (1 + self._jitter.random())
                if attempt == self.max_retries or not self._spend(delay):
                    raise RemoteError(self._safe(
                        f"{where}: giving up after {attempt + 1} attempts ({what}; retries "
                        f"or retry budget spent)")) from None
                log.warning("%s: %s; retry %d/%d in %.2fs", where, what, attempt + 1,
                            self.max_retries, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")

    def _map(self, fn: Callable[[Any], T], items: list[Any]) -> list[T]:
        """``[fn(item) for item in items]`` with at most ``concurrency`` calls in flight."""
        if len(items) <= 1 or self.concurrency == 1:
            return [fn(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(items))) as pool:
            return list(pool.map(fn, items))

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        """One chat completion request with retries, as plain JSON (vLLM's extra reply
        fields included)."""
        import httpx

        def post() -> Any:
            return self._client.post("/chat/completions", cast_to=httpx.Response,
                                     body={"model": self.model, **body}).json()

        try:
            reply = self._call(post)
        except ValueError:
            raise RemoteError(f"{self.model} at {self.base_url} answered with no JSON") from None
        if not isinstance(reply, dict) or not reply.get("choices"):
            raise RemoteError(f"{self.model} at {self.base_url} returned no choices")
        return reply

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
            ``telltale serve`` server, else built from ``logprobs=True, top_logprobs=k``
            and marked with ``top_k`` (see :func:`telltale.models.distribution.top_k_stats`).

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
            body: dict[str, Any] = {"messages": to_messages(request),
                                    "temperature": decoding.temperature,
                                    "max_tokens": decoding.max_new_tokens, "seed": decoding.seed}
            if decoding.top_p != 1.0:
                body["top_p"] = decoding.top_p
            if with_stats and self.exact:
                body["telltale_stats"] = True
            elif with_stats:
                body.update(logprobs=True, top_logprobs=self.top_logprobs)
            reply = self._post(body)
            choice = reply["choices"][0]
            text = (choice.get("message") or {}).get("content") or ""
            if not with_stats:
                return Generation(text)
            if self.exact:
                return Generation(text, TokenStats.from_dict(reply["telltale_stats"]))
            entries = (choice.get("logprobs") or {}).get("content")
            if entries is None:
                raise UnsupportedRequest(f"{self.model} at {self.base_url} returned no "
                                         "log-probabilities; per-token statistics need them")
            return Generation(text, stats_from_top_logprobs(entries, self.top_logprobs))

        return self._map(one, requests)

    def score(self, requests: list[Request], continuations: list[str]) -> list[TokenStats]:
        """Per-token statistics of ``continuations[i]`` as the answer to ``requests[i]``.

        Each pair goes as the user turn plus an assistant turn holding the continuation,
        with vLLM's scoring fields (:func:`telltale.models.wire.score_fields`); the span of
        the continuation is sliced out of ``prompt_logprobs``
        (:func:`telltale.models.wire.span_stats`). ``telltale serve`` also returns its exact
        statistics, which are used instead.

        Raises
        ------
        UnsupportedRequest
            When the server does not score (with the reason it gave to the probe).
        RemoteError
            When a reply cannot be read as a scoring reply, or the server fails.
        """
        self.require("score", requests)
        if len(requests) != len(continuations):
            raise ValueError(f"score got {len(requests)} requests and {len(continuations)} "
                             "continuations")
        k = self.top_logprobs

        def one(pair: tuple[Request, str]) -> TokenStats:
            request, continuation = pair
            if not continuation.strip():
                return TokenStats([], {n: [] for n in STAT_NAMES},
                                  top_k=None if self.exact else k,
                                  tail_mass=None if self.exact else [])
            body = {"messages": to_messages(request, continuation), **score_fields(k)}
            if self.exact:
                body["telltale_stats"] = True
            reply = self._post(body)
            if self.exact:
                return TokenStats.from_dict(reply["telltale_stats"])
            try:
                return span_stats(reply, continuation, k)
            except ValueError as exc:
                raise RemoteError(self._safe(f"{self.model} at {self.base_url}: {exc}")) from None

        return self._map(one, list(zip(requests, continuations, strict=True)))


def stats_from_top_logprobs(entries: list[dict[str, Any]], k: int) -> TokenStats:
    """Per-token statistics from an OpenAI ``logprobs.content`` list, marked approximate.

    Parameters
    ----------
    entries : list of dict
        One dict per generated token, as in ``choices[0].logprobs.content`` of a chat
        completion: ``token`` (str), ``logprob`` (float, natural log) and ``top_logprobs``
        (list of ``{"token", "logprob"}``, the k most likely tokens at that step).
    k : int
        The ``top_logprobs`` asked for.

    Returns
    -------
    TokenStats
        With ``top_k = k`` and the tail mass per token; which statistics are exact and which
        bounded is said in :func:`telltale.models.distribution.top_k_stats`.
    """
    own = np.array([float(e["logprob"]) for e in entries])
    top = [np.array([float(t["logprob"]) for t in e.get("top_logprobs") or []])
           for e in entries]
    values = top_k_stats(own, top, k)
    tail = values.pop("tail_mass")
    return TokenStats(tokens=[e["token"] for e in entries], values=values, top_k=k,
                      tail_mass=tail)
