"""``telltale serve``: any backend behind an OpenAI-compatible HTTP endpoint.

One loaded model can then serve many runs (and other tools). Besides the standard
``/v1/models`` and ``/v1/chat/completions`` the server exposes the telltale extension:
``GET /v1/telltale/info`` and ``POST /v1/telltale/score`` (exact per-token statistics of a
given continuation), and ``"telltale_stats": true`` in a chat request adds the exact
statistics of the generated answer to the reply. Model calls are serialised by a lock:
the backend batches internally, the server adds no batching of its own.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

from telltale import __version__
from telltale.models.base import DecodingConfig, TargetModel, UnsupportedRequest
from telltale.models.wire import from_messages


def build_app(model: TargetModel, name: str):
    """A Starlette application serving ``model`` under the model id ``name``."""
    from starlette.applications import Starlette
    from starlette.requests import Request as HTTPRequest
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    lock = threading.Lock()

    def error(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
        return JSONResponse({"error": {"message": message, "type": kind}}, status_code=status)

    async def run_locked(fn, *args):
        def call():
            with lock:
                return fn(*args)
        return await asyncio.to_thread(call)

    async def models(_: HTTPRequest) -> JSONResponse:
        return JSONResponse({"object": "list",
                             "data": [{"id": name, "object": "model", "owned_by": "telltale"}]})

    async def info(_: HTTPRequest) -> JSONResponse:
        return JSONResponse({"telltale": __version__, "model": name,
                             "fingerprint": model.fingerprint,
                             "capabilities": sorted(model.capabilities)})

    async def read_json(http: HTTPRequest) -> dict[str, Any]:
        try:
            body = await http.json()
        except ValueError:
            raise ValueError("the request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ValueError("the request body must be a JSON object")
        return body

    async def chat(http: HTTPRequest) -> JSONResponse:
        try:
            body = await read_json(http)
            request = from_messages(body.get("messages"))
            max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or 128
            decoding = DecodingConfig(max_new_tokens=int(max_tokens),
                                      temperature=float(body.get("temperature") or 0.0),
                                      top_p=float(body.get("top_p") or 1.0),
                                      seed=int(body.get("seed") or 0))
        except (ValueError, KeyError, TypeError) as exc:
            return error(400, f"bad request: {exc}")
        want_stats = bool(body.get("logprobs") or body.get("telltale_stats"))
        try:
            generation = (await run_locked(model.generate, [request], decoding, want_stats))[0]
        except UnsupportedRequest as exc:
            return error(400, str(exc))
        except Exception as exc:  # reported to the client, the server stays up
            return error(500, f"{type(exc).__name__}: {exc}", "server_error")
        choice: dict[str, Any] = {"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": generation.text}}
        if body.get("logprobs") and generation.stats is not None:
            # only the chosen token's log-probability is known; alternatives are not kept
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
            continuation = body["continuation"]
            if not isinstance(continuation, str):
                raise TypeError("continuation must be a string")
        except (ValueError, KeyError, TypeError) as exc:
            return error(400, f"bad request: {exc}")
        try:
            stats = (await run_locked(model.score, [request], [continuation]))[0]
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


def serve(spec: str, host: str = "127.0.0.1", port: int = 8000, **options: Any) -> None:
    """Load the model a spec names and serve it until interrupted."""
    import uvicorn

    from telltale.console import log
    from telltale.models import load_model

    model = load_model(spec, **options)
    log.info("serving %s (fingerprint %s) on http://%s:%d/v1", spec, model.fingerprint, host,
             port)
    uvicorn.run(build_app(model, spec), host=host, port=port, log_level="warning")
