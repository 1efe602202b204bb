"""``telltale serve MODEL_SPEC``: one loaded model behind an OpenAI-compatible endpoint.

Also runnable on its own as ``python -m telltale.models.serve_cli MODEL_SPEC``. The
command line lives here and imports :mod:`telltale.models.server` only when it serves, so
the server module knows nothing of the command line (no import cycle).
"""

from __future__ import annotations

import argparse
import ipaddress
import sys

DESCRIPTION = ("Serve a model as an OpenAI-compatible endpoint (chat completions with audio "
               "and image parts, scoring with vLLM's prompt_logprobs fields, and telltale's "
               "exact-statistics extension) on loopback.")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an IPv4/IPv6 address) only listens on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    """Serve ``args.model`` until interrupted; 2 for a refused host."""
    from telltale.console import log

    if not is_loopback(args.host) and not args.allow_remote:
        log.error("refusing to serve on %s: the server has no authentication; use a loopback "
                  "address (127.0.0.1, ::1, localhost) or pass --allow-remote", args.host)
        return 2
    if args.batch_size < 1:
        log.error("--batch-size must be at least 1, got %d", args.batch_size)
        return 2
    from telltale.models.server import serve

    serve(args.model, host=args.host, port=args.port, batch_size=args.batch_size,
          text_only=args.text_only)
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``telltale serve``, shared with ``python -m telltale.models.serve_cli``."""
    parser.add_argument("model", metavar="MODEL_SPEC",
                        help="hf:<dir>, openai:<model>@<base_url>, organism:<dir>, ...")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--batch-size", type=int, default=8,
                        help="most concurrent requests grouped into one model call")
    parser.add_argument("--text-only", action="store_true",
                        help="return text only, as a closed API does: log-probabilities and "
                             "scoring are refused (for black-box audits)")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a non-loopback host (the server has no authentication)")
    parser.set_defaults(func=run)


def register(subparsers) -> None:
    """Add ``serve`` to the ``telltale`` command line."""
    from telltale.options import add_command

    parser = add_command(subparsers, "serve", help="serve a model as an OpenAI-compatible "
                         "endpoint on loopback", description=DESCRIPTION)
    add_arguments(parser)


def main(argv: list[str] | None = None) -> int:
    """``python -m telltale.models.serve_cli MODEL_SPEC [--port N]``: ``telltale serve``
    without the rest of the command line."""
    from telltale.console import configure
    from telltale.options import DefaultsFormatter

    parser = argparse.ArgumentParser(prog="python -m telltale.models.serve_cli",
                                     description=DESCRIPTION, formatter_class=DefaultsFormatter)
    add_arguments(parser)
    configure()
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
