"""Command-line options every audit shares, and how parsed arguments become an audit's
config and the run options (the CLI only builds these; :mod:`telltale.runner` runs them).

One name per meaning across audits: ``--data``, ``--out``, ``--seed``, ``--limit``,
``--skip-bad-rows`` for the data and run; ``--model``, ``--batch-size``,
``--max-new-tokens``, ``--cache``, ``--no-cache`` for the target; ``--judge`` for a judge
model that scores instead of the rules; ``--permutations`` for label shuffles;
``--jobs`` for processes.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path
from typing import Any

from telltale.audit import Audit, AuditConfig, RunOptions


def default_cache_path() -> Path:
    root = os.environ.get("TELLTALE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "telltale")
    return Path(root) / "responses.sqlite"


def global_options() -> argparse.ArgumentParser:
    """Options accepted after every subcommand as well as before it."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="only warnings and errors")
    parent.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="debug logging")
    return parent


class DefaultsFormatter(argparse.HelpFormatter):
    """Help that shows every option's default, whether or not the option has a help text
    (argparse's own defaults formatter skips those), and no "(default: None)" noise."""

    def _format_action(self, action: argparse.Action) -> str:
        default = action.default
        shown = default not in (None, False, argparse.SUPPRESS) and action.option_strings
        if shown and "%(default)" not in (action.help or ""):
            action.help = ((action.help or "").rstrip() + " (default: %(default)s)").lstrip()
        return super()._format_action(action)


def add_command(subparsers, name: str, **kwargs: Any) -> argparse.ArgumentParser:
    """A subcommand that shows every default in its ``--help`` and takes the global
    options after its name."""
    return subparsers.add_parser(name, parents=[global_options()],
                                 formatter_class=DefaultsFormatter, **kwargs)


def add_model_options(parser: argparse.ArgumentParser, max_new_tokens: int | None = 96,
                      max_new_tokens_help: str | None = None) -> None:
    """The target model and how it is asked; ``max_new_tokens`` None leaves the default to
    the audit's config (a command that runs more than one audit), which
    ``max_new_tokens_help`` then names."""
    group = parser.add_argument_group("model")
    group.add_argument("--model", required=True, metavar="SPEC",
                       help="hf:<dir> | openai:<model>@<base_url> | organism:<dir> | "
                            "docassistant:<ocr engine>")
    group.add_argument("--batch-size", type=int, default=8)
    group.add_argument("--max-new-tokens", type=int, default=max_new_tokens,
                       help=max_new_tokens_help)
    group.add_argument("--cache", type=Path, default=None,
                       help=f"response cache (when not given: {default_cache_path()})")
    group.add_argument("--no-cache", action="store_true", help="always query the model")
    group.add_argument("--judge", metavar="MODEL_SPEC", default=None,
                       help="score the replies with this LLM judge instead of the rules "
                            "(audits whose replies need parsing)")
    endpoint = parser.add_argument_group(
        "openai: endpoint", "for openai: models (and judges); a ,name=value option in the "
                            "spec wins over these")
    endpoint.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                          help="seconds per HTTP request before it is retried (backend "
                               "default 60)")
    endpoint.add_argument("--retries", type=int, default=None,
                          help="retries of a request on 429, 408, 5xx and timeouts (backend "
                               "default 5); refused connections and 404s are never retried")
    endpoint.add_argument("--concurrency", type=int, default=None,
                          help="most requests in flight at once (backend default 8)")


def add_run_options(parser: argparse.ArgumentParser, data_required: bool = True) -> None:
    group = parser.add_argument_group("run")
    group.add_argument("--data", type=Path, required=data_required, metavar="MANIFEST",
                       help="CSV, JSONL or Parquet manifest (see README)")
    group.add_argument("--out", type=Path, required=True, help="run directory (resumable)")
    group.add_argument("--seed", type=int, default=0,
                       help="seeds every random draw: splits, noise, voices, bootstrap, shuffles")
    group.add_argument("--limit", type=int, default=None, help="use only the first N samples")
    group.add_argument("--skip-bad-rows", action="store_true",
                       help="drop unusable manifest rows (recorded in results) instead of stopping")
    group.add_argument("--max-failure-share", type=float, default=0.5,
                       help="exit non-zero when more than this share of probes failed (a run "
                            "with no successful probe always does)")


def add_audio_options(parser: argparse.ArgumentParser) -> None:
    """Options of the audits that read clips."""
    from telltale.audit import MAX_AUDIO_SECONDS

    parser.add_argument("--max-audio-seconds", type=float, default=MAX_AUDIO_SECONDS,
                        help="longer clips are manifest problems (Qwen2-Audio reads 30 s, the "
                             "calibration organism about 40 s)")


def split_list(text: str) -> list[str]:
    """The items of a comma-separated option value, stripped, empty ones dropped."""
    return [item.strip() for item in text.split(",") if item.strip()]


def config_from_args(config_class: type[AuditConfig], args: argparse.Namespace,
                     **values: Any) -> AuditConfig:
    """Build ``config_class`` from the parsed arguments whose names are its fields;
    comma-list options become tuples. ``values`` override or add fields."""
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    given = {name: getattr(args, name) for name in fields if hasattr(args, name)}
    for name, value in given.items():
        if isinstance(value, str) and "tuple" in str(fields[name].type):
            given[name] = tuple(split_list(value))
    return config_class(**{**given, **values})


def run_options(args: argparse.Namespace) -> RunOptions:
    """The run options from the parsed arguments (those an audit's parser has)."""
    judge = getattr(args, "judge", None)
    names = {f.name for f in dataclasses.fields(RunOptions)} - {"scorer"}
    return RunOptions(**{n: getattr(args, n) for n in names if hasattr(args, n)},
                      scorer=f"judge:{judge}" if judge else "rules")


def run_from_args(audit: Audit, args: argparse.Namespace) -> int:
    """Run an audit as the CLI does: run, print the summary, return the exit status."""
    from telltale.rundir import RunDir
    from telltale.runner import print_summary, run_audit

    outcome = run_audit(audit, run_options(args))
    print_summary(outcome, RunDir(args.out))
    return outcome.status
