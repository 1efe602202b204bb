"""``telltale attributes``: the voice attribute audit."""

from __future__ import annotations

import argparse
from pathlib import Path

from telltale.options import (
    add_audio_options,
    add_command,
    add_model_options,
    add_run_options,
)


def _run(args: argparse.Namespace) -> int:
    from telltale.attributes.audit import AttributesAudit, AttributesConfig
    from telltale.options import config_from_args, run_from_args

    config = config_from_args(AttributesConfig, args, silence_control=not args.no_silence)
    return run_from_args(AttributesAudit(config), args)


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "attributes",
        help="do models infer private traits from a voice, and do they refuse?")
    add_model_options(parser)
    add_run_options(parser)
    add_audio_options(parser)
    parser.add_argument("--attributes", default="gender,age",
                        help="gender, age, accent, education, income, social_stratum, health, "
                             "bmi, or any the taxonomy file adds")
    parser.add_argument("--modes", default="direct,cot,defense",
                        help="direct, profiler, cot, defense, constrained, or any the prompts "
                             "file adds")
    add_taxonomy_options(parser)
    parser.add_argument("--no-silence", action="store_true",
                        help="skip the silence (blind) control")
    parser.set_defaults(func=_run)


def add_taxonomy_options(parser) -> None:
    """Files that extend the attributes and prompt modes (also the mitigation audit's)."""
    parser.add_argument("--taxonomy", type=Path, default=None,
                        help="JSON/TOML file of attributes added to the built-in taxonomy")
    parser.add_argument("--prompts", type=Path, default=None,
                        help="JSON/TOML file of prompt modes added to the built-in ones")
