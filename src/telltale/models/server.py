"""``telltale serve``: any backend behind an OpenAI-compatible HTTP endpoint.

One loaded model can then serve many runs (and other tools). Routes:

- ``GET /v1/models``: the one model, under the id given at start (the model spec).
- ``POST /v1/chat/completions``: one system and one user turn; user content as a string or
  as ``text``, ``input_audio`` (base64 audio in any format soundfile reads, decoded to
  16 kHz mono) and ``image_url`` (``data:`` URLs only: the server fetches nothing) parts;
  ``temperature``, ``top_p``, ``max_tokens`` / ``max_completion_tokens``, ``seed``,
  ``logprobs``. Backends keep per-step statistics (:class:`TokenStats`), not the identities
  of the top-k alternatives, so ``logprobs`` gives each generated token's own
  log-probability and an empty ``top_logprobs`` list whatever ``top_logprobs`` asks for.
  ``stream`` and ``n > 1`` are refused with a 400.
- the telltale extension: ``GET /v1/telltale/info`` (version, fingerprint, capabilities,
  batching counters), ``POST /v1/telltale/score`` (``messages`` and ``continuation``; the
  reply is the backend's exact ``TokenStats.to_dict()``), and ``"telltale_stats": true`` in
  a chat request adds the exact statistics of the generated answer to the reply.

Errors are JSON ``{"error": {"message", "type"}}``: 400 for a bad request or one the
backend refuses (:class:`UnsupportedRequest`), 500 for a failure inside the backend.

Requests from many clients are handled concurrently; the model itself is called by one
worker at a time, which groups the requests waiting for it that share a verb and decoding
parameters into one backend call of at most ``max_batch`` (:class:`MicroBatcher`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from telltale import __version__
from telltale.models.base import DecodingConfig, Request, TargetModel, UnsupportedRequest
from telltale.models.wire import from_messages


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


def build_app(model: TargetModel, name: str, max_batch: int = 8):
    """A Starlette application serving ``model`` under the model id ``name``.

    Parameters
    ----------
    model : TargetModel
        Any telltale backend.
    name : str
        The model id reported by ``/v1/models`` and in replies.
    max_batch : int
        Most concurrent requests grouped into one backend call.

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

    async def models(_: HTTPRequest) -> JSONResponse:
        return JSONResponse({"object": "list", "data": [
            {"id": name, "object": "model", "created": 0, "owned_by": "telltale"}]})

    async def info(_: HTTPRequest) -> JSONResponse:
        return JSONResponse({"telltale": __version__, "model": name,
                             "fingerprint": model.fingerprint,
                             "capabilities": sorted(model.capabilities),
                             "batching": {"max_batch": batcher.max_batch,
                                          "requests": batcher.requests,
                                          "backend_calls": batcher.backend_calls}})

    async def chat(http: HTTPRequest) -> JSONResponse:
        try:
            body = await read_json(http)
            decoding = _decoding(body)
            request = from_messages(body.get("messages"))
        except Exception as exc:  # reading the body is all this does: any failure is the body's
            return error(400, f"bad request: {type(exc).__name__}: {exc}")
        want_stats = bool(body.get("logprobs") or body.get("telltale_stats"))
        try:
            generation = await batcher.generate(request, decoding, want_stats)
        except UnsupportedRequest as exc:
            return error(400, str(exc))
        except Exception as exc:  # reported to the client, the server stays up
            return error(500, f"{type(exc).__name__}: {exc}", "server_error")
        choice: dict[str, Any] = {"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": generation.text}}
        if body.get("logprobs") and generation.stats is not None:
            # backends keep statistics per step, not the identities of the alternatives
            choice["logprobs"] = {"content": [
                {"token": tok, "logprob": float(lp), "bytes": list(tok.encode()),
                 "top_logprobs": []}
                for tok, lp in zip(generation.stats.tokens, generation.stats.values["logprob"],
                                   strict=True)]}
        reply: dict[str, Any] = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion",
                                 "created": int(time.time()), "model": name, "choices": [choice],
                                 "system_fingerprint": model.fingerprint[:16]}
        if body.get("telltale_stats") and generation.stats is not None:
            reply["telltale_stats"] = generation.stats.to_dict()
        return JSONResponse(reply)

    async def score(http: HTTPRequest) -> JSONResponse:
        try:
            body = await read_json(http)
            request = from_messages(body.get("messages"))
            continuation = body.get("continuation")
            if not isinstance(continuation, str):
                raise BadRequest("continuation must be a string")
        except Exception as exc:  # reading the body is all this does: any failure is the body's
            return error(400, f"bad request: {type(exc).__name__}: {exc}")
        try:
            stats = await batcher.score(request, continuation)
        except UnsupportedRequest as exc:
            return error(400, str(exc))
        except Exception as exc:
            return error(500, f"{type(exc).__name__}: {exc}", "server_error")
        return JSONResponse(stats.to_dict())

    return Starlette(routes=[
        Route("/v1/models", models, methods=["GET"]),
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/v1/telltale/info", info, methods=["GET"]),
        Route("/v1/telltale/score", score, methods=["POST"]),
    ])


def serve(spec: str, host: str = "127.0.0.1", port: int = 8000, batch_size: int = 8,
          **options: Any) -> None:
    """Load the model a spec names and serve it until interrupted.

    Parameters
    ----------
    spec : str
        A model spec (see :func:`telltale.models.load_model`); also the served model id.
    host, port : str, int
        Where to listen. Callers check that ``host`` is loopback (see ``serve_cli``).
    batch_size : int
        Most requests per backend call, for both the micro-batcher and the backend.
    **options
        Passed to the backend constructor.
    """
    import uvicorn

    from telltale.console import log
    from telltale.models import load_model

    model = load_model(spec, batch_size=batch_size, **options)
    log.info("serving %s (fingerprint %s) on http://%s:%d/v1", spec, model.fingerprint, host,
             port)
    uvicorn.run(build_app(model, spec, max_batch=batch_size), host=host, port=port,
                log_level="warning")


def main(argv: list[str] | None = None) -> int:
    """``python -m telltale.models.server MODEL_SPEC [--port N]``: ``telltale serve``
    without the rest of the command line."""
    from telltale.console import configure
    from telltale.models import serve_cli

    parser = argparse.ArgumentParser(prog="python -m telltale.models.server",
                                     description=serve_cli.DESCRIPTION)
    serve_cli.add_arguments(parser)
    configure()
    return serve_cli.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
