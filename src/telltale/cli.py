"""The ``telltale`` command line.

Each audit's command is generated from its config (:mod:`telltale.commands`, one per entry
of :data:`telltale.audit.AUDITS`); run-level commands live here (``score``, ``report``,
``compare``); tools register their own subcommands from a ``cli`` module (corpora, the
organism, ``serve``, ``demo``). Heavy libraries are imported only when a command runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from telltale import __version__
from telltale.arguments import add_command
from telltale.console import configure, log
from telltale.models.base import BackendError

#: tool modules whose ``register(subparsers)`` adds subcommands, in help order (after the
#: audits)
COMMAND_MODULES: tuple[str, ...] = (
    "telltale.corpus.cli",
    "telltale.organism.cli",
    "telltale.audiolm.cli",
    "telltale.models.serve_cli",
    "telltale.batch_cli",
    "telltale.demo",
    "telltale.annotation.cli",
)

def cmd_score(args: argparse.Namespace) -> int:
    """Re-score a run from its directory alone, without querying the model."""
    from telltale.commands import run_options_from_args
    from telltale.report import write_report
    from telltale.rundir import RunDir
    from telltale.runner import print_summary, score_run

    run = RunDir(args.run_dir)
    with run.locked():  # one writer per run: not while an audit or another score writes it
        results = score_run(run, options=run_options_from_args(args, out=args.run_dir))
        write_report(run.path)
    print_summary(results, run)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write report.html from a run's results, tables and figures."""
    from telltale.report import write_report
    from telltale.rundir import RunDir

    with RunDir(args.run_dir).locked():
        print(write_report(args.run_dir))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Put several runs of one audit side by side."""
    from telltale.compare import CompareError, compare_runs

    try:
        print(compare_runs(args.runs, args.out))
    except CompareError as exc:
        log.error("%s", exc)
        return 2
    return 0


def build_parser() -> argparse.ArgumentParser:
    from telltale.commands import SCORE_FIELDS, add_audit_command, add_run_option_fields, commands

    parser = argparse.ArgumentParser(
        prog="telltale",
        description="Privacy audits for audio and vision language models.")
    parser.add_argument("--version", action="version", version=f"telltale {__version__}")
    for flag, long, text in (("-q", "--quiet", "only warnings and errors"),
                             ("-v", "--verbose", "debug logging")):
        parser.add_argument(flag, long, action="store_true", default=argparse.SUPPRESS, help=text)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    for command, audits in commands().items():
        add_audit_command(sub, command, audits)

    score = add_command(sub, "score", help="re-score a run from its records (no model queries)")
    score.add_argument("run_dir", type=Path)
    add_run_option_fields(score, SCORE_FIELDS)
    score.set_defaults(func=cmd_score)

    report = add_command(sub, "report", help="write report.html for a run directory")
    report.add_argument("run_dir", type=Path)
    report.set_defaults(func=cmd_report)

    compare = add_command(sub, "compare", help="several runs of one audit side by side "
                                               "(HTML page, Markdown and LaTeX tables)")
    compare.add_argument("runs", type=Path, nargs="+", metavar="RUN")
    compare.add_argument("--out", type=Path, default=Path("compare"),
                         help="folder for compare.html, compare.md and compare.tex")
    compare.set_defaults(func=cmd_compare)

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure(quiet=getattr(args, "quiet", False), verbose=getattr(args, "verbose", False))
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
    except BackendError as exc:  # the model cannot serve the run: nothing was asked
        log.error("%s", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
