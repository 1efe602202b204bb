"""``telltale serve MODEL_SPEC``: one loaded model behind an OpenAI-compatible endpoint.

Also runnable on its own as ``python -m telltale.models.serve_cli MODEL_SPEC``. The
command line lives here and imports :mod:`telltale.models.server` only when it serves, so
the server module knows nothing of the command line (no import cycle).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch(command: list[str], env: dict[str, str] | None = None,
           timeout: float = 120.0) -> tuple[subprocess.Popen, int]:
    """Start a server ``command`` (``telltale serve SPEC``, ``transformers serve DIR``...) on
    a free loopback port, ``--port N`` appended, and wait until it accepts connections.

    Returns the process (its output piped) and the port; the caller terminates the
    process. Raises RuntimeError with the server's output when it
    exits or does not listen within ``timeout`` seconds."""
    port = free_port()
    proc = subprocess.Popen([*command, "--port", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    wait_listening(proc, "127.0.0.1", port, timeout,
                   lambda: proc.stdout.read().decode() if proc.stdout else "")
    return proc, port


def wait_listening(proc: subprocess.Popen, host: str, port: int, timeout: float,
                   output) -> None:
    """Return once ``proc`` accepts connections on ``host:port``; kill it and raise
    RuntimeError (with ``output()``, what it printed) when it exits or does not listen
    within ``timeout`` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited: {output()}")
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"{proc.args[0]} did not listen on port {port} within {timeout:.0f} s")


def detach(args: argparse.Namespace) -> int:
    """Serve in a process of its own and return once it listens: print its pid on stdout
    (``pid=$(telltale serve ... --detach)``; stop it with ``kill $pid``), its output going
    to ``--log``."""
    from telltale.console import log

    command = [sys.executable, "-m", "telltale.models.serve_cli", args.model, "--host",
               args.host, "--port", str(args.port), "--batch-size", str(args.batch_size)]
    command += [flag for flag, on in (("--text-only", args.text_only),
                                      ("--allow-remote", args.allow_remote)) if on]
    command += ["--name", args.name] if args.name else []
    logfile = args.log or Path(tempfile.gettempdir()) / f"telltale-serve-{args.port}.log"
    with open(logfile, "ab") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_listening(proc, args.host, args.port, args.wait,
                       lambda: Path(logfile).read_text(errors="replace")[-4000:])
    except RuntimeError as exc:
        log.error("%s", exc)
        return 1
    log.info("serving %s as --model openai:%s@http://%s:%d/v1 (pid %d, log %s)", args.model,
             args.name or args.model, args.host, args.port, proc.pid, logfile)
    print(proc.pid)
    return 0


def run(args: argparse.Namespace) -> int:
    """Serve ``args.model`` until interrupted (or in the background with ``--detach``); 2
    for a refused option."""
    from telltale.console import log

    if not is_loopback(args.host) and not args.allow_remote:
        log.error("refusing to serve on %s: the server has no authentication; use a loopback "
                  "address (127.0.0.1, ::1, localhost) or pass --allow-remote", args.host)
        return 2
    if args.batch_size < 1:
        log.error("--batch-size must be at least 1, got %d", args.batch_size)
        return 2
    if args.name is not None and (not args.name or "@" in args.name or "," in args.name):
        log.error("--name %r: a model id must be non-empty, without '@' or ','", args.name)
        return 2
    from telltale.models import ModelSpecError, check_spec

    try:
        check_spec(args.model)
    except ModelSpecError as exc:
        log.error("%s", exc)
        return 2
    if args.detach:
        return detach(args)
    from telltale.models.server import serve

    serve(args.model, host=args.host, port=args.port, batch_size=args.batch_size,
          text_only=args.text_only, name=args.name)
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
    parser.add_argument("--name", default=None,
                        help="the model id clients ask for, as in "
                             "--model openai:NAME@http://127.0.0.1:PORT/v1 (default: the "
                             "model spec)")
    parser.add_argument("--detach", action="store_true",
                        help="serve in the background: return once the server listens and "
                             "print its pid (stop it with kill PID)")
    parser.add_argument("--log", type=Path, default=None,
                        help="with --detach: the server's log file (default: "
                             "telltale-serve-PORT.log in the temporary folder)")
    parser.add_argument("--wait", type=float, default=300.0,
                        help="with --detach: seconds to wait for the server to listen")
    parser.set_defaults(func=run)


def register(subparsers) -> None:
    """Add ``serve`` to the ``telltale`` command line."""
    from telltale.arguments import add_command

    parser = add_command(subparsers, "serve", help="serve a model as an OpenAI-compatible "
                         "endpoint on loopback", description=DESCRIPTION)
    add_arguments(parser)


def main(argv: list[str] | None = None) -> int:
    """``python -m telltale.models.serve_cli MODEL_SPEC [--port N]``: ``telltale serve``
    without the rest of the command line."""
    from telltale.arguments import DefaultsFormatter
    from telltale.console import configure

    parser = argparse.ArgumentParser(prog="python -m telltale.models.serve_cli",
                                     description=DESCRIPTION, formatter_class=DefaultsFormatter)
    add_arguments(parser)
    configure()
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
