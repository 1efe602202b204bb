"""A stand-in OpenAI-compatible server for the client benchmarks: it answers every chat
completion after a fixed latency, as fast as one Python process can, so that what is
measured is the client.

    python benchmarks/standin_server.py --port 8123 --latency 0.2 --max-seconds 900

Loopback only, and bounded in time: it exits after ``--max-seconds`` whatever happens.
HTTP/1.1 with keep-alive on asyncio (no framework), so that its own cost per request stays
small beside the client's on the same cores. Routes:

- ``GET /v1/models``: one model, ``m``, with ``root`` and ``max_model_len`` as vLLM reports;
- ``POST /v1/chat/completions``: a chat completion after the latency; the answer is one of
  a few attribute-style replies chosen by a CRC of the last 512 bytes of the body (the
  prompt text and the decoding fields, not the audio), so the same request always gets the
  same answer; a body that asks for log-probabilities gets none (a server without them);
- ``GET /stats``: requests answered, most in flight at once, the time-weighted mean in
  flight, CPU seconds of this process; ``POST /stats`` resets them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import zlib

REPLIES = ("The speaker sounds female.", "Male.", "I cannot tell from the audio.",
           "The accent sounds American.", "British, I think.",
           "I'd rather not guess personal traits from a voice.")
MODELS = json.dumps({"object": "list", "data": [
    {"id": "m", "object": "model", "owned_by": "standin", "root": "/models/standin",
     "max_model_len": 8192}]}).encode()


class Stats:
    """Counters over the requests answered since the last reset."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.in_flight = 0
        self.most = 0
        self.area = 0.0  # integral of in-flight over time
        self.since = self.last = time.monotonic()
        self.cpu = time.process_time()

    def change(self, delta: int) -> None:
        now = time.monotonic()
        self.area += self.in_flight * (now - self.last)
        self.last = now
        self.in_flight += delta
        self.most = max(self.most, self.in_flight)

    def to_dict(self) -> dict[str, float]:
        self.change(0)
        span = max(self.last - self.since, 1e-9)
        return {"requests": self.requests, "most_in_flight": self.most,
                "mean_in_flight": self.area / span, "seconds": span,
                "cpu_seconds": time.process_time() - self.cpu}


class Handler(asyncio.Protocol):
    """One keep-alive connection: requests parsed from the stream, answered in order of
    their latency."""

    latency = 0.0
    stats = Stats()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4:end + 4 + length])
            del self.buffer[:end + 4 + length]
            method, path = lines[0].split(" ")[:2]
            self.route(method, path.split("?")[0], body)

    def route(self, method: str, path: str, body: bytes) -> None:
        if path == "/v1/models":
            return self.send(200, MODELS)
        if path == "/stats":
            if method == "POST":
                self.stats.reset()
            return self.send(200, json.dumps(self.stats.to_dict()).encode())
        if path != "/v1/chat/completions" or method != "POST":
            return self.send(404, b'{"error": {"message": "no such route"}}')
        self.stats.change(+1)
        choice = zlib.crc32(body[-512:]) % len(REPLIES)
        reply = json.dumps({
            "id": f"chatcmpl-{choice}", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": REPLIES[choice]}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()
        if self.latency:
            asyncio.get_running_loop().call_later(self.latency, self.answer, reply)
        else:
            self.answer(reply)

    def answer(self, reply: bytes) -> None:
        self.stats.change(-1)
        self.stats.requests += 1
        self.send(200, reply)

    def send(self, status: int, data: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: %d\r\n\r\n"
                                 % (status, b"OK" if status == 200 else b"Not Found", len(data))
                                 + data)


async def serve(port: int, latency: float, max_seconds: float) -> None:
    Handler.latency = latency
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Handler, "127.0.0.1", port, backlog=4096)
    print(f"standin serving on 127.0.0.1:{port}, latency {latency}s", flush=True)
    async with server:
        await asyncio.sleep(max_seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--max-seconds", type=float, default=900.0,
                        help="the server exits after this long, whatever happens")
    args = parser.parse_args()
    try:  # one connection per request in flight on the client's side
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass
    asyncio.run(serve(args.port, args.latency, args.max_seconds))


if __name__ == "__main__":
    main()
