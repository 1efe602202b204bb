"""``telltale serve``: any backend behind an OpenAI-compatible HTTP endpoint.

One loaded model can then serve many runs (and other tools). It speaks the fields vLLM
serves, so one client path (:class:`telltale.models.openai_api.OpenAIModel`) drives both.
Routes:

- ``GET /v1/models``: the one model, under the name given at start (by default the model
  spec), with ``telltale_prompts`` when the model names how it must be asked (an
  organism's card phrasings), so that a client asks it as it would locally.
- ``POST /v1/chat/completions``: one system and one user turn; user content as a string or
  as ``text``, ``input_audio`` (base64 audio in any format soundfile reads, decoded to
  16 kHz mono) and ``image_url`` (``data:`` URLs only: the server fetches nothing) parts;
  ``temperature``, ``top_p``, ``max_tokens`` / ``max_completion_tokens``, ``seed``,
  ``logprobs``, ``top_logprobs``. ``stream`` and ``n > 1`` are refused with a 400.
- scoring, as vLLM does it (see :mod:`telltale.models.wire`): a final assistant turn with
  ``add_generation_prompt: false`` and ``continue_final_message: true`` is scored, not
  continued; ``prompt_logprobs: k`` returns ``prompt_token_ids`` and ``prompt_logprobs``.
  ``top_logprobs`` and ``prompt_logprobs`` above :data:`SERVED_LOGPROBS` are refused with a
  400, as ``vllm serve`` refuses them above its ``--max-logprobs``.
- the telltale extension: ``GET /v1/telltale/info`` (version, fingerprint, capabilities,
  ``max_logprobs``, batching counters), and ``"telltale_stats": true`` in a chat request
  adds the backend's exact statistics (``TokenStats.to_dict()``) of the generated or scored
  answer to the reply.

What differs from vLLM: backends keep per-position statistics (:class:`TokenStats`), not
vocabulary ids or the identities of alternatives. So the log-probability lists hold, per
position, the observed token and at most the two most likely ones (so the server's
``max_logprobs`` is 2), alternatives carry an empty token string, and ids are negative numbers local
to the reply (the observed token at reply position ``i`` is ``-(i + 1)``, the rank-r
alternative ``-(10**6 + r)``). ``prompt_logprobs`` covers the scored continuation only,
after one ``None`` entry that stands for the prompt; the span a client slices from the
end is the same as in vLLM's reply.

Errors are JSON ``{"error": {"message", "type"}}``: 400 for a bad request or one the
backend refuses (:class:`UnsupportedRequest`), 500 for a failure inside the backend.

Requests from many clients are handled concurrently; the model itself is called by one
worker at a time, which groups the requests waiting for it that share a verb and decoding
parameters into one backend call of at most ``max_batch`` (:class:`MicroBatcher`).
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from telltale import __version__
from telltale.models.base import (
    DecodingConfig,
    Request,
    TargetModel,
    TokenStats,
    UnsupportedRequest,
)
from telltale.models.wire import from_messages, split_continuation

#: most alternatives per position the server can name: backends keep top-1 and top-2 only
SERVED_LOGPROBS = 2
#: ids of the anonymous alternatives: -(ALTERNATIVE + rank)
ALTERNATIVE = 10**6
#: the field of a ``/v1/models`` entry that holds how the model must be asked (an
#: organism's card phrasings, ``TargetModel.prompts``)
PROMPTS_FIELD = "telltale_prompts"


@dataclass
class _Job:
    key: Hashable
    payload: Any
    future: asyncio.Future = field(repr=False)


class MicroBatcher:
    """Runs backend calls one at a time, grouping the requests that wait for the model.

    Parameters
    ----------
    model : TargetModel
        The backend; it is only ever called from one thread at a time.
    max_batch : int
        Most requests in one backend call.

    Notes
    -----
    Requests are grouped only with requests of the same key (verb, decoding parameters,
    whether stats are wanted), in arrival order. When a grouped call fails, each of its
    requests is run again alone, so one bad request cannot fail its neighbours.
    """

    def __init__(self, model: TargetModel, max_batch: int = 8):
        self.model = model
        self.max_batch = max(1, int(max_batch))
        self.requests = 0
        self.backend_calls = 0
        self._queue: asyncio.Queue[_Job] | None = None
        self._worker: asyncio.Task | None = None

    async def generate(self, request: Request, decoding: DecodingConfig, with_stats: bool):
        """The backend's ``generate`` for one request, batched with its neighbours."""
        return await self._submit(("generate", decoding, with_stats), request)

    async def score(self, request: Request, continuation: str):
        """The backend's ``score`` for one (request, continuation) pair."""
        return await self._submit(("score",), (request, continuation))

    async def _submit(self, key: Hashable, payload: Any) -> Any:
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._worker = asyncio.get_running_loop().create_task(self._work())
        future = asyncio.get_running_loop().create_future()
        self.requests += 1
        await self._queue.put(_Job(key, payload, future))
        return await future

    async def _work(self) -> None:
        assert self._queue is not None
        held: list[_Job] = []
        while True:
            if not held:
                held.append(await self._queue.get())
            while not self._queue.empty():
                held.append(self._queue.get_nowait())
            key = held[0].key
            batch = [job for job in held if job.key == key][:self.max_batch]
            held = [job for job in held if not any(job is b for b in batch)]
            await self._run(batch)

    def _call(self, batch: list[_Job]) -> list[Any]:
        self.backend_calls += 1
        verb = batch[0].key[0]
        if verb == "generate":
            _, decoding, with_stats = batch[0].key
            return self.model.generate([job.payload for job in batch], decoding, with_stats)
        return self.model.score([job.payload[0] for job in batch],
                                [job.payload[1] for job in batch])

    async def _run(self, batch: list[_Job]) -> None:
        try:
            results = await asyncio.to_thread(self._call, batch)
        except Exception as exc:  # handed to the waiting request(s); the worker goes on
            if len(batch) > 1:
                for job in batch:
                    await self._run([job])
            elif not batch[0].future.done():
                batch[0].future.set_exception(exc)
            return
        for job, result in zip(batch, results, strict=True):
            if not job.future.done():  # the client may have gone away
                job.future.set_result(result)


