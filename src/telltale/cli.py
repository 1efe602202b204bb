"""The ``telltale`` command line.

Run-level commands live here (``score``, ``report``, ``demo``); each audit and tool
registers its own subcommands from its package's ``cli`` module. Heavy libraries are
imported only when a command runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from telltale import __version__
from telltale.console import configure, log

#: modules whose ``register(subparsers)`` adds subcommands, in help order
COMMAND_MODULES: tuple[str, ...] = (
    "telltale.attributes.cli",
    "telltale.membership.cli",
    "telltale.membership.blind_cli",
    "telltale.disclosure.cli",
    "telltale.retention.cli",
    "telltale.corpus.cli",
    "telltale.organism.cli",
    "telltale.models.serve_cli",
    "telltale.demo",
)

#: audit name in run.json -> module with ``score_run(run) -> dict``
SCORERS = {
    "attributes": "telltale.attributes.audit",
    "membership": "telltale.membership.audit",
    "disclosure": "telltale.disclosure.audit",
    "retention": "telltale.retention.audit",
}


def cmd_score(args: argparse.Namespace) -> int:
    """Re-score a run from its stored records, without querying the model."""
    from telltale.report import write_report
    from telltale.run import RunDir

    run = RunDir(args.run_dir)
    audit = run.read_run_json().get("audit")
    if audit not in SCORERS:
        log.error("%s: no run.json with a known audit (found %r)", run.path, audit)
        return 2
    module = importlib.import_module(SCORERS[audit])
    options = {"judge": args.judge} if args.judge else {}
    module.score_run(run, **options)
    write_report(run.path)
    log.info("re-scored %s; results in %s", run.path, run.results_path)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write report.html from a run's results, tables and figures."""
    from telltale.report import write_report

    try:
        out = write_report(args.run_dir)
    except FileNotFoundError as exc:
        log.error("%s", exc)
        return 2
    print(out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="telltale",
        description="Privacy audits for audio and vision language models.")
    parser.add_argument("--version", action="version", version=f"telltale {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    score = sub.add_parser("score", help="re-score a run from its records (no model queries)")
    score.add_argument("run_dir", type=Path)
    score.add_argument("--judge", metavar="MODEL_SPEC",
                       help="attributes audit: parse answers with an LLM judge instead of rules")
    score.set_defaults(func=cmd_score)

    report = sub.add_parser("report", help="write report.html for a run directory")
    report.add_argument("run_dir", type=Path)
    report.set_defaults(func=cmd_report)

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure(quiet=args.quiet, verbose=args.verbose)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        log.error("interrupted; finished records are kept, run the same command to resume")
        return 130
    except (FileNotFoundError, ValueError) as exc:
        log.error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
