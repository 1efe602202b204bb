"""The OpenAI chat wire format for telltale requests, shared by the client backend and
``telltale serve``: audio travels as base64 WAV (``input_audio``), images as PNG data URLs
(``image_url``)."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np

from telltale.models.base import Request


def encode_audio(audio: np.ndarray, rate: int = 16000) -> str:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.asarray(audio, dtype=np.float32), rate, format="WAV", subtype="FLOAT")
    return base64.b64encode(buf.getvalue()).decode()


def encode_image(image: Any) -> str:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def to_messages(request: Request) -> list[dict[str, Any]]:
    """A telltale Request as OpenAI chat messages."""
    content: list[dict[str, Any]] = []
    if request.audio is not None:
        content.append({"type": "input_audio",
                        "input_audio": {"data": encode_audio(request.audio), "format": "wav"}})
    if request.image is not None:
        content.append({"type": "image_url", "image_url": {"url": encode_image(request.image)}})
    content.append({"type": "text", "text": request.text})
    messages: list[dict[str, Any]] = []
    if request.system:
        messages.append({"role": "system", "content": request.system})
    messages.append({"role": "user", "content": content})
    return messages


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
