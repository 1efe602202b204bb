"""The OpenAI chat wire format for telltale requests, shared by the client backend and
``telltale serve``: audio travels as base64 WAV (``input_audio``), images as PNG data URLs
(``image_url``).

Scoring a given continuation uses the fields vLLM serves (``vllm serve``'s chat
completions; see vLLM's ``ChatCompletionRequest`` / ``ChatCompletionResponse``): the user
turn plus an assistant turn holding the continuation, ``add_generation_prompt: false`` and
``continue_final_message: true`` so the template leaves the assistant turn open,
``max_tokens: 1`` (nothing needs generating), ``prompt_logprobs: k`` and
``return_token_ids: true``. The reply carries ``prompt_token_ids`` (the whole templated
prompt) and ``prompt_logprobs``: per prompt token ``None`` (the first) or a mapping from
token id to ``{"logprob", "rank", "decoded_token"}`` holding the k most likely tokens and the
observed one. :func:`span_stats` slices the continuation's span out of it.

A request's body is serialised by :func:`request_body`: the media part (a few hundred
kilobytes of base64) is encoded and serialised once per media object and spliced into each
body that carries it, since serialising it anew took 0.85 ms per request (issue 26).
"""

from __future__ import annotations

import base64
import io
import json
import struct
from typing import Any

import numpy as np

from telltale.models.base import Request, TokenStats, derived
from telltale.models.distribution import top_k_stats

#: vLLM's default ``--max-logprobs``; a request for more is rejected, not truncated
MAX_LOGPROBS = 20


def wav_base64(audio: np.ndarray, rate: int = 16000) -> bytes:
    """Mono float32 samples as a base64 WAV file (IEEE float, as libsndfile writes it but
    without its PEAK chunk, which holds the time of writing): the same samples always give
    the same bytes, so a request's body, and its hash in a batch file, are reproducible."""
    data = np.ascontiguousarray(audio, dtype="<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, rate, 4 * rate, 4, 32)  # IEEE float, mono, 32 bit
    header = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
              + b"fact" + struct.pack("<II", 4, len(data) // 4)
              + b"data" + struct.pack("<I", len(data)))
    riff = b"RIFF" + struct.pack("<I", len(header) + len(data))
    return base64.b64encode(b"".join((riff, header, data)))


def encode_audio(audio: np.ndarray, rate: int = 16000) -> str:
    """:func:`wav_base64` as text."""
    return wav_base64(audio, rate).decode()


def encode_image(image: Any) -> str:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _media_part(media: Any) -> dict[str, Any]:
    if hasattr(media, "convert"):
        return {"type": "image_url", "image_url": {"url": encode_image(media)}}
    return {"type": "input_audio", "input_audio": {"data": encode_audio(media), "format": "wav"}}


def _media(request: Request) -> list[Any]:
    return [m for m in (request.audio, request.image) if m is not None]


def to_messages(request: Request, continuation: str | None = None) -> list[dict[str, Any]]:
    """A telltale Request as OpenAI chat messages; with ``continuation``, followed by an
    assistant turn holding it (for scoring, see :func:`score_fields`)."""
    return _messages(request, continuation, [_media_part(m) for m in _media(request)])


#: stands for the media part in a body until the part's JSON is spliced in
_SLOT = "\x00telltale-media\x00"
_SLOT_JSON = json.dumps(_SLOT).encode()


def _part_json(media: Any) -> bytes:
    """The media part of :func:`to_messages` as compact JSON: base64 and data URLs need no
    escaping, so the text is put together around them rather than serialised."""
    if hasattr(media, "convert"):
        return b'{"type":"image_url","image_url":{"url":"%s"}}' % encode_image(media).encode()
    return (b'{"type":"input_audio","input_audio":{"data":"%s","format":"wav"}}'
            % wav_base64(media))


def prepare_media(request: Request) -> None:
    """Encode and serialise the request's media part now, so that :func:`request_body`
    finds it done (a media object is encoded once, whichever request comes first)."""
    for media in _media(request):
        derived(media, "wire-json", _part_json)


def request_body(model: str, request: Request, continuation: str | None = None,
                 **fields: Any) -> bytes:
    """The JSON of a chat completion request (UTF-8): ``model``, the messages of
    :func:`to_messages` and ``fields``, compact. The same request gives the same bytes, and
    they parse to exactly ``{"model": model, "messages": to_messages(...), **fields}``."""
    media = _media(request)
    if len(media) == 1:
        body = json.dumps({"model": model, "messages": _messages(request, continuation, [_SLOT]),
                           **fields}, separators=(",", ":")).encode()
        head, slot, tail = body.partition(_SLOT_JSON)
        if slot and _SLOT_JSON not in tail:  # else a prompt holds the slot: no splicing
            return b"".join((head, derived(media[0], "wire-json", _part_json), tail))
    return json.dumps({"model": model, "messages": to_messages(request, continuation),
                       **fields}, separators=(",", ":")).encode()


def _messages(request: Request, continuation: str | None,
              media: list[Any]) -> list[dict[str, Any]]:
    content: list[Any] = list(media)
    content.append({"type": "text", "text": request.text})
    messages: list[dict[str, Any]] = []
    if request.system:
        messages.append({"role": "system", "content": request.system})
    messages.append({"role": "user", "content": content})
    if continuation is not None:
        messages.append({"role": "assistant", "content": continuation})
    return messages


def score_fields(k: int) -> dict[str, Any]:
    """The request fields (besides ``model`` and ``messages``) that ask a vLLM-compatible
    server for the log-probabilities of a final assistant turn, with the top ``k``."""
    return {"add_generation_prompt": False, "continue_final_message": True, "max_tokens": 1,
            "temperature": 0.0, "prompt_logprobs": k, "return_token_ids": True}


def split_continuation(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]],
                                                                  str | None]:
    """``messages`` without a final assistant turn, and that turn's text (None if the last
    turn is not the assistant's)."""
    if not isinstance(messages, list) or not messages or messages[-1].get("role") != "assistant":
        return messages, None
    content = messages[-1].get("content")
    if not isinstance(content, str):
        content = "".join(p.get("text", "") for p in content or [])
    return messages[:-1], content


