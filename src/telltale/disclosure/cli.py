"""``telltale disclosure``: PII disclosure from form images under five framings."""

from __future__ import annotations

import argparse
from pathlib import Path

from telltale.options import add_command, add_model_options, add_run_options


def _run(args: argparse.Namespace) -> int:
    from telltale.disclosure.audit import DisclosureAudit, DisclosureConfig
    from telltale.options import config_from_args, run_from_args

    config = config_from_args(DisclosureConfig, args, photo_variants=not args.no_variants)
    return run_from_args(DisclosureAudit(config), args)


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "disclosure",
        help="does a vision LM leak PII printed in a form, however it is asked?")
    add_model_options(parser)
    add_run_options(parser, data_required=False)
    add_disclosure_options(parser)
    parser.set_defaults(func=_run)


def add_disclosure_options(parser: argparse.ArgumentParser) -> None:
    """The forms and how they are asked about (also the form mitigation audit's)."""
    group = parser.add_argument_group("forms")
    group.add_argument("--forms", type=int, default=2,
                       help="without --data: forms per scenario to render")
    group.add_argument("--no-variants", action="store_true",
                       help="clean renders only (no photo-like variants)")
    group.add_argument("--framings", default="direct,captioning,vqa,rephrasing,classification")
    group.add_argument("--pii-types", default="email,phone,ssn,dob,address")
    group.add_argument("--framing-file", type=Path, default=None,
                       help="JSON/TOML file of framings added to the built-in ones")
