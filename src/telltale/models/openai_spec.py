"""What an ``openai:`` spec says: ``<model>@<base_url>[,name=value...]`` (or
``<model>@batch`` for batch files), its options checked as the command line checks its own,
and how a ``/v1/models`` entry says a served model must be asked. No network, no client:
the registry (:mod:`telltale.models`) and the batch-file commands parse specs with it
before any backend opens."""

from __future__ import annotations

import re
from typing import Any

#: the target of an ``openai:`` spec that writes batch files instead of sending requests
BATCH = "batch"
#: options an ``openai:`` spec may carry after the URL, as ``,name=value``, and their types
SPEC_OPTIONS: dict[str, type] = {"timeout": float, "retries": int, "concurrency": int,
                                 "top_logprobs": int, "retry_budget": float,
                                 "capabilities": str, "root": str, "max_model_len": int}
#: the least value of the numeric options (``timeout`` must be above it, the rest at least it)
SPEC_MINIMA: dict[str, float] = {"timeout": 0.0, "retries": 0, "concurrency": 1,
                                 "top_logprobs": 1, "retry_budget": 0.0, "max_model_len": 1}
#: any trailing ``,name=value``: known names are read, others refused (not left in the URL)
_OPTION = re.compile(r",([A-Za-z_][A-Za-z0-9_]*)=([^,]*)$")
#: what ``/v1/models`` may report about the weights (vLLM), in fingerprint order
IDENTITY = ("root", "max_model_len")


def parse_openai_spec(rest: str) -> tuple[str, str, dict[str, Any]]:
    """Split the part of an ``openai:`` spec after the scheme.

    ``<model>@<base_url>[,name=value...]``: the model id ends at the ``@`` that starts the
    URL (``@http://`` or ``@https://``), so a URL with userinfo such as
    ``http://user:KEY@host/v1`` stays whole; ``<model>@batch`` writes batch files instead.
    Options are those of :data:`SPEC_OPTIONS` (``retries`` is ``max_retries``;
    ``capabilities`` joins names with ``+``), e.g.
    ``openai:m@http://127.0.0.1:8000/v1,timeout=30`` or
    ``openai:qwen2-audio@batch,capabilities=generate+score+audio``.

    Returns
    -------
    model, base_url, options

    Raises
    ------
    ValueError
        With the expected form; the message never holds the URL's credentials.
    """
    match = re.search(rf"@(?=https?://|{BATCH}(,|$))", rest)
    if not match or not rest[:match.start()]:
        # the spec is not echoed: whatever follows the model id may hold a credential
        raise ValueError("openai spec needs the form openai:<model>@<base_url>, the URL "
                         f"starting with http:// or https://, or openai:<model>@{BATCH}")
    model, url = rest[:match.start()], rest[match.end():]
    options: dict[str, Any] = {}
    while found := _OPTION.search(url):
        name, value = found.groups()
        options["max_retries" if name == "retries" else name] = spec_option(name, value)
        url = url[:found.start()]
    if "capabilities" in options:
        options["capabilities"] = [c for c in options["capabilities"].split("+") if c]
    return model, url, options


def spec_option(name: str, text: str) -> Any:
    """The value of the ``openai:`` spec option ``,name=text``, checked as the command-line
    option of the same name is.

    Raises
    ------
    ValueError
        For a name not in :data:`SPEC_OPTIONS` (the value is not echoed: it may be a
        credential), a value of the wrong type, or one below :data:`SPEC_MINIMA`.
    """
    if name not in SPEC_OPTIONS:
        raise ValueError(f"openai spec option {name!r} is unknown; the spec takes "
                         f"{', '.join(SPEC_OPTIONS)} (as ,name=value after the URL)")
    kind = SPEC_OPTIONS[name]
    try:
        value = kind(text)
    except ValueError:
        raise ValueError(f"openai spec option {name}={text!r} is not a "
                         f"{kind.__name__}") from None
    least = SPEC_MINIMA.get(name)
    if least is not None and (value < least or (name == "timeout" and value == least)):
        bound = f"above {least:g}" if name == "timeout" else f"at least {least:g}"
        raise ValueError(f"openai spec option {name}={text}: must be {bound}")
    return value


def served_prompts(entry: Any) -> dict[str, Any] | None:
    """How a served model must be asked, when its ``/v1/models`` entry says so (``telltale
    serve`` of an organism: :data:`telltale.models.server.PROMPTS_FIELD`); else None."""
    prompts = entry.get("telltale_prompts") if isinstance(entry, dict) else None
    if isinstance(prompts, dict) and isinstance(prompts.get("taxonomy"), dict) \
            and isinstance(prompts.get("modes"), dict):
        return prompts
    return None
