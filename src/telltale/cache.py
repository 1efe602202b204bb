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
        if self.bypassed:
            return
        try:
            conn = self._connect()
            with conn:
                conn.execute("INSERT OR REPLACE INTO responses (key, value) VALUES (?, ?)",
                             (key, json.dumps(value)))
        except sqlite3.DatabaseError as exc:
            self._failed(exc)

    def __len__(self) -> int:
        if self.bypassed:
            return 0
        return int(self._connect().execute("SELECT COUNT(*) FROM responses").fetchone()[0])


class CachedModel:
    """Wraps any :class:`TargetModel`; answers from the cache where it can, asks the model
    for the rest in one batch, and stores only what succeeded and was deterministic."""

    def __init__(self, model: TargetModel, cache: ResponseCache):
        self.model = model
        self.cache = cache
        self.fingerprint = model.fingerprint
        self.capabilities = model.capabilities
        self.prompts = getattr(model, "prompts", None)
        self.hits = 0
        self.misses = 0

    def require(self, capability: str, requests: list[Request] | None = None) -> None:
        """The wrapped backend's check, with its reason for a refusal."""
        self.model.require(capability, requests)

    def generate(self, requests: list[Request], decoding: DecodingConfig | None = None,
                 with_stats: bool = False) -> list[Generation]:
        decoding = decoding or DecodingConfig()
        if not decoding.deterministic:
            return self.model.generate(requests, decoding, with_stats=with_stats)
        params = {**decoding.to_dict(), "with_stats": with_stats}
        keys = [cache_key(self.fingerprint, "generate", r, params) for r in requests]
        out: list[Generation | None] = []
        for key in keys:
            hit = self.cache.get(key)
            out.append(None if hit is None else Generation(
                hit["text"], TokenStats.from_dict(hit["stats"]) if hit["stats"] else None))
        todo = [i for i, g in enumerate(out) if g is None]
        self.hits += len(requests) - len(todo)
        self.misses += len(todo)
        if todo:
            fresh = self.model.generate([requests[i] for i in todo], decoding,
                                        with_stats=with_stats)
            for i, gen in zip(todo, fresh, strict=True):
                self.cache.put(keys[i], {"text": gen.text,
                                         "stats": gen.stats.to_dict() if gen.stats else None})
                out[i] = gen
        return [g for g in out if g is not None]

    def score(self, requests: list[Request], continuations: list[str]) -> list[TokenStats]:
        keys = [cache_key(self.fingerprint, "score", r, {"continuation": c})
                for r, c in zip(requests, continuations, strict=True)]
        out: list[TokenStats | None] = []
        for key in keys:
            hit = self.cache.get(key)
            out.append(None if hit is None else TokenStats.from_dict(hit))
        todo = [i for i, s in enumerate(out) if s is None]
        self.hits += len(requests) - len(todo)
        self.misses += len(todo)
        if todo:
            fresh = self.model.score([requests[i] for i in todo],
                                     [continuations[i] for i in todo])
            for i, stats in zip(todo, fresh, strict=True):
                self.cache.put(keys[i], stats.to_dict())
                out[i] = stats
        return [s for s in out if s is not None]
