"""Model backends behind one interface (:mod:`telltale.models.base`).

A model is named by a spec string:

- ``hf:<local dir>`` — transformers weights (:mod:`telltale.models.hf`)
- ``openai:<model>@<base_url>[,timeout=S,retries=N,concurrency=N,top_logprobs=K,retry_budget=S,
  capabilities=A+B,root=R,max_model_len=N]`` — an OpenAI-compatible server
  (:mod:`telltale.models.openai_api`); ``openai:<model>@batch,capabilities=A+B`` — the same
  requests written to batch files for an engine that takes them (:mod:`telltale.batchfiles`)
- ``organism:<dir>`` — a calibration model trained by telltale (:mod:`telltale.organism.backend`)
- ``docassistant:<ocr engine>[?adapter=DIR&attn=IMPL]`` — OCR and SmolLM2
  (:mod:`telltale.models.docassistant`)

Backends are imported only when a spec names them, so ``import telltale.models`` stays light.
"""

from __future__ import annotations

from typing import Any

from telltale.models.base import (
    DecodingConfig,
    Generation,
    Request,
    TargetModel,
    TokenStats,
    UnsupportedRequest,
)
from telltale.models.specs import split_options

#: spec scheme -> "module:Class" of its backend (imported only when a spec names it); a
#: new backend is one entry here, as a new audit is one entry in ``telltale.audit.AUDITS``
BACKENDS: dict[str, str] = {
    "hf": "telltale.models.hf:HFModel",
    "openai": "telltale.models.openai_api:OpenAIModel",
    "organism": "telltale.organism.backend:OrganismModel",
    "docassistant": "telltale.models.docassistant:DocAssistantModel",
}
#: backends that batch on the device (the others keep requests in flight instead)
BATCHED = ("hf", "organism", "docassistant")
SCHEMES = tuple(BACKENDS)


class ModelSpecError(ValueError):
    """A model spec that cannot be parsed or resolved."""


def parse_spec(spec: str) -> tuple[str, str]:
    """Split ``scheme:rest``; raise :class:`ModelSpecError` with the accepted forms."""
    scheme, sep, rest = spec.partition(":")
    if not sep or scheme not in SCHEMES or not rest:
        raise ModelSpecError(
            f"cannot read model spec {spec!r}; expected one of hf:<dir>, "
            "openai:<model>@<base_url>, organism:<dir>, docassistant:<ocr engine>")
    return scheme, rest


def check_spec(spec: str) -> None:
    """Refuse, before anything loads, a spec that cannot work: an unknown scheme, a local
    model directory (``organism:``, ``hf:`` given as a path) that does not exist, or an
    option the backend does not take or a value it refuses (``openai:``'s ``,name=value``,
    ``hf:`` and ``docassistant:``'s ``?name=value``), named as the command line names a
    bad option."""
    from pathlib import Path

    scheme, rest = parse_spec(spec)
    local = scheme == "organism" or (scheme == "hf" and rest.startswith(("/", ".", "~")))
    if local and not Path(rest.split("?")[0]).expanduser().is_dir():
        raise ModelSpecError(f"model spec {spec!r}: no model directory at {rest.split('?')[0]}")
    try:
        if scheme == "openai":
            from telltale.models.openai_spec import parse_openai_spec

            parse_openai_spec(rest)
        elif scheme == "hf":
            from telltale.models.hf import split_spec_options

            split_spec_options(rest)
        elif scheme == "docassistant":
            from telltale.models.docassistant import split_spec

            split_spec(rest)
    except ValueError as exc:  # the messages never echo a URL's credentials
        raise ModelSpecError(str(exc)) from None


def load_model(spec: str, batch_size: int | None = None, **options: Any) -> TargetModel:
    """Instantiate the backend a spec names; ``options`` go to the backend constructor.

    ``batch_size`` goes to the backends that batch on the device (hf, organism,
    docassistant); remote backends use their own concurrency limit instead."""
    import importlib

    scheme, rest = parse_spec(spec)
    if batch_size is not None and scheme in BATCHED:
        options["batch_size"] = batch_size
    module, _, name = BACKENDS[scheme].partition(":")
    backend = getattr(importlib.import_module(module), name)
    if scheme == "openai":
        from telltale.models.openai_spec import parse_openai_spec

        try:
            model, base_url, spec_options = parse_openai_spec(rest)
        except ValueError as exc:
            raise ModelSpecError(str(exc)) from None
        return backend(model, base_url, **{**options, **spec_options})
    return backend(rest, **options)


__all__ = ["DecodingConfig", "Generation", "ModelSpecError", "Request", "TargetModel",
           "TokenStats", "UnsupportedRequest", "check_spec", "load_model", "parse_spec",
           "split_options"]
