"""The response cache: SQLite in WAL mode, keyed by everything that determines an answer.

Key = sha256 of (schema version, model fingerprint, verb, system prompt, prompt, media
sha256, decoding parameters, verb-specific extras such as the scored continuation). Only
deterministic requests are cached (greedy generation, scoring), and a request that raised
is never stored, so a transient failure is retried on the next run.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from telltale.console import log
from telltale.models.base import DecodingConfig, Generation, Request, TargetModel, TokenStats

SCHEMA_VERSION = 1


def default_cache_path() -> Path:
    """``$TELLTALE_CACHE``, else ``responses.sqlite`` in the user's cache folder."""
    root = os.environ.get("TELLTALE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "telltale")
    return Path(root) / "responses.sqlite"


def cache_key(fingerprint: str, verb: str, request: Request,
              params: dict[str, Any] | None = None) -> str:
    """The cache key of one request; every field that can change the answer is in it."""
    payload = {
        "schema": SCHEMA_VERSION,
        "model": fingerprint,
        "verb": verb,
        "system": request.system,
        "prompt": request.text,
        "media": request.media_sha256(),
        "params": params or {},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class ResponseCache:
    """A key -> JSON value store in one SQLite file, safe for several processes (WAL).

    A cache that cannot be used never stops a run: a file that is not a readable SQLite
    database (truncated, overwritten, a damaged page found at open or later) is set aside
    beside itself as ``<name>.corrupt-<time>`` and a new one is started; a cache that cannot
    be opened or written (a folder in its place, no permission, an I/O error) is bypassed
    for the rest of the process. Either is said, naming the file. :attr:`bypassed` holds
    the reason while it is bypassed.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._local = threading.local()
        self.bypassed: str | None = None
        try:
            self._create()
        except (sqlite3.DatabaseError, OSError) as exc:  # OSError: its folder cannot be made
            self._failed(exc)

    def _failed(self, exc: BaseException) -> None:
        """A damaged file is set aside (the next run starts clean); any other failure
        (cannot open, I/O) bypasses the cache."""
        if isinstance(exc, sqlite3.DatabaseError) and not isinstance(
                exc, sqlite3.OperationalError):
            self._set_aside(exc)
        else:
            self._bypass(exc)

    def _create(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS responses "
                         "(key TEXT PRIMARY KEY, value TEXT NOT NULL)")

    def _set_aside(self, exc: Exception) -> None:
        """Move an unreadable cache file (and its WAL files) aside and start a new one."""
        self._close()
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d%H%M%S')}")
        try:
            for suffix in ("", "-wal", "-shm"):
                part = Path(f"{self.path}{suffix}")
                if part.exists():
                    os.replace(part, f"{aside}{suffix}")
            self._create()
        except (OSError, sqlite3.DatabaseError) as again:
            self._bypass(again)
            return
        log.warning("the response cache %s could not be read (%s); it was set aside as %s and "
                    "a new one started", self.path, exc, aside)

    def _bypass(self, exc: BaseException) -> None:
        self._close()
        self.bypassed = str(exc)
        log.warning("the response cache %s cannot be used (%s); going on without it, as with "
                    "--no-cache (give another file with --cache)", self.path, exc)

    def _close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def get(self, key: str) -> Any | None:
        if self.bypassed:
            return None
        try:
            row = self._connect().execute("SELECT value FROM responses WHERE key = ?",
                                          (key,)).fetchone()
        except sqlite3.DatabaseError as exc:
            self._failed(exc)
            return None
        return None if row is None else json.loads(row[0])

    def put(self, key: str, value: Any) -> None:
        self.put_many([(key, value)])

    def put_many(self, items: list[tuple[str, Any]]) -> None:
        """Store several entries in one transaction."""
        if self.bypassed:
            return
        try:
            conn = self._connect()
            with conn:
                conn.executemany("INSERT OR REPLACE INTO responses (key, value) VALUES (?, ?)",
                                 [(key, json.dumps(value)) for key, value in items])
        except sqlite3.DatabaseError as exc:
            self._failed(exc)

    def __len__(self) -> int:
        if self.bypassed:
            return 0
        return int(self._connect().execute("SELECT COUNT(*) FROM responses").fetchone()[0])


class CachedModel:
    """Wraps any :class:`TargetModel`; answers from the cache where it can, asks the model
    for the rest in one batch, and stores only what succeeded and was deterministic.

    :meth:`key`, :meth:`answer` and :meth:`remember` do the same one call at a time, for
    :func:`telltale.dispatch.run_probes`, which looks up and stores in its own thread and
    sends only the misses to the wrapped model. Any other attribute is the wrapped
    model's."""

    def __init__(self, model: TargetModel, cache: ResponseCache):
        self.model = model
        self.cache = cache
        self.fingerprint = model.fingerprint
        self.capabilities = model.capabilities
        self.prompts = getattr(model, "prompts", None)
        self.hits = 0
        self.misses = 0

    def __getattr__(self, name: str) -> Any:
        if name == "model":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.model, name)

    def require(self, capability: str, requests: list[Request] | None = None) -> None:
        """The wrapped backend's check, with its reason for a refusal."""
        self.model.require(capability, requests)

    def key(self, verb: str, request: Request, decoding: DecodingConfig | None = None,
            with_stats: bool = False, continuation: str | None = None) -> str | None:
        """The cache key of one ``generate`` (with ``decoding`` and ``with_stats``) or
        ``score`` (of ``continuation``) call; None for sampled generation, never cached."""
        if verb == "score":
            return cache_key(self.fingerprint, "score", request, {"continuation": continuation})
        decoding = decoding or DecodingConfig()
        if not decoding.deterministic:
            return None
        return cache_key(self.fingerprint, "generate", request,
                         {**decoding.to_dict(), "with_stats": with_stats})

    def answer(self, verb: str, key: str | None) -> Generation | TokenStats | None:
        """The cached result under ``key``, or None; counts the hit or miss."""
        if key is None:
            return None
        hit = self.cache.get(key)
        if hit is None:
            self.misses += 1
            return None
        self.hits += 1
        if verb == "score":
            return TokenStats.from_dict(hit)
        return Generation(hit["text"], TokenStats.from_dict(hit["stats"]) if hit["stats"]
                          else None)

    def remember(self, entries: list[tuple[str, str | None, Generation | TokenStats]]) -> None:
        """Store ``(verb, key, result)`` entries in one transaction (None keys skipped)."""
        items = []
        for verb, key, result in entries:
            if key is None:
                continue
            if verb == "score":
                items.append((key, result.to_dict()))
            else:
                items.append((key, {"text": result.text,
                                    "stats": result.stats.to_dict() if result.stats else None}))
        if items:
            self.cache.put_many(items)

    def generate(self, requests: list[Request], decoding: DecodingConfig | None = None,
                 with_stats: bool = False) -> list[Generation]:
        decoding = decoding or DecodingConfig()
        keys = [self.key("generate", r, decoding, with_stats) for r in requests]
        out = [self.answer("generate", k) for k in keys]
        todo = [i for i, g in enumerate(out) if g is None]
        if todo:
            fresh = self.model.generate([requests[i] for i in todo], decoding,
                                        with_stats=with_stats)
            self.remember([("generate", keys[i], gen)
                           for i, gen in zip(todo, fresh, strict=True)])
            for i, gen in zip(todo, fresh, strict=True):
                out[i] = gen
        return [g for g in out if isinstance(g, Generation)]

    def score(self, requests: list[Request], continuations: list[str]) -> list[TokenStats]:
        keys = [self.key("score", r, continuation=c)
                for r, c in zip(requests, continuations, strict=True)]
        out = [self.answer("score", k) for k in keys]
        todo = [i for i, s in enumerate(out) if s is None]
        if todo:
            fresh = self.model.score([requests[i] for i in todo],
                                     [continuations[i] for i in todo])
            self.remember([("score", keys[i], stats)
                           for i, stats in zip(todo, fresh, strict=True)])
            for i, stats in zip(todo, fresh, strict=True):
                out[i] = stats
        return [s for s in out if isinstance(s, TokenStats)]