class BadRequest(ValueError):
    """A request body the server cannot read."""


def _decoding(body: dict[str, Any]) -> DecodingConfig:
    """Decoding parameters of a chat request (greedy and 128 tokens unless said)."""
    if body.get("stream"):
        raise BadRequest("stream is not supported; ask for the whole reply")
    if int(body.get("n") or 1) != 1:
        raise BadRequest("n > 1 is not supported; send one request per completion")
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or 128
    decoding = DecodingConfig(max_new_tokens=int(max_tokens),
                              temperature=float(body.get("temperature") or 0.0),
                              top_p=float(body.get("top_p") or 1.0),
                              seed=int(body.get("seed") or 0))
    if decoding.max_new_tokens < 1 or decoding.temperature < 0 or not 0 < decoding.top_p <= 1:
        raise BadRequest("max_tokens must be >= 1, temperature >= 0 and 0 < top_p <= 1")
    return decoding


def _logprob_count(body: dict[str, Any], field: str) -> int:
    """The ``k`` a request asks for in ``field``, refused above :data:`SERVED_LOGPROBS` with
    the wording of vLLM's own refusal (``vllm serve`` checks against ``--max-logprobs``)."""
    value = body.get(field)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRequest(f"{field} must be a non-negative integer, got {value!r}")
    if value > SERVED_LOGPROBS:
        raise BadRequest(f"Requested {field.replace('_', ' ')} of {value}, which is greater "
                         f"than max allowed: {SERVED_LOGPROBS}")
    return value


