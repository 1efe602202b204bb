"""JSON over HTTP for the ``openai:`` backend: one keep-alive connection per thread.

A window of N worker threads keeps N requests in flight, each thread on its own
connection, so no connection pool is searched or locked per request. The standard
library's ``http.client`` does the protocol (chunked replies, TLS, tunnels): per request it
took 135 us of CPU against a local server where the ``openai`` SDK took 712 us and ``httpx``
493 us (issue 26), and at a thousand requests a second one Python process has about one
core (the GIL) for everything else as well.

What the client sends: ``Authorization: Bearer KEY``, or HTTP basic auth when the base URL
holds ``user:password@`` (as httpx does); the base URL's query (``?api_key=...``) on every
request. ``HTTP(S)_PROXY`` / ``NO_PROXY`` are honoured as by ``urllib``, except that
loopback addresses never go through a proxy.
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import threading
import urllib.request
from typing import Any
from urllib.parse import unquote, urlsplit


class HTTPStatusError(Exception):
    """The server answered with status >= 400; ``reason`` is its own message."""

    def __init__(self, status: int, reason: str):
        super().__init__(f"HTTP {status}: {reason}")
        self.status = status
        self.reason = reason


class Unreachable(Exception):
    """No connection could be made (refused, unknown host, TLS failure)."""


class NoAnswer(Exception):
    """The connection was made but no complete answer came: ``timed_out`` tells a timeout
    from a connection the other side dropped."""

    def __init__(self, what: str, timed_out: bool):
        super().__init__(what)
        self.timed_out = timed_out


def reason(data: bytes, status: int) -> str:
    """The server's own words in an error body: OpenAI's ``{"error": {"message"}}``,
    FastAPI's ``{"detail"}`` (``transformers serve``), else the start of the body."""
    try:
        body = json.loads(data)
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, str) and error:
            return error
        if isinstance(error, dict):
            detail = error.get("message") or error.get("detail") or body.get("detail")
            if detail:
                return str(detail)
    text = data.decode("utf-8", "replace").strip()
    return text[:300] or http.client.responses.get(status, "error")


def _loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


class JSONClient:
    """Requests under one base URL, each thread on its own keep-alive connection.

    Parameters
    ----------
    base_url : str
        ``http(s)://[user:password@]host[:port]/path[?query]``.
    api_key : str
        The bearer token (unless the URL holds userinfo).
    timeout : float
        Seconds to connect, and between bytes of an answer, before :class:`NoAnswer`.
    user_agent : str
        The ``User-Agent`` header.
    """

    def __init__(self, base_url: str, api_key: str, timeout: float, user_agent: str):
        parts = urlsplit(base_url)
        self.scheme = parts.scheme
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        self.query = parts.query
        self.timeout = timeout
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            auth = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            auth = f"Bearer {api_key}"
        self.headers = {"Content-Type": "application/json", "Accept": "application/json",
                        "Authorization": auth, "User-Agent": user_agent}
        self._proxy = None
        self._proxy_auth: dict[str, str] = {}
        proxy = urllib.request.getproxies().get(self.scheme)
        if proxy and not _loopback(self.host) and not urllib.request.proxy_bypass(self.host):
            self._proxy = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
            if self._proxy.username is not None:
                pair = f"{unquote(self._proxy.username)}:{unquote(self._proxy.password or '')}"
                self._proxy_auth = {"Proxy-Authorization": "Basic "
                                    + base64.b64encode(pair.encode()).decode()}
            if self.scheme == "http":  # a plain proxy gets the header with every request
                self.headers.update(self._proxy_auth)
        self._local = threading.local()

    def _url(self, route: str) -> str:
        path = self.prefix + route + (f"?{self.query}" if self.query else "")
        if self._proxy is not None and self.scheme == "http":  # a plain proxy takes the URL
            return f"http://{self.host}:{self.port}{path}"
        return path

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        proxy = self._proxy
        host, port = (proxy.hostname or "", proxy.port or 80) if proxy else (self.host,
                                                                             self.port)
        if self.scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, port, timeout=timeout, context=ssl.create_default_context())
            if proxy is not None:  # CONNECT through the proxy, then TLS to the server
                conn.set_tunnel(self.host, self.port, headers=self._proxy_auth)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            conn.connect()  # (http.client sets TCP_NODELAY)
        except OSError as exc:
            conn.close()
            raise Unreachable(type(exc).__name__) from None
        return conn

    def request(self, method: str, route: str, body: bytes | None = None,
                timeout: float | None = None) -> Any:
        """``method route`` with ``body`` (JSON text); the answer parsed as JSON.

        Raises
        ------
        HTTPStatusError
            A status of 400 or more, with the server's reason.
        Unreachable, NoAnswer
            No connection, or no complete answer on it.
        ValueError
            A 2xx answer that is not JSON.
        """
        timeout = timeout or self.timeout
        for fresh in (False, True):
            conn = getattr(self._local, "conn", None)
            reused = conn is not None and not fresh
            if not reused:
                if conn is not None:
                    conn.close()
                conn = self._local.conn = self._connect(timeout)
                self._local.timeout = timeout
            if self._local.timeout != timeout and conn.sock is not None:
                conn.sock.settimeout(timeout)
                self._local.timeout = timeout
            try:
                conn.request(method, self._url(route), body=body, headers=self.headers)
                reply = conn.getresponse()
                payload = reply.read()
            except TimeoutError:
                self.close()
                raise NoAnswer("TimeoutError", timed_out=True) from None
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                if reused:  # a kept-alive connection the server had closed: once more
                    continue
                raise NoAnswer(type(exc).__name__, timed_out=False) from None
            if reply.will_close:
                self.close()
            if reply.status >= 400:
                raise HTTPStatusError(reply.status, reason(payload, reply.status))
            return json.loads(payload)
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Close this thread's connection (the next request opens another)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def allow_connections(concurrency: int) -> None:
    """Raise the soft limit of open files to hold one connection per request in flight
    (it is often 1,024), within the hard limit."""
    try:
        import resource
    except ImportError:  # not on a POSIX system
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 2 * concurrency + 256
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed if hard == resource.RLIM_INFINITY
                                                    else min(needed, hard), hard))
