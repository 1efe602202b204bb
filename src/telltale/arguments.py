"""The argparse pieces every command shares: ``-q``/``-v`` after the subcommand, help that
shows every default, comma-separated lists. (Audit commands are generated from their
configs by :mod:`telltale.commands`.)"""

from __future__ import annotations

import argparse
from typing import Any


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
        # by identity: 0 == False, and a default of 0 (a seed) is worth showing
        shown = (action.option_strings and not any(default is v for v in (
            None, False, True, argparse.SUPPRESS)))
        if shown and "%(default)" not in (action.help or ""):
            action.help = ((action.help or "").rstrip() + " (default: %(default)s)").lstrip()
        return super()._format_action(action)


def add_command(subparsers: Any, name: str, **kwargs: Any) -> argparse.ArgumentParser:
    """A subcommand that shows every default in its ``--help`` and takes the global
    options after its name."""
    return subparsers.add_parser(name, parents=[global_options()],
                                 formatter_class=DefaultsFormatter, **kwargs)


def split_list(text: str) -> list[str]:
    """The items of a comma-separated option value, stripped, empty ones dropped."""
    return [item.strip() for item in text.split(",") if item.strip()]
