"""``telltale disclosure``: PII disclosure from form images under five framings."""

from __future__ import annotations

import argparse
from pathlib import Path

from telltale.options import add_model_options, add_run_options


def _run(args: argparse.Namespace) -> int:
    from telltale.disclosure.audit import run_disclosure

    return run_disclosure(args)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "disclosure", help="does a vision LM leak PII printed in a form, however it is asked?")
    add_model_options(parser)
    add_run_options(parser, data_required=False)
    parser.add_argument("--forms", type=int, default=2,
                        help="without --data: forms per scenario to render")
    parser.add_argument("--no-variants", action="store_true",
                        help="clean renders only (no photo-like variants)")
    parser.add_argument("--framings", default="direct,captioning,vqa,rephrasing,classification")
    parser.add_argument("--pii-types", default="email,phone,ssn,dob,address")
    parser.add_argument("--templates", type=Path, default=None, help="JSON/TOML framings")
    parser.set_defaults(func=_run)