def span_stats(reply: dict[str, Any], continuation: str, k: int) -> TokenStats:
    """Statistics of the tokens of ``continuation`` from a scoring reply.

    The span is found from the end of the prompt: the shortest run of final tokens whose
    decoded text ends with the continuation, compared without whitespace (chat templates
    may strip trailing whitespace, and some tokenizers decode single tokens without their
    leading space). The first token of the span may also hold the end of the template
    (a tokenizer can merge the two); its statistics are then those of that merged token.

    Raises
    ------
    ValueError
        When the reply lacks ``prompt_logprobs`` / ``prompt_token_ids`` or its prompt does not
        end with the continuation (a server that rendered it differently).
    """
    ids, entries = reply.get("prompt_token_ids"), reply.get("prompt_logprobs")
    if not isinstance(ids, list) or not isinstance(entries, list) or len(ids) != len(entries):
        raise ValueError("the reply has no prompt_token_ids and prompt_logprobs of one length; "
                         "the server does not support prompt_logprobs with return_token_ids")
    target = "".join(continuation.split())
    tokens: list[str] = []
    text = ""
    start = len(ids)
    while not text.endswith(target) or (not tokens and target):
        start -= 1
        entry = entries[start] if start >= 0 else None
        if entry is None or str(ids[start]) not in entry:
            raise ValueError(f"the scored prompt does not end with the continuation "
                             f"{continuation[:40]!r} (read back {text[-40:]!r})")
        piece = entry[str(ids[start])].get("decoded_token") or ""
        tokens.insert(0, piece)
        text = "".join(piece.split()) + text
    own = [entries[i][str(ids[i])]["logprob"] for i in range(start, len(ids))]
    top = [np.array([e["logprob"] for e in entries[i].values()
                     if e.get("rank") is not None and e["rank"] <= k])
           for i in range(start, len(ids))]
    values = top_k_stats(np.array(own, dtype=float), top, k)
    tail = values.pop("tail_mass")
    return TokenStats(tokens=tokens, values=values, top_k=k, tail_mass=tail)


def from_messages(messages: list[dict[str, Any]]) -> Request:
    """OpenAI chat messages (one system and one user turn) as a telltale Request.

    Raises ValueError with the reason when the messages cannot be read."""
    from PIL import Image

    from telltale.media.audio import resample

    if not isinstance(messages, list) or not messages:
        raise ValueError("messages must be a non-empty list")
    system = None
    texts: list[str] = []
    audio = image = None
    for message in messages:
        role, content = message.get("role"), message.get("content")
        if role == "system":
            system = content if isinstance(content, str) else " ".join(
                p.get("text", "") for p in content)
            continue
        if role != "user":
            raise ValueError(f"only system and user messages are served, got role {role!r}")
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
        for part in parts:
            kind = part.get("type")
            if kind == "text":
                texts.append(part["text"])
            elif kind == "input_audio":
                import soundfile as sf

                raw = base64.b64decode(part["input_audio"]["data"])
                data, rate = sf.read(io.BytesIO(raw), dtype="float32", always_2d=True)
                audio = resample(data.mean(axis=1), rate)
            elif kind == "image_url":
                url = part["image_url"]["url"]
                if not url.startswith("data:"):
                    raise ValueError("image_url must be a data: URL (the server fetches nothing)")
                raw = base64.b64decode(url.split(",", 1)[1])
                image = Image.open(io.BytesIO(raw)).convert("RGB")
            else:
                raise ValueError(f"unsupported content part type {kind!r}")
    return Request(text="\n".join(texts), system=system, audio=audio, image=image)


def without_end_token(entries: list[dict[str, Any]], text: str,
                      finish_reason: str | None) -> list[dict[str, Any]]:
    """The ``logprobs.content`` entries of the reply's text: vLLM lists the end-of-turn token
    that stopped generation (``<|im_end|>``) though the text leaves it out, while ``hf:``,
    ``telltale serve`` and every scoring call give statistics of the text's tokens alone;
    kept, it would be one more token in every indicator of a run through vLLM (measured on
    the real-parts audio LM: 62 extra tokens over 64 transcriptions, the other positions
    equal to 4e-5 nats). The last entry goes when generation stopped and the text does not
    end with that token (compared without whitespace)."""
    if finish_reason != "stop" or not entries:
        return entries
    last = "".join(str(entries[-1].get("token") or "").split())
    if last and not "".join(text.split()).endswith(last):
        return entries[:-1]
    return entries


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