def _ranked(stats: TokenStats, i: int) -> tuple[int, list[float]]:
    """Position ``i``: the observed token's rank among the top two (3 when below them) and
    the top-two log-probabilities."""
    own = float(stats.values["logprob"][i])
    tops = [math.log(p) for p in (stats.values["top1_prob"][i], stats.values["top2_prob"][i])
            if p > 0]
    # the top probabilities went through float32 softmax: equal up to its rounding
    rank = next((r for r, lp in enumerate(tops, 1) if math.isclose(own, lp, abs_tol=1e-5)),
                3)
    return rank, tops


def _content_logprobs(stats: TokenStats, k: int) -> list[dict[str, Any]]:
    """OpenAI ``choices[0].logprobs.content`` of a generated answer, top ``k`` <= 2."""
    out = []
    for i, token in enumerate(stats.tokens):
        rank, tops = _ranked(stats, i)
        top = [{"token": token if r == rank else "", "logprob": lp,
                "bytes": list(token.encode()) if r == rank else None}
               for r, lp in enumerate(tops[:k], 1)]
        out.append({"token": token, "logprob": float(stats.values["logprob"][i]),
                    "bytes": list(token.encode()), "top_logprobs": top})
    return out


def _prompt_logprobs(stats: TokenStats, k: int) -> tuple[list[int], list[dict | None]]:
    """vLLM's ``prompt_token_ids`` and ``prompt_logprobs`` for a scored continuation: one
    ``None`` entry for the prompt, then per token the observed token and the top ``k`` <= 2
    (ids as in the module docstring)."""
    ids = [0]
    entries: list[dict | None] = [None]
    for i, token in enumerate(stats.tokens):
        rank, tops = _ranked(stats, i)
        entry = {str(-(i + 1)): {"logprob": float(stats.values["logprob"][i]), "rank": rank,
                                 "decoded_token": token}}
        for r, lp in enumerate(tops[:k], 1):
            if r != rank:
                entry[str(-(ALTERNATIVE + r))] = {"logprob": lp, "rank": r, "decoded_token": ""}
        ids.append(-(i + 1))
        entries.append(entry)
    return ids, entries


