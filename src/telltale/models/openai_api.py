"""The ``openai:`` backend: any OpenAI-compatible chat server (vLLM, SGLang, ``transformers
serve``, hosted APIs, or ``telltale serve``), or, as ``openai:<model>@batch``, the same
requests written to batch files instead of sent (:mod:`telltale.batchfiles`).

At start the backend checks the endpoint (``GET /models``: a refused connection, a 404, a
401 or a model the server does not list stops at once, with the reason) and asks what it
can do: ``telltale serve`` says so at ``/telltale/info``; any other server is asked with
one tiny request per capability: log-probabilities on generate, scoring with vLLM's
``prompt_logprobs`` fields (:mod:`telltale.models.wire`), an audio input and an image
input. What a server refused is refused later with the server's own reason.

Requests run concurrently up to ``concurrency``: :func:`telltale.dispatch.run_probes` keeps
that many in flight, each worker thread on its own keep-alive connection
(:mod:`telltale.models.http`). 429, 408, 5xx, timeouts and dropped connections are retried
with exponential backoff and jitter, within a total retry budget shared by all requests;
any other 4xx fails at once with the server's message.

Statistics: ``telltale serve`` returns the backend's exact ones. From other servers they
are built from the top-k log-probabilities (:func:`telltale.models.distribution.top_k_stats`)
and marked with ``top_k`` and the tail mass: some are exact, the others only bounded.

The fingerprint holds what the server reports about the weights (``/v1/models``: vLLM's
``root``, the model path or hub id, and ``max_model_len``) besides the model id and k, so
weights swapped behind one URL start another run; the URL is part of it only where the
server does not name its weights (a restarted local server on another port resumes).
Runs fingerprinted before that (telltale 0.1.0 up to issue 26, or with the URL) resume:
their fingerprint is one of :attr:`OpenAIModel.fingerprint_aliases`, as is that of a
batch-file run of the same served model, so a live run completes what the batch files
left.

Credentials (the API key, a URL's userinfo or query values) never reach ``repr``, the
fingerprint, logs or error messages (:mod:`telltale.credentials`).
"""

from __future__ import annotations

import itertools
import os
import random
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

from telltale import __version__
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
from telltale.models.http import (
    HTTPStatusError,
    JSONClient,
    NoAnswer,
    Unreachable,
    allow_connections,
)
from telltale.models.openai_spec import BATCH, IDENTITY, served_prompts
from telltale.models.wire import (
    MAX_LOGPROBS,
    prepare_media,
    request_body,
    score_fields,
    span_stats,
    stats_from_top_logprobs,
    without_end_token,
)

T = TypeVar("T")

class RemoteError(BackendError):
    """A request the server rejected for good (a 4xx other than 408 and 429), an endpoint
    that is not there, or a server that stayed unavailable through the retry budget."""


def served_fingerprint(model: str, capabilities: Iterable[str], top_k: int,
                       identity: dict[str, Any]) -> str:
    """The fingerprint of a model known only by what it is served as: its id, the
    capabilities declared for it, k, and what is known of its weights (``identity``:
    :data:`IDENTITY` values). A batch-file run has this one; a live server's
    :attr:`OpenAIModel.fingerprint_aliases` hold it for each part of what it reports."""
    return BaseModel.make_fingerprint(backend="openai", served=model, top_k=top_k,
                                      capabilities=sorted(set(capabilities) - {"batch"}),
                                      **identity)


