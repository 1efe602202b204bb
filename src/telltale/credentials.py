"""Keeping credentials out of everything telltale writes or says.

A base URL may carry a credential in its userinfo (``http://user:KEY@host/v1``) or in its
query string (``...v1?api_key=KEY``). :func:`redact_url` gives the form that may be shown,
logged, fingerprinted or written; :func:`url_secrets` the values to scrub from any other text
(a server's error message may echo them) with :func:`scrub`; :func:`redact_urls` redacts
every URL inside a text such as a model spec (``openai:m@http://user:KEY@host/v1``);
:func:`scrub_secrets` does all of it to a config before it is written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

REDACTED = "<redacted>"
_URL = re.compile(r"https?://[^\s'\"<>,]+")
#: shortest value of a URL's userinfo or query that :func:`url_secrets` treats as a secret
MIN_SECRET = 4


def redact_url(url: str) -> str:
    """``url`` without its credentials: the userinfo becomes ``<redacted>`` and every query
    value too (query keys stay, so ``?api-version=<redacted>`` still tells what was set);
    the fragment is dropped. A URL with none of these comes back unchanged.

    Parameters
    ----------
    url : str
        Any URL; a string that does not parse as one is returned as ``<redacted>``.

    Returns
    -------
    str
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return REDACTED
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{host}" + (f":{port}" if port else "")
    query = "&".join(f"{key}={REDACTED}" for key, _ in parse_qsl(parts.query,
                                                                   keep_blank_values=True))
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def redact_urls(text: str) -> str:
    """``text`` with every ``http(s)://`` URL in it replaced by :func:`redact_url` of it
    (a URL ends at whitespace, a quote, ``<``, ``>`` or a comma, so a model spec's
    ``,timeout=30`` options stay readable)."""
    return _URL.sub(lambda m: redact_url(m.group(0)), text)


def url_secrets(url: str) -> list[str]:
    """The credential-bearing pieces of ``url`` (userinfo user and password, query values),
    raw and percent-decoded, longest first, for :func:`scrub`. Values shorter than
    :data:`MIN_SECRET` are left out: they are no credentials, and scrubbing them would mangle
    numbers in messages (a query value ``2`` would turn ``HTTP 429`` into nonsense)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    found: set[str] = set()
    userinfo = parts.netloc.rpartition("@")[0]
    for piece in userinfo.split(":", 1) if userinfo else []:
        found |= {piece, unquote(piece)}
    for raw in parts.query.split("&"):
        value = raw.partition("=")[2]
        found |= {value, unquote(value)}
    return sorted((s for s in found if len(s) >= MIN_SECRET), key=lambda s: (-len(s), s))


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each of ``secrets`` replaced by ``<redacted>``."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


SECRET_KEY = re.compile(r"(api[_-]?key|token|secret|password|passwd|authorization)", re.I)
SECRET_VALUE = re.compile(r"\b(sk-[A-Za-z0-9_\-]{8,}|hf_[A-Za-z0-9]{8,}|Bearer\s+\S+)")


def scrub_secrets(value: Any) -> Any:
    """Remove anything that looks like a credential from a config before it is written."""
    if isinstance(value, dict):
        # secrets are strings: numeric settings such as max_new_tokens stay readable
        return {k: (REDACTED if SECRET_KEY.search(str(k)) and isinstance(v, str)
                    else scrub_secrets(v))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub_secrets(v) for v in value]
    if isinstance(value, str):
        return redact_urls(SECRET_VALUE.sub(REDACTED, value))
    return value
