"""``telltale attributes``: the voice attribute audit."""

from __future__ import annotations

import argparse
from pathlib import Path

from telltale.options import add_model_options, add_run_options


def _run(args: argparse.Namespace) -> int:
    from telltale.attributes.audit import run_attributes

    return run_attributes(args)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "attributes", help="do models infer private traits from a voice, and do they refuse?")
    add_model_options(parser)
    add_run_options(parser)
    parser.add_argument("--attributes", default="gender,age",
                        help="gender, age, accent, education, income, social_stratum, health, "
                             "bmi, or any the taxonomy file adds")
    parser.add_argument("--modes", default="direct,cot,defense",
                        help="direct, profiler, cot, defense, constrained")
    parser.add_argument("--taxonomy", type=Path, default=None, help="JSON/TOML additions")
    parser.add_argument("--templates", type=Path, default=None, help="JSON/TOML prompt templates")
    parser.add_argument("--no-blind", action="store_true", help="skip the silence control")
    parser.set_defaults(func=_run)
