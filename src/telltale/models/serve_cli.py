"""``telltale serve MODEL_SPEC``."""

from __future__ import annotations

import argparse
import ipaddress

LOOPBACK_NAMES = {"localhost"}


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    from telltale.console import log
    from telltale.models.server import serve

    if not _is_loopback(args.host) and not args.allow_remote:
        log.error("refusing to serve on %s: the server has no authentication; use a loopback "
                  "address or pass --allow-remote", args.host)
        return 2
    serve(args.model, host=args.host, port=args.port, batch_size=args.batch_size)
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve", help="serve a model as an OpenAI-compatible endpoint on loopback")
    parser.add_argument("model", metavar="MODEL_SPEC")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a non-loopback host (no authentication!)")
    parser.set_defaults(func=run)