class OpenAIModel(BaseModel):
    """A model behind an OpenAI-compatible HTTP endpoint, or served elsewhere from batch files.

    Parameters
    ----------
    model : str
        The model id the server knows the model by.
    base_url : str
        The API root, e.g. ``http://127.0.0.1:8000/v1``. Userinfo (``user:KEY@``) is sent as
        HTTP basic auth, query parameters (``?api_key=KEY``) with every request; both are
        kept out of ``repr``, the fingerprint, logs and errors. ``"batch"``: no server is
        contacted; requests are only built (:meth:`generation_body`, :meth:`score_body`)
        and replies read (:meth:`read_generation`, :meth:`read_score`) by the batch-file
        route, and ``capabilities`` must say what the served model takes.
    api_key : str, optional
        Sent as the bearer token. Defaults to ``$OPENAI_API_KEY``, else ``"EMPTY"`` (local
        servers ignore it). Never logged, never part of ``repr`` or ``fingerprint``.
    concurrency : int
        Most requests in flight at once.
    timeout : float
        Seconds to connect, or between bytes of an answer, before a request counts as timed
        out (and is retried).
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
        capabilities are used; any other server is asked with one tiny request per
        capability. ``"batch"`` is added whenever ``"generate"`` is there.
    exact_stats : bool
        Use a ``telltale serve`` server's exact statistics. False takes the top-k path any
        vLLM-compatible server gives (to compare the two on one server).
    seed : int
        Seed of the backoff jitter.
    root, max_model_len : str, int, optional
        What the served weights are, as vLLM's ``/v1/models`` reports them. A live server
        that reports other values is refused; for ``"batch"`` they go into the
        fingerprint.

    Raises
    ------
    RemoteError
        When nothing answers at ``base_url``, it is no OpenAI API root, it refuses the
        credentials, it does not serve ``model``, or it serves other weights than
        ``root`` / ``max_model_len`` name.
    """

    name = "openai"

    def __init__(self, model: str, base_url: str, api_key: str | None = None,
                 concurrency: int = 8, timeout: float = 60.0, max_retries: int = 5,
                 retry_budget: float = 120.0, backoff: float = 0.5,
                 top_logprobs: int = MAX_LOGPROBS, capabilities: Iterable[str] | None = None,
                 exact_stats: bool = True, seed: int = 0, root: str | None = None,
                 max_model_len: int | None = None):
        if not model:
            raise ValueError("OpenAIModel needs a model id")
        self.offline = base_url == BATCH
        self.base_url = BATCH if self.offline else redact_url(base_url.rstrip("/"))
        if not self.offline and not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base URL {self.base_url!r} for model {model!r} must start with "
                             f"http:// or https://, or be {BATCH!r}")
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
        self._pool: ThreadPoolExecutor | None = None
        self._pool_size = 0
        self._in_pool = threading.local()
        #: capability -> the server's reason for refusing it, shown when it is asked for
        self.refusals: dict[str, str] = {}
        declared = None if capabilities is None else _check_capabilities(model, capabilities)
        wanted = {k: v for k, v in (("root", root), ("max_model_len", max_model_len))
                  if v is not None}
        if self.offline:
            if declared is None:
                raise ValueError(f"openai:{model}@{BATCH} needs the served model's "
                                 "capabilities, e.g. ,capabilities=generate+score+audio")
            self.server_info: dict[str, Any] = {}
            self.identity = wanted
            self.exact = False
            caps = declared
        else:
            allow_connections(self.concurrency)
            self._http = JSONClient(base_url.rstrip("/"), key, timeout,
                                    f"telltale/{__version__}")
            self.server_info, self.identity = self._check_endpoint(min(timeout, 10.0), wanted)
            self.exact = bool(self.server_info) and exact_stats
            if self.server_info:
                served_k = int(self.server_info.get("max_logprobs", self.top_logprobs))
                self.top_logprobs = max(1, min(self.top_logprobs, served_k))
            if declared is not None:
                caps = declared
            elif self.server_info:
                caps = set(self.server_info.get("capabilities", ())) & CAPABILITIES
            else:
                caps = {"generate"} | self._probe()
        if "generate" in caps:
            caps.add("batch")  # many requests per call, sent concurrently
        self.capabilities = frozenset(caps)
        self._fingerprints()

    def __repr__(self) -> str:
        return f"OpenAIModel(model={self.model!r}, base_url={self.base_url!r})"

    def _safe(self, text: str) -> str:
        """``text`` with this backend's credentials scrubbed out."""
        return scrub(text, self._secrets)

    def _fingerprints(self) -> None:
        k = self.top_logprobs
        served = [served_fingerprint(self.model, self.capabilities, k,
                                     {n: self.identity[n] for n in names})
                  for size in range(len(self.identity) + 1)
                  for names in itertools.combinations(self.identity, size)]
        if self.offline:
            self.fingerprint = served[-1]
            self.fingerprint_aliases: frozenset[str] = frozenset()
            return
        parts = {"backend": "openai", "model": self.model, "base_url": self.base_url,
                 "server": self.server_info.get("fingerprint"),
                 "top_k": None if self.exact else k}
        # a server that names its weights (vLLM's root) is known by them, not by its URL:
        # a local server gets another port at every start, and a run must resume on it
        located = {**parts, **self.identity}
        self.fingerprint = self.make_fingerprint(
            **{**located, "base_url": None} if "root" in self.identity else located)
        # runs fingerprinted with the URL, and before issue 26 without the identity, resume
        self.fingerprint_aliases = frozenset({self.make_fingerprint(**parts),
                                              self.make_fingerprint(**located), *served}
                                             - {self.fingerprint})

    # the endpoint and what it can do --------------------------------------------------------
    def _check_endpoint(self, timeout: float, wanted: dict[str, Any]) -> tuple[dict[str, Any],
                                                                                dict[str, Any]]:
        """Fail fast on an endpoint that cannot work. Returns the telltale extension's info
        if the server has it (else ``{}``) and what ``/models`` reports of the weights."""
        where = f"{self.model} at {self.base_url}"
        try:
            listing = self._http.request("GET", "/models", timeout=timeout)
        except (Unreachable, NoAnswer) as exc:
            kind = "did not answer in time" if getattr(exc, "timed_out", False) \
                else "refused the connection or could not be reached"
            raise RemoteError(f"{where}: the server {kind} (GET /models); is it running, and "
                              "is the URL right?") from None
        except HTTPStatusError as exc:
            if exc.status == 404:
                raise RemoteError(f"{where}: GET /models answered 404, so this is not the root "
                                  "of an OpenAI-compatible API (it usually ends in /v1)") from None
            raise RemoteError(self._safe(f"{where}: GET /models answered HTTP {exc.status}: "
                                         f"{exc.reason}")) from None
        except ValueError:
            raise RemoteError(f"{where}: GET /models answered with no JSON") from None
        entries = listing.get("data") if isinstance(listing, dict) else None
        if not isinstance(entries, list):
            raise RemoteError(f"{where}: GET /models returned no model list")
        served = {str(e.get("id")): e for e in entries if isinstance(e, dict)}
        if served and self.model not in served:
            raise RemoteError(self._safe(f"{where}: the server does not serve model "
                                         f"{self.model!r}; it serves {', '.join(served)}"))
        entry = served.get(self.model, {})
        identity = {n: entry[n] for n in IDENTITY if entry.get(n) is not None}
        for name, value in wanted.items():
            if identity.get(name) != value:
                raise RemoteError(self._safe(
                    f"{where}: the spec names {name}={value} but the server reports "
                    f"{identity.get(name, 'none')}; is it serving other weights?"))
        self.prompts = served_prompts(entry)
        try:
            info = self._http.request("GET", "/telltale/info", timeout=timeout)
        except (HTTPStatusError, Unreachable, NoAnswer, ValueError):
            return {}, identity  # an ordinary OpenAI-compatible server: no extension
        return (info if isinstance(info, dict) and "telltale" in info else {}), identity

    def _probe(self) -> set[str]:
        """Ask the server, with one tiny request each, whether it returns log-probabilities
        on generate, scores a given continuation, and takes audio and image input; record
        why not in :attr:`refusals`. Media are tried, not assumed: an audio-only vLLM model
        answers 400 "At most 0 image(s) may be provided" only to an image."""
        from PIL import Image

        found: set[str] = set()
        k = self.top_logprobs
        brief = {"max_tokens": 1, "temperature": 0.0}
        noise = np.random.default_rng(0).normal(0.0, 0.01, 8000).astype(np.float32)
        probes = {
            "stats_on_generate": (Request("Say OK."), None,
                                  {**brief, "logprobs": True, "top_logprobs": k}),
            "score": (Request("Say OK."), "OK", score_fields(k)),
            "audio": (Request("Say OK.", audio=noise), None, brief),
            "image": (Request("Say OK.", image=Image.new("RGB", (64, 64), (128, 128, 128))),
                      None, brief),
        }
        for capability, (request, continuation, fields) in probes.items():
            body = request_body(self.model, request, continuation, **fields)
            try:
                reply = self._http.request("POST", "/chat/completions", body)
            except HTTPStatusError as exc:
                self.refusals[capability] = self._safe(f"the probe was refused with HTTP "
                                                       f"{exc.status}: {exc.reason}")
                continue
            except (Unreachable, NoAnswer, ValueError) as exc:
                raise RemoteError(self._safe(f"{self.model} at {self.base_url}: the probe "
                                             f"for {capability} failed: {exc}")) from None
            try:
                if capability == "score":
                    span_stats(reply, "OK", k)
                elif capability == "stats_on_generate":
                    if not reply["choices"][0]["logprobs"]["content"]:
                        raise ValueError("empty logprobs.content")
                elif not reply.get("choices"):
                    raise ValueError("no choices")
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                self.refusals[capability] = self._safe(f"the server ignored the fields: {exc}")
                continue
            found.add(capability)
        return found

    def require(self, capability: str, requests: list[Request] | None = None) -> None:
        try:
            super().require(capability, requests)
        except UnsupportedRequest as exc:
            asked = [capability, *(kind for kind in ("audio", "image")
                                   if any(getattr(r, kind) is not None for r in requests or []))]
            reason = next((self.refusals[kind] for kind in asked
                           if kind not in self.capabilities and kind in self.refusals), None)
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

    def _post(self, body: str) -> dict[str, Any]:
        """One chat completion request (its JSON text) with retries on transient failures;
        the reply as plain JSON (vLLM's extra reply fields included).

        Raises
        ------
        RemoteError
            On a 4xx other than 408 and 429 (at once), when the retries or the retry
            budget run out, or on a reply that is no chat completion.
        """
        if self.offline:
            raise BackendError(f"openai:{self.model}@{BATCH} sends nothing: its requests go "
                               "into batch files (telltale batch)")
        where = f"{self.model} at {self.base_url}"
        for attempt in range(self.max_retries + 1):
            try:
                reply = self._http.request("POST", "/chat/completions", body)
            except (HTTPStatusError, Unreachable, NoAnswer) as exc:
                status = getattr(exc, "status", None)
                if status is not None and status not in (408, 429) and status < 500:
                    raise RemoteError(self._safe(f"{where} rejected the request (HTTP "
                                                 f"{status}): {exc.reason}")) from None
                what = f"HTTP {status}" if status else str(exc)
                delay = self.backoff * 2**attempt * (1 + self._jitter.random())
                if attempt == self.max_retries or not self._spend(delay):
                    raise RemoteError(self._safe(
                        f"{where}: giving up after {attempt + 1} attempts ({what}; retries "
                        f"or retry budget spent)")) from None
                log.warning("%s: %s; retry %d/%d in %.2fs", where, what, attempt + 1,
                            self.max_retries, delay)
                time.sleep(delay)
                continue
            except ValueError:
                raise RemoteError(f"{where} answered with no JSON") from None
            if not isinstance(reply, dict) or not reply.get("choices"):
                raise RemoteError(f"{where} returned no choices")
            return reply
        raise AssertionError("unreachable")

    def _map(self, fn: Callable[[Any], T], items: list[Any]) -> list[T]:
        """``[fn(item) for item in items]`` with at most ``concurrency`` calls in flight, on
        one pool kept for the model's life (a call from inside it runs inline)."""
        if len(items) <= 1 or self.concurrency == 1 or getattr(self._in_pool, "on", False):
            return [fn(item) for item in items]
        if self._pool is None or self._pool_size != self.concurrency:
            if self._pool is not None:
                self._pool.shutdown(wait=False)
            self._pool = ThreadPoolExecutor(self.concurrency, "telltale-openai",
                                            initializer=setattr,
                                            initargs=(self._in_pool, "on", True))
            self._pool_size = self.concurrency
        return list(self._pool.map(fn, items))

    def prepare(self, request: Request) -> None:
        """Encode the request's media for the wire now (once per media object), so that
        sending it later costs no encoding."""
        prepare_media(request)

    # requests and replies ------------------------------------------------------------------
    def generation_body(self, request: Request, decoding: DecodingConfig,
                        with_stats: bool) -> str:
        """The JSON text of the chat completion :meth:`generate` sends for ``request``:
        ``temperature``, ``max_tokens``, ``seed`` (and ``top_p`` unless 1), and with
        ``with_stats`` ``logprobs``/``top_logprobs`` (or ``telltale_stats`` from a
        ``telltale serve`` server)."""
        fields: dict[str, Any] = {"temperature": decoding.temperature,
                                  "max_tokens": decoding.max_new_tokens, "seed": decoding.seed}
        if decoding.top_p != 1.0:
            fields["top_p"] = decoding.top_p
        if with_stats and self.exact:
            fields["telltale_stats"] = True
        elif with_stats:
            fields.update(logprobs=True, top_logprobs=self.top_logprobs)
        return request_body(self.model, request, None, **fields)

    def read_generation(self, reply: dict[str, Any], with_stats: bool) -> Generation:
        """The Generation a chat completion reply holds (see :meth:`generation_body`)."""
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
        return Generation(text, stats_from_top_logprobs(
            without_end_token(entries, text, choice.get("finish_reason")), self.top_logprobs))

    def score_body(self, request: Request, continuation: str) -> str | None:
        """The JSON text of the scoring request :meth:`score` sends (the user turn, an
        assistant turn holding ``continuation``, :func:`telltale.models.wire.score_fields`);
        None for a blank continuation, which needs no request (:meth:`blank_stats`)."""
        if not continuation.strip():
            return None
        fields = {**score_fields(self.top_logprobs)}
        if self.exact:
            fields["telltale_stats"] = True
        return request_body(self.model, request, continuation, **fields)

    def blank_stats(self) -> TokenStats:
        """The statistics of a blank continuation: no tokens."""
        exact = self.exact
        return TokenStats([], {n: [] for n in STAT_NAMES}, top_k=None if exact
                          else self.top_logprobs, tail_mass=None if exact else [])

    def read_score(self, reply: dict[str, Any], continuation: str) -> TokenStats:
        """The statistics of ``continuation`` in a scoring reply (see :meth:`score_body`)."""
        if self.exact:
            return TokenStats.from_dict(reply["telltale_stats"])
        try:
            return span_stats(reply, continuation, self.top_logprobs)
        except ValueError as exc:
            raise RemoteError(self._safe(f"{self.model} at {self.base_url}: {exc}")) from None

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
        return self._map(lambda r: self.read_generation(
            self._post(self.generation_body(r, decoding, with_stats)), with_stats), requests)

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

        def one(pair: tuple[Request, str]) -> TokenStats:
            body = self.score_body(*pair)
            return self.blank_stats() if body is None else self.read_score(self._post(body),
                                                                           pair[1])

        return self._map(one, list(zip(requests, continuations, strict=True)))


def _check_capabilities(model: str, capabilities: Iterable[str]) -> set[str]:
    caps = set(capabilities)
    unknown = caps - CAPABILITIES
    if unknown:
        raise ValueError(f"unknown capabilities {sorted(unknown)} for {model!r}; "
                         f"expected a subset of {sorted(CAPABILITIES)}")
    return caps