def build_app(model: TargetModel, name: str, max_batch: int = 8, text_only: bool = False):
    """A Starlette application serving ``model`` under the model id ``name``.

    Parameters
    ----------
    model : TargetModel
        Any telltale backend.
    name : str
        The model id reported by ``/v1/models`` and in replies.
    max_batch : int
        Most concurrent requests grouped into one backend call.
    text_only : bool
        Behave as a closed API that returns text only: log-probabilities, scoring and the
        telltale statistics are refused with a 400, and ``/v1/telltale/info`` is not
        served, so a client learns what it can do only by asking (the black-box setting).

    Returns
    -------
    starlette.applications.Starlette
    """
    from starlette.applications import Starlette
    from starlette.requests import Request as HTTPRequest
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    batcher = MicroBatcher(model, max_batch)

    def error(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
        return JSONResponse({"error": {"message": message, "type": kind}}, status_code=status)

    async def read_json(http: HTTPRequest) -> dict[str, Any]:
        try:
            body = await http.json()
        except ValueError:
            raise BadRequest("the request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        return body

    listing = {"id": name, "object": "model", "created": 0, "owned_by": "telltale"}
    if getattr(model, "prompts", None):  # how it must be asked travels with it (text-only too)
        listing[PROMPTS_FIELD] = model.prompts

    async def models(_: HTTPRequest) -> JSONResponse:
        return JSONResponse({"object": "list", "data": [listing]})

    async def info(_: HTTPRequest) -> JSONResponse:
        return JSONResponse({"telltale": __version__, "model": name,
                             "fingerprint": model.fingerprint,
                             "capabilities": sorted(model.capabilities),
                             "max_logprobs": SERVED_LOGPROBS,
                             "batching": {"max_batch": batcher.max_batch,
                                          "requests": batcher.requests,
                                          "backend_calls": batcher.backend_calls}})

    async def chat(http: HTTPRequest) -> JSONResponse:
        try:
            body = await read_json(http)
            messages, continuation = split_continuation(body.get("messages"))
            if text_only and (continuation is not None or body.get("telltale_stats")
                              or body.get("logprobs") or body.get("top_logprobs")
                              or body.get("prompt_logprobs") is not None):
                raise BadRequest("this server returns text only: logprobs, prompt_logprobs "
                                 "and scored continuations are not supported")
            request = from_messages(messages)
            if continuation is None:
                decoding = _decoding(body)
                k = _logprob_count(body, "top_logprobs")
            else:
                if body.get("add_generation_prompt", True) or not body.get(
                        "continue_final_message"):
                    raise BadRequest("a final assistant turn is scored only with "
                                     "add_generation_prompt: false and "
                                     "continue_final_message: true")
                k = _logprob_count(body, "prompt_logprobs")
        except Exception as exc:  # reading the body is all this does: any failure is the body's
            return error(400, f"bad request: {type(exc).__name__}: {exc}")
        exact = bool(body.get("telltale_stats"))
        try:
            if continuation is None:
                generation = await batcher.generate(request, decoding,
                                                    bool(body.get("logprobs")) or exact)
                text, stats = generation.text, generation.stats
            else:
                text, stats = "", await batcher.score(request, continuation)
        except UnsupportedRequest as exc:
            return error(400, str(exc))
        except Exception as exc:  # reported to the client, the server stays up
            return error(500, f"{type(exc).__name__}: {exc}", "server_error")
        choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": text},
                                  "finish_reason": "stop" if continuation is None else "length"}
        reply: dict[str, Any] = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion",
                                 "created": int(time.time()), "model": name, "choices": [choice],
                                 "system_fingerprint": model.fingerprint[:16]}
        if continuation is None and body.get("logprobs") and stats is not None:
            choice["logprobs"] = {"content": _content_logprobs(stats, k)}
        if continuation is not None and body.get("prompt_logprobs") is not None:
            ids, entries = _prompt_logprobs(stats, k)
            reply["prompt_logprobs"] = entries
            if body.get("return_token_ids"):
                reply["prompt_token_ids"] = ids
                choice["token_ids"] = []
        if exact and stats is not None:
            reply["telltale_stats"] = stats.to_dict()
        return JSONResponse(reply)

    routes = [Route("/v1/models", models, methods=["GET"]),
              Route("/v1/chat/completions", chat, methods=["POST"])]
    if not text_only:
        routes.append(Route("/v1/telltale/info", info, methods=["GET"]))
    return Starlette(routes=routes)


def serve(spec: str, host: str = "127.0.0.1", port: int = 8000, batch_size: int = 8,
          text_only: bool = False, name: str | None = None, **options: Any) -> None:
    """Load the model a spec names and serve it until interrupted.

    Parameters
    ----------
    spec : str
        A model spec (see :func:`telltale.models.load_model`).
    host, port : str, int
        Where to listen. Callers check that ``host`` is loopback (see ``serve_cli``).
    batch_size : int
        Most requests per backend call, for both the micro-batcher and the backend.
    text_only : bool
        Serve text only, as a closed API does (see :func:`build_app`).
    name : str, optional
        The model id clients ask for (``openai:<name>@http://host:port/v1``); default the
        spec.
    **options
        Passed to the backend constructor.
    """
    import uvicorn

    from telltale.console import log
    from telltale.models import load_model

    name = name or spec
    model = load_model(spec, batch_size=batch_size, **options)
    log.info("serving %s (fingerprint %s) as --model openai:%s@http://%s:%d/v1", spec,
             model.fingerprint, name, host, port)
    app = build_app(model, name, max_batch=batch_size, text_only=text_only)
    uvicorn.run(app, host=host, port=port, log_level="warning")
