"""Command-line options every audit shares, and what they turn into (model, run, data)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from telltale.console import log
from telltale.redaction import redact_urls


def default_cache_path() -> Path:
    root = os.environ.get("TELLTALE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "telltale")
    return Path(root) / "responses.sqlite"


def add_model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model", required=True, metavar="SPEC",
                       help="hf:<dir> | openai:<model>@<base_url> | organism:<dir> | "
                            "docassistant:<ocr engine>")
    group.add_argument("--batch-size", type=int, default=8)
    group.add_argument("--max-new-tokens", type=int, default=96)
    group.add_argument("--cache", type=Path, default=None,
                       help=f"response cache (default {default_cache_path()})")
    group.add_argument("--no-cache", action="store_true", help="always query the model")


def add_run_options(parser: argparse.ArgumentParser, data_required: bool = True) -> None:
    group = parser.add_argument_group("run")
    group.add_argument("--data", type=Path, required=data_required, metavar="MANIFEST",
                       help="CSV, JSONL or Parquet manifest (see README)")
    group.add_argument("--out", type=Path, required=True, help="run directory (resumable)")
    group.add_argument("--seed", type=int, default=0)
    group.add_argument("--limit", type=int, default=None, help="use only the first N samples")
    group.add_argument("--skip-bad-rows", action="store_true",
                       help="drop unusable manifest rows (recorded in results) instead of stopping")


def open_model(args: argparse.Namespace, **options: Any):
    """Load the model a spec names, wrapped in the response cache unless --no-cache."""
    from telltale.cache import CachedModel, ResponseCache
    from telltale.models import load_model

    options.setdefault("batch_size", getattr(args, "batch_size", None))
    log.info("loading model %s", redact_urls(args.model))
    model = load_model(args.model, **options)
    if args.no_cache:
        return model
    cache = ResponseCache(args.cache or default_cache_path())
    return CachedModel(model, cache)


def split_list(text: str) -> list[str]:
    """The items of a comma-separated option value, stripped, empty ones dropped."""
    return [item.strip() for item in text.split(",") if item.strip()]


def run_config(args: argparse.Namespace) -> dict[str, Any]:
    """The parsed arguments as a JSON-able config for run.json (secrets are scrubbed later)."""
    skip = {"func"}
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
            if k not in skip}
